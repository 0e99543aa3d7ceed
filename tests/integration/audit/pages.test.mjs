// airgate's own pages and answers with hostile input: IdP error parameters, user names and roles
// from a token are HTML-escaped (and a CSP forbids scripts); the Host and X-Forwarded-Host of an
// untrusted client never choose the redirect_uri or any Location.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { mintToken } from '../proxy/lib.mjs';
import { startIdp, startUpstream, startGate } from '../login/lib.mjs';
import { answer } from './lib.mjs';

let idp; let up; let gate;
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  gate = await startGate(idp, up);
});
after(async () => {
  const r = await gate?.stop();
  await up?.stop();
  await idp?.stop();
  if (r) assert.equal(r.code, 0);
});

const X = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&';
const q = encodeURIComponent(X);

function assertInert(r, body, what) {
  assert.ok(!/<script|<img/i.test(body), `${what}: markup from the input came back unescaped`);
  if (/text\/html/.test(r.headers.get('content-type') || '')) {
    assert.match(r.headers.get('content-security-policy') || '', /default-src 'none'/, `${what}: CSP`);
    // (login pages send the header twice, "nosniff, nosniff": harmless, the first value counts)
    assert.match(r.headers.get('x-content-type-options') || '', /^nosniff/, `${what}: nosniff`);
  }
  assert.ok(r.status < 500 || r.status === 503, `${what}: ${r.status}`); // 503: the IdP said temporarily_unavailable
}

test('hostile IdP error parameters and token claims are escaped on every page', async () => {
  for (const path of [`/oauth2/callback?error=${q}&error_description=${q}&state=${q}`,
    `/oauth2/callback?error=access_denied&error_description=${q}`, `/oauth2/callback?state=${q}&code=${q}`,
    `/oauth2/callback?error=temporarily_unavailable&error_description=${encodeURIComponent(X.repeat(500))}`]) {
    const r = await fetch(`${gate.url}${path}`, { headers: { accept: 'text/html' } });
    assertInert(r, await r.text(), path.slice(0, 60));
  }
  const t = await mintToken(idp, {
    username: 'norole',
    extra_claims: { preferred_username: X, email: X, given_name: X, family_name: X, resource_access: { airflow: { roles: [X] } } },
  });
  const page = await fetch(`${gate.url}/x`, { headers: { accept: 'text/html', authorization: `Bearer ${t}` } });
  assert.equal(page.status, 403);
  const html = await page.text();
  assertInert(page, html, '403 page');
  assert.match(html, /&lt;script&gt;/, 'the name is shown, escaped');
  const api = await fetch(`${gate.url}/x`, { headers: { accept: 'application/json', authorization: `Bearer ${t}` } });
  assert.equal(api.status, 403);
  assert.equal((await api.json()).user, X, 'JSON carries the name intact, JSON-escaped');
  // the hostile name never reaches a replica either (denied), nor as a header of an allowed user
  const ok = await mintToken(idp, { username: 'admin', extra_claims: { preferred_username: 'a\r\nX-Airflow-Roles: Admin', given_name: 'b\nc' } });
  const r = await answer(gate.port, `GET /hdr HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${ok}\r\nConnection: close\r\n\r\n`);
  assert.ok([200, 401, 403].includes(r.status), `CRLF in claims: ${r.status}`);
  if (r.status === 200) {
    const e = JSON.parse(r.body.toString());
    const roles = e.headers.filter(([k]) => k.toLowerCase() === 'x-airflow-roles');
    assert.equal(roles.length, 1, 'a CRLF in a claim made a header');
    for (const [, v] of e.headers) assert.ok(!/[\r\n]/.test(v), 'CR/LF reached a header value');
  }
});

test('Host and X-Forwarded-Host from an untrusted client never choose where airgate redirects', async () => {
  const r = await answer(gate.port, 'GET /oauth2/start?rd=/x HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil2.example\r\nX-Forwarded-Proto: https\r\nAccept: text/html\r\nConnection: close\r\n\r\n');
  assert.equal(r.status, 302);
  const loc = new URL(r.header('location')[0]);
  assert.equal(loc.searchParams.get('redirect_uri'), `${gate.url}/oauth2/callback`);
  assert.ok(!r.header('location')[0].includes('evil'));
  const nav = await answer(gate.port, 'GET /dags HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil2.example\r\nAccept: text/html\r\nConnection: close\r\n\r\n');
  assert.equal(nav.status, 302);
  assert.ok(!nav.header('location')[0].includes('evil'), nav.header('location')[0]);
  // login cookies are not marked Secure because an untrusted client said https
  for (const c of nav.header('set-cookie')) assert.ok(!/;\s*Secure/i.test(c), c);
});
