// A dead or broken IdP and dead or slow replicas, against `airgate serve`: it keeps serving what
// it can, /readyz says what is missing, answers are clear (502/503/504 JSON or a page), logs say
// why, and it recovers when the IdP comes back. The IdP sits behind a switchable front
// (idpfront.mjs) that can drop, hang, or answer garbage for discovery, JWKS and token requests.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { baseConfig, mintToken, startAirgate, startUpstream, sleep, waitFor } from '../proxy/lib.mjs';
import { CookieJar, browserLogin, freePort, jarFetch } from '../login/lib.mjs';
import { startIdpFront } from './idpfront.mjs';
import { answer, jsonLines } from './lib.mjs';

let up;
before(async () => { up = await startUpstream(); });
after(async () => { await up?.stop(); });

const cfgFor = async (front, extra = {}) => {
  const port = await freePort();
  const c = baseConfig({ info: { issuer: front.issuer } }, [up.url], { listen: `127.0.0.1:${port}`, public_url: `http://127.0.0.1:${port}`, ...extra });
  c.oidc = { ...c.oidc, issuer: front.issuer, client_secret: front.idp?.info.client_secret || 'x', http_timeout_ms: 500, jwks_min_refetch_s: 1, ...(extra.oidc || {}) };
  return c;
};
const readyz = async (ag) => { const r = await fetch(`${ag.url}/readyz`); return { status: r.status, json: await r.json() }; };
const warnings = (ag) => jsonLines(ag.lines).filter((j) => j.level === 'warn' || j.level === 'error').map((j) => j.msg);

