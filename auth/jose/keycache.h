/* The live key cache: the issuer's JWK Set fetched at start, refreshed periodically by a
 * background thread, re-fetched (rate-limited) when a token names an unknown kid. A failed or
 * malformed fetch keeps the last good keys. Readers take a reference to an immutable key set, so
 * they never see a half-updated one. Process lifetime; thread-safe. */
#ifndef AG_AUTH_KEYCACHE_H
#define AG_AUTH_KEYCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/idp/discovery.h"
#include "auth/idp/http_fetch.h"
#include "auth/jose/jwks.h"
#include "auth/jose/jwt.h"
#include "core/arena.h"
#include "core/err.h"

struct ag_keycache;

struct ag_keycache_opts {
    const char *issuer;   /* used for discovery when jwks_uri is NULL */
    const char *jwks_uri; /* NULL: discovered from issuer */
    struct ag_http_fetch_opts http;
    long refresh_s;     /* periodic refresh; 0: 300; < 0: no background thread */
    long min_refetch_s; /* at most one unknown-kid re-fetch per window; 0: 10 */
};

/** Counters for /metrics; a consistent snapshot. */
struct ag_keycache_stats {
    bool ready;                   /* a key set is loaded */
    uint64_t fetch_ok;            /* successful fetches that parsed */
    uint64_t fetch_failed;        /* HTTP/timeout/size/parse failures (old keys kept) */
    uint64_t refetch_unknown_kid; /* re-fetches triggered by an unknown kid */
    uint64_t refetch_limited;     /* unknown-kid re-fetches refused by the rate limit */
    uint64_t rotations;           /* fetches that changed the key set */
    int64_t last_ok;              /* unix time of the last successful fetch; 0: never */
    int64_t last_failure;         /* unix time of the last failed fetch; 0: never */
    size_t keys;                  /* usable keys in the current set */
};

/** Copies the options (strings too); no I/O yet. */
enum ag_rc ag_keycache_new(const struct ag_keycache_opts *opts, struct ag_keycache **out,
                           struct ag_err *err) AG_WUR;

/** Discovery (when needed) and the first fetch, synchronously; then starts the refresh thread
 * (unless refresh_s < 0). When the first fetch fails the error is returned but the thread is
 * still started and keeps retrying every min_refetch_s, so ready() turns true later. */
enum ag_rc ag_keycache_start(struct ag_keycache *kc, struct ag_err *err) AG_WUR;

/** True once a key set is loaded (the /readyz condition). */
bool ag_keycache_ready(struct ag_keycache *kc);

/** The current key set with a reference the caller drops with ag_jwks_unref; NULL before the
 * first successful fetch. */
struct ag_keyset *ag_keycache_keys(struct ag_keycache *kc);

/** Monotonic number that changes whenever the key set changes (for the token cache). */
uint64_t ag_keycache_generation(struct ag_keycache *kc);

/** ag_jwt_verify against the current keys; when the token's kid is unknown, re-fetches at most
 * once per min_refetch_s window and retries. Other unknown-kid callers in the window wait for a
 * re-fetch in flight and use its keys, or fail at once with AG_ECRYPTO when none is running.
 * AG_EUPSTREAM when no key set has ever been loaded. */
enum ag_rc ag_keycache_verify(struct ag_keycache *kc, struct ag_arena *a,
                              const struct ag_jwt_policy *p, const char *token, size_t len,
                              struct ag_jwt **out, struct ag_err *err) AG_WUR;

/** ag_keycache_verify that never waits on the network: where it would re-fetch (or wait for a
 * re-fetch in flight), it returns AG_EAGAIN and claims nothing, so the caller can run
 * ag_keycache_verify on a thread allowed to block. */
enum ag_rc ag_keycache_verify_nowait(struct ag_keycache *kc, struct ag_arena *a,
                                     const struct ag_jwt_policy *p, const char *token, size_t len,
                                     struct ag_jwt **out, struct ag_err *err) AG_WUR;

/** Fetches now (SIGHUP, tests), ignoring the rate limit. Old keys are kept on failure. */
enum ag_rc ag_keycache_refresh(struct ag_keycache *kc, struct ag_err *err) AG_WUR;

/** Provider metadata from discovery, or NULL when jwks_uri was given or discovery has not
 * succeeded yet. Valid until ag_keycache_free. */
const struct ag_oidc_meta *ag_keycache_meta(struct ag_keycache *kc);

void ag_keycache_stats(struct ag_keycache *kc, struct ag_keycache_stats *out);

/** Stops the refresh thread (returns promptly even during a fetch's timeout window at most). */
void ag_keycache_stop(struct ag_keycache *kc);

/** Stops and frees. NULL is a no-op. */
void ag_keycache_free(struct ag_keycache *kc);

#endif
