#!/usr/bin/env node
// The browser path, side by side in one run: a session cookie from a real login at the test IdP
// (tests/servers/idp.mjs), sent on every request, through
//   - nginx plain proxy_pass (no authentication: the practical limit of a proxy here),
//   - Apache 2.4 + mod_auth_openidc as an OpenID Connect relying party (its own session cookie
//     from a real login at the same IdP, OIDCSessionType client-cookie like airgate's),
//   - airgate (its sealed session cookie),
// all in front of the same nginx upstream (2-byte body). wrk -t2 against each in alternating
// rounds; reports req/s, p50/p99, server CPU us/request (utime+stime of the server's whole
// process tree from /proc) and the ratios to nginx and mod_auth_openidc. Asserts nothing; the
// figures go to bench/out/session-<time>.json too.
//
//   node bench/session/run.mjs
//   BENCH_SECONDS=8 BENCH_ROUNDS=3 BENCH_CONNECTIONS=64 BENCH_PEERS="nginx apache airgate"
//   BENCH_PERF=1   perf record -g of airgate during its first measured run -> bench/out/perf-session.txt
//   BENCH_AIRGATE_BIN=build/release/airgate
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startIdp } from '../../tests/servers/harness.mjs';
import { CookieJar, browserLogin } from '../../tests/servers/client.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const int = (name, def, min, max) => {
  const v = process.env[name] === undefined ? def : Number(process.env[name]);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`bench: ${name} must be an integer in ${min}..${max}`);
    process.exit(2);
  }
  return v;
};
const seconds = int('BENCH_SECONDS', 8, 1, 600);
const rounds = int('BENCH_ROUNDS', 3, 1, 20);
const conns = int('BENCH_CONNECTIONS', 64, 1, 20000);
const peers = (process.env.BENCH_PEERS || 'nginx apache airgate').split(/\s+/).filter(Boolean);
for (const p of peers) {
  if (!['nginx', 'apache', 'airgate'].includes(p)) {
    console.error(`bench: BENCH_PEERS: unknown peer ${p} (nginx apache airgate)`);
    process.exit(2);
  }
}
const perf = process.env.BENCH_PERF === '1';
const bin = path.resolve(repo, process.env.BENCH_AIRGATE_BIN || 'build/release/airgate');
if (peers.includes('airgate') && !fs.existsSync(bin)) {
  console.error(`bench: ${bin} is missing (cmake --preset release && cmake --build --preset release)`);
  process.exit(2);
}
const log = (m) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
const freePort = () => new Promise((res) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
});
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'airgate-bench-session-'));
fs.chmodSync(work, 0o755); // nginx and Apache workers run as another user when started as root
const procs = [];
const stopAll = () => { for (const p of procs) { try { p.kill('SIGKILL'); } catch { /* gone */ } } };
process.on('exit', () => { stopAll(); if (process.env.BENCH_KEEP !== '1') fs.rmSync(work, { recursive: true, force: true }); });
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

function start(name, cmd, args) {
  const p = spawn(cmd, args, { stdio: ['ignore', fs.openSync(path.join(work, `${name}.out`), 'w'), fs.openSync(path.join(work, `${name}.err`), 'w')] });
  procs.push(p);
  return p;
}
async function until(fn, what) {
  for (let i = 0; i < 300; i += 1) {
    try { if (await fn()) return; } catch { /* not yet */ } // eslint-disable-line no-await-in-loop
    await sleep(50); // eslint-disable-line no-await-in-loop
  }
  throw new Error(`${what} did not come up (see ${work}, BENCH_KEEP=1 keeps it)`);
}
const reachable = (url) => async () => { await fetch(url, { redirect: 'manual' }); return true; };

