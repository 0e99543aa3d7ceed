// Open redirects: `/oauth2/start?rd=` and the path remembered from a navigation, with every trick
// a browser or a proxy might turn into another site. The callback's final Location (raw header, as
// a browser would read it) must stay on airgate's own origin; logout only ever names airgate's own
// post_logout_redirect_uri.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { CookieJar, jarFetch, browserLogin, follow, startIdp, startUpstream, startGate, NAV } from '../login/lib.mjs';
import { raw } from './lib.mjs';

let idp; let up; let gate; let jar;
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  gate = await startGate(idp, up);
  jar = new CookieJar();
});
after(async () => {
  const r = await gate?.stop();
  await up?.stop();
  await idp?.stop();
  if (r) assert.equal(r.code, 0);
});

const atCallback = (u) => u.startsWith(`${gate.url}/oauth2/callback`);

// A Location is same-site when a browser resolving it against airgate's URL stays on that origin
// and it is a plain single-slash path (no scheme, no authority, no backslash, no control bytes).
function assertSameSite(loc, what) {
  assert.ok(loc, `${what}: a Location`);
  assert.ok(/^\/(?![/\\])/.test(loc), `${what}: Location ${JSON.stringify(loc)} is not a single-slash path`);
  assert.ok(!/[\x00-\x20\x7f\\]/.test(loc), `${what}: Location ${JSON.stringify(loc)} has blanks, controls or backslash`);
  assert.equal(new URL(loc, gate.url).origin, gate.url, `${what}: ${loc} leaves the site`);
}

// Runs the login from `url` (start or IdP authorization URL) to the callback and returns the
// callback's raw Location.
async function callbackLocation(url) {
  const r = await browserLogin(jar, url, { username: 'admin', password: 'admin', stop: atCallback });
  assert.ok(r.stopped, `login reached the callback (${r.chain.join(' -> ')})`);
  const cb = await jarFetch(jar, r.url);
  await cb.arrayBuffer();
  assert.equal(cb.status, 302, 'callback redirects');
  return cb.headers.get('location');
}

const evilRd = [
  '//evil.example/x', '/\\evil.example', '\\\\evil.example', '%2F%2Fevil.example', '/%2F/evil.example',
  '/%2Fevil.example', '%252F%252Fevil.example', '/%252F%252Fevil.example', '/%09/evil.example', '/%5Cevil.example',
  '/%255Cevil.example', 'https:evil.example', 'https://evil.example', 'http:/evil.example', '//evil.example@x',
  'javascript:alert(1)', '/%0d%0aSet-Cookie:%20x=y', '/%0aLocation:%20https://evil.example', '%E2%88%95%E2%88%95evil.example',
  '/%EF%BC%8Fevil.example', '%EF%BC%8F%EF%BC%8Fevil.example', '/%E3%80%82evil', '/%C0%AFevil.example', ' //evil.example',
  '/%20/evil.example', '/.//evil.example', '',
];

test('rd tricks never leave the site: start, IdP round trip, callback Location', async () => {
  const seen = [];
  for (const rd of evilRd) {
    const startUrl = `${gate.url}/oauth2/start?rd=${rd}`;
    const s = await jarFetch(jar, startUrl, { headers: NAV });
    await s.arrayBuffer();
    assert.equal(s.status, 302, `start ${rd}`);
    assert.ok(s.headers.get('location').startsWith(`${idp.info.issuer}/`), `start ${rd} goes to the IdP`);
    const loc = await callbackLocation(startUrl);
    assertSameSite(loc, `rd=${rd}`);
    seen.push([rd, loc]);
  }
  // a harmless rd keeps its path and query
  const ok = await callbackLocation(`${gate.url}/oauth2/start?rd=${encodeURIComponent('/dags/x/grid?tab=graph&a=%2F')}`);
  assert.equal(ok, '/dags/x/grid?tab=graph&a=%2F');
  // unicode in a path is fine when it is still a path
  const uni = await callbackLocation(`${gate.url}/oauth2/start?rd=/dags/%C3%A9t%C3%A9`);
  assertSameSite(uni, 'unicode path');
});

