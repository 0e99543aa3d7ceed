// Hostile bearer tokens against `airgate serve`: alg none, HS256 keyed with the RSA public key,
// jwk/jku/x5u/x5c header injection, kid tricks, expired, wrong iss/aud, another realm's key, a
// 200 KB token. Each gets 401 (431 for one larger than the head limit) with a JSON body, never 5xx,
// and never reaches the upstream; jku/x5u are never fetched; unknown kids do not hammer the IdP.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { baseConfig, mintToken, startAirgate, startIdp, startUpstream } from '../proxy/lib.mjs';
import { answer } from './lib.mjs';

let idp; let other; let up; let ag; let good; let claims; let kid; let rsaPem; let trap; let trapHits = 0;
const b64 = (o) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');

before(async () => {
  idp = await startIdp(['--test-api']);
  other = await startIdp(['--test-api', '--realm', 'other']);
  up = await startUpstream();
  ag = await startAirgate(baseConfig(idp, [up.url], { server: { max_header_bytes: 16384 } }));
  good = await mintToken(idp, { username: 'admin' });
  const [h, p] = good.split('.');
  kid = JSON.parse(Buffer.from(h, 'base64url')).kid;
  claims = JSON.parse(Buffer.from(p, 'base64url'));
  const jwks = await (await fetch(`${idp.info.issuer}/protocol/openid-connect/certs`)).json();
  const jwk = jwks.keys.find((k) => k.kid === kid);
  rsaPem = crypto.createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  // a server that must never be asked for keys
  trap = http.createServer((q, s) => { trapHits++; s.end('{"keys":[]}'); });
  await new Promise((r) => trap.listen(0, '127.0.0.1', r));
});
after(async () => {
  const r = await ag?.stop();
  await up?.stop();
  await idp?.stop();
  await other?.stop();
  trap?.close();
  if (r) assert.equal(r.code, 0);
});

const attacker = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const attackerJwk = { ...attacker.publicKey.export({ format: 'jwk' }), kid: 'attacker', use: 'sig', alg: 'RS256' };
const now = () => Math.floor(Date.now() / 1000);
const fresh = (extra = {}) => ({ ...claims, iat: now(), exp: now() + 300, ...extra });
function rs256(header, payload, key = attacker.privateKey) {
  const si = `${b64({ typ: 'JWT', ...header })}.${b64(payload)}`;
  return `${si}.${crypto.sign('sha256', Buffer.from(si), key).toString('base64url')}`;
}
function hs256(header, payload, secret) {
  const si = `${b64({ typ: 'JWT', ...header })}.${b64(payload)}`;
  return `${si}.${crypto.createHmac('sha256', secret).update(si).digest('base64url')}`;
}

async function bearer(t, { accept = 'application/json' } = {}) {
  const r = await answer(ag.port, `GET /whoami HTTP/1.1\r\nHost: a\r\nAccept: ${accept}\r\nAuthorization: Bearer ${t}\r\nConnection: close\r\n\r\n`);
  return r;
}

