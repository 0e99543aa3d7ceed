// Slow request bodies (server.client_body_timeout_s / client_body_min_rate, like mod_reqtimeout's
// body=...,MinRate=...): a trickled body is cut, a large paced upload is not (every min_rate bytes
// buy one more second), and 0 disables the limit.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { baseConfig, mintToken, startAirgate, startIdp, startUpstream, sleep, waitFor } from './lib.mjs';

let idp; let up; let strict; let lax; let off; let token;
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  const cfg = (server) => baseConfig(idp, [up.url], { server, log: { level: 'info' } });
  // strict: 2 s, and a trickle buys no extra time
  strict = await startAirgate(cfg({ client_body_timeout_s: 2, client_body_min_rate: 1000000 }));
  // lax: 2 s plus 1 s per 16 KiB (the default rate)
  lax = await startAirgate(cfg({ client_body_timeout_s: 2, max_body_bytes: 33554432 }));
  off = await startAirgate(cfg({ client_body_timeout_s: 0, client_body_min_rate: 1000000 }));
  token = await mintToken(idp, { username: 'admin' });
});
after(async () => {
  const rs = [];
  for (const a of [strict, lax, off]) if (a) rs.push(await a.stop());
  await up?.stop();
  await idp?.stop();
  for (const r of rs) assert.equal(r.code, 0);
});

// Sends a POST head then the body in `chunks`, `gapMs` apart; resolves with the raw answer and
// when the connection closed.
function upload(port, chunks, gapMs) {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  return new Promise((resolve) => {
    const t0 = Date.now();
    const got = [];
    let stopped = false;
    const s = net.connect(port, '127.0.0.1', async () => {
      s.write(`POST /echo HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\n`
        + `Accept: application/json\r\nContent-Length: ${total}\r\nConnection: close\r\n\r\n`);
      for (const c of chunks) {
        if (stopped || s.destroyed) break;
        await new Promise((r) => (s.write(c) ? r() : s.once('drain', r)));
        if (gapMs) await sleep(gapMs);
      }
    });
    const timer = setTimeout(() => s.destroy(), 12000);
    s.on('data', (d) => got.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      stopped = true;
      clearTimeout(timer);
      resolve({ ms: Date.now() - t0, raw: Buffer.concat(got).toString('latin1') });
    });
  });
}

function parse(raw) {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(raw);
  const i = raw.indexOf('\r\n\r\n');
  return { status: m ? Number(m[1]) : 0, body: i >= 0 ? raw.slice(i + 4) : '' };
}

const trickle = (n) => Array.from({ length: n }, () => Buffer.from('x'));

test('a body trickled at 1 byte / 200 ms is cut after client_body_timeout_s', async () => {
  const r = await upload(strict.port, trickle(40), 200); // would take 8 s
  assert.ok(r.ms >= 1800 && r.ms < 5000, `cut after ${r.ms} ms (limit 2 s)`);
  assert.equal(r.raw, '', 'no answer: the upstream never completed the request');
  await waitFor(() => strict.lines.some((l) => l.includes('request body too slow')));
  // the upstream transfer was aborted and its slot freed: the next request is served
  const ok = await fetch(`${strict.url}/echo`, { method: 'POST', body: 'abc', headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).body_bytes, 3);
});

test('a 20 MiB upload paced over ~3 s passes (every 16 KiB buys a second)', async () => {
  const mib = 1024 * 1024;
  const chunks = Array.from({ length: 20 }, (_, i) => crypto.createHash('sha512').update(String(i)).digest().toString('hex').repeat(mib / 128).slice(0, mib)).map((s) => Buffer.from(s));
  const want = crypto.createHash('sha256');
  for (const c of chunks) want.update(c);
  const r = await upload(lax.port, chunks, 150);
  const a = parse(r.raw);
  assert.equal(a.status, 200, r.raw.slice(0, 200));
  assert.ok(r.ms > 2000, `the upload took ${r.ms} ms, longer than the 2 s base`);
  const j = JSON.parse(a.body);
  assert.equal(j.body_bytes, 20 * mib);
  assert.equal(j.body_sha256, want.digest('hex'));
});

test('client_body_timeout_s: 0 disables the limit', async () => {
  const r = await upload(off.port, trickle(15), 200); // 3 s, cut at 2 s by the strict setting
  const a = parse(r.raw);
  assert.equal(a.status, 200, r.raw.slice(0, 200));
  assert.equal(JSON.parse(a.body).body_bytes, 15);
  assert.ok(r.ms >= 2800);
  await sleep(10);
});
