// Refresh against the real IdP: rotation, single-flight, role changes, refusal, IdP outage.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import {
  CookieJar, jarFetch, startIdp, startUpstream, startGate, signIn, echo, idpStats, setRoles,
  cloneJar, sleep, NAV,
} from './lib.mjs';

const ACCESS_TTL = 4; // seconds; airgate refreshes 1 s before expiry
const started = [];
after(async () => {
  for (const s of started.reverse()) await s.stop(); // eslint-disable-line no-await-in-loop
});

async function world() {
  const idp = await startIdp(['--test-api', '--access-ttl', String(ACCESS_TTL)]);
  const up = await startUpstream();
  const gate = await startGate(idp, up, { session: { cookie_secret: 'an-integration-test-secret-of-32+bytes!', refresh_before_s: 1 } });
  started.push(idp, up, gate);
  return { idp, up, gate };
}

test('refresh rotates the token once, even under concurrency, and re-maps roles', async () => {
  const { idp, gate } = await world();
  const jar = new CookieJar();
  await signIn(gate, jar, 'op', '/echo/x');
  assert.equal((await echo(gate, jar)).header('x-airflow-roles'), 'Op');
  await setRoles(idp, 'op', ['airflow_viewer']);
  const before = await idpStats(idp);
  await sleep((ACCESS_TTL - 1) * 1000 + 300);
  // six concurrent requests with the same old cookie: served at once with the current tokens
  // while one refresh runs in the background
  const jars = Array.from({ length: 6 }, () => cloneJar(jar));
  const rs = await Promise.all(jars.map((j) => echo(gate, j)));
  for (const r of rs) assert.equal(r.status, 200);
  await sleep(500);
  // the next request with the old cookie picks up the refreshed session (roles re-mapped)
  const renewed = cloneJar(jar);
  const next = await echo(gate, renewed);
  assert.equal(next.status, 200);
  assert.equal(next.header('x-airflow-roles'), 'Viewer');
  const afterStats = await idpStats(idp);
  assert.equal(afterStats.events.grant_refresh_token - (before.events.grant_refresh_token || 0), 1);
  assert.equal(afterStats.events.refresh_token_reuse || 0, before.events.refresh_token_reuse || 0);
  // the renewed cookie keeps working
  assert.notEqual(renewed.get('_airgate'), jar.get('_airgate'));
  assert.equal((await echo(gate, renewed)).header('x-airflow-roles'), 'Viewer');
  // a role removed at the IdP disappears at the next refresh
  await setRoles(idp, 'op', []);
  await sleep(ACCESS_TTL * 1000);
  const denied = await echo(gate, renewed);
  assert.equal(denied.status, 403);
});

test('a refused refresh sends the browser back through login', async () => {
  const { idp, up, gate } = await world();
  // a second replica with the same secret: it reads the same cookies, shares nothing else
  const gate2 = await startGate(idp, up, { session: { cookie_secret: 'an-integration-test-secret-of-32+bytes!', refresh_before_s: 1 } });
  started.push(gate2);
  const jar = new CookieJar();
  await signIn(gate, jar, 'admin', '/echo/x');
  assert.equal((await echo(gate2, cloneJar(jar))).header('x-forwarded-user'), 'admin');
  const other = cloneJar(jar);
  await sleep((ACCESS_TTL - 1) * 1000 + 300);
  // replica 2 refreshes (rotating the refresh token, in the background) ...
  assert.equal((await echo(gate2, other)).status, 200);
  await sleep(200);
  // ... so replica 1, seeing the old cookie, spends a used token: the IdP refuses. The token is
  // still valid, so that request is served; the refusal ends the session at the next one.
  const first = await jarFetch(jar, `${gate.url}/echo/y`, { headers: NAV });
  assert.ok([200, 302].includes(first.status), `status ${first.status}`);
  await sleep(200);
  const r = await jarFetch(jar, `${gate.url}/echo/y`, { headers: NAV });
  assert.equal(r.status, 302, `status ${r.status}`);
  assert.match(r.headers.get('location'), /openid-connect\/auth/);
  assert.ok(!jar.get('_airgate'));
});

test('IdP stopped: sessions keep working until refresh is needed, new logins get 503', async () => {
  const { idp, gate } = await world();
  const jar = new CookieJar();
  await signIn(gate, jar, 'viewer', '/echo/x');
  await idp.stop();
  assert.equal((await echo(gate, jar)).status, 200);
  const fresh = await jarFetch(new CookieJar(), `${gate.url}/echo/new`, { headers: NAV });
  // the reachability result is cached for a few seconds; poll briefly for the 503 page
  let status = fresh.status;
  for (let i = 0; i < 20 && status !== 503; i += 1) {
    await sleep(500); // eslint-disable-line no-await-in-loop
    status = (await jarFetch(new CookieJar(), `${gate.url}/echo/new`, { headers: NAV })).status; // eslint-disable-line no-await-in-loop
  }
  assert.equal(status, 503);
  // once the access token has expired and cannot be refreshed, the session ends
  await sleep(ACCESS_TTL * 1000 + 500);
  const r = await jarFetch(jar, `${gate.url}/echo/x`, { headers: NAV });
  assert.equal(r.status, 503);
  assert.match(await r.text(), /cannot be reached/);
});

test('a session refreshed on a request whose upstream is down still gets its renewed cookie', async () => {
  const { up, gate } = await world();
  const jar = new CookieJar();
  await signIn(gate, jar, 'user', '/echo/x');
  const old = jar.get('_airgate');
  await up.stop();
  await sleep((ACCESS_TTL - 1) * 1000 + 300);
  // The refresh spends the old refresh token at the IdP, so the new cookie must arrive even
  // though the answer is an error: otherwise the browser keeps a dead session. (The refresh
  // runs in the background; the renewed cookie comes with the next answer.)
  await jarFetch(jar, `${gate.url}/echo/y`, { headers: NAV });
  await sleep(200);
  const r = await jarFetch(jar, `${gate.url}/echo/y`, { headers: NAV });
  assert.ok([502, 503].includes(r.status), `status ${r.status}`);
  assert.ok(jar.get('_airgate'), 'session cookie kept');
  assert.notEqual(jar.get('_airgate'), old, 'renewed session cookie delivered with the error');
});