// ---- /proc: CPU ticks of a process tree ----
const clk = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
function statOf(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
  } catch { return null; }
}
function treeTicks(root) {
  const kids = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = statOf(d);
    if (st) { if (!kids.has(st.ppid)) kids.set(st.ppid, []); kids.get(st.ppid).push(Number(d)); }
  }
  let total = 0;
  const todo = [root];
  for (let i = 0; i < todo.length && i < 10000; i += 1) {
    const st = statOf(todo[i]);
    if (st) total += st.ticks;
    todo.push(...(kids.get(todo[i]) || []));
  }
  return total; // cutime/cstime included: what the master reaped counts too
}
function machineBusy() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
}

// ---- servers ----
const upPort = await freePort();
fs.mkdirSync(path.join(work, 'www'));
fs.mkdirSync(path.join(work, 'tmp'));
fs.writeFileSync(path.join(work, 'www', '2b.txt'), 'ok');
const tmpPaths = (p) => ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${work}/tmp/${p}-${k};`).join(' ');
fs.writeFileSync(path.join(work, 'upstream.conf'), `daemon off; master_process on; worker_processes 1;
pid ${work}/upstream.pid; error_log ${work}/upstream-error.log warn;
events { worker_connections 16384; }
http { access_log off; ${tmpPaths('up')} keepalive_timeout 300s; keepalive_requests 100000000;
  server { listen 127.0.0.1:${upPort} backlog=4096; root ${work}/www; default_type text/plain;
    location / { try_files /2b.txt =404; } } }
`);
start('upstream', 'nginx', ['-p', work, '-c', path.join(work, 'upstream.conf'), '-e', path.join(work, 'upstream-error.log')]);
await until(reachable(`http://127.0.0.1:${upPort}/`), 'upstream nginx');

const idp = await startIdp(['--access-ttl', '3600', '--refresh-ttl', '7200', '--redirect-uri', 'http://127.0.0.1:*/oauth2/callback', '--redirect-uri', 'http://127.0.0.1:*/oidc_callback']);
procs.push(idp.proc);
const issuer = idp.info.issuer;

