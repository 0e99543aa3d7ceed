#!/usr/bin/env node
// The login path with and without encrypted ID tokens (JWE), side by side in one run: one
// airgate with oidc.decryption_key_file (an RSA-2048 and an EC P-256 key made at run time) in
// front of the test IdP and an echo upstream. For each mode the IdP client is switched (plain
// JWS, RSA-OAEP + A256GCM, RSA-OAEP + A128CBC-HS256, ECDH-ES + A256GCM) and BENCH_LOGINS logins
// are made; what is timed is airgate's /oauth2/callback: the code exchange at the IdP (which
// encrypts), the decryption, the JWS checks, the role map and the sealed session cookie.
// Modes alternate in rounds. Reports the median and p90 in ms and the ratio to the plain login
// (asserts nothing).
//
//   node bench/jwe/run.mjs     (BENCH_LOGINS=40 BENCH_ROUNDS=3 BENCH_AIRGATE_BIN=build/release/airgate)
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const logins = Number(process.env.BENCH_LOGINS || 40);
const rounds = Number(process.env.BENCH_ROUNDS || 3);
const bin = path.resolve(repo, process.env.BENCH_AIRGATE_BIN || 'build/release/airgate');
if (!fs.existsSync(bin)) {
  console.error(`bench: ${bin} is missing (cmake --preset release && cmake --build --preset release)`);
  process.exit(2);
}
process.env.AG_AIRGATE_BIN = bin; // read by the test helpers below
const {
  CookieJar, browserLogin, jarFetch, startIdp, startUpstream, startGate,
} = await import('../../tests/integration/login/lib.mjs');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'airgate-bench-jwe-'));
function writeKey(name, type, opts) {
  const { privateKey } = crypto.generateKeyPairSync(type, opts);
  const file = path.join(work, name);
  fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return file;
}

const idp = await startIdp(['--test-api']);
const up = await startUpstream(['--name', 'bench']);
const gate = await startGate(idp, up, {
  oidc: { decryption_key_file: [writeKey('rsa.pem', 'rsa', { modulusLength: 2048 }), writeKey('ec.pem', 'ec', { namedCurve: 'P-256' })] },
  roles: { claims: ['resource_access.airflow.roles'], map: { airflow_admin: 'Admin' }, unmapped: 'deny' },
});
const jwks = `${gate.url}/.well-known/airgate/jwks.json`;
const MODES = [
  ['plain JWS', {}],
  ['RSA-OAEP + A256GCM', { jwks_uri: jwks, id_token_encrypted_response_alg: 'RSA-OAEP', id_token_encrypted_response_enc: 'A256GCM' }],
  ['RSA-OAEP + A128CBC-HS256', { jwks_uri: jwks, id_token_encrypted_response_alg: 'RSA-OAEP', id_token_encrypted_response_enc: 'A128CBC-HS256' }],
  ['ECDH-ES + A256GCM', { jwks_uri: jwks, id_token_encrypted_response_alg: 'ECDH-ES', id_token_encrypted_response_enc: 'A256GCM' }],
];

async function setClient(body) {
  const r = await fetch(`${idp.url}/_test/client`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (r.status !== 200) throw new Error(`IdP client settings: HTTP ${r.status} ${await r.text()}`);
}

// One login up to the callback (untimed), then the callback itself (timed).
async function oneLogin() {
  const jar = new CookieJar();
  const cb = `${gate.url}/oauth2/callback`;
  const r = await browserLogin(jar, `${gate.url}/oauth2/start?rd=/`, { username: 'admin', password: 'admin', stop: (u) => u.startsWith(cb) });
  if (!r.stopped) throw new Error(`login did not reach the callback (${r.url})`);
  const t0 = process.hrtime.bigint();
  const res = await jarFetch(jar, r.url);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await res.arrayBuffer();
  if (res.status !== 302 || !jar.header(`${gate.url}/`)) throw new Error(`callback answered ${res.status}`);
  return ms;
}

const times = new Map(MODES.map(([n]) => [n, []]));
try {
  for (let round = 0; round < rounds; round += 1) {
    for (const [name, client] of MODES) {
      await setClient(client); // eslint-disable-line no-await-in-loop
      await oneLogin(); // eslint-disable-line no-await-in-loop -- warm-up (JWKS fetch, connections)
      for (let i = 0; i < logins; i += 1) times.get(name).push(await oneLogin()); // eslint-disable-line no-await-in-loop
    }
  }
} finally {
  await gate.stop();
  await up.stop();
  await idp.stop();
  fs.rmSync(work, { recursive: true, force: true });
}

const q = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const base = q(times.get('plain JWS'), 0.5);
const rows = MODES.map(([name]) => {
  const v = times.get(name);
  return { mode: name, logins: v.length, median_ms: +q(v, 0.5).toFixed(2), p90_ms: +q(v, 0.9).toFixed(2), ratio: +(q(v, 0.5) / base).toFixed(2) };
});
console.log(`login callback (code exchange + ID token checks + session), ${logins} x ${rounds} per mode, ${path.relative(repo, bin)}`);
console.log('mode                       median ms   p90 ms   vs plain');
for (const r of rows) console.log(`${r.mode.padEnd(26)} ${String(r.median_ms).padStart(9)} ${String(r.p90_ms).padStart(8)}   x${r.ratio}`);
const out = path.join(repo, 'bench/out');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'jwe.json'), `${JSON.stringify({ logins, rounds, rows }, null, 2)}\n`);
