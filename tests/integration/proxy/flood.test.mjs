// One address opening many slow connections (slowloris, 1 byte/s) does not keep other clients
// out: server.max_connections_per_ip caps it (not for trusted_proxies), and at
// server.max_connections the oldest connections without a request head are shed to make room.
// The flood comes from 127.0.0.2, the other clients from 127.0.0.1 (both loopback).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { baseConfig, startAirgate, startIdp, startUpstream, sleep } from './lib.mjs';

let idp; let up;
const gates = [];
before(async () => {
  idp = await startIdp([]);
  up = await startUpstream();
});
after(async () => {
  for (const g of gates) await g.stop(); // eslint-disable-line no-await-in-loop
  await up?.stop(); await idp?.stop();
});

async function gate(server, extra = {}) {
  const g = await startAirgate(baseConfig(idp, [up.url], {
    server: { client_header_timeout_s: 30, ...server }, log: { level: 'warn' }, ...extra,
  }));
  gates.push(g);
  return g;
}

// Opens n connections from 127.0.0.2 that send a request head one byte a second; resolves once
// all are connected (or refused). `open()` counts those the server has not closed.
async function flood(port, n) {
  const socks = [];
  const head = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ';
  await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    const rec = { s, closed: false, i: 0 };
    socks.push(rec);
    s.on('error', () => {});
    s.on('close', () => { rec.closed = true; resolve(); });
    s.on('connect', () => { s.write(head[rec.i++]); resolve(); });
  })));
  const timer = setInterval(() => {
    for (const r of socks) if (!r.closed) r.s.write(head[r.i++ % head.length]);
  }, 1000);
  return {
    open: () => socks.filter((r) => !r.closed).length,
    end() { clearInterval(timer); for (const r of socks) r.s.destroy(); },
  };
}

// One plain GET /healthz from 127.0.0.1 on a new connection: { status, ms } (status 0: refused).
function probe(port) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    let data = '';
    const done = (status) => { s.destroy(); resolve({ status, ms: Math.round(performance.now() - t0) }); };
    const timer = setTimeout(() => done(-1), 5000);
    s.on('error', () => { clearTimeout(timer); done(0); });
    s.on('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    s.on('data', (d) => { data += d; });
    s.on('close', () => { clearTimeout(timer); done(Number((/^HTTP\/1\.1 (\d+)/.exec(data) || [])[1] || 0)); });
  });
}

async function others(port, n = 10) {
  const rs = [];
  for (let i = 0; i < n; i += 1) rs.push(await probe(port)); // eslint-disable-line no-await-in-loop
  return { ok: rs.filter((r) => r.status === 200).length, max: Math.max(...rs.map((r) => r.ms)) };
}

async function run(name, server, extra, n, { expectOpenMax } = {}) {
  const g = await gate(server, extra);
  const f = await flood(g.port, n);
  await sleep(1300); // the flood's connections are now old enough to be shed
  const o = await others(g.port);
  const openNow = f.open();
  f.end();
  console.log(`# ${name}: flood ${n}, flood connections open ${openNow}, others served ${o.ok}/10, slowest ${o.max} ms`);
  assert.equal(o.ok, 10, `${name}: other clients refused`);
  assert.ok(o.max < 1000, `${name}: slowest other client ${o.max} ms`);
  if (expectOpenMax !== undefined) assert.ok(openNow <= expectOpenMax, `${name}: ${openNow} flood connections open`);
  return g;
}

test('per-address cap: one address gets at most max_connections_per_ip connections', async () => {
  await run('per-ip', { max_connections: 200, max_connections_per_ip: 64 }, {}, 220, { expectOpenMax: 64 });
});

test('trusted proxies are not capped; at the global cap the oldest head-less connections are shed', async () => {
  const g = await run('shed', { max_connections: 200, max_connections_per_ip: 64 },
    { trusted_proxies: ['127.0.0.2/32'] }, 220, { expectOpenMax: 200 });
  assert.ok(g.lines.some((l) => l.includes('closing the oldest connections without a request head')));
});

test("the issue's numbers: 1,100 slow connections against max_connections 1024", async () => {
  await run('1100 untrusted', {}, {}, 1100, { expectOpenMax: 64 });
  await run('1100 trusted', {}, { trusted_proxies: ['127.0.0.2/32'] }, 1100, { expectOpenMax: 1024 });
});
