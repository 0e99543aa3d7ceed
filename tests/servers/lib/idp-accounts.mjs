// Demo users of the Keycloak-shaped realm and the Keycloak-like claim sets
// built from them.
import crypto from 'node:crypto';

const DEMO_USERS = [
  ['admin', 'Ada', 'Admin', ['airflow_admin']],
  ['op', 'Otto', 'Operator', ['airflow_op']],
  ['user', 'Uma', 'User', ['airflow_user']],
  ['viewer', 'Vera', 'Viewer', ['airflow_viewer', 'viewer']],
  ['public', 'Paul', 'Public', ['airflow_public']],
  ['norole', 'Nora', 'Norole', []],
];

// Deterministic UUID (v5-style layout) so a user keeps its sub across restarts.
function stableUuid(realm, username) {
  const h = crypto.createHash('sha1').update(`airgate-test-idp:${realm}:${username}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50; // eslint-disable-line no-bitwise
  h[8] = (h[8] & 0x3f) | 0x80; // eslint-disable-line no-bitwise
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export class Accounts {
  constructor(realm) {
    this.realm = realm;
    this.byName = new Map();
    this.bySubject = new Map();
    for (const [username, given, family, roles] of DEMO_USERS) {
      const account = {
        sub: stableUuid(realm, username),
        username,
        password: username,
        email: `${username}@example.com`,
        email_verified: true,
        given_name: given,
        family_name: family,
        name: `${given} ${family}`,
        clientRoles: [...roles],
      };
      this.byName.set(username, account);
      this.bySubject.set(account.sub, account);
    }
  }

  byUsername(username) {
    return this.byName.get(username);
  }

  bySub(sub) {
    return this.bySubject.get(sub);
  }

  // Constant-time-ish password check; returns the account or undefined.
  authenticate(username, password) {
    const account = this.byName.get(username);
    const expected = Buffer.from(account ? account.password : 'x');
    const given = Buffer.from(typeof password === 'string' ? password : '');
    const ok = expected.length === given.length && crypto.timingSafeEqual(expected, given);
    return account && ok ? account : undefined;
  }

  list() {
    return [...this.byName.values()].map((a) => ({
      username: a.username, sub: a.sub, email: a.email, roles: [...a.clientRoles],
    }));
  }
}

// Standard OIDC profile claims (userinfo, ID token).
export function profileClaims(account) {
  return {
    sub: account.sub,
    email_verified: account.email_verified,
    name: account.name,
    preferred_username: account.username,
    given_name: account.given_name,
    family_name: account.family_name,
    email: account.email,
  };
}

// Keycloak-shaped access-token claims (everything except iss/exp/iat/jti,
// which the caller sets). Roles are read from the account at issue time, so a
// role change shows up at the next token refresh. audienceMapper: the client has
// Keycloak's "Audience" mapper (aud [client, "account"]); without it aud is only
// "account" and just azp names the client.
export function accessTokenClaims(account, {
  realm, clientId, sid, scope, audienceMapper = true,
}) {
  const resourceAccess = {};
  if (account.clientRoles.length) resourceAccess[clientId] = { roles: [...account.clientRoles] };
  resourceAccess.account = { roles: ['manage-account', 'manage-account-links', 'view-profile'] };
  return {
    aud: audienceMapper ? [clientId, 'account'] : 'account',
    sub: account.sub,
    typ: 'Bearer',
    azp: clientId,
    session_state: sid,
    acr: '1',
    realm_access: { roles: ['offline_access', 'uma_authorization', `default-roles-${realm}`] },
    resource_access: resourceAccess,
    scope,
    sid,
    email_verified: account.email_verified,
    name: account.name,
    preferred_username: account.username,
    given_name: account.given_name,
    family_name: account.family_name,
    email: account.email,
  };
}
