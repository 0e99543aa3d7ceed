// Hostile cookies against `airgate serve`: tampered, truncated, garbage, 100 chunks, a session from
// another cookie secret, a login-state cookie replayed as a session. Each is "no session": a
// navigation is sent to the login, an API call gets 401 JSON; never 5xx, never forwarded. And for
// a signed-in browser, spoofed identity headers (every spelling) and airgate's cookies never reach
// the upstream.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { CookieJar, browserLogin, jarFetch, startIdp, startUpstream, startGate, signIn, NAV } from '../login/lib.mjs';
import { answer, echoOf } from './lib.mjs';

let idp; let up; let gate; let gate2; let jar; let session; let foreign;
before(async () => {
  idp = await startIdp(['--test-api', '--redirect-uri', 'http://127.0.0.1:*/oauth2/callback',
    '--redirect-uri', 'https://airflow.example.com/oauth2/callback']);
  up = await startUpstream();
  gate = await startGate(idp, up);
  gate2 = await startGate(idp, up, { session: { cookie_secret: 'another-secret-of-at-least-32-bytes!!' } });
  jar = new CookieJar();
  await signIn(gate, jar, 'admin', '/echo/x');
  session = jar.get('_airgate');
  const j2 = new CookieJar();
  await signIn(gate2, j2, 'admin', '/echo/x');
  foreign = j2.get('_airgate');
});
after(async () => {
  const r = await gate?.stop();
  await gate2?.stop();
  await up?.stop();
  await idp?.stop();
  if (r) assert.equal(r.code, 0);
});

async function withCookie(cookie, { nav = false, extra = [] } = {}) {
  const lines = ['GET /echo/x HTTP/1.1', 'Host: 127.0.0.1', `Accept: ${nav ? 'text/html' : 'application/json'}`,
    ...(cookie === null ? [] : [`Cookie: ${cookie}`]), ...extra, 'Connection: close', '', ''];
  return answer(gate.port, lines.join('\r\n'));
}

async function assertNoSession(cookie, what) {
  const api = await withCookie(cookie);
  assert.equal(api.status, 401, `${what} (API): ${api.status} ${api.body.toString().slice(0, 200)}`);
  assert.equal(JSON.parse(api.body.toString()).error, 'unauthorized', what);
  const nav = await withCookie(cookie, { nav: true });
  assert.equal(nav.status, 302, `${what} (navigation): ${nav.status}`);
  assert.ok(nav.header('location')[0].startsWith(`${idp.info.issuer}/`), `${what}: to the IdP`);
}

test('a good session works (baseline)', async () => {
  assert.ok(session && foreign);
  const r = await withCookie(`_airgate=${session}`);
  assert.equal(r.status, 200);
  assert.equal(echoOf(r).headers.find(([k]) => k.toLowerCase() === 'x-forwarded-user')[1], 'admin');
  // RFC 6265 allows a cookie value in double quotes: the same session
  assert.equal((await withCookie(`_airgate="${session}"`)).status, 200);
});

test('tampered, truncated and garbage session cookies are no session', async () => {
  const flip = (s, i) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  const cases = {
    'first byte flipped': flip(session, 0),
    'middle flipped': flip(session, session.length >> 1),
    'last flipped': flip(session, session.length - 1),
    'truncated by one': session.slice(0, -1),
    'truncated to half': session.slice(0, session.length >> 1),
    'truncated to 10': session.slice(0, 10),
    'one char appended': `${session}A`,
    empty: '',
    'not base64': '!!!!####$$$$',
    'percent junk': '%00%ff%zz',
    'base64 of nothing': 'AAAA',
    'very long garbage': 'A'.repeat(3900),
    'quote opened only': `"${session}`,
    'with a version prefix': `v2.${session}`,
  };
  for (const [what, v] of Object.entries(cases)) await assertNoSession(`_airgate=${v}`, what);
});

