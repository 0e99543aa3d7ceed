/* The auth precedence as pure functions; see authpath.h. */
#include "proxy/decide/authpath.h"

#include <string.h>
#include <strings.h>

void ag_authpath_authz(const struct ag_http_request *req, struct ag_authz *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < req->n_headers; i++)
        out->n += strcasecmp(req->headers[i].name, "Authorization") == 0;
    const char *authz = ag_http_header_get(req, "Authorization");
    if (!authz || strncasecmp(authz, "Bearer ", 7) != 0)
        return;
    const char *t = authz + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    out->bearer = true;
    out->tok = t;
    out->len = n;
}

bool ag_authpath_bearer_only(const struct ag_authz *z)
{
    return z->n == 1 && z->bearer && z->len > 0;
}

/* Deciding may wait on the IdP: login endpoints, airgate's session cookies (a refresh), and
 * navigations without credentials (the IdP reachability probe). Bearer tokens are decided on the
 * loop; the one case that needs the network (an unknown kid) comes back to go to a worker. */
static bool ag_authpath_needs_worker(const struct ag_authpath_in *in)
{
    if (!in->login)
        return false;
    if (in->oauth2 || in->logout)
        return true;
    if (in->public_route)
        return false;
    if (in->session_cookie)
        return true;
    return in->authz.n == 0 && in->navigation;
}

enum ag_authpath_where ag_authpath_where(const struct ag_authpath_in *in, bool workers)
{
    if (workers && ag_authpath_needs_worker(in))
        return AG_AP_ON_WORKER;
    /* the cache holds bearer decisions only: whatever precedes the token in the order (an
     * /oauth2/ path, a public route, a body over the limit) must not be skipped by a hit */
    if (!in->oauth2 && !in->public_route && !in->body_too_large &&
        ag_authpath_bearer_only(&in->authz))
        return AG_AP_TRY_CACHE;
    return AG_AP_ON_LOOP;
}

enum ag_authpath_first ag_authpath_first(const struct ag_authpath_in *in)
{
    if (in->login && in->login_served)
        return AG_AP_LOGIN;
    if (in->oauth2)
        return AG_AP_NOT_FOUND;
    if (in->authz.n > 1)
        return AG_AP_BAD_AUTHZ;
    if (in->body_too_large)
        return AG_AP_TOO_LARGE;
    if (in->public_route)
        return AG_AP_PUBLIC;
    return AG_AP_CREDENTIALS;
}

bool ag_authpath_session_decides(const struct ag_authpath_in *in, enum ag_login_verdict session)
{
    /* a Bearer token beside a session is passed on to the upstream: it must verify too (its
     * identity then applies), so a replica that reads Authorization never gets a forged one */
    return (session == AG_LOGIN_ALLOW && !in->authz.bearer) || session == AG_LOGIN_DENY;
}

enum ag_authpath_end ag_authpath_end(const struct ag_authpath_in *in, enum ag_login_verdict session,
                                     enum ag_decision decision, bool has_id)
{
    if (decision != AG_DECISION_ALLOW) {
        if (session == AG_LOGIN_DENY)
            return AG_AP_SESSION_REFUSAL;
        if (decision == AG_DECISION_NO_CREDENTIALS && in->login)
            return AG_AP_CHALLENGE;
        return AG_AP_GATE_REFUSAL;
    }
    return has_id ? AG_AP_FORWARD : AG_AP_INTERNAL;
}

bool ag_authpath_cacheable(const struct ag_authpath_in *in, enum ag_login_verdict session,
                           bool session_headers)
{
    return session == AG_LOGIN_NONE && !session_headers && in->authz.bearer;
}
