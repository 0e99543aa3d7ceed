// A real redis-server (Debian) on a free loopback port, for the shared-state tests.
import { spawn } from 'node:child_process';
import net from 'node:net';

import { freePort, sleep } from '../login/lib.mjs';

export const REDIS_BIN = '/usr/bin/redis-server';

// One RESP command over a fresh connection; resolves with the raw answer text.
export function redisRaw(port, ...args) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const cmd = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    s.on('connect', () => s.write(cmd));
    s.on('data', (d) => { out += d; if (out.endsWith('\r\n')) { s.end(); resolve(out); } });
    s.on('error', reject);
    setTimeout(() => { s.destroy(); reject(new Error('redis: no answer')); }, 2000);
  });
}

export async function startRedis({ port, password } = {}) {
  const p = port || await freePort();
  const args = ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  if (password) args.push('--requirepass', password);
  const proc = spawn(REDIS_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let exited = false;
  proc.on('exit', () => { exited = true; });
  for (let i = 0; i < 100; i += 1) {
    try {
      // eslint-disable-next-line no-await-in-loop
      const r = await redisRaw(p, 'PING');
      if (r.startsWith('+PONG') || r.startsWith('-NOAUTH')) break;
    } catch { /* not yet */ }
    if (exited) throw new Error('redis-server exited at start');
    await sleep(50); // eslint-disable-line no-await-in-loop
  }
  return {
    port: p,
    url: `redis://127.0.0.1:${p}/0`,
    proc,
    async stop() {
      if (exited) return;
      proc.kill('SIGKILL');
      await new Promise((r) => { if (exited) r(); else proc.once('exit', r); });
    },
  };
}
