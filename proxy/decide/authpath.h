/* The auth precedence: which path a protected request takes, as pure functions of what is known
 * about it (no runtime, no sockets, no I/O). The order, first match wins:
 *   1. an airgate login endpoint (auth/login/: /oauth2/..., Airflow's /logout) answers itself;
 *   2. any other /oauth2/ path: 404;
 *   3. several Authorization headers: 400;
 *   4. a body over server.max_body_bytes: 413;
 *   5. a public route: forwarded without identity (Authorization dropped);
 *   6. the session cookie (checked by auth/login/, which also applies state.on_unavailable);
 *      it decides alone unless a Bearer token comes with it: a token beside an allowed session
 *      must verify too (its identity then applies);
 *   7. the bearer token (decide/gate.c).
 * A refusal is answered by whoever decided it: the session's 403, the login challenge (redirect
 * or 401) when there are no credentials and a browser login exists, else the gate's answer.
 * Where it runs (ag_authpath_where): a worker when deciding may wait on the IdP, the loop's
 * bearer decision cache (decide/authcache.h) for a bearer request it may hold, else the loop.
 * proxy/stream/request.c gathers the facts and acts on the answers. */
#ifndef AG_PROXY_AUTHPATH_H
#define AG_PROXY_AUTHPATH_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/login/login.h"
#include "core/http_msg.h"
#include "proxy/manage/metrics.h"

/** What a request's Authorization headers carry. */
struct ag_authz {
    int n;           /* Authorization headers */
    bool bearer;     /* the first one uses the Bearer scheme (any case) */
    const char *tok; /* bearer: its token, blanks trimmed (not NUL-terminated at len) */
    size_t len;      /* bearer: the token's length (may be 0) */
};

/** Reads req's Authorization headers into out; the token points into req. */
void ag_authpath_authz(const struct ag_http_request *req, struct ag_authz *out);

/** True when out->bearer with a non-empty token and the only Authorization header: the token a
 * bearer decision may be cached under. */
bool ag_authpath_bearer_only(const struct ag_authz *z);

/** The facts the precedence is decided on. */
struct ag_authpath_in {
    bool login;          /* the runtime has a browser login (auth/login/) */
    bool login_served;   /* ag_login_handle answered the request (an airgate login endpoint) */
    bool oauth2;         /* the path is under /oauth2/ */
    bool logout;         /* the path is /logout or /logout/ (Airflow's, served by the login) */
    bool body_too_large; /* Content-Length over server.max_body_bytes */
    bool public_route;   /* the method and path match public_routes */
    bool session_cookie; /* a Cookie header carries airgate's session cookie (or a chunk) */
    bool navigation;     /* a browser navigation (core/http_msg.h) */
    struct ag_authz authz;
};

/** Where the decision is made. */
enum ag_authpath_where {
    AG_AP_ON_LOOP = 0, /* decide on the loop (a bearer key re-fetch may still send it on) */
    AG_AP_ON_WORKER,   /* may wait on the IdP (login endpoints, a session refresh, the probe) */
    AG_AP_TRY_CACHE,   /* a bearer request the loop's decision cache may hold; on a miss, loop */
};

/** Where to decide (workers: a decision pool exists). login_served is not read. */
enum ag_authpath_where ag_authpath_where(const struct ag_authpath_in *in, bool workers);

/** The first steps, before any credential is checked. */
enum ag_authpath_first {
    AG_AP_CREDENTIALS = 0, /* go on: session, then bearer token */
    AG_AP_LOGIN,           /* the login endpoint's answer */
    AG_AP_NOT_FOUND,       /* 404: an /oauth2/ path airgate does not serve */
    AG_AP_BAD_AUTHZ,       /* 400: several Authorization headers */
    AG_AP_TOO_LARGE,       /* 413: the body is over the limit */
    AG_AP_PUBLIC,          /* forward without identity */
};

/** Steps 1 to 5 of the precedence. */
enum ag_authpath_first ag_authpath_first(const struct ag_authpath_in *in);

/** True when the session check's verdict decides alone; false: the gate decides (no usable
 * session, or a Bearer token beside an allowed session). */
bool ag_authpath_session_decides(const struct ag_authpath_in *in, enum ag_login_verdict session);

/** What to do with the decision. */
enum ag_authpath_end {
    AG_AP_FORWARD = 0,     /* forward with the decided identity */
    AG_AP_SESSION_REFUSAL, /* the session check's 403 */
    AG_AP_CHALLENGE,       /* the login challenge: sign-in redirect or 401 */
    AG_AP_GATE_REFUSAL,    /* the gate's refusal: 401, 403 or 503 */
    AG_AP_INTERNAL,        /* 500: an allowed decision without an identity */
};

/** The end of the precedence, from the session verdict and the decision (the session's when it
 * decided alone, else the gate's); has_id: the decision names an identity. */
enum ag_authpath_end ag_authpath_end(const struct ag_authpath_in *in, enum ag_login_verdict session,
                                     enum ag_decision decision, bool has_id);

/** True when a forwarded decision may go into the loop's bearer decision cache: the bearer token
 * alone decided it (no session, no session cookies to send back). */
bool ag_authpath_cacheable(const struct ag_authpath_in *in, enum ag_login_verdict session,
                           bool session_headers);

#endif
