#!/usr/bin/env node
// Turns run.sh's measurements into the printed table, the ratios and the JSON in bench/out/.
//   node report.mjs --line JSON                        one line for one run (progress)
//   node report.mjs --report FILE --json-out FILE      full table + ratios; writes the JSON
import fs from 'node:fs';

const PEERS = ['nginx', 'apache', 'airgate'];
const NAMES = { nginx: 'nginx proxy_pass', apache: 'apache+mod_auth_openidc', airgate: 'airgate' };
const TARGETS = { vsNginx: 0.8, cpuUs: 25, vsApache: 5, idleMiB: 64 };

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : undefined;
}

/** Derived figures of one run, or null when wrk gave nothing. */
function derive(run) {
  const w = run.wrk;
  if (!w || !w.requests || !w.duration_us) return null;
  const seconds = w.duration_us / 1e6;
  const cpuUs = (run.cpu_ticks * 1e6) / run.clk_tck;
  const socketErrors = w.err_connect + w.err_read + w.err_write + w.err_timeout;
  return {
    rps: w.requests / seconds,
    p50_ms: w.p50_us / 1000,
    p99_ms: w.p99_us / 1000,
    cpu_us_per_req: cpuUs / w.requests,
    cpu_cores: cpuUs / 1e6 / seconds,
    non_2xx: w.err_status,
    socket_errors: socketErrors,
    hwm_mib: run.hwm_kib / 1024,
    background_cores: run.background_cores ?? null,
  };
}

const f1 = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(d));
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

function runLabel(run) {
  const body = { '2b': '2 B', '64k': '64 KiB', distinct: '2 B distinct' }[run.run] ?? run.run;
  return `${body} c${run.connections}`;
}

if (arg('line')) {
  const run = JSON.parse(arg('line'));
  const d = derive(run);
  if (!d) {
    process.stdout.write(`  ${run.peer} ${runLabel(run)}: no result\n`);
  } else {
    process.stdout.write(`  ${run.peer} ${runLabel(run)}: ${f1(d.rps, 0)} req/s, p50 ${f1(d.p50_ms, 2)} ms, `
      + `p99 ${f1(d.p99_ms, 2)} ms, ${f1(d.cpu_us_per_req)} us CPU/req, non-2xx ${d.non_2xx}, `
      + `socket errors ${d.socket_errors}, background ${f1(d.background_cores, 2)} cores\n`);
  }
  process.exit(0);
}

const reportFile = arg('report');
const jsonOut = arg('json-out');
if (!reportFile || !jsonOut) {
  process.stderr.write('usage: node report.mjs --report FILE --json-out FILE | --line JSON\n');
  process.exit(2);
}
const report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
const out = [];
const say = (s = '') => out.push(s);

say(`airgate proxy benchmark — ${report.started}, ${report.cpus} CPU(s) (${report.cpu_model}), `
  + `${report.seconds}s per run, wrk -t${report.wrk_threads}${report.pinned ? ', servers pinned to CPU 0, load to CPU 1' : ''}`);
say(`versions: nginx ${report.versions.nginx}, ${report.versions.apache}, mod_auth_openidc `
  + `${report.versions.mod_auth_openidc}, wrk ${report.versions.wrk}, airgate ${report.versions.airgate}`);
say(`tree: ${report.commit ?? 'unknown'}`);
say(`token: RS256, ${report.token.token_bytes} bytes; distinct-tokens run cycles ${report.distinct_tokens} tokens`);
say();
for (const p of PEERS) {
  const info = report.peers[p];
  if (!info) continue;
  const status = info.available ? 'available' : `NOT AVAILABLE (${info.reason})`;
  let auth = '';
  if (info.checks && info.checks.validates !== undefined) {
    const c = info.checks;
    auth = info.checks.validates
      ? '; validates tokens (no/tampered/foreign-key/expired token -> 401)'
      : `; DOES NOT REFUSE EVERY BAD TOKEN (none ${c.no_token}, tampered ${c.bad_signature}, `
        + `foreign key ${c.wrong_key}, expired ${c.expired})`;
  }
  say(`${pad(NAMES[p], 24)} ${status}${auth}`);
}
say();

