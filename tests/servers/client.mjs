// Browser-less HTTP client helpers for tests: a cookie jar that behaves like a
// browser's for http://127.0.0.1 (cookies ignore the port), redirect following,
// the Keycloak login form, and PKCE.
import crypto from 'node:crypto';

export class CookieJar {
  constructor() {
    this.cookies = new Map(); // `${host}|${path}|${name}` -> { host, path, name, value, expires }
  }

  store(url, setCookieHeaders) {
    const u = new URL(url);
    for (const line of setCookieHeaders) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let cpath = '/';
      const dir = u.pathname.slice(0, u.pathname.lastIndexOf('/'));
      if (dir) cpath = dir;
      let expires;
      for (const attr of attrs) {
        const i = attr.indexOf('=');
        const k = (i === -1 ? attr : attr.slice(0, i)).trim().toLowerCase();
        const v = i === -1 ? '' : attr.slice(i + 1).trim();
        if (k === 'path' && v.startsWith('/')) cpath = v;
        else if (k === 'max-age' && /^-?\d+$/.test(v)) expires = Date.now() + Number(v) * 1000;
        else if (k === 'expires' && expires === undefined) {
          const t = Date.parse(v);
          if (!Number.isNaN(t)) expires = t;
        }
      }
      const key = `${u.hostname}|${cpath}|${name}`;
      if (expires !== undefined && expires <= Date.now()) this.cookies.delete(key);
      else this.cookies.set(key, { host: u.hostname, path: cpath, name, value, expires });
    }
  }

  header(url) {
    const u = new URL(url);
    const now = Date.now();
    const out = [];
    for (const [key, c] of this.cookies) {
      if (c.expires !== undefined && c.expires <= now) {
        this.cookies.delete(key);
        continue;
      }
      const pathOk = u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`);
      if (c.host === u.hostname && pathOk) out.push(`${c.name}=${c.value}`);
    }
    return out.join('; ');
  }

  get(name, host = '127.0.0.1') {
    for (const c of this.cookies.values()) if (c.name === name && c.host === host) return c.value;
    return undefined;
  }

  names() {
    return [...this.cookies.values()].map((c) => c.name);
  }
}

// fetch() with the jar and no automatic redirects.
export async function jarFetch(jar, url, init = {}) {
  const headers = new Headers(init.headers || {});
  const cookie = jar.header(url);
  if (cookie) headers.set('cookie', cookie);
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(url, res.headers.getSetCookie());
  return res;
}

// Follows redirects (GET after 302/303, like a browser) until a non-redirect
// response or until `stop(url)` says so. Returns { res, url, chain }.
export async function follow(jar, url, init = {}, { max = 20, stop } = {}) {
  const chain = [url];
  let cur = url;
  let req = init;
  for (let i = 0; i <= max; i += 1) {
    const res = await jarFetch(jar, cur, req); // eslint-disable-line no-await-in-loop
    const loc = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !loc) return { res, url: cur, chain };
    const next = new URL(loc, cur).href;
    chain.push(next);
    if (stop && stop(next)) {
      await res.arrayBuffer(); // eslint-disable-line no-await-in-loop
      return { res, url: next, chain, stopped: true };
    }
    await res.arrayBuffer(); // eslint-disable-line no-await-in-loop
    cur = next;
    if (res.status !== 307 && res.status !== 308) req = { headers: init.headers };
  }
  throw new Error(`too many redirects: ${chain.join(' -> ')}`);
}

const unescapeHtml = (s) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<')
  .replace(/&gt;/g, '>')
  .replace(/&amp;/g, '&');

// Parses the Keycloak-style login page: { action, error }.
export function parseLoginForm(html, pageUrl) {
  const form = /<form[^>]*id="kc-form-login"[^>]*action="([^"]*)"/.exec(html);
  if (!form) return undefined;
  const err = /<span id="input-error"[^>]*>([^<]*)<\/span>/.exec(html);
  return { action: new URL(unescapeHtml(form[1]), pageUrl).href, error: err ? unescapeHtml(err[1]) : undefined };
}

// Starting from `url` (e.g. a protected page or an authorization URL), follows
// redirects; if the IdP's login form appears, submits username/password and
// follows on. `stop(url)` ends early (e.g. at the client's redirect_uri).
// Returns { res, url, chain, loginShown, loginError }.
export async function browserLogin(jar, url, { username, password, stop } = {}) {
  const first = await follow(jar, url, {}, { stop });
  if (first.stopped) return { ...first, loginShown: false };
  const html = await first.res.text();
  const form = parseLoginForm(html, first.url);
  if (!form) return { ...first, body: html, loginShown: false };
  const body = new URLSearchParams({ username, password, login: 'Sign In' });
  const posted = await jarFetch(jar, form.action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const loc = posted.headers.get('location');
  if (posted.status >= 300 && posted.status < 400 && loc) {
    await posted.arrayBuffer();
    const next = new URL(loc, form.action).href;
    if (stop && stop(next)) {
      return {
        res: posted, url: next, chain: [...first.chain, next], stopped: true, loginShown: true,
      };
    }
    const rest = await follow(jar, next, {}, { stop });
    return { ...rest, chain: [...first.chain, ...rest.chain], loginShown: true };
  }
  const page = await posted.text();
  const again = parseLoginForm(page, form.action);
  return {
    res: posted, url: form.action, chain: first.chain, body: page, loginShown: true, loginError: again?.error,
  };
}

export function pkcePair() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}