test('chunk games: 100 chunks, garbage chunks, the whole cookie split wrongly', async () => {
  const hundred = Array.from({ length: 100 }, (_, i) => `_airgate_${i}=${'Q'.repeat(30)}`).join('; ');
  await assertNoSession(hundred, '100 chunks');
  await assertNoSession(`_airgate_0=${session.slice(0, 50)}; _airgate_1=${session.slice(50)}`, 'the session split into chunks');
  await assertNoSession(`_airgate_1=${session}`, 'the session as chunk 1');
  await assertNoSession(`_airgate_0=${session}`, 'the session as chunk 0 alone');
  await assertNoSession(`_airgate_99999999999999999999=${session}`, 'a huge chunk index');
  await assertNoSession(`_airgate_-1=${session}`, 'a negative chunk index');
  // the valid session beside garbage chunks: airgate may use it or refuse, never fail
  const mixed = await withCookie(`_airgate=${session}; _airgate_0=xx; _airgate_1=yy`);
  assert.ok([200, 401].includes(mixed.status), `mixed layouts: ${mixed.status}`);
});

test('a session sealed with another cookie secret, or a login-state cookie, is no session', async () => {
  await assertNoSession(`_airgate=${foreign}`, 'other secret');
  // a login-state cookie from /oauth2/start, replayed as the session
  const j = new CookieJar();
  const s = await jarFetch(j, `${gate.url}/oauth2/start?rd=/x`, { headers: NAV });
  await s.arrayBuffer();
  const loginName = j.names().find((n) => n.startsWith('_airgate_login_'));
  assert.ok(loginName);
  const loginValue = j.get(loginName);
  await assertNoSession(`_airgate=${loginValue}`, 'login-state cookie as session');
  await assertNoSession(`_airgate_0=${loginValue}`, 'login-state cookie as chunk');
  // and the session cookie used as a login-state cookie at the callback
  const state = new URL(s.headers.get('location')).searchParams.get('state');
  const cb = await answer(gate.port, `GET /oauth2/callback?state=${state}&code=x HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\nCookie: ${loginName}=${session}\r\nConnection: close\r\n\r\n`);
  assert.ok(cb.status >= 400 && cb.status < 500, `session as login state: ${cb.status}`);
});

test('duplicate session cookies and a cookie-stuffed head never break airgate', async () => {
  for (const c of [`_airgate=garbage; _airgate=${session}`, `_airgate=${session}; _airgate=garbage`]) {
    const r = await withCookie(c);
    assert.ok([200, 401].includes(r.status), `${c.slice(0, 30)}: ${r.status}`);
  }
  const many = Array.from({ length: 300 }, (_, i) => `c${i}=v`).join('; ');
  const r = await withCookie(`${many}; _airgate=${session}`);
  assert.equal(r.status, 200);
  const split = await withCookie(null, { extra: Array.from({ length: 40 }, (_, i) => `Cookie: x${i}=1`).concat(`Cookie: _airgate=${session}`) });
  assert.ok([200, 401].includes(split.status), `40 Cookie headers: ${split.status}`);
  if (split.status === 200) {
    for (const [k, v] of echoOf(split).headers) if (k.toLowerCase() === 'cookie') assert.ok(!v.includes('_airgate'), v);
  }
});

