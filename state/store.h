/* Shared state between replicas: revocations (sign-out everywhere), single-use values (login
 * state, logout-token jti), and short locks and values for the cross-replica refresh. Without a
 * Redis URL everything works within this process only (correct for one replica).
 *
 * With Redis: revocations are checked against an in-memory set (no round trip per request) that
 * is fed by pub/sub and re-synced from a sorted set after every reconnect and every resync_s, so a
 * revocation made while a replica was cut off still reaches it; revocations made while Redis is
 * down are kept and published when it is back. Keys and members hold only HMAC digests of ids
 * (keyed by a secret derived from the cookie secret), never a raw id, token or user name.
 *
 * One state thread owns the Redis connections (state/redis_conn.h) and its own epoll: loop
 * threads only take a read lock on the set; the calls marked "blocking" wait on that thread for at
 * most the command timeout and are for decision workers, never for an event loop.
 * Process lifetime object; every function is thread-safe. */
#ifndef AG_STATE_STORE_H
#define AG_STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "state/revset.h"

struct ag_state_opts {
    const char *redis_url; /* NULL: this process only */
    const char *password;  /* NULL: no AUTH */
    size_t password_len;
    const char *key_prefix;  /* "airgate:" */
    bool deny_when_down;     /* state.on_unavailable: deny */
    long connect_timeout_ms; /* 0: 1000 */
    long command_timeout_ms; /* 0: 500 */
    long resync_s;           /* 0: 30 */
    const uint8_t *hash_key; /* secret for the digests in keys (32 bytes) */
    size_t hash_key_len;
};

struct ag_state;

/** Starts the store (and the state thread when redis_url is set). AG_ECONF for a bad URL. Redis
 * being unreachable is not an error: the store connects in the background. */
enum ag_rc ag_state_new(const struct ag_state_opts *o, struct ag_state **out,
                        struct ag_err *err) AG_WUR;

/** Stops the thread, closes the connections, frees. NULL is a no-op. */
void ag_state_free(struct ag_state *s);

/** True when a Redis URL is configured. */
bool ag_state_shared(const struct ag_state *s);

/** True when shared state is usable now (always true without Redis). */
bool ag_state_up(const struct ag_state *s);

/** True when requests that need shared state must be refused while it is down. */
bool ag_state_deny_when_down(const struct ag_state *s);

/** Revokes sessions of kind/value created at or before revoked_at, until until (unix times):
 * here at once, on every replica through Redis (queued while it is down). */
void ag_state_revoke(struct ag_state *s, enum ag_revoke_kind kind, const char *value,
                     long long revoked_at, long long until);

/** Applies a revocation already in wire form (a digest, not a raw value). */
void ag_state_revoke_digest(struct ag_state *s, const struct ag_revocation *r);

/** True when a session (any argument may be NULL) is revoked. No I/O; cheap when nothing is
 * revoked. */
bool ag_state_revoked(struct ag_state *s, const char *session_id, const char *sid, const char *sub,
                      long long created_at, long long now);

/** Marks ns/value as used for ttl_s. Blocking. AG_OK: first use; AG_EDENIED: used before (here
 * or on another replica); AG_EUPSTREAM: shared state is down and deny_when_down is set (without
 * it, the check falls back to this process). */
enum ag_rc ag_state_claim_once(struct ag_state *s, const char *ns, const char *value, long ttl_s,
                               struct ag_err *err) AG_WUR;

/** A short lock on ns/name. Blocking. *won says whether this process holds it now. AG_EUPSTREAM
 * when shared state is down (or not configured: callers then coordinate in-process). */
enum ag_rc ag_state_lock(struct ag_state *s, const char *ns, const char *name, long ttl_ms,
                         bool *won, struct ag_err *err) AG_WUR;

/** Releases a lock this process holds (blocking; failures are harmless: the lock expires). */
void ag_state_unlock(struct ag_state *s, const char *ns, const char *name);

/** Reads a value stored by ag_state_put. Blocking. AG_OK with *val == NULL: absent. *val is
 * malloc'ed; the caller frees it. AG_EUPSTREAM when shared state is down or not configured. */
enum ag_rc ag_state_get(struct ag_state *s, const char *ns, const char *name, char **val,
                        size_t *len, struct ag_err *err) AG_WUR;

/** Stores a value for ttl_s (callers encrypt anything secret first). Blocking. */
enum ag_rc ag_state_put(struct ag_state *s, const char *ns, const char *name, const char *val,
                        size_t len, long ttl_s, struct ag_err *err) AG_WUR;

struct ag_state_stats {
    bool shared, up;
    size_t revocations;          /* entries in the in-memory set */
    size_t unpublished;          /* revocations waiting for Redis */
    unsigned long long received; /* revocations received from other replicas */
    unsigned long long errors;   /* connection failures and timeouts */
};

void ag_state_stats(struct ag_state *s, struct ag_state_stats *out);

#endif
