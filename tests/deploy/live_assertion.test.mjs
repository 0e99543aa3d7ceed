// The Airflow-side check (deploy/airflow/airgate_assertion.py, Debian's python3-jwt) against a
// running airgate: a real IdP token goes through `airgate serve`, the echo upstream hands back
// the X-Airgate-Assertion airgate forwarded, and the Python verifier checks it against the JWKS
// airgate publishes. Two replicas with one cookie secret share the key; another secret does not.
// Run: AG_AIRGATE_BIN=build/dev/airgate node --test tests/deploy/live_assertion.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  baseConfig, mintToken, rawRequest, startAirgate, startIdp, startUpstream, waitFor,
} from '../integration/proxy/lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const verifierPy = path.resolve(here, '../../deploy/airflow/airgate_assertion.py');
const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
if (spawnSync(python, ['-c', 'import jwt, cryptography'], { encoding: 'utf8' }).status !== 0) {
  console.log('SKIP: python3-jwt / python3-cryptography not installed');
  process.exit(77);
}

const PUBLIC = 'http://127.0.0.1:8080';
let idp, up, ag1, ag2, ag3;

function assertionVia(ag, token) {
  return rawRequest(ag.port, ['GET /who HTTP/1.1', 'Host: a', `Authorization: Bearer ${token}`,
    'Connection: close', '', ''].join('\r\n')).then((r) => {
    assert.equal(r.status, 200, r.body.toString());
    const echo = JSON.parse(r.body.toString());
    const v = echo.headers.filter(([k]) => k.toLowerCase() === 'x-airgate-assertion').map(([, x]) => x);
    assert.equal(v.length, 1, 'exactly one X-Airgate-Assertion upstream');
    return v[0];
  });
}

function verify(ag, token, { audience = 'airflow', issuer = PUBLIC } = {}) {
  const r = spawnSync(python, [verifierPy, '--jwks-url', `${ag.url}/.well-known/airgate/jwks.json`,
    '--issuer', issuer, '--audience', audience, '-'], { input: token, encoding: 'utf8', timeout: 30000 });
  return { status: r.status, out: r.stdout ? JSON.parse(r.stdout || 'null') : null, err: r.stderr };
}

const ready = (ag) => waitFor(async () => (await fetch(`${ag.url}/readyz`)).status === 200);

before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  const cfg = (secret) => baseConfig(idp, [`http://127.0.0.1:${up.info.port}`], {
    public_url: PUBLIC,
    session: { cookie_secret: secret },
    assertion: { audience: 'airflow', ttl_s: 120 },
  });
  ag1 = await startAirgate(cfg('shared-cookie-secret-of-the-three-replicas!'));
  ag2 = await startAirgate(cfg('shared-cookie-secret-of-the-three-replicas!'));
  ag3 = await startAirgate(cfg('a-different-cookie-secret-for-this-replica'));
  await Promise.all([ready(ag1), ready(ag2), ready(ag3)]);
});

after(async () => {
  for (const p of [ag1, ag2, ag3]) await p?.stop();
  await up?.stop();
  await idp?.stop();
});

test('a forwarded assertion verifies in the Airflow-side checker', async () => {
  const jws = await assertionVia(ag1, await mintToken(idp, { username: 'admin' }));
  const r = verify(ag1, jws);
  assert.equal(r.status, 0, r.err);
  assert.equal(r.out.claims.iss, PUBLIC);
  assert.equal(r.out.claims.aud, 'airflow');
  assert.equal(r.out.claims.exp - r.out.claims.iat, 120);
  assert.equal(r.out.user.username, 'admin');
  assert.equal(r.out.user.email, 'admin@example.com');
  assert.deepEqual(r.out.user.roles, ['Admin']);
  assert.ok(r.out.user.groups.includes('airflow_admin'));
});

test('the Airflow side decodes X-Forwarded-Groups as airgate encodes it, and it agrees with the assertion', async () => {
  const token = await mintToken(idp, {
    username: 'viewer',
    extra_claims: { resource_access: { airflow: { roles: ['airflow_viewer', 'team_x,airflow_admin', '50%'] } } },
  });
  const r = await rawRequest(ag1.port, ['GET /who HTTP/1.1', 'Host: a', `Authorization: Bearer ${token}`,
    'Connection: close', '', ''].join('\r\n'));
  assert.equal(r.status, 200);
  const echo = JSON.parse(r.body.toString());
  const hdrs = Object.fromEntries(echo.headers.filter(([k]) => /^x-(forwarded-(groups|user)|airflow-roles|airgate-assertion)$/i.test(k)));
  const py = `import json, sys
sys.path.insert(0, ${JSON.stringify(path.dirname(verifierPy))})
import airgate_assertion as aa
h = json.load(sys.stdin)
v = aa.AirgateVerifier(jwks_url=${JSON.stringify(`${ag1.url}/.well-known/airgate/jwks.json`)}, issuer=${JSON.stringify(PUBLIC)})
c = v.verify(h["X-Airgate-Assertion"])
aa.check_identity_headers(c, h)
print(json.dumps(aa.split_identity_list(h["X-Forwarded-Groups"])))`;
  const out = spawnSync(python, ['-c', py], { input: JSON.stringify(hdrs), encoding: 'utf8', timeout: 30000 });
  assert.equal(out.status, 0, out.stderr);
  const groups = JSON.parse(out.stdout);
  assert.ok(groups.includes('team_x,airflow_admin') && !groups.includes('airflow_admin'), out.stdout);
  assert.ok(groups.includes('50%'), out.stdout);
});

