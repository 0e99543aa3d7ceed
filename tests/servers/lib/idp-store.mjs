// In-memory storage for oidc-provider models (sessions, codes, grants,
// refresh tokens, interactions). It lives outside any one Provider instance so
// that the provider can be rebuilt (key rotation) without logging anyone out.
// Entries expire with their TTL and are swept periodically; a hard cap evicts
// the oldest entries so memory stays bounded under load.

const epoch = () => Math.floor(Date.now() / 1000);

const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);

export class Store {
  constructor({ maxEntries = 200000, sweepMs = 30000 } = {}) {
    this.maxEntries = maxEntries;
    this.items = new Map(); // key -> { payload, exp }
    this.grants = new Map(); // grantId -> Set(key)
    this.uids = new Map(); // session uid -> session id
    this.userCodes = new Map();
    this.timer = setInterval(() => this.sweep(), sweepMs);
    this.timer.unref();
  }

  get(key) {
    const item = this.items.get(key);
    if (!item) return undefined;
    if (item.exp !== undefined && item.exp <= epoch()) {
      this.items.delete(key);
      return undefined;
    }
    return item.payload;
  }

  set(key, payload, expiresIn) {
    this.items.delete(key); // keep Map insertion order ~ age order
    this.items.set(key, { payload, exp: expiresIn ? epoch() + expiresIn : undefined });
    while (this.items.size > this.maxEntries) {
      const oldest = this.items.keys().next().value;
      this.items.delete(oldest);
    }
  }

  sweep() {
    const now = epoch();
    for (const [key, item] of this.items) {
      if (item.exp !== undefined && item.exp <= now) this.items.delete(key);
    }
    for (const [grantId, keys] of this.grants) {
      for (const key of keys) if (!this.items.has(key)) keys.delete(key);
      if (keys.size === 0) this.grants.delete(grantId);
    }
    for (const [uid, id] of this.uids) {
      if (!this.items.has(`Session:${id}`)) this.uids.delete(uid);
    }
    for (const [code, id] of this.userCodes) {
      if (!this.items.has(`DeviceCode:${id}`)) this.userCodes.delete(code);
    }
  }

  revokeByGrantId(grantId) {
    const keys = this.grants.get(grantId);
    if (keys) {
      for (const key of keys) this.items.delete(key);
      this.grants.delete(grantId);
    }
  }

  counts() {
    const out = {};
    for (const key of this.items.keys()) {
      const model = key.slice(0, key.indexOf(':'));
      out[model] = (out[model] || 0) + 1;
    }
    return out;
  }

  close() {
    clearInterval(this.timer);
  }

  // An oidc-provider adapter class bound to this store.
  adapterClass() {
    const store = this;
    return class StoreAdapter {
      constructor(model) {
        this.model = model;
      }

      key(id) {
        return `${this.model}:${id}`;
      }

      async upsert(id, payload, expiresIn) {
        const key = this.key(id);
        if (this.model === 'Session') store.uids.set(payload.uid, id);
        if (GRANTABLE.has(this.model) && payload.grantId) {
          let keys = store.grants.get(payload.grantId);
          if (!keys) {
            keys = new Set();
            store.grants.set(payload.grantId, keys);
          }
          keys.add(key);
        }
        if (payload.userCode) store.userCodes.set(payload.userCode, id);
        store.set(key, structuredClone(payload), expiresIn);
      }

      async find(id) {
        const p = store.get(this.key(id));
        return p === undefined ? undefined : structuredClone(p);
      }

      async findByUid(uid) {
        const id = store.uids.get(uid);
        return id === undefined ? undefined : this.find(id);
      }

      async findByUserCode(userCode) {
        const id = store.userCodes.get(userCode);
        return id === undefined ? undefined : this.find(id);
      }

      async consume(id) {
        const p = store.get(this.key(id));
        if (p) p.consumed = epoch();
      }

      async destroy(id) {
        store.items.delete(this.key(id));
      }

      async revokeByGrantId(grantId) { // eslint-disable-line class-methods-use-this
        store.revokeByGrantId(grantId);
      }
    };
  }
}
