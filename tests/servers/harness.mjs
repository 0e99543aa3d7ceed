// Starts the test servers as child processes for JavaScript tests:
//   const idp = await startIdp(['--test-api']);   // idp.info = the JSON line
//   ...; await idp.stop();
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));

export const IDP_SCRIPT = path.join(here, 'idp.mjs');
export const UPSTREAM_SCRIPT = path.join(here, 'upstream.mjs');

// Spawns `node script ...args`, waits for its one JSON line on stdout.
export function startServer(script, args = [], { timeoutMs = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    let settled = false;
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-65536);
    });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      proc.kill('SIGKILL');
      reject(new Error(`${path.basename(script)} did not start within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      if (settled) return;
      stdout += d;
      const nl = stdout.indexOf('\n');
      if (nl === -1) return;
      settled = true;
      clearTimeout(timer);
      let info;
      try {
        info = JSON.parse(stdout.slice(0, nl));
      } catch (err) {
        proc.kill('SIGKILL');
        reject(new Error(`bad startup line ${JSON.stringify(stdout.slice(0, nl))}: ${err.message}`));
        return;
      }
      const exited = new Promise((res) => {
        if (proc.exitCode !== null || proc.signalCode !== null) res({ code: proc.exitCode, signal: proc.signalCode });
        else proc.once('exit', (code, signal) => res({ code, signal }));
      });
      resolve({
        info,
        proc,
        url: `http://127.0.0.1:${info.port}`,
        stderr: () => stderr,
        exited,
        // SIGTERM, then SIGKILL after `graceMs`; resolves with { code, signal }.
        async stop(graceMs = 5000) {
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
    });
    proc.on('exit', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${path.basename(script)} exited (${code ?? signal}) before starting; stderr:\n${stderr}`));
    });
  });
}

export const startIdp = (args, opts) => startServer(IDP_SCRIPT, args, opts);
export const startUpstream = (args, opts) => startServer(UPSTREAM_SCRIPT, args, opts);