const runs = report.runs.map((r) => ({ ...r, derived: derive(r) }));
const groups = [];
for (const r of runs) {
  const key = `${r.run}|${r.connections}`;
  let g = groups.find((x) => x.key === key);
  if (!g) {
    g = { key, label: runLabel(r), byPeer: {} };
    groups.push(g);
  }
  (g.byPeer[r.peer] ??= []).push(r);
}

const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
/** One figure per peer and run: the median of each measure over the rounds, errors summed. */
function combine(list) {
  const ds = (list ?? []).map((r) => r.derived).filter(Boolean);
  if (ds.length === 0) return null;
  const out = {};
  for (const k of ['rps', 'p50_ms', 'p99_ms', 'cpu_us_per_req', 'cpu_cores', 'hwm_mib', 'background_cores']) {
    out[k] = median(ds.map((d) => d[k]));
  }
  out.non_2xx = ds.reduce((t, d) => t + d.non_2xx, 0);
  out.socket_errors = ds.reduce((t, d) => t + d.socket_errors, 0);
  out.rps_min = Math.min(...ds.map((d) => d.rps));
  out.rps_max = Math.max(...ds.map((d) => d.rps));
  out.rounds = ds.length;
  return out;
}
const rounds = report.rounds ?? 1;
if (rounds > 1) say(`${rounds} rounds of every run: each figure is the median over the rounds; "req/s range" is min-max.`);

const header = `${pad('run', 17)} ${pad('peer', 24)} ${lpad('req/s', 9)} ${lpad('p50 ms', 8)} `
  + `${lpad('p99 ms', 8)} ${lpad('CPU us/req', 10)} ${lpad('CPU cores', 9)} ${lpad('non-2xx', 8)} ${lpad('sock err', 8)} ${lpad('bg cores', 8)}`
  + `${rounds > 1 ? ` ${lpad('req/s range', 15)}` : ''}`;
say(header);
say('-'.repeat(header.length));
const ratios = [];
for (const g of groups) {
  for (const p of PEERS) {
    if (!report.peers[p]) continue;
    const d = combine(g.byPeer[p]);
    g.combined = { ...(g.combined ?? {}), [p]: d };
    if (!d) {
      say(`${pad(g.label, 17)} ${pad(NAMES[p], 24)} ${lpad('not available', 9)}`);
      continue;
    }
    say(`${pad(g.label, 17)} ${pad(NAMES[p], 24)} ${lpad(f1(d.rps, 0), 9)} ${lpad(f1(d.p50_ms, 2), 8)} `
      + `${lpad(f1(d.p99_ms, 2), 8)} ${lpad(f1(d.cpu_us_per_req), 10)} ${lpad(f1(d.cpu_cores, 2), 9)} `
      + `${lpad(d.non_2xx, 8)} ${lpad(d.socket_errors, 8)} ${lpad(f1(d.background_cores, 2), 8)}`
      + `${rounds > 1 ? ` ${lpad(`${f1(d.rps_min, 0)}-${f1(d.rps_max, 0)}`, 15)}` : ''}`);
  }
  const a = g.combined?.airgate;
  const n = g.combined?.nginx;
  const m = g.combined?.apache;
  ratios.push({
    run: g.label,
    figures: g.combined,
    airgate_vs_nginx: a && n ? a.rps / n.rps : null,
    airgate_vs_apache: a && m ? a.rps / m.rps : null,
    apache_vs_nginx: m && n ? m.rps / n.rps : null,
    cpu_us_per_req: {
      nginx: n ? n.cpu_us_per_req : null,
      apache: m ? m.cpu_us_per_req : null,
      airgate: a ? a.cpu_us_per_req : null,
    },
  });
}
const bg = runs.map((r) => r.derived?.background_cores ?? 0);
if (bg.length > 0 && Math.max(...bg) >= 0.2) {
  say(`note: other work used up to ${f1(Math.max(...bg), 2)} of ${report.cpus} cores in the quiet second before a run `
    + '(column "bg cores"); those runs are noisy, repeat on a quiet machine for careful figures.');
}
say();
say('ratios (throughput on the same run; targets: airgate >= 0.8x nginx, >= 5x mod_auth_openidc, <= 25 us CPU/req)');
const rh = `${pad('run', 17)} ${lpad('airgate/nginx', 13)} ${lpad('airgate/apache', 14)} `
  + `${lpad('apache/nginx', 12)} ${lpad('CPU us/req nginx | apache | airgate', 36)}`;
