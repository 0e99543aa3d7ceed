// Shared state on a real redis-server: sign-out everywhere, back-channel logout, single-use
// login state, Redis outages and bad Redis settings. Three airgate replicas, the test IdP.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import {
  CookieJar, jarFetch, startIdp, startUpstream, startGate, signIn, echo, cloneJar, sleep, NAV,
  freePort,
} from '../login/lib.mjs';
import { mintToken, baseConfig, startAirgate } from '../proxy/lib.mjs';
import { startRedis } from './lib.mjs';

const SECRET = 'an-integration-test-secret-of-32+bytes!';
const started = [];
after(async () => {
  for (const s of started.reverse()) await s.stop(); // eslint-disable-line no-await-in-loop
});

async function world({ replicas = 3, state = {}, idpArgs = [], session = {} } = {}) {
  const redis = await startRedis();
  const idp = await startIdp(['--test-api', ...idpArgs]);
  const up = await startUpstream();
  started.push(redis, idp, up);
  const gates = [];
  for (let i = 0; i < replicas; i += 1) {
    // eslint-disable-next-line no-await-in-loop
    const g = await startGate(idp, up, {
      session: { cookie_secret: SECRET, ...session },
      state: { redis_url: redis.url, ...state },
      log: { level: 'info' },
    });
    started.push(g);
    gates.push(g);
  }
  return { redis, idp, up, gates };
}

const stateUp = (g) => g.lines.some((l) => l.includes('shared state is up'));

async function waitUp(gates) {
  const t0 = Date.now();
  while (!gates.every(stateUp)) {
    if (Date.now() - t0 > 10000) throw new Error(`shared state did not come up:\n${gates.find((g) => !stateUp(g)).lines.slice(-15).join('\n')}`);
    await sleep(50); // eslint-disable-line no-await-in-loop
  }
}

// ms until fn() is true, polling every 20 ms (at most limitMs)
async function msUntil(fn, limitMs = 5000) {
  const t0 = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - t0; // eslint-disable-line no-await-in-loop
    if (Date.now() - t0 > limitMs) return Infinity;
    await sleep(20); // eslint-disable-line no-await-in-loop
  }
}

test('sign-out on one replica refuses the same cookie on the others within 1 s', async () => {
  const { gates } = await world();
  await waitUp(gates);
  const jar = new CookieJar();
  await signIn(gates[0], jar, 'admin', '/echo/x');
  const copy = cloneJar(jar); // what a second tab, or an attacker with the cookie, holds
  for (const g of gates) assert.equal((await echo(g, cloneJar(copy))).status, 200); // eslint-disable-line no-await-in-loop
  const out = await jarFetch(jar, `${gates[0].url}/oauth2/logout`, { redirect: 'manual' });
  assert.equal(out.status, 302);
  const delays = await Promise.all(gates.slice(1).map((g) => msUntil(async () => (await echo(g, cloneJar(copy))).status === 401)));
  for (const d of delays) assert.ok(d <= 1000, `revocation took ${d} ms`);
  assert.equal((await echo(gates[0], cloneJar(copy))).status, 401);
  console.log(`# revocation delay across replicas: ${delays.join(', ')} ms`);
  // a new sign-in of the same user is not affected
  const jar2 = new CookieJar();
  await signIn(gates[1], jar2, 'admin', '/echo/x');
  assert.equal((await echo(gates[2], jar2)).status, 200);
});

async function logoutToken(idp, claims, header = {}) {
  return mintToken(idp, {
    username: 'admin',
    ttl: 120,
    header: { typ: 'logout+jwt', ...header },
    extra_claims: {
      aud: 'airflow',
      events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      typ: null, azp: null, scope: null, resource_access: null, realm_access: null,
      preferred_username: null, email: null, session_state: null, sid: null,
      ...claims,
    },
  });
}

