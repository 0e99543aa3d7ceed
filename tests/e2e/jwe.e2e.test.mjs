// Encrypted ID tokens (JWE) in a real browser: the test IdP encrypts every ID token to the
// `use: enc` key it fetches from airgate's own /.well-known/airgate/jwks.json (Keycloak's
// "JWKS URL" + "ID token encryption" client settings), airgate decrypts with
// oidc.decryption_key_file and verifies the nested JWS. Debian's Chromium via playwright-core.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  CookieJar, signIn, startIdp, startUpstream, startGate, idpStats, waitFor,
} from '../integration/login/lib.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const skip = fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (install Debian's chromium or set CHROMIUM)`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ROLES = {
  claims: ['resource_access.airflow.roles'],
  map: { airflow_admin: 'Admin', airflow_viewer: 'Viewer' },
  unmapped: 'deny',
};

let idp;
let up;
let gate;
let plain; // the same IdP client settings, but airgate without a decryption key
let chromium;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'airgate-jwe-'));

function writeKey(name, type, opts) {
  const { privateKey } = crypto.generateKeyPairSync(type, opts);
  const file = path.join(dir, name);
  fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return file;
}

async function setClient(body) {
  const r = await fetch(`${idp.url}/_test/client`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  assert.equal(r.status, 200, await r.text());
}

before(async () => {
  if (skip) return;
  ({ chromium } = await import('playwright-core'));
  const rsa = writeKey('enc-rsa.pem', 'rsa', { modulusLength: 2048 });
  const ec = writeKey('enc-ec.pem', 'ec', { namedCurve: 'P-256' });
  idp = await startIdp(['--test-api']);
  up = await startUpstream(['--name', 'airflow-standin']);
  gate = await startGate(idp, up, { roles: ROLES, oidc: { decryption_key_file: [rsa, ec] } });
  plain = await startGate(idp, up, { roles: ROLES });
});

after(async () => {
  await gate?.stop();
  await plain?.stop();
  await up?.stop();
  await idp?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function browserLogin(user) {
  const profile = fs.mkdtempSync(path.join(dir, 'profile-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    await page.goto(`${gate.url}/home?tab=dags`);
    assert.ok(page.url().startsWith(idp.info.issuer), `not sent to the IdP (${page.url()})`);
    await page.waitForSelector('form#kc-form-login');
    await page.fill('input[name=username]', user);
    await page.fill('input[name=password]', user);
    await Promise.all([page.waitForNavigation(), page.click('#kc-login')]);
    const cell = (name) => page.locator(`tr:has(th:text-is("${name}")) td`).first().textContent();
    return { url: page.url(), roles: (await cell('x-airflow-roles')).trim(), user: (await cell('x-forwarded-user')).trim() };
  } finally {
    await ctx.close();
  }
}

test('jwks.json publishes the enc keys beside the assertion key', { skip }, async () => {
  const r = await fetch(`${gate.url}/.well-known/airgate/jwks.json`);
  assert.equal(r.status, 200);
  const { keys } = await r.json();
  assert.deepEqual(keys.map((k) => [k.kty, k.use, k.alg]),
    [['EC', 'sig', 'ES256'], ['RSA', 'enc', 'RSA-OAEP'], ['EC', 'enc', 'ECDH-ES']]);
  for (const k of keys.filter((x) => x.use === 'enc')) {
    assert.equal(k.d, undefined, 'a private member is published');
    const pub = crypto.createPublicKey({ key: { kty: k.kty, n: k.n, e: k.e, crv: k.crv, x: k.x, y: k.y }, format: 'jwk' });
    const req = k.kty === 'RSA' ? { e: k.e, kty: 'RSA', n: k.n } : { crv: k.crv, kty: 'EC', x: k.x, y: k.y };
    const thumb = crypto.createHash('sha256').update(JSON.stringify(req)).digest('base64url');
    assert.equal(k.kid, thumb, 'kid is the RFC 7638 thumbprint');
    assert.ok(pub);
  }
  // the gate without a key publishes only the assertion key
  const p = await (await fetch(`${plain.url}/.well-known/airgate/jwks.json`)).json();
  assert.deepEqual(p.keys.map((k) => k.use), ['sig']);
});

const PAIRS = [
  ['RSA-OAEP', 'A256GCM'],
  ['RSA-OAEP', 'A128CBC-HS256'],
  ['RSA-OAEP', 'A128GCM'],
  ['RSA-OAEP', 'A256CBC-HS512'],
  ['ECDH-ES', 'A256GCM'],
  ['ECDH-ES', 'A128CBC-HS256'],
];

for (const [alg, enc] of PAIRS) {
  test(`Chromium signs in with an ID token encrypted ${alg} + ${enc}`, { skip, timeout: 60000 }, async () => {
    await setClient({
      jwks_uri: `${gate.url}/.well-known/airgate/jwks.json`,
      id_token_encrypted_response_alg: alg,
      id_token_encrypted_response_enc: enc,
    });
    const before = (await idpStats(idp)).events.id_token_encrypted || 0;
    const r = await browserLogin('admin');
    assert.equal(r.url, `${gate.url}/home?tab=dags`);
    assert.equal(r.roles, 'Admin');
    assert.equal(r.user, 'admin');
    const afterCount = (await idpStats(idp)).events.id_token_encrypted || 0;
    assert.equal(afterCount, before + 1, 'the IdP did not send an encrypted ID token');
  });
}

test('without oidc.decryption_key an encrypted ID token is refused with today\'s error', { skip, timeout: 30000 }, async () => {
  await setClient({
    jwks_uri: `${gate.url}/.well-known/airgate/jwks.json`,
    id_token_encrypted_response_alg: 'RSA-OAEP',
    id_token_encrypted_response_enc: 'A256GCM',
  });
  const from = plain.lines.length;
  const r = await signIn(plain, new CookieJar(), 'viewer', '/home');
  assert.notEqual(r.res.status, 200);
  await waitFor(() => plain.lines.slice(from).some((l) => l.includes('more than 3 parts (JWE or garbage?)')));
});

// The key is published with alg RSA-OAEP, so an IdP set to RSA-OAEP-256 finds no key to encrypt
// to and refuses the code exchange; a JWE that arrives with RSA-OAEP-256 anyway is refused by
// airgate with "RSA-OAEP-256 is not supported ... RSA-OAEP or ECDH-ES" (tests/unit/auth/jose/test_jwe.c).
test('an IdP set to RSA-OAEP-256 cannot use the published key: the login fails cleanly', { skip, timeout: 30000 }, async () => {
  await setClient({
    jwks_uri: `${gate.url}/.well-known/airgate/jwks.json`,
    id_token_encrypted_response_alg: 'RSA-OAEP-256',
    id_token_encrypted_response_enc: 'A256GCM',
  });
  const from = gate.lines.length;
  const r = await signIn(gate, new CookieJar(), 'viewer', '/home');
  assert.notEqual(r.res.status, 200);
  await waitFor(() => gate.lines.slice(from).some((l) => l.includes('code exchange refused')));
  // never a token in the log
  assert.ok(!gate.lines.slice(from).some((l) => /eyJ[A-Za-z0-9_-]{20,}\./.test(l)));
  await setClient({});
});
