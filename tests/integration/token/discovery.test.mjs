// `airgate token verify --issuer ISS` without --jwks: the key set comes from OIDC discovery
// at the real test IdP.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';

import { AIRGATE, mintToken, startIdp } from '../proxy/lib.mjs';

let idp;
before(async () => { idp = await startIdp(['--test-api']); });
after(async () => { await idp?.stop(); });

// async: the IdP runs in this process, so a synchronous child would block it
function verify(args) {
  return new Promise((resolve) => {
    const p = spawn(AIRGATE, ['token', 'verify', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = ''; let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

test('--issuer alone finds the key set by discovery', async () => {
  const token = await mintToken(idp, { username: 'admin' });
  const ok = await verify(['--issuer', idp.info.issuer, token]);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(JSON.parse(ok.out).preferred_username, 'admin');
  // a token from the same IdP with a corrupted signature is refused
  const bad = await verify(['--issuer', idp.info.issuer, `${token.slice(0, -4)}AAAA`]);
  assert.equal(bad.code, 1, bad.err);
  // an issuer with no discovery document: exit 2 and a clear message
  const none = await verify(['--issuer', `${idp.info.issuer}-missing`, token]);
  assert.equal(none.code, 2);
  assert.match(none.err, /cannot discover the key set/);
  // neither --jwks nor --issuer: usage error
  const usage = await verify([token]);
  assert.equal(usage.code, 2);
  assert.match(usage.err, /--jwks FILE_OR_URL or --issuer ISS is required/);
});