async function backchannel(gate, body, type = 'application/x-www-form-urlencoded') {
  const r = await fetch(`${gate.url}/oauth2/backchannel-logout`, {
    method: 'POST', headers: { 'content-type': type }, body,
  });
  return { status: r.status, body: await r.text() };
}

test('back-channel logout ends the user\'s sessions on every replica; bad logout tokens get 400', async () => {
  const { idp, gates } = await world();
  await waitUp(gates);
  const jar = new CookieJar();
  await signIn(gates[0], jar, 'admin', '/echo/x');
  assert.equal((await echo(gates[2], cloneJar(jar))).status, 200);
  const sub = JSON.parse(Buffer.from((await mintToken(idp, { username: 'admin' })).split('.')[1], 'base64url')).sub;

  // refusals first: none of them may end the session
  const bad = [
    ['no token', ''],
    ['no events', `logout_token=${await logoutToken(idp, { sub, events: null })}`],
    ['a nonce', `logout_token=${await logoutToken(idp, { sub, nonce: 'n' })}`],
    ['another audience', `logout_token=${await logoutToken(idp, { sub, aud: 'someone-else' })}`],
    ['no sid or sub', `logout_token=${await logoutToken(idp, { sub: null })}`],
    ['a tampered signature', `logout_token=${(await logoutToken(idp, { sub })).slice(0, -4)}AAAA`],
  ];
  for (const [why, body] of bad) {
    const r = await backchannel(gates[1], body); // eslint-disable-line no-await-in-loop
    assert.equal(r.status, 400, `${why}: ${r.body}`);
    assert.equal(JSON.parse(r.body).error, 'invalid_request', why);
  }
  assert.equal((await backchannel(gates[1], 'logout_token=x', 'text/plain')).status, 400);
  assert.equal((await fetch(`${gates[1].url}/oauth2/backchannel-logout`)).status, 405);
  const big = await backchannel(gates[1], `logout_token=${'a'.repeat(20000)}`);
  assert.equal(big.status, 413);
  assert.equal((await echo(gates[2], cloneJar(jar))).status, 200, 'refused logout tokens end nothing');

  const good = `logout_token=${await logoutToken(idp, { sub })}`;
  const r = await backchannel(gates[1], good);
  assert.equal(r.status, 200, r.body);
  const delays = await Promise.all(gates.map((g) => msUntil(async () => (await echo(g, cloneJar(jar))).status === 401)));
  for (const d of delays) assert.ok(d <= 1000, `back-channel revocation took ${d} ms`);
  // the same token again (its jti) is refused, on any replica
  const again = await backchannel(gates[2], good);
  assert.equal(again.status, 400);
  assert.match(again.body, /used before/);
});

test('a replayed callback is refused on another replica, with the readable page', async () => {
  const { idp, gates } = await world({ replicas: 2 });
  await waitUp(gates);
  const jar = new CookieJar();
  const stop = (u) => u.includes('/oauth2/callback');
  const r = await signIn(gates[0], jar, 'admin', '/echo/x', { stop });
  assert.ok(r.stopped, 'stopped at the callback');
  const callback = r.url;
  const snapshot = cloneJar(jar); // the login-state cookie as the browser held it
  const before = (await (await fetch(`${idp.url}/_test/stats`)).json()).events;
  const first = await jarFetch(jar, callback, { redirect: 'manual' });
  assert.equal(first.status, 302);
  assert.equal((await echo(gates[0], jar)).status, 200);
  // the same answer again, on the other replica, with the same cookie
  const url2 = callback.replace(gates[0].url, gates[1].url);
  const replay = await jarFetch(snapshot, url2, { redirect: 'manual', headers: NAV });
  const page = await replay.text();
  assert.ok(replay.status >= 400, `replay got ${replay.status}`);
  assert.match(page, /already used/);
  assert.match(replay.headers.get('content-type'), /text\/html/);
  assert.equal((await echo(gates[1], snapshot)).status, 401, 'no session from a replay');
  const afterEv = (await (await fetch(`${idp.url}/_test/stats`)).json()).events;
  const codes = (afterEv.grant_authorization_code || 0) - (before.grant_authorization_code || 0);
  assert.equal(codes, 1, 'the replayed code never reached the IdP');
});