test('IdP dead at start: airgate serves, says why, and is ready soon after the IdP comes back', async () => {
  const front = await startIdpFront();
  const ag = await startAirgate(await cfgFor(front));
  try {
    const r = await readyz(ag);
    assert.equal(r.status, 503);
    assert.equal(r.json.keys_loaded, false);
    assert.equal((await fetch(`${ag.url}/healthz`)).status, 200, 'alive while unready');
    const api = await fetch(`${ag.url}/x`, { headers: { authorization: 'Bearer a.b.c' } });
    assert.equal(api.status, 503);
    assert.equal((await api.json()).error, 'temporarily_unavailable');
    const nav = await fetch(`${ag.url}/x`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    assert.equal(nav.status, 503);
    assert.match(await nav.text(), /unavailable/i);
    // no login starts while no keys are loaded: /oauth2/start is the 503 page, not a redirect
    const start = await fetch(`${ag.url}/oauth2/start?rd=/x`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    assert.equal(start.status, 503, 'login started without keys');
    assert.equal(start.headers.get('location'), null);
    assert.match(await start.text(), /unavailable/i);
    assert.ok(warnings(ag).some((m) => m.includes(front.issuer) && /discovery/.test(m)), 'the log names the failing discovery URL');
    // stay down long enough that a doubling retry (1, 2, 4, 8 s) would be waiting past the return
    await sleep(7500);
    await front.startIdp();
    const back = Date.now();
    await waitFor(async () => (await readyz(ag)).status === 200, { timeoutMs: 6000, stepMs: 200 });
    assert.ok(Date.now() - back < 3000, `ready ${Date.now() - back} ms after the IdP came back (re-fetch window 1 s)`);
    const t = await mintToken(front.idp, { username: 'admin' });
    assert.equal((await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${t}` } })).status, 200);
  } finally {
    assert.equal((await ag.stop()).code, 0);
    await front.stop();
  }
});

test('garbage, errors and hangs from discovery and JWKS at start: unready with a clear log, never a crash', async () => {
  const front = await startIdpFront();
  await front.startIdp();
  try {
    for (const [kind, m] of [['discovery', 'garbage'], ['discovery', 'hang'], ['jwks', 'wrongshape'], ['jwks', 'huge']]) {
      front.mode[kind] = m;
      const ag = await startAirgate(await cfgFor(front));
      try {
        const r = await readyz(ag);
        assert.equal(r.status, 503, `${kind} ${m}`);
        assert.equal(r.json.keys_loaded, false);
        const w = warnings(ag);
        assert.ok(w.some((x) => /jwks|discovery|keys/.test(x)), `${kind} ${m}: log explains (${w.join(' | ')})`);
        const api = await fetch(`${ag.url}/x`, { headers: { authorization: 'Bearer a.b.c' } });
        assert.equal(api.status, 503, `${kind} ${m}`);
        front.mode[kind] = 'pass';
        await waitFor(async () => (await readyz(ag)).status === 200, { timeoutMs: 6000, stepMs: 200 });
      } finally {
        front.mode[kind] = 'pass';
        assert.equal((await ag.stop()).code, 0, `${kind} ${m}: clean exit`);
      }
    }
  } finally {
    await front.stop();
  }
});

test('IdP dying mid-run: known keys keep working, unknown kids 401, logins a clear 503, token garbage a clear page', async () => {
  const front = await startIdpFront();
  await front.startIdp();
  const ag = await startAirgate(await cfgFor(front));
  try {
    await waitFor(async () => (await readyz(ag)).status === 200);
    const t = await mintToken(front.idp, { username: 'admin' });
    // a login whose token exchange gets garbage, an error, a hang
    for (const m of ['garbage', 'wrongshape', 'error', 'hang', 'dead']) {
      front.mode.token = m;
      const jar = new CookieJar();
      const r = await browserLogin(jar, `${ag.url}/oauth2/start?rd=/x`, { username: 'admin', password: 'admin', stop: (u) => u.startsWith(`${ag.url}/oauth2/callback`) });
      assert.ok(r.stopped);
      const cb = await jarFetch(jar, r.url, { headers: { accept: 'text/html' } });
      // unreachable, 5xx or hanging: 503 "try again"; an unreadable 200: the sign-in failed page (400)
      assert.ok([400, 502, 503, 504].includes(cb.status), `token ${m}: callback ${cb.status}`);
      assert.match(cb.headers.get('content-type'), /text\/html/);
      assert.match(await cb.text(), /oauth2\/start/, `token ${m}: the page offers a new sign-in`);
      assert.ok(!jar.get('_airgate'), `token ${m}: no session`);
    }
    front.mode.token = 'pass';
    assert.ok(warnings(ag).filter((w) => /code exchange/.test(w)).length >= 5, 'each failed exchange is logged');
    front.mode.all = 'dead';
    assert.equal((await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${t}` } })).status, 200, 'known key still verifies');
    const [h, p, s] = t.split('.');
    const other = `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h, 'base64url')), kid: 'rotated-away' })).toString('base64url')}.${p}.${s}`;
    const u = await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${other}` } });
    assert.equal(u.status, 401, 'unknown kid while the IdP is down');
    assert.equal((await readyz(ag)).status, 200, 'still ready: the last good keys are kept');
    const nav = await fetch(`${ag.url}/y`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    assert.ok([302, 503].includes(nav.status), `navigation while the IdP is down: ${nav.status}`);
    // garbage JWKS on a re-fetch keeps the keys too
    front.mode.all = null;
    front.mode.jwks = 'garbage';
    await sleep(1100);
    await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${other}` } });
    assert.equal((await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${t}` } })).status, 200);
    assert.equal(ag.proc.exitCode, null);
  } finally {
    assert.equal((await ag.stop()).code, 0);
    await front.stop();
  }
});

test('replicas: dead at start 503, slow 504, dropping 502, each a JSON body naming the problem', async () => {
  const front = await startIdpFront();
  await front.startIdp();
  const dead = await startUpstream();
  // The stopped replica's port, but on 127.0.0.2: other tests running in parallel bind
  // 127.0.0.1 port 0 and may be handed the freed port, which made the "dead" replica alive.
  const deadUrl = dead.url.replace('//127.0.0.1:', '//127.0.0.2:');
  await dead.stop();
  const c = await cfgFor(front, { upstreams: { servers: [deadUrl], health_interval_s: 1, rise: 1, fall: 1, connect_timeout_ms: 300, response_timeout_s: 1 } });
  const ag = await startAirgate(c);
  try {
    await waitFor(async () => (await readyz(ag)).json.keys_loaded);
    const r = await readyz(ag);
    assert.equal(r.status, 503);
    assert.equal(r.json.healthy_upstreams, 0);
    const t = await mintToken(front.idp, { username: 'admin' });
    const x = await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${t}` } });
    assert.ok([502, 503].includes(x.status), `dead replica: ${x.status}`);
    assert.equal(typeof (await x.json()).error, 'string');
    // a live replica under the same airgate: slow and dropping answers
    const ag2 = await startAirgate(await cfgFor(front, { upstreams: { servers: [up.url], health_interval_s: 1, rise: 1, fall: 1, connect_timeout_ms: 300, response_timeout_s: 1 } }));
    try {
      await waitFor(async () => (await readyz(ag2)).status === 200);
      const slow = await fetch(`${ag2.url}/delay?ms=3000`, { headers: { authorization: `Bearer ${t}` } });
      assert.equal(slow.status, 504);
      assert.equal(typeof (await slow.json()).error, 'string');
      const drop = await answer(ag2.port, `POST /_test/drop HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${t}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      assert.equal(drop.status, 502);
      assert.equal(typeof JSON.parse(drop.body.toString()).error, 'string');
      assert.ok(warnings(ag2).length + jsonLines(ag2.lines).filter((j) => j.status === 504 || j.status === 502).length > 0, 'logged');
    } finally {
      assert.equal((await ag2.stop()).code, 0);
    }
  } finally {
    assert.equal((await ag.stop()).code, 0);
    await front.stop();
  }
});
