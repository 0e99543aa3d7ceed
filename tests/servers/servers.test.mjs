// Proves the test servers behave: node --test tests/servers/
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import {
  after, before, describe, test,
} from 'node:test';

import {
  CookieJar, browserLogin, jarFetch, pkcePair,
} from './client.mjs';
import { IDP_SCRIPT, UPSTREAM_SCRIPT, startIdp, startUpstream } from './harness.mjs';

const REDIRECT = 'http://127.0.0.1:4180/oauth2/callback';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

// Independent JWS verification with node:crypto against a JWK Set.
function verifyJwt(token, jwks) {
  const [h, p, s] = token.split('.');
  const header = b64json(h);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `kid ${header.kid} not in JWKS`);
  assert.equal(jwk.alg, header.alg);
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const opts = {
    RS256: key,
    PS256: { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
    ES256: { key, dsaEncoding: 'ieee-p1363' },
  }[header.alg];
  assert.ok(opts, `unexpected alg ${header.alg}`);
  assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), opts, Buffer.from(s, 'base64url')), 'signature does not verify');
  return { header, payload: b64json(p) };
}

async function getJson(url, init) {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

function tokenRequest(idp, params, auth = 'basic', secret = idp.info.client_secret) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  const body = new URLSearchParams(params);
  if (auth === 'basic') {
    headers.authorization = `Basic ${Buffer.from(`${idp.info.client_id}:${secret}`).toString('base64')}`;
  } else {
    body.set('client_id', idp.info.client_id);
    body.set('client_secret', secret);
  }
  return getJson(`${idp.info.issuer}/protocol/openid-connect/token`, { method: 'POST', headers, body });
}

function authUrl(idp, { challenge, state, nonce, scope = 'openid profile email' }) {
  const u = new URL(`${idp.info.issuer}/protocol/openid-connect/auth`);
  const q = {
    response_type: 'code', client_id: idp.info.client_id, redirect_uri: REDIRECT, scope, state, nonce,
  };
  if (challenge) Object.assign(q, { code_challenge: challenge, code_challenge_method: 'S256' });
  for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
  return u.href;
}

// Authorization code + PKCE with plain fetch. Returns tokens and what happened.
async function codeFlow(idp, {
  username, password = username, auth = 'basic', jar = new CookieJar(),
} = {}) {
  const { verifier, challenge } = pkcePair();
  const state = crypto.randomBytes(8).toString('hex');
  const nonce = crypto.randomBytes(8).toString('hex');
  const r = await browserLogin(jar, authUrl(idp, { challenge, state, nonce }), {
    username, password, stop: (u) => u.startsWith(REDIRECT),
  });
  assert.ok(r.stopped, `flow did not reach the redirect_uri: ${r.chain.join(' -> ')} ${r.loginError || ''}`);
  const cb = new URL(r.url);
  assert.equal(cb.searchParams.get('state'), state);
  assert.equal(cb.searchParams.get('iss'), idp.info.issuer);
  const code = cb.searchParams.get('code');
  assert.ok(code);
  const tr = await tokenRequest(idp, {
    grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier,
  }, auth);
  assert.equal(tr.status, 200, JSON.stringify(tr.body));
  return {
    tokens: tr.body, jar, nonce, loginShown: r.loginShown,
  };
}

const stats = async (idp) => (await getJson(`${idp.url}/_test/stats`)).body;
const certs = async (idp) => (await getJson(`${idp.info.issuer}/protocol/openid-connect/certs`)).body;
const postJson = (url, value) => getJson(url, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value),
});

