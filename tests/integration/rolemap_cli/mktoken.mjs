// Writes a fresh RSA key set and signed test tokens for the rolemap CLI tests (Node's crypto only).
// Usage: node mktoken.mjs OUTDIR ISSUER CLIENT_ID
// OUTDIR gets: jwks.json (public key, kid "test-key-1"), and one compact JWS per file:
//   viewer.jwt     valid, resource_access.CLIENT.roles = [viewer]
//   editor.jwt     valid, roles = [editor]
//   tampered.jwt   viewer.jwt with the payload changed (roles [admin]) and the old signature
//   expired.jwt    valid signature, exp one hour ago
//   wrong-iss.jwt  valid signature, another issuer
//   other-key.jwt  signed by a key that is not in jwks.json (same kid)
//   alg-none.jwt   "alg":"none", empty signature
//   hs256.jwt      HS256 with the public key's modulus as secret (alg confusion attempt)
import { createHmac, createSign, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [outdir, issuer, clientId] = process.argv.slice(2);
if (!outdir || !issuer || !clientId) {
  console.error('usage: node mktoken.mjs OUTDIR ISSUER CLIENT_ID');
  process.exit(2);
}

const kid = 'test-key-1';
const b64 = (buf) => Buffer.from(buf).toString('base64url');
const gen = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const { publicKey, privateKey } = gen();
const other = gen();

const jwk = publicKey.export({ format: 'jwk' });
writeFileSync(join(outdir, 'jwks.json'),
  JSON.stringify({ keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] }, null, 2) + '\n');

const now = Math.floor(Date.now() / 1000);
const claims = (roles, extra = {}) => ({
  iss: issuer, sub: 'a2c4e6f8-0000-4000-8000-000000000001', aud: [clientId, 'account'], azp: clientId,
  typ: 'Bearer', iat: now, exp: now + 3600, preferred_username: 'vera',
  email: 'vera@example.com', given_name: 'Vera', family_name: 'Viewer',
  realm_access: { roles: ['offline_access', 'uma_authorization'] },
  resource_access: { [clientId]: { roles } }, ...extra,
});

function sign(payload, key = privateKey, header = { alg: 'RS256', typ: 'JWT', kid }) {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  const s = createSign('RSA-SHA256');
  s.update(input);
  return `${input}.${b64(s.sign(key))}`;
}

const out = (name, token) => writeFileSync(join(outdir, name), token + '\n');
const viewer = sign(claims(['viewer']));
out('viewer.jwt', viewer);
out('editor.jwt', sign(claims(['editor'])));
const [h, , sig] = viewer.split('.');
out('tampered.jwt', `${h}.${b64(JSON.stringify(claims(['admin'])))}.${sig}`);
out('expired.jwt', sign(claims(['viewer'], { iat: now - 7200, exp: now - 3600 })));
out('wrong-iss.jwt', sign(claims(['viewer'], { iss: 'https://evil.example.com/realms/data' })));
// Keycloak without the Audience mapper: aud names the account client, only azp names us
out('azp-only.jwt', sign(claims(['viewer'], { aud: 'account' })));
out('other-key.jwt', sign(claims(['viewer']), other.privateKey));
out('alg-none.jwt',
  `${b64(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64(JSON.stringify(claims(['viewer'])))}.`);
const hsInput = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid }))}.${b64(JSON.stringify(claims(['viewer'])))}`;
out('hs256.jwt', `${hsInput}.${createHmac('sha256', Buffer.from(jwk.n, 'base64url')).update(hsInput).digest('base64url')}`);
