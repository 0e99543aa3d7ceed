// The root filesystem of scripts/build-rootfs.sh, checked from the inside: `airgate version` and
// `check-config` run in it with `chroot` as the non-root user (a missing runtime library fails
// here), it holds no shell and no package manager, and `airgate serve` started in it reaches a
// real IdP and upstream on 127.0.0.1 (the chroot shares the network) and answers /readyz 200.
// Run: node tests/deploy/rootfs.test.mjs ROOTFS   (exit 77: not root, or no ROOTFS given)
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { baseConfig, startIdp, startUpstream, waitFor } from '../integration/proxy/lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.resolve(here, '../..');
const rootfs = process.argv[2] || process.env.AG_ROOTFS;
if (!rootfs) {
  console.log('SKIP: no root filesystem given (scripts/build-rootfs.sh OUTDIR, then this test with OUTDIR)');
  process.exit(77);
}
if (process.getuid() !== 0) {
  console.log('SKIP: chroot needs root');
  process.exit(77);
}
const UID = '65532';
const CHROOT = ['/usr/sbin/chroot', '/sbin/chroot'].find((p) => fs.existsSync(p)) ?? 'chroot';
const asUser = ['--userspec', `${UID}:${UID}`, rootfs, '/usr/local/bin/airgate'];

// A scratch directory inside the root filesystem, readable by the airgate user; removed after.
const scratch = fs.mkdtempSync(path.join(rootfs, 'tmp', 'ag-rootfs-test-'));
fs.chmodSync(scratch, 0o755);
const inside = (p) => `/${path.relative(rootfs, p)}`;
function put(name, text) {
  const p = path.join(scratch, name);
  fs.writeFileSync(p, text, { mode: 0o644 });
  return inside(p);
}
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('airgate version runs in the root filesystem as the non-root user', () => {
  const r = spawnSync(CHROOT, [...asUser, 'version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `chroot airgate version failed:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^airgate \d+\.\d+\.\d+/);
});

test('check-config accepts the GKE configuration inside it', () => {
  const cfg = put('airgate.yaml', fs.readFileSync(path.join(src, 'deploy/k8s/overlays/gke/airgate.yaml'), 'utf8'));
  const client = put('client-secret', 'client-secret-for-the-test');
  const cookie = put('cookie-secret', 'cookie-secret-for-the-test-0123456789abcdef');
  const r = spawnSync(CHROOT, [...asUser, 'check-config', '-c', cfg], {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', AIRGATE_OIDC_CLIENT_SECRET_FILE: client, AIRGATE_SESSION_COOKIE_SECRET_FILE: cookie },
  });
  assert.equal(r.status, 0, `check-config failed:\n${r.stdout}${r.stderr}`);
  const bad = put('bad.yaml', 'log: { format: gpc }\n');
  const b = spawnSync(CHROOT, [...asUser, 'check-config', '-c', bad], { encoding: 'utf8' });
  assert.notEqual(b.status, 0, 'a broken config must fail inside the root filesystem too');
});

test('only the runtime: no shell, no package manager, a CA bundle, the non-root user', () => {
  for (const p of ['bin/sh', 'usr/bin/sh', 'bin/bash', 'usr/bin/bash', 'usr/bin/apt', 'usr/bin/apt-get', 'usr/bin/dpkg']) {
    assert.ok(!fs.existsSync(path.join(rootfs, p)), `${p} is in the root filesystem`);
  }
  const bundle = fs.readFileSync(path.join(rootfs, 'etc/ssl/certs/ca-certificates.crt'), 'utf8');
  assert.ok((bundle.match(/BEGIN CERTIFICATE/g) ?? []).length > 50, 'CA bundle missing or nearly empty');
  assert.match(fs.readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8'), new RegExp(`^airgate:x:${UID}:${UID}:`, 'm'));
  const st = fs.statSync(path.join(rootfs, 'usr/local/bin/airgate'));
  assert.equal(st.uid, 0, 'the binary belongs to root (the process cannot rewrite it)');
  assert.equal(st.mode & 0o7022, 0, 'the binary is neither setuid nor writable by others');
  // every runtime package of the one list is inside, with its version recorded for scanners
  const listed = fs.readFileSync(path.join(src, 'deploy/runtime-packages.txt'), 'utf8').split('\n')
    .map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  const status = fs.readFileSync(path.join(rootfs, 'var/lib/dpkg/status'), 'utf8');
  for (const p of listed) assert.match(status, new RegExp(`^Package: ${p.replace(/[.+]/g, '\\$&')}$`, 'm'), `${p} not inside`);
});

let idp; let up; let proc; let stderr = '';
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
});
after(async () => {
  if (proc && proc.exitCode === null) {
    proc.kill('SIGTERM');
    await new Promise((r) => { const t = setTimeout(() => { proc.kill('SIGKILL'); r(); }, 10000); proc.once('exit', () => { clearTimeout(t); r(); }); });
  }
  await up?.stop();
  await idp?.stop();
});

test('airgate serve in the root filesystem loads the IdP keys and answers /readyz', async () => {
  const cfg = baseConfig(idp, [up.url], { log: { level: 'info', format: 'gcp', gcp_project_id: 'airgate-test-1' } });
  const file = put('serve.yaml', JSON.stringify(cfg));
  let port;
  proc = spawn(CHROOT, [...asUser, 'serve', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    stderr += d;
    for (const line of stderr.split('\n')) {
      try {
        const j = JSON.parse(line);
        if (j.message?.startsWith('listening on')) port = j.port;
      } catch { /* a partial line */ }
    }
  });
  await waitFor(() => port !== undefined || proc.exitCode !== null, { timeoutMs: 15000 });
  assert.ok(port, `airgate did not start in the root filesystem:\n${stderr}`);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, { timeoutMs: 15000 })
    .catch(() => assert.fail(`/readyz never 200:\n${stderr}`));
  const r = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(r.status, 200);
  // chroot execs airgate in the same process: its ids are the server's
  const st = fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8');
  assert.match(st, new RegExp(`^Uid:\\s+${UID}\\s+${UID}\\s+${UID}\\s+${UID}$`, 'm'), 'airgate does not run as the airgate user');
  assert.match(fs.readlinkSync(`/proc/${proc.pid}/exe`), /airgate$/);
});
