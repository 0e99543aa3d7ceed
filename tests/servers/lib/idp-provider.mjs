// oidc-provider configuration that gives the test IdP Keycloak's shape:
// Keycloak endpoint paths, JWT access tokens with Keycloak's claims, refresh
// tokens always issued and rotated on every use, PKCE S256 required, consent
// granted automatically, RP-initiated logout without a confirmation page.
import Provider, { errors } from 'oidc-provider';

import { accessTokenClaims, profileClaims } from './idp-accounts.mjs';
import { messagePage } from './idp-pages.mjs';

export const RESOURCE = 'urn:airgate:test-idp:account';
export const SCOPES = ['openid', 'offline_access', 'profile', 'email', 'roles', 'web-origins'];
export const KC = '/protocol/openid-connect';

// Keycloak-style redirect URI patterns: '*' matches any run of characters
// (e.g. http://127.0.0.1:*/oauth2/callback); anything else must match exactly.
export function compilePatterns(patterns) {
  return patterns.map((p) => {
    if (!p.includes('*')) return (v) => v === p;
    const re = new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`);
    return (v) => re.test(v);
  });
}

function concreteUris(patterns, placeholder) {
  const exact = patterns.filter((p) => !p.includes('*'));
  return exact.length ? exact : [placeholder];
}

function requestedScopes(ctx) {
  const asked = String(ctx.oidc.params.scope || 'openid').split(' ');
  return asked.filter((s) => SCOPES.includes(s)).join(' ');
}

function clearSessionCookie(ctx, cookieOpts) {
  ctx.oidc.cookies.set(ctx.oidc.provider.cookieName('session'), null, { ...cookieOpts, overwrite: true });
}

function afterLogoutUri(ctx, state) {
  if (state && state.postLogoutRedirectUri) {
    const u = new URL(state.postLogoutRedirectUri);
    if (state.state != null) u.searchParams.set('state', state.state);
    return u.href;
  }
  return ctx.oidc.urlFor('end_session_success');
}

// opts: { issuer, realm, realmPath, clientId, clientSecret, redirectUris,
//   postLogoutUris, ttl: {access, id, refresh, session}, alg, keys (current
//   first), store, accounts, cookieKeys, stats, log, audienceMapper, clientExtra (more client
//   metadata, e.g. jwks_uri and id_token_encrypted_response_alg/enc) }
export function createProvider(opts) {
  const {
    issuer, realm, realmPath, clientId, clientSecret, ttl, alg, keys, store, accounts, stats, log,
    audienceMapper,
  } = opts;
  const currentKid = keys[0].kid;
  const cookieLong = { httpOnly: true, sameSite: 'lax', signed: true };
  const cookieShort = { httpOnly: true, sameSite: 'lax', signed: true };

  async function revokeSession(ctx) {
    const { session } = ctx.oidc;
    for (const { grantId } of Object.values(session.authorizations || {})) {
      if (grantId) {
        store.revokeByGrantId(grantId);
        await ctx.oidc.provider.Grant.adapter.destroy(grantId);
      }
    }
    await session.destroy();
    clearSessionCookie(ctx, cookieLong);
  }

  const provider = new Provider(issuer, {
    adapter: store.adapterClass(),
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      client_name: clientId,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: concreteUris(opts.redirectUris, 'http://127.0.0.1/airgate-test-idp-wildcard'),
      post_logout_redirect_uris: concreteUris(opts.postLogoutUris, 'http://127.0.0.1/airgate-test-idp-wildcard'),
      token_endpoint_auth_method: 'client_secret_basic', // client_secret_post is accepted too
      id_token_signed_response_alg: alg,
      // Keycloak's "ID token encryption" client settings (jwks_uri = the client's JWKS URL).
      ...(opts.clientExtra || {}),
    }],
    jwks: { keys: keys.map((k) => k.privateJwk) },
    cookies: {
      keys: opts.cookieKeys,
      names: { session: 'KEYCLOAK_SESSION', interaction: '_interaction', resume: '_interaction_resume' },
      long: cookieLong,
      short: cookieShort,
    },
    routes: {
      authorization: `${KC}/auth`,
      token: `${KC}/token`,
      jwks: `${KC}/certs`,
      userinfo: `${KC}/userinfo`,
      end_session: `${KC}/logout`,
      revocation: `${KC}/revoke`,
      introspection: `${KC}/token/introspect`,
      pushed_authorization_request: `${KC}/ext/par/request`,
    },
    scopes: SCOPES,
    claims: {
      // Keycloak's default client scopes put these into every ID token.
      openid: ['sub', 'azp', 'typ', 'preferred_username', 'email', 'email_verified', 'given_name', 'family_name', 'name'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    conformIdTokenClaims: false,
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    pkce: { methods: ['S256'], required: () => true },
    responseTypes: ['code'],
    enabledJWA: {
      idTokenSigningAlgValues: [alg],
      // RSA-OAEP-256 too, so that tests can show what a relying party without it answers.
      idTokenEncryptionAlgValues: ['RSA-OAEP', 'RSA-OAEP-256', 'ECDH-ES'],
      idTokenEncryptionEncValues: ['A128CBC-HS256', 'A128GCM', 'A256CBC-HS512', 'A256GCM'],
    },
    clientBasedCORS: () => false,
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    ttl: {
      AccessToken: ttl.access,
      IdToken: ttl.id,
      RefreshToken: ttl.refresh,
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: ttl.session,
      Grant: ttl.session,
    },
    features: {
      devInteractions: { enabled: false },
      encryption: { enabled: true }, // encrypted ID tokens, per client (POST /_test/client)
      revocation: { enabled: true },
      userinfo: { enabled: true }, // served by idp.mjs itself (JWT access tokens)
      rpInitiatedLogout: {
        enabled: true,
        // Keycloak ends the session without asking when the RP sends a valid
        // id_token_hint; this IdP never asks.
        async logoutSource(ctx) {
          const state = ctx.oidc.session.state || {};
          await revokeSession(ctx);
          stats.event('logout');
          ctx.status = 302;
          ctx.redirect(afterLogoutUri(ctx, state));
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = messagePage('You are logged out', 'You have been signed out of the realm.');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf || RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resource) {
          if (resource !== RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: SCOPES.join(' '),
            audience: 'account',
            accessTokenTTL: ttl.access,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg, kid: currentKid } },
          };
        },
      },
    },
    formats: {
      customizers: {
        // Rewrite the RFC 9068 token into Keycloak's access-token shape.
        async jwt(ctx, token, jwt) {
          const account = accounts.bySub(token.accountId);
          if (!account) throw new Error('account vanished');
          const {
            iss, exp, iat, jti, scope,
          } = jwt.payload;
          jwt.header = { typ: 'JWT' }; // eslint-disable-line no-param-reassign
          jwt.payload = { // eslint-disable-line no-param-reassign
            exp,
            iat,
            jti,
            iss,
            ...accessTokenClaims(account, {
              realm, clientId: token.clientId, sid: token.sid, scope, audienceMapper,
            }),
          };
        },
      },
    },
    async findAccount(ctx, sub) {
      const account = accounts.bySub(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims(use) {
          const extra = use === 'id_token' ? { azp: ctx?.oidc?.client?.clientId, typ: 'ID' } : {};
          return { ...profileClaims(account), ...extra };
        },
      };
    },
    // First-party client: consent is granted automatically for what it asks.
    async loadExistingGrant(ctx) {
      const { client, session } = ctx.oidc;
      const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
      let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== session.accountId) {
        grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      }
      const scope = requestedScopes(ctx);
      grant.addOIDCScope(scope);
      grant.addResourceScope(RESOURCE, scope);
      await grant.save();
      return grant;
    },
    interactions: {
      url: (ctx, interaction) => `${realmPath}/login-actions/authenticate/${interaction.uid}`,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = messagePage('We are sorry...', `${out.error}: ${out.error_description || ''}`);
    },
  });

  // Wildcard-capable redirect URI checks (patterns from the command line).
  const redirectOk = compilePatterns(opts.redirectUris);
  const postLogoutOk = compilePatterns(opts.postLogoutUris);
  provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    return this.clientId === clientId && typeof value === 'string' && redirectOk.some((m) => m(value));
  };
  // Keycloak puts the session id (sid) into every ID and access token.
  provider.Client.prototype.includeSid = () => true;
  provider.Client.prototype.postLogoutRedirectUriAllowed = function postLogoutAllowed(value) {
    return this.clientId === clientId && typeof value === 'string' && postLogoutOk.some((m) => m(value));
  };

  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (route === 'token' && ctx.status === 200 && ctx.body && ctx.body.access_token) {
      // Keycloak's extra token-response members.
      if (ctx.body.refresh_token) ctx.body.refresh_expires_in = ttl.refresh;
      ctx.body['not-before-policy'] = 0;
      if (typeof ctx.body.id_token === 'string' && ctx.body.id_token.split('.').length === 5) stats.event('id_token_encrypted');
      try {
        const p = JSON.parse(Buffer.from(ctx.body.access_token.split('.')[1], 'base64url'));
        if (p.sid) ctx.body.session_state = p.sid;
      } catch { /* leave it out */ }
    } else if (route === 'end_session' && ctx.status === 200 && ctx.oidc.session && !ctx.oidc.session.accountId) {
      // No IdP session: redirect straight back instead of an auto-submit form.
      const state = ctx.oidc.session.state || {};
      await ctx.oidc.session.destroy();
      clearSessionCookie(ctx, cookieLong);
      stats.event('logout_without_session');
      ctx.status = 302;
      ctx.redirect(afterLogoutUri(ctx, state));
    }
  });

  // Counter names come from a fixed set, whatever clients send.
  const grantName = (ctx) => {
    const g = ctx.oidc?.params?.grant_type;
    return g === 'authorization_code' || g === 'refresh_token' ? g : 'other';
  };
  provider.on('grant.success', (ctx) => stats.event(`grant_${grantName(ctx)}`));
  provider.on('grant.error', (ctx, err) => {
    stats.event(`grant_error_${grantName(ctx)}`);
    if (err && err.error_detail === 'refresh token already used') stats.event('refresh_token_reuse');
    log(`token error: ${err.error || err.message}: ${err.error_description || ''} (${err.error_detail || ''})`, true);
  });
  provider.on('authorization.error', (ctx, err) => log(`authorization error: ${err.error || err.message}: ${err.error_description || ''}`, true));
  provider.on('end_session.error', (ctx, err) => log(`logout error: ${err.error || err.message}: ${err.error_description || ''}`, true));
  provider.on('server_error', (ctx, err) => log(`server error: ${err && err.stack ? err.stack : err}`));
  return provider;
}
