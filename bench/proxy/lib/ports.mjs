#!/usr/bin/env node
// Prints N distinct free TCP ports on 127.0.0.1, one per line (all held open until every one
// is known, so they differ; the kernel picks them, so nothing is hard-coded).
import net from 'node:net';

const n = Number.parseInt(process.argv[2] ?? '1', 10);
if (!Number.isInteger(n) || n < 1 || n > 64) {
  process.stderr.write('usage: node ports.mjs N   (1..64)\n');
  process.exit(2);
}
const servers = [];
for (let i = 0; i < n; i++) {
  const s = net.createServer();
  // eslint-disable-next-line no-await-in-loop
  await new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', resolve);
  });
  servers.push(s);
}
process.stdout.write(`${servers.map((s) => s.address().port).join('\n')}\n`);
await Promise.all(servers.map((s) => new Promise((resolve) => { s.close(resolve); })));
