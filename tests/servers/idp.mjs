#!/usr/bin/env node
// Keycloak-shaped OpenID provider for airgate's tests and demo, built on
// oidc-provider. See tests/servers/README.md for flags and the test API.
import crypto from 'node:crypto';
import http from 'node:http';

import { parseArgs } from './lib/args.mjs';
import {
  HttpError, exitOnSignals, guardProcess, readForm, readBody, readJson, sendHtml, sendJson,
} from './lib/http.mjs';
import { Accounts, accessTokenClaims, profileClaims } from './lib/idp-accounts.mjs';
import { loginPage, messagePage } from './lib/idp-pages.mjs';
import { KC, RESOURCE, createProvider } from './lib/idp-provider.mjs';
import { Store } from './lib/idp-store.mjs';
import {
  SUPPORTED_ALGS, generateSigningKey, signCompact, verifyCompact,
} from './lib/jws.mjs';

const SPEC = {
  host: { type: 'string', default: '127.0.0.1', help: 'address to bind' },
  port: { type: 'int', default: 0, max: 65535, help: 'port to bind (0: any free port)' },
  'public-url': { type: 'string', help: 'base URL the issuer is built from [default: http://HOST:PORT]' },
  realm: { type: 'string', default: 'demo', help: 'realm name (issuer = BASE/realms/REALM)' },
  'client-id': { type: 'string', default: 'airflow', help: 'confidential client id' },
  'client-secret': { type: 'string', help: 'client secret [default: random, printed in the JSON line]' },
  'redirect-uri': {
    type: 'list',
    default: ['http://127.0.0.1:*/oauth2/callback', 'http://localhost:*/oauth2/callback'],
    help: 'allowed redirect URI; * matches any characters',
  },
  'post-logout-redirect-uri': {
    type: 'list',
    default: ['http://127.0.0.1:*', 'http://localhost:*'],
    help: 'allowed post-logout redirect URI; * matches any characters',
  },
  'access-ttl': { type: 'int', default: 300, min: 1, help: 'access token lifetime, seconds' },
  'id-ttl': { type: 'int', min: 1, help: 'ID token lifetime, seconds [default: access-ttl]' },
  'refresh-ttl': { type: 'int', default: 1800, min: 1, help: 'refresh token lifetime, seconds' },
  'session-ttl': { type: 'int', default: 36000, min: 1, help: 'IdP session (SSO) lifetime, seconds' },
  alg: { type: 'string', default: 'RS256', choices: SUPPORTED_ALGS, help: 'token signing algorithm' },
  'no-audience-mapper': { type: 'bool', help: 'access tokens get aud "account" only (Keycloak without the Audience mapper)' },
  'test-api': { type: 'bool', help: 'enable the /_test/ control API (tests only)' },
  verbose: { type: 'bool', help: 'log every request and every token error to stderr' },
};

const args = parseArgs(process.argv.slice(2), SPEC, 'usage: node tests/servers/idp.mjs [options]');
if (!/^[A-Za-z0-9_-]{1,64}$/.test(args.realm)) {
  process.stderr.write('error: --realm must be 1-64 characters of A-Z a-z 0-9 _ -\n');
  process.exit(2);
}
if (!/^[\x21-\x7e]{1,128}$/.test(args['client-id'])) {
  process.stderr.write('error: --client-id must be 1-128 printable ASCII characters\n');
  process.exit(2);
}
if (args['public-url'] !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(args['public-url'])) {
  process.stderr.write('error: --public-url must be scheme://host[:port] without a path\n');
  process.exit(2);
}
for (const uri of [...args['redirect-uri'], ...args['post-logout-redirect-uri']]) {
  if (!/^https?:\/\//.test(uri)) {
    process.stderr.write(`error: redirect URI ${JSON.stringify(uri)} must start with http:// or https://\n`);
    process.exit(2);
  }
}
guardProcess('idp');

const log = (msg, verboseOnly = false) => {
  if (!verboseOnly || args.verbose) process.stderr.write(`idp: ${msg}\n`);
};

const realm = args.realm;
const realmPath = `/realms/${realm}`;
const clientId = args['client-id'];
const clientSecret = args['client-secret'] || crypto.randomBytes(32).toString('base64url');
const ttl = {
  access: args['access-ttl'],
  id: args['id-ttl'] || args['access-ttl'],
  refresh: args['refresh-ttl'],
  session: args['session-ttl'],
};
const accounts = new Accounts(realm);
const store = new Store();
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];
let keys = [generateSigningKey(args.alg)]; // current key first
let clientExtra = {}; // client metadata set through POST /_test/client
const CLIENT_EXTRA = ['jwks_uri', 'id_token_encrypted_response_alg', 'id_token_encrypted_response_enc'];

