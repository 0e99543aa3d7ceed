// The IdP hung (accepts TCP, never answers: SIGSTOP): refresh-due sessions are served at once,
// fresh sessions and bystanders are unaffected by any number of parked expired sessions, login
// starts get the 503 page, the circuit breaker opens and closes, and a session whose access
// token expires while the IdP is still hung ends (the documented rule).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';

import { CookieJar, jarFetch, startIdp, startUpstream, startGate, signIn, echo, sleep, NAV, API } from './lib.mjs';

const ACCESS_TTL = 10; // seconds
const BEFORE = 8; // refresh due 2 s after sign-in
const HTTP_MS = 1500; // oidc.http_timeout_ms
const started = [];
let idpProc;
after(async () => {
  if (idpProc) idpProc.kill('SIGCONT');
  for (const s of started.reverse()) await s.stop(); // eslint-disable-line no-await-in-loop
});

async function timed(fn) {
  const t0 = performance.now();
  const r = await fn();
  return { r, ms: Math.round(performance.now() - t0) };
}

// /statusz names the breaker's state too (the management listener)
async function statuszCircuit(gate) {
  const doc = await (await fetch(`${gate.mgmtUrl}/statusz`)).json();
  return doc.key_sets.find((k) => k.name === 'idp')?.circuit;
}

async function circuit(gate) {
  const m = await (await fetch(`${gate.mgmtUrl}/metrics`)).text(); // the management listener
  const line = m.split('\n').find((l) => l.startsWith('airgate_idp_circuit_state '));
  return line ? Number(line.split(' ')[1]) : undefined;
}

test('IdP hung: due refreshes do not wait, bystanders are unaffected, login start says 503', async () => {
  const idp = await startIdp(['--test-api', '--access-ttl', String(ACCESS_TTL)]);
  const up = await startUpstream();
  const gate = await startGate(idp, up, {
    session: { cookie_secret: 'an-integration-test-secret-of-32+bytes!', refresh_before_s: BEFORE },
    oidc: { http_timeout_ms: HTTP_MS },
    log: { level: 'info' },
  });
  started.push(idp, up, gate);
  idpProc = idp.proc;
  // six sessions that will have expired when the IdP hangs (more than the 4 decision threads)
  const expiring = [];
  for (let i = 0; i < 6; i += 1) {
    const j = new CookieJar();
    await signIn(gate, j, 'viewer', '/echo/x'); // eslint-disable-line no-await-in-loop
    expiring.push(j);
  }
  const expiredAt = Date.now() + ACCESS_TTL * 1000 + 1100;
  await sleep(3000);
  const due = new CookieJar();
  await signIn(gate, due, 'op', '/echo/x'); // due 2 s later, expires 10 s later
  const dueExpiresAt = Date.now() + ACCESS_TTL * 1000 + 1100;
  await sleep(Math.max(0, expiredAt - Date.now() - 1500));
  const fresh = new CookieJar();
  await signIn(gate, fresh, 'admin', '/echo/x'); // needs no refresh for 2 s
  assert.equal(await circuit(gate), 0);
  assert.equal(await statuszCircuit(gate), 'closed');
  await sleep(Math.max(0, expiredAt - Date.now()));

  idp.proc.kill('SIGSTOP');
  const figures = {};
  // the expired sessions all wait for their refresh at once (parked: no decision thread held) ...
  const parked = Promise.all(expiring.map((j) => timed(() => jarFetch(j, `${gate.url}/echo/e`, { headers: API }))));
  await sleep(100);
  // ... while a bystander (the fresh session) and a refresh-due session are served at once,
  // and the due one again at its next request
  const by = [];
  for (let i = 0; i < 5; i += 1) by.push((await timed(() => echo(gate, fresh))).ms); // eslint-disable-line no-await-in-loop
  assert.ok(Math.max(...by) < 1000, `bystander: ${by}`);
  figures.bystander_max = Math.max(...by);
  for (const k of ['due1', 'due2', 'due3']) {
    const { r, ms } = await timed(() => echo(gate, due)); // eslint-disable-line no-await-in-loop
    assert.equal(r.status, 200, k);
    assert.ok(ms < 1000, `${k}: ${ms} ms`);
    figures[k] = ms;
  }
  // the expired ones end within the bound (401 for XHR): the IdP cannot refresh them
  const ends = await parked;
  for (const e of ends) {
    assert.equal(e.r.status, 401);
    assert.ok(e.ms < 2 * HTTP_MS + 1000, `expired session answered in ${e.ms} ms`);
  }
  figures.expired_parked_max = Math.max(...ends.map((e) => e.ms));

  // login start: the 503 page (probe timeout, then the open circuit), never a redirect into it
  let start;
  for (let i = 0; i < 10; i += 1) {
    start = await timed(() => jarFetch(new CookieJar(), `${gate.url}/oauth2/start?rd=/x`, { headers: NAV })); // eslint-disable-line no-await-in-loop
    if (start.r.status === 503) break;
    await sleep(300); // eslint-disable-line no-await-in-loop
  }
  assert.equal(start.r.status, 503);
  figures.login_start_503 = start.ms;

  // the circuit opens after repeated timeouts
  for (let i = 0; i < 40 && (await circuit(gate)) !== 1; i += 1) {
    await echo(gate, due); // eslint-disable-line no-await-in-loop
    await sleep(500); // eslint-disable-line no-await-in-loop
  }
  assert.equal(await circuit(gate), 1, 'circuit open');
  assert.equal(await statuszCircuit(gate), 'open');
  assert.ok(gate.lines.some((l) => l.includes('idp circuit: open')), 'a log line on opening');
  const open = await timed(() => jarFetch(new CookieJar(), `${gate.url}/oauth2/start?rd=/x`, { headers: NAV }));
  assert.equal(open.r.status, 503);
  assert.ok(open.ms < 500, `login start with the circuit open: ${open.ms} ms`);
  figures.login_start_open = open.ms;
  // a refresh-due session (the fresh one is due by now) is served without calling the IdP
  const d = await timed(() => echo(gate, fresh));
  assert.equal(d.r.status, 200);
  figures.due_circuit_open = d.ms;

  // IdP down longer than the token: once it has expired, the session ends at once
  await sleep(Math.max(0, dueExpiresAt - Date.now()));
  const end = await timed(() => jarFetch(due, `${gate.url}/echo/e`, { headers: API }));
  assert.equal(end.r.status, 401);
  figures.expired_circuit_open = end.ms;
  const nav = await jarFetch(expiring[0], `${gate.url}/echo/e`, { headers: NAV });
  assert.equal(nav.status, 503, 'a navigation of an ended session gets the 503 page');

  // the IdP comes back: one probe closes the circuit, login starts redirect again
  idp.proc.kill('SIGCONT');
  let st;
  for (let i = 0; i < 60; i += 1) {
    st = await jarFetch(new CookieJar(), `${gate.url}/oauth2/start?rd=/x`, { headers: NAV }); // eslint-disable-line no-await-in-loop
    if (st.status === 302) break;
    await sleep(500); // eslint-disable-line no-await-in-loop
  }
  assert.equal(st.status, 302);
  assert.equal(await circuit(gate), 0);
  assert.ok(gate.lines.some((l) => l.includes('idp circuit: closed')));
  console.log(`# figures (ms): ${JSON.stringify(figures)}`);
});
