// The per-loop session-cookie decision cache: a cookie's decision is reused for the very same
// sealed cookie only while the session would still be allowed. Every request below goes over a
// new connection, so both event loops see (and cache) the cookie.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import {
  CookieJar, jarFetch, startIdp, startUpstream, startGate, signIn, cloneJar,
} from './lib.mjs';

let idp;
let up;
let gate;

before(async () => {
  idp = await startIdp(['--test-api', '--access-ttl', '3600']);
  up = await startUpstream();
  gate = await startGate(idp, up);
});

after(async () => {
  await gate?.stop();
  await up?.stop();
  await idp?.stop();
});

// One GET over a fresh connection with exactly this Cookie header: { status, user }.
function get(cookie, path = '/echo/api') {
  return new Promise((resolve, reject) => {
    const u = new URL(`${gate.url}${path}`);
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname, agent: false,
      headers: { cookie, accept: 'application/json' },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        let user;
        try {
          user = JSON.parse(body).headers?.find(([k]) => k.toLowerCase() === 'x-forwarded-user')?.[1];
        } catch { /* not the echo */ }
        resolve({ status: res.statusCode, user, setCookie: res.headers['set-cookie'] });
      });
    });
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const header = (jar) => [...jar.cookies.values()].filter((c) => c.name.startsWith('_airgate') && c.value).map((c) => `${c.name}=${c.value}`).join('; ');

test('a signed-out cookie is refused at once although its decision was cached on every loop', async () => {
  const jar = new CookieJar();
  await signIn(gate, jar, 'admin', '/echo/x');
  const saved = header(cloneJar(jar));
  assert.ok(saved.includes('_airgate='));
  for (let i = 0; i < 24; i += 1) {
    const r = await get(saved); // eslint-disable-line no-await-in-loop
    assert.equal(r.status, 200);
    assert.equal(r.user, 'admin');
  }
  const lo = await jarFetch(jar, `${gate.url}/logout/`);
  assert.equal(lo.status, 302);
  for (let i = 0; i < 24; i += 1) {
    const r = await get(saved); // eslint-disable-line no-await-in-loop
    assert.equal(r.status, 401, `request ${i} after sign-out: HTTP ${r.status}`);
    assert.equal(r.user, undefined);
  }
});

test('a cached decision is only for the same sealed cookie: another user\'s cookie, a changed byte', async () => {
  const a = new CookieJar();
  const b = new CookieJar();
  await signIn(gate, a, 'admin', '/echo/x');
  await signIn(gate, b, 'user', '/echo/x');
  const ca = header(a);
  const cb = header(b);
  for (let i = 0; i < 8; i += 1) {
    assert.equal((await get(ca)).user, 'admin'); // eslint-disable-line no-await-in-loop
    assert.equal((await get(cb)).user, 'user'); // eslint-disable-line no-await-in-loop
  }
  // the last characters (the GCM tag, where the cache's slot hash looks) changed
  const last = ca.at(-1);
  const tampered = ca.slice(0, -1) + (last === 'A' ? 'B' : 'A');
  for (let i = 0; i < 8; i += 1) {
    const r = await get(tampered); // eslint-disable-line no-await-in-loop
    assert.equal(r.status, 401);
    assert.equal(r.user, undefined);
  }
  assert.equal((await get(ca)).user, 'admin');
});
