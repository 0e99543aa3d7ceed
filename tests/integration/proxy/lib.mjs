// Helpers for the proxy integration tests: real IdP and upstream processes (tests/servers),
// `airgate serve` started on ephemeral ports (public and management), tokens minted by the IdP's test API, raw HTTP.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startIdp, startUpstream } from '../../servers/harness.mjs';

export { startIdp, startUpstream };

const here = path.dirname(fileURLToPath(import.meta.url));
export const AIRGATE = process.env.AG_AIRGATE_BIN || path.resolve(here, '../../../build/dev/airgate');

export function tmpDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'airgate-proxy-'));
}

// A config object for `serve`; YAML is a superset of JSON, so it is written as JSON.
export function baseConfig(idp, upstreamUrls, extra = {}) {
  const cfg = {
    listen: '127.0.0.1:0',
    public_url: 'http://127.0.0.1:8080',
    oidc: { issuer: idp.info.issuer, client_id: 'airflow', client_secret: 'not-used-here' },
    session: { cookie_secret: 'an-integration-test-secret-of-32+bytes!' },
    roles: {
      claims: ['resource_access.airflow.roles'],
      map: { airflow_admin: 'Admin', airflow_op: 'Op', airflow_user: 'User', airflow_viewer: 'Viewer' },
      unmapped: 'deny',
    },
    upstreams: { servers: upstreamUrls, health_interval_s: 1, rise: 1, fall: 1, connect_timeout_ms: 500 },
    log: { level: 'info' },
    // the management listener (/metrics, /statusz) on a free port: tests run side by side
    management: { listen: '127.0.0.1:0' },
  };
  for (const [k, v] of Object.entries(extra)) {
    cfg[k] = v && typeof v === 'object' && !Array.isArray(v) && cfg[k] ? { ...cfg[k], ...v } : v;
  }
  return cfg;
}

// Starts `airgate serve`; resolves once it logged the address it listens on.
export function startAirgate(cfg, { dir = tmpDir(), timeoutMs = 10000 } = {}) {
  const file = path.join(dir, 'airgate.yaml');
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  return new Promise((resolve, reject) => {
    // AIRGATE_* variables would be read as settings: start from a clean slate
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRGATE_')));
    // under AddressSanitizer, freed memory sits in a quarantine (256 MiB by default) that would
    // hide what the memory tests measure; keep it small (ignored by normal builds)
    env.ASAN_OPTIONS = [env.ASAN_OPTIONS, 'quarantine_size_mb=4'].filter(Boolean).join(':');
    const proc = spawn(AIRGATE, ['serve', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'], env });
    let buf = '';
    const lines = [];
    let settled = false;
    const exited = new Promise((res) => proc.once('exit', (code, signal) => res({ code, signal })));
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      proc.kill('SIGKILL');
      reject(new Error(`airgate did not start in ${timeoutMs} ms:\n${lines.join('\n')}`));
    }, timeoutMs);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (lines.length > 20000) lines.splice(0, 10000);
        let j;
        try { j = JSON.parse(line); } catch { continue; }
        const msg = j.msg ?? j.message; // log.format json or gcp
        if (!settled && typeof msg === 'string' && msg.startsWith('listening on')) {
          settled = true;
          clearTimeout(timer);
          const scheme = j.scheme;
          resolve({
            proc, port: j.port, file, dir, lines, exited,
            url: `${scheme}://127.0.0.1:${j.port}`,
            // the management listener (libmicrohttpd, plain http): /metrics, /statusz
            mgmtPort: j.management_port,
            mgmtUrl: `http://127.0.0.1:${j.management_port}`,
            writeConfig(c) { fs.writeFileSync(file, JSON.stringify(c, null, 2)); },
            async stop(graceMs = 10000) {
              if (proc.exitCode === null && proc.signalCode === null) {
                proc.kill('SIGTERM');
                const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
                const r = await exited;
                clearTimeout(t);
                return r;
              }
              return exited;
            },
          });
        }
      }
    });
    proc.once('exit', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`airgate exited (${code ?? signal}) before listening:\n${lines.join('\n')}${buf}`));
    });
  });
}

export async function mintToken(idp, body = { username: 'admin' }) {
  const r = await fetch(`${idp.url}/_test/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  if (r.status !== 200) throw new Error(`mint: HTTP ${r.status}`);
  return (await r.json()).access_token;
}

// One raw HTTP/1.1 exchange over a fresh socket: exact header spellings and duplicates, which
// fetch() would normalise. Resolves { status, headers (lower-case map), rawHead, body (Buffer) }.
export function rawRequest(port, head, body = null, { timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    const t = setTimeout(() => { s.destroy(); reject(new Error('raw request timed out')); }, timeoutMs);
    s.on('connect', () => {
      s.write(head);
      if (body) s.write(body);
    });
    s.on('data', (d) => chunks.push(d));
    s.on('error', (e) => { clearTimeout(t); reject(e); });
    s.on('close', () => {
      clearTimeout(t);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const rawHead = all.subarray(0, end === -1 ? all.length : end).toString('latin1');
      const [statusLine, ...hl] = rawHead.split('\r\n');
      const headers = {};
      for (const l of hl) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, rawHead, body: end === -1 ? Buffer.alloc(0) : all.subarray(end + 4) });
    });
  });
}

// VmHWM / VmRSS of a process in KiB.
export function procMem(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s) || [])[1]);
  return { hwm: get('VmHWM'), rss: get('VmRSS') };
}

export function resetHwm(pid) {
  // "5" to clear_refs resets the peak RSS (Linux >= 4.0)
  try { fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); return true; } catch { return false; }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, { timeoutMs = 10000, stepMs = 100 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(stepMs);
  }
}

export function hasOpenssl() {
  try { execFileSync('openssl', ['version'], { stdio: 'ignore' }); return true; } catch { return false; }
}
