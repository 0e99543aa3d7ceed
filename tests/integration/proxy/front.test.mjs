// The HTTP/1.1 front (per-core event loops, h1 framing): pipelining, Expect: 100-continue,
// HTTP/1.0 clients, absolute-form targets, re-framing of chunked / close-delimited / interim /
// broken upstream answers, early upstream answers, HEAD/204/304, listener sharing, spreading of
// connections over the loops, upstream keep-alive, connection limits, idle memory and slow readers.
// Exact bytes go over raw sockets; the upstream is tests/servers/upstream.mjs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';

import {
  AIRGATE, baseConfig, hasOpenssl, mintToken, procMem, sleep, startAirgate, startIdp, startUpstream, tmpDir, waitFor,
} from './lib.mjs';

const SAN = process.env.AG_SANITIZE === '1';

let idp; let up; let ag; let token;
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  // one loop: the upstream pool, slow readers and early answers are all on the same thread
  ag = await startAirgate(baseConfig(idp, [up.url], { server: { threads: 1 }, log: { level: 'info' } }));
  token = await mintToken(idp, { username: 'admin' });
});
after(async () => {
  const r = ag && await ag.stop();
  await up?.stop();
  await idp?.stop();
  if (r) assert.equal(r.code, 0, 'airgate exits cleanly');
});

const auth = () => `Authorization: Bearer ${token}\r\n`;
const get = (p, extra = '') => `GET ${p} HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\n${extra}\r\n`;

// A raw client connection that reads HTTP/1.1 answers exactly as framed on the wire.
class Raw {
  constructor(port, { secure = false } = {}) {
    this.head = Buffer.alloc(0);
    this.parts = []; // arrived since buf was last looked at (no copying per packet)
    this.closed = false;
    this.wake = null;
    this.sock = secure
      ? tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false })
      : net.connect(port, '127.0.0.1');
    this.sock.on('data', (d) => { this.parts.push(d); this.notify(); });
    this.sock.on('error', (e) => { this.error = e; });
    this.sock.on('close', () => { this.closed = true; this.notify(); });
    this.ready = new Promise((resolve, reject) => {
      this.sock.once(secure ? 'secureConnect' : 'connect', resolve);
      this.sock.once('error', reject);
    });
  }

  get buf() {
    if (this.parts.length) {
      this.head = Buffer.concat([this.head, ...this.parts]);
      this.parts = [];
    }
    return this.head;
  }

  set buf(b) { this.head = b; this.parts = []; }

  notify() { const w = this.wake; this.wake = null; if (w) w(); }

  write(b) { this.sock.write(b); }

  close() { this.sock.destroy(); }

  // Waits until pred() is true or the connection closed; false on timeout.
  async until(pred, timeoutMs = 5000) {
    const end = Date.now() + timeoutMs;
    while (!pred() && !this.closed) {
      const left = end - Date.now();
      if (left <= 0) return false;
      await new Promise((r) => { this.wake = r; setTimeout(r, Math.min(left, 200)); });
    }
    return pred();
  }

  take(n) { const b = this.buf.subarray(0, n); this.buf = this.buf.subarray(n); return b; }

  // One answer: { status, headers (lower-case, repeated values joined by ', '), rawHead, body,
  // framing: 'none'|'length'|'chunked'|'close', complete, chunkSizes }.
  async response({ head = false, timeoutMs = 8000 } = {}) {
    const end = Date.now() + timeoutMs;
    const left = () => Math.max(1, end - Date.now());
    if (!await this.until(() => this.buf.indexOf('\r\n\r\n') !== -1, left())) {
      throw new Error(`no answer head (closed ${this.closed}, ${this.buf.length} bytes: ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))})`);
    }
    const i = this.buf.indexOf('\r\n\r\n');
    const rawHead = this.take(i + 4).toString('latin1').slice(0, -4);
    const [line, ...hl] = rawHead.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(line);
    assert.ok(m, `status line ${JSON.stringify(line)}`);
    const status = Number(m[1]);
    const headers = {};
    for (const l of hl) {
      const k = l.slice(0, l.indexOf(':')).toLowerCase();
      const v = l.slice(l.indexOf(':') + 1).trim();
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    }
    const res = { status, headers, rawHead, body: Buffer.alloc(0), framing: 'none', complete: true, chunkSizes: [] };
    if (head || status < 200 || status === 204 || status === 304) return res;
    if (/chunked/i.test(headers['transfer-encoding'] || '')) {
      res.framing = 'chunked';
      const parts = [];
      for (;;) {
        const ok = await this.until(() => {
          const nl = this.buf.indexOf('\r\n');
          if (nl === -1) return false;
          const size = parseInt(this.buf.subarray(0, nl).toString('latin1'), 16);
          return this.buf.length >= nl + 2 + size + 2;
        }, left());
        if (!ok) { res.complete = false; break; }
        const nl = this.buf.indexOf('\r\n');
        const size = parseInt(this.take(nl + 2).toString('latin1'), 16);
        assert.ok(Number.isInteger(size) && size >= 0, 'chunk size line');
        if (size === 0) { // optional trailer fields, then an empty line
          const done = await this.until(() => this.buf.subarray(0, 2).toString('latin1') === '\r\n' || this.buf.indexOf('\r\n\r\n') !== -1, left());
          if (!done) { res.complete = false; break; }
          const t = this.buf.subarray(0, 2).toString('latin1') === '\r\n' ? 2 : this.buf.indexOf('\r\n\r\n') + 4;
          res.trailers = this.take(t).toString('latin1').slice(0, -2);
          break;
        }
        parts.push(Buffer.from(this.take(size)));
        res.chunkSizes.push(size);
        assert.equal(this.take(2).toString('latin1'), '\r\n', 'CRLF after chunk data');
      }
      if (!res.complete) parts.push(Buffer.from(this.take(this.buf.length)));
      res.body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      res.framing = 'length';
      const n = Number(headers['content-length']);
      res.complete = await this.until(() => this.buf.length >= n, left());
      res.body = Buffer.from(this.take(Math.min(n, this.buf.length)));
    } else {
      res.framing = 'close';
      await this.until(() => false, left());
      res.complete = this.closed;
      res.body = Buffer.from(this.take(this.buf.length));
    }
    return res;
  }
}

