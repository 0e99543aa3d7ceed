// Operations: SIGTERM drains in-flight requests and exits 0; SIGHUP reloads the config (role map,
// limits, a new daemon on the same socket) and the keys without dropping connections, and keeps
// the running config when the new one is invalid.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { baseConfig, mintToken, startAirgate, startIdp, startUpstream, sleep, waitFor } from './lib.mjs';

let idp; let up;
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
});
after(async () => { await up?.stop(); await idp?.stop(); });

const get = async (ag, path, token, extra = {}) => {
  const r = await fetch(`${ag.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...extra } });
  return { status: r.status, headers: r.headers, json: r.headers.get('content-type')?.includes('json') ? await r.json() : await r.text() };
};
const roles = (e) => e.headers.filter(([k]) => k === 'X-Airflow-Roles').map(([, v]) => v);

test('SIGTERM: in-flight requests finish, new connections are refused, exit 0', async () => {
  const ag = await startAirgate(baseConfig(idp, [up.url], { server: { drain_timeout_s: 10 } }));
  const token = await mintToken(idp, { username: 'admin' });
  const inflight = [1500, 1800, 2000].map((ms) => get(ag, `/delay?ms=${ms}`, token));
  await sleep(300);
  const t0 = Date.now();
  ag.proc.kill('SIGTERM');
  await sleep(200);
  const refused = await new Promise((resolve) => {
    const s = net.connect(ag.port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(true));
  });
  assert.ok(refused, 'no new connections while draining');
  for (const r of await Promise.all(inflight)) assert.equal(r.status, 200);
  const exit = await ag.exited;
  assert.equal(exit.code, 0);
  assert.ok(Date.now() - t0 < 9000, 'exits as soon as the requests are done');
  assert.ok(ag.lines.some((l) => l.includes('stopped cleanly')));
});

test('SIGTERM: requests still running at the drain deadline do not block the exit', async () => {
  const ag = await startAirgate(baseConfig(idp, [up.url], { server: { drain_timeout_s: 1 } }));
  const token = await mintToken(idp, { username: 'admin' });
  const long = get(ag, '/delay?ms=20000', token).catch(() => ({ status: 0 }));
  await sleep(300);
  const t0 = Date.now();
  ag.proc.kill('SIGTERM');
  const exit = await ag.exited;
  assert.equal(exit.code, 0);
  assert.ok(Date.now() - t0 < 5000, `exited after ${Date.now() - t0} ms`);
  const r = await long;
  assert.notEqual(r.status, 200);
});

test('SIGHUP: new role map and limits apply, a running download survives, bad config is ignored', async () => {
  const cfg = baseConfig(idp, [up.url]);
  const ag = await startAirgate(cfg);
  try {
    const token = await mintToken(idp, { username: 'admin' });
    assert.deepEqual(roles((await get(ag, '/a', token)).json), ['Admin']);
    // a slow download that spans the reload (and the daemon swap a limit change causes)
    const slow = fetch(`${ag.url}/slow?bytes=20&interval_ms=100`, { headers: { authorization: `Bearer ${token}` } })
      .then(async (r) => ({ status: r.status, bytes: (await r.arrayBuffer()).byteLength }));
    await sleep(300);
    const cfg2 = structuredClone(cfg);
    cfg2.roles.map.airflow_admin = 'Viewer';
    cfg2.server = { max_header_bytes: 16384 };
    ag.writeConfig(cfg2);
    ag.proc.kill('SIGHUP');
    await waitFor(() => ag.lines.some((l) => l.includes('"reloaded')));
    assert.deepEqual(roles((await get(ag, '/b', token)).json), ['Viewer']);
    const s = await slow;
    assert.equal(s.status, 200);
    assert.equal(s.bytes, 20);
    // an invalid config: logged, the running one stays
    fs.writeFileSync(ag.file, 'listen: [not, valid\n');
    ag.proc.kill('SIGHUP');
    await waitFor(() => ag.lines.some((l) => l.includes('keeping the running config')));
    assert.deepEqual(roles((await get(ag, '/c', token)).json), ['Viewer']);
    assert.equal((await fetch(`${ag.url}/healthz`)).status, 200);
  } finally {
    assert.equal((await ag.stop()).code, 0);
  }
});

test('SIGHUP re-fetches keys; a token signed by a rotated-in key is accepted', async () => {
  const ag = await startAirgate(baseConfig(idp, [up.url]));
  try {
    const metric = async () => Number(/airgate_jwks_refresh_total (\d+)/.exec(await (await fetch(`${ag.url}/metrics`)).text())[1]);
    const before = await metric();
    ag.proc.kill('SIGHUP');
    await waitFor(async () => (await metric()) > before);
    const rot = await fetch(`${idp.url}/_test/keys/rotate`, { method: 'POST' });
    assert.equal(rot.status, 200);
    const token = await mintToken(idp, { username: 'op' });
    const r = await get(ag, '/rotated', token);
    assert.equal(r.status, 200, 'unknown kid triggers a re-fetch');
    assert.deepEqual(roles(r.json), ['Op']);
  } finally {
    assert.equal((await ag.stop()).code, 0);
  }
});

test('SIGHUP: freeing the old key cache never stalls the event loop while its JWKS fetch hangs', async () => {
  // an issuer that accepts connections and never answers: the old key cache's refresh thread
  // sits in a fetch for oidc.http_timeout_ms, and freeing that cache joins the thread
  const held = [];
  const hole = net.createServer((s) => { s.on('error', () => {}); held.push(s); });
  await new Promise((r) => hole.listen(0, '127.0.0.1', r));
  const cfg = baseConfig(idp, [up.url], { server: { threads: 1 } });
  cfg.oidc = { ...cfg.oidc, issuer: `http://127.0.0.1:${hole.address().port}/realms/demo`, http_timeout_ms: 5000, jwks_min_refetch_s: 1 };
  const ag = await startAirgate(cfg, { timeoutMs: 20000 });
  try {
    assert.equal((await fetch(`${ag.url}/healthz`)).status, 200); // the loop now holds the runtime
    // wait for a fresh fetch: the refresh thread is stuck in it for the next 5 s
    const n = held.length;
    await waitFor(() => held.length > n, { timeoutMs: 15000, stepMs: 10 });
    ag.writeConfig(baseConfig(idp, [up.url], { server: { threads: 1 } })); // the real IdP: a new key cache
    ag.proc.kill('SIGHUP');
    await waitFor(() => ag.lines.some((l) => l.includes('"reloaded')), { stepMs: 10 });
    // the first connection after the reload makes the loop drop its reference to the old runtime
    const t0 = Date.now();
    const r = await fetch(`${ag.url}/healthz`);
    const ms = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.ok(ms < 1000, `the first request after the reload took ${ms} ms`);
    const token = await mintToken(idp, { username: 'admin' });
    assert.equal((await get(ag, '/after', token)).status, 200);
  } finally {
    assert.equal((await ag.stop()).code, 0);
    for (const s of held) s.destroy();
    hole.close();
  }
});
