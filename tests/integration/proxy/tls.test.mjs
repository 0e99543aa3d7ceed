// HTTPS front: a certificate generated at test time, TLS 1.2+ only, and a new certificate picked up
// on SIGHUP while an existing connection keeps working.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';

import { baseConfig, hasOpenssl, mintToken, startAirgate, startIdp, startUpstream, tmpDir, waitFor } from './lib.mjs';

const skip = hasOpenssl() ? false : 'openssl not installed';
let idp; let up; let dir;

function makeCert(name) {
  const key = path.join(dir, `${name}.key`); const crt = path.join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', crt, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return { key, crt, pem: fs.readFileSync(crt, 'utf8') };
}
const fingerprint = (pem) => new crypto.X509Certificate(pem).fingerprint256;

function request(port, ca, p, headers = {}, agent = undefined) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: p, ca, headers, agent, servername: 'localhost' }, (res) => {
      const chunks = [];
      const cert = res.socket.getPeerCertificate();
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString(), cert }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  if (skip) return;
  dir = tmpDir();
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
});
after(async () => { await up?.stop(); await idp?.stop(); });

test('HTTPS front with TLS >= 1.2, certificate reloaded on SIGHUP', { skip }, async () => {
  const a = makeCert('cert-a');
  const live = { key: path.join(dir, 'tls.key'), crt: path.join(dir, 'tls.crt') };
  fs.copyFileSync(a.key, live.key); fs.copyFileSync(a.crt, live.crt);
  const ag = await startAirgate(baseConfig(idp, [up.url], { tls: { cert_file: live.crt, key_file: live.key } }), { dir });
  try {
    assert.match(ag.url, /^https:/);
    const token = await mintToken(idp, { username: 'admin' });
    const r = await request(ag.port, a.pem, '/x', { authorization: `Bearer ${token}` });
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.body);
    assert.deepEqual(echo.headers.filter(([k]) => k === 'X-Forwarded-Proto').map(([, v]) => v), ['https']);
    // TLS 1.1 is refused, 1.2 and 1.3 work
    const hello = (minVersion, maxVersion) => new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: ag.port, ca: a.pem, servername: 'localhost', minVersion, maxVersion }, () => {
        const v = s.getProtocol(); s.end(); resolve(v);
      });
      s.on('error', () => resolve(null));
    });
    assert.equal(await hello('TLSv1.2', 'TLSv1.2'), 'TLSv1.2');
    assert.equal(await hello('TLSv1.3', 'TLSv1.3'), 'TLSv1.3');
    assert.equal(await hello('TLSv1', 'TLSv1.1'), null);
    // a keep-alive connection opened before the reload keeps working after it
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal((await request(ag.port, a.pem, '/healthz', {}, agent)).status, 200);
    const b = makeCert('cert-b');
    fs.copyFileSync(b.key, live.key); fs.copyFileSync(b.crt, live.crt);
    ag.proc.kill('SIGHUP');
    await waitFor(() => ag.lines.some((l) => l.includes('"reloaded')));
    const again = await request(ag.port, a.pem, '/healthz', {}, agent);
    assert.equal(again.status, 200, 'the old connection was not dropped');
    agent.destroy();
    const fresh = await request(ag.port, b.pem, '/healthz');
    assert.equal(fresh.status, 200);
    assert.equal(fresh.cert.fingerprint256, fingerprint(b.pem), 'new connections get the new certificate');
    // a broken certificate on reload: the old one stays in use
    fs.writeFileSync(live.crt, 'not a certificate');
    ag.proc.kill('SIGHUP');
    await waitFor(() => ag.lines.some((l) => l.includes('keeping the running config')));
    const still = await request(ag.port, b.pem, '/healthz');
    assert.equal(still.status, 200);
  } finally {
    const st = await ag.stop();
    assert.equal(st.code, 0, ag.lines.slice(-15).join('\n'));
  }
});

test('https upstreams are verified against upstreams.ca_file', { skip }, async () => {
  const c = makeCert('upstream');
  const server = https.createServer({ key: fs.readFileSync(c.key), cert: c.pem }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ tls: true, path: req.url, user: req.headers['x-forwarded-user'] }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const token = await mintToken(idp, { username: 'admin' });
  const trusted = await startAirgate(baseConfig(idp, [`https://127.0.0.1:${port}`], { upstreams: { ca_file: c.crt } }));
  const untrusted = await startAirgate(baseConfig(idp, [`https://127.0.0.1:${port}`], { upstreams: { ca_file: makeCert('other').crt } }));
  try {
    const ok = await fetch(`${trusted.url}/secure`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { tls: true, path: '/secure', user: 'admin' });
    const bad = await fetch(`${untrusted.url}/secure`, { headers: { authorization: `Bearer ${token}` } });
    assert.ok(bad.status === 502 || bad.status === 503, `unverifiable upstream gives ${bad.status}`);
    // the reason is logged, and a replica whose certificate does not verify is ejected like one
    // that refuses connections
    // whichever notices first (the health check or the request) logs why, and the replica is
    // taken out of the pool
    assert.ok(untrusted.lines.some((l) => /certificate (verify failed|problem)/.test(l) && /unhealthy|ejected|upstream failed/.test(l)),
      untrusted.lines.slice(-5).join('\n'));
  } finally {
    assert.equal((await trusted.stop()).code, 0);
    assert.equal((await untrusted.stop()).code, 0);
    server.close();
  }
});
