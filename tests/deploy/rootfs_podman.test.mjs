// The root filesystem of scripts/build-rootfs.sh as an OCI image: `podman import` (no registry),
// then a container of it, as the non-root user from the image config, serves /readyz with a real
// IdP and upstream on 127.0.0.1 (host network). Podman keeps its images in a private directory
// removed afterwards, so the machine's own container storage is not touched.
// Run: node tests/deploy/rootfs_podman.test.mjs ROOTFS
// Exit 77 (skipped, with the reason) when podman is not installed or cannot run a container here.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { baseConfig, startIdp, startUpstream, waitFor } from '../integration/proxy/lib.mjs';

const rootfs = process.argv[2] || process.env.AG_ROOTFS;
if (!rootfs) {
  console.log('SKIP: no root filesystem given');
  process.exit(77);
}
if (spawnSync('podman', ['--version']).error) {
  console.log('SKIP: podman is not installed (Debian packages podman, runc)');
  process.exit(77);
}
const store = fs.mkdtempSync(path.join(os.tmpdir(), 'ag-podman-'));
const image = `localhost/airgate-rootfs-test:${process.pid}`;
const base = ['--root', path.join(store, 'root'), '--runroot', path.join(store, 'run'), '--storage-driver', 'vfs',
  '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
// podman's default limits (open files, processes) can be above what this machine allows a
// process without CAP_SYS_RESOURCE: ask for the limits this process has
const [nofile, nproc] = spawnSync('sh', ['-c', 'ulimit -n; ulimit -u'], { encoding: 'utf8' }).stdout.trim().split('\n');
const lim = (v) => (/^\d+$/.test(v ?? '') ? Math.min(Number(v), 1048576) : 1024);
const runOpts = ['--rm', '--network', 'host', '--ulimit', `nofile=${lim(nofile)}:${lim(nofile)}`,
  '--ulimit', `nproc=${lim(nproc)}:${lim(nproc)}`];
const podman = (args, opts = {}) => spawnSync('podman', [...base, ...args], { encoding: 'utf8', timeout: 120000, ...opts });
function cleanup() {
  podman(['rm', '-af']);
  podman(['rmi', '-af']);
  fs.rmSync(store, { recursive: true, force: true });
}

const imp = spawnSync('sh', ['-c', 'r=$1; shift; tar -C "$r" -c . | podman "$@"', 'sh', rootfs, ...base, 'import',
  '--change', 'USER=65532:65532', '--change', 'ENTRYPOINT=["/usr/local/bin/airgate"]',
  '--change', 'CMD=["serve","-c","/etc/airgate/airgate.yaml"]', '-', image], { encoding: 'utf8', timeout: 120000 });
if (imp.status !== 0) {
  cleanup();
  console.log(`SKIP: podman import failed here: ${(imp.stderr || imp.error?.message || '').trim().split('\n').pop()}`);
  process.exit(77);
}
// The default OCI runtime first, then runc (crun refuses hybrid cgroup hierarchies, for one).
let runtime = null;
const why = [];
for (const rt of [null, 'runc']) {
  const r = podman([...(rt ? ['--runtime', rt] : []), 'run', ...runOpts, image, 'version']);
  if (r.status === 0 && /^airgate \d/.test(r.stdout)) { runtime = rt ?? 'default'; break; }
  why.push(`${rt ?? 'default runtime'}: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
}
if (!runtime) {
  cleanup();
  console.log(`SKIP: podman cannot run a container on this machine (${why.join('; ')})`);
  process.exit(77);
}
const rtArgs = runtime === 'default' ? [] : ['--runtime', runtime];
console.log(`# podman runtime: ${runtime}`);

let idp; let up; let proc; let stderr = '';
const name = `ag-rootfs-test-${process.pid}`;
const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ag-podman-cfg-'));
before(async () => {
  idp = await startIdp(['--test-api']);
  up = await startUpstream();
});
after(async () => {
  podman([...rtArgs, 'rm', '-f', '-t', '5', name]);
  if (proc && proc.exitCode === null) proc.kill('SIGKILL');
  await up?.stop();
  await idp?.stop();
  cleanup();
  fs.rmSync(cfgDir, { recursive: true, force: true });
});

test('the image runs as the non-root user and serves /readyz', async () => {
  const cfg = baseConfig(idp, [up.url], { log: { level: 'info', format: 'gcp' } });
  fs.chmodSync(cfgDir, 0o755);
  fs.writeFileSync(path.join(cfgDir, 'airgate.yaml'), JSON.stringify(cfg), { mode: 0o644 });
  const user = podman([...rtArgs, 'image', 'inspect', '--format', '{{.Config.User}}', image]);
  assert.equal(user.stdout.trim(), '65532:65532');
  let port;
  proc = spawn('podman', [...base, ...rtArgs, 'run', ...runOpts, '--name', name, '--read-only',
    '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '-v', `${cfgDir}:/etc/airgate:ro`, image],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    stderr += d;
    for (const line of stderr.split('\n')) {
      try {
        const j = JSON.parse(line);
        if (j.message?.startsWith('listening on')) port = j.port;
      } catch { /* a partial line or podman's own output */ }
    }
  });
  await waitFor(() => port !== undefined || proc.exitCode !== null, { timeoutMs: 30000 });
  assert.ok(port, `airgate did not start in the container:\n${stderr}`);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, { timeoutMs: 15000 })
    .catch(() => assert.fail(`/readyz never 200:\n${stderr}`));
  const top = podman([...rtArgs, 'top', name, 'user', 'comm']);
  if (top.status === 0) assert.match(top.stdout, /airgate\s+airgate|65532\s+airgate/, top.stdout);
});