const stats = {
  requests: {},
  events: {},
  request(name) { this.requests[name] = (this.requests[name] || 0) + 1; },
  event(name) { this.events[name] = (this.events[name] || 0) + 1; },
  reset() { this.requests = {}; this.events = {}; },
};

let issuer;
let issuerHost;
let issuerProto;
let provider;
let providerCallback;

function buildProvider() {
  provider = createProvider({
    issuer,
    realm,
    realmPath,
    clientId,
    clientSecret,
    redirectUris: args['redirect-uri'],
    postLogoutUris: args['post-logout-redirect-uri'],
    ttl,
    alg: args.alg,
    audienceMapper: !args['no-audience-mapper'],
    keys,
    store,
    accounts,
    cookieKeys,
    stats,
    log,
    clientExtra,
  });
  provider.proxy = true; // trusts only the X-Forwarded-Proto that toProvider() sets
  providerCallback = provider.callback();
}

const ENDPOINTS = new Map([
  ['/.well-known/openid-configuration', 'discovery'],
  [`${KC}/auth`, 'auth'],
  [`${KC}/token`, 'token'],
  [`${KC}/certs`, 'certs'],
  [`${KC}/userinfo`, 'userinfo'],
  [`${KC}/logout`, 'logout'],
  [`${KC}/revoke`, 'revoke'],
]);

function classify(path) {
  if (path.startsWith('/_test/')) return 'test_api';
  if (path === realmPath) return 'realm';
  if (!path.startsWith(`${realmPath}/`)) return 'other';
  const rest = path.slice(realmPath.length);
  if (ENDPOINTS.has(rest)) return ENDPOINTS.get(rest);
  if (rest.startsWith('/login-actions/')) return 'login';
  if (rest.startsWith(`${KC}/auth/`)) return 'auth_resume';
  return 'other';
}

// Runs a request through oidc-provider (mounted under the realm path) and
// resolves when the response is done.
function toProvider(req, res) {
  return new Promise((resolve) => {
    res.once('finish', resolve);
    res.once('close', resolve);
    req.originalUrl = req.url;
    req.url = req.url.slice(realmPath.length) || '/';
    // Endpoint URLs always follow the issuer, whatever Host the client used.
    req.headers.host = issuerHost;
    req.headers['x-forwarded-proto'] = issuerProto;
    delete req.headers['x-forwarded-host'];
    providerCallback(req, res);
  });
}

// Refresh grants run one at a time so that two concurrent uses of one refresh
// token can never both succeed: the second always sees it consumed.
let refreshChain = Promise.resolve();

async function tokenEndpoint(req, res) {
  const body = await readBody(req, 56 * 1024);
  req.body = body.toString('utf8');
  const grantType = new URLSearchParams(req.body).get('grant_type');
  if (grantType !== 'refresh_token') return toProvider(req, res);
  const run = refreshChain.then(() => toProvider(req, res));
  refreshChain = run.catch(() => {});
  return run;
}

function bearerError(res, status, error, description) {
  sendJson(res, status, { error, error_description: description }, {
    'WWW-Authenticate': `Bearer realm="${realm}", error="${error}", error_description="${description}"`,
  });
}

async function userinfo(req, res) {
  let token;
  const auth = req.headers.authorization;
  if (auth && /^bearer /i.test(auth)) token = auth.slice(7).trim();
  else if (req.method === 'POST') token = (await readForm(req, 56 * 1024)).get('access_token') || undefined;
  if (!token) {
    res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm}"`, 'Content-Length': 0 });
    res.end();
    return;
  }
  let payload;
  try {
    ({ payload } = verifyCompact(token, keys.map((k) => k.publicJwk)));
  } catch (err) {
    bearerError(res, 401, 'invalid_token', `Token verification failed: ${err.message}`);
    return;
  }
  const account = accounts.bySub(payload.sub);
  if (payload.iss !== issuer || payload.typ !== 'Bearer' || !account) {
    bearerError(res, 401, 'invalid_token', 'Token is not an access token of this realm');
  } else if (typeof payload.exp !== 'number' || payload.exp <= Date.now() / 1000) {
    bearerError(res, 401, 'invalid_token', 'Token is not active');
  } else {
    sendJson(res, 200, profileClaims(account));
  }
}