function assertRefused(r, what, statuses = [401]) {
  assert.ok(statuses.includes(r.status), `${what}: status ${r.status}, want ${statuses}`);
  const body = r.body.toString();
  let j;
  assert.doesNotThrow(() => { j = JSON.parse(body); }, `${what}: JSON body, got ${body.slice(0, 200)}`);
  assert.equal(typeof j.error, 'string', `${what}: error named`);
  assert.ok(!/"headers"\s*:\s*\[/.test(body), `${what}: the upstream's echo came back`);
  if (r.status === 401) assert.match(r.header('www-authenticate')[0] || '', /^Bearer/, what);
}

test('a good token passes (baseline)', async () => {
  const r = await bearer(good);
  assert.equal(r.status, 200);
});

test('forged algorithms and injected keys are refused', async () => {
  const p = fresh();
  const sig = good.split('.')[2];
  const cases = {
    'alg none, no signature': `${b64({ alg: 'none', typ: 'JWT' })}.${b64(p)}.`,
    'alg none with the real signature': `${b64({ alg: 'none', kid })}.${b64(p)}.${sig}`,
    'alg NONE': `${b64({ alg: 'NONE', kid })}.${b64(p)}.`,
    'alg None, kid': `${b64({ alg: 'None', kid })}.${b64(p)}.`,
    'HS256 keyed with the RSA public key PEM': hs256({ alg: 'HS256', kid }, p, rsaPem),
    'HS256 keyed with the PEM, no kid': hs256({ alg: 'HS256' }, p, rsaPem),
    'HS256 keyed with the SPKI DER': hs256({ alg: 'HS256', kid }, p, crypto.createPublicKey(rsaPem).export({ type: 'spki', format: 'der' })),
    'HS512 keyed with the PEM': (() => { const si = `${b64({ alg: 'HS512', kid })}.${b64(p)}`; return `${si}.${crypto.createHmac('sha512', rsaPem).update(si).digest('base64url')}`; })(),
    'embedded jwk, attacker kid': rs256({ alg: 'RS256', kid: 'attacker', jwk: attackerJwk }, p),
    'embedded jwk, real kid': rs256({ alg: 'RS256', kid, jwk: { ...attackerJwk, kid } }, p),
    'jku to a key server': rs256({ alg: 'RS256', kid: 'attacker', jku: `http://127.0.0.1:${trap.address().port}/jwks` }, p),
    'x5u to a key server': rs256({ alg: 'RS256', kid: 'attacker', x5u: `http://127.0.0.1:${trap.address().port}/cert` }, p),
    'x5c with the attacker key': rs256({ alg: 'RS256', kid, x5c: [attacker.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')] }, p),
    'real kid, attacker signature': rs256({ alg: 'RS256', kid }, p),
    'PS256 on the RSA key with a bad signature': rs256({ alg: 'PS256', kid }, p),
    'crit header not understood': `${b64({ alg: 'RS256', kid, crit: ['exp'] })}.${good.split('.')[1]}.${sig}`,
    'payload swapped under the real signature': `${good.split('.')[0]}.${b64(fresh({ preferred_username: 'root' }))}.${sig}`,
    'signature stripped': `${good.split('.')[0]}.${good.split('.')[1]}.`,
    'two parts': `${good.split('.')[0]}.${good.split('.')[1]}`,
    'four parts': `${good}.AAAA`,
    'JWE-shaped (5 parts)': `${b64({ alg: 'RSA-OAEP', enc: 'A256GCM', kid })}.AAAA.AAAA.AAAA.AAAA`,
    'header not JSON': `${b64('not json')}.${good.split('.')[1]}.${sig}`,
    'header a JSON array': `${b64([1, 2])}.${good.split('.')[1]}.${sig}`,
    'alg a number': `${b64({ alg: 256, kid })}.${good.split('.')[1]}.${sig}`,
    'base64 with padding and +/': `${good.split('.')[0]}==.${good.split('.')[1]}.${sig.replace(/-/g, '+')}`,
    'nul inside': `${good.split('.')[0]}%00.${good.split('.')[1]}.${sig}`,
  };
  for (const [what, t] of Object.entries(cases)) assertRefused(await bearer(t), what);
  assert.equal(trapHits, 0, 'jku/x5u were fetched');
});

test('claims: expired, not yet valid, wrong issuer, wrong audience, no exp', async () => {
  const cases = {
    expired: await mintToken(idp, { username: 'admin', ttl: -600 }),
    'wrong issuer': await mintToken(idp, { username: 'admin', extra_claims: { iss: 'https://evil.example/realms/demo' } }),
    'issuer with trailing slash': await mintToken(idp, { username: 'admin', extra_claims: { iss: `${idp.info.issuer}/` } }),
    'other client (aud and azp)': await mintToken(idp, { username: 'admin', extra_claims: { aud: 'other', azp: 'other' } }),
    'no exp': await mintToken(idp, { username: 'admin', extra_claims: { exp: null } }),
    'exp a string': await mintToken(idp, { username: 'admin', extra_claims: { exp: String(now() + 300) } }),
    'not yet valid (nbf in an hour)': await mintToken(idp, { username: 'admin', extra_claims: { nbf: now() + 3600 } }),
    'issued in the future': await mintToken(idp, { username: 'admin', extra_claims: { iat: now() + 3600 } }),
  };
  for (const [what, t] of Object.entries(cases)) assertRefused(await bearer(t), what);
});

test('audience: azp equal to the client id never stands in for aud, unless accept_azp_as_audience', async () => {
  // the outside review's hostile corpus: aud names someone else, a prefix or an extension of the
  // client id, or nothing, while azp is our client id
  const auds = { 'aud account': 'account', 'aud a prefix': 'airflo', 'aud an extension': 'airflow-x', 'aud other case': 'Airflow', 'aud absent': null, 'aud [account, x]': ['account', 'x'], 'aud []': [] };
  const toks = {};
  for (const [what, aud] of Object.entries(auds)) {
    toks[what] = await mintToken(idp, { username: 'admin', extra_claims: { aud, azp: 'airflow' } });
    assertRefused(await bearer(toks[what]), what);
  }
  // the token naming us in aud passes whatever its azp
  assert.equal((await bearer(await mintToken(idp, { username: 'admin', extra_claims: { aud: 'airflow', azp: 'cli' } }))).status, 200);
  const lax = await startAirgate(baseConfig(idp, [up.url], { oidc: { issuer: idp.info.issuer, client_id: 'airflow', client_secret: 'x', accept_azp_as_audience: true } }));
  try {
    const viaLax = (t) => answer(lax.port, `GET /whoami HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\nAuthorization: Bearer ${t}\r\nConnection: close\r\n\r\n`);
    for (const [what, t] of Object.entries(toks)) assert.equal((await viaLax(t)).status, 200, `accept_azp_as_audience: ${what}`);
    const r = await viaLax(await mintToken(idp, { username: 'admin', extra_claims: { aud: 'account', azp: 'other' } }));
    assert.equal(r.status, 401, 'azp of another client');
  } finally {
    assert.equal((await lax.stop()).code, 0);
  }
});

test('another realm\'s token and key are refused; unknown kids re-fetch the JWKS only rate-limited', async () => {
  const before0 = (await (await fetch(`${idp.url}/_test/stats`)).json()).requests.certs;
  const foreign = await mintToken(other, { username: 'admin' });
  assertRefused(await bearer(foreign), 'other realm token');
  // the other realm's key, our issuer and claims
  let forged;
  try {
    forged = await mintToken(other, { username: 'admin', extra_claims: { iss: idp.info.issuer, aud: 'account', azp: 'airflow' } });
  } catch { forged = undefined; }
  if (forged) assertRefused(await bearer(forged), 'other realm key, our issuer');
  // the same with our kid in the header
  try {
    const t = await mintToken(other, { username: 'admin', header: { kid }, extra_claims: { iss: idp.info.issuer } });
    assertRefused(await bearer(t), 'other realm key under our kid');
  } catch { /* the test API may refuse to set kid */ }
  for (let i = 0; i < 20; i++) assertRefused(await bearer(rs256({ alg: 'RS256', kid: `unknown-${i}` }, fresh())), `unknown kid ${i}`);
  const after0 = (await (await fetch(`${idp.url}/_test/stats`)).json()).requests.certs;
  assert.ok(after0 - before0 <= 3, `unknown kids fetched the JWKS ${after0 - before0} times`);
});

test('kid tricks and huge tokens: clear 401/431, never 5xx', async () => {
  const p = fresh();
  const kids = ['../../../../etc/passwd', '/dev/zero', '$(id)', "' OR 1=1 --", '\u0000', 'k'.repeat(8000), '%s%s%s%n', '\\\\host\\share'];
  for (const k of kids) assertRefused(await bearer(rs256({ alg: 'RS256', kid: k }, p)), `kid ${k.slice(0, 20)}`);
  assertRefused(await bearer(rs256({ alg: 'RS256', kid: 123 }, p)), 'kid a number');
  assertRefused(await bearer(rs256({ alg: 'RS256', kid: { a: 1 } }, p)), 'kid an object');
  // a deep JSON nest in the header and the payload
  const deep = '['.repeat(5000) + ']'.repeat(5000);
  assertRefused(await bearer(`${b64(deep)}.${b64(p)}.AAAA`), 'deeply nested header');
  assertRefused(await bearer(`${b64({ alg: 'RS256', kid })}.${b64(deep)}.AAAA`), 'deeply nested payload');
  // 200 KB token: over the head limit
  const huge = rs256({ alg: 'RS256', kid }, fresh({ pad: 'x'.repeat(200 * 1024) }));
  const r = await bearer(huge);
  assert.equal(r.status, 431, `200 KB token: ${r.status}`);
  // an 11 KB token (8 KiB of padding, base64url-encoded): within the 16 KiB head limit,
  // still refused cleanly
  assertRefused(await bearer(rs256({ alg: 'RS256', kid }, fresh({ pad: 'x'.repeat(8 * 1024) }))), '11 KB forged token');
  // Authorization shapes
  for (const v of ['Bearer', 'Bearer ', 'Bearer  ', 'bearer x.y.z', 'Basic YWRtaW46YWRtaW4=', `Bearer ${good} ${good}`, 'Bearer\t' + good.slice(0, 10)]) {
    const x = await answer(ag.port, `GET /whoami HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\nAuthorization: ${v}\r\nConnection: close\r\n\r\n`);
    assertRefused(x, `Authorization: ${v.slice(0, 20)}`);
  }
  // two Authorization headers: never the second one behind the first's check
  const two = await answer(ag.port, `GET /whoami HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\nAuthorization: Bearer garbage\r\nAuthorization: Bearer ${good}\r\nConnection: close\r\n\r\n`);
  assert.ok(two.status === 401 || two.status === 400 || two.status === 200, `two Authorization: ${two.status}`);
  if (two.status === 200) {
    const e = JSON.parse(two.body.toString());
    const auths = e.headers.filter(([k]) => k.toLowerCase() === 'authorization').map(([, v]) => v);
    assert.ok(!auths.includes('Bearer garbage'), 'an unchecked Authorization reached the upstream');
  }
  // airgate is still fine
  assert.equal((await bearer(good)).status, 200);
  assert.equal(ag.proc.exitCode, null);
});