async function raw(port, opts) {
  const c = new Raw(port, opts);
  await c.ready;
  return c;
}

// byte at offset p of the upstream's generated bodies is p & 0xff
function patternOk(b, from = 0) {
  for (let i = 0; i < b.length; i++) if (b[i] !== ((from + i) & 0xff)) return false;
  return true;
}

async function upStats() {
  return (await fetch(`${up.url}/_test/stats`)).json();
}

// ---------------------------------------------------------------------------------------------

test('20 pipelined GETs in one write are answered in order; the connection stays usable', async () => {
  const c = await raw(ag.port);
  try {
    // mostly GETs (about 30 KB in all: more than one read buffer), a HEAD and a POST with a body
    // among them, and one answered by airgate itself
    const kind = (i) => (i === 7 ? 'HEAD' : i === 11 ? 'POST' : i === 15 ? 'OWN' : 'GET');
    let batch = '';
    for (let i = 0; i < 20; i++) {
      if (kind(i) === 'HEAD') batch += `HEAD /pipe/${i}?seq=${i} HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\n\r\n`;
      else if (kind(i) === 'POST') batch += `POST /pipe/${i}?seq=${i} HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\nContent-Length: 5\r\n\r\nhello`;
      else if (kind(i) === 'OWN') batch += 'GET /healthz HTTP/1.1\r\nHost: front.test\r\n\r\n';
      else batch += get(`/pipe/${i}?seq=${i}`);
    }
    assert.ok(batch.length > 16384);
    c.write(batch);
    for (let i = 0; i < 20; i++) {
      const r = await c.response({ head: kind(i) === 'HEAD' });
      assert.equal(r.status, 200, `answer ${i}`);
      if (kind(i) === 'HEAD') {
        assert.ok(Number(r.headers['content-length']) > 0);
        continue;
      }
      if (kind(i) === 'OWN') {
        assert.equal(r.headers['x-upstream-replica'], undefined, 'answered by airgate');
        continue;
      }
      const j = JSON.parse(r.body);
      assert.equal(j.path, `/pipe/${i}`, `answer ${i} is for request ${i}`);
      assert.equal(j.query, `seq=${i}`);
      assert.equal(j.method, kind(i));
      assert.equal(j.body_bytes, kind(i) === 'POST' ? 5 : 0);
    }
    // heads larger than the pooled 16 KiB read buffer, pipelined between small ones
    const cookie = `Cookie: big=${'c'.repeat(30000)}\r\n`;
    c.write(get('/pipe/big1', cookie) + get('/pipe/small1') + get('/pipe/big2', cookie) + get('/pipe/small2'));
    for (const name of ['big1', 'small1', 'big2', 'small2']) {
      const r = await c.response();
      assert.equal(r.status, 200, name);
      const j = JSON.parse(r.body);
      assert.equal(j.path, `/pipe/${name}`);
      const ck = j.headers.find(([k]) => k.toLowerCase() === 'cookie');
      assert.equal(ck ? ck[1].length : 0, name.startsWith('big') ? 30004 : 0, `${name}: its own Cookie header`);
    }
    c.write(get('/pipe/after'));
    const r = await c.response();
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).path, '/pipe/after');
    assert.equal(c.closed, false, 'still open');
  } finally { c.close(); }
});

test('pipelining: a failed request in the middle is answered in place; nothing after Connection: close is served', async () => {
  const echoes = async () => (await upStats()).by_kind.echo || 0;
  const c = await raw(ag.port);
  try {
    c.write(get('/mid/1') + get('/big-head?bytes=70000') + get('/mid/2') + get('/status/404') + get('/mid/3', 'Connection: close\r\n'));
    assert.equal(JSON.parse((await c.response()).body).path, '/mid/1');
    assert.equal((await c.response()).status, 502, 'the oversized upstream head, in its place');
    assert.equal(JSON.parse((await c.response()).body).path, '/mid/2');
    assert.equal((await c.response()).status, 404);
    const last = await c.response();
    assert.equal(JSON.parse(last.body).path, '/mid/3');
    assert.match(last.headers.connection, /close/i);
    await c.until(() => false, 2000);
    assert.equal(c.closed, true);
  } finally { c.close(); }
  const e0 = await echoes();
  const d = await raw(ag.port);
  try {
    d.write(get('/close/1', 'Connection: close\r\n') + get('/close/never'));
    const r = await d.response();
    assert.equal(JSON.parse(r.body).path, '/close/1');
    await d.until(() => false, 2000);
    assert.equal(d.closed, true);
    assert.equal(d.buf.length, 0, 'no answer for the request after Connection: close');
  } finally { d.close(); }
  await sleep(100);
  assert.equal(await echoes(), e0 + 1, 'the request after Connection: close never reached the upstream');
});

