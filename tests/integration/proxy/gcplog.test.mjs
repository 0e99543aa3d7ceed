// log.format gcp through `airgate serve`: every line airgate writes is one JSON object with Cloud
// Logging's fields (severity, message, time); access lines carry httpRequest and, with
// log.gcp_project_id set, the trace from X-Cloud-Trace-Context. Read from the real stderr.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  baseConfig, mintToken, rawRequest, startAirgate, startIdp, startUpstream, waitFor,
} from './lib.mjs';

const PROJECT = 'airgate-test-1';
const TRACE = '105445aa7843bc8bf206b12000100000';
let idp; let up; let ag;
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
  ag = await startAirgate(baseConfig(idp, [up.url], {
    log: { level: 'info', format: 'gcp', gcp_project_id: PROJECT },
    public_routes: ['GET=^/health$'],
  }));
  await waitFor(async () => (await fetch(`${ag.url}/readyz`)).status === 200);
});
after(async () => {
  const r = ag && await ag.stop();
  await up?.stop();
  await idp?.stop();
  if (r) assert.equal(r.code, 0, 'airgate exits 0 on SIGTERM');
});

const parsed = () => ag.lines.map((l) => {
  try { return JSON.parse(l); } catch { assert.fail(`not one JSON object per line: ${l}`); }
  return null;
});

// The access line of the request whose path is `path` (waits for it: it is written at the end).
async function accessLine(path) {
  let found;
  await waitFor(() => {
    found = parsed().find((j) => j.httpRequest?.requestUrl === path);
    return Boolean(found);
  });
  return found;
}

test('every line is a Cloud Logging structured entry', () => {
  const all = parsed();
  assert.ok(all.length >= 2, 'airgate logged its start');
  for (const j of all) {
    assert.ok(['DEBUG', 'INFO', 'WARNING', 'ERROR'].includes(j.severity), JSON.stringify(j));
    assert.equal(typeof j.message, 'string');
    assert.match(j.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(j.level, undefined);
    assert.equal(j.msg, undefined);
  }
  assert.ok(all.some((j) => j.message.startsWith('listening on') && j.severity === 'INFO'));
});

test('an access line has httpRequest and the trace of X-Cloud-Trace-Context', async () => {
  const r = await rawRequest(ag.port, ['GET /health?code=secret-code HTTP/1.1', 'Host: airflow.test',
    'User-Agent: GoogleHC/1.0', `X-Cloud-Trace-Context: ${TRACE}/12345;o=1`, 'Connection: close', '', ''].join('\r\n'));
  assert.equal(r.status, 200);
  const j = await accessLine('/health');
  assert.equal(j.severity, 'INFO');
  assert.equal(j.message, 'request');
  const h = j.httpRequest;
  assert.equal(h.requestMethod, 'GET');
  assert.equal(h.requestUrl, '/health', 'the path only, never the query');
  assert.equal(h.status, 200);
  assert.equal(h.responseSize, String(r.body.length), 'the body bytes sent');
  assert.match(h.latency, /^\d+\.\d{6}s$/);
  assert.ok(Number(h.latency.slice(0, -1)) < 10);
  assert.equal(h.remoteIp, '127.0.0.1');
  assert.equal(h.userAgent, 'GoogleHC/1.0');
  assert.equal(j['logging.googleapis.com/trace'], `projects/${PROJECT}/traces/${TRACE}`);
  assert.equal(j['logging.googleapis.com/spanId'], (12345).toString(16).padStart(16, '0'));
  assert.equal(j['logging.googleapis.com/trace_sampled'], true);
  assert.equal(typeof j.request_id, 'string');
  assert.equal(j.outcome, 'ok');
  for (const k of ['method', 'path', 'client', 'status', 'bytes', 'latency_us']) assert.equal(j[k], undefined, k);
  assert.ok(!ag.lines.some((l) => l.includes('secret-code')), 'the query never reaches the log');
});

test('a signed-in request names the user; no header, no trace; a forged header is ignored', async () => {
  const token = await mintToken(idp, { username: 'admin' });
  const r1 = await fetch(`${ag.url}/signed-in`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r1.status, 200);
  await r1.arrayBuffer();
  const j1 = await accessLine('/signed-in');
  assert.equal(j1.httpRequest.status, 200);
  assert.equal(j1.user, 'admin');
  assert.equal(j1['logging.googleapis.com/trace'], undefined);

  const r2 = await rawRequest(ag.port, ['GET /forged HTTP/1.1', 'Host: airflow.test', 'Accept: application/json',
    `X-Cloud-Trace-Context: ${TRACE}/1;o=1","severity":"ERROR`, 'Connection: close', '', ''].join('\r\n'));
  assert.equal(r2.status, 401);
  const j2 = await accessLine('/forged');
  assert.equal(j2.severity, 'INFO');
  assert.equal(j2.httpRequest.status, 401);
  assert.equal(j2['logging.googleapis.com/trace'], undefined);
  assert.equal(j2.httpRequest.userAgent, undefined);
});
