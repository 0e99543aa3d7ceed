/* The request pipeline between a parsed head and the upstream: own endpoints, login endpoints,
 * authentication (session cookie, bearer token), policy, and the hand-over to a worker when a
 * decision may wait on the IdP. Answers are built in respond.c, the upstream head in uphead.c.
 * See request.h. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/login/login.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/secret.h"
#include "proxy/decide/authpath.h"
#include "proxy/decide/cidr.h"
#include "proxy/decide/gate.h"
#include "proxy/event/offload.h"
#include "proxy/manage/endpoints.h"
#include "proxy/runtime.h"
#include "proxy/services.h"
#include "proxy/stream/conn.h"
#include "proxy/stream/request.h"
#include "proxy/stream/shard.h"
#include "proxy/stream/upconn.h"

/* ---- request records ---- */

#define AG_KEEP_REQS 256

struct ag_req *ag_req_get(struct ag_shard *l)
{
    struct ag_req *r = l->free_reqs;
    if (r) {
        l->free_reqs = r->free_next;
        l->n_free_reqs--;
        struct ag_arena *a = r->arena;
        memset(r, 0, sizeof(*r));
        r->arena = a;
        r->sh = l;
        r->svc = l->svc;
        return r;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->arena = ag_arena_new(8192);
    r->sh = l;
    r->svc = l->svc;
    return r;
}

void ag_req_free(struct ag_shard *l, struct ag_req *r)
{
    ag_runtime_unref(r->rt);
    r->rt = NULL;
    if (r->dbuf) {
        if (r->dcap == AG_IOBUF)
            ag_loop_buf_put(&l->loop, r->dbuf);
        else
            free(r->dbuf);
        r->dbuf = NULL;
    }
    if (l->n_free_reqs >= AG_KEEP_REQS) {
        ag_arena_free(r->arena);
        free(r);
        return;
    }
    ag_arena_reset(r->arena);
    r->free_next = l->free_reqs;
    l->free_reqs = r;
    l->n_free_reqs++;
}

void ag_req_pool_free(struct ag_shard *l)
{
    while (l->free_reqs) {
        struct ag_req *r = l->free_reqs;
        l->free_reqs = r->free_next;
        ag_arena_free(r->arena);
        free(r);
    }
}

/* ---- the pipeline ---- */

static void ag_req_id(struct ag_req *r)
{
    static _Thread_local uint64_t s;
    if (s == 0) {
        struct ag_err e;
        if (ag_random_bytes(&s, sizeof(s), &e) != AG_OK || s == 0)
            s = (uint64_t)(uintptr_t)r ^ ag_loop_now_us() ^ 0x9e3779b97f4a7c15ull;
    }
    /* xorshift64*: unique enough for correlating log lines, never a secret */
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    uint64_t v = s * 2685821657736338717ull;
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        r->rid[i] = hex[v & 15];
    r->rid[16] = '\0';
    r->lctx.request_id = r->rid;
}

/* Fills r->req from the parsed head. False (after answering) for a target airgate cannot
 * forward. */
static bool ag_req_fill(struct ag_req *r)
{
    struct ag_cconn *c = r->c;
    const struct ag_config *cfg = r->rt->cfg;
    struct ag_http_request *req = &r->req;
    req->method = r->head.method;
    req->headers = r->head.headers;
    req->n_headers = r->head.n_headers;
    /* a copy: a worker may still read it after the connection is gone */
    req->client_ip = ag_arena_strdup(r->arena, c->peer_ip);
    /* CONNECT would turn airgate into a tunnel and TRACE echoes credentials back; Airflow's
     * webserver uses neither */
    if (strcmp(req->method, "CONNECT") == 0 || strcmp(req->method, "TRACE") == 0) {
        req->path = "-";
        r->keep_alive = false;
        ag_req_error(r, 405, "method_not_allowed", "CONNECT and TRACE are not forwarded");
        return false;
    }
    const char *t = r->head.target;
    if (t[0] != '/') {
        /* absolute-form (RFC 9112 3.2.2): keep the path and query, the authority is ours */
        const char *p = strstr(t, "://");
        if (p && (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0)) {
            const char *slash = strchr(p + 3, '/');
            t = slash ? slash : "/";
        } else {
            req->path = "-";
            ag_req_error(r, 400, "bad_request", "the request target must be an absolute path");
            return false;
        }
    }
    r->fwd_target = t;
    const char *q = strchr(t, '?');
    if (q) {
        req->path = ag_arena_strndup(r->arena, t, (size_t)(q - t));
        req->query = q + 1;
    } else {
        req->path = t;
    }
    r->trusted = ag_cidr_match_sockaddr(cfg->trusted_proxies, cfg->n_trusted_proxies, &c->peer.sa);
    const char *xfp = r->trusted ? ag_http_header_get(req, "X-Forwarded-Proto") : NULL;
    req->https = xfp ? strcasecmp(xfp, "https") == 0 : c->tls != NULL;
    const char *xfh = r->trusted ? ag_http_header_get(req, "X-Forwarded-Host") : NULL;
    req->host = xfh ? xfh : ag_http_header_get(req, "Host");
    return true;
}

/* A Cookie header of req carries airgate's session cookie (name=, or a chunk name_N=). */
static bool ag_req_session_cookie(const struct ag_req *r)
{
    const struct ag_http_request *req = &r->req;
    const char *name =
        r->rt->cfg->session.cookie_name ? r->rt->cfg->session.cookie_name : "_airgate";
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, "Cookie") != 0)
            continue;
        for (const char *c = strstr(req->headers[i].value, name); c; c = strstr(c + 1, name)) {
            if (c[nl] == '=' || c[nl] == '_')
                return true;
        }
    }
    return false;
}

