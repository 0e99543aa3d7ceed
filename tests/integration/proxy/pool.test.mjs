// The upstream pool under failure: a replica killed mid-load costs no idempotent request;
// all replicas down gives 503 and /readyz 503; a replica that comes back gets traffic again;
// keep-alive connections the replica closes while idle are handled without a busy loop.
import fs from 'node:fs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { baseConfig, mintToken, startAirgate, startIdp, startUpstream, sleep, waitFor } from './lib.mjs';

let idp; let token;
before(async () => {
  idp = await startIdp(['--test-api']);
  token = await mintToken(idp, { username: 'op' });
});
after(async () => { await idp?.stop(); });

test('one replica killed mid-load: every idempotent request still succeeds', async () => {
  const ups = [await startUpstream(), await startUpstream(), await startUpstream()];
  const ag = await startAirgate(baseConfig(idp, ups.map((u) => u.url), { upstreams: { fall: 2 } }));
  try {
    const seen = new Map();
    let failures = 0; let done = 0;
    const total = 600; const concurrency = 8;
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        if (i === 150) ups[1].proc.kill('SIGKILL');
        const method = i % 3 === 0 ? 'HEAD' : 'GET';
        const r = await fetch(`${ag.url}/delay?ms=${i % 5}`, { method, headers: { authorization: `Bearer ${token}` } });
        if (r.status !== 200) failures++;
        const rep = r.headers.get('x-upstream-replica');
        seen.set(rep, (seen.get(rep) || 0) + 1);
        await r.arrayBuffer();
        done++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    assert.equal(done, total);
    assert.equal(failures, 0, 'no failed request');
    assert.ok(seen.size >= 2, 'load was balanced');
    const m = await (await fetch(`${ag.mgmtUrl}/metrics`)).text();
    assert.match(m, /airgate_upstream_errors_total\{kind="retry"\} [1-9]/, 'the failures were retried');
    assert.match(m, new RegExp(`airgate_upstream_healthy\\{upstream="127.0.0.1:${ups[1].info.port}"\\} 0`));
  } finally {
    assert.equal((await ag.stop()).code, 0);
    for (const u of ups) await u.stop();
  }
});

test('all replicas down: 503 and /readyz 503; back up: 200 again', async () => {
  const up = await startUpstream();
  const port = up.info.port;
  const ag = await startAirgate(baseConfig(idp, [up.url]));
  try {
    assert.equal((await fetch(`${ag.url}/readyz`)).status, 200);
    await up.stop();
    await waitFor(async () => (await fetch(`${ag.url}/readyz`)).status === 503);
    const ready = await (await fetch(`${ag.url}/readyz`)).json();
    assert.equal(ready.healthy_upstreams, 0);
    assert.equal(ready.keys_loaded, true);
    const r = await fetch(`${ag.url}/dags`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 503);
    assert.equal((await r.json()).error, 'no_healthy_upstream');
    const page = await fetch(`${ag.url}/dags`, { headers: { accept: 'text/html', authorization: `Bearer ${token}` } });
    assert.equal(page.status, 503);
    assert.match(page.headers.get('content-type'), /text\/html/);
    const up2 = await startUpstream(['--port', String(port)]);
    try {
      await waitFor(async () => (await fetch(`${ag.url}/readyz`)).status === 200);
      const ok = await fetch(`${ag.url}/dags`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
    } finally {
      await up2.stop();
    }
  } finally {
    assert.equal((await ag.stop()).code, 0);
  }
});

test('a replica failing its health check is taken out and gets no traffic', async () => {
  const a = await startUpstream(); const b = await startUpstream();
  const ag = await startAirgate(baseConfig(idp, [a.url, b.url], { upstreams: { balance: 'least_conn' } }));
  try {
    await fetch(`${b.url}/_test/health/fail`);
    await waitFor(async () => (await (await fetch(`${ag.url}/readyz`)).json()).healthy_upstreams === 1);
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${ag.url}/x`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.headers.get('x-upstream-replica'), a.info.name);
      await r.arrayBuffer();
    }
    await fetch(`${b.url}/_test/health/ok`);
    await waitFor(async () => (await (await fetch(`${ag.url}/readyz`)).json()).healthy_upstreams === 2);
    await sleep(10);
  } finally {
    assert.equal((await ag.stop()).code, 0);
    await a.stop(); await b.stop();
  }
});

test('a DNS name is resolved into replicas, off the request path', async () => {
  const up = await startUpstream();
  const ag = await startAirgate(baseConfig(idp, [`http://localhost:${up.info.port}`], { upstreams: { resolve_interval_s: 1 } }));
  try {
    const r = await fetch(`${ag.url}/dns`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).replica, up.info.name);
    const m = await (await fetch(`${ag.mgmtUrl}/metrics`)).text();
    // replicas are labelled by address: the name was resolved by airgate, not per request
    assert.match(m, new RegExp(`airgate_upstream_healthy\\{upstream="127\\.0\\.0\\.1:${up.info.port}"\\} 1`));
    assert.doesNotMatch(m, /upstream="localhost:/);
  } finally {
    assert.equal((await ag.stop()).code, 0);
    await up.stop();
  }
});

test('keep-alive connections the replica closed while idle: next requests work, no busy loop', async () => {
  const up = await startUpstream(['--keepalive-timeout-ms', '300']);
  const ag = await startAirgate(baseConfig(idp, [up.url]));
  const cpu = () => {
    const f = fs.readFileSync(`/proc/${ag.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (USER_HZ 100)
  };
  try {
    for (let i = 0; i < 4; i++) {
      const rs = await Promise.all([0, 1, 2, 3].map(() => fetch(`${ag.url}/dags`, { headers: { authorization: `Bearer ${token}` } })));
      for (const r of rs) {
        assert.equal(r.status, 200, `round ${i}`);
        await r.arrayBuffer();
      }
      await sleep(600); // the replica closes the idle connections after 300 ms
      const c0 = cpu();
      await sleep(900);
      assert.ok(cpu() - c0 < 0.1, `airgate idles (used ${(cpu() - c0).toFixed(2)} s of CPU in 0.9 s)`);
    }
  } finally {
    assert.equal((await ag.stop()).code, 0);
    await up.stop();
  }
});

test('an upper-case scheme (HTTP://) passes check-config and is health-checked like http://', async () => {
  const up = await startUpstream();
  const url = up.url.replace(/^http:/, 'HTTP:');
  const ag = await startAirgate(baseConfig(idp, [url], { upstreams: { health_interval_s: 1, rise: 1 } }));
  try {
    await waitFor(async () => (await fetch(`${ag.url}/readyz`)).status === 200);
    const r = await fetch(`${ag.url}/dags`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    const m = await (await fetch(`${ag.mgmtUrl}/metrics`)).text();
    assert.match(m, new RegExp(`airgate_upstream_healthy\\{upstream="127.0.0.1:${up.info.port}"\\} 1`));
  } finally {
    assert.equal((await ag.stop()).code, 0);
    await up.stop();
  }
});