async function loginActions(req, res, uid) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch {
    details = undefined;
  }
  if (!details || details.uid !== uid) {
    sendHtml(res, 400, messagePage('We are sorry...', 'Your login attempt timed out. Login will start from the beginning.'));
    return;
  }
  const { prompt, params } = details;
  if (prompt.name === 'consent') {
    // First-party client: grant whatever is missing without asking.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  const action = `${realmPath}/login-actions/authenticate/${uid}`;
  if (req.method === 'GET') {
    sendHtml(res, 200, loginPage({
      realm, action, username: params.login_hint || '', clientId: params.client_id,
    }));
    return;
  }
  if (req.method !== 'POST') throw new HttpError(405, 'method not allowed');
  const form = await readForm(req, 16 * 1024);
  const username = form.get('username') || '';
  const account = accounts.authenticate(username, form.get('password'));
  if (!account) {
    stats.event('login_failed');
    sendHtml(res, 200, loginPage({
      realm, action, username, clientId: params.client_id, error: 'Invalid username or password.',
    }));
    return;
  }
  stats.event('login_ok');
  await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
}

function mintTestToken(body) {
  const account = accounts.byUsername(body.username);
  if (!account) throw new HttpError(404, `unknown user ${JSON.stringify(body.username)}`);
  const life = body.ttl === undefined ? ttl.access : body.ttl;
  if (!Number.isInteger(life) || Math.abs(life) > 10 * 365 * 86400) throw new HttpError(400, 'ttl must be an integer number of seconds');
  const key = body.kid === undefined ? keys[0] : keys.find((k) => k.kid === body.kid);
  if (!key) throw new HttpError(404, `no key with kid ${JSON.stringify(body.kid)}`);
  const extra = body.extra_claims === undefined ? {} : body.extra_claims;
  const extraHeader = body.header === undefined ? {} : body.header;
  for (const [name, v] of [['extra_claims', extra], ['header', extraHeader]]) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, `${name} must be a JSON object`);
  }
  if ('alg' in extraHeader) throw new HttpError(400, 'header.alg cannot be overridden (the key decides)');
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    exp: now + life,
    iat: now,
    jti: crypto.randomUUID(),
    iss: issuer,
    ...accessTokenClaims(account, {
      realm,
      clientId: typeof body.client_id === 'string' ? body.client_id : clientId,
      sid: crypto.randomUUID(),
      scope: typeof body.scope === 'string' ? body.scope : 'openid profile email',
      audienceMapper: !args['no-audience-mapper'],
    }),
  };
  const header = { alg: key.alg, typ: 'JWT', kid: key.kid };
  for (const [target, src] of [[payload, extra], [header, extraHeader]]) {
    for (const [k, v] of Object.entries(src)) {
      if (v === null) delete target[k]; // eslint-disable-line no-param-reassign
      else target[k] = v; // eslint-disable-line no-param-reassign
    }
  }
  stats.event('test_token');
  return { access_token: signCompact(header, payload, key.privateKey), kid: key.kid, expires_in: life };
}

const keyInfo = () => ({ current_kid: keys[0].kid, kids: keys.map((k) => k.kid) });

