// Minimal JWS helpers on node:crypto: key generation, JWK export, RFC 7638
// thumbprints, compact sign and verify for RS256 / PS256 / ES256.
import crypto from 'node:crypto';

export const SUPPORTED_ALGS = ['RS256', 'PS256', 'ES256'];

export function b64u(input) {
  return Buffer.from(input).toString('base64url');
}

export function b64uJson(value) {
  return b64u(JSON.stringify(value));
}

// RFC 7638 JWK thumbprint (SHA-256, base64url): Keycloak-like 43-char kid.
export function jwkThumbprint(jwk) {
  let members;
  if (jwk.kty === 'RSA') members = { e: jwk.e, kty: jwk.kty, n: jwk.n };
  else if (jwk.kty === 'EC') members = { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  else throw new Error(`unsupported kty ${jwk.kty}`);
  return crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

// Returns { kid, alg, privateKey (KeyObject), privateJwk, publicJwk }.
export function generateSigningKey(alg) {
  let pair;
  if (alg === 'RS256' || alg === 'PS256') {
    pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  } else if (alg === 'ES256') {
    pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  } else {
    throw new Error(`unsupported signing alg ${alg} (supported: ${SUPPORTED_ALGS.join(', ')})`);
  }
  const priv = pair.privateKey.export({ format: 'jwk' });
  const pub = pair.publicKey.export({ format: 'jwk' });
  const kid = jwkThumbprint(pub);
  const meta = { kid, use: 'sig', alg };
  return {
    kid,
    alg,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    privateJwk: { ...meta, ...priv },
    publicJwk: { ...meta, ...pub },
  };
}

function signParams(alg, key) {
  switch (alg) {
    case 'RS256': return { hash: 'sha256', key };
    case 'PS256':
      return {
        hash: 'sha256',
        key: { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      };
    case 'ES256': return { hash: 'sha256', key: { key, dsaEncoding: 'ieee-p1363' } };
    default: throw new Error(`unsupported alg ${alg}`);
  }
}

export function signCompact(header, payload, key) {
  const input = `${b64uJson(header)}.${b64uJson(payload)}`;
  const { hash, key: k } = signParams(header.alg, key);
  const sig = crypto.sign(hash, Buffer.from(input), k);
  return `${input}.${b64u(sig)}`;
}

// Splits and decodes a compact JWS without verifying it. Throws on malformed input.
export function decodeCompact(token) {
  if (typeof token !== 'string') throw new Error('token is not a string');
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('token is not a compact JWS');
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  return {
    header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], 'base64url'),
  };
}

// Verifies a compact JWS against a list of public JWKs (kid must match, the
// alg is taken from the key, never from the token alone). Returns the decoded
// token or throws.
export function verifyCompact(token, jwks) {
  const dec = decodeCompact(token);
  const jwk = jwks.find((k) => k.kid === dec.header.kid);
  if (!jwk) throw new Error(`no key with kid ${dec.header.kid}`);
  if (jwk.alg && jwk.alg !== dec.header.alg) throw new Error('alg does not match the key');
  if (!SUPPORTED_ALGS.includes(dec.header.alg)) throw new Error(`alg ${dec.header.alg} not allowed`);
  const { use, alg, kid, key_ops: keyOps, ...material } = jwk; // eslint-disable-line no-unused-vars
  const keyObj = crypto.createPublicKey({ key: material, format: 'jwk' });
  const { hash, key } = signParams(dec.header.alg, keyObj);
  if (!crypto.verify(hash, Buffer.from(dec.signingInput), key, dec.signature)) {
    throw new Error('bad signature');
  }
  return dec;
}