const servers = {};
const ports = {};
if (peers.includes('nginx')) {
  ports.nginx = await freePort();
  fs.writeFileSync(path.join(work, 'nginx.conf'), `daemon off; master_process on; worker_processes ${os.cpus().length};
worker_rlimit_nofile 65536; pid ${work}/nginx.pid; error_log ${work}/nginx-error.log warn;
events { worker_connections 16384; }
http { access_log off; ${tmpPaths('px')} keepalive_timeout 300s; keepalive_requests 100000000;
  upstream backend { server 127.0.0.1:${upPort}; keepalive 256; keepalive_requests 100000000; }
  server { listen 127.0.0.1:${ports.nginx} backlog=4096;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; } } }
`);
  servers.nginx = start('nginx', 'nginx', ['-p', work, '-c', path.join(work, 'nginx.conf'), '-e', path.join(work, 'nginx-error.log')]);
  await until(reachable(`http://127.0.0.1:${ports.nginx}/`), 'nginx');
}
if (peers.includes('apache')) {
  const moddir = '/usr/lib/apache2/modules';
  if (!fs.existsSync(`${moddir}/mod_auth_openidc.so`)) {
    log('apache: mod_auth_openidc is not installed (scripts/deps.sh bench): skipped');
    peers.splice(peers.indexOf('apache'), 1);
  } else {
    ports.apache = await freePort();
    const adir = path.join(work, 'apache');
    fs.mkdirSync(path.join(adir, 'run'), { recursive: true });
    const user = process.getuid() === 0 ? 'www-data' : os.userInfo().username;
    if (process.getuid() === 0) execFileSync('chown', ['-R', 'www-data:www-data', adir]);
    fs.writeFileSync(path.join(work, 'apache.conf'), `ServerRoot "${adir}"
DefaultRuntimeDir "${adir}/run"
PidFile "${adir}/run/httpd.pid"
Mutex file:${adir}/run default
ServerName 127.0.0.1
Listen 127.0.0.1:${ports.apache}
ListenBacklog 4096
LoadModule mpm_event_module ${moddir}/mod_mpm_event.so
LoadModule authn_core_module ${moddir}/mod_authn_core.so
LoadModule authz_core_module ${moddir}/mod_authz_core.so
LoadModule authz_user_module ${moddir}/mod_authz_user.so
LoadModule proxy_module ${moddir}/mod_proxy.so
LoadModule proxy_http_module ${moddir}/mod_proxy_http.so
LoadModule auth_openidc_module ${moddir}/mod_auth_openidc.so
User ${user}
Group ${process.getuid() === 0 ? 'www-data' : os.userInfo().username}
StartServers 2
ServerLimit 2
ThreadsPerChild 128
ThreadLimit 128
MaxRequestWorkers 256
MinSpareThreads 128
MaxSpareThreads 512
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 300
ErrorLog "${adir}/error.log"
LogLevel warn
OIDCProviderMetadataURL ${issuer}/.well-known/openid-configuration
OIDCClientID airflow
OIDCClientSecret ${idp.info.client_secret}
OIDCRedirectURI http://127.0.0.1:${ports.apache}/oidc_callback
OIDCCryptoPassphrase ${crypto.randomBytes(24).toString('hex')}
OIDCScope "openid profile email"
OIDCPKCEMethod S256
OIDCSessionType client-cookie
OIDCUnAuthAction auth true
OIDCSessionInactivityTimeout 3600
OIDCSessionMaxDuration 36000
OIDCRemoteUserClaim preferred_username
OIDCPassIDTokenAs claims
OIDCPassUserInfoAs claims
ProxyRequests Off
ProxyPass "/oidc_callback" "!"
ProxyPass "/" "http://127.0.0.1:${upPort}/" keepalive=On
<Location "/">
    AuthType openid-connect
    # the test IdP puts resource_access only in the access token, which mod_auth_openidc does
    # not read for authorization: a signed-in user is enough here (airgate also maps roles)
    Require valid-user
</Location>
`);
    servers.apache = start('apache', 'apache2', ['-d', adir, '-f', path.join(work, 'apache.conf'), '-DFOREGROUND']);
    await until(reachable(`http://127.0.0.1:${ports.apache}/`), 'apache');
  }
}
if (peers.includes('airgate')) {
  ports.airgate = await freePort();
  const cfg = {
    listen: `127.0.0.1:${ports.airgate}`,
    public_url: `http://127.0.0.1:${ports.airgate}`,
    management: { listen: '127.0.0.1:0' },
    oidc: { issuer, client_id: 'airflow', client_secret: idp.info.client_secret },
    session: { cookie_secret: crypto.randomBytes(32).toString('base64url') },
    roles: { claims: ['resource_access.airflow.roles'], map: { airflow_admin: 'Admin' }, unmapped: 'deny' },
    upstreams: { servers: [`http://127.0.0.1:${upPort}`], health_path: '/health' },
    server: { idle_timeout_s: 300 },
    log: { level: 'warn' },
  };
  fs.writeFileSync(path.join(work, 'airgate.yaml'), JSON.stringify(cfg));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRGATE_')));
  const p = spawn(bin, ['serve', '-c', path.join(work, 'airgate.yaml')], { env, stdio: ['ignore', 'ignore', fs.openSync(path.join(work, 'airgate.err'), 'w')] });
  procs.push(p);
  servers.airgate = p;
  await until(async () => (await fetch(`http://127.0.0.1:${ports.airgate}/readyz`)).status === 200, 'airgate');
}