say(rh);
say('-'.repeat(rh.length));
const mark = (ok) => (ok ? ' ok' : ' MISS');
for (const r of ratios) {
  const an = r.airgate_vs_nginx === null ? 'n/a' : `${f1(r.airgate_vs_nginx, 2)}x${mark(r.airgate_vs_nginx >= TARGETS.vsNginx)}`;
  const aa = r.airgate_vs_apache === null ? 'n/a' : `${f1(r.airgate_vs_apache, 1)}x${mark(r.airgate_vs_apache >= TARGETS.vsApache)}`;
  const mn = r.apache_vs_nginx === null ? 'n/a' : `${f1(r.apache_vs_nginx, 2)}x`;
  const c = r.cpu_us_per_req;
  const cpu = `${f1(c.nginx)} | ${f1(c.apache)} | ${c.airgate === null ? 'n/a' : `${f1(c.airgate)}${mark(c.airgate <= TARGETS.cpuUs)}`}`;
  say(`${pad(r.run, 17)} ${lpad(an, 13)} ${lpad(aa, 14)} ${lpad(mn, 12)} ${lpad(cpu, 36)}`);
}

const threadLines = [];
for (const g of groups) {
  const list = g.byPeer.airgate ?? [];
  const r = list.find((x) => x.master_thread_ticks && x.wrk && x.wrk.duration_us);
  if (!r) continue;
  const secs = r.wrk.duration_us / 1e6;
  const parts = Object.entries(r.master_thread_ticks).filter(([, t]) => t > 0).sort((x, y) => y[1] - x[1])
    .map(([name, t]) => `${name} ${f1(t / r.clk_tck / secs, 2)}`);
  threadLines.push(`  ${pad(g.label, 17)} ${parts.join(', ')}`);
}
if (threadLines.length > 0) {
  say();
  say('airgate CPU by thread name (cores busy during the run; first round):');
  threadLines.forEach((l) => say(l));
}

say();
say('peak RSS (VmHWM summed over all the server\'s processes, over the whole bench):');
const peak = {};
for (const p of PEERS) {
  const mine = runs.filter((r) => r.peer === p);
  if (!report.peers[p]) continue;
  if (mine.length === 0) {
    say(`  ${pad(NAMES[p], 24)} not available`);
    continue;
  }
  const hwm = Math.max(...mine.map((r) => r.hwm_kib));
  const procs = Math.max(...mine.map((r) => r.processes));
  peak[p] = { hwm_kib: hwm, processes: procs };
  say(`  ${pad(NAMES[p], 24)} ${f1(hwm / 1024)} MiB (${procs} process${procs === 1 ? '' : 'es'})`);
}

if (report.idle.length > 0) {
  say();
  say(`idle keep-alive connections (one request each, then idle ${report.idle_hold_seconds}s; target for airgate: < 64 MiB extra):`);
  for (const i of report.idle) {
    const c = i.client ?? {};
    const extra = i.extra_kib / 1024;
    const verdict = i.peer === 'airgate' ? mark(extra < TARGETS.idleMiB && c.answered === i.connections) : '';
    say(`  ${pad(NAMES[i.peer], 24)} ${c.answered ?? '?'}/${i.connections} answered `
      + `(status ${JSON.stringify(c.status ?? {})}), ${c.still_open ?? '?'} still open at the end; `
      + `RSS ${f1(i.rss_before_kib / 1024)} -> ${f1(i.rss_idle_kib / 1024)} MiB: +${f1(extra)} MiB `
      + `(${f1(i.extra_kib / Math.max(1, c.answered ?? i.connections))} KiB per connection)${verdict}`);
  }
}

process.stdout.write(`${out.join('\n')}\n`);
const json = {
  ...report,
  runs: runs.map(({ derived, ...r }) => ({ ...r, ...(derived ?? {}) })),
  ratios,
  peak_rss: peak,
  targets: TARGETS,
  text: out,
};
fs.writeFileSync(jsonOut, `${JSON.stringify(json, null, 2)}\n`);