test('concurrent requests through two replicas at refresh time: one token-endpoint call, no lost session', async () => {
  const ACCESS_TTL = 4;
  const { idp, gates } = await world({
    replicas: 2, idpArgs: ['--access-ttl', String(ACCESS_TTL)], session: { refresh_before_s: 1 },
  });
  await waitUp(gates);
  const jar = new CookieJar();
  await signIn(gates[0], jar, 'admin', '/echo/x');
  const stats = async () => (await (await fetch(`${idp.url}/_test/stats`)).json()).events;
  const before = await stats();
  await sleep((ACCESS_TTL - 1) * 1000 + 300);
  // eight requests with the same old cookie, alternating between the replicas
  const jars = Array.from({ length: 8 }, () => cloneJar(jar));
  const rs = await Promise.all(jars.map((j, i) => echo(gates[i % 2], j)));
  for (const r of rs) assert.equal(r.status, 200, r.body);
  const afterEv = await stats();
  const calls = (afterEv.grant_refresh_token || 0) - (before.grant_refresh_token || 0);
  const reuse = (afterEv.refresh_token_reuse || 0) - (before.refresh_token_reuse || 0);
  console.log(`# refresh calls for 8 concurrent requests over 2 replicas: ${calls} (reuse ${reuse})`);
  assert.equal(calls, 1, 'one refresh for all replicas');
  assert.equal(reuse, 0, 'no refresh token spent twice');
  // every renewed cookie keeps working on both replicas
  for (const [i, j] of jars.entries()) assert.equal((await echo(gates[(i + 1) % 2], j)).status, 200); // eslint-disable-line no-await-in-loop
});

test('Redis killed and restarted: sessions go on, a sign-out made meanwhile reaches every replica', async () => {
  const { redis, gates } = await world({ replicas: 2 });
  await waitUp(gates);
  const jar = new CookieJar();
  await signIn(gates[0], jar, 'admin', '/echo/x');
  const copy = cloneJar(jar);
  await redis.stop();
  await sleep(300);
  // serve mode: existing sessions keep working, /readyz unaffected
  assert.equal((await echo(gates[1], cloneJar(copy))).status, 200);
  assert.equal((await fetch(`${gates[1].url}/readyz`)).status, 200);
  assert.ok(gates[1].lines.some((l) => l.includes('shared state is down')));
  const metric = async (g) => /\nairgate_state_up (\d)/.exec(await (await fetch(`${g.mgmtUrl}/metrics`)).text())?.[1];
  assert.equal(await metric(gates[1]), '0');
  // sign out on replica 0 while Redis is away: the cookie is cleared there at once
  const out = await jarFetch(jar, `${gates[0].url}/oauth2/logout`, { redirect: 'manual' });
  assert.equal(out.status, 302);
  assert.equal((await echo(gates[0], cloneJar(copy))).status, 401);
  assert.equal((await echo(gates[1], cloneJar(copy))).status, 200, 'replica 1 cannot know yet');
  const redis2 = await startRedis({ port: redis.port }); // same address, empty data
  started.push(redis2);
  const d = await msUntil(async () => (await echo(gates[1], cloneJar(copy))).status === 401, 15000);
  assert.ok(d < 15000, 'the queued revocation was delivered after the restart');
  assert.equal(await metric(gates[1]), '1');
  console.log(`# revocation queued during the outage reached the other replica ${d} ms after Redis came back`);
});

