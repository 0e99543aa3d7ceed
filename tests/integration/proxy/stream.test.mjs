// Streaming: a 200 MiB response passes with flat memory (bounded per-request buffer with
// backpressure), a slow client download is not cut, and slowloris heads are; the default head limit
// takes the largest session cookie.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { baseConfig, mintToken, procMem, startAirgate, startIdp, startUpstream, sleep } from './lib.mjs';

let idp; let up; let ag; let token;
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  ag = await startAirgate(baseConfig(idp, [up.url], {
    server: { client_header_timeout_s: 2, idle_timeout_s: 30 },
    log: { level: 'warn' },
  }));
  token = await mintToken(idp, { username: 'admin' });
});
after(async () => {
  const r = ag && await ag.stop();
  await up?.stop();
  await idp?.stop();
  if (r) assert.equal(r.code, 0);
});

test('a 200 MiB response streams through with flat RSS', async () => {
  // warm up so thread stacks, pools and caches are already counted
  await (await fetch(`${ag.url}/bytes/4194304`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer();
  const before = procMem(ag.proc.pid);
  const n = 200 * 1024 * 1024;
  const r = await fetch(`${ag.url}/bytes/${n}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  let got = 0; let bad = -1;
  for await (const chunk of r.body) {
    for (let i = 0; i < chunk.length; i += 4093) if (chunk[i] !== ((got + i) & 0xff) && bad < 0) bad = got + i;
    got += chunk.length;
  }
  assert.equal(got, n);
  assert.equal(bad, -1, 'bytes arrive in order');
  const afterMem = procMem(ag.proc.pid);
  const grewKiB = afterMem.hwm - before.hwm;
  process.stdout.write(`# VmHWM before ${before.hwm} KiB, after ${afterMem.hwm} KiB (+${grewKiB} KiB) for 200 MiB\n`);
  // a normal build stays within a few hundred KiB; AddressSanitizer's allocator and shadow
  // memory add tens of MiB, still far from the 200 MiB a buffered body would cost
  const limitKiB = process.env.AG_SANITIZE === '1' ? 64 * 1024 : 16 * 1024;
  assert.ok(grewKiB < limitKiB, `peak RSS grew by ${grewKiB} KiB (limit ${limitKiB} KiB)`);
});

test('a slow reader gets the whole body (backpressure, no timeout)', async () => {
  const n = 8 * 1024 * 1024;
  const got = await new Promise((resolve, reject) => {
    const s = net.connect(ag.port, '127.0.0.1', () => {
      s.write(`GET /bytes/${n} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    });
    let total = 0;
    s.on('data', (d) => {
      total += d.length;
      s.pause();
      setTimeout(() => s.resume(), 5); // ~ a few MiB/s: slow, but never idle
    });
    s.on('close', () => resolve(total));
    s.on('error', reject);
  });
  assert.ok(got > n, `received ${got} bytes (head + ${n} body)`);
});

test('slowloris heads are cut while a slow download continues', async () => {
  // the slow download: 30 chunks, 150 ms apart (4.5 s), longer than the 2 s head timeout
  const slow = fetch(`${ag.url}/slow?bytes=30&interval_ms=150&chunk=1`, { headers: { authorization: `Bearer ${token}` } })
    .then(async (r) => ({ status: r.status, bytes: (await r.arrayBuffer()).byteLength }));
  const t0 = Date.now();
  const loris = (prefix, drip) => new Promise((resolve) => {
    const s = net.connect(ag.port, '127.0.0.1', () => s.write(prefix));
    const timer = setInterval(() => { if (!s.destroyed) s.write(drip); }, 300);
    s.on('data', () => {});
    s.on('close', () => { clearInterval(timer); resolve(Date.now() - t0); });
    s.on('error', () => {});
    setTimeout(() => { clearInterval(timer); s.destroy(); }, 10000);
  });
  const [cut1, cut2, idle] = await Promise.all([
    loris('GET / HTTP/1.1\r\nHost: a\r\n', 'X-a: b\r\n'), // head trickles in
    loris('GET /', 'a'), // request line never finishes
    new Promise((resolve) => { // connects and sends nothing
      const s = net.connect(ag.port, '127.0.0.1');
      s.on('close', () => resolve(Date.now() - t0));
      s.on('error', () => {});
      setTimeout(() => s.destroy(), 10000);
    }),
  ]);
  for (const [what, ms] of [['trickled head', cut1], ['slow request line', cut2], ['silent connection', idle]]) {
    assert.ok(ms >= 1800 && ms < 5000, `${what} cut after ${ms} ms (limit 2 s)`);
  }
  const s = await slow;
  assert.equal(s.status, 200);
  assert.equal(s.bytes, 30, 'the slow download completed');
  assert.ok(Date.now() - t0 >= 4000);
  await sleep(10);
});

test('the default head limit takes a session cookie in 8 chunks as a browser sends it', async () => {
  // 8 x 3800 characters (auth/session.h's largest session) plus an Airflow cookie and the usual
  // browser headers: refused for lack of credentials (401), not for size (431)
  const cookie = `${Array.from({ length: 8 }, (_, i) => `big_${i}=${'v'.repeat(3800)}`).join('; ')}; session=${'s'.repeat(400)}`;
  const r = await fetch(`${ag.url}/big-head`, {
    redirect: 'manual',
    headers: {
      cookie,
      'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
      accept: 'application/json',
      'accept-language': 'en-GB,en;q=0.9',
      referer: `${ag.url}/dags/example/grid?tab=details`,
    },
  });
  assert.equal(r.status, 401);
  await r.arrayBuffer();
});
