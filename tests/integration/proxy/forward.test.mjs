// Forwarding through `airgate serve` to a real upstream: methods, bodies, status codes, the header
// policy (identity headers in every spelling, hop-by-hop, cookies, X-Forwarded-*), the 401/403
// answers, and the size limits (431, 413).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, test } from 'node:test';

import {
  baseConfig, mintToken, rawRequest, startAirgate, startIdp, startUpstream, waitFor,
} from './lib.mjs';

let idp; let up; let ag; let token;
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  ag = await startAirgate(baseConfig(idp, [up.url], {
    server: { max_header_bytes: 8192, max_body_bytes: 1048576 },
    session: { cookie_name: '_ag' },
  }));
  token = await mintToken(idp, { username: 'admin' });
});
after(async () => {
  const r = ag && await ag.stop();
  await up?.stop();
  await idp?.stop();
  if (r) assert.equal(r.code, 0, 'airgate exits 0 on SIGTERM');
});

const auth = () => ({ authorization: `Bearer ${token}` });
// An early answer (400, 413, 431) is sent while part of the request is still unread; closing
// such a connection may make the kernel reset it before the client reads the answer. A reset
// is retried (a few times), never taken as the answer.
async function answer(head, body = null) {
  for (let i = 0; i < 5; i++) {
    try {
      return await rawRequest(ag.port, head, body);
    } catch (e) {
      if (e.code !== 'ECONNRESET') throw e;
    }
  }
  throw new Error('every attempt was reset');
}
const headerValues = (echo, name) => echo.headers
  .filter(([k]) => k.toLowerCase().replace(/_/g, '-') === name).map(([, v]) => v);

test('methods and bodies are forwarded intact', async () => {
  const body = crypto.randomBytes(300000);
  const sha = crypto.createHash('sha256').update(body).digest('hex');
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    const r = await fetch(`${ag.url}/api/v1/dags?limit=5&x=%2F`, { method, headers: { ...auth(), 'content-type': 'application/octet-stream' }, body });
    assert.equal(r.status, 200, method);
    const e = await r.json();
    assert.equal(e.method, method);
    assert.equal(e.path, '/api/v1/dags');
    assert.equal(e.query, 'limit=5&x=%2F', 'query passes raw');
    assert.equal(e.body_bytes, body.length);
    assert.equal(e.body_sha256, sha);
  }
  for (const method of ['GET', 'OPTIONS']) {
    const r = await fetch(`${ag.url}/home`, { method, headers: auth() });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).method, method);
  }
  const h = await fetch(`${ag.url}/bytes/1234`, { method: 'HEAD', headers: auth() });
  assert.equal(h.status, 200);
  assert.equal((await h.arrayBuffer()).byteLength, 0);
});

test('a chunked request body of unknown length streams through', async () => {
  const parts = [crypto.randomBytes(70000), crypto.randomBytes(5), crypto.randomBytes(100000)];
  const all = Buffer.concat(parts);
  let chunked = '';
  for (const p of parts) chunked += `${p.length.toString(16)}\r\n${p.toString('latin1')}\r\n`;
  chunked += '0\r\n\r\n';
  const r = await rawRequest(ag.port, `POST /upload HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`, Buffer.from(chunked, 'latin1'));
  assert.equal(r.status, 200);
  const bodyText = r.headers['transfer-encoding'] ? r.body.toString().replace(/^[0-9a-f]+\r\n/, '') : r.body.toString();
  const e = JSON.parse(bodyText.slice(0, bodyText.lastIndexOf('}') + 1));
  assert.equal(e.body_bytes, all.length);
  assert.equal(e.body_sha256, crypto.createHash('sha256').update(all).digest('hex'));
});

