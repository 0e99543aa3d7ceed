#!/usr/bin/env node
// Stand-in for an Airflow webserver replica. See tests/servers/README.md.
import crypto from 'node:crypto';
import http from 'node:http';

import { parseArgs } from './lib/args.mjs';
import {
  acceptsHtml, escapeHtml as e, exitOnSignals, guardProcess, sendHtml, sendJson,
} from './lib/http.mjs';

const SPEC = {
  host: { type: 'string', default: '127.0.0.1', help: 'address to bind' },
  port: { type: 'int', default: 0, max: 65535, help: 'port to bind (0: any free port)' },
  name: { type: 'string', help: 'replica name echoed in every response [default: replica-PORT]' },
  'keepalive-timeout-ms': { type: 'int', default: 75000, help: 'idle keep-alive timeout' },
  'max-header-size': { type: 'int', default: 65536, min: 1024, help: 'largest request head accepted, bytes' },
};
const args = parseArgs(process.argv.slice(2), SPEC, 'usage: node tests/servers/upstream.mjs [options]');
guardProcess('upstream');

let name = args.name;
let healthy = true;
const stats = {
  requests: 0, by_kind: {}, connections: 0, echo_aborted: 0,
};
let connSeq = 0;
const MAX_BYTES = 2 ** 40; // 1 TiB: enough for any test, keeps the arithmetic exact
const MAX_DELAY_MS = 10 * 60 * 1000;

// Pattern for /bytes and /slow: byte at offset p is p & 0xff.
const PATTERN = Buffer.alloc(64 * 1024);
for (let i = 0; i < PATTERN.length; i += 1) PATTERN[i] = i & 0xff; // eslint-disable-line no-bitwise

function count(kind) {
  stats.requests += 1;
  stats.by_kind[kind] = (stats.by_kind[kind] || 0) + 1;
}

function parseCount(value, what, max) {
  if (typeof value !== 'string' || !/^[0-9]{1,15}$/.test(value)) return { error: `${what} must be a non-negative integer` };
  const n = Number(value);
  if (n > max) return { error: `${what} must be <= ${max}` };
  return { n };
}

function badRequest(res, msg) {
  sendJson(res, 400, { error: msg, replica: name });
}

// Drains the request body (if any), then calls done().
function drain(req, done) {
  if (req.readableEnded) { done(); return; }
  req.on('error', () => {});
  req.on('end', done);
  req.resume();
}

function streamBytes(req, res, n) {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-Upstream-Replica': name });
  if (req.method === 'HEAD' || n === 0) { res.end(); return; }
  let sent = 0;
  const pump = () => {
    while (sent < n) {
      const len = Math.min(PATTERN.length, n - sent);
      sent += len;
      if (!res.write(len === PATTERN.length ? PATTERN : PATTERN.subarray(0, len))) {
        if (sent < n) res.once('drain', pump);
        else res.end();
        return;
      }
    }
    res.end();
  };
  res.on('close', () => { sent = n; });
  pump();
}

function slowBytes(req, res, url) {
  const total = parseCount(url.searchParams.get('bytes') ?? '16', 'bytes', MAX_BYTES);
  const interval = parseCount(url.searchParams.get('interval_ms') ?? '100', 'interval_ms', MAX_DELAY_MS);
  const chunk = parseCount(url.searchParams.get('chunk') ?? '1', 'chunk', PATTERN.length / 2);
  for (const p of [total, interval, chunk]) if (p.error) { badRequest(res, p.error); return; }
  if (chunk.n === 0) { badRequest(res, 'chunk must be >= 1'); return; }
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-Upstream-Replica': name });
  if (req.method === 'HEAD' || total.n === 0) { res.end(); return; }
  let sent = 0;
  const timer = setInterval(() => {
    const len = Math.min(chunk.n, total.n - sent);
    const off = sent % 256;
    res.write(PATTERN.subarray(off, off + len));
    sent += len;
    if (sent >= total.n) {
      clearInterval(timer);
      res.end();
    }
  }, Math.max(1, interval.n));
  res.on('close', () => clearInterval(timer));
}

