/* Internals of the login module, shared by auth/login*.c and used by tests to replace the IdP
 * (token endpoint transport, key verification, metadata, reachability, clock). */
#ifndef AG_AUTH_LOGIN_INT_H
#define AG_AUTH_LOGIN_INT_H

#include <pthread.h>
#include <stdint.h>

#include "auth/idp/breaker.h"
#include "auth/idp/discovery.h"
#include "auth/jose/jwe.h"
#include "auth/jose/jwt.h"
#include "auth/login/login.h"
#include "auth/login/session.h"
#include "auth/login/session_seal.h"
#include "core/buf.h"
#include "state/store.h"

struct ag_login_hooks {
    void *ctx;
    /** POST to the token endpoint; status and body of the answer. */
    enum ag_rc (*post)(void *ctx, const char *url, const char *authorization, const char *body,
                       struct ag_buf *out, long *status, struct ag_err *err);
    /** Verifies a JWT against the IdP's keys. */
    enum ag_rc (*verify)(void *ctx, struct ag_arena *a, const struct ag_jwt_policy *p,
                         const char *token, size_t len, struct ag_jwt **out, struct ag_err *err);
    /** Provider metadata, NULL while discovery has not succeeded. */
    const struct ag_oidc_meta *(*meta)(void *ctx);
    /** True when the IdP answers (checked before sending a browser there). */
    bool (*reachable)(void *ctx);
    /** Unix time. */
    long long (*now)(void *ctx);
};

#define AG_REFRESH_SLOTS 1024      /* sessions refreshing or recently refreshed, per process */
#define AG_REFRESH_REMEMBER_S 120  /* how long a refresh result answers the old token, at least */
#define AG_REFRESH_KEEP_MAX_S 3600 /* ... and at most (bounded by the old refresh token's life) */
#define AG_REFRESH_THREADS                                                                         \
    2                      /* the refresh threads: the only ones waiting on the token              \
                              endpoint for sessions */
#define AG_REACH_CACHE_S 5 /* IdP reachability result cached this long */

struct ag_refresh_slot {
    uint8_t key[32]; /* SHA-256 of the refresh token that was spent */
    bool used, running, queued;
    enum ag_rc rc;        /* outcome */
    char msg[256];        /* why it failed (for the log) */
    char *session;        /* malloc'ed JSON of the refreshed session on success (wiped on reuse) */
    char *job;            /* malloc'ed JSON of the session to refresh, while queued (wiped) */
    long long done_at;    /* unix time */
    long long keep_until; /* unix time until which the outcome answers the old token */
    long long old_refresh_expires_at;
    long long queued_ms;             /* monotonic, to bound the wait for a refresh thread */
    int q_next;                      /* next queued slot, -1 */
    struct ag_login_waiter *waiters; /* called when the refresh finishes */
};

struct ag_login {
    const struct ag_config *cfg;
    const struct ag_rolemap *rm;
    struct ag_keycache *kc;
    struct ag_state *state;     /* revocations, single-use values, refresh locks */
    struct ag_state *own_state; /* this process only, until ag_login_set_state */
    struct ag_seal_ctx session_ctx, state_ctx;
    struct ag_jwt_policy access_policy, id_policy;
    struct ag_jwe_keys *dec; /* oidc.decryption_key: encrypted ID tokens; NULL: JWE refused */
    struct ag_login_hooks hooks;
    struct ag_strlist granting; /* IdP roles of roles.map, for the 403 page */
    struct ag_arena *arena;
    pthread_mutex_t lock; /* refresh slots and reachability cache */
    pthread_cond_t cond;
    struct ag_refresh_slot slots[AG_REFRESH_SLOTS];
    long long reach_at;
    bool reach_ok, reach_probing;
    /* the refresh threads and their FIFO of slots (under lock) */
    pthread_cond_t q_cond;
    pthread_t q_threads[AG_REFRESH_THREADS];
    int q_n, q_head, q_tail, q_running; /* q_running: queued or being refreshed */
    bool q_stop;
    struct ag_breaker breaker; /* the IdP's circuit: token endpoint and reachability probe */
};

/** Replaces the IdP-facing hooks (tests). NULL members keep the defaults. */
void ag_login_set_hooks(struct ag_login *l, const struct ag_login_hooks *h);

/** Verifies the token endpoint answer (ID token with nonce when nonce != NULL, access token when
 * it is a JWT), maps the roles and fills a session (tokens, expiries, identity). prev (refresh)
 * keeps created_at and must have the same subject. */
enum ag_rc ag_login_session_from_tokens(struct ag_login *l, struct ag_arena *a,
                                        const char *id_token, const char *access_token,
                                        const char *refresh_token, long long expires_in,
                                        long long refresh_expires_in, const char *nonce,
                                        const struct ag_session *prev, long long now,
                                        struct ag_session **out, struct ag_err *err) AG_WUR;

/** The identity the proxy forwards, from a session. */
struct ag_identity *ag_login_identity(struct ag_arena *a, const struct ag_session *s);

enum ag_refresh_how {
    AG_REFRESH_BACKGROUND, /* start it (or see it running): AG_EAGAIN at once */
    AG_REFRESH_PARK,       /* the same; the caller then parks with ag_login_when_refreshed */
    AG_REFRESH_WAIT,       /* wait for the outcome on this thread (bounded) */
};

/** Refreshes s (single-flight by refresh token) on a refresh thread. AG_OK with *out when a
 * refresh of this token finished a moment ago (or, AG_REFRESH_WAIT, when it finishes);
 * AG_EAGAIN while it runs; AG_EDENIED when the IdP refused (invalid_grant); AG_EUPSTREAM /
 * AG_ETIMEOUT when it could not be reached or its circuit is open. key_out (may be NULL) gets
 * the slot key for ag_login_when_refreshed. */
enum ag_rc ag_login_refresh(struct ag_login *l, struct ag_arena *a, const struct ag_session *s,
                            long long now, enum ag_refresh_how how, uint8_t key_out[32],
                            struct ag_session **out, struct ag_err *err) AG_WUR;

/** POST to the token endpoint through the IdP circuit breaker (refused at once while open). */
enum ag_rc ag_login_idp_post(struct ag_login *l, const char *url, const char *authorization,
                             const char *body, struct ag_buf *out, long *status,
                             struct ag_err *err) AG_WUR;

/** Starts / stops the refresh threads (ag_login_new, ag_login_free). */
enum ag_rc ag_login_refresh_start(struct ag_login *l, struct ag_err *err) AG_WUR;
void ag_login_refresh_stop(struct ag_login *l);

/** Empties a slot (wiping what it holds). */
void ag_login_slot_reset(struct ag_refresh_slot *sl);

/** ag_login_quiesce with a bound for tests. */
#define ag_login_refresh_idle(l) ag_login_quiesce((l), 30)

/** POST /oauth2/backchannel-logout (auth/login/backchannel.c). */
void ag_login_backchannel_logout(struct ag_login *l, struct ag_arena *a,
                                 const struct ag_http_request *req, struct ag_http_response *resp);

/** The current time through the hooks. */
long long ag_login_now(struct ag_login *l);

#endif