test('status codes and upstream headers come back', async () => {
  for (const code of [200, 201, 400, 404, 409, 500, 503]) {
    const r = await fetch(`${ag.url}/status/${code}`, { headers: auth() });
    assert.equal(r.status, code);
    assert.equal((await r.json()).status, code);
    assert.match(r.headers.get('x-upstream-replica'), /^replica-/);
  }
  const redirect = await fetch(`${ag.url}/status/302?location=/login/`, { headers: auth(), redirect: 'manual' });
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get('location'), '/login/');
  for (const code of [204, 304]) {
    const r = await rawRequest(ag.port, `GET /status/${code} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, code);
    assert.equal(r.body.length, 0, `${code} has no body`);
    assert.equal(r.headers['transfer-encoding'], undefined);
  }
});

test('a role name with a comma stays one entry in X-Forwarded-Groups; controls are encoded too', async () => {
  const token = await mintToken(idp, {
    username: 'viewer',
    extra_claims: {
      resource_access: { airflow: { roles: ['airflow_viewer', 'team_x,airflow_admin', '100%'] } },
      given_name: 'Zo\u00eb', family_name: 'a,b',
    },
  });
  const r = await rawRequest(ag.port, `GET /whoami HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
  assert.equal(r.status, 200);
  const e = JSON.parse(r.body.toString());
  const groups = headerValues(e, 'x-forwarded-groups');
  assert.deepEqual(groups, ['airflow_viewer,team_x%2Cairflow_admin,100%25']);
  // what a consumer splitting on commas sees: no airflow_admin entry of its own
  assert.ok(!groups[0].split(',').includes('airflow_admin'), 'a forged airflow_admin entry');
  assert.deepEqual(groups[0].split(',').map(decodeURIComponent), ['airflow_viewer', 'team_x,airflow_admin', '100%']);
  assert.deepEqual(headerValues(e, 'x-airflow-roles'), ['Viewer']);
  assert.deepEqual(headerValues(e, 'x-forwarded-last-name'), ['a%2Cb']);
  // valid UTF-8 goes through as is (Node's parser reads header bytes as latin1)
  assert.deepEqual(headerValues(e, 'x-forwarded-first-name').map((v) => Buffer.from(v, 'latin1').toString('utf8')), ['Zo\u00eb']);
});

test('identity headers a client sends never arrive, whatever the spelling', async () => {
  const spoof = [
    'X-Forwarded-User: evil', 'x-forwarded-user: evil2', 'X-FORWARDED-USER: evil3', 'X_Forwarded_User: evil4',
    'x_forwarded-user: evil5', 'X-Forwarded-Email: evil@x', 'X_FORWARDED_EMAIL: evil@y',
    'X-Forwarded-Preferred-Username: evil', 'X-Forwarded-First-Name: E', 'X-Forwarded-Last-Name: V',
    'X-Forwarded-Groups: airflow_admin', 'x_forwarded_groups: admins', 'X-Airflow-Roles: Admin', 'x_airflow_roles: Admin',
    'X-Airgate-Assertion: forged', 'x_airgate_assertion: forged', 'X-Forwarded-For: 6.6.6.6',
    'X_Forwarded_For: 6.6.6.7', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: evil.example',
    'X-Forwarded-Prefix: /evil', 'Forwarded: for=6.6.6.6', 'X-Real-IP: 6.6.6.6',
  ];
  const r = await rawRequest(ag.port, ['GET /whoami HTTP/1.1', 'Host: airflow.test', `Authorization: Bearer ${await mintToken(idp, { username: 'viewer' })}`,
    ...spoof, 'Connection: close', '', ''].join('\r\n'));
  assert.equal(r.status, 200);
  const e = JSON.parse(r.body.toString());
  assert.deepEqual(headerValues(e, 'x-forwarded-user'), ['viewer']);
  assert.deepEqual(headerValues(e, 'x-forwarded-preferred-username'), ['viewer']);
  assert.deepEqual(headerValues(e, 'x-forwarded-email'), ['viewer@example.com']);
  assert.deepEqual(headerValues(e, 'x-airflow-roles'), ['Viewer']);
  assert.deepEqual(headerValues(e, 'x-forwarded-groups'), ['airflow_viewer,viewer']);
  assert.deepEqual(headerValues(e, 'x-forwarded-for'), ['127.0.0.1'], 'built from the peer, client value dropped');
  assert.deepEqual(headerValues(e, 'x-forwarded-proto'), ['http']);
  assert.deepEqual(headerValues(e, 'x-forwarded-host'), ['airflow.test']);
  assert.deepEqual(headerValues(e, 'x-forwarded-prefix'), []);
  assert.deepEqual(headerValues(e, 'forwarded'), []);
  assert.deepEqual(headerValues(e, 'x-real-ip'), []);
  const assertion = headerValues(e, 'x-airgate-assertion');
  assert.equal(assertion.length, 1);
  assert.notEqual(assertion[0], 'forged');
  const payload = JSON.parse(Buffer.from(assertion[0].split('.')[1], 'base64url'));
  assert.equal(payload.preferred_username, 'viewer');
  for (const [k, v] of e.headers) assert.ok(!/evil|forged|6\.6\.6/.test(v), `spoofed ${k}: ${v} arrived`);
});

test('hop-by-hop headers and airgate cookies are removed, the rest passes', async () => {
  const r = await rawRequest(ag.port, ['GET /h HTTP/1.1', 'Host: a', `Authorization: Bearer ${token}`,
    'Connection: close, X-Secret-Hop', 'X-Secret-Hop: 1', 'Keep-Alive: timeout=5', 'Proxy-Authorization: Basic eA==',
    'Upgrade: websocket', 'TE: trailers', 'X-Custom: kept', 'Cookie: _ag=session; theme=dark; _ag_1=chunk; _ag_csrf=s; _agx=other',
    '', ''].join('\r\n'));
  const e = JSON.parse(r.body.toString());
  for (const h of ['x-secret-hop', 'keep-alive', 'proxy-authorization', 'upgrade', 'te']) {
    assert.deepEqual(headerValues(e, h), [], `${h} removed`);
  }
  assert.deepEqual(headerValues(e, 'x-custom'), ['kept']);
  assert.deepEqual(headerValues(e, 'cookie'), ['theme=dark; _agx=other']);
  assert.deepEqual(headerValues(e, 'authorization'), [`Bearer ${token}`]);
});

test('X-Forwarded-For is appended only from trusted proxies', async () => {
  const ag2 = await startAirgate(baseConfig(idp, [up.url], { trusted_proxies: ['127.0.0.0/8'] }));
  try {
    const r = await rawRequest(ag2.port, ['GET /t HTTP/1.1', 'Host: inner', `Authorization: Bearer ${token}`,
      'X-Forwarded-For: 203.0.113.7', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: airflow.example.com', 'Connection: close', '', ''].join('\r\n'));
    const e = JSON.parse(r.body.toString());
    assert.deepEqual(headerValues(e, 'x-forwarded-for'), ['203.0.113.7, 127.0.0.1']);
    assert.deepEqual(headerValues(e, 'x-forwarded-proto'), ['https']);
    assert.deepEqual(headerValues(e, 'x-forwarded-host'), ['airflow.example.com']);
  } finally {
    assert.equal((await ag2.stop()).code, 0);
  }
});

test('no credentials: 401 JSON with WWW-Authenticate; bad token 401; no role 403', async () => {
  const r = await fetch(`${ag.url}/api/v1/dags`);
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /^Bearer/);
  assert.equal((await r.json()).error, 'unauthorized');
  const bad = await fetch(`${ag.url}/api/v1/dags`, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get('www-authenticate'), /error="invalid_token"/);
  const expired = await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${await mintToken(idp, { username: 'admin', ttl: -600 })}` } });
  assert.equal(expired.status, 401);
  const garbage = await fetch(`${ag.url}/x`, { headers: { authorization: 'Bearer not.a.jwt' } });
  assert.equal(garbage.status, 401);
  const norole = await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${await mintToken(idp, { username: 'norole' })}` } });
  assert.equal(norole.status, 403);
  assert.equal((await norole.json()).user, 'norole');
  const page = await fetch(`${ag.url}/x`, { headers: { accept: 'text/html', authorization: `Bearer ${await mintToken(idp, { username: 'norole' })}` } });
  assert.equal(page.status, 403);
  assert.match(await page.text(), /norole[\s\S]*airflow_admin/);
});