// ---- a real login per authenticating peer ----
const cookieOf = {};
async function login(peer, startPath, prefix) {
  const jar = new CookieJar();
  const r = await browserLogin(jar, `http://127.0.0.1:${ports[peer]}${startPath}`, { username: 'admin', password: 'admin' });
  const c = [...jar.cookies.values()].filter((k) => k.name.startsWith(prefix) && (k.domain || '').match(/127\.0\.0\.1|^$/) !== null);
  const header = c.map((k) => `${k.name}=${k.value}`).join('; ');
  if (!header) throw new Error(`${peer}: no session cookie after the login (HTTP ${r.res?.status}, login form shown: ${r.loginShown}, ${r.loginError || ""}, chain ${(r.chain || []).join(" -> ")})`);
  return header;
}
if (ports.airgate) cookieOf.airgate = await login('airgate', '/oauth2/start?rd=/', '_airgate');
if (ports.apache) cookieOf.apache = await login('apache', '/', 'mod_auth_openidc_session');
cookieOf.nginx = cookieOf.airgate || 'x=1'; // the same header size; nginx ignores it

// checks: the cookie gets the upstream's body, no cookie does not
const checks = {};
for (const p of peers) {
  const url = `http://127.0.0.1:${ports[p]}/`;
  const ok = await fetch(url, { headers: { cookie: cookieOf[p], accept: 'application/json' }, redirect: 'manual' });
  const body = await ok.text();
  const none = await fetch(url, { headers: { accept: 'application/json' }, redirect: 'manual' });
  await none.arrayBuffer();
  checks[p] = { with_cookie: ok.status, body_bytes: body.length, without_cookie: none.status };
  log(`${p} checks: ${JSON.stringify(checks[p])}`);
  if (ok.status !== 200 || body !== 'ok') throw new Error(`${p}: the session cookie did not reach the upstream (HTTP ${ok.status})`);
  if (p !== 'nginx' && none.status === 200) throw new Error(`${p}: a request without a cookie got through`);
}

