/* The browser login (OIDC authorization code + PKCE), the session check of every protected
 * request (with single-flight refresh), logout and /oauth2/userinfo — all on the plain
 * core/http_msg.h structs, so the proxy only routes and the flow is testable without sockets.
 *
 * For the proxy, per request:
 *   1. if (ag_login_handle(l, a, req, &resp)) -> send resp (an airgate endpoint was served);
 *   2. ag_login_session_check(l, a, req, &resp, &res):
 *        ALLOW -> forward with res.id; copy resp's Set-Cookie headers onto the upstream's answer
 *        DENY  -> send resp (403 page or JSON already filled)
 *        NONE  -> no usable session: try the bearer token; when there is none, call
 *                 ag_login_challenge(l, a, req, &resp) with the SAME resp (it may already hold
 *                 Set-Cookie headers clearing a bad session cookie) and send it.
 * Process lifetime object, one per runtime (config); thread-safe. */
#ifndef AG_AUTH_LOGIN_H
#define AG_AUTH_LOGIN_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/idp/breaker.h"
#include "conf/config.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/http_msg.h"
#include "rolemap/rolemap.h"

struct ag_jwe_keys;
struct ag_keycache;
struct ag_login;
struct ag_session;
struct ag_state;

/** Builds the login module for cfg. kc provides discovery metadata and key verification
 * (borrowed: must outlive the login object); rm is the compiled role map (borrowed). */
enum ag_rc ag_login_new(const struct ag_config *cfg, struct ag_keycache *kc,
                        const struct ag_rolemap *rm, struct ag_login **out,
                        struct ag_err *err) AG_WUR;

/** Shares st (borrowed: must outlive l) for revocations, single-use login state and the
 * cross-replica refresh; without it, l keeps them within this process. */
void ag_login_set_state(struct ag_login *l, struct ag_state *st);

/** Our JWE decryption keys (oidc.decryption_key), NULL when none is configured; owned by l. */
const struct ag_jwe_keys *ag_login_jwe_keys(const struct ag_login *l);

/** Frees (wiping keys and cached refresh results). NULL is a no-op. */
void ag_login_free(struct ag_login *l);

/** Serves /oauth2/start, /oauth2/callback, /oauth2/logout, /logout, /logout/,
 * /oauth2/signed-out, /oauth2/userinfo and POST /oauth2/backchannel-logout (body in req->body).
 * Returns false (resp untouched) for any other path. */
bool ag_login_handle(struct ag_login *l, struct ag_arena *a, const struct ag_http_request *req,
                     struct ag_http_response *resp);

enum ag_login_verdict {
    AG_LOGIN_NONE = 0, /* no valid session (absent, bad, expired, refresh refused) */
    AG_LOGIN_ALLOW,    /* signed in with an Airflow role: forward */
    AG_LOGIN_DENY,     /* signed in, no Airflow role: resp holds the 403 */
    AG_LOGIN_WAIT,     /* (may_park only) the access token has expired and its refresh is
                        * running: park with ag_login_when_refreshed, then check again */
};

struct ag_login_result {
    enum ag_login_verdict verdict;
    struct ag_identity *id; /* ALLOW and DENY: who, with raw and mapped roles (in the arena) */
    const char *why;        /* for the log: never a token */
    bool refreshed;         /* the tokens were refreshed during this request */
    const struct ag_session *session; /* ALLOW and DENY: the (possibly renewed) session */
    uint8_t wait_key[32];             /* WAIT: which refresh */
};

/** A parked request's callback, embedded in the caller's request (no allocation). */
struct ag_login_waiter {
    struct ag_login_waiter *next;
    void (*cb)(void *arg); /* called once, on a refresh thread, when the refresh finishes */
    void *arg;
};

/** Checks the session cookie of req, refreshing the tokens first when they are about to expire
 * (single-flight per session in this process; roles re-mapped). Set-Cookie headers that must
 * reach the browser (renewed session, or clears for a bad one) are added to resp in every case. */
void ag_login_session_check(struct ag_login *l, struct ag_arena *a,
                            const struct ag_http_request *req, struct ag_http_response *resp,
                            struct ag_login_result *out);

/* ---- reusing a session decision (the proxy's per-loop session cache) ---- */

/** What a cached session decision needs to be checked again on every request: a heap copy of
 * the session's ids and times (no token), owned by the cache entry. */
struct ag_login_pin;

/** The bytes that name req's session cookie exactly: the sealed value(s) with their layout (the
 * AAD), in the arena. False when req carries no session cookie. Two requests with equal keys
 * carry the very same sealed session. */
bool ag_login_session_key(struct ag_login *l, struct ag_arena *a, const struct ag_http_request *req,
                          const char **key, size_t *len);

/** A pin for a session ag_login_session_check just allowed without renewing the cookie, or NULL
 * when its decision must not be reused (not allowed, no session id, refresh or renewal due). */
struct ag_login_pin *ag_login_pin_new(struct ag_login *l, const struct ag_session *s);

void ag_login_pin_free(void *pin);

/** True when ag_login_session_check would, right now, allow the pinned session again without
 * a refresh, a renewed cookie or any blocking call: lifetime, idle timeout, created_at skew,
 * revocation (state/), state.on_unavailable, and refresh / renewal due are all checked. Never
 * blocks; safe on an event loop. */
bool ag_login_pin_valid(struct ag_login *l, const struct ag_login_pin *pin);

/** The same; a refresh that is due while the access token is still valid never waits: the
 * request is served with the current tokens and the refresh runs on the login module's own
 * threads (the next request of the session picks up the renewed cookie). Only an expired access
 * token waits for it: on this thread (bounded) when may_park is false, else the verdict is
 * AG_LOGIN_WAIT and the caller parks the request with ag_login_when_refreshed and checks again
 * with may_park false. */
void ag_login_session_check_ex(struct ag_login *l, struct ag_arena *a,
                               const struct ag_http_request *req, struct ag_http_response *resp,
                               bool may_park, struct ag_login_result *out);

/** Registers w for the refresh that res (AG_LOGIN_WAIT) waits for; false when it has already
 * finished (check again at once). w must stay valid until its callback ran. */
bool ag_login_when_refreshed(struct ag_login *l, const struct ag_login_result *res,
                             struct ag_login_waiter *w);

/** Waits, at most about max_s seconds, until no refresh is queued or running and every parked
 * request's callback has run (before the proxy stops the threads those callbacks use). */
void ag_login_quiesce(struct ag_login *l, int max_s);

/** The IdP circuit breaker's state (auth/idp/breaker.h: closed, open, half-open), for metrics
 * and /statusz. */
enum ag_breaker_state ag_login_idp_circuit(struct ag_login *l);

/** Answer for a request without credentials: a browser navigation is sent to the IdP at once
 * (302, remembering path and query), or gets the 503 page when the IdP cannot be reached;
 * anything else gets 401 JSON with WWW-Authenticate: Bearer. */
void ag_login_challenge(struct ag_login *l, struct ag_arena *a, const struct ag_http_request *req,
                        struct ag_http_response *resp);

#endif