async function testApi(req, res, path) {
  const { method } = req;
  let m;
  if (method === 'GET' && path === '/_test/stats') {
    sendJson(res, 200, {
      requests: stats.requests, events: stats.events, store: store.counts(), ...keyInfo(),
    });
  } else if (method === 'POST' && path === '/_test/stats/reset') {
    stats.reset();
    sendJson(res, 200, { ok: true });
  } else if (method === 'GET' && path === '/_test/users') {
    sendJson(res, 200, { users: accounts.list() });
  } else if (method === 'POST' && (m = /^\/_test\/users\/([^/]+)\/roles$/.exec(path))) {
    const account = accounts.byUsername(decodeURIComponent(m[1]));
    if (!account) throw new HttpError(404, `unknown user ${m[1]}`);
    const { roles } = await readJson(req, 64 * 1024);
    if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) {
      throw new HttpError(400, 'body must be {"roles": [strings]}');
    }
    account.clientRoles = [...roles];
    sendJson(res, 200, { username: account.username, roles: account.clientRoles });
  } else if (method === 'GET' && path === '/_test/keys') {
    sendJson(res, 200, keyInfo());
  } else if (method === 'POST' && path === '/_test/keys/rotate') {
    keys = [generateSigningKey(args.alg), ...keys];
    buildProvider();
    log(`signing key rotated, current kid ${keys[0].kid}`);
    sendJson(res, 200, keyInfo());
  } else if (method === 'POST' && path === '/_test/keys/retire') {
    if (keys.length < 2) throw new HttpError(409, 'only one key left; rotate first');
    const retired = keys[keys.length - 1].kid;
    keys = keys.slice(0, -1);
    buildProvider();
    log(`signing key ${retired} retired`);
    sendJson(res, 200, { retired_kid: retired, ...keyInfo() });
  } else if (method === 'POST' && path === '/_test/client') {
    const body = await readJson(req, 16 * 1024);
    const next = {};
    for (const [k, v] of Object.entries(body)) {
      if (!CLIENT_EXTRA.includes(k)) throw new HttpError(400, `unknown client setting ${JSON.stringify(k)} (known: ${CLIENT_EXTRA.join(', ')})`);
      if (v !== null && typeof v !== 'string') throw new HttpError(400, `${k} must be a string or null`);
      if (v !== null) next[k] = v;
    }
    clientExtra = next;
    try {
      buildProvider();
    } catch (err) {
      clientExtra = {};
      buildProvider();
      throw new HttpError(400, `client settings refused: ${err.message}`);
    }
    log(`client settings: ${JSON.stringify(clientExtra)}`);
    sendJson(res, 200, { client: clientExtra });
  } else if (method === 'POST' && path === '/_test/token') {
    sendJson(res, 200, mintTestToken(await readJson(req, 64 * 1024)));
  } else {
    throw new HttpError(404, `no test API route ${method} ${path}`);
  }
}

function realmInfo(res) {
  const spki = keys[0].publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  sendJson(res, 200, {
    realm,
    public_key: spki,
    'token-service': `${issuer}${KC}`,
    'account-service': `${issuer}/account`,
    'tokens-not-before': 0,
  });
}

async function handle(req, res) {
  const qpos = req.url.indexOf('?');
  const path = qpos === -1 ? req.url : req.url.slice(0, qpos);
  const kind = classify(path);
  stats.request(kind);
  if (args.verbose) log(`${req.method} ${path}`);
  if (kind === 'test_api') {
    if (!args['test-api']) throw new HttpError(404, 'not found (the test API needs --test-api)');
    await testApi(req, res, path);
  } else if (kind === 'realm') {
    realmInfo(res);
  } else if (kind === 'userinfo') {
    await userinfo(req, res);
  } else if (kind === 'login') {
    const m = /^\/login-actions\/authenticate\/([A-Za-z0-9_-]{1,64})$/.exec(path.slice(realmPath.length));
    if (!m) throw new HttpError(404, 'not found');
    await loginActions(req, res, m[1]);
  } else if (kind === 'token' && req.method === 'POST') {
    await tokenEndpoint(req, res);
  } else if (path.startsWith(`${realmPath}/`)) {
    await toProvider(req, res);
  } else {
    throw new HttpError(404, 'not found');
  }
}

const server = http.createServer({ keepAliveTimeout: 65000 }, (req, res) => {
  handle(req, res).catch((err) => {
    const status = err instanceof HttpError ? err.status : 500;
    if (status === 500) log(`internal error on ${req.method} ${req.url}: ${err && err.stack ? err.stack : err}`);
    if (res.headersSent) {
      res.destroy();
    } else {
      sendJson(res, status, { error: status === 500 ? 'server_error' : 'invalid_request', error_description: err.message });
    }
  });
});
server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  else socket.destroy();
});
server.on('error', (err) => {
  process.stderr.write(`idp: cannot listen on ${args.host}:${args.port}: ${err.message}\n`);
  process.exit(1);
});

server.listen(args.port, args.host, () => {
  const { port } = server.address();
  let base = args['public-url'];
  if (!base) {
    let host = args.host === '0.0.0.0' || args.host === '::' ? '127.0.0.1' : args.host;
    if (host.includes(':')) host = `[${host}]`;
    base = `http://${host}:${port}`;
  }
  issuer = `${base.replace(/\/+$/, '')}${realmPath}`;
  issuerHost = new URL(issuer).host;
  issuerProto = new URL(issuer).protocol.slice(0, -1);
  buildProvider();
  process.stdout.write(`${JSON.stringify({
    issuer, port, client_id: clientId, client_secret: clientSecret, realm,
  })}\n`);
  log(`listening on ${args.host}:${port}, issuer ${issuer}, resource ${RESOURCE}${args['test-api'] ? ', test API on' : ''}`);
});

exitOnSignals(server, { onClose: () => store.close() });
