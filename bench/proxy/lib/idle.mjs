#!/usr/bin/env node
// Opens COUNT keep-alive connections to 127.0.0.1:PORT, sends one request on each, reads the
// response, then leaves them idle for HOLD seconds. Prints "READY {json}" once every connection
// is open and answered (the caller measures the server's memory then) and "DONE {json}" at the
// end with how many the server closed meanwhile. Bounded: gives up after --timeout seconds.
// Usage: node idle.mjs --port P [--count 10000] [--path /healthz] [--hold 10] [--token-file F]
import fs from 'node:fs';
import net from 'node:net';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const int = (name, dflt, min, max) => {
  const v = Number.parseInt(arg(name, String(dflt)), 10);
  if (!Number.isInteger(v) || v < min || v > max) {
    process.stderr.write(`idle: --${name} must be ${min}..${max}\n`);
    process.exit(2);
  }
  return v;
};
const port = int('port', 0, 1, 65535);
const count = int('count', 10000, 1, 60000);
const hold = int('hold', 10, 0, 600);
const timeout = int('timeout', 120, 1, 3600);
const parallel = int('parallel', 256, 1, 4096);
const path = arg('path', '/healthz');
const tokenFile = arg('token-file');
const auth = tokenFile ? `Authorization: Bearer ${fs.readFileSync(tokenFile, 'utf8').trim()}\r\n` : '';
const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${auth}\r\n`;

const stats = {
  count, opened: 0, answered: 0, failed: 0, closed_by_server: 0, status: {},
};
const sockets = [];
let started = 0;
let inflight = 0;
let ready = false;
let finished = false;

const giveUp = setTimeout(() => finish('timeout'), timeout * 1000);

function finish(why) {
  if (finished) return;
  finished = true;
  clearTimeout(giveUp);
  stats.end = why;
  stats.still_open = sockets.filter((s) => !s.destroyed && !s.airgateClosed).length;
  process.stdout.write(`DONE ${JSON.stringify(stats)}\n`);
  for (const s of sockets) s.destroy();
  setTimeout(() => process.exit(why === 'ok' ? 0 : 1), 100).unref();
}

function maybeReady() {
  if (ready || stats.answered + stats.failed < count) return;
  ready = true;
  process.stdout.write(`READY ${JSON.stringify(stats)}\n`);
  setTimeout(() => finish('ok'), hold * 1000);
}

function openOne() {
  started++;
  inflight++;
  const s = net.connect({ host: '127.0.0.1', port });
  sockets.push(s);
  let buf = '';
  let answered = false;
  const settle = (ok) => {
    if (answered) return;
    answered = true;
    inflight--;
    if (ok) stats.answered++; else stats.failed++;
    pump();
    maybeReady();
  };
  s.setNoDelay(true);
  s.on('connect', () => {
    stats.opened++;
    s.write(request);
  });
  s.on('data', (d) => {
    if (answered) return;
    buf += d.toString('latin1');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf);
    const end = buf.indexOf('\r\n\r\n');
    if (m && end >= 0) {
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, end));
      const chunkedDone = /\r\n0\r\n\r\n$/.test(buf);
      if ((cl && buf.length >= end + 4 + Number(cl[1])) || chunkedDone) {
        stats.status[m[1]] = (stats.status[m[1]] ?? 0) + 1;
        settle(true);
      }
    }
  });
  s.on('error', () => settle(false));
  s.on('close', () => {
    s.airgateClosed = true;
    if (answered) stats.closed_by_server++;
    settle(false);
  });
}

function pump() {
  while (!finished && started < count && inflight < parallel) openOne();
}
pump();
