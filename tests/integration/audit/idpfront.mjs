// A switchable front for the test IdP: passes requests through, or answers garbage, an error, a
// hang or a dropped connection for discovery, JWKS or token requests (set `front.mode.<kind>`).
// The IdP is started with --public-url pointing here, so its issuer is the front's address.
import http from 'node:http';

import { startIdp } from '../../servers/harness.mjs';

const kindOf = (url) => (url.includes('/.well-known/openid-configuration') ? 'discovery'
  : url.includes('/protocol/openid-connect/certs') ? 'jwks'
    : url.includes('/protocol/openid-connect/token') ? 'token' : 'other');

export async function startIdpFront(args = ['--test-api']) {
  const mode = { discovery: 'pass', jwks: 'pass', token: 'pass', other: 'pass', all: null };
  const hits = { discovery: 0, jwks: 0, token: 0, other: 0 };
  const tap = []; // token exchanges seen: { request: body text, response: body text }
  let target = null;
  const hung = new Set();
  const server = http.createServer((req, res) => {
    const kind = kindOf(req.url);
    hits[kind]++;
    const m = mode.all || mode[kind];
    if (m === 'dead' || !target) { req.socket.destroy(); return; }
    if (m === 'hang') { hung.add(res); return; }
    if (m === 'garbage') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('<html>{"keys":[{"kty":'); return; }
    if (m === 'wrongshape') { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(kind === 'jwks' ? { keys: [{ kty: 'RSA', kid: 'x', n: 'AA', e: 'AQAB' }] } : { issuer: 42, jwks_uri: ['x'], access_token: 7, id_token: {} })); return; }
    if (m === 'error') { res.writeHead(500, { 'content-type': 'text/plain' }); res.end('internal error'); return; }
    if (m === 'huge') { res.writeHead(200, { 'content-type': 'application/json' }); res.end(`{"x":"${'a'.repeat(8 << 20)}"}`); return; }
    const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      if (kind === 'token') {
        const got = [];
        r.on('data', (d) => got.push(d));
        r.on('end', () => { entry.response = Buffer.concat(got).toString(); });
      }
      r.pipe(res);
    });
    up.on('error', () => req.socket.destroy());
    const entry = { url: req.url, authorization: req.headers.authorization || '', request: '', response: '' };
    if (kind === 'token') {
      tap.push(entry);
      req.on('data', (d) => { entry.request += d.toString(); });
    }
    req.pipe(up);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  let idp = null;
  const front = {
    mode, hits, tap, port, url: `http://127.0.0.1:${port}`, issuer: `http://127.0.0.1:${port}/realms/demo`,
    get idp() { return idp; },
    async startIdp() {
      idp = await startIdp([...args, '--public-url', `http://127.0.0.1:${port}`]);
      target = idp.info.port;
      return idp;
    },
    async stopIdp() { target = null; await idp?.stop(); idp = null; },
    async stop() {
      for (const r of hung) r.socket?.destroy();
      await front.stopIdp();
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
  return front;
}
