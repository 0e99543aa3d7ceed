/* The request pipeline between a parsed head and the upstream: own endpoints, login endpoints,
 * authentication (session cookie, bearer token), policy, then the upstream request head (header
 * policy, identity headers, X-Forwarded-*) or an own answer. See loop.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/assertion/assertion.h"
#include "auth/jose/keycache.h"
#include "auth/login/login.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/secret.h"
#include "proxy/decide/authcache.h"
#include "proxy/decide/cidr.h"
#include "proxy/manage/endpoints.h"
#include "proxy/stream/front.h"
#include "proxy/decide/gate.h"
#include "proxy/http/headers.h"
#include "proxy/event/loop.h"
#include "proxy/event/offload.h"
#include "proxy/proxy.h"
#include "proxy/runtime.h"

/* ---- a string builder in the request arena ---- */

struct ag_sb {
    struct ag_arena *a;
    char *p;
    size_t len, cap;
};

static void ag_sb_init(struct ag_sb *b, struct ag_arena *a, size_t cap)
{
    b->a = a;
    b->p = ag_arena_alloc(a, cap);
    b->len = 0;
    b->cap = cap;
}

static void ag_sb_put(struct ag_sb *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap * 2 > b->len + n + 256 ? b->cap * 2 : b->len + n + 256;
        char *p = ag_arena_alloc(b->a, cap);
        memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void ag_sb_str(struct ag_sb *b, const char *s)
{
    ag_sb_put(b, s, strlen(s));
}

static void ag_sb_hdr(struct ag_sb *b, const char *name, const char *value)
{
    ag_sb_str(b, name);
    ag_sb_put(b, ": ", 2);
    ag_sb_str(b, value ? value : "");
    ag_sb_put(b, "\r\n", 2);
}

static void ag_sb_num(struct ag_sb *b, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ag_sb_put(b, tmp + i, sizeof(tmp) - i);
}

/* ---- own answers ---- */

static void ag_req_send(struct ag_req *r)
{
    struct ag_cconn *c = r->c;
    if (!ag_cconn_flush(c))
        return;
    if (r->oq.total == 0) {
        if (r->phase == AG_R_LOCAL)
            ag_cconn_request_done(c, true);
        return;
    }
    ag_cconn_rearm(c);
}

static bool ag_req_closing(const struct ag_req *r)
{
    return !r->keep_alive || atomic_load(&r->c->loop->px->draining);
}

/* "HTTP/1.1 200 OK\r\n" */
static void ag_req_status_line(struct ag_sb *b, int status)
{
    if (status < 100 || status > 999)
        status = 502;
    char line[16] = "HTTP/1.1 ";
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    line[12] = ' ';
    ag_sb_put(b, line, 13);
    ag_sb_str(b, ag_h1_reason(status));
    ag_sb_put(b, "\r\n", 2);
}

static void ag_req_connection_header(struct ag_req *r, struct ag_sb *b)
{
    if (ag_req_closing(r)) {
        r->keep_alive = false;
        ag_sb_str(b, "Connection: close\r\n");
    } else if (r->head.minor == 0) {
        ag_sb_str(b, "Connection: keep-alive\r\n");
    }
}

void ag_req_respond(struct ag_req *r, const struct ag_http_response *resp)
{
    struct ag_cconn *c = r->c;
    r->phase = AG_R_LOCAL;
    if (r->u)
        ag_up_detach(r, false);
    if (!r->body_done)
        ag_cconn_skip_body(c);
    int status = resp->status ? resp->status : 500;
    r->status = status;
    struct ag_sb b;
    ag_sb_init(&b, r->arena, 512 + resp->body_len);
    ag_req_status_line(&b, status);
    if (resp->content_type)
        ag_sb_hdr(&b, "Content-Type", resp->content_type);
    bool cache_set = false, nosniff_set = false;
    for (size_t i = 0; i < resp->n_headers; i++) {
        cache_set = cache_set || strcasecmp(resp->headers[i].name, "Cache-Control") == 0;
        nosniff_set =
            nosniff_set || strcasecmp(resp->headers[i].name, "X-Content-Type-Options") == 0;
        ag_sb_hdr(&b, resp->headers[i].name, resp->headers[i].value);
    }
    if (!cache_set)
        ag_sb_str(&b, "Cache-Control: no-store\r\n");
    if (!nosniff_set) /* the login pages set their own: one header, not two */
        ag_sb_str(&b, "X-Content-Type-Options: nosniff\r\n");
    ag_sb_str(&b, ag_loop_date(c->loop));
    ag_sb_str(&b, "Content-Length: ");
    ag_sb_num(&b, resp->body_len);
    ag_sb_put(&b, "\r\n", 2);
    ag_req_connection_header(r, &b);
    ag_sb_put(&b, "\r\n", 2);
    bool head = r->req.method && strcmp(r->req.method, "HEAD") == 0;
    if (!head && resp->body_len > 0)
        ag_sb_put(&b, resp->body, resp->body_len);
    r->bytes_out = head ? 0 : resp->body_len;
    ag_outq_add(&r->oq, b.p, b.len);
    ag_req_send(r);
}

/* The error answer, built without sending it (workers use it too). */
static void ag_req_error_resp(struct ag_req *r, int status, const char *code, const char *text,
                              struct ag_http_response *out)
{
    if (!r->req.method)
        r->req.method = "-";
    struct ag_http_response resp = {0};
    char *body;
    const char *rid = r->rid[0] ? r->rid : "-";
    if (ag_http_is_navigation(&r->req)) {
        body = ag_arena_printf(r->arena,
                               "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                               "<title>%d</title></head><body><h1>%d</h1><p>%s</p>"
                               "<p>Request id <code>%s</code></p></body></html>\n",
                               status, status, text, rid);
        ag_http_response_set(r->arena, &resp, status, "text/html; charset=utf-8", body,
                             strlen(body));
    } else {
        body = ag_arena_printf(r->arena,
                               "{\"error\":\"%s\",\"error_description\":\"%s\","
                               "\"request_id\":\"%s\"}\n",
                               code, text, rid);
        ag_http_response_set(r->arena, &resp, status, "application/json", body, strlen(body));
    }
    if (status == 503)
        ag_http_response_add_header(r->arena, &resp, "Retry-After", "5");
    /* a session refreshed on this request must reach the browser even when the upstream
     * failed: the old refresh token is already spent at the IdP */
    for (size_t i = 0; i < r->extra.n_headers; i++)
        ag_http_response_add_header(r->arena, &resp, r->extra.headers[i].name,
                                    r->extra.headers[i].value);
    *out = resp;
}

void ag_req_error(struct ag_req *r, int status, const char *code, const char *text)
{
    struct ag_http_response resp;
    ag_req_error_resp(r, status, code, text, &resp);
    ag_req_respond(r, &resp);
}

/* ---- the answer head for a forwarded response ---- */

void ag_req_response_head(struct ag_req *r, const char **out, size_t *len)
{
    const struct ag_h1_head *h = &r->rhead;
    struct ag_sb b;
    ag_sb_init(&b, r->arena, 1024);
    ag_req_status_line(&b, h->status);
    const char *conn_vals[16];
    size_t n_conn = 0;
    for (size_t i = 0; i < h->n_headers && n_conn < 16; i++) {
        if (strcasecmp(h->headers[i].name, "Connection") == 0)
            conn_vals[n_conn++] = h->headers[i].value;
    }
    for (size_t i = 0; i < h->n_headers; i++) {
        if (!ag_hdr_drop_response(h->headers[i].name, conn_vals, n_conn))
            ag_sb_hdr(&b, h->headers[i].name, h->headers[i].value);
    }
    for (size_t i = 0; i < r->extra.n_headers; i++) /* renewed session cookies */
        ag_sb_hdr(&b, r->extra.headers[i].name, r->extra.headers[i].value);
    ag_sb_str(&b, ag_loop_date(r->c->loop));
    if (!r->body_done)
        r->keep_alive = false; /* an early answer: the rest of the body is never read */
    bool bodyless_status = h->status < 200 || h->status == 204 || h->status == 304;
    if (h->content_length >= 0 && h->status != 204 && !(h->status < 200)) {
        ag_sb_str(&b, "Content-Length: ");
        ag_sb_num(&b, (unsigned long long)h->content_length);
        ag_sb_put(&b, "\r\n", 2);
    } else if (!h->no_body && !bodyless_status) {
        if (r->head.minor >= 1) {
            r->resp_chunked = true;
            ag_sb_str(&b, "Transfer-Encoding: chunked\r\n");
        } else {
            r->keep_alive = false; /* an HTTP/1.0 client reads to the end of the connection */
        }
    }
    ag_req_connection_header(r, &b);
    ag_sb_put(&b, "\r\n", 2);
    r->status = h->status;
    *out = b.p;
    *len = b.len;
}

/* ---- the upstream request head ---- */

void ag_req_upstream_line(struct ag_req *r, const struct ag_replica *rep, const char **out,
                          size_t *len)
{
    struct ag_sb b;
    size_t tl = strlen(r->fwd_target);
    ag_sb_init(&b, r->arena, 64 + tl + strlen(rep->prefix) + strlen(rep->hosthdr));
    ag_sb_str(&b, r->req.method);
    ag_sb_put(&b, " ", 1);
    ag_sb_str(&b, rep->prefix);
    ag_sb_put(&b, r->fwd_target, tl);
    ag_sb_str(&b, " HTTP/1.1\r\n");
    if (!ag_http_header_get(&r->req, "Host")) /* HTTP/1.0 clients may send none */
        ag_sb_hdr(&b, "Host", rep->hosthdr);
    *out = b.p;
    *len = b.len;
}

static bool ag_req_idempotent(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0 ||
           strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0;
}

const char *ag_req_join(struct ag_arena *a, const struct ag_strlist *l)
{
    return ag_hdr_identity_list(a, (const char *const *)l->items, l->n);
}

static void ag_req_identity(struct ag_req *r, struct ag_sb *b, const struct ag_identity *id)
{
    struct ag_arena *a = r->arena; /* values encoded as headers.h says */
    ag_sb_hdr(b, "X-Forwarded-User", ag_hdr_identity_value(a, id->username));
    ag_sb_hdr(b, "X-Forwarded-Preferred-Username", ag_hdr_identity_value(a, id->username));
    if (id->email)
        ag_sb_hdr(b, "X-Forwarded-Email", ag_hdr_identity_value(a, id->email));
    if (id->first_name)
        ag_sb_hdr(b, "X-Forwarded-First-Name", ag_hdr_identity_value(a, id->first_name));
    if (id->last_name)
        ag_sb_hdr(b, "X-Forwarded-Last-Name", ag_hdr_identity_value(a, id->last_name));
    ag_sb_hdr(b, "X-Forwarded-Groups", ag_req_join(r->arena, &id->idp_roles));
    ag_sb_hdr(b, "X-Airflow-Roles", r->roles ? r->roles : "");
    if (!r->rt->signer)
        return;
    struct ag_assertion_claims ac = {
        .sub = id->subject,
        .preferred_username = id->username,
        .email = id->email,
        .given_name = id->first_name,
        .family_name = id->last_name,
        .roles = (const char *const *)id->airflow_roles.items,
        .n_roles = id->airflow_roles.n,
        .groups = (const char *const *)id->idp_roles.items,
        .n_groups = id->idp_roles.n,
    };
    const char *jws = NULL;
    struct ag_err err = {0};
    if (ag_assertion_sign(r->rt->signer, r->arena, &ac, (int64_t)time(NULL), &jws, &err) == AG_OK)
        ag_sb_hdr(b, "X-Airgate-Assertion", jws);
    else
        ag_log(AG_LOG_WARN, &r->lctx, "no X-Airgate-Assertion for this request: %s", err.msg);
}

static int ag_req_authz_count(const struct ag_http_request *req);

/* The bearer token of a request with exactly one Authorization header, a Bearer one. */
static bool ag_req_bearer(const struct ag_http_request *req, const char **tok, size_t *len)
{
    return ag_req_authz_count(req) == 1 && ag_gate_bearer_token(req, tok, len) && *len > 0;
}

/* Remembers this request's bearer decision on its loop (see authcache.h). */
static void ag_req_cache_put(struct ag_req *r, const char *block, size_t len)
{
    const char *tok;
    size_t tl;
    if (!ag_req_bearer(&r->req, &tok, &tl))
        return;
    struct ag_loop *l = r->loop;
    if (!l->authcache) {
        l->authcache = calloc(1, sizeof(*l->authcache));
        if (!l->authcache)
            abort();
    }
    ag_authcache_put(l->authcache, tok, tl, r->rt_gen, ag_keycache_generation(r->rt->keys->kc),
                     r->cache_until, block, len, r->user, r->roles);
}

/* A bearer request this loop already decided: forwards with the cached identity block. */
static bool ag_req_cached_bearer(struct ag_req *r)
{
    struct ag_loop *l = r->loop;
    const char *tok;
    size_t tl;
    if (!l->authcache || strncmp(r->req.path, "/oauth2/", 8) == 0 ||
        ag_routes_match(&r->rt->public_routes, r->req.method, r->req.path) ||
        !ag_req_bearer(&r->req, &tok, &tl))
        return false;
    long long max_body = r->rt->cfg->server.max_body_bytes;
    if (max_body > 0 && r->head.content_length > max_body)
        return false;
    const struct ag_authcache_entry *e =
        ag_authcache_get(l->authcache, tok, tl, r->rt_gen, ag_keycache_generation(r->rt->keys->kc),
                         (int64_t)time(NULL));
    if (!e)
        return false;
    /* copies: the entry may be replaced while this request still runs */
    r->vheaders = ag_arena_memdup(r->arena, e->headers, e->headers_len);
    r->vheaders_len = e->headers_len;
    r->user = ag_arena_strdup(r->arena, e->user);
    r->roles = ag_arena_strdup(r->arena, e->roles);
    r->lctx.user = r->user;
    r->vid = NULL;
    r->verdict = AG_V_FORWARD;
    ag_metrics_decision(AG_DECISION_ALLOW);
    return true;
}

/* The header block sent to every replica (the request line is per replica). */
static void ag_req_prepare(struct ag_req *r, const struct ag_identity *id)
{
    const struct ag_config *cfg = r->rt->cfg;
    const struct ag_http_request *req = &r->req;
    const char *conn_vals[16];
    size_t n_conn = 0;
    const char *client_xff = NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name;
        if (strcasecmp(name, "Connection") == 0 && n_conn < 16)
            conn_vals[n_conn++] = req->headers[i].value;
        else if (r->trusted && ag_hdr_name_eq(name, "X-Forwarded-For"))
            client_xff =
                client_xff ? ag_arena_printf(r->arena, "%s, %s", client_xff, req->headers[i].value)
                           : req->headers[i].value;
    }
    struct ag_sb b;
    ag_sb_init(&b, r->arena, 2048);
    const char *cookie_name = cfg->session.cookie_name ? cfg->session.cookie_name : "_airgate";
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name, *value = req->headers[i].value;
        if (ag_hdr_drop_request(name, conn_vals, n_conn) || strcasecmp(name, "X-Request-Id") == 0)
            continue;
        if (r->public_route && strcasecmp(name, "Authorization") == 0)
            continue;
        if (strcasecmp(name, "Cookie") == 0) {
            value = ag_hdr_cookie_filter(r->arena, value, cookie_name);
            if (!value)
                continue;
        }
        ag_sb_hdr(&b, name, value);
    }
    ag_sb_hdr(&b, "X-Forwarded-For",
              ag_hdr_xff_build(r->arena, client_xff, r->trusted, req->client_ip));
    ag_sb_hdr(&b, "X-Forwarded-Proto", req->https ? "https" : "http");
    if (req->host)
        ag_sb_hdr(&b, "X-Forwarded-Host", req->host);
    ag_sb_hdr(&b, "X-Request-Id", r->rid);
    size_t id_from = b.len;
    if (id)
        ag_req_identity(r, &b, id);
    else if (r->vheaders)
        ag_sb_put(&b, r->vheaders, r->vheaders_len);
    size_t id_to = b.len;
    bool head = strcmp(req->method, "HEAD") == 0;
    if (r->head.chunked && !head) {
        r->up_chunked = true;
        ag_sb_str(&b, "Transfer-Encoding: chunked\r\n");
    } else if (r->head.content_length >= 0 && !head) {
        ag_sb_str(&b, "Content-Length: ");
        ag_sb_num(&b, (unsigned long long)r->head.content_length);
        ag_sb_put(&b, "\r\n", 2);
    }
    ag_sb_put(&b, "\r\n", 2);
    r->up_head = b.p;
    r->up_head_len = b.len;
    if (id && r->cache_until > 0)
        ag_req_cache_put(r, b.p + id_from, id_to - id_from);
    r->retry_ok = ag_req_idempotent(req->method) && !r->head.chunked && r->head.content_length <= 0;
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