function health(res) {
  const now = new Date().toISOString();
  const status = healthy ? 'healthy' : 'unhealthy';
  sendJson(res, healthy ? 200 : 500, {
    metadatabase: { status },
    scheduler: { status, latest_scheduler_heartbeat: now },
    triggerer: { status, latest_triggerer_heartbeat: now },
    dag_processor: { status: null, latest_dag_processor_heartbeat: null },
  }, { 'X-Upstream-Replica': name });
}

const IDENTITY_HEADERS = [
  'x-forwarded-user', 'x-forwarded-preferred-username', 'x-forwarded-email', 'x-forwarded-first-name',
  'x-forwarded-last-name', 'x-forwarded-groups', 'x-airflow-roles', 'x-forwarded-for', 'x-forwarded-proto',
  'x-forwarded-host',
];

function decodeJwtPayload(token) {
  try {
    const part = token.split('.')[1];
    return JSON.stringify(JSON.parse(Buffer.from(part, 'base64url').toString('utf8')), null, 2);
  } catch {
    return undefined;
  }
}

function echoHtml(info) {
  const get = (h) => info.headers.filter(([k]) => k.toLowerCase() === h).map(([, v]) => v);
  const who = IDENTITY_HEADERS.map((h) => {
    const vals = get(h);
    const shown = vals.length ? vals.map((v) => `<code>${e(v)}</code>`).join('<br>') : '<em>(not sent)</em>';
    return `<tr><th>${e(h)}</th><td>${shown}</td></tr>`;
  }).join('\n');
  const assertion = get('x-airgate-assertion')[0];
  const decoded = assertion ? decodeJwtPayload(assertion) : undefined;
  const assertionHtml = assertion
    ? `<p>${assertion.length} characters. Payload (decoded here without verification):</p><pre id="assertion">${e(decoded ?? '(not a JWT)')}</pre>`
    : '<p><em>(no X-Airgate-Assertion header)</em></p>';
  const user = get('x-forwarded-preferred-username')[0] || get('x-forwarded-user')[0];
  const roles = get('x-airflow-roles')[0];
  const rows = info.headers.map(([k, v]) => `<tr><th>${e(k)}</th><td><code>${e(v)}</code></td></tr>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Airflow stand-in (${e(info.replica)})</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f7f7f7}
header{background:#017cee;color:#fff;padding:.8rem 1.5rem;display:flex;gap:1.5rem;align-items:center}
header a{color:#fff}
main{padding:1rem 1.5rem;max-width:70rem}
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:1.5rem}
th,td{border:1px solid #ddd;padding:.35rem .6rem;text-align:left;vertical-align:top;font-size:.9rem}
th{width:16rem;background:#fafafa;font-weight:600}
code,pre{word-break:break-all;white-space:pre-wrap}
pre{background:#fff;border:1px solid #ddd;padding:.6rem}
.hello{font-size:1.3rem}
</style></head>
<body>
<header><strong>Airflow</strong> <span>stand-in webserver</span>
<span>replica <code id="replica">${e(info.replica)}</code></span>
<a href="/home">Home</a> <a href="/oauth2/userinfo">/oauth2/userinfo</a> <a href="/logout/">Log out</a></header>
<main>
<p class="hello" id="hello">${user ? `Signed in as <strong id="user">${e(user)}</strong>` : 'No identity headers received'}${roles ? ` with Airflow roles <strong id="roles">${e(roles)}</strong>` : ''}</p>
<h2>Who you are (identity headers)</h2>
<table id="identity">${who}</table>
<h2>X-Airgate-Assertion</h2>
${assertionHtml}
<h2>Request</h2>
<table id="request">
<tr><th>method</th><td><code>${e(info.method)}</code></td></tr>
<tr><th>path</th><td><code id="path">${e(info.path)}</code></td></tr>
<tr><th>query</th><td><code>${e(info.query)}</code></td></tr>
<tr><th>HTTP version</th><td><code>${e(info.http_version)}</code></td></tr>
<tr><th>body</th><td>${info.body_bytes} bytes, sha256 <code>${e(info.body_sha256)}</code></td></tr>
</table>
<h2>All request headers, as received</h2>
<table id="headers">${rows}</table>
</main></body></html>
`;
}

function echo(req, res, rawPath, rawQuery) {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('error', () => {});
  let ended = false;
  req.on('close', () => { if (!ended) stats.echo_aborted += 1; });
  req.on('end', () => {
    ended = true;
    const headers = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    const info = {
      replica: name,
      method: req.method,
      path: rawPath,
      query: rawQuery,
      http_version: req.httpVersion,
      headers,
      body_bytes: bytes,
      body_sha256: hash.digest('hex'),
      connection: req.socket.agConnId,
      remote_port: req.socket.remotePort,
    };
    const extra = { 'X-Upstream-Replica': name };
    if (acceptsHtml(req)) sendHtml(res, 200, echoHtml(info), extra);
    else sendJson(res, 200, info, extra);
  });
}

// Headers of the framing endpoints: which replica and which TCP connection answered.
function framingHeaders(req) {
  return { 'X-Upstream-Replica': name, 'X-Upstream-Conn': String(req.socket.agConnId) };
}

// /chunks?sizes=A,B,C[&trailer=1]: a chunked answer, one chunk per size (pattern bytes, offsets
// continue); trailer=1 adds an X-Body-Sha256 trailer field.
function chunks(req, res, url) {
  const sizes = (url.searchParams.get('sizes') ?? '1').split(',').map((v) => parseCount(v, 'size', PATTERN.length / 2));
  const bad = sizes.find((p) => p.error || p.n === 0);
  if (bad || sizes.length > 64) { badRequest(res, 'sizes must be 1-64 sizes in 1..32768'); return; }
  const trailer = url.searchParams.get('trailer') === '1';
  const hash = crypto.createHash('sha256');
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream', ...framingHeaders(req), ...(trailer ? { Trailer: 'X-Body-Sha256' } : {}),
  });
  if (req.method === 'HEAD') { res.end(); return; }
  let off = 0;
  let i = 0;
  const next = () => {
    if (i === sizes.length) {
      if (trailer) res.addTrailers({ 'X-Body-Sha256': hash.digest('hex') });
      res.end();
      return;
    }
    const n = sizes[i++].n;
    const start = off % 256;
    off += n;
    hash.update(PATTERN.subarray(start, start + n));
    res.write(PATTERN.subarray(start, start + n));
    setTimeout(next, 5); // separate writes: separate chunks on the wire
  };
  res.on('close', () => { i = sizes.length; });
  next();
}

