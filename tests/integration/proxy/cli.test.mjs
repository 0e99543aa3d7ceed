// `airgate serve` startup errors: clear messages and the documented exit codes, never a crash.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { AIRGATE, baseConfig, startIdp, startUpstream, tmpDir } from './lib.mjs';

let idp; let up; let dir;
before(async () => {
  dir = tmpDir();
  idp = await startIdp([]);
  up = await startUpstream();
});
after(async () => { await up?.stop(); await idp?.stop(); });

const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIRGATE_')));
function serve(args) {
  const r = spawnSync(AIRGATE, ['serve', ...args], { env, encoding: 'utf8', timeout: 20000 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}
function withConfig(cfg) {
  const file = path.join(dir, `c${Math.random().toString(16).slice(2)}.yaml`);
  fs.writeFileSync(file, typeof cfg === 'string' ? cfg : JSON.stringify(cfg));
  return file;
}

test('usage errors exit 2 with a message; --help exits 0', () => {
  const help = serve(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /Usage: airgate serve -c FILE/);
  for (const args of [[], ['-c'], ['--bogus'], ['-c', 'a.yaml', 'extra']]) {
    const r = serve(args);
    assert.equal(r.code, 2, JSON.stringify(args));
    assert.match(r.err, /Usage|requires|unexpected|unrecognized|invalid/i);
  }
});

test('a missing or invalid config exits 2 naming the problem', () => {
  const missing = serve(['-c', path.join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /nope\.yaml/);
  const bad = serve(['-c', withConfig('listen: [unclosed\n')]);
  assert.equal(bad.code, 2);
  const noUpstreams = baseConfig(idp, []);
  delete noUpstreams.upstreams.servers;
  const r = serve(['-c', withConfig(noUpstreams)]);
  assert.equal(r.code, 2);
  assert.match(r.err, /upstreams\.servers/);
});

test('an address in use exits 1 with a clear message', async () => {
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  const port = blocker.address().port;
  try {
    const r = serve(['-c', withConfig(baseConfig(idp, [up.url], { listen: `127.0.0.1:${port}` }))]);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot serve on 127\.0\.0\.1:\d+/);
  } finally {
    blocker.close();
  }
});

test('unreadable TLS files exit 2 naming the file', () => {
  const r = serve(['-c', withConfig(baseConfig(idp, [up.url], { tls: { cert_file: path.join(dir, 'missing.crt'), key_file: path.join(dir, 'missing.key') } }))]);
  assert.equal(r.code, 2);
  assert.match(r.err, /missing\.(crt|key)/);
});
