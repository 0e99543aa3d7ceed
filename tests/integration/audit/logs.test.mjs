// No secret ever appears in airgate's stderr: a full browser login, refresh, bearer calls, a
// failed login and logout at debug level, then every secret value is looked for in the captured
// log (client secret, cookie secret, codes, state, nonce, PKCE verifier, access/ID/refresh tokens,
// their signatures, session and login-state cookie values, the assertion).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { baseConfig, mintToken, startAirgate, startUpstream, sleep, waitFor } from '../proxy/lib.mjs';
import { CookieJar, browserLogin, freePort, jarFetch } from '../login/lib.mjs';
import { startIdpFront } from './idpfront.mjs';

const CLIENT_SECRET = 'client-secret-Zq8v3LmX0pR7tY2w';
const COOKIE_SECRET = 'cookie-secret-Hk4n9Bv6Cx1Mz5Lq8Wr2';
let front; let up; let ag;
before(async () => {
  front = await startIdpFront(['--test-api', '--client-secret', CLIENT_SECRET, '--access-ttl', '3']);
  await front.startIdp();
  up = await startUpstream();
  const port = await freePort();
  const c = baseConfig({ info: { issuer: front.issuer } }, [up.url], {
    listen: `127.0.0.1:${port}`, public_url: `http://127.0.0.1:${port}`,
    session: { cookie_secret: COOKIE_SECRET, refresh_before_s: 1 },
    log: { level: 'debug' },
  });
  c.oidc = { ...c.oidc, issuer: front.issuer, client_secret: CLIENT_SECRET };
  ag = await startAirgate(c);
  await waitFor(async () => (await fetch(`${ag.url}/readyz`)).status === 200);
});
after(async () => {
  const r = await ag?.stop();
  await up?.stop();
  await front?.stop();
  if (r) assert.equal(r.code, 0);
});

test('login, refresh, bearer, failures and logout leave no secret in the log', async () => {
  const secrets = new Map([['client secret', CLIENT_SECRET], ['cookie secret', COOKIE_SECRET]]);
  const add = (what, v) => { if (v && v.length >= 8) secrets.set(`${what} ${secrets.size}`, v); };
  const jar = new CookieJar();
  const start = await jarFetch(jar, `${ag.url}/oauth2/start?rd=/echo/a`, { headers: { accept: 'text/html' } });
  await start.arrayBuffer();
  const auth = new URL(start.headers.get('location'));
  add('state', auth.searchParams.get('state'));
  add('nonce', auth.searchParams.get('nonce'));
  add('code_challenge', auth.searchParams.get('code_challenge'));
  for (const n of jar.names()) add(`cookie ${n}`, jar.get(n));
  const r = await browserLogin(jar, auth.href, { username: 'admin', password: 'admin', stop: (u) => u.startsWith(`${ag.url}/oauth2/callback`) });
  add('code', new URL(r.url).searchParams.get('code'));
  const cb = await jarFetch(jar, r.url);
  assert.equal(cb.status, 302);
  add('session cookie', jar.get('_airgate'));
  // requests, then a refresh (access tokens live 3 s; airgate refreshes 1 s before expiry)
  const e1 = await jarFetch(jar, `${ag.url}/echo/a`, { headers: { accept: 'application/json' } });
  assert.equal(e1.status, 200);
  const assertion = (await e1.json()).headers.find(([k]) => k.toLowerCase() === 'x-airgate-assertion')[1];
  add('assertion', assertion);
  add('assertion signature', assertion.split('.')[2]);
  await sleep(2300);
  const e2 = await jarFetch(jar, `${ag.url}/echo/b`, { headers: { accept: 'application/json' } });
  assert.equal(e2.status, 200);
  add('renewed session cookie', jar.get('_airgate'));
  // bearer calls: good, bad, expired
  const t = await mintToken(front.idp, { username: 'viewer' });
  add('bearer token', t);
  add('bearer signature', t.split('.')[2]);
  assert.equal((await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${t}` } })).status, 200);
  const badSig = `${t.split('.').slice(0, 2).join('.')}.${'B'.repeat(40)}`;
  add('forged token', badSig);
  assert.equal((await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${badSig}` } })).status, 401);
  const expired = await mintToken(front.idp, { username: 'viewer', ttl: -600 });
  add('expired token', expired);
  assert.equal((await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${expired}` } })).status, 401);
  // a failed callback (wrong state) and a garbage cookie
  await (await jarFetch(new CookieJar(), `${ag.url}/oauth2/callback?state=STATEguess123456789&code=CODEguess123456789`)).arrayBuffer();
  add('guessed code', 'CODEguess123456789');
  const junk = `JUNKcookie${'x'.repeat(30)}`;
  add('junk cookie', junk);
  await (await fetch(`${ag.url}/x`, { headers: { cookie: `_airgate=${junk}` } })).arrayBuffer();
  // logout
  const lo = await jarFetch(jar, `${ag.url}/oauth2/logout`);
  await lo.arrayBuffer();
  add('id_token_hint', new URL(lo.headers.get('location')).searchParams.get('id_token_hint'));
  // everything the token endpoint saw and answered
  assert.ok(front.tap.length >= 2, `code exchange and refresh seen (${front.tap.length})`);
  for (const x of front.tap) {
    const q = new URLSearchParams(x.request);
    for (const k of ['code', 'code_verifier', 'refresh_token', 'client_secret']) add(`token request ${k}`, q.get(k));
    add('basic auth', x.authorization.replace(/^Basic /, ''));
    let j = {};
    try { j = JSON.parse(x.response); } catch { /* ignore */ }
    for (const k of ['access_token', 'id_token', 'refresh_token']) {
      add(k, j[k]);
      if (j[k]) add(`${k} signature`, j[k].split('.')[2]);
    }
  }
  assert.ok([...secrets.keys()].some((k) => k.startsWith('refresh_token')), 'a refresh token was seen');
  assert.ok(secrets.size >= 20, `secrets collected: ${[...secrets.keys()].join(', ')}`);
  await sleep(200); // let the last access-log lines arrive
  const log = ag.lines.join('\n');
  assert.ok(ag.lines.length > 20, 'debug logging produced lines');
  for (const [what, v] of secrets) {
    assert.ok(!log.includes(v), `${what} appears in the log`);
    // also percent-encoded and in halves (a truncated prefix is still a leak)
    assert.ok(!log.includes(encodeURIComponent(v)), `${what} (url-encoded) appears in the log`);
    if (v.length >= 32) assert.ok(!log.includes(v.slice(0, 24)), `${what} (prefix) appears in the log`);
  }
});