test('oversized head gets 431, oversized bodies 413 (declared and streamed)', async () => {
  const big = await answer(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20000)}\r\nConnection: close\r\n\r\n`);
  assert.equal(big.status, 431);
  const declared = await answer(`POST /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n`);
  assert.equal(declared.status, 413);
  assert.equal(JSON.parse(declared.body.toString()).error, 'payload_too_large');
  const chunk = Buffer.alloc(65536, 0x61);
  let streamed = '';
  for (let i = 0; i < 20; i++) streamed += `10000\r\n${chunk.toString('latin1')}\r\n`;
  streamed += '0\r\n\r\n';
  const r = await answer(`POST /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`, Buffer.from(streamed, 'latin1'));
  assert.equal(r.status, 413);
});

test('own endpoints: healthz, readyz, assertion JWKS; metrics on the management port', async () => {
  assert.equal((await fetch(`${ag.url}/healthz`)).status, 200);
  const ready = await fetch(`${ag.url}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { ready: true, keys_loaded: true, healthy_upstreams: 1, draining: false });
  const m = await (await fetch(`${ag.mgmtUrl}/metrics`)).text();
  assert.match(m, /airgate_requests_total\{route="proxy",status="200"\} \d+/);
  assert.match(m, /airgate_requests_total\{route="proxy",status="401"\} \d+/);
  assert.match(m, /airgate_upstream_latency_seconds_count [1-9]\d*/);
  assert.match(m, new RegExp(`airgate_upstream_healthy\\{upstream="127.0.0.1:${up.info.port}"\\} 1`));
  assert.match(m, /airgate_jwks_refresh_total [1-9]/);
  assert.match(m, /airgate_auth_decisions_total\{decision="allow"\} [1-9]/);
  assert.match(m, /airgate_auth_decisions_total\{decision="deny"\} [1-9]/);
  const jwks = await fetch(`${ag.url}/.well-known/airgate/jwks.json`);
  assert.equal(jwks.status, 200);
  assert.equal((await jwks.json()).keys[0].kty, 'EC');
  assert.equal((await fetch(`${ag.url}/healthz`, { method: 'POST' })).status, 405);
  // /metrics and /statusz are on the management listener only
  assert.equal((await fetch(`${ag.url}/metrics`)).status, 404);
  assert.equal((await fetch(`${ag.url}/statusz`)).status, 404);
});

