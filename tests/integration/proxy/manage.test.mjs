// The management listener (libmicrohttpd, management.listen): /metrics (Prometheus text and
// OpenMetrics), /statusz, /healthz, /readyz there; /metrics and /statusz absent (404) from the
// public port; malformed, oversized and slow requests answered or closed by MHD without harm to
// the process; a management address in use or equal to the public port is a clear startup error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  AIRGATE, baseConfig, mintToken, rawRequest, sleep, startAirgate, startIdp, startUpstream,
  tmpDir, waitFor,
} from './lib.mjs';

const CLIENT_SECRET = 'management-test-client-secret-value';
const COOKIE_SECRET = 'a-management-test-cookie-secret-of-32+bytes';

let idp; let up; let ag; let token;
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  ag = await startAirgate(baseConfig(idp, [up.url], {
    oidc: { issuer: idp.info.issuer, client_id: 'airflow', client_secret: CLIENT_SECRET },
    session: { cookie_secret: COOKIE_SECRET },
  }));
  token = await mintToken(idp, { username: 'admin' });
  await waitFor(async () => (await fetch(`${ag.mgmtUrl}/readyz`)).status === 200);
});
after(async () => {
  const r = ag && await ag.stop();
  await up?.stop();
  await idp?.stop();
  if (r) assert.equal(r.code, 0, 'airgate exits 0 on SIGTERM');
});

// One connection: sends head, resolves { status, rawHead, closedMs } when the server closes
// (status NaN: closed without an answer). Never rejects on a reset: that is a close too.
function exchange(port, head, { timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    const t = setTimeout(() => { s.destroy(); reject(new Error(`no close in ${timeoutMs} ms`)); }, timeoutMs);
    s.on('connect', () => s.write(head));
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(t);
      const all = Buffer.concat(chunks).toString('latin1');
      const rawHead = all.split('\r\n\r\n')[0];
      resolve({ status: Number(rawHead.split(' ')[1]), rawHead, closedMs: Date.now() - t0 });
    });
  });
}

