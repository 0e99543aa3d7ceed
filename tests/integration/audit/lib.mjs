// Helpers for the audit tests: a raw HTTP exchange that keeps every header line (duplicates,
// exact spelling), and log scanning.
import net from 'node:net';

// One raw HTTP/1.1 exchange; resolves { status, lines (header lines as sent), header(name) (all
// values), body (Buffer), all (Buffer), reset (true when the peer reset the connection) }.
export function raw(port, chunks, { timeoutMs = 10000, gapMs = 0 } = {}) {
  const parts = Array.isArray(chunks) ? chunks : [chunks];
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const got = [];
    let reset = false;
    const t = setTimeout(() => { s.destroy(); reject(new Error('raw request timed out')); }, timeoutMs);
    s.on('connect', async () => {
      for (const p of parts) {
        if (s.destroyed) break;
        s.write(p);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
    s.on('data', (d) => got.push(d));
    s.on('error', (e) => { if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true; else { clearTimeout(t); reject(e); } });
    s.on('close', () => {
      clearTimeout(t);
      const all = Buffer.concat(got);
      const end = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, end === -1 ? all.length : end).toString('latin1');
      const [statusLine, ...lines] = head.split('\r\n');
      const header = (n) => lines.filter((l) => l.slice(0, l.indexOf(':')).toLowerCase() === n.toLowerCase())
        .map((l) => l.slice(l.indexOf(':') + 1).trim());
      resolve({ status: Number((statusLine || '').split(' ')[1]), lines, header, body: end === -1 ? Buffer.alloc(0) : all.subarray(end + 4), all, reset });
    });
  });
}

// Retries an exchange the peer reset before answering (an early answer followed by a close may
// reach the client as a reset); a reset is never taken as the answer.
export async function answer(port, chunks, opts) {
  for (let i = 0; i < 5; i++) {
    const r = await raw(port, chunks, opts);
    if (!(r.reset && !r.status)) return r;
  }
  throw new Error('every attempt was reset');
}

export const jsonLines = (lines) => lines.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);

// Asserts-friendly: the echo upstream's JSON view of the request, or undefined.
export function echoOf(r) {
  try { return JSON.parse(r.body.toString()); } catch { return undefined; }
}
