/* Internals of the login module, shared by auth/login*.c and used by tests to replace the IdP
 * (token endpoint transport, key verification, metadata, reachability, clock). */
#ifndef AG_AUTH_LOGIN_INT_H
#define AG_AUTH_LOGIN_INT_H

#include <pthread.h>
#include <stdint.h>

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

#define AG_REFRESH_SLOTS 1024     /* sessions refreshing or recently refreshed, per process */
#define AG_REFRESH_REMEMBER_S 120 /* how long a refresh result answers the old token */
#define AG_REACH_CACHE_S 5        /* IdP reachability result cached this long */

struct ag_refresh_slot {
    uint8_t key[32]; /* SHA-256 of the refresh token that was spent */
    bool used, running;
    enum ag_rc rc;     /* outcome */
    char *session;     /* malloc'ed JSON of the refreshed session on success (wiped on reuse) */
    long long done_at; /* unix time */
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

/** Refreshes s (single-flight by refresh token). AG_OK with *out; AG_EDENIED when the IdP
 * refused (invalid_grant); AG_EUPSTREAM / AG_ETIMEOUT when it could not be reached. */
enum ag_rc ag_login_refresh(struct ag_login *l, struct ag_arena *a, const struct ag_session *s,
                            long long now, struct ag_session **out, struct ag_err *err) AG_WUR;

/** POST /oauth2/backchannel-logout (auth/login/backchannel.c). */
void ag_login_backchannel_logout(struct ag_login *l, struct ag_arena *a,
                                 const struct ag_http_request *req, struct ag_http_response *resp);

/** The current time through the hooks. */
long long ag_login_now(struct ag_login *l);

#endif
