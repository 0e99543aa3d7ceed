/* Per-loop bearer decision cache; see authcache.h. */
#include "proxy/decide/authcache.h"

#include <stdlib.h>
#include <string.h>

#include "core/secret.h"

/* Where a token lives: FNV-1a over its length and last 32 bytes (the end of the signature,
 * which differs between any two tokens a signer made). Collisions only share a slot; equality
 * is always the whole token. */
static size_t ag_authcache_slot(const char *t, size_t len)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)len;
    size_t from = len > 32 ? len - 32 : 0;
    for (size_t i = from; i < len; i++) {
        h ^= (unsigned char)t[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 29;
    return (size_t)(h & (AG_AUTHCACHE_SLOTS - 1));
}

static void ag_authcache_drop(struct ag_authcache_entry *e)
{
    if (e->token)
        ag_secret_wipe(e->token, e->token_len);
    free(e->token);
    free(e->headers);
    free(e->user);
    free(e->roles);
    if (e->aux_free)
        e->aux_free(e->aux);
    memset(e, 0, sizeof(*e));
}

const struct ag_authcache_entry *ag_authcache_get(struct ag_authcache *c, const char *token,
                                                  size_t len, uint64_t owner, uint64_t keys_gen,
                                                  int64_t now)
{
    struct ag_authcache_entry *e = &c->slots[ag_authcache_slot(token, len)];
    if (!e->token || e->token_len != len || e->owner != owner || e->keys_gen != keys_gen)
        return NULL;
    if (now >= e->expires) {
        ag_authcache_drop(e);
        return NULL;
    }
    /* constant time: a timing difference must not reveal how much of a token matched */
    return ag_secret_equal(e->token, e->token_len, token, len) ? e : NULL;
}

static char *ag_authcache_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void ag_authcache_put_aux(struct ag_authcache *c, const char *token, size_t len, uint64_t owner,
                          uint64_t keys_gen, int64_t expires, const char *headers,
                          size_t headers_len, const char *user, const char *roles, void *aux,
                          void (*aux_free)(void *))
{
    if (len == 0 || len > AG_AUTHCACHE_MAX_TOKEN) {
        if (aux_free)
            aux_free(aux);
        return;
    }
    struct ag_authcache_entry *e = &c->slots[ag_authcache_slot(token, len)];
    ag_authcache_drop(e);
    e->token = ag_authcache_dup(token, len);
    e->token_len = len;
    e->owner = owner;
    e->keys_gen = keys_gen;
    e->expires = expires;
    e->headers = ag_authcache_dup(headers, headers_len);
    e->headers_len = headers_len;
    e->user = ag_authcache_dup(user ? user : "", user ? strlen(user) : 0);
    e->roles = ag_authcache_dup(roles ? roles : "", roles ? strlen(roles) : 0);
    e->aux = aux;
    e->aux_free = aux_free;
}

void ag_authcache_put(struct ag_authcache *c, const char *token, size_t len, uint64_t owner,
                      uint64_t keys_gen, int64_t expires, const char *headers, size_t headers_len,
                      const char *user, const char *roles)
{
    ag_authcache_put_aux(c, token, len, owner, keys_gen, expires, headers, headers_len, user, roles,
                         NULL, NULL);
}

void ag_authcache_forget(struct ag_authcache *c, const char *token, size_t len)
{
    struct ag_authcache_entry *e = &c->slots[ag_authcache_slot(token, len)];
    if (e->token && ag_secret_equal(e->token, e->token_len, token, len))
        ag_authcache_drop(e);
}

void ag_authcache_clear(struct ag_authcache *c)
{
    for (size_t i = 0; i < AG_AUTHCACHE_SLOTS; i++)
        if (c->slots[i].token)
            ag_authcache_drop(&c->slots[i]);
}