test('pipelined requests behind a large streamed answer wait their turn, in one write or sent meanwhile', async () => {
  const n = 3 * 1024 * 1024;
  const c = await raw(ag.port);
  try {
    c.write(get(`/bytes/${n}`) + get('/behind/1') + `HEAD /bytes/100 HTTP/1.1\r\nHost: front.test\r\n${auth()}\r\n` + get('/chunks?sizes=100,200'));
    const big = await c.response({ timeoutMs: 20000 });
    assert.equal(big.status, 200);
    assert.equal(big.body.length, n);
    assert.ok(patternOk(big.body.subarray(n - 4096), n - 4096));
    assert.equal(JSON.parse((await c.response()).body).path, '/behind/1');
    const h = await c.response({ head: true });
    assert.equal(h.status, 200);
    const ch = await c.response();
    assert.equal(ch.body.length, 300);
    // the next request arrives while the client is not reading the big answer
    c.sock.pause();
    c.write(get(`/bytes/${n}`));
    await sleep(200);
    c.write(get('/behind/2'));
    await sleep(200);
    c.sock.resume();
    assert.equal((await c.response({ timeoutMs: 20000 })).body.length, n);
    assert.equal(JSON.parse((await c.response()).body).path, '/behind/2');
  } finally { c.close(); }
});

test('Expect: 100-continue: 100 before the body, the upstream gets it all; unauthenticated: 401, no 100', async () => {
  const body = crypto.randomBytes(50000);
  const c = await raw(ag.port);
  try {
    c.write(`POST /upload HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\n`
      + `Content-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    const interim = await c.response({ timeoutMs: 3000 });
    assert.equal(interim.rawHead, 'HTTP/1.1 100 Continue', 'a 100 Continue before any body byte was sent');
    c.write(body);
    const r = await c.response();
    assert.equal(r.status, 200);
    const j = JSON.parse(r.body);
    assert.equal(j.body_bytes, body.length);
    assert.equal(j.body_sha256, crypto.createHash('sha256').update(body).digest('hex'));
    // no Expect reaches the upstream (it is hop-by-hop in effect: airgate answered it)
    assert.equal(j.headers.filter(([k]) => k.toLowerCase() === 'expect').length, 0, JSON.stringify(j.headers));
  } finally { c.close(); }

  // a chunked body after the 100
  const e = await raw(ag.port);
  try {
    e.write(`POST /upload-chunked HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\n`
      + 'Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n');
    assert.equal((await e.response({ timeoutMs: 3000 })).status, 100);
    e.write(`${body.length.toString(16)}\r\n`);
    e.write(body);
    e.write('\r\n0\r\n\r\n');
    const r = await e.response();
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).body_sha256, crypto.createHash('sha256').update(body).digest('hex'));
  } finally { e.close(); }

  // declared larger than server.max_body_bytes (10 MiB by default): 413, no 100
  const f = await raw(ag.port);
  try {
    f.write(`POST /upload HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\n`
      + `Content-Length: ${64 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`);
    const r = await f.response({ timeoutMs: 3000 });
    assert.equal(r.status, 413);
    assert.equal(JSON.parse(r.body).error, 'payload_too_large');
  } finally { f.close(); }

  const d = await raw(ag.port);
  try {
    d.write(`POST /upload HTTP/1.1\r\nHost: front.test\r\nAccept: application/json\r\n`
      + `Content-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    const r = await d.response({ timeoutMs: 3000 });
    assert.equal(r.status, 401, 'refused before the body, without a 100');
    assert.doesNotMatch(r.rawHead, /100 Continue/);
    assert.equal(r.framing, 'length');
    assert.ok(r.body.length > 0 && r.complete);
    // the unread body is not taken for a request: the connection ends
    await d.until(() => false, 3000); // returns once the connection closed
    assert.equal(d.closed, true);
    assert.equal(d.buf.length, 0, 'nothing after the 401');
  } finally { d.close(); }
});

test('HTTP/1.0 clients: keep-alive only when asked; a chunked upstream answer arrives de-chunked, close-delimited', async () => {
  const h10 = (p, extra = '') => `GET ${p} HTTP/1.0\r\n${auth()}Accept: application/json\r\n${extra}\r\n`;
  // no Connection header: one answer, then airgate closes
  const a = await raw(ag.port);
  try {
    a.write(h10('/one-oh'));
    const r = await a.response();
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).path, '/one-oh');
    assert.notEqual((r.headers.connection || '').toLowerCase(), 'keep-alive');
    await a.until(() => false, 3000); // returns once the connection closed
    assert.equal(a.closed, true, 'closed after one answer');
  } finally { a.close(); }

  // Connection: keep-alive: the answer says keep-alive and a second request follows
  const b = await raw(ag.port);
  try {
    b.write(h10('/one-oh/ka1', 'Connection: keep-alive\r\n'));
    const r1 = await b.response();
    assert.equal(r1.status, 200);
    assert.equal(r1.headers.connection.toLowerCase(), 'keep-alive');
    assert.equal(r1.framing, 'length', 'a 1.0 keep-alive answer is length-delimited');
    b.write(h10('/one-oh/ka2', 'Connection: keep-alive\r\n'));
    const r2 = await b.response();
    assert.equal(JSON.parse(r2.body).path, '/one-oh/ka2');

    // a chunked upstream answer: no Transfer-Encoding to a 1.0 client, the body ends with the connection
    b.write(h10('/chunks?sizes=100,20000,7', 'Connection: keep-alive\r\n'));
    const r3 = await b.response({ timeoutMs: 5000 });
    assert.equal(r3.status, 200);
    assert.equal(r3.headers['transfer-encoding'], undefined, r3.rawHead);
    assert.equal(r3.headers['content-length'], undefined, r3.rawHead);
    assert.equal(r3.framing, 'close');
    assert.equal(r3.complete, true, 'airgate closed the connection to end the body');
    assert.equal(r3.body.length, 20107);
    assert.ok(patternOk(r3.body), 'de-chunked bytes intact (no chunk-size lines inside)');
  } finally { b.close(); }

  // Expect from an HTTP/1.0 client is ignored (RFC 9110 10.1.1): no 100, the body is read as sent
  const e = await raw(ag.port);
  try {
    e.write(`POST /one-oh/expect HTTP/1.0\r\n${auth()}Accept: application/json\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello`);
    const r = await e.response();
    assert.equal(r.status, 200, r.rawHead);
    assert.equal(JSON.parse(r.body).body_bytes, 5);
  } finally { e.close(); }
});