static int ag_req_authz_count(const struct ag_http_request *req)
{
    int n = 0;
    for (size_t i = 0; i < req->n_headers; i++)
        n += strcasecmp(req->headers[i].name, "Authorization") == 0;
    return n;
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

void ag_req_decide(struct ag_req *r, bool may_block)
{
    struct ag_proxy *px = r->px;
    const struct ag_http_request *req = &r->req;
    r->verdict = AG_V_NONE;
    if (r->rt->login) {
        /* login endpoints (under /oauth2/, Airflow's /logout/) come before authentication */
        struct ag_http_response resp = {0};
        if (ag_login_handle(r->rt->login, r->arena, req, &resp)) {
            r->route = AG_ROUTE_LOGIN;
            ag_req_verdict_respond(r, &resp);
            return;
        }
    }
    if (strncmp(req->path, "/oauth2/", 8) == 0) {
        r->route = AG_ROUTE_LOGIN;
        ag_req_verdict_error(r, 404, "not_found", "no such airgate endpoint");
        return;
    }
    if (ag_req_authz_count(req) > 1) {
        ag_req_verdict_error(r, 400, "bad_request", "several Authorization headers");
        return;
    }
    long long max_body = r->rt->cfg->server.max_body_bytes;
    if (max_body > 0 && r->head.content_length > max_body) {
        r->keep_alive = false;
        ag_req_verdict_error(r, 413, "payload_too_large",
                             "the request body is larger than this server accepts");
        return;
    }
    if (ag_routes_match(&r->rt->public_routes, req->method, req->path)) {
        /* forwarded without identity: ag_req_prepare strips the client's identity headers,
         * and the public verdict drops Authorization (never passed on unverified) */
        r->public_route = true;
        r->vid = NULL;
        r->vheaders = NULL;
        r->vheaders_len = 0;
        r->verdict = AG_V_FORWARD;
        return;
    }
    struct ag_gate_result g = {0};
    struct ag_login_result lr = {0};
    if (r->rt->login) /* the session cookie is checked before a bearer token */
        ag_login_session_check(r->rt->login, r->arena, req, &r->extra, &lr);
    const char *authz = ag_http_header_get(req, "Authorization");
    /* a Bearer token beside a session is passed on to the upstream: it must verify too (its
     * identity then applies), so a replica that reads Authorization never gets a forged one */
    bool bearer = authz && strncasecmp(authz, "Bearer ", 7) == 0;
    if ((lr.verdict == AG_LOGIN_ALLOW && !bearer) || lr.verdict == AG_LOGIN_DENY) {
        g.decision = lr.verdict == AG_LOGIN_ALLOW ? AG_DECISION_ALLOW : AG_DECISION_DENY;
        g.id = lr.id;
        g.why = lr.why;
    } else {
        ag_gate_check(r->rt, px->tc, r->arena, req, may_block, &g);
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
    if (g.decision != AG_DECISION_ALLOW) {
        ag_log(AG_LOG_DEBUG, &r->lctx, "refused: %s", g.why);
        if (lr.verdict == AG_LOGIN_DENY) { /* the session check built the 403 */
            ag_req_verdict_respond(r, &r->extra);
            return;
        }
        if (g.decision == AG_DECISION_NO_CREDENTIALS && r->rt->login) {
            /* login redirect (navigation) or 401 JSON; keeps cookie clears in r->extra */
            ag_login_challenge(r->rt->login, r->arena, req, &r->extra);
            ag_req_verdict_respond(r, &r->extra);
            return;
        }
        struct ag_http_response resp = r->extra; /* keeps cookie clears for a bad session */
        ag_gate_refusal(r->rt, r->arena, req, &g, &resp);
        ag_req_verdict_respond(r, &resp);
        return;
    }
    if (!g.id) { /* an allowed decision always names the identity */
        ag_req_verdict_error(r, 500, "internal", "the request could not be forwarded");
        return;
    }
    r->vid = g.id;
    r->verdict = AG_V_FORWARD;
    if (lr.verdict == AG_LOGIN_NONE && r->extra.n_headers == 0 && bearer) {
        /* a bearer decision alone: cacheable until the token expires, and for at most a
         * quarter of the assertion lifetime (the cached block holds an assertion the signer
         * reuses for up to half of it) */
        int64_t now = (int64_t)time(NULL);
        int64_t until =
            now + (r->rt->signer
                       ? (r->rt->cfg->assertion.ttl_s > 0 ? r->rt->cfg->assertion.ttl_s : 60) / 4
                       : 60);
        if (g.exp > 0 && g.exp < until)
            until = g.exp;
        r->cache_until = until > now ? until : 0;
    }
}

/* True when deciding r may wait on the IdP: login endpoints, airgate's session cookies (a
 * refresh), and navigations without credentials (the IdP reachability probe). Bearer tokens
 * are decided on the loop; the one case that needs the network (an unknown kid) comes back as
 * AG_V_AGAIN. */
static bool ag_req_needs_worker(const struct ag_req *r)
{
    const struct ag_http_request *req = &r->req;
    if (!r->rt->login)
        return false;
    const char *p = req->path;
    if (strncmp(p, "/oauth2/", 8) == 0 || strcmp(p, "/logout") == 0 || strcmp(p, "/logout/") == 0)
        return true;
    if (ag_routes_match(&r->rt->public_routes, req->method, p))
        return false;
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
    return !ag_http_header_get(req, "Authorization") && ag_http_is_navigation(req);
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

static void ag_req_offload(struct ag_req *r)
{
    struct ag_cconn *c = r->c;
    r->offloaded = true;
    if (!r->body_done) { /* the body waits until the decision is known */
        r->client_paused = true;
        r->pause_since_ms = c->loop->now_ms;
    }
    ag_offload_submit(r->px->offload, r);
}

void ag_req_resume(struct ag_req *r)
{
    struct ag_loop *l = r->loop;
    r->offloaded = false;
    if (r->abandoned) { /* the client went away meanwhile */
        ag_req_free(l, r);
        return;
    }
    struct ag_cconn *c = r->c;
    if (r->client_paused && r->uq.total == 0) {
        r->client_paused = false;
        r->body_since_ms += l->now_ms - r->pause_since_ms;
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
    if (r->px->offload) {
        ag_req_offload(r);
        return;
    }
    ag_req_decide(r, true);
    ag_req_conclude(r);
}

void ag_req_begin(struct ag_req *r)
{
    struct ag_proxy *px = r->px;
    ag_req_id(r);
    if (!ag_req_fill(r))
        return;
    const struct ag_http_request *req = &r->req;
    enum ag_route own = ag_endpoints_route(req->path);
    if (own != AG_ROUTE_PROXY) {
        r->route = own;
        struct ag_http_response resp = {0};
        ag_endpoints_handle(px, r->rt, r->arena, req, own, &resp);
        ag_req_respond(r, &resp);
        return;
    }
    r->route = AG_ROUTE_PROXY;
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
    if (px->offload && ag_req_needs_worker(r)) {
        ag_req_offload(r);
        return;
    }
    if (ag_req_cached_bearer(r)) {
        ag_req_conclude(r);
        return;
    }
    ag_req_decide(r, !px->offload);
    if (r->verdict == AG_V_AGAIN) {
        ag_req_offload(r);
        return;
    }
    ag_req_conclude(r);
}