// ---- load ----
async function wrk(peer, secs, measure) {
  const pid = servers[peer].pid;
  const b0 = machineBusy();
  const t0 = treeTicks(pid);
  let perfProc = null;
  if (measure && perf && peer === 'airgate' && !fs.existsSync(path.join(work, 'perf.data'))) {
    perfProc = spawn('perf', ['record', '-q', '-F', '999', '-g', '-p', String(pid), '-o', path.join(work, 'perf.data'), '--', 'sleep', String(secs)], { stdio: 'ignore' });
  }
  const out = execFileSync('wrk', ['-t2', `-c${conns}`, `-d${secs}s`, '--timeout', '10s', '--latency', '-H', `Cookie: ${cookieOf[peer]}`, '-H', 'Accept: application/json', `http://127.0.0.1:${ports[peer]}/`], { encoding: 'utf8', timeout: (secs + 60) * 1000 });
  const t1 = treeTicks(pid);
  const b1 = machineBusy();
  if (perfProc && perfProc.exitCode === null) await new Promise((r) => { perfProc.once('exit', r); setTimeout(r, 60000); });
  if (!measure) return null;
  const num = (re) => { const m = re.exec(out); return m ? m[1] : null; };
  const ms = (re) => { const m = re.exec(out); return m ? Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 }[m[2]]) : null; };
  const requests = Number(num(/(\d+) requests in/));
  const rps = Number(num(/Requests\/sec:\s+([\d.]+)/));
  return {
    rps,
    requests,
    p50_ms: ms(/50%\s+([\d.]+)(us|ms|s)/),
    p99_ms: ms(/99%\s+([\d.]+)(us|ms|s)/),
    non2xx: Number(num(/Non-2xx or 3xx responses: (\d+)/) || 0),
    socket_errors: num(/Socket errors: ([^\n]*)/),
    cpu_us_per_req: requests > 0 ? ((t1 - t0) / clk) * 1e6 / requests : null,
    machine_busy_cores: (os.cpus().length * (b1.busy - b0.busy)) / Math.max(1, b1.total - b0.total),
  };
}
const load0 = os.loadavg();
for (const p of peers) { log(`warm-up ${p}`); await wrk(p, 2, false); } // eslint-disable-line no-await-in-loop
const res = Object.fromEntries(peers.map((p) => [p, []]));
for (let r = 0; r < rounds; r += 1) {
  const order = r % 2 ? [...peers].reverse() : peers;
  for (const p of order) {
    log(`${p}: session cookie, -c${conns}, ${seconds}s (round ${r + 1}/${rounds})`);
    res[p].push(await wrk(p, seconds, true)); // eslint-disable-line no-await-in-loop
  }
}
const load1 = os.loadavg();
if (perf && fs.existsSync(path.join(work, 'perf.data'))) {
  fs.mkdirSync(path.join(repo, 'bench/out'), { recursive: true });
  const rep = (sort, limit, children = '--no-children') => execFileSync('perf', ['report', '-i', path.join(work, 'perf.data'), '--stdio', children, '-g', 'none', '--sort', sort, '--percent-limit', limit], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n').filter((l) => l && !l.startsWith('#')).join('\n');
  fs.writeFileSync(path.join(repo, 'bench/out/perf-session.txt'), `# airgate, session-cookie path: by library, by symbol, then inclusive (with callees) per symbol\n${rep('dso', '0.5')}\n\n${rep('dso,sym', '0.4')}\n\n${rep('sym', '2', '--children')}\n`);
  log('perf profile: bench/out/perf-session.txt');
}

// ---- report ----
const med = (xs) => { const s = xs.filter((x) => x !== null).sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : null; };
const summary = {};
for (const p of peers) {
  summary[p] = {
    rps: med(res[p].map((x) => x.rps)),
    rps_range: [Math.min(...res[p].map((x) => x.rps)), Math.max(...res[p].map((x) => x.rps))],
    p50_ms: med(res[p].map((x) => x.p50_ms)),
    p99_ms: med(res[p].map((x) => x.p99_ms)),
    cpu_us_per_req: med(res[p].map((x) => x.cpu_us_per_req)),
    non2xx: res[p].reduce((a, x) => a + x.non2xx, 0),
  };
}
const lines = [`session-cookie path: wrk -t2 -c${conns}, ${rounds} x ${seconds}s rounds (peers alternate), medians; load average ${load0[0].toFixed(2)} -> ${load1[0].toFixed(2)}`];
lines.push(`  ${'peer'.padEnd(8)} ${'req/s'.padStart(8)} ${'range'.padStart(15)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'CPU us/req'.padStart(10)} non-2xx`);
for (const [p, s] of Object.entries(summary)) {
  lines.push(`  ${p.padEnd(8)} ${s.rps.toFixed(0).padStart(8)} ${`${s.rps_range[0].toFixed(0)}-${s.rps_range[1].toFixed(0)}`.padStart(15)} ${s.p50_ms.toFixed(2).padStart(7)} ${s.p99_ms.toFixed(2).padStart(7)} ${s.cpu_us_per_req.toFixed(1).padStart(10)} ${s.non2xx}`);
}
const ratios = {};
if (summary.airgate) {
  for (const o of ['nginx', 'apache']) {
    if (!summary[o]) continue;
    ratios[`airgate/${o}`] = summary.airgate.rps / summary[o].rps;
    ratios[`airgate/${o} p99`] = summary.airgate.p99_ms / summary[o].p99_ms;
    lines.push(`  airgate / ${o}: ${ratios[`airgate/${o}`].toFixed(2)}x throughput, p99 ${ratios[`airgate/${o} p99`].toFixed(2)}x`);
  }
}
console.log(lines.join('\n'));
fs.mkdirSync(path.join(repo, 'bench/out'), { recursive: true });
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z');
let commit = 'unknown';
try { commit = execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { /* no git */ }
fs.writeFileSync(path.join(repo, `bench/out/session-${stamp}.json`), JSON.stringify({
  started: stamp, commit, seconds, rounds, connections: conns, cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model,
  loadavg_before: load0, loadavg_after: load1, checks, runs: res, summary, ratios, text: lines.join('\n'),
}, null, 1));
process.exit(0);
