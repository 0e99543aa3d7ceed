// Helpers for the browser-login integration tests: a real IdP (tests/servers/idp.mjs), an echo
// upstream, and `airgate serve` whose public_url points at its own (pre-chosen) loopback port.
import net from 'node:net';

import { CookieJar, jarFetch, follow, browserLogin } from '../../servers/client.mjs';
import { startIdp, startUpstream, startAirgate, baseConfig, sleep, waitFor } from '../proxy/lib.mjs';

export { CookieJar, jarFetch, follow, browserLogin, startIdp, startUpstream, sleep, waitFor };

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Starts airgate for idp/upstream; `extra` is merged into the config (one level deep).
// `publicUrl` lets a second replica stand behind the same public address as the first.
export async function startGate(idp, upstream, extra = {}, { publicUrl } = {}) {
  const port = await freePort();
  const cfg = baseConfig(idp, [`http://127.0.0.1:${upstream.info.port}`], {
    listen: `127.0.0.1:${port}`,
    public_url: publicUrl || `http://127.0.0.1:${port}`,
    ...extra,
  });
  cfg.oidc = { ...cfg.oidc, client_secret: idp.info.client_secret, ...(extra.oidc || {}) };
  cfg.log = { level: 'warn', ...(extra.log || {}) };
  const gate = await startAirgate(cfg);
  // wait until an upstream is healthy and the keys are loaded
  await waitFor(async () => (await fetch(`${gate.url}/readyz`)).status === 200, { timeoutMs: 10000 });
  return gate;
}

export const NAV = { accept: 'text/html,application/xhtml+xml' };
export const API = { accept: 'application/json' };

// Signs in through airgate with the IdP's login form; returns the final response.
export async function signIn(gate, jar, username, rd = '/echo/home', { stop } = {}) {
  const r = await browserLogin(jar, `${gate.url}/oauth2/start?rd=${encodeURIComponent(rd)}`,
    { username, password: username, stop });
  return r;
}

// The echo upstream's view of one request made with the jar (JSON mode).
export async function echo(gate, jar, path = '/echo/api') {
  const r = await jarFetch(jar, `${gate.url}${path}`, { headers: API });
  const body = await r.text();
  let json;
  try { json = JSON.parse(body); } catch { json = undefined; }
  const header = (n) => json?.headers?.find(([k]) => k.toLowerCase() === n.toLowerCase())?.[1];
  return { status: r.status, json, body, header, res: r };
}

export async function idpStats(idp) {
  return (await fetch(`${idp.url}/_test/stats`)).json();
}

export async function setRoles(idp, user, roles) {
  const r = await fetch(`${idp.url}/_test/users/${user}/roles`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ roles }),
  });
  if (r.status !== 200) throw new Error(`setRoles: HTTP ${r.status}`);
}

export function cloneJar(jar) {
  const j = new CookieJar();
  for (const [k, v] of jar.cookies) j.cookies.set(k, { ...v });
  return j;
}
