// Browser login against the real oidc-provider IdP and a real upstream, over HTTP with a
// cookie-jar client: the full flow, tampering, replay, IdP errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import {
  CookieJar, jarFetch, follow, browserLogin, startIdp, startUpstream, startGate, signIn, echo,
  idpStats, cloneJar, NAV, API,
} from './lib.mjs';

let idp;
let up;
let gate;

before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  gate = await startGate(idp, up);
});

after(async () => {
  await gate?.stop();
  await up?.stop();
  await idp?.stop();
});

test('a navigation without a session is sent straight to the IdP', async () => {
  const jar = new CookieJar();
  const r = await jarFetch(jar, `${gate.url}/dags/x/grid?tab=graph`, { headers: NAV });
  assert.equal(r.status, 302);
  const loc = new URL(r.headers.get('location'));
  assert.equal(`${loc.origin}${loc.pathname}`, `${idp.info.issuer}/protocol/openid-connect/auth`);
  assert.equal(loc.searchParams.get('response_type'), 'code');
  assert.equal(loc.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(loc.searchParams.get('redirect_uri'), `${gate.url}/oauth2/callback`);
  assert.ok(loc.searchParams.get('state').length >= 22);
  assert.ok(loc.searchParams.get('nonce').length >= 22);
  assert.ok(jar.names().some((n) => n.startsWith('_airgate_login_')));
  // XHR and API calls get JSON instead
  const x = await jarFetch(new CookieJar(), `${gate.url}/api/v1/dags`, { headers: { ...NAV, 'x-requested-with': 'XMLHttpRequest' } });
  assert.equal(x.status, 401);
  assert.match(x.headers.get('www-authenticate'), /^Bearer/);
  assert.equal((await x.json()).error, 'unauthorized');
});

test('full flow: sign in, identity and roles reach the upstream, path remembered', async () => {
  const jar = new CookieJar();
  const r = await signIn(gate, jar, 'admin', '/echo/dags?x=1');
  assert.equal(r.loginShown, true);
  assert.equal(r.res.status, 200);
  assert.equal(r.url, `${gate.url}/echo/dags?x=1`);
  assert.ok(jar.get('_airgate'));
  assert.ok(!jar.names().some((n) => n.startsWith('_airgate_login_')), 'login state cookie left');
  const e = await echo(gate, jar);
  assert.equal(e.status, 200);
  assert.equal(e.header('x-forwarded-user'), 'admin');
  assert.equal(e.header('x-airflow-roles'), 'Admin');
  assert.match(e.header('x-forwarded-groups'), /airflow_admin/);
  // airgate's own cookies never reach the upstream
  assert.ok(!(e.header('cookie') || '').includes('_airgate'));
  const ui = await jarFetch(jar, `${gate.url}/oauth2/userinfo`);
  const info = await ui.json();
  assert.equal(info.user.username, 'admin');
  assert.deepEqual(info.airflow_roles, ['Admin']);
  assert.ok(info.session_expires_at > Date.now() / 1000);
});

test('two login tabs at once both complete', async () => {
  const jar = new CookieJar();
  const a = await jarFetch(jar, `${gate.url}/oauth2/start?rd=/echo/a`);
  const b = await jarFetch(jar, `${gate.url}/oauth2/start?rd=/echo/b`);
  const la = a.headers.get('location');
  const lb = b.headers.get('location');
  assert.notEqual(new URL(la).searchParams.get('state'), new URL(lb).searchParams.get('state'));
  // tab B finishes first (with the password), then tab A rides the IdP session
  const rb = await browserLogin(jar, lb, { username: 'op', password: 'op' });
  assert.equal(rb.url, `${gate.url}/echo/b`);
  const ra = await follow(jar, la);
  assert.equal(ra.url, `${gate.url}/echo/a`);
  assert.equal(ra.res.status, 200);
  assert.equal((await echo(gate, jar)).header('x-airflow-roles'), 'Op');
});

test('a login begun at one replica finishes at another', async () => {
  // both replicas share the secret and the public URL, as behind a load balancer
  const gate2 = await startGate(idp, up, {}, { publicUrl: gate.url });
  try {
    const jar = new CookieJar();
    const r = await browserLogin(jar, `${gate.url}/oauth2/start?rd=/echo/lb`, {
      username: 'op', password: 'op', stop: (u) => u.startsWith(`${gate.url}/oauth2/callback`),
    });
    assert.equal(r.stopped, true);
    const atReplica2 = r.url.replace(gate.url, gate2.url);
    const cb = await jarFetch(jar, atReplica2);
    assert.equal(cb.status, 302);
    assert.equal(cb.headers.get('location'), '/echo/lb');
    // and the session it set is read by replica 1 too
    assert.equal((await echo(gate, jar)).header('x-forwarded-user'), 'op');
  } finally {
    await gate2.stop();
  }
});

test('state, nonce and PKCE tampering are rejected', async () => {
  for (const [param, expect] of [['state', /no sign-in was in progress|did not match/], ['nonce', /could not be verified/], ['code_challenge', /did not accept/]]) {
    const jar = new CookieJar();
    const s = await jarFetch(jar, `${gate.url}/oauth2/start?rd=/echo/x`);
    const auth = new URL(s.headers.get('location'));
    const v = auth.searchParams.get(param);
    auth.searchParams.set(param, v.slice(0, -4) + (v.endsWith('AAAA') ? 'BBBB' : 'AAAA'));
    const before = await idpStats(idp);
    const r = await browserLogin(jar, auth.href, { username: 'admin', password: 'admin' });
    assert.equal(r.res.status, 400, `${param}: ${r.res.status}`);
    assert.match(await r.res.text(), expect, param);
    assert.ok(!jar.get('_airgate'), `${param}: session set`);
    const afterStats = await idpStats(idp);
    if (param === 'state') assert.equal(afterStats.requests.token, before.requests.token, 'code exchanged despite a bad state');
  }
});

test('a replayed callback is rejected', async () => {
  const jar = new CookieJar();
  const r = await browserLogin(jar, `${gate.url}/oauth2/start?rd=/echo/r`, {
    username: 'viewer', password: 'viewer', stop: (u) => u.startsWith(`${gate.url}/oauth2/callback`),
  });
  assert.equal(r.stopped, true);
  const callback = r.url;
  const stolen = cloneJar(jar); // an attacker with the same cookies and the callback URL
  const ok = await follow(jar, callback);
  assert.equal(ok.url, `${gate.url}/echo/r`);
  const again = await jarFetch(jar, callback); // same browser: the login cookie is gone
  assert.equal(again.status, 400);
  const replay = await jarFetch(stolen, callback); // cookie kept: the IdP refuses the used code
  assert.equal(replay.status, 400);
  assert.ok(!stolen.get('_airgate'));
});

test('IdP error answers are readable pages', async () => {
  const jar = new CookieJar();
  const s = await jarFetch(jar, `${gate.url}/oauth2/start?rd=/echo/e`);
  const auth = new URL(s.headers.get('location'));
  auth.searchParams.set('prompt', 'none'); // no IdP session: login_required comes back
  const r = await follow(jar, auth.href);
  assert.equal(r.res.status, 403);
  const html = await r.res.text();
  assert.match(html, /login_required/);
  assert.match(r.res.headers.get('content-type'), /text\/html/);
  assert.ok(!jar.names().some((n) => n.startsWith('_airgate_login_')));
  const bad = await jarFetch(jar, `${gate.url}/oauth2/callback?error=access_denied&error_description=%3Cscript%3E`);
  assert.equal(bad.status, 403);
  assert.ok(!(await bad.text()).includes('<script>'));
});

test('a user without an Airflow role gets the 403 page, JSON for APIs', async () => {
  const jar = new CookieJar();
  const r = await signIn(gate, jar, 'norole', '/echo/x');
  assert.equal(r.res.status, 403);
  const page = await jarFetch(jar, `${gate.url}/echo/x`, { headers: NAV });
  assert.equal(page.status, 403);
  const html = await page.text();
  assert.match(html, /norole/);
  assert.match(html, /airflow_admin/);
  assert.match(html, /\/oauth2\/logout/);
  const api = await jarFetch(jar, `${gate.url}/api/v1/dags`, { headers: API });
  assert.equal(api.status, 403);
  assert.equal((await api.json()).user, 'norole');
});

test('logout clears the cookies and ends the IdP session', async () => {
  const jar = new CookieJar();
  await signIn(gate, jar, 'user', '/echo/x');
  assert.ok(jar.get('_airgate'));
  const lo = await jarFetch(jar, `${gate.url}/logout/`);
  assert.equal(lo.status, 302);
  const loc = new URL(lo.headers.get('location'));
  assert.equal(`${loc.origin}${loc.pathname}`, `${idp.info.issuer}/protocol/openid-connect/logout`);
  assert.ok(loc.searchParams.get('id_token_hint'));
  assert.equal(loc.searchParams.get('client_id'), 'airflow');
  assert.equal(loc.searchParams.get('post_logout_redirect_uri'), `${gate.url}/oauth2/signed-out`);
  assert.ok(!jar.get('_airgate'));
  const done = await follow(jar, loc.href);
  assert.equal(done.url.split('?')[0], `${gate.url}/oauth2/signed-out`);
  assert.equal(done.res.status, 200);
  // the IdP session is gone: the next login asks for the password again
  const again = await signIn(gate, jar, 'user', '/echo/y');
  assert.equal(again.loginShown, true);
});

test('a tampered session cookie leads back to login', async () => {
  const jar = new CookieJar();
  await signIn(gate, jar, 'admin', '/echo/x');
  for (const c of jar.cookies.values()) {
    if (c.name === '_airgate') c.value = c.value.slice(0, 40) + (c.value[40] === 'A' ? 'B' : 'A') + c.value.slice(41);
  }
  const r = await jarFetch(jar, `${gate.url}/echo/x`, { headers: NAV });
  assert.equal(r.status, 302);
  assert.match(r.headers.get('location'), /protocol\/openid-connect\/auth/);
  assert.ok(!jar.get('_airgate'));
});
