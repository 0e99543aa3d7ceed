// Small HTTP helpers shared by the test servers.

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Reads a whole (small) request body; rejects with HttpError 413 past `limit`.
export function readBody(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new HttpError(413, `request body larger than ${limit} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => { if (!failed) resolve(Buffer.concat(chunks)); });
    req.on('error', (err) => { if (!failed) { failed = true; reject(err); } });
  });
}

export async function readJson(req, limit) {
  const body = await readBody(req, limit);
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

export async function readForm(req, limit) {
  const body = await readBody(req, limit);
  return new URLSearchParams(body.toString('utf8'));
}

export function sendJson(res, status, value, headers = {}) {
  const body = Buffer.from(`${JSON.stringify(value)}\n`);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(body);
}

export function sendHtml(res, status, html, headers = {}) {
  const body = Buffer.from(html);
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(body);
}

const HTML_ESCAPES = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
};

export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

export function acceptsHtml(req) {
  const accept = req.headers.accept;
  return typeof accept === 'string' && /\btext\/html\b/i.test(accept);
}

// Installs SIGTERM/SIGINT handlers that close the server (dropping idle
// keep-alive connections at once, busy ones after `graceMs`) and exit 0.
export function exitOnSignals(server, { graceMs = 2000, onClose } = {}) {
  let closing = false;
  const stop = (signal) => {
    if (closing) return;
    closing = true;
    process.stderr.write(`received ${signal}, shutting down\n`);
    server.close(() => {
      if (onClose) onClose();
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => {
      server.closeAllConnections();
      setTimeout(() => process.exit(0), 200).unref();
    }, graceMs).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

// Logs unexpected errors to stderr instead of crashing the test server.
export function guardProcess(name) {
  process.on('uncaughtException', (err) => {
    process.stderr.write(`${name}: uncaught exception: ${err && err.stack ? err.stack : err}\n`);
  });
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`${name}: unhandled rejection: ${err && err.stack ? err.stack : err}\n`);
  });
}