/* The facts the auth precedence (decide/authpath.h) is decided on; login_served is set by
 * ag_req_decide. */
static void ag_req_facts(const struct ag_req *r, struct ag_authpath_in *in)
{
    const struct ag_http_request *req = &r->req;
    const char *p = req->path;
    long long max_body = r->rt->cfg->server.max_body_bytes;
    memset(in, 0, sizeof(*in));
    in->login = r->rt->login != NULL;
    in->oauth2 = strncmp(p, "/oauth2/", 8) == 0;
    in->logout = strcmp(p, "/logout") == 0 || strcmp(p, "/logout/") == 0;
    in->body_too_large = max_body > 0 && r->head.content_length > max_body;
    in->public_route = ag_routes_match(&r->rt->public_routes, req->method, p);
    if (in->login) { /* read only with a browser login */
        in->session_cookie = ag_req_session_cookie(r);
        in->navigation = ag_http_is_navigation(req);
    }
    ag_authpath_authz(req, &in->authz);
}

/* ---- deciding: on the loop, or on a worker when it may wait on the IdP ---- */

static void ag_req_verdict_error(struct ag_req *r, int status, const char *code, const char *text)
{
    ag_req_error_resp(r, status, code, text, &r->vresp);
    r->verdict = AG_V_RESPOND;
}

static void ag_req_verdict_respond(struct ag_req *r, const struct ag_http_response *resp)
{
    r->vresp = *resp;
    r->verdict = AG_V_RESPOND;
}

void ag_req_decide_shutdown(struct ag_req *r)
{
    r->keep_alive = false;
    ag_req_verdict_error(r, 503, "shutting_down", "the proxy is shutting down");
}

/* The bearer decision alone may be cached until the token expires, and for at most a quarter
 * of the assertion lifetime (the cached block holds an assertion the signer reuses for up to
 * half of it). */
static void ag_req_cache_until(struct ag_req *r, int64_t exp)
{
    int64_t now = (int64_t)time(NULL);
    int64_t until =
        now + (r->rt->signer
                   ? (r->rt->cfg->assertion.ttl_s > 0 ? r->rt->cfg->assertion.ttl_s : 60) / 4
                   : 60);
    if (exp > 0 && exp < until)
        until = exp;
    r->cache_until = until > now ? until : 0;
}

/* Steps 1 to 5 of the precedence (decide/authpath.h); false when they answered r. */
static bool ag_req_decide_first(struct ag_req *r)
{
    const struct ag_http_request *req = &r->req;
    struct ag_http_response resp = {0};
    /* login endpoints (under /oauth2/, Airflow's /logout/) come before authentication */
    r->ap.login_served = r->rt->login && ag_login_handle(r->rt->login, r->arena, req, &resp);
    switch (ag_authpath_first(&r->ap)) {
    case AG_AP_LOGIN:
        r->route = AG_ROUTE_LOGIN;
        ag_req_verdict_respond(r, &resp);
        return false;
    case AG_AP_NOT_FOUND:
        r->route = AG_ROUTE_LOGIN;
        ag_req_verdict_error(r, 404, "not_found", "no such airgate endpoint");
        return false;
    case AG_AP_BAD_AUTHZ:
        ag_req_verdict_error(r, 400, "bad_request", "several Authorization headers");
        return false;
    case AG_AP_TOO_LARGE:
        r->keep_alive = false;
        ag_req_verdict_error(r, 413, "payload_too_large",
                             "the request body is larger than this server accepts");
        return false;
    case AG_AP_PUBLIC:
        /* forwarded without identity: ag_req_prepare strips the client's identity headers,
         * and the public verdict drops Authorization (never passed on unverified) */
        r->public_route = true;
        r->vid = NULL;
        r->vheaders = NULL;
        r->vheaders_len = 0;
        r->verdict = AG_V_FORWARD;
        return false;
    case AG_AP_CREDENTIALS:
    default:
        return true;
    }
}