test('management port: /healthz, /readyz, /metrics (text), HEAD, 404 and 405', async () => {
  assert.notEqual(ag.mgmtPort, ag.port);
  assert.ok(ag.lines.some((l) => l.includes(`management listening on http://127.0.0.1:${ag.mgmtPort}`)));
  const h = await fetch(`${ag.mgmtUrl}/healthz`);
  assert.equal(h.status, 200);
  assert.equal(await h.text(), 'ok\n');
  const r = await fetch(`${ag.mgmtUrl}/readyz`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { ready: true, keys_loaded: true, healthy_upstreams: 1, draining: false });
  // traffic on the public port shows up in the metrics read on the management port
  assert.equal((await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  // (counted once the answer is written, which may be just after fetch resolves)
  const m = await waitFor(async () => {
    const x = await fetch(`${ag.mgmtUrl}/metrics`);
    const body = await x.text();
    return /route="proxy",status="200"/.test(body) && { res: x, body };
  });
  assert.equal(m.res.status, 200);
  assert.equal(m.res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = m.body;
  assert.match(text, /\nairgate_build_info\{version="[^"]+"\} 1\n/);
  assert.match(text, /# TYPE airgate_requests_total counter\n/);
  assert.match(text, /airgate_requests_total\{route="proxy",status="200"\} [1-9]/);
  assert.match(text, new RegExp(`airgate_upstream_healthy\\{upstream="127\\.0\\.0\\.1:${up.info.port}"\\} 1`));
  assert.match(text, /airgate_requests_total\{route="readyz",status="200"\} [1-9]/, 'management requests are counted');
  assert.doesNotMatch(text, /# EOF/);
  const head = await rawRequest(ag.mgmtPort, 'HEAD /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal((await fetch(`${ag.mgmtUrl}/nope`)).status, 404);
  assert.equal((await fetch(`${ag.mgmtUrl}/.well-known/airgate/jwks.json`)).status, 404, 'the JWKS is the public listener\'s');
  const post = await fetch(`${ag.mgmtUrl}/metrics`, { method: 'POST', body: 'x=1' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  assert.equal((await fetch(`${ag.mgmtUrl}/healthz`, { method: 'DELETE' })).status, 405);
});

test('/metrics speaks OpenMetrics when Accept asks for it (as Prometheus does)', async () => {
  const accept = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
  const m = await fetch(`${ag.mgmtUrl}/metrics`, { headers: { accept } });
  assert.equal(m.status, 200);
  assert.equal(m.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  const text = await m.text();
  assert.ok(text.endsWith('\n# EOF\n'), text.slice(-100));
  assert.match(text, /\n# TYPE airgate_requests counter\n/, 'counter families named without _total');
  assert.match(text, /\n# TYPE process_cpu_seconds counter\n/);
  assert.match(text, /\nairgate_requests_total\{route="proxy",status="200"\} [1-9]/, 'samples keep _total');
  assert.doesNotMatch(text, /# TYPE \S+_total counter/);
  assert.doesNotMatch(text, /\n\n/);
});

test('/statusz: version, config digest, key sets with kids and last fetch, upstreams, state, uptime', async () => {
  const r = await fetch(`${ag.mgmtUrl}/statusz`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const raw = await r.text();
  const s = JSON.parse(raw);
  assert.match(s.version, /^\d+\.\d+\.\d+/);
  assert.ok(s.uptime_s > 0 && s.uptime_s < 600, `uptime ${s.uptime_s}`);
  assert.ok(Math.abs(Date.parse(s.started_at) / 1000 + s.uptime_s - Date.now() / 1000) < 5);
  assert.match(s.config.digest, /^sha256:[0-9a-f]{64}$/);
  assert.equal(s.config.source, ag.file);
  const [idpKeys, own] = s.key_sets;
  assert.equal(idpKeys.name, 'idp');
  assert.equal(idpKeys.issuer, idp.info.issuer);
  assert.equal(idpKeys.ready, true);
  const published = await (await fetch(idpKeys.jwks_uri)).json();
  assert.deepEqual([...idpKeys.kids].sort(), published.keys.filter((k) => k.use !== 'enc').map((k) => k.kid).sort());
  assert.ok(Math.abs(Date.parse(idpKeys.last_fetch) - Date.now()) < 600000, idpKeys.last_fetch);
  assert.equal(idpKeys.last_failure, null);
  assert.ok(idpKeys.fetches >= 1);
  const jwks = await (await fetch(`${ag.url}/.well-known/airgate/jwks.json`)).json();
  assert.deepEqual(own, { name: 'assertion', url: '/.well-known/airgate/jwks.json', kids: jwks.keys.map((k) => k.kid) });
  assert.equal(s.upstreams.length, 1);
  assert.equal(s.upstreams[0].upstream, `127.0.0.1:${up.info.port}`);
  assert.equal(s.upstreams[0].healthy, true);
  assert.equal(s.healthy_upstreams, 1);
  assert.deepEqual(s.state, { shared: false, redis_url: null, up: true, revocations: 0, unpublished: 0, received: 0, errors: 0 });
  assert.equal(s.draining, false);
  // nothing secret in it
  for (const secret of [CLIENT_SECRET, COOKIE_SECRET, token]) assert.ok(!raw.includes(secret));
});

test('the public port: /metrics and /statusz are 404 (even signed in, never forwarded); /healthz and /readyz stay', async () => {
  for (const p of ['/metrics', '/statusz']) {
    const r = await fetch(`${ag.url}${p}`);
    assert.equal(r.status, 404, p);
    assert.deepEqual(await r.json(), { error: 'not_found' });
    const signed = await fetch(`${ag.url}${p}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(signed.status, 404, `${p} with a token`);
    assert.equal((await fetch(`${ag.url}${p}`, { method: 'POST' })).status, 404, `POST ${p}`);
    const om = await fetch(`${ag.url}${p}`, { headers: { accept: 'application/openmetrics-text' } });
    assert.equal(om.status, 404);
  }
  assert.equal((await fetch(`${ag.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${ag.url}/readyz`)).status, 200);
  await waitFor(async () => /airgate_requests_total\{route="metrics",status="404"\} [1-9]/
    .test(await (await fetch(`${ag.mgmtUrl}/metrics`)).text()));
});

test('bad requests to MHD: 400/414/431/505 or a closed connection, never a crash', async () => {
  const cases = [
    ['garbage', 'GARBAGE\r\n\r\n'],
    ['binary', '\x00\x01\x02\xff\xfe\r\n\r\n'],
    ['header without colon', 'GET /metrics HTTP/1.1\r\nHost: m\r\nBad Header Line\r\n\r\n'],
    ['no Host', 'GET /metrics HTTP/1.1\r\n\r\n'],
    ['unknown version', 'GET /metrics HTTP/9.9\r\nHost: m\r\n\r\n'],
    ['huge header', `GET /metrics HTTP/1.1\r\nHost: m\r\nX-Big: ${'a'.repeat(200000)}\r\n\r\n`],
    ['many headers', `GET /metrics HTTP/1.1\r\nHost: m\r\n${'X-A: b\r\n'.repeat(5000)}\r\n`],
    ['huge URL', `GET /${'a'.repeat(100000)} HTTP/1.1\r\nHost: m\r\n\r\n`],
  ];
  const seen = {};
  for (const [name, head] of cases) {
    const r = await exchange(ag.mgmtPort, head, { timeoutMs: 20000 });
    seen[name] = Number.isNaN(r.status) ? 'closed' : r.status;
    assert.ok(Number.isNaN(r.status) || [400, 413, 414, 431, 505].includes(r.status), `${name}: ${r.rawHead.split('\r\n')[0]}`);
  }
  assert.equal(seen['header without colon'], 400);
  assert.equal(seen['no Host'], 400);
  assert.equal(seen['unknown version'], 505);
  assert.ok([413, 431].includes(seen['huge header']), `huge header: ${seen['huge header']}`);
  assert.equal(seen['huge URL'], 414);
  // still alive and serving, on both ports
  assert.equal(ag.proc.exitCode, null);
  assert.equal((await fetch(`${ag.mgmtUrl}/healthz`)).status, 200);
  assert.equal((await fetch(`${ag.url}/healthz`)).status, 200);
  console.log(`bad requests: ${JSON.stringify(seen)}`);
});

test('a slow client is closed after the timeout and never holds up others; connections are bounded', async () => {
  // half a request head, then silence
  const slow = exchange(ag.mgmtPort, 'GET /metrics HTTP/1.1\r\nHo', { timeoutMs: 30000 });
  await sleep(200);
  const t0 = Date.now();
  assert.equal((await fetch(`${ag.mgmtUrl}/healthz`)).status, 200);
  assert.ok(Date.now() - t0 < 2000, 'served while the slow client waits');
  // 80 idle connections: MHD takes 64 (its limit, the slow one included) and leaves the rest
  // in the kernel's backlog until one closes; the process never holds more
  const fds = () => fs.readdirSync(`/proc/${ag.proc.pid}/fd`).length;
  const base = fds();
  const socks = [];
  for (let i = 0; i < 80; i++) {
    const s = net.connect(ag.mgmtPort, '127.0.0.1');
    s.on('error', () => {});
    socks.push(s);
  }
  await sleep(1500);
  const held = fds() - base;
  assert.ok(held >= 60 && held <= 64, `connections held: ${held}`);
  const full = await fetch(`${ag.mgmtUrl}/healthz`, { signal: AbortSignal.timeout(1500) }).then((x) => x.status).catch((e) => e.name);
  assert.equal(full, 'TimeoutError', 'at the limit, a new connection waits');
  for (const s of socks) s.destroy();
  await waitFor(async () => (await fetch(`${ag.mgmtUrl}/healthz`).catch(() => ({ status: 0 }))).status === 200);
  assert.ok(fds() - base <= 2, 'the connections were released');
  console.log(`connection limit: ${held} held of 80 opened`);
  const r = await slow;
  assert.ok(Number.isNaN(r.status) || r.status === 408, `slow client: ${r.rawHead}`);
  assert.ok(r.closedMs >= 9000 && r.closedMs < 20000, `closed after ${r.closedMs} ms (timeout 10 s)`);
});

test('SIGHUP: the config digest follows the config; a new management.listen waits for a restart', async () => {
  const before = (await (await fetch(`${ag.mgmtUrl}/statusz`)).json()).config.digest;
  const cfg = baseConfig(idp, [up.url], {
    oidc: { issuer: idp.info.issuer, client_id: 'airflow', client_secret: CLIENT_SECRET },
    session: { cookie_secret: COOKIE_SECRET },
    log: { level: 'warn' },
    management: { listen: '127.0.0.1:1' },
  });
  ag.writeConfig(cfg);
  const mark = ag.lines.length;
  ag.proc.kill('SIGHUP');
  await waitFor(() => ag.lines.slice(mark).some((l) => l.includes('management.listen changed')));
  const line = ag.lines.slice(mark).find((l) => l.includes('management.listen changed'));
  assert.match(line, /"level":"warn"/);
  assert.match(line, new RegExp(`127\\.0\\.0\\.1:0 -> 127\\.0\\.0\\.1:1\\): the management listener stays on port ${ag.mgmtPort} until a restart`));
  const after = await waitFor(async () => {
    const d = (await (await fetch(`${ag.mgmtUrl}/statusz`)).json()).config.digest;
    return d !== before && d;
  });
  assert.match(after, /^sha256:[0-9a-f]{64}$/);
  assert.equal((await fetch(`${ag.mgmtUrl}/healthz`)).status, 200, 'still on the port it started on');
});

const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRGATE_')));
function serve(cfg) {
  const file = path.join(tmpDir(), 'airgate.yaml');
  fs.writeFileSync(file, JSON.stringify(cfg));
  const r = spawnSync(AIRGATE, ['serve', '-c', file], { env, encoding: 'utf8', timeout: 20000 });
  return { code: r.status, err: r.stderr };
}

test('management.listen in use: exit 1 naming the address and the key', async () => {
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  const { port } = blocker.address();
  try {
    const r = serve(baseConfig(idp, [up.url], { management: { listen: `127.0.0.1:${port}` } }));
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, new RegExp(`cannot start: cannot serve management on 127\\.0\\.0\\.1:${port}: Address already in use \\(management\\.listen\\)`));
    assert.doesNotMatch(r.err, /listening on/);
  } finally {
    blocker.close();
  }
});

test('management.listen on the public port, or malformed: exit 2 with the config error', () => {
  const same = serve(baseConfig(idp, [up.url], { listen: '127.0.0.1:4999', management: { listen: '0.0.0.0:4999' } }));
  assert.equal(same.code, 2);
  assert.match(same.err, /management\.listen: "0\.0\.0\.0:4999" uses the port of listen/);
  const bad = serve(baseConfig(idp, [up.url], { management: { listen: 'localhost:9090' } }));
  assert.equal(bad.code, 2);
  assert.match(bad.err, /management\.listen: "localhost:9090": the host must be an IP address/);
});
