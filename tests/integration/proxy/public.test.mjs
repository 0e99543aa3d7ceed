// public_routes through `airgate serve`: a matched [METHOD=]regex is forwarded without sign-in
// and without identity (a client's identity headers and Authorization still dropped); another
// method, a near-miss path or an ambiguous spelling of the path still needs credentials.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  baseConfig, mintToken, rawRequest, startAirgate, startIdp, startUpstream,
} from './lib.mjs';

let idp; let up; let ag;
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  ag = await startAirgate(baseConfig(idp, [up.url], {
    public_routes: ['GET=^/api/v2/monitor/health$', 'HEAD=^/api/v2/monitor/health$', '^/static/'],
  }));
});
after(async () => {
  const r = ag && await ag.stop();
  await up?.stop();
  await idp?.stop();
  if (r) assert.equal(r.code, 0, 'airgate exits 0 on SIGTERM');
});

const headerValues = (echo, name) => echo.headers
  .filter(([k]) => k.toLowerCase().replace(/_/g, '-') === name).map(([, v]) => v);

test('a matched GET is forwarded without sign-in and without identity', async () => {
  const r = await rawRequest(ag.port, ['GET /api/v2/monitor/health?x=1 HTTP/1.1', 'Host: airflow.test',
    'X-Forwarded-User: evil', 'X-Airflow-Roles: Admin', 'X-Airgate-Assertion: forged',
    'Authorization: Basic YWRtaW46YWRtaW4=', 'Connection: close', '', ''].join('\r\n'));
  assert.equal(r.status, 200);
  const e = JSON.parse(r.body.toString());
  assert.equal(e.path, '/api/v2/monitor/health');
  assert.equal(e.query, 'x=1');
  for (const h of ['x-forwarded-user', 'x-airflow-roles', 'x-airgate-assertion', 'x-forwarded-email', 'authorization']) {
    assert.deepEqual(headerValues(e, h), [], `${h} must not reach the upstream of a public route`);
  }
  assert.deepEqual(headerValues(e, 'x-forwarded-for'), ['127.0.0.1']);
});

test('a valid bearer token on a public route still gives no identity', async () => {
  const token = await mintToken(idp, { username: 'admin' });
  for (let i = 0; i < 2; i++) { // the second one would come from the bearer cache
    const r = await fetch(`${ag.url}/api/v2/monitor/health`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    const e = await r.json();
    assert.deepEqual(headerValues(e, 'x-forwarded-user'), []);
    assert.deepEqual(headerValues(e, 'authorization'), []);
  }
});

test('POST to the same path is not public', async () => {
  const r = await fetch(`${ag.url}/api/v2/monitor/health`, { method: 'POST', headers: { accept: 'application/json' }, body: 'x' });
  assert.equal(r.status, 401);
});

test('near-misses are not public', async () => {
  const m = '/api/v2/monitor/health';
  for (const p of [`${m}z`, `${m}/`, `/x${m}`, m.toUpperCase(), `${m}/../../v1/dags`, '/api/v2/monitor/%68ealth',
    '/static', '/x/static/a.js', '/static/../api/v1/dags', '/static/%2e%2e/api/v1/dags', '/static/./a']) {
    const r = await rawRequest(ag.port, [`GET ${p} HTTP/1.1`, 'Host: a', 'Accept: application/json', 'Connection: close', '', ''].join('\r\n'));
    assert.equal(r.status, 401, `${p} must need credentials`);
  }
});

test('a route without a method is public for every method; a navigation is not redirected', async () => {
  const r = await fetch(`${ag.url}/static/app.js`, { method: 'POST', body: 'x' });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).path, '/static/app.js');
  const n = await fetch(`${ag.url}/static/index.html`, { headers: { accept: 'text/html' }, redirect: 'manual' });
  assert.equal(n.status, 200, 'no login redirect');
  const h = await fetch(`${ag.url}/api/v2/monitor/health`, { method: 'HEAD' });
  assert.equal(h.status, 200);
});