test('replicas with the same cookie secret publish the same key', async () => {
  const [j1, j2, j3] = await Promise.all([ag1, ag2, ag3].map(
    async (ag) => (await fetch(`${ag.url}/.well-known/airgate/jwks.json`)).json()));
  assert.deepEqual(j1, j2);
  assert.notEqual(j1.keys[0].kid, j3.keys[0].kid);
  // Signed by replica 2, checked against replica 1's key set.
  const jws = await assertionVia(ag2, await mintToken(idp, { username: 'viewer' }));
  const r = verify(ag1, jws);
  assert.equal(r.status, 0, r.err);
  assert.deepEqual(r.out.user.roles, ['Viewer']);
});

test('wrong key, wrong audience, wrong issuer, missing, expired are rejected', async () => {
  const token = await mintToken(idp, { username: 'op' });
  const other = await assertionVia(ag3, token);
  let r = verify(ag1, other);
  assert.equal(r.status, 1);
  assert.match(r.err, /unknown key/);

  const jws = await assertionVia(ag1, token);
  r = verify(ag1, jws, { audience: 'someone-else' });
  assert.equal(r.status, 1);
  assert.match(r.err, /audience/i);
  r = verify(ag1, jws, { issuer: 'https://other.example.com' });
  assert.equal(r.status, 1);
  assert.match(r.err, /issuer/i);
  r = verify(ag1, '');
  assert.equal(r.status, 1);
  assert.match(r.err, /no X-Airgate-Assertion/);

  // Expired: the same assertion checked 10 minutes later (exp = iat + 120, leeway 30).
  // PyJWT reads the clock through datetime.now: move it 10 minutes ahead for this run.
  const py = `import sys, runpy, datetime as d, jwt.api_jwt as api
sys.argv = ["x", "--jwks-url", ${JSON.stringify(`${ag1.url}/.well-known/airgate/jwks.json`)}, "--issuer", ${JSON.stringify(PUBLIC)}, "-"]
class Later(d.datetime):
    @classmethod
    def now(cls, tz=None):
        return d.datetime.now(tz) + d.timedelta(seconds=600)
api.datetime = Later
runpy.run_path(${JSON.stringify(verifierPy)}, run_name="__main__")`;
  const e = spawnSync(python, ['-c', py], { input: jws, encoding: 'utf8', timeout: 30000 });
  assert.equal(e.status, 1, e.stdout + e.stderr);
  assert.match(e.stderr, /expired/);
});

test('a client cannot smuggle its own assertion through airgate', async () => {
  const forged = await assertionVia(ag3, await mintToken(idp, { username: 'op' }));
  const r = await rawRequest(ag1.port, ['GET /who HTTP/1.1', 'Host: a',
    `Authorization: Bearer ${await mintToken(idp, { username: 'viewer' })}`,
    `X-Airgate-Assertion: ${forged}`, 'x-airgate-assertion: forged', 'Connection: close', '', ''].join('\r\n'));
  const echo = JSON.parse(r.body.toString());
  const v = echo.headers.filter(([k]) => k.toLowerCase() === 'x-airgate-assertion').map(([, x]) => x);
  assert.equal(v.length, 1);
  assert.notEqual(v[0], forged);
  const ok = verify(ag1, v[0]);
  assert.equal(ok.status, 0, ok.err);
  assert.equal(ok.out.user.username, 'viewer');
});

test('with every audience default left alone, a real login\'s assertion verifies on the Airflow side', async () => {
  const { startGate, signIn, echo } = await import('../integration/login/lib.mjs');
  const { CookieJar } = await import('../servers/client.mjs');
  const gate = await startGate(idp, up, {}); // no assertion.audience anywhere
  try {
    const jar = new CookieJar();
    await signIn(gate, jar, 'user', '/who');
    const e = await echo(gate, jar, '/who');
    assert.equal(e.status, 200);
    const jws = e.header('x-airgate-assertion');
    assert.ok(jws, 'an assertion was forwarded');
    // the verifier's own default audience: no --audience argument
    const r = spawnSync(python, [verifierPy, '--jwks-url', `${gate.url}/.well-known/airgate/jwks.json`,
      '--issuer', gate.url, '-'], { input: jws, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.claims.aud, 'airflow');
    assert.deepEqual(out.user.roles, ['User']);
  } finally {
    await gate.stop();
  }
});