test('access log: one JSON line per request, path without the query', async () => {
  await (await fetch(`${ag.url}/logcheck?code=SECRETCODE`, { headers: auth() })).arrayBuffer();
  const find = () => ag.lines.map((l) => { try { return JSON.parse(l); } catch { return null; } })
    .find((j) => j && j.msg === 'request' && j.path === '/logcheck');
  const line = await waitFor(find, { timeoutMs: 3000 });
  assert.equal(line.user, 'admin');
  assert.equal(line.roles, 'Admin');
  assert.equal(line.status, 200);
  assert.match(line.request_id, /^[0-9a-f]{16}$/);
  assert.match(line.upstream, /^127\.0\.0\.1:\d+$/);
  assert.ok(line.latency_us > 0);
  assert.ok(!ag.lines.some((l) => l.includes('SECRETCODE')), 'query never logged');
  assert.ok(!ag.lines.some((l) => l.includes(token.split('.')[2])), 'token never logged');
});

test('ambiguous or malformed framing is refused, never passed on', async () => {
  const head = (extra) => `POST /x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\n${extra}Connection: close\r\n\r\n`;
  const twoLengths = await answer(head('Content-Length: 5\r\nContent-Length: 6\r\n'), 'hello!');
  assert.equal(twoLengths.status, 400);
  const negative = await answer(head('Content-Length: -1\r\n'));
  assert.equal(negative.status, 400);
  const control = await answer(head('X-A: b\x01c\r\nContent-Length: 0\r\n'));
  assert.equal(control.status, 400);
  // Content-Length beside Transfer-Encoding is the classic smuggling shape (RFC 9112 6.1
  // allows refusing it): refused, and the connection closes
  const both = await answer(head('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n'), '0\r\n\r\n');
  assert.equal(both.status, 400);
  // chunked alone is forwarded, with framing airgate made
  const chunked = await answer(head('Transfer-Encoding: chunked\r\n'), '5\r\nhello\r\n0\r\n\r\n');
  assert.equal(chunked.status, 200);
  const e = JSON.parse(chunked.body.toString());
  assert.equal(e.body_bytes, 5);
  assert.deepEqual(headerValues(e, 'content-length').concat(headerValues(e, 'transfer-encoding')).length, 1);
});

test('airgate\'s own answers carry each security header once', async () => {
  const count = (raw, name) => raw.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name}:`)).length;
  const noCreds = await answer('GET /api/x HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\nConnection: close\r\n\r\n');
  assert.equal(noCreds.status, 401);
  assert.equal(count(noCreds.rawHead, 'x-content-type-options'), 1, noCreds.rawHead);
  assert.equal(count(noCreds.rawHead, 'cache-control'), 1, noCreds.rawHead);
  const notFound = await answer('GET /oauth2/nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(notFound.status, 404);
  assert.equal(count(notFound.rawHead, 'x-content-type-options'), 1, notFound.rawHead);
});

test('/metrics has airgate_build_info and the standard process_* metrics', async () => {
  const text = await (await fetch(`http://127.0.0.1:${ag.mgmtPort}/metrics`)).text();
  const version = /airgate_build_info\{version="([^"]+)"\} 1\n/.exec(text);
  assert.ok(version, text);
  const v = (name) => Number(new RegExp(`\\n${name} ([0-9.e+]+)\\n`).exec(text)?.[1]);
  assert.ok(v('process_resident_memory_bytes') > 1e6, 'RSS in bytes');
  assert.ok(v('process_open_fds') >= 3);
  assert.ok(v('process_max_fds') >= v('process_open_fds'));
  assert.ok(v('process_cpu_seconds_total') >= 0);
  const start = v('process_start_time_seconds');
  const now = Date.now() / 1000;
  assert.ok(start > now - 600 && start <= now + 1, `start time ${start} vs now ${now}`);
});
