#!/usr/bin/env node
// The session-cookie path with and without shared state, side by side in one run: two airgate
// replicas of the same build and config, one with `state.redis_url` (a local redis-server),
// one without, in front of the same upstream; a real cookie from a real login at the test IdP;
// wrk against each in alternating rounds. Reports req/s, p99 and the ratio (asserts nothing).
//
//   node bench/state/run.mjs            (BENCH_SECONDS=8 BENCH_ROUNDS=3 BENCH_CONNECTIONS=64
//                                        BENCH_AIRGATE_BIN=build/release/airgate)
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startIdp, startUpstream } from '../../tests/servers/harness.mjs';
import { CookieJar, browserLogin } from '../../tests/servers/client.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const seconds = Number(process.env.BENCH_SECONDS || 8);
const rounds = Number(process.env.BENCH_ROUNDS || 3);
const conns = Number(process.env.BENCH_CONNECTIONS || 64);
const bin = path.resolve(repo, process.env.BENCH_AIRGATE_BIN || 'build/release/airgate');
if (!fs.existsSync(bin)) {
  console.error(`bench: ${bin} is missing (cmake --preset release && cmake --build --preset release)`);
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
const freePort = () => new Promise((res) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
});
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'airgate-bench-state-'));
const procs = [];
const stopAll = () => { for (const p of procs) p.kill('SIGKILL'); };
process.on('exit', stopAll);

async function until(fn, what) {
  for (let i = 0; i < 200; i += 1) {
    try { if (await fn()) return; } catch { /* not yet */ } // eslint-disable-line no-await-in-loop
    await sleep(50); // eslint-disable-line no-await-in-loop
  }
  throw new Error(`${what} did not start`);
}

const redisPort = await freePort();
procs.push(spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
const idp = await startIdp(['--access-ttl', '3600']);
const up = await startUpstream();
procs.push(idp.proc || { kill: () => idp.stop() }, up.proc || { kill: () => up.stop() });

async function gate(name, state) {
  const port = await freePort();
  const cfg = {
    listen: `127.0.0.1:${port}`,
    public_url: `http://127.0.0.1:${port}`,
    management: { listen: '127.0.0.1:0' },
    oidc: { issuer: idp.info.issuer, client_id: 'airflow', client_secret: idp.info.client_secret },
    session: { cookie_secret: 'a-benchmark-cookie-secret-of-32+bytes!!' },
    roles: { claims: ['resource_access.airflow.roles'], map: { airflow_admin: 'Admin' }, unmapped: 'deny' },
    upstreams: { servers: [`http://127.0.0.1:${up.info.port}`] },
    log: { level: 'warn' },
    ...(state ? { state } : {}),
  };
  const file = path.join(work, `${name}.yaml`);
  fs.writeFileSync(file, JSON.stringify(cfg));
  const p = spawn(bin, ['serve', '-c', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  procs.push(p);
  const url = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${url}/readyz`)).status === 200, name);
  return { name, url };
}

const plain = await gate('no-state', null);
const shared = await gate('state', { redis_url: `redis://127.0.0.1:${redisPort}/0` });
const jar = new CookieJar();
await browserLogin(jar, `${plain.url}/oauth2/start?rd=/`, { username: 'admin', password: 'admin' });
const cookie = [...jar.cookies.values()].filter((c) => c.name.startsWith('_airgate')).map((c) => `${c.name}=${c.value}`).join('; ');
if (!cookie) throw new Error('no session cookie from the login');
// a revocation in the set, so the shared replica really checks digests on every request
await fetch(`${shared.url}/oauth2/logout`, { headers: { cookie: 'x=1' }, redirect: 'manual' });

function wrk(url) {
  const out = execFileSync('wrk', ['-t2', `-c${conns}`, `-d${seconds}s`, '--latency', '-H', `Cookie: ${cookie}`, '-H', 'Accept: application/json', `${url}/api/v1/health`], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const p99m = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99 = Number(p99m[1]) * ({ us: 0.001, ms: 1, s: 1000 }[p99m[2]]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return { rps, p99, non2xx: non2xx ? Number(non2xx[1]) : 0 };
}

const res = { [plain.name]: [], [shared.name]: [] };
for (const g of [plain, shared]) wrk(g.url); // warm-up
for (let r = 0; r < rounds; r += 1) {
  for (const g of (r % 2 ? [shared, plain] : [plain, shared])) res[g.name].push(wrk(g.url));
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`session-cookie path, wrk -t2 -c${conns}, ${rounds} x ${seconds}s rounds, medians`);
for (const [name, xs] of Object.entries(res)) {
  console.log(`  ${name.padEnd(9)} ${med(xs.map((x) => x.rps)).toFixed(0).padStart(8)} req/s   p99 ${med(xs.map((x) => x.p99)).toFixed(2)} ms   non-2xx ${xs.reduce((a, x) => a + x.non2xx, 0)}`);
}
const ratio = med(res.state.map((x) => x.rps)) / med(res['no-state'].map((x) => x.rps));
console.log(`  state / no-state throughput: ${ratio.toFixed(3)} (overhead ${((1 - ratio) * 100).toFixed(1)} %)`);
stopAll();
await idp.stop?.();
await up.stop?.();
fs.rmSync(work, { recursive: true, force: true });
process.exit(0);
