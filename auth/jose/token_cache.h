/* Verified-token cache for bearer tokens: keyed by SHA-256 of the token, bounded in entries,
 * entries die at the token's exp or when the key set generation changes. Thread-safe. A hit costs
 * a hash and a lookup instead of a signature verification. */
#ifndef AG_AUTH_TOKEN_CACHE_H
#define AG_AUTH_TOKEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "auth/jose/jwt.h"
#include "auth/jose/keycache.h"
#include "core/arena.h"

struct ag_token_cache;

struct ag_token_cache_stats {
    uint64_t hits, misses, inserts, evictions, expired;
    size_t entries;
};

/** A cache of at most max_entries tokens (0: 10000). Caller frees. */
struct ag_token_cache *ag_token_cache_new(size_t max_entries);

void ag_token_cache_free(struct ag_token_cache *tc);

/** Looks token up. On a hit that has not expired at now and was stored under generation, fills
 * *out (in a; claims and header shared read-only, referenced by a) and returns true. */
bool ag_token_cache_get(struct ag_token_cache *tc, struct ag_arena *a, const char *token,
                        size_t len, int64_t now, uint64_t generation, struct ag_jwt **out);

/** Stores a verified token until jwt->exp (tokens without exp are not cached), evicting the
 * oldest entry when full. */
void ag_token_cache_put(struct ag_token_cache *tc, const char *token, size_t len,
                        const struct ag_jwt *jwt, uint64_t generation);

/** The bearer path: a cache hit under the key cache's current generation returns at once;
 * otherwise ag_keycache_verify runs and a success is stored. Use one cache per policy (the
 * proxy has one): hits are not re-checked against p. */
enum ag_rc ag_token_cache_verify(struct ag_token_cache *tc, struct ag_keycache *kc,
                                 struct ag_arena *a, const struct ag_jwt_policy *p,
                                 const char *token, size_t len, struct ag_jwt **out,
                                 struct ag_err *err) AG_WUR;

/** Drops every entry. */
void ag_token_cache_clear(struct ag_token_cache *tc);

void ag_token_cache_stats(struct ag_token_cache *tc, struct ag_token_cache_stats *out);

#endif