// /until-close?bytes=N: HTTP/1.1 200 without Content-Length or Transfer-Encoding, N pattern bytes,
// then the connection is closed (the only end such a body has).
function untilClose(req, res, url) {
  const p = parseCount(url.searchParams.get('bytes') ?? '0', 'bytes', 16 * 1024 * 1024);
  if (p.error) { badRequest(res, p.error); return; }
  const head = `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-Upstream-Replica: ${name}\r\n`
    + `X-Upstream-Conn: ${req.socket.agConnId}\r\n\r\n`;
  const body = Buffer.alloc(req.method === 'HEAD' ? 0 : p.n);
  for (let i = 0; i < body.length; i += 1) body[i] = i & 0xff; // eslint-disable-line no-bitwise
  req.socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}

// /extra?delay_ms=N: a misbehaving replica. Answers 200 "hello" (Content-Length 5), then, N ms
// later on the same connection, a second answer nobody asked for ("X-Poison: 1") and keeps the
// connection open: a proxy that reused this connection would hand that to the next request.
function extraAnswer(req, url) {
  const p = parseCount(url.searchParams.get('delay_ms') ?? '0', 'delay_ms', 10000);
  const delay = p.error ? 0 : p.n;
  const s = req.socket;
  const first = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Upstream-Replica: ${name}\r\n`
    + `X-Upstream-Conn: ${s.agConnId}\r\n\r\nhello`;
  const poison = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\nX-Poison: 1\r\n\r\n{"poisoned":true}\n`;
  if (delay === 0) {
    s.write(first + poison);
  } else {
    s.write(first);
    const t = setTimeout(() => { if (!s.destroyed) s.write(poison); }, delay);
    s.once('close', () => clearTimeout(t));
  }
}