test('state.on_unavailable: deny answers 503 for session traffic while Redis is down', async () => {
  const { redis, gates } = await world({ replicas: 1, state: { on_unavailable: 'deny' } });
  await waitUp(gates);
  const jar = new CookieJar();
  await signIn(gates[0], jar, 'admin', '/echo/x');
  await redis.stop();
  await sleep(300);
  const r = await echo(gates[0], cloneJar(jar));
  assert.equal(r.status, 503);
  assert.equal((await fetch(`${gates[0].url}/readyz`)).status, 200);
});

test('bad Redis settings and servers: clear errors, no crash', async () => {
  const idp = await startIdp(['--test-api']);
  const up = await startUpstream();
  started.push(idp, up);
  // wrong password
  const redis = await startRedis({ password: 'right-password' });
  started.push(redis);
  const g1 = await startGate(idp, up, { state: { redis_url: redis.url, password: 'wrong-password' } });
  started.push(g1);
  const t0 = Date.now();
  while (!g1.lines.some((l) => l.includes('refused the password')) && Date.now() - t0 < 5000) await sleep(50); // eslint-disable-line no-await-in-loop
  assert.ok(g1.lines.some((l) => l.includes('refused the password')), g1.lines.join('\n'));
  assert.ok(!g1.lines.some((l) => l.includes('wrong-password')), 'the password is never logged');
  // a server that answers garbage
  const port = await freePort();
  const junk = net.createServer((s) => { s.on('data', () => s.write('HTTP/1.1 400 Bad Request\r\n\r\n')); });
  await new Promise((r) => junk.listen(port, '127.0.0.1', r));
  started.push({ stop: () => new Promise((r) => junk.close(r)) });
  const g2 = await startGate(idp, up, { state: { redis_url: `redis://127.0.0.1:${port}/0` } });
  started.push(g2);
  const t1 = Date.now();
  while (!g2.lines.some((l) => l.includes('not a Redis answer')) && Date.now() - t1 < 5000) await sleep(50); // eslint-disable-line no-await-in-loop
  assert.ok(g2.lines.some((l) => l.includes('not a Redis answer')), g2.lines.join('\n'));
  assert.equal((await fetch(`${g2.url}/healthz`)).status, 200);
  // rediss:// is refused at start with a clear error
  const cfg = baseConfig(idp, [`http://127.0.0.1:${up.info.port}`], { state: { redis_url: 'rediss://127.0.0.1:6380/0' } });
  await assert.rejects(startAirgate(cfg), /rediss:\/\/ \(TLS\) is not supported/);
  assert.equal(NAV.accept.length > 0, true);
});

test('without state: sign-out and single-use login state hold within the one replica', async () => {
  const idp = await startIdp(['--test-api']);
  const up = await startUpstream();
  started.push(idp, up);
  const gate = await startGate(idp, up, { session: { cookie_secret: SECRET }, log: { level: 'info' } });
  started.push(gate);
  assert.ok(gate.lines.some((l) => l.includes('within this replica only')), 'the log says so');
  assert.match(await (await fetch(`${gate.mgmtUrl}/metrics`)).text(), /\nairgate_state_shared 0\n/);
  const jar = new CookieJar();
  await signIn(gate, jar, 'admin', '/echo/x');
  const copy = cloneJar(jar);
  assert.equal((await echo(gate, cloneJar(copy))).status, 200);
  await jarFetch(jar, `${gate.url}/oauth2/logout`, { redirect: 'manual' });
  assert.equal((await echo(gate, cloneJar(copy))).status, 401, 'a copy of the cookie is refused');
  // a replayed callback on the same replica
  const j2 = new CookieJar();
  const r = await signIn(gate, j2, 'admin', '/echo/x', { stop: (u) => u.includes('/oauth2/callback') });
  const snap = cloneJar(j2);
  assert.equal((await jarFetch(j2, r.url, { redirect: 'manual' })).status, 302);
  const replay = await jarFetch(snap, r.url, { redirect: 'manual', headers: NAV });
  assert.match(await replay.text(), /already used/);
});