void ag_req_decide(struct ag_req *r, bool may_block)
{
    const struct ag_http_request *req = &r->req;
    r->verdict = AG_V_NONE;
    if (!ag_req_decide_first(r))
        return;
    struct ag_gate_result g = {0};
    struct ag_login_result lr = {0};
    if (r->rt->login) { /* the session cookie is checked before a bearer token */
        /* on a worker, an expired session waiting for its refresh is parked instead */
        bool may_park = r->svc->offload && may_block && !r->login_waited;
        ag_login_session_check_ex(r->rt->login, r->arena, req, &r->extra, may_park, &lr);
        if (lr.verdict == AG_LOGIN_WAIT) {
            r->lwait = lr;
            r->verdict = AG_V_WAIT;
            return;
        }
    }
    if (ag_authpath_session_decides(&r->ap, lr.verdict)) {
        g.decision = lr.verdict == AG_LOGIN_ALLOW ? AG_DECISION_ALLOW : AG_DECISION_DENY;
        g.id = lr.id;
        g.why = lr.why;
    } else {
        ag_gate_check(r->rt, r->svc->tc, r->arena, &r->ap.authz, may_block, &g);
        if (g.again) {
            r->verdict = AG_V_AGAIN;
            return;
        }
    }
    ag_metrics_decision(g.decision);
    if (g.id) {
        r->user = g.id->username;
        r->lctx.user = r->user;
        r->roles = ag_req_join(r->arena, &g.id->airflow_roles);
    }
    if (g.decision != AG_DECISION_ALLOW)
        ag_log(AG_LOG_DEBUG, &r->lctx, "refused: %s", g.why);
    switch (ag_authpath_end(&r->ap, lr.verdict, g.decision, g.id != NULL)) {
    case AG_AP_SESSION_REFUSAL: /* the session check built the 403 */
        ag_req_verdict_respond(r, &r->extra);
        return;
    case AG_AP_CHALLENGE:
        /* login redirect (navigation) or 401 JSON; keeps cookie clears in r->extra */
        ag_login_challenge(r->rt->login, r->arena, req, &r->extra);
        ag_req_verdict_respond(r, &r->extra);
        return;
    case AG_AP_GATE_REFUSAL: {
        struct ag_http_response resp = r->extra; /* keeps cookie clears for a bad session */
        ag_gate_refusal(r->rt, r->arena, req, &g, &resp);
        ag_req_verdict_respond(r, &resp);
        return;
    }
    case AG_AP_INTERNAL: /* an allowed decision always names the identity */
        ag_req_verdict_error(r, 500, "internal", "the request could not be forwarded");
        return;
    case AG_AP_FORWARD:
    default:
        break;
    }
    r->vid = g.id;
    r->verdict = AG_V_FORWARD;
    if (lr.verdict == AG_LOGIN_ALLOW && r->ap.authz.n == 0 && !lr.refreshed &&
        r->extra.n_headers == 0) {
        /* a session decision without a renewed cookie: cacheable for the same sealed cookie
         * while the session's checks still pass (ag_req_cached_session), and for at most a
         * quarter of the assertion lifetime */
        r->vsession = lr.session;
        ag_req_cache_until(r, 0);
    } else if (ag_authpath_cacheable(&r->ap, lr.verdict, r->extra.n_headers > 0)) {
        ag_req_cache_until(r, g.exp);
    }
}

/* Acts on the decision, on the loop. */
static void ag_req_conclude(struct ag_req *r)
{
    struct ag_cconn *c = r->c;
    if (r->verdict != AG_V_FORWARD) {
        ag_req_respond(r, &r->vresp);
        return;
    }
    ag_req_prepare(r, r->vid);
    r->phase = AG_R_UPSTREAM;
    if (r->head.expect_continue && !r->body_done && c->off == c->len) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        ag_outq_add(&r->oq, cont, sizeof(cont) - 1);
        if (!ag_cconn_flush(c))
            return;
    }
    ag_up_forward(r);
    if (c->fd >= 0 && c->req == r && r->phase == AG_R_UPSTREAM && !r->body_done)
        ag_cconn_feed_body(c);
}

/* The decision on a worker, then back on the loop (offload.h). */
static void ag_req_task_run(struct ag_task *t, bool stopping)
{
    struct ag_req *r = (struct ag_req *)((char *)t - offsetof(struct ag_req, task));
    if (stopping)
        ag_req_decide_shutdown(r);
    else
        ag_req_decide(r, true);
}