// /cut?bytes=N&send=M[&chunked=1]: announces N bytes (Content-Length, or chunked), sends M of
// them, then drops the connection.
function cut(req, res, url) {
  const total = parseCount(url.searchParams.get('bytes') ?? '1000', 'bytes', 16 * 1024 * 1024);
  const send = parseCount(url.searchParams.get('send') ?? '10', 'send', 16 * 1024 * 1024);
  for (const p of [total, send]) if (p.error) { badRequest(res, p.error); return; }
  const headers = { 'Content-Type': 'application/octet-stream', ...framingHeaders(req) };
  if (url.searchParams.get('chunked') !== '1') headers['Content-Length'] = total.n;
  res.writeHead(200, headers);
  const body = Buffer.alloc(Math.min(send.n, total.n));
  for (let i = 0; i < body.length; i += 1) body[i] = i & 0xff; // eslint-disable-line no-bitwise
  res.write(body, () => setTimeout(() => res.socket?.destroy(), 20));
}

function handle(req, res) {
  const qpos = req.url.indexOf('?');
  const rawPath = qpos === -1 ? req.url : req.url.slice(0, qpos);
  const rawQuery = qpos === -1 ? '' : req.url.slice(qpos + 1);
  let url;
  try {
    url = new URL(req.url, 'http://upstream.invalid');
  } catch {
    count('bad');
    drain(req, () => badRequest(res, 'unparsable request target'));
    return;
  }
  let m;
  if (rawPath === '/health') {
    count('health');
    drain(req, () => health(res));
  } else if (rawPath === '/_test/health/fail' || rawPath === '/_test/health/ok') {
    count('test');
    healthy = rawPath.endsWith('/ok');
    drain(req, () => sendJson(res, 200, { replica: name, healthy }));
  } else if (rawPath === '/_test/stats') {
    drain(req, () => sendJson(res, 200, { replica: name, healthy, ...stats }));
  } else if (rawPath === '/_test/drop') {
    count('test');
    req.socket.destroy(); // abrupt close without a response
  } else if ((m = /^\/bytes\/([^/]*)$/.exec(rawPath))) {
    count('bytes');
    const p = parseCount(m[1], 'N', MAX_BYTES);
    drain(req, () => (p.error ? badRequest(res, p.error) : streamBytes(req, res, p.n)));
  } else if (rawPath === '/slow') {
    count('slow');
    drain(req, () => slowBytes(req, res, url));
  } else if ((m = /^\/status\/([^/]*)$/.exec(rawPath))) {
    count('status');
    drain(req, () => {
      const code = /^[2-5][0-9][0-9]$/.test(m[1]) ? Number(m[1]) : 0;
      if (!code) { badRequest(res, 'status must be 200-599'); return; }
      const extra = { 'X-Upstream-Replica': name };
      const location = url.searchParams.get('location');
      if (location && code >= 300 && code < 400 && /^[\x20-\x7e]*$/.test(location)) extra.Location = location;
      if (code === 204 || code === 304) {
        res.writeHead(code, extra);
        res.end();
      } else {
        sendJson(res, code, { replica: name, status: code }, extra);
      }
    });
  } else if (rawPath === '/delay') {
    count('delay');
    const p = parseCount(url.searchParams.get('ms') ?? '0', 'ms', MAX_DELAY_MS);
    drain(req, () => {
      if (p.error) { badRequest(res, p.error); return; }
      const t = setTimeout(() => sendJson(res, 200, { replica: name, delayed_ms: p.n }, { 'X-Upstream-Replica': name }), p.n);
      res.on('close', () => clearTimeout(t));
    });
  } else if (rawPath === '/chunks') {
    count('framing');
    drain(req, () => chunks(req, res, url));
  } else if (rawPath === '/until-close') {
    count('framing');
    drain(req, () => untilClose(req, res, url));
  } else if (rawPath === '/early-hints') {
    count('framing');
    drain(req, () => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      if (url.searchParams.get('twice') === '1') res.writeEarlyHints({ link: '</app.js>; rel=preload; as=script' });
      sendJson(res, 200, { replica: name, early_hints: true }, framingHeaders(req));
    });
  } else if (rawPath === '/big-head') {
    count('framing');
    const p = parseCount(url.searchParams.get('bytes') ?? '0', 'bytes', 1024 * 1024);
    drain(req, () => {
      if (p.error) { badRequest(res, p.error); return; }
      sendJson(res, 200, { replica: name }, { ...framingHeaders(req), 'X-Big': 'b'.repeat(p.n) });
    });
  } else if (rawPath === '/cut') {
    count('framing');
    drain(req, () => cut(req, res, url));
  } else if (rawPath === '/extra') {
    count('framing');
    drain(req, () => extraAnswer(req, url));
  } else if (rawPath === '/raw') {
    count('framing');
    // a broken answer written straight to the socket, then the connection ends
    const kinds = {
      garbage: 'this is not HTTP at all\r\n\r\n',
      switch: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      twocl: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
      badstatus: 'HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n',
    };
    const bytes = kinds[url.searchParams.get('kind') ?? ''];
    if (!bytes) { drain(req, () => badRequest(res, 'kind: garbage, switch, twocl or badstatus')); return; }
    drain(req, () => { req.socket.end(bytes); });
  } else if (rawPath === '/reject') {
    count('framing');
    // answers at once without reading the request body, as a server refusing an upload does
    const code = /^[4-5][0-9][0-9]$/.test(url.searchParams.get('status') ?? '') ? Number(url.searchParams.get('status')) : 413;
    sendJson(res, code, { replica: name, status: code }, { ...framingHeaders(req), Connection: 'close' });
  } else {
    count('echo');
    echo(req, res, rawPath, rawQuery);
  }
}