test('signed in by cookie: spoofed identity headers and airgate cookies never arrive', async () => {
  // whitespace between a header name and its colon must be refused (RFC 9112 5.1): a server
  // that trimmed it would read "X-Forwarded-User" where a filter saw another name
  const spaced = await withCookie(`_airgate=${session}`, { extra: ['X-Forwarded-User : evil4'] });
  assert.equal(spaced.status, 400, 'whitespace before the colon is refused');
  const spoof = [
    'X-Forwarded-User: evil', 'x-forwarded-user: evil2', 'X_Forwarded_User: evil3',
    'X-Forwarded-User:\tevil5 ', 'X-Forwarded-Email: evil@x', 'X-Forwarded-Preferred-Username: evil',
    'X-Forwarded-First-Name: evil', 'X-Forwarded-Last-Name: evil', 'X-Forwarded-Groups: evil_admin',
    'X-Airflow-Roles: Admin,evil', 'X-AIRFLOW-ROLES: evil', 'x_airflow_roles: evil', 'X-Airgate-Assertion: evil.forged.x',
    'X-Forwarded-For: 6.6.6.6', 'X-Forwarded-Proto: evilproto', 'X-Forwarded-Host: evil.example',
    'X-Other: ok', ' X-Airflow-Roles: evil-fold', 'X-Foo: a', '\tX-Forwarded-User: evil-fold2',
  ];
  for (const folds of [false, true]) {
    const lines = folds ? spoof : spoof.filter((l) => !/^\s/.test(l));
    const r = await withCookie(`theme=dark; _airgate=${session}; _airgate_login_abc=zzz; lang=en`, { extra: lines });
    // a server may refuse obs-fold outright (400); otherwise the request must arrive clean
    if (folds && r.status === 400) continue;
    assert.equal(r.status, 200, r.body.toString().slice(0, 200));
    const e = echoOf(r);
    const vals = (n) => e.headers.filter(([k]) => k.toLowerCase().replace(/_/g, '-').trim() === n).map(([, v]) => v);
    assert.deepEqual(vals('x-forwarded-user'), ['admin']);
    assert.deepEqual(vals('x-airflow-roles'), ['Admin']);
    assert.deepEqual(vals('x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(vals('x-forwarded-proto'), ['http']);
    // (a header continued by obs-fold may be dropped whole: that is safe)
    if (!folds) assert.deepEqual(vals('x-other'), ['ok'], JSON.stringify(e.headers));
    for (const [k, v] of e.headers) assert.ok(!/evil|6\.6\.6|forged/i.test(`${k}: ${v}`), `spoofed ${k}: ${v} arrived`);
    assert.deepEqual(vals('cookie'), ['theme=dark; lang=en']);
  }
});

test('cookie attributes: HttpOnly, SameSite=Lax, Path=/, Secure exactly when public_url is https', async () => {
  const attrs = (line) => line.split(';').slice(1).map((s) => s.trim().toLowerCase());
  const check = (lines, secure, what) => {
    assert.ok(lines.length > 0, `${what}: cookies set`);
    for (const l of lines) {
      const a = attrs(l);
      assert.ok(a.includes('httponly'), `${what}: ${l.slice(0, 40)} HttpOnly`);
      assert.ok(a.includes('samesite=lax'), `${what}: ${l.slice(0, 40)} SameSite=Lax`);
      assert.ok(a.includes('path=/'), `${what}: ${l.slice(0, 40)} Path=/`);
      assert.equal(a.includes('secure'), secure, `${what}: ${l.slice(0, 40)} Secure`);
      assert.ok(!a.some((x) => x.startsWith('domain=')), `${what}: no Domain`);
    }
  };
  // http public_url: the session cookie (set at the callback) and the login-state cookie
  const j = new CookieJar();
  const s = await jarFetch(j, `${gate.url}/oauth2/start?rd=/x`, { headers: NAV });
  await s.arrayBuffer();
  check(s.headers.getSetCookie(), false, 'login state (http)');
  const r = await browserLogin(j, s.headers.get('location'), { username: 'admin', password: 'admin', stop: (u) => u.startsWith(`${gate.url}/oauth2/callback`) });
  const cb = await jarFetch(j, r.url);
  await cb.arrayBuffer();
  check(cb.headers.getSetCookie().filter((l) => !/max-age=0|expires=thu, 01 jan 1970/i.test(l)), false, 'session (http)');
  // https public_url (TLS ends at the load balancer): every cookie is Secure
  const https = await startGate(idp, up, {}, { publicUrl: 'https://airflow.example.com' });
  try {
    const j2 = new CookieJar();
    const s2 = await jarFetch(j2, `${https.url}/oauth2/start?rd=/x`, { headers: NAV });
    await s2.arrayBuffer();
    check(s2.headers.getSetCookie(), true, 'login state (https)');
    const loc = new URL(s2.headers.get('location'));
    assert.equal(loc.searchParams.get('redirect_uri'), 'https://airflow.example.com/oauth2/callback');
    // stop at the public callback and deliver it to this airgate by hand (the load balancer's job)
    const r2 = await browserLogin(j2, loc.href, { username: 'admin', password: 'admin', stop: (u) => u.startsWith('https://airflow.example.com/oauth2/callback') });
    assert.ok(r2.stopped, 'reached the callback');
    const cbu = new URL(r2.url);
    // the jar keys cookies by host: hand the login-state cookie over as the browser would
    const cookie = [...j2.cookies.values()].filter((c) => c.name.startsWith('_airgate')).map((c) => `${c.name}=${c.value}`).join('; ');
    const cb2 = await fetch(`${https.url}${cbu.pathname}${cbu.search}`, { headers: { cookie }, redirect: 'manual' });
    await cb2.arrayBuffer();
    assert.equal(cb2.status, 302);
    check(cb2.headers.getSetCookie().filter((l) => !/max-age=0/i.test(l)), true, 'session (https)');
  } finally {
    await https.stop();
  }
});

test('a Bearer token beside a session must verify too; two Authorization headers are refused', async () => {
  const forged = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"preferred_username":"admin"}').toString('base64url')}.`;
  // before: the session let the request through and the forged token reached the replica, where
  // anything reading Authorization without checking it (the usual recipe) saw "admin"
  const r = await withCookie(`_airgate=${session}`, { extra: [`Authorization: Bearer ${forged}`] });
  assert.equal(r.status, 401, r.body.toString().slice(0, 300));
  assert.match(r.header('www-authenticate')[0], /invalid_token/);
  const nav = await withCookie(`_airgate=${session}`, { nav: true, extra: [`Authorization: Bearer ${forged}`] });
  assert.equal(nav.status, 401, 'a forged token is not a reason to sign in again');
  // a valid token of another user: that token's identity applies, not the session's
  const { mintToken } = await import('../proxy/lib.mjs');
  const viewer = await mintToken(idp, { username: 'viewer' });
  const v = await withCookie(`_airgate=${session}`, { extra: [`Authorization: Bearer ${viewer}`] });
  assert.equal(v.status, 200);
  const e = echoOf(v);
  const hv = (n) => e.headers.filter(([k]) => k.toLowerCase() === n).map(([, x]) => x);
  assert.deepEqual(hv('x-forwarded-user'), ['viewer']);
  assert.deepEqual(hv('x-airflow-roles'), ['Viewer']);
  // other schemes are Airflow's business and pass with the session
  const basic = await withCookie(`_airgate=${session}`, { extra: ['Authorization: Basic YWRtaW46YWRtaW4='] });
  assert.equal(basic.status, 200);
  assert.deepEqual(echoOf(basic).headers.filter(([k]) => k.toLowerCase() === 'x-forwarded-user').map(([, x]) => x), ['admin']);
  // two Authorization headers: airgate would check one, the replica might read the other
  for (const pair of [[`Bearer ${viewer}`, `Bearer ${forged}`], [`Bearer ${forged}`, `Bearer ${viewer}`], [`Bearer ${viewer}`, 'Basic eDp5']]) {
    const two = await withCookie(null, { extra: pair.map((a) => `Authorization: ${a}`) });
    assert.equal(two.status, 400, `${pair.map((x) => x.slice(0, 12)).join(' + ')}: ${two.status}`);
    const withSession = await withCookie(`_airgate=${session}`, { extra: pair.map((a) => `Authorization: ${a}`) });
    assert.equal(withSession.status, 400);
  }
});
