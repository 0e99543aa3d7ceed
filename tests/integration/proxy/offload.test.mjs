// Decisions that wait on the IdP run on airgate's decision threads, never on an event loop: with
// one loop (server.threads: 1) and a hung IdP (SIGSTOP: connections are accepted by the kernel,
// nothing is ever answered), a browser navigation waits for the IdP probe while bearer traffic
// on the same loop keeps flowing. Before the decision pool this loop was blocked for the whole
// probe.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { baseConfig, mintToken, startAirgate, startIdp, startUpstream } from './lib.mjs';

let idp; let up; let ag; let token;
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  ag = await startAirgate(baseConfig(idp, [up.url], {
    server: { threads: 1 },
    oidc: { http_timeout_ms: 1500 },
  }));
  token = await mintToken(idp, { username: 'op' });
});
after(async () => {
  try { idp?.proc.kill('SIGCONT'); } catch { /* already gone */ }
  const r = await ag?.stop();
  await up?.stop();
  await idp?.stop();
  if (r) assert.equal(r.code, 0, 'airgate exits 0 on SIGTERM');
});

const bearer = (path) => fetch(`${ag.url}${path}`, { headers: { authorization: `Bearer ${token}` } });

test('a hung IdP holds up the browser request that needs it, not the bearer traffic beside it', async () => {
  const warm = await bearer('/warm');
  assert.equal(warm.status, 200);
  await warm.arrayBuffer();
  idp.proc.kill('SIGSTOP');
  try {
    const events = [];
    // a navigation without credentials: airgate probes the IdP before redirecting to it
    const nav = fetch(`${ag.url}/dags`, { headers: { accept: 'text/html' }, redirect: 'manual' })
      .then(async (r) => { await r.arrayBuffer(); events.push('navigation'); return r.status; });
    await new Promise((r) => setTimeout(r, 150));
    for (let i = 0; i < 20; i++) {
      const r = await bearer(`/during/${i}`);
      assert.equal(r.status, 200);
      const e = await r.json();
      assert.equal(e.path, `/during/${i}`);
      events.push('bearer');
    }
    const status = await nav;
    // the IdP never answered: the navigation gets the "sign-in unavailable" page
    assert.equal(status, 503);
    assert.deepEqual(events.slice(0, 20), Array(20).fill('bearer'),
      `every bearer request finished while the navigation waited: ${events.join(',')}`);
    assert.ok(ag.lines.some((l) => l.includes('identity provider unreachable')), 'the probe failure is logged');
  } finally {
    idp.proc.kill('SIGCONT');
  }
});

test('a token with an unknown kid waits for the key re-fetch off the loop', async () => {
  // a valid token whose kid the key set lacks makes airgate re-fetch the JWKS; with the IdP
  // hung that fetch waits for oidc.http_timeout_ms, on a decision thread
  const [h, p, s] = token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const other = `${Buffer.from(JSON.stringify({ ...header, kid: 'rotated-away' })).toString('base64url')}.${p}.${s}`;
  idp.proc.kill('SIGSTOP');
  try {
    const events = [];
    const slow = fetch(`${ag.url}/unknown-kid`, { headers: { authorization: `Bearer ${other}` } })
      .then(async (r) => { await r.arrayBuffer(); events.push('unknown-kid'); return r.status; });
    await new Promise((r) => setTimeout(r, 150));
    for (let i = 0; i < 10; i++) {
      const r = await bearer(`/beside/${i}`);
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      events.push('bearer');
    }
    assert.equal(await slow, 401, 'the unknown kid is refused once the re-fetch gave up');
    assert.deepEqual(events.slice(0, 10), Array(10).fill('bearer'), events.join(','));
  } finally {
    idp.proc.kill('SIGCONT');
  }
});