const server = http.createServer({
  keepAlive: true,
  keepAliveTimeout: args['keepalive-timeout-ms'],
  headersTimeout: 60000,
  requestTimeout: 0, // slow uploads are legitimate test cases
  maxHeaderSize: args['max-header-size'],
}, (req, res) => {
  try {
    handle(req, res);
  } catch (err) {
    process.stderr.write(`upstream: error on ${req.method} ${req.url}: ${err && err.stack ? err.stack : err}\n`);
    if (!res.headersSent) sendJson(res, 500, { error: 'internal error', replica: name });
    else res.destroy();
  }
});
server.on('connection', (socket) => {
  connSeq += 1;
  socket.agConnId = connSeq; // eslint-disable-line no-param-reassign
  stats.connections += 1;
});
server.on('clientError', (err, socket) => {
  if (socket.writable && err.code !== 'ECONNRESET') {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  } else {
    socket.destroy();
  }
});
server.on('error', (err) => {
  process.stderr.write(`upstream: cannot listen on ${args.host}:${args.port}: ${err.message}\n`);
  process.exit(1);
});
server.listen(args.port, args.host, () => {
  const { port } = server.address();
  if (!name) name = `replica-${port}`;
  process.stdout.write(`${JSON.stringify({ port, name })}\n`);
  process.stderr.write(`upstream: ${name} listening on ${args.host}:${port}\n`);
});
exitOnSignals(server);