static void ag_req_task_done(struct ag_task *t)
{
    ag_req_resume((struct ag_req *)((char *)t - offsetof(struct ag_req, task)));
}

/* On a refresh thread: the refresh a parked request waited for finished; decide again. */
static void ag_req_refreshed(void *arg)
{
    struct ag_req *r = arg;
    ag_offload_submit(r->svc->offload, &r->task);
}

/* On the loop: parks r until its session's refresh finishes (it stays offloaded meanwhile, so
 * a client that goes away only marks it abandoned). */
static void ag_req_park(struct ag_req *r)
{
    r->login_waited = true;
    r->lwaiter = (struct ag_login_waiter){.cb = ag_req_refreshed, .arg = r};
    if (!ag_login_when_refreshed(r->rt->login, &r->lwait, &r->lwaiter))
        ag_offload_submit(r->svc->offload, &r->task); /* finished meanwhile */
}

static void ag_req_offload(struct ag_req *r)
{
    struct ag_cconn *c = r->c;
    r->offloaded = true;
    if (!r->body_done) { /* the body waits until the decision is known */
        r->client_paused = true;
        r->pause_since_ms = c->sh->loop.now_ms;
    }
    r->task.run = ag_req_task_run;
    r->task.done = ag_req_task_done;
    r->task.loop = &r->sh->loop;
    ag_offload_submit(r->svc->offload, &r->task);
}

void ag_req_resume(struct ag_req *r)
{
    struct ag_shard *l = r->sh;
    if (r->verdict == AG_V_WAIT && !r->abandoned) {
        ag_req_park(r);
        return;
    }
    r->offloaded = false;
    if (r->abandoned) { /* the client went away meanwhile */
        ag_req_free(l, r);
        return;
    }
    struct ag_cconn *c = r->c;
    if (r->client_paused && r->uq.total == 0) {
        r->client_paused = false;
        r->body_since_ms += l->loop.now_ms - r->pause_since_ms;
    }
    ag_req_conclude(r);
    if (c->fd >= 0 && c->req == r) {
        ag_cconn_rearm(c);
        if (c->off < c->len)
            ag_cconn_kick(c);
    }
}

void ag_req_body_collected(struct ag_req *r)
{
    r->collect = false;
    r->cbody[r->cbody_len] = '\0';
    r->req.body = r->cbody;
    r->req.body_len = r->cbody_len;
    if (r->svc->offload) {
        ag_req_offload(r);
        return;
    }
    ag_req_decide(r, true);
    ag_req_conclude(r);
}

void ag_req_begin(struct ag_req *r)
{
    const struct ag_services *svc = r->svc;
    ag_req_id(r);
    if (!ag_req_fill(r))
        return;
    const struct ag_http_request *req = &r->req;
    enum ag_route own = ag_endpoints_route(req->path);
    if (own != AG_ROUTE_PROXY) {
        r->route = own;
        struct ag_http_response resp = {0};
        ag_endpoints_handle(svc, r->rt, r->arena, req, own, &resp);
        ag_req_respond(r, &resp);
        return;
    }
    r->route = AG_ROUTE_PROXY;
    ag_req_facts(r, &r->ap);
    if (r->rt->login && !r->body_done && strcmp(req->path, "/oauth2/backchannel-logout") == 0 &&
        strcmp(req->method, "POST") == 0) {
        /* the one endpoint whose body airgate reads itself: collected first, then decided */
        if (r->head.content_length > AG_REQ_COLLECT_MAX) {
            r->keep_alive = false;
            ag_req_error(r, 413, "payload_too_large", "the logout request is too large");
            return;
        }
        r->collect = true;
        r->cbody = ag_arena_alloc(r->arena, AG_REQ_COLLECT_MAX + 1);
        r->cbody_len = 0;
        return;
    }
    if (ag_req_cached_session(r)) {
        ag_req_conclude(r);
        return;
    }
    switch (ag_authpath_where(&r->ap, svc->offload != NULL)) {
    case AG_AP_ON_WORKER:
        ag_req_offload(r);
        return;
    case AG_AP_TRY_CACHE:
        if (ag_req_cached_bearer(r)) {
            ag_req_conclude(r);
            return;
        }
        break;
    case AG_AP_ON_LOOP:
    default:
        break;
    }
    ag_req_decide(r, !svc->offload);
    if (r->verdict == AG_V_AGAIN || r->verdict == AG_V_WAIT) {
        ag_req_offload(r);
        return;
    }
    ag_req_conclude(r);
}
