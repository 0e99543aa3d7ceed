/* Authentication and policy for protected requests, on the plain request struct: a bearer JWT
 * (verified-token cache, else the key cache) mapped by the role map. The browser session is
 * checked before this, by the login (auth/login/login.h), from proxy/stream/request.c. No
 * sockets: testable with a built request. */
#ifndef AG_PROXY_GATE_H
#define AG_PROXY_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/http_msg.h"
#include "proxy/decide/authpath.h"
#include "proxy/manage/metrics.h"
#include "rolemap/rolemap.h"

struct ag_runtime;
struct ag_token_cache;

struct ag_gate_result {
    enum ag_decision decision;
    struct ag_identity *id; /* set for ALLOW and DENY */
    const char *why;        /* for the log (never the token) */
    bool again;             /* not decided: needs the network (see ag_gate_check) */
    int64_t exp;            /* the bearer token's exp (0: none), for caches */
};

/** Decides for req, whose Authorization headers z describes (ag_authpath_authz). Never fails:
 * every problem is a decision with a reason. With may_block false, a decision that needs the
 * network (an unknown kid to re-fetch) is not made: out->again is set instead, for the caller to
 * decide again where blocking is allowed. */
void ag_gate_check(struct ag_runtime *rt, struct ag_token_cache *tc, struct ag_arena *a,
                   const struct ag_authz *z, bool may_block, struct ag_gate_result *out);

/** Fills resp with the answer for a refusal: 401 JSON + WWW-Authenticate: Bearer, 403 (HTML for
 * navigations, JSON otherwise) naming the user and the roles that would grant access, or 503
 * when keys are unavailable. */
void ag_gate_refusal(struct ag_runtime *rt, struct ag_arena *a, const struct ag_http_request *req,
                     const struct ag_gate_result *g, struct ag_http_response *resp);

#endif
