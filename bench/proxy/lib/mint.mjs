#!/usr/bin/env node
// Mints the benchmark's realm: an RSA-2048 key generated now, its JWKS, a Keycloak-shaped
// discovery document, one ~1.4 KB RS256 access token, a set of distinct valid tokens (one per
// line, for the distinct-tokens run) and tokens that must be refused (bad signature, expired).
// Usage: node mint.mjs --out DIR --issuer URL --jwks-uri URL [--distinct N] [--ttl SECONDS]
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) {
    if (dflt === undefined) {
      process.stderr.write(`mint: --${name} is required\n`);
      process.exit(2);
    }
    return dflt;
  }
  return process.argv[i + 1];
}

const out = arg('out');
const issuer = arg('issuer');
const jwksUri = arg('jwks-uri');
const distinct = Number.parseInt(arg('distinct', '20000'), 10);
const ttl = Number.parseInt(arg('ttl', '7200'), 10);
if (!Number.isInteger(distinct) || distinct < 1 || distinct > 1000000) {
  process.stderr.write('mint: --distinct must be 1..1000000\n');
  process.exit(2);
}
if (!Number.isInteger(ttl) || ttl < 60) {
  process.stderr.write('mint: --ttl must be >= 60\n');
  process.exit(2);
}

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const pubJwk = publicKey.export({ format: 'jwk' });
// Keycloak's kid is a 43-character base64url string (a SHA-256 thumbprint).
const kid = b64u(crypto.createHash('sha256').update(`${pubJwk.n}.${pubJwk.e}`).digest());
const { privateKey: otherKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

const jwks = {
  keys: [{
    kid, kty: 'RSA', alg: 'RS256', use: 'sig', n: pubJwk.n, e: pubJwk.e,
  }],
};

const base = `${issuer}/protocol/openid-connect`;
const discovery = {
  issuer,
  authorization_endpoint: `${base}/auth`,
  token_endpoint: `${base}/token`,
  introspection_endpoint: `${base}/token/introspect`,
  userinfo_endpoint: `${base}/userinfo`,
  end_session_endpoint: `${base}/logout`,
  jwks_uri: jwksUri,
  grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
  response_types_supported: ['code'],
  subject_types_supported: ['public', 'pairwise'],
  id_token_signing_alg_values_supported: ['RS256', 'PS256', 'ES256'],
  token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
  scopes_supported: ['openid', 'profile', 'email', 'offline_access', 'roles'],
  code_challenge_methods_supported: ['S256'],
};

const header = b64u(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));

function sign(payload, key = privateKey) {
  const input = `${header}.${b64u(JSON.stringify(payload))}`;
  return `${input}.${b64u(crypto.sign('sha256', Buffer.from(input), key))}`;
}

// The claims Keycloak puts in an access token of a confidential client "airflow".
function claims(n, now) {
  return {
    exp: now + ttl,
    iat: now,
    auth_time: now,
    jti: crypto.randomUUID(),
    iss: issuer,
    // Keycloak with the client's Audience mapper (docs/keycloak.md): aud names airgate's client
    aud: ['airflow', 'account'],
    sub: crypto.randomUUID(),
    typ: 'Bearer',
    azp: 'airflow',
    acr: '1',
    'allowed-origins': ['https://airflow.example.com'],
    realm_access: { roles: ['default-roles-data', 'offline_access', 'uma_authorization'] },
    resource_access: {
      airflow: { roles: ['airflow_admin', 'airflow_user'] },
      account: { roles: ['manage-account', 'manage-account-links', 'view-profile'] },
    },
    scope: 'openid profile email',
    sid: crypto.randomUUID(),
    email_verified: true,
    name: `Bench User ${n}`,
    preferred_username: `bench.user${n}`,
    given_name: 'Bench',
    family_name: `User ${n}`,
    email: `bench.user${n}@example.com`,
  };
}

fs.mkdirSync(out, { recursive: true });
const now = Math.floor(Date.now() / 1000);
const token = sign(claims(0, now));
const tamperedSig = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
const wrongKey = sign(claims(0, now), otherKey);
const expired = sign({ ...claims(0, now - 3 * ttl), exp: now - 3600 });

const write = (name, text) => fs.writeFileSync(path.join(out, name), text, { mode: 0o644 });
write('jwks.json', `${JSON.stringify(jwks)}\n`);
write('openid-configuration.json', `${JSON.stringify(discovery)}\n`);
write('token.txt', token);
write('bad-signature.txt', tamperedSig);
write('wrong-key.txt', wrongKey);
write('expired.txt', expired);

const fd = fs.openSync(path.join(out, 'tokens.txt'), 'w');
try {
  const chunk = [];
  for (let i = 1; i <= distinct; i++) {
    chunk.push(sign(claims(i, now)));
    if (chunk.length === 1000 || i === distinct) {
      fs.writeSync(fd, `${chunk.join('\n')}\n`);
      chunk.length = 0;
    }
  }
} finally {
  fs.closeSync(fd);
}
process.stdout.write(`${JSON.stringify({ kid, token_bytes: token.length, distinct })}\n`);