describe('idp.mjs (Keycloak-shaped OpenID provider)', () => {
  let idp;
  before(async () => { idp = await startIdp(['--test-api', '--client-secret', 's3cr3t']); });
  after(async () => {
    const r = await idp.stop();
    assert.deepEqual(r, { code: 0, signal: null }, 'SIGTERM exits cleanly');
  });

  test('startup line and Keycloak discovery document', async () => {
    assert.match(idp.info.issuer, /^http:\/\/127\.0\.0\.1:\d+\/realms\/demo$/);
    assert.equal(idp.info.issuer, `http://127.0.0.1:${idp.info.port}/realms/demo`);
    assert.equal(idp.info.client_id, 'airflow');
    assert.equal(idp.info.client_secret, 's3cr3t');
    const { status, body: d } = await getJson(`${idp.info.issuer}/.well-known/openid-configuration`);
    assert.equal(status, 200);
    const kc = `${idp.info.issuer}/protocol/openid-connect`;
    assert.equal(d.issuer, idp.info.issuer);
    assert.equal(d.authorization_endpoint, `${kc}/auth`);
    assert.equal(d.token_endpoint, `${kc}/token`);
    assert.equal(d.jwks_uri, `${kc}/certs`);
    assert.equal(d.userinfo_endpoint, `${kc}/userinfo`);
    assert.equal(d.end_session_endpoint, `${kc}/logout`);
    assert.equal(d.revocation_endpoint, `${kc}/revoke`);
    assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
    assert.ok(d.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
    assert.ok(d.token_endpoint_auth_methods_supported.includes('client_secret_post'));
    assert.deepEqual(d.id_token_signing_alg_values_supported, ['RS256']);
    // Endpoint URLs follow the issuer even when reached through another Host.
    const viaLocalhost = await getJson(`http://localhost:${idp.info.port}/realms/demo/.well-known/openid-configuration`);
    assert.equal(viaLocalhost.body.token_endpoint, `${kc}/token`);
    const jwks = await certs(idp);
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].kty, 'RSA');
    assert.equal(jwks.keys[0].use, 'sig');
    assert.ok(!('d' in jwks.keys[0]), 'JWKS must not leak private key material');
  });

  test('code flow + PKCE, client_secret_basic: Keycloak-shaped, verifiable tokens', async () => {
    const { tokens, nonce, loginShown } = await codeFlow(idp, { username: 'admin' });
    assert.ok(loginShown);
    assert.equal(tokens.token_type, 'Bearer');
    assert.equal(tokens.expires_in, 300);
    assert.ok(tokens.refresh_token);
    assert.equal(tokens.refresh_expires_in, 1800);
    const jwks = await certs(idp);
    const at = verifyJwt(tokens.access_token, jwks);
    assert.equal(at.header.typ, 'JWT');
    assert.equal(at.header.kid, jwks.keys[0].kid);
    const p = at.payload;
    assert.equal(p.iss, idp.info.issuer);
    assert.match(p.sub, UUID);
    assert.deepEqual(p.aud, ['airflow', 'account']); // the Audience mapper (default)
    assert.equal(p.azp, 'airflow');
    assert.equal(p.typ, 'Bearer');
    assert.equal(p.exp - p.iat, 300);
    assert.ok(Math.abs(p.iat - Date.now() / 1000) < 60);
    assert.ok(p.jti && p.sid);
    assert.equal(tokens.session_state, p.sid);
    assert.equal(p.scope, 'openid profile email');
    assert.equal(p.preferred_username, 'admin');
    assert.equal(p.email, 'admin@example.com');
    assert.equal(p.email_verified, true);
    assert.equal(p.given_name, 'Ada');
    assert.equal(p.family_name, 'Admin');
    assert.equal(p.name, 'Ada Admin');
    assert.deepEqual(p.realm_access.roles, ['offline_access', 'uma_authorization', 'default-roles-demo']);
    assert.deepEqual(p.resource_access.airflow.roles, ['airflow_admin']);
    assert.ok(p.resource_access.account.roles.includes('view-profile'));
    assert.ok(!('client_id' in p), 'no RFC 9068 client_id: Keycloak uses azp');

    const id = verifyJwt(tokens.id_token, jwks).payload;
    assert.equal(id.iss, idp.info.issuer);
    assert.equal(id.aud, 'airflow');
    assert.equal(id.azp, 'airflow');
    assert.equal(id.nonce, nonce);
    assert.equal(id.sub, p.sub);
    assert.equal(id.sid, p.sid);
    assert.equal(id.preferred_username, 'admin');
    assert.equal(id.email, 'admin@example.com');
    assert.equal(id.given_name, 'Ada');
    assert.equal(id.family_name, 'Admin');
    assert.equal(id.name, 'Ada Admin');
    assert.equal(id.exp - id.iat, 300);

    const ui = await getJson(`${idp.info.issuer}/protocol/openid-connect/userinfo`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    assert.equal(ui.status, 200);
    assert.equal(ui.body.sub, p.sub);
    assert.equal(ui.body.preferred_username, 'admin');
    const bad = await fetch(`${idp.info.issuer}/protocol/openid-connect/userinfo`, {
      headers: { authorization: `Bearer ${tokens.access_token.slice(0, -4)}AAAA` },
    });
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate'), /^Bearer .*error="invalid_token"/);
  });

  test('client_secret_post works; IdP session skips the password on the second login', async () => {
    const jar = new CookieJar();
    const first = await codeFlow(idp, { username: 'viewer', auth: 'post', jar });
    assert.ok(first.loginShown);
    const p = verifyJwt(first.tokens.access_token, await certs(idp)).payload;
    assert.deepEqual(p.resource_access.airflow.roles, ['airflow_viewer', 'viewer']);
    const second = await codeFlow(idp, { username: 'viewer', password: 'not-asked', jar });
    assert.equal(second.loginShown, false, 'second login must reuse the IdP session');
    assert.equal(verifyJwt(second.tokens.access_token, await certs(idp)).payload.sub, p.sub);
    const norole = await codeFlow(idp, { username: 'norole' });
    const np = verifyJwt(norole.tokens.access_token, await certs(idp)).payload;
    assert.equal(np.resource_access.airflow, undefined, 'no client roles: Keycloak omits the entry');
  });

  test('wrong password shows an error on the login page; wrong secret and missing PKCE fail', async () => {
    const jar = new CookieJar();
    const { challenge } = pkcePair();
    const url = authUrl(idp, { challenge, state: 's', nonce: 'n' });
    const r = await browserLogin(jar, url, { username: 'admin', password: 'wrong' });
    assert.equal(r.loginShown, true);
    assert.equal(r.res.status, 200);
    assert.equal(r.loginError, 'Invalid username or password.');
    assert.match(r.body, /id="kc-login"/);
    assert.match(r.body, /name="username"[^>]*value="admin"/);
    assert.ok((await stats(idp)).events.login_failed >= 1);

    const bad = await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: 'x' }, 'basic', 'nope');
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error, 'invalid_client');

    // No code_challenge: the IdP refuses (error back to the client).
    const noPkce = await fetch(authUrl(idp, { state: 's', nonce: 'n' }), { redirect: 'manual' });
    const loc = new URL(noPkce.headers.get('location'));
    assert.equal(loc.searchParams.get('error'), 'invalid_request');
    assert.match(loc.searchParams.get('error_description'), /PKCE/);

    // Wrong code_verifier at the token endpoint.
    const { challenge: c2 } = pkcePair();
    const r2 = await browserLogin(new CookieJar(), authUrl(idp, { challenge: c2, state: 's', nonce: 'n' }), {
      username: 'op', password: 'op', stop: (u) => u.startsWith(REDIRECT),
    });
    const code = new URL(r2.url).searchParams.get('code');
    const tr = await tokenRequest(idp, {
      grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: pkcePair().verifier,
    });
    assert.equal(tr.status, 400);
    assert.equal(tr.body.error, 'invalid_grant');
  });

  test('refresh rotates the refresh token; a used one fails with invalid_grant', async () => {
    const { tokens } = await codeFlow(idp, { username: 'op' });
    const r1 = await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    assert.ok(r1.body.refresh_token && r1.body.refresh_token !== tokens.refresh_token, 'rotated');
    assert.ok(r1.body.id_token && r1.body.access_token);
    const r2 = await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: r1.body.refresh_token }, 'post');
    assert.equal(r2.status, 200);
    const before = (await stats(idp)).events.refresh_token_reuse || 0;
    const reuse = await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');
    assert.equal((await stats(idp)).events.refresh_token_reuse, before + 1);
    // Reuse revokes the whole grant (OAuth security BCP), so the newest one dies too.
    const after = await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: r2.body.refresh_token });
    assert.equal(after.body.error, 'invalid_grant');
  });

  test('revocation kills a refresh token', async () => {
    const { tokens } = await codeFlow(idp, { username: 'op' });
    const res = await fetch(`${idp.info.issuer}/protocol/openid-connect/revoke`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`airflow:${idp.info.client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ token: tokens.refresh_token, token_type_hint: 'refresh_token' }),
    });
    assert.equal(res.status, 200);
    const r = await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(r.body.error, 'invalid_grant');
    assert.equal((await stats(idp)).requests.revoke, 1);
  });

  test('bad input gets clear errors, never a crash', async () => {
    const tokenUrl = `${idp.info.issuer}/protocol/openid-connect/token`;
    const big = await fetch(tokenUrl, { method: 'POST', body: 'a'.repeat(100 * 1024) });
    assert.equal(big.status, 413);
    const json = await getJson(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(json.status, 400);
    assert.equal(json.body.error, 'invalid_request');
    const badAuth = await getJson(tokenUrl, {
      method: 'POST', headers: { authorization: 'Basic !!!' }, body: new URLSearchParams({ grant_type: 'authorization_code' }),
    });
    assert.equal(badAuth.body.error, 'invalid_request');
    const grant = await tokenRequest(idp, { grant_type: 'password', username: 'admin', password: 'admin' });
    assert.equal(grant.body.error, 'unsupported_grant_type');
    const noCookie = await fetch(`${idp.info.issuer}/login-actions/authenticate/abc`, {
      method: 'POST', body: new URLSearchParams({ username: 'admin', password: 'admin' }),
    });
    assert.equal(noCookie.status, 400);
    assert.match(await noCookie.text(), /timed out/);
    const noToken = await fetch(`${idp.info.issuer}/protocol/openid-connect/userinfo`);
    assert.equal(noToken.status, 401);
    const badRedirect = await fetch(authUrl(idp, { challenge: pkcePair().challenge, state: 's', nonce: 'n' })
      .replace(encodeURIComponent(REDIRECT), encodeURIComponent('https://evil.example/cb')), { redirect: 'manual' });
    assert.equal(badRedirect.status, 400, 'unregistered redirect_uri is never redirected to');
    assert.equal((await fetch(`${idp.url}/_test/token`, { method: 'POST', body: 'x'.repeat(70000) })).status, 413);
    assert.equal((await fetch(`${idp.url}/nowhere`)).status, 404);
    assert.equal((await fetch(`${idp.info.issuer}/.well-known/openid-configuration`)).status, 200, 'still serving');
  });

  test('concurrent uses of one refresh token: exactly one succeeds', async () => {
    const { tokens } = await codeFlow(idp, { username: 'op' });
    const results = await Promise.all(Array.from({ length: 6 }, () => tokenRequest(idp, {
      grant_type: 'refresh_token', refresh_token: tokens.refresh_token,
    })));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 400, 400, 400, 400, 400]);
  });

  test('role change through the test API shows up at the next refresh', async () => {
    const { tokens } = await codeFlow(idp, { username: 'user' });
    const jwks = await certs(idp);
    assert.deepEqual(verifyJwt(tokens.access_token, jwks).payload.resource_access.airflow.roles, ['airflow_user']);
    const set = await postJson(`${idp.url}/_test/users/user/roles`, { roles: ['airflow_op', 'extra'] });
    assert.equal(set.status, 200);
    try {
      const r = await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
      assert.equal(r.status, 200);
      assert.deepEqual(verifyJwt(r.body.access_token, jwks).payload.resource_access.airflow.roles, ['airflow_op', 'extra']);
    } finally {
      await postJson(`${idp.url}/_test/users/user/roles`, { roles: ['airflow_user'] });
    }
    assert.equal((await postJson(`${idp.url}/_test/users/nobody/roles`, { roles: [] })).status, 404);
    assert.equal((await postJson(`${idp.url}/_test/users/user/roles`, { roles: 'x' })).status, 400);
  });

  test('key rotation changes kid, keeps the old key until retired', async () => {
    const { tokens } = await codeFlow(idp, { username: 'admin' });
    const before = await certs(idp);
    const oldKid = verifyJwt(tokens.access_token, before).header.kid;
    const certsCalls = (await stats(idp)).requests.certs;
    const rot = await postJson(`${idp.url}/_test/keys/rotate`, {});
    assert.equal(rot.status, 200);
    assert.notEqual(rot.body.current_kid, oldKid);
    const both = await certs(idp);
    assert.deepEqual(both.keys.map((k) => k.kid).sort(), [oldKid, rot.body.current_kid].sort());
    assert.equal((await stats(idp)).requests.certs, certsCalls + 1, '/certs calls are counted');
    verifyJwt(tokens.access_token, both); // old token still verifies
    const r = await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(r.status, 200, 'sessions survive a rotation');
    assert.equal(verifyJwt(r.body.access_token, both).header.kid, rot.body.current_kid);
    assert.equal(verifyJwt(r.body.id_token, both).header.kid, rot.body.current_kid);
    const ret = await postJson(`${idp.url}/_test/keys/retire`, {});
    assert.equal(ret.body.retired_kid, oldKid);
    const after = await certs(idp);
    assert.deepEqual(after.keys.map((k) => k.kid), [rot.body.current_kid]);
    assert.equal((await postJson(`${idp.url}/_test/keys/retire`, {})).status, 409, 'never retires the last key');
  });

  test('logout ends the IdP session and redirects to post_logout_redirect_uri', async () => {
    const jar = new CookieJar();
    const { tokens } = await codeFlow(idp, { username: 'admin', jar });
    const u = new URL(`${idp.info.issuer}/protocol/openid-connect/logout`);
    u.searchParams.set('id_token_hint', tokens.id_token);
    u.searchParams.set('client_id', 'airflow');
    u.searchParams.set('post_logout_redirect_uri', 'http://127.0.0.1:4180/');
    u.searchParams.set('state', 'bye');
    const res = await jarFetch(jar, u.href);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), 'http://127.0.0.1:4180/?state=bye');
    const again = await codeFlow(idp, { username: 'admin', jar });
    assert.equal(again.loginShown, true, 'password asked again after logout');
    const r = await tokenRequest(idp, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(r.body.error, 'invalid_grant', 'refresh tokens of the ended session are dead');
    // Logging out again without an IdP session still redirects back.
    const jar2 = new CookieJar();
    const res2 = await jarFetch(jar2, u.href);
    assert.equal(res2.status, 302);
    assert.equal(res2.headers.get('location'), 'http://127.0.0.1:4180/?state=bye');
    // Unregistered post_logout_redirect_uri: refused, no redirect.
    u.searchParams.set('post_logout_redirect_uri', 'https://evil.example/');
    const res3 = await fetch(u.href, { redirect: 'manual' });
    assert.equal(res3.status, 400);
  });

  test('/_test/token mints Keycloak-shaped access tokens', async () => {
    const jwks = await certs(idp);
    const { status, body } = await postJson(`${idp.url}/_test/token`, {
      username: 'viewer', ttl: 120, extra_claims: { custom: 'x', email: null },
    });
    assert.equal(status, 200);
    const t = verifyJwt(body.access_token, jwks);
    assert.equal(t.header.kid, jwks.keys[0].kid);
    assert.equal(t.payload.exp - t.payload.iat, 120);
    assert.equal(t.payload.iss, idp.info.issuer);
    assert.equal(t.payload.azp, 'airflow');
    assert.deepEqual(t.payload.resource_access.airflow.roles, ['airflow_viewer', 'viewer']);
    assert.equal(t.payload.custom, 'x');
    assert.ok(!('email' in t.payload), 'null removes a claim');
    const plain = await postJson(`${idp.url}/_test/token`, { username: 'admin' });
    assert.ok(plain.body.access_token.length > 1000 && plain.body.access_token.length < 2000,
      `typical size, got ${plain.body.access_token.length}`);
    assert.equal((await postJson(`${idp.url}/_test/token`, { username: 'ghost' })).status, 404);
    assert.equal((await postJson(`${idp.url}/_test/token`, { username: 'admin', ttl: 'x' })).status, 400);
    assert.equal((await postJson(`${idp.url}/_test/token`, { username: 'admin', header: { alg: 'none' } })).status, 400);
    const notJson = await fetch(`${idp.url}/_test/token`, { method: 'POST', body: '{' });
    assert.equal(notJson.status, 400);
    const s = await stats(idp);
    assert.ok(s.requests.token >= 1 && s.requests.certs >= 1 && s.events.test_token >= 2);
  });
});

describe('idp.mjs options', () => {
  test('test API off without --test-api; --alg ES256, TTLs, exact --redirect-uri', async () => {
    const idp = await startIdp(['--alg', 'ES256', '--realm', 'other', '--client-id', 'af', '--access-ttl', '60',
      '--id-ttl', '120', '--refresh-ttl', '90', '--redirect-uri', REDIRECT]);
    try {
      assert.match(idp.info.issuer, /\/realms\/other$/);
      assert.equal((await fetch(`${idp.url}/_test/stats`)).status, 404);
      const jwks = await certs(idp);
      assert.equal(jwks.keys[0].kty, 'EC');
      assert.equal(jwks.keys[0].alg, 'ES256');
      const { tokens } = await codeFlow(idp, { username: 'admin' });
      const at = verifyJwt(tokens.access_token, jwks);
      assert.equal(at.header.alg, 'ES256');
      assert.deepEqual(at.payload.resource_access.af.roles, ['airflow_admin']);
      const id = verifyJwt(tokens.id_token, jwks).payload;
      assert.equal(id.aud, 'af');
      assert.equal(at.payload.exp - at.payload.iat, 60);
      assert.equal(id.exp - id.iat, 120);
      assert.deepEqual([tokens.expires_in, tokens.refresh_expires_in], [60, 90]);
      const other = authUrl(idp, { challenge: pkcePair().challenge, state: 's', nonce: 'n' })
        .replace(encodeURIComponent(REDIRECT), encodeURIComponent('http://127.0.0.1:4181/oauth2/callback'));
      assert.equal((await fetch(other, { redirect: 'manual' })).status, 400, 'only the listed redirect URI');
    } finally {
      await idp.stop();
    }
  });

  test('bad command lines exit 2 with a message; --help exits 0', () => {
    for (const argv of [['--port', 'abc'], ['--alg', 'HS256'], ['--nope'], ['--redirect-uri', 'ftp://x']]) {
      const r = spawnSync(process.execPath, [IDP_SCRIPT, ...argv], { encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^error: /);
    }
    const h = spawnSync(process.execPath, [IDP_SCRIPT, '--help'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(h.status, 0);
    assert.match(h.stdout, /--test-api/);
    const u = spawnSync(process.execPath, [UPSTREAM_SCRIPT, '--port', '70000'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(u.status, 2);
  });
});

// Raw HTTP/1.1 exchange, so header case and duplicates are under our control.
function rawRequest(port, text) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.end(text));
    const chunks = [];
    sock.on('data', (c) => chunks.push(c));
    sock.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    sock.on('error', reject);
    sock.setTimeout(10000, () => sock.destroy(new Error('raw request timed out')));
  });
}

describe('upstream.mjs (stand-in Airflow webserver)', () => {
  let up;
  before(async () => { up = await startUpstream(['--name', 'replica-a']); });
  after(async () => {
    assert.deepEqual(await up.stop(), { code: 0, signal: null });
  });

  test('startup line and /health toggling', async () => {
    assert.equal(up.info.name, 'replica-a');
    assert.ok(up.info.port > 0);
    let h = await getJson(`${up.url}/health`);
    assert.equal(h.status, 200);
    assert.equal(h.body.metadatabase.status, 'healthy');
    assert.equal(h.body.scheduler.status, 'healthy');
    await fetch(`${up.url}/_test/health/fail`, { method: 'POST' });
    h = await getJson(`${up.url}/health`);
    assert.equal(h.status, 500);
    assert.equal(h.body.metadatabase.status, 'unhealthy');
    await fetch(`${up.url}/_test/health/ok`);
    assert.equal((await fetch(`${up.url}/health`)).status, 200);
  });

  test('echo returns raw headers with duplicates and original case', async () => {
    const text = await rawRequest(up.info.port, [
      'GET /some/path%2Fx?b=2&a=1&a=3 HTTP/1.1', 'Host: example.test', 'X-Dup: one', 'x-dup: two',
      'X-MiXeD-Case: Value', 'Accept: application/json', 'Connection: close', '', '',
    ].join('\r\n'));
    const [head, body] = text.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.match(head, /\r\nX-Upstream-Replica: replica-a\r\n/i);
    const info = JSON.parse(body);
    assert.equal(info.replica, 'replica-a');
    assert.equal(info.method, 'GET');
    assert.equal(info.path, '/some/path%2Fx');
    assert.equal(info.query, 'b=2&a=1&a=3');
    assert.deepEqual(info.headers.filter(([k]) => k.toLowerCase() === 'x-dup'), [['X-Dup', 'one'], ['x-dup', 'two']]);
    assert.deepEqual(info.headers.find(([k]) => k === 'X-MiXeD-Case'), ['X-MiXeD-Case', 'Value']);
    assert.equal(info.body_bytes, 0);
    assert.equal(info.body_sha256, crypto.createHash('sha256').digest('hex'));
  });

  test('malformed requests get 400/431, the server keeps serving', async () => {
    const bad = await rawRequest(up.info.port, 'NOT HTTP AT ALL\r\n\r\n');
    assert.match(bad, /^HTTP\/1\.1 400 /);
    const huge = await rawRequest(up.info.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    const fine = await rawRequest(up.info.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(30000)}\r\nConnection: close\r\n\r\n`);
    assert.match(fine, /^HTTP\/1\.1 200 /, '30 KB headers are accepted (max-header-size 64 KiB)');
    assert.equal((await fetch(`${up.url}/health`)).status, 200);
  });

  test('echo hashes a streamed request body', async () => {
    const body = crypto.randomBytes(3 * 1024 * 1024 + 7);
    const { status, body: info } = await getJson(`${up.url}/upload`, { method: 'PUT', body });
    assert.equal(status, 200);
    assert.equal(info.method, 'PUT');
    assert.equal(info.body_bytes, body.length);
    assert.equal(info.body_sha256, crypto.createHash('sha256').update(body).digest('hex'));
  });

  test('HTML echo for browsers, everything escaped', async () => {
    const res = await fetch(`${up.url}/home?q=<b>`, {
      headers: {
        accept: 'text/html,application/xhtml+xml', 'x-forwarded-user': '<script>alert(1)</script>', 'x-airflow-roles': 'Admin,Op',
      },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    const html = await res.text();
    assert.ok(!html.includes('<script>alert(1)'), 'header values are escaped');
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(html, /<strong id="roles">Admin,Op<\/strong>/);
    assert.match(html, /replica-a/);
  });

  test('/bytes/N streams exactly N bytes, chunked, byte p = p & 0xff', async () => {
    const n = 5 * 1024 * 1024 + 123;
    const res = await fetch(`${up.url}/bytes/${n}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('transfer-encoding'), 'chunked');
    let total = 0;
    let patternOk = true;
    for await (const chunk of res.body) {
      for (let i = 0; i < chunk.length; i += 4099) {
        if (chunk[i] !== ((total + i) & 0xff)) patternOk = false; // eslint-disable-line no-bitwise
      }
      total += chunk.length;
    }
    assert.equal(total, n);
    assert.ok(patternOk);
    assert.equal((await (await fetch(`${up.url}/bytes/0`)).arrayBuffer()).byteLength, 0);
    assert.equal((await fetch(`${up.url}/bytes/12x`)).status, 400);
  });

  test('/status, /delay, /slow', async () => {
    const s204 = await fetch(`${up.url}/status/204`);
    assert.equal(s204.status, 204);
    assert.equal((await s204.arrayBuffer()).byteLength, 0);
    const s418 = await getJson(`${up.url}/status/418`);
    assert.deepEqual([s418.status, s418.body.status], [418, 418]);
    const s302 = await fetch(`${up.url}/status/302?location=/elsewhere`, { redirect: 'manual' });
    assert.equal(s302.headers.get('location'), '/elsewhere');
    assert.equal((await fetch(`${up.url}/status/99`)).status, 400);
    let t0 = Date.now();
    const d = await getJson(`${up.url}/delay?ms=200`);
    assert.equal(d.body.delayed_ms, 200);
    assert.ok(Date.now() - t0 >= 190);
    t0 = Date.now();
    const slow = await fetch(`${up.url}/slow?bytes=5&interval_ms=40`);
    const got = Buffer.from(await slow.arrayBuffer());
    assert.deepEqual([...got], [0, 1, 2, 3, 4]);
    assert.ok(Date.now() - t0 >= 150, 'dripped, not sent at once');
    assert.equal((await fetch(`${up.url}/delay?ms=-1`)).status, 400);
  });

  test('keep-alive reuses the connection; bounded load all answered', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () => new Promise((resolve, reject) => {
      const req = http.get(`${up.url}/echo`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket }));
      });
      req.on('error', reject);
    });
    const a = await get();
    const b = await get();
    assert.deepEqual([a.status, b.status, b.reused], [200, 200, true]);
    agent.destroy();
    const statsBefore = (await getJson(`${up.url}/_test/stats`)).body.requests;
    const deadline = Date.now() + 20000;
    let ok = 0;
    const worker = async () => {
      for (let i = 0; i < 100 && Date.now() < deadline; i += 1) {
        const r = await fetch(`${up.url}/load/${i}`, { method: 'POST', body: 'x'.repeat(i) }); // eslint-disable-line no-await-in-loop
        const j = await r.json(); // eslint-disable-line no-await-in-loop
        if (r.status === 200 && j.body_bytes === i) ok += 1;
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    assert.equal(ok, 1000);
    assert.equal((await getJson(`${up.url}/_test/stats`)).body.requests, statsBefore + 1000);
  });
});