test('an absolute-form target is forwarded in origin form', async () => {
  const c = await raw(ag.port);
  try {
    c.write(`GET http://anything.example/path/x?q=1&r=%2F HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\n\r\n`);
    const r = await c.response();
    assert.equal(r.status, 200);
    const j = JSON.parse(r.body);
    assert.equal(j.path, '/path/x');
    assert.equal(j.query, 'q=1&r=%2F');
    c.write(`GET https://anything.example HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\n\r\n`);
    const r2 = await c.response();
    assert.equal(r2.status, 200);
    assert.equal(JSON.parse(r2.body).path, '/', 'no path: /');
  } finally { c.close(); }
});

test('an upstream chunked answer is re-chunked intact to a 1.1 client (a chunk over 16 KiB included)', async () => {
  const c = await raw(ag.port);
  try {
    c.write(get('/chunks?sizes=5,20000,3'));
    const r = await c.response();
    assert.equal(r.status, 200);
    assert.equal(r.framing, 'chunked');
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.complete, true, 'terminating 0 chunk');
    assert.equal(r.body.length, 20008);
    assert.ok(patternOk(r.body), 'bytes intact and in order');
    assert.ok(r.chunkSizes.every((n) => n > 0));
    // still in sync for the next request
    c.write(get('/after-chunks'));
    assert.equal(JSON.parse((await c.response()).body).path, '/after-chunks');
    // trailer fields after the last chunk: the answer stays well framed
    c.write(get('/chunks?sizes=3000,17000&trailer=1'));
    const t = await c.response();
    assert.equal(t.complete, true);
    assert.equal(t.body.length, 20000);
    assert.ok(patternOk(t.body));
    if (t.trailers) assert.match(t.trailers, /^X-Body-Sha256: [0-9a-f]{64}\r\n$/i, 'a trailer passed on is well formed');
    c.write(get('/after-trailer'));
    assert.equal(JSON.parse((await c.response()).body).path, '/after-trailer', 'in sync after the trailer');
  } finally { c.close(); }
});

test('a close-delimited upstream answer reaches a 1.1 client chunked and complete; that connection is not reused', async () => {
  const c = await raw(ag.port);
  try {
    c.write(get('/before-close'));
    const first = JSON.parse((await c.response()).body);
    const n = 300000;
    c.write(get(`/until-close?bytes=${n}`));
    const r = await c.response();
    assert.equal(r.status, 200);
    assert.equal(r.framing, 'chunked', r.rawHead);
    assert.equal(r.complete, true);
    assert.equal(r.body.length, n);
    assert.ok(patternOk(r.body));
    const closedConn = Number(r.headers['x-upstream-conn']);
    assert.ok(closedConn > 0);
    const seen = [];
    for (let i = 0; i < 5; i++) {
      c.write(get(`/after-close/${i}`));
      const a = await c.response();
      assert.equal(a.status, 200, `request ${i} after the close-delimited answer`);
      seen.push(JSON.parse(a.body).connection);
    }
    assert.ok(!seen.includes(closedConn), `connection ${closedConn} never serves again (${seen}, first ${first.connection})`);
    assert.equal(c.closed, false, 'the client connection stays open');
  } finally { c.close(); }
});

test('an upstream 103 Early Hints is not passed on; the final 200 is', async () => {
  const c = await raw(ag.port);
  try {
    for (const q of ['', '?twice=1']) {
      c.write(get(`/early-hints${q}`));
      const r = await c.response();
      assert.equal(r.status, 200, r.rawHead);
      assert.equal(JSON.parse(r.body).early_hints, true);
      assert.equal(r.headers.link, undefined, 'the interim answer\'s headers are not merged in');
    }
    c.write(get('/after-hints'));
    assert.equal(JSON.parse((await c.response()).body).path, '/after-hints');
  } finally { c.close(); }
});

test('a broken upstream answer (not HTTP, a 101, two Content-Lengths, a bad status) is a 502 JSON', async () => {
  const c = await raw(ag.port);
  try {
    for (const kind of ['garbage', 'switch', 'twocl', 'badstatus']) {
      c.write(get(`/raw?kind=${kind}`));
      const r = await c.response();
      assert.equal(r.status, 502, `${kind}: ${r.rawHead}`);
      assert.equal(JSON.parse(r.body).error, 'bad_gateway', kind);
      assert.ok(!/Upgrade|hello/.test(r.rawHead + r.body), `${kind}: nothing of the broken answer passed on`);
    }
    c.write(get('/after-broken'));
    assert.equal(JSON.parse((await c.response()).body).path, '/after-broken', 'the client connection stays usable');
  } finally { c.close(); }
});