test('rd is normalised: dot segments resolved, repeated slashes collapsed, "//host" after resolving -> /', async () => {
  const want = {
    '/x/..//evil.example': '/',
    '/.//evil.example': '/',
    '/x/%2e%2e//evil.example': '/',
    '/%2F%2Fevil.example': '/',
    '/a%2Fb': '/',
    '/dags//x/./grid/../graph?tab=a//b': '/dags/x/graph?tab=a//b',
  };
  for (const [rd, loc] of Object.entries(want)) {
    const got = await callbackLocation(`${gate.url}/oauth2/start?rd=${encodeURIComponent(rd)}`);
    assert.equal(got, loc, `rd=${rd}`);
  }
});

// The path a navigation asked for is remembered in the login cookie and used after the callback.
const evilPaths = [
  '//evil.example/x', '/\\evil.example/x', '/%2F%2Fevil.example', '/%2Fevil.example', '/%5Cevil.example', '/%09/evil.example',
  '/%0d%0aLocation:%20https://evil.example', '///evil.example', '/.//evil.example/', '/x/..//evil.example',
];

test('remembered path tricks never leave the site', async () => {
  let followed = 0;
  for (const p of evilPaths) {
    const r = await raw(gate.port, `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${gate.port}\r\nAccept: text/html\r\nConnection: close\r\n\r\n`);
    if (r.status !== 302) {
      // refusing the path outright is fine too, as long as it is a clear client error
      assert.ok(r.status >= 400 && r.status < 500, `${p}: ${r.status}`);
      continue;
    }
    const loc = r.header('location')[0];
    assert.ok(loc.startsWith(`${idp.info.issuer}/`), `${p}: goes to the IdP, not ${loc}`);
    jar.store(`${gate.url}/`, r.header('set-cookie'));
    assertSameSite(await callbackLocation(loc), `path ${p}`);
    followed++;
  }
  assert.ok(followed >= 5, `most tricks were remembered and followed through (${followed})`);
  // a plain remembered path comes back whole
  const r = await raw(gate.port, `GET /dags/a/grid?x=1 HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\nConnection: close\r\n\r\n`);
  jar.store(`${gate.url}/`, r.header('set-cookie'));
  assert.equal(await callbackLocation(r.header('location')[0]), '/dags/a/grid?x=1');
});

test('logout only ever sends the IdP airgate\'s own post_logout_redirect_uri', async () => {
  for (const q of ['', '?rd=https://evil.example', '?post_logout_redirect_uri=https://evil.example',
    '?redirect_uri=//evil.example&state=x']) {
    const j = new CookieJar();
    await browserLogin(j, `${gate.url}/oauth2/start?rd=/echo/x`, { username: 'user', password: 'user' });
    const lo = await jarFetch(j, `${gate.url}/oauth2/logout${q}`);
    await lo.arrayBuffer();
    assert.equal(lo.status, 302);
    const u = new URL(lo.headers.get('location'));
    assert.equal(`${u.origin}${u.pathname}`, `${idp.info.issuer}/protocol/openid-connect/logout`);
    assert.equal(u.searchParams.getAll('post_logout_redirect_uri').length, 1);
    assert.equal(u.searchParams.get('post_logout_redirect_uri'), `${gate.url}/oauth2/signed-out`, q);
    assert.ok(!lo.headers.get('location').includes('evil'), q);
    const done = await follow(j, u.href);
    assert.equal(new URL(done.url).origin, gate.url);
  }
  // without a session, logout still stays home
  const anon = await jarFetch(new CookieJar(), `${gate.url}/oauth2/logout?rd=//evil.example`);
  const l = anon.headers.get('location');
  if (l) assert.ok(l.startsWith(`${idp.info.issuer}/`) || new URL(l, gate.url).origin === gate.url, l);
  const so = await jarFetch(new CookieJar(), `${gate.url}/oauth2/signed-out?rd=//evil.example`);
  assert.ok(!(so.headers.get('location') || '').includes('evil'));
});