test('a malformed chunked request body is a 400 JSON with the reason logged, and the connection closes', async () => {
  for (const body of ['zz\r\nabc\r\n0\r\n\r\n', '3\r\nabcXX0\r\n\r\n', `${'f'.repeat(17)}\r\nabc\r\n0\r\n\r\n`]) {
    const logged = ag.lines.filter((l) => l.includes('request body refused (400)')).length;
    const c = await raw(ag.port);
    try {
      c.write(`POST /chunked-bad HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
      const r = await c.response();
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.rawHead}`);
      assert.equal(JSON.parse(r.body).error, 'bad_request');
      assert.match(r.rawHead, /Connection: close/i, 'the rest of the body is never read: the connection closes');
    } finally { c.close(); }
    await waitFor(() => ag.lines.filter((l) => l.includes('request body refused (400)')).length > logged,
      { timeoutMs: 3000 });
  }
});

test('an upstream head over 64 KiB is a 502 JSON; an upstream cut mid-body cuts the client; airgate keeps serving', async () => {
  // raw sockets: fetch() itself refuses heads over 16 KiB
  const h = await raw(ag.port);
  try {
    h.write(get('/big-head?bytes=60000'));
    const ok = await h.response();
    assert.equal(ok.status, 200, 'a 60 KB head passes');
    assert.equal(ok.headers['x-big'].length, 60000);
    h.write(get('/big-head?bytes=70000'));
    const big = await h.response();
    assert.equal(big.status, 502);
    assert.match(big.headers['content-type'], /application\/json/);
    assert.equal(JSON.parse(big.body).error, 'bad_gateway');
    h.write(get('/after-big-head'));
    assert.equal(JSON.parse((await h.response()).body).path, '/after-big-head', 'the client connection goes on');
  } finally { h.close(); }

  // Content-Length 100000, 1000 bytes, then the upstream drops the connection
  const c = await raw(ag.port);
  try {
    c.write(get('/cut?bytes=100000&send=1000'));
    const r = await c.response({ timeoutMs: 5000 });
    assert.equal(r.status, 200);
    assert.equal(r.framing, 'length');
    assert.equal(r.complete, false, 'the body is short');
    assert.equal(c.closed, true, 'and the client connection was cut');
    assert.equal(r.body.length, 1000);
  } finally { c.close(); }
  // chunked: the client never sees the terminating chunk
  const d = await raw(ag.port);
  try {
    d.write(get('/cut?bytes=100000&send=1000&chunked=1'));
    const r = await d.response({ timeoutMs: 5000 });
    assert.equal(r.status, 200);
    assert.equal(r.framing, 'chunked');
    assert.equal(r.complete, false, 'no terminating 0 chunk');
    assert.equal(d.closed, true);
  } finally { d.close(); }
  const after = await fetch(`${ag.url}/still-serving`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(after.status, 200);
  assert.equal((await after.json()).path, '/still-serving');
  assert.equal(ag.proc.exitCode, null);
});

test('a client leaving mid-answer: that upstream connection is dropped, never reused with bytes left in it', async () => {
  const sizes = Array(64).fill(32768).join(','); // 2 MiB in 64 chunks, 5 ms apart
  const c = await raw(ag.port);
  let cutConn;
  try {
    c.write(get(`/chunks?sizes=${sizes}`));
    await c.until(() => c.buf.indexOf('\r\n\r\n') !== -1 && c.buf.length > 100000);
    const head = c.buf.subarray(0, c.buf.indexOf('\r\n\r\n')).toString('latin1');
    cutConn = Number(/X-Upstream-Conn: (\d+)/i.exec(head)[1]);
  } finally { c.close(); }
  await sleep(100);
  for (let i = 0; i < 10; i++) {
    const r = await fetch(`${ag.url}/after-abort/${i}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
    assert.equal(r.status, 200);
    const j = await r.json();
    assert.equal(j.path, `/after-abort/${i}`);
    assert.notEqual(j.connection, cutConn, 'the half-read upstream connection is not in the pool');
  }
});

test('an upstream connection that sent more than the answer is never reused (no answer for the wrong request)', async () => {
  const c = await raw(ag.port);
  try {
    for (const delay of [0, 100]) {
      c.write(get(`/extra?delay_ms=${delay}`));
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'hello');
      await sleep(delay + 200); // the unrequested answer has arrived on the (idle) upstream connection
      for (let i = 0; i < 5; i++) {
        c.write(get(`/after-extra/${delay}/${i}`));
        const a = await c.response();
        assert.equal(a.headers['x-poison'], undefined, `delay ${delay}: request ${i} got the unrequested answer`);
        assert.equal(JSON.parse(a.body).path, `/after-extra/${delay}/${i}`);
      }
    }
  } finally { c.close(); }
});

test('over TLS: pipelining, 100-continue and large bodies both ways on one connection', { skip: hasOpenssl() ? false : 'openssl not installed' }, async () => {
  const dir = tmpDir();
  const key = path.join(dir, 'tls.key'); const crt = path.join(dir, 'tls.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const sec = await startAirgate(baseConfig(idp, [up.url], { tls: { cert_file: crt, key_file: key }, server: { threads: 1 }, log: { level: 'warn' } }));
  const c = await raw(sec.port, { secure: true });
  try {
    // 20 requests in one write: TLS records OpenSSL has decrypted are invisible to epoll
    let batch = '';
    for (let i = 0; i < 20; i++) batch += get(`/tls/${i}`);
    c.write(batch);
    for (let i = 0; i < 20; i++) assert.equal(JSON.parse((await c.response()).body).path, `/tls/${i}`);
    const body = crypto.randomBytes(2 * 1024 * 1024);
    c.write(`PUT /tls/up HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    assert.equal((await c.response()).status, 100);
    c.write(body);
    const u = JSON.parse((await c.response({ timeoutMs: 20000 })).body);
    assert.equal(u.body_bytes, body.length);
    assert.equal(u.body_sha256, crypto.createHash('sha256').update(body).digest('hex'));
    const n = 5 * 1024 * 1024;
    c.write(get(`/bytes/${n}`) + get('/tls/last'));
    const d = await c.response({ timeoutMs: 20000 });
    assert.equal(d.body.length, n);
    assert.ok(patternOk(d.body.subarray(n - 65536), n - 65536));
    assert.equal(JSON.parse((await c.response()).body).path, '/tls/last');
  } finally {
    c.close();
    assert.equal((await sec.stop()).code, 0);
  }
});

test('a second airgate on the same fixed port fails with "address in use" and exit 1', async () => {
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  const first = await startAirgate(baseConfig(idp, [up.url], { listen: `127.0.0.1:${port}`, server: { threads: 2 } }));
  try {
    assert.equal(first.port, port);
    const dir = tmpDir();
    const file = path.join(dir, 'second.yaml');
    fs.writeFileSync(file, JSON.stringify(baseConfig(idp, [up.url], { listen: `127.0.0.1:${port}`, server: { threads: 2 } })));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRGATE_')));
    const second = spawnSync(AIRGATE, ['serve', '-c', file], { env, encoding: 'utf8', timeout: 20000 });
    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`cannot serve on 127\\.0\\.0\\.1:${port}: Address already in use`));
    // every connection still reaches the first one
    for (let i = 0; i < 10; i++) assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  } finally {
    assert.equal((await first.stop()).code, 0);
  }
});

// The inodes of the sockets each epoll set of pid watches.
function epollWatches(pid) {
  const sets = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let link;
    try { link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
    if (link !== 'anon_inode:[eventpoll]') continue;
    const info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    sets.push(new Set([...info.matchAll(/^tfd:\s+\d+ .*\bino:([0-9a-f]+)/gm)].map((m) => parseInt(m[1], 16))));
  }
  return sets;
}

// Socket inodes of established TCP connections to local port `port` from the given client ports.
function tcpInodes(port, clientPorts) {
  const out = new Set();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try { text = fs.readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const lport = parseInt(f[1].split(':')[1], 16);
      const rport = parseInt(f[2].split(':')[1], 16);
      if (lport === port && clientPorts.has(rport)) out.add(Number(f[9]));
    }
  }
  return out;
}

test('client connections are spread over the event loops (server.threads: 2)', async () => {
  const two = await startAirgate(baseConfig(idp, [up.url], { server: { threads: 2 }, log: { level: 'warn' } }));
  const conns = [];
  try {
    for (let i = 0; i < 40; i++) conns.push(await raw(two.port));
    await Promise.all(conns.map(async (c) => {
      c.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.equal((await c.response()).status, 200);
    }));
    const ports = new Set(conns.map((c) => c.sock.localPort));
    const inodes = tcpInodes(two.port, ports);
    assert.equal(inodes.size, 40, 'all 40 connections found in /proc/net/tcp');
    const sets = epollWatches(two.proc.pid);
    const perLoop = sets.map((s) => [...inodes].filter((ino) => s.has(ino)).length).filter((n) => n > 0);
    process.stdout.write(`# 40 connections per loop: ${perLoop.join(', ')}\n`);
    assert.equal(perLoop.reduce((a, b) => a + b, 0), 40, 'each connection is watched by exactly one loop');
    assert.equal(perLoop.length, 2, 'both loops hold connections');
    // the kernel hashes connections over the two listeners: both get a fair share
    // (P(a loop gets fewer than 5 of 40) is about 1e-7)
    assert.ok(Math.min(...perLoop) >= 5, `spread ${perLoop}`);
    // and both loops serve: every connection answers again
    await Promise.all(conns.map(async (c) => {
      c.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.equal((await c.response()).status, 200);
    }));
  } finally {
    for (const c of conns) c.close();
    assert.equal((await two.stop()).code, 0);
  }
});

test('upstream keep-alive: 50 sequential requests use a handful of upstream connections', async () => {
  const before = await upStats();
  const ids = new Set();
  const ports = new Set();
  for (let i = 0; i < 50; i++) {
    // a new client connection every 10 requests: upstream reuse does not depend on the client's
    const r = await fetch(`${ag.url}/ka/${i}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(i % 10 === 9 ? { connection: 'close' } : {}) },
    });
    assert.equal(r.status, 200);
    const j = await r.json();
    ids.add(j.connection);
    ports.add(j.remote_port);
  }
  const afterS = await upStats();
  process.stdout.write(`# 50 requests over ${ids.size} upstream connections (${afterS.connections - before.connections} opened in all, health checks included)\n`);
  assert.ok(ids.size <= 3, `${ids.size} upstream connections for 50 requests`);
  assert.equal(ports.size, ids.size);
  assert.ok(afterS.connections - before.connections < 25, 'far fewer upstream connections than requests');
});

// POST /reject answers 413 at once, without reading the body, and closes (tests/servers/upstream.mjs).
const earlyHead = (len) => `POST /reject?status=413 HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\nContent-Length: ${len}\r\n\r\n`;

test('an upstream refusing a 2 MiB upload before reading it: the client gets that 413', async () => {
  // the body write to the upstream fails (EPIPE) while the 413 already sits in the socket:
  // airgate reads and passes on that answer instead of a 502
  const big = Buffer.alloc(2 << 20, 'x');
  const got = [];
  for (let i = 0; i < 6; i++) {
    const c = await raw(ag.port);
    try {
      c.write(earlyHead(big.length));
      c.write(big);
      got.push((await c.response({ timeoutMs: 5000 })).status);
    } finally { c.close(); }
  }
  assert.deepEqual(got, [413, 413, 413, 413, 413, 413]);
});

test('after an early upstream answer, leftover body bytes are never parsed as a request', async () => {
  const smuggled = `GET /smuggled HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\n\r\n`;
  const echoes = async () => (await upStats()).by_kind.echo || 0;
  const echo0 = await echoes();
  // a 2 MiB body (more than the socket buffers take at once) made of requests
  const big = Buffer.from(smuggled.repeat(Math.ceil((2 << 20) / smuggled.length)));
  const outcomes = [];
  for (let i = 0; i < 4; i++) {
    const a = await raw(ag.port);
    try {
      a.write(earlyHead(big.length));
      a.write(big);
      const r = await a.response({ timeoutMs: 8000 });
      assert.equal(r.status, 413, r.rawHead);
      assert.equal(r.complete, true);
      // airgate closes at once (shutdown after the answer) or keeps the connection
      await a.until(() => a.buf.length > 0, 500);
      assert.equal(a.buf.length, 0, `nothing after the answer: ${a.buf.toString('latin1').slice(0, 100)}`);
      if (a.closed) {
        outcomes.push(`${r.status}+closed`);
      } else {
        // kept open: only when the whole body was consumed; the next request is answered as itself
        assert.doesNotMatch(r.headers.connection || '', /close/i);
        a.write(get('/status/201'));
        const n = await a.response();
        assert.equal(n.status, 201, 'resynchronised: the next answer is for the next request');
        await a.until(() => a.buf.length > 0, 300);
        assert.equal(a.buf.length, 0);
        outcomes.push(`${r.status}+kept`);
      }
    } finally { a.close(); }
  }
  process.stdout.write(`# early answers: ${outcomes.join(', ')}\n`);

  // a small body that arrives after the early answer: still a body, never a request
  const b = await raw(ag.port);
  try {
    b.write(earlyHead(smuggled.length));
    const r = await b.response({ timeoutMs: 5000 });
    assert.equal(r.status, 413);
    b.write(smuggled);
    await b.until(() => b.buf.length > 0, 1500);
    assert.equal(b.buf.length, 0, `no second answer: ${b.buf.toString('latin1').slice(0, 100)}`);
    assert.equal(b.closed, true, 'closed (airgate cannot tell where the next request would start)');
  } finally { b.close(); }
  await sleep(200);
  assert.equal(await echoes(), echo0, 'the upstream never saw /smuggled');
  const ok = await fetch(`${ag.url}/after-early`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(ok.status, 200, 'airgate keeps serving');
  await ok.arrayBuffer();
});

test('2,000 idle keep-alive connections add less than 16 MiB of RSS', async (t) => {
  const n = 2000;
  let limit = n + 200;
  try {
    const lim = fs.readFileSync(`/proc/${process.pid}/limits`, 'utf8');
    limit = Number((/^Max open files\s+(\d+)/m.exec(lim) || [])[1]) || 0;
  } catch { /* keep the default */ }
  if (limit < 2 * n + 500) {
    t.skip(`open file limit ${limit} < ${2 * n + 500} (this process and airgate each need ${n} descriptors)`);
    return;
  }
  const mem = await startAirgate(baseConfig(idp, [up.url], { server: { threads: 1, max_connections: 5000, max_connections_per_ip: 0 }, log: { level: 'warn' } }));
  const conns = [];
  try {
    const once = async (c) => {
      c.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.equal((await c.response()).status, 200);
    };
    // warm up: buffers, request objects, allocator arenas
    const warm = [];
    for (let i = 0; i < 100; i++) warm.push(await raw(mem.port));
    await Promise.all(warm.map(once));
    for (const c of warm) c.close();
    await sleep(300);
    const before = procMem(mem.proc.pid).rss;
    for (let i = 0; i < n; i += 100) {
      const batch = [];
      for (let k = 0; k < 100; k++) batch.push(raw(mem.port));
      const got = await Promise.all(batch);
      await Promise.all(got.map(once));
      conns.push(...got);
    }
    await sleep(300);
    const afterRss = procMem(mem.proc.pid).rss;
    const grew = afterRss - before;
    process.stdout.write(`# VmRSS ${before} KiB -> ${afterRss} KiB with ${n} idle connections (+${grew} KiB, ${Math.round((grew * 1024) / n)} bytes each)\n`);
    assert.ok(grew < 16 * 1024, `RSS grew by ${grew} KiB (limit 16384 KiB)`);
    assert.equal(conns.filter((c) => c.closed).length, 0, 'all idle connections still open');
    assert.ok(fs.readdirSync(`/proc/${mem.proc.pid}/fd`).length >= n, 'airgate holds them all');
    // they are alive: a few answer again
    await Promise.all([0, 500, 1000, 1999].map((i) => once(conns[i])));
  } finally {
    for (const c of conns) c.close();
    assert.equal((await mem.stop()).code, 0);
  }
});

test('server.max_connections: 5: the 6th connection is closed at once and logged; the 5 keep working', async () => {
  const lim = await startAirgate(baseConfig(idp, [up.url], { server: { max_connections: 5, threads: 2 }, log: { level: 'info' } }));
  const conns = [];
  try {
    for (let i = 0; i < 5; i++) {
      const c = await raw(lim.port);
      c.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.equal((await c.response()).status, 200, `connection ${i}`);
      conns.push(c);
    }
    const sixth = await raw(lim.port);
    const t0 = Date.now();
    sixth.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
    await sixth.until(() => false, 3000);
    assert.equal(sixth.closed, true, 'the 6th connection is closed');
    assert.ok(Date.now() - t0 < 2000, `closed after ${Date.now() - t0} ms`);
    assert.equal(sixth.buf.length, 0, 'without an answer');
    await waitFor(() => lim.lines.some((l) => /refusing a connection: server\.max_connections \(5\) reached/.test(l)), { timeoutMs: 3000 });
    for (const [i, c] of conns.entries()) {
      c.write(`GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n`);
      assert.equal((await c.response()).status, 200, `connection ${i} still served`);
    }
    // a slot freed is usable again
    conns.pop().close();
    const again = await waitFor(async () => {
      const c = await raw(lim.port);
      c.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
      try { return (await c.response({ timeoutMs: 1000 })).status === 200 ? c : (c.close(), false); } catch { c.close(); return false; }
    }, { timeoutMs: 5000 });
    conns.push(again);
  } finally {
    for (const c of conns) c.close();
    assert.equal((await lim.stop()).code, 0);
  }
});

test('HEAD keeps the upstream Content-Length and sends no body; 204 and 304 have no body and no chunked framing', async () => {
  const c = await raw(ag.port);
  try {
    c.write(get('/status/200'));
    const g = await c.response();
    assert.equal(g.status, 200);
    const len = g.body.length;
    assert.ok(len > 0);
    c.write(`HEAD /status/200 HTTP/1.1\r\nHost: front.test\r\n${auth()}Accept: application/json\r\n\r\n`);
    const h = await c.response({ head: true });
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-length'], String(len), 'the Content-Length a GET would have');
    assert.equal(h.headers['transfer-encoding'], undefined);
    await sleep(150);
    assert.equal(c.buf.length, 0, 'no body after the HEAD answer');
    for (const code of [204, 304]) {
      c.write(get(`/status/${code}`));
      const r = await c.response();
      assert.equal(r.status, code);
      assert.equal(r.headers['transfer-encoding'], undefined, r.rawHead);
      assert.ok(r.headers['content-length'] === undefined || code === 304, r.rawHead);
      await sleep(150);
      assert.equal(c.buf.length, 0, `no body after ${code}`);
    }
    // HEAD of a chunked upstream answer: no body, no terminating chunk
    c.write(`HEAD /chunks?sizes=10,10 HTTP/1.1\r\nHost: front.test\r\n${auth()}\r\n`);
    const hc = await c.response({ head: true });
    assert.equal(hc.status, 200);
    await sleep(150);
    assert.equal(c.buf.length, 0, `no bytes after a HEAD answer: ${JSON.stringify(c.buf.toString('latin1'))}`);
    c.write(get('/after-head'));
    assert.equal(JSON.parse((await c.response()).body).path, '/after-head', 'still in sync');
  } finally { c.close(); }
});

test('server.idle_timeout_s: idle keep-alive connections and stalled readers are closed; a slow upstream is not', async () => {
  const idle = await startAirgate(baseConfig(idp, [up.url], { server: { idle_timeout_s: 1, threads: 1 }, log: { level: 'info' } }));
  try {
    const a = await raw(idle.port);
    a.write(get('/idle/1'));
    assert.equal((await a.response()).status, 200);
    const t0 = Date.now();
    await a.until(() => false, 4000);
    assert.equal(a.closed, true, 'the idle connection was closed');
    const ms = Date.now() - t0;
    assert.ok(ms >= 900 && ms < 3500, `closed after ${ms} ms idle (limit 1 s)`);

    // waiting 2.5 s for the replica is not idleness
    const b = await raw(idle.port);
    b.write(get('/delay?ms=2500'));
    const r = await b.response({ timeoutMs: 6000 });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).delayed_ms, 2500);
    b.close();

    // a client that stops reading a large answer is cut after the idle timeout, with a log line
    const c = await raw(idle.port);
    c.sock.pause();
    c.write(get(`/bytes/${64 * 1024 * 1024}`));
    await waitFor(() => idle.lines.some((l) => l.includes('client stopped reading the answer')), { timeoutMs: 6000 });
    c.sock.resume();
    await c.until(() => false, 5000);
    assert.equal(c.closed, true);
  } finally {
    assert.equal((await idle.stop()).code, 0);
  }
});

test('a client not reading a 20 MiB answer does not hold up other clients on the same loop', async () => {
  const n = 20 * 1024 * 1024;
  const slow = await raw(ag.port);
  try {
    slow.sock.pause(); // read nothing for now
    slow.write(get(`/bytes/${n}`));
    await sleep(500); // the answer fills the socket buffers and airgate's
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`${ag.url}/meanwhile/${i}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
      assert.equal(r.status, 200);
      assert.equal((await r.json()).path, `/meanwhile/${i}`);
    }
    const ms = Date.now() - t0;
    process.stdout.write(`# 10 requests in ${ms} ms while a 20 MiB answer waits for its reader\n`);
    assert.ok(ms < (SAN ? 5000 : 2000), `10 requests took ${ms} ms`);
    await sleep(1000);
    slow.sock.resume();
    const r = await slow.response({ timeoutMs: 30000 });
    assert.equal(r.status, 200);
    assert.equal(r.complete, true);
    assert.equal(r.body.length, n);
    assert.ok(patternOk(r.body.subarray(0, 65536)) && patternOk(r.body.subarray(n - 65536), n - 65536));
  } finally { slow.close(); }
});
