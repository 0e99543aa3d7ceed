/* The request pipeline; see handler.h. One struct ag_preq per request, recycled through a small
 * free list so the steady state allocates nothing per request. */
#include "proxy/handler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/assertion.h"
#include "auth/login.h"
#include "auth/token_cache.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/secret.h"
#include "proxy/cidr.h"
#include "proxy/endpoints.h"
#include "proxy/forward.h"
#include "proxy/front.h"
#include "proxy/gate.h"
#include "proxy/mhd_msg.h"
#include "proxy/pool.h"
#include "proxy/preq.h"
#include "proxy/proxy.h"
#include "proxy/runtime.h"
#include "proxy/upstream.h"

static pthread_mutex_t ag_preq_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ag_preq *ag_preq_free_list;
static int ag_preq_free_n;
#define AG_PREQ_KEEP 512

static void ag_preq_release(struct ag_fwd *f)
{
    struct ag_preq *p = (struct ag_preq *)f;
    ag_runtime_unref(p->rt);
    p->rt = NULL;
    ag_arena_reset(p->arena);
    ag_arena_reset(p->fwd.resp_arena);
    pthread_mutex_lock(&ag_preq_lock);
    if (ag_preq_free_n < AG_PREQ_KEEP) {
        p->free_next = ag_preq_free_list;
        ag_preq_free_list = p;
        ag_preq_free_n++;
        p = NULL;
    }
    pthread_mutex_unlock(&ag_preq_lock);
    if (p) {
        ag_arena_free(p->arena);
        ag_arena_free(p->fwd.resp_arena);
        pthread_mutex_destroy(&p->fwd.lock);
        free(p->fwd.up_buf);
        free(p->fwd.down_buf);
        free(p);
    }
}

static struct ag_preq *ag_preq_get(void)
{
    pthread_mutex_lock(&ag_preq_lock);
    struct ag_preq *p = ag_preq_free_list;
    if (p) {
        ag_preq_free_list = p->free_next;
        ag_preq_free_n--;
    }
    pthread_mutex_unlock(&ag_preq_lock);
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p)
            abort();
        p->arena = ag_arena_new(8192);
        p->fwd.resp_arena = ag_arena_new(4096);
        pthread_mutex_init(&p->fwd.lock, NULL);
    }
    /* keep the arenas, the lock and the buffers; zero the rest */
    struct ag_arena *a = p->arena, *ra = p->fwd.resp_arena;
    char *ub = p->fwd.up_buf, *db = p->fwd.down_buf;
    pthread_mutex_t lock = p->fwd.lock;
    memset(p, 0, sizeof(*p));
    p->arena = a;
    p->fwd.resp_arena = ra;
    p->fwd.up_buf = ub;
    p->fwd.down_buf = db;
    p->fwd.lock = lock;
    p->fwd.arena = a;
    p->fwd.release = ag_preq_release;
    atomic_store(&p->fwd.refs, 1);
    return p;
}

void ag_handler_pool_free(void)
{
    pthread_mutex_lock(&ag_preq_lock);
    struct ag_preq *p = ag_preq_free_list;
    ag_preq_free_list = NULL;
    ag_preq_free_n = 0;
    pthread_mutex_unlock(&ag_preq_lock);
    while (p) {
        struct ag_preq *next = p->free_next;
        ag_arena_free(p->arena);
        ag_arena_free(p->fwd.resp_arena);
        pthread_mutex_destroy(&p->fwd.lock);
        free(p->fwd.up_buf);
        free(p->fwd.down_buf);
        free(p);
        p = next;
    }
}

/* True when the request carries no body, so answering after the final call keeps the
 * connection alive (libmicrohttpd closes it when we answer before the body was read). */
static bool ag_handler_no_body(const struct ag_http_request *req)
{
    if (ag_http_header_get(req, "Transfer-Encoding"))
        return false;
    const char *cl = ag_http_header_get(req, "Content-Length");
    return !cl || strcmp(cl, "0") == 0;
}

/* True when the request has several Content-Length headers that disagree. */
static bool ag_handler_conflicting_length(const struct ag_http_request *req)
{
    const char *first = NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, "Content-Length") != 0)
            continue;
        if (!first)
            first = req->headers[i].value;
        else if (strcmp(first, req->headers[i].value) != 0)
            return true;
    }
    return false;
}

/* True when the request names a transfer coding other than a single "chunked" (RFC 9112 6.1:
 * 501). libmicrohttpd would wait for a body it never delimits ("gzip", "identity"), and
 * "xchunked" or "chunked, gzip" are classic request-smuggling spellings. */
static bool ag_handler_unsupported_coding(const struct ag_http_request *req)
{
    int n = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, "Transfer-Encoding") != 0)
            continue;
        const char *v = req->headers[i].value ? req->headers[i].value : "";
        if (++n > 1 || strcasecmp(v, "chunked") != 0)
            return true;
    }
    return false;
}

/* Number of Authorization headers: with two, airgate would check one and the upstream might
 * read the other. */
static int ag_handler_authz_count(const struct ag_http_request *req)
{
    int n = 0;
    for (size_t i = 0; i < req->n_headers; i++)
        n += strcasecmp(req->headers[i].name, "Authorization") == 0;
    return n;
}

static enum MHD_Result ag_handler_send(struct ag_preq *p, struct ag_http_response *resp)
{
    if (atomic_load(&p->px->draining) || atomic_load(&p->front->retiring))
        ag_http_response_add_header(p->arena, resp, "Connection", "close");
    if (!p->pending && ag_handler_no_body(&p->req)) {
        p->pending = true;
        p->resp = *resp;
        return MHD_YES;
    }
    p->pending = false;
    p->status = resp->status;
    p->bytes_out = resp->body_len;
    p->queued = true;
    return ag_mhd_respond(p->conn, resp);
}

/* A short error answer: JSON, or a small HTML page for a browser navigation. */
static enum MHD_Result ag_handler_error(struct ag_preq *p, int status, const char *code,
                                        const char *text)
{
    struct ag_http_response resp = {0};
    char *body;
    if (ag_http_is_navigation(&p->req)) {
        body = ag_arena_printf(p->arena,
                               "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                               "<title>%d</title></head><body><h1>%d</h1><p>%s</p>"
                               "<p>Request id <code>%s</code></p></body></html>\n",
                               status, status, text, p->rid);
        ag_http_response_set(p->arena, &resp, status, "text/html; charset=utf-8", body,
                             strlen(body));
    } else {
        body = ag_arena_printf(p->arena,
                               "{\"error\":\"%s\",\"error_description\":\"%s\","
                               "\"request_id\":\"%s\"}\n",
                               code, text, p->rid);
        ag_http_response_set(p->arena, &resp, status, "application/json", body, strlen(body));
    }
    if (status == 503)
        ag_http_response_add_header(p->arena, &resp, "Retry-After", "5");
    return ag_handler_send(p, &resp);
}

static void ag_handler_request_id(struct ag_preq *p)
{
    static _Thread_local uint64_t s;
    if (s == 0) {
        struct ag_err e;
        if (ag_random_bytes(&s, sizeof(s), &e) != AG_OK || s == 0)
            s = (uint64_t)(uintptr_t)p ^ ag_fwd_now_us() ^ 0x9e3779b97f4a7c15ull;
    }
    /* xorshift64*: unique enough for correlating log lines, never a secret */
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    snprintf(p->rid, sizeof(p->rid), "%016llx", (unsigned long long)(s * 2685821657736338717ull));
}

static enum MHD_Result ag_handler_begin(struct ag_front *fr, struct ag_preq *p,
                                        struct MHD_Connection *conn, const char *url,
                                        const char *method)
{
    struct ag_proxy *px = fr->px;
    p->px = px;
    p->front = fr;
    p->conn = conn;
    p->t0_us = ag_fwd_now_us();
    atomic_fetch_add(&px->inflight, 1);
    atomic_fetch_add(&fr->inflight, 1);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    p->cctx = ci ? ci->socket_context : NULL;
    if (p->cctx)
        atomic_store(&p->cctx->state, AG_CONN_IN_REQUEST);
    p->rt = ag_proxy_runtime(px);
    const struct ag_config *cfg = p->rt->cfg;
    ag_mhd_request_fill(p->arena, conn, method, p->cctx && p->cctx->uri ? p->cctx->uri : url,
                        &p->req);
    p->req.client_ip = p->cctx ? p->cctx->peer_ip : "unknown";
    if (p->cctx && !ag_handler_no_body(&p->req)) {
        /* the body deadline (front.c reaper) runs from here until the final call */
        atomic_store(&p->cctx->body_bytes, 0);
        atomic_store(&p->cctx->since_ms, ag_front_now_ms());
        atomic_store(&p->cctx->state, AG_CONN_IN_BODY);
    }
    p->trusted = p->cctx && ag_cidr_match_sockaddr(cfg->trusted_proxies, cfg->n_trusted_proxies,
                                                   (const struct sockaddr *)&p->cctx->peer);
    const char *xfp = p->trusted ? ag_http_header_get(&p->req, "X-Forwarded-Proto") : NULL;
    p->req.https = xfp ? strcasecmp(xfp, "https") == 0 : fr->tls;
    const char *xfh = p->trusted ? ag_http_header_get(&p->req, "X-Forwarded-Host") : NULL;
    p->req.host = xfh ? xfh : ag_http_header_get(&p->req, "Host");
    ag_handler_request_id(p);
    p->lctx.request_id = p->rid;

    enum ag_route own = ag_endpoints_route(p->req.path);
    if (own != AG_ROUTE_PROXY) {
        p->route = own;
        struct ag_http_response resp = {0};
        ag_endpoints_handle(px, p->rt, p->arena, &p->req, own, &resp);
        return ag_handler_send(p, &resp);
    }
    p->route = AG_ROUTE_PROXY;
    if (p->rt->login) {
        /* login endpoints (under /oauth2/, Airflow's /logout/) come before authentication */
        struct ag_http_response resp = {0};
        if (ag_login_handle(p->rt->login, p->arena, &p->req, &resp)) {
            p->route = AG_ROUTE_LOGIN;
            return ag_handler_send(p, &resp);
        }
    }
    if (strncmp(p->req.path, "/oauth2/", 8) == 0) {
        p->route = AG_ROUTE_LOGIN;
        return ag_handler_error(p, 404, "not_found", "no such airgate endpoint");
    }
    /* framing a front and a back end could read differently is refused (request smuggling) */
    if (ag_handler_conflicting_length(&p->req))
        return ag_handler_error(p, 400, "bad_request", "conflicting Content-Length headers");
    if (ag_handler_unsupported_coding(&p->req))
        return ag_handler_error(p, 501, "not_implemented",
                                "only Transfer-Encoding: chunked is supported");
    if (ag_handler_authz_count(&p->req) > 1)
        return ag_handler_error(p, 400, "bad_request", "several Authorization headers");
    /* CONNECT would turn airgate into a tunnel and TRACE echoes credentials back; Airflow's
     * webserver uses neither. */
    if (strcmp(p->req.method, "CONNECT") == 0 || strcmp(p->req.method, "TRACE") == 0)
        return ag_handler_error(p, 405, "method_not_allowed",
                                "CONNECT and TRACE are not forwarded");
    /* body size known up front */
    const char *cl = ag_http_header_get(&p->req, "Content-Length");
    if (cl && fr->max_body > 0) {
        char *end = NULL;
        long long n = strtoll(cl, &end, 10);
        if (end == cl || *end != '\0' || n < 0 || n > fr->max_body)
            return ag_handler_error(p, 413, "payload_too_large",
                                    "the request body is larger than this server accepts");
    }
    struct ag_gate_result g = {0};
    struct ag_login_result lr = {0};
    if (p->rt->login) /* the session cookie is checked before a bearer token */
        ag_login_session_check(p->rt->login, p->arena, &p->req, &p->extra, &lr);
    const char *authz = ag_http_header_get(&p->req, "Authorization");
    /* a Bearer token beside a session is passed on to the upstream: it must verify too (its
     * identity then applies), so a replica that reads Authorization never gets a forged one */
    bool bearer = authz && strncasecmp(authz, "Bearer ", 7) == 0;
    if ((lr.verdict == AG_LOGIN_ALLOW && !bearer) || lr.verdict == AG_LOGIN_DENY) {
        g.decision = lr.verdict == AG_LOGIN_ALLOW ? AG_DECISION_ALLOW : AG_DECISION_DENY;
        g.id = lr.id;
        g.why = lr.why;
    } else {
        ag_gate_check(p->rt, px->tc, p->arena, &p->req, &g);
    }
    ag_metrics_decision(g.decision);
    if (g.id) {
        p->user = g.id->username;
        p->lctx.user = p->user;
        p->roles = ag_forward_join(p->arena, &g.id->airflow_roles);
    }
    if (g.decision != AG_DECISION_ALLOW) {
        ag_log(AG_LOG_DEBUG, &p->lctx, "refused: %s", g.why);
        if (lr.verdict == AG_LOGIN_DENY) /* the session check built the 403 */
            return ag_handler_send(p, &p->extra);
        if (g.decision == AG_DECISION_NO_CREDENTIALS && p->rt->login) {
            /* login redirect (navigation) or 401 JSON; keeps cookie clears in p->extra */
            ag_login_challenge(p->rt->login, p->arena, &p->req, &p->extra);
            return ag_handler_send(p, &p->extra);
        }
        struct ag_http_response resp = p->extra; /* keeps cookie clears for a bad session */
        ag_gate_refusal(p->rt, p->arena, &p->req, &g, &resp);
        return ag_handler_send(p, &resp);
    }
    struct ag_err err = {0};
    if (ag_forward_prepare(p, g.id, &err) != AG_OK) {
        ag_log(AG_LOG_WARN, &p->lctx, "cannot forward: %s", err.msg);
        return ag_handler_error(p, 500, "internal", "the request could not be forwarded");
    }
    if (!px->up)
        return ag_handler_error(p, 503, "shutting_down", "the proxy is shutting down");
    p->forwarding = true;
    ag_upstream_start(px->up, &p->fwd);
    return MHD_YES;
}

enum MHD_Result ag_handler_access(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct ag_preq *p = *con_cls;
    if (!p) {
        p = ag_preq_get();
        *con_cls = p;
        return ag_handler_begin(cls, p, conn, url, method);
    }
    if (*upload_data_size == 0 && p->cctx &&
        atomic_load(&p->cctx->state) == AG_CONN_IN_BODY) /* the whole body has arrived */
        atomic_store(&p->cctx->state, AG_CONN_IN_REQUEST);
    if (p->pending && *upload_data_size == 0)
        return ag_handler_send(p, &p->resp);
    size_t offered = *upload_data_size;
    enum MHD_Result r = MHD_YES;
    if (p->queued || !p->forwarding)
        *upload_data_size = 0;
    else
        r = ag_forward_step(p, upload_data, upload_data_size);
    if (p->cctx && offered > *upload_data_size)
        atomic_fetch_add(&p->cctx->body_bytes, offered - *upload_data_size);
    return r;
}

void ag_handler_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    struct ag_preq *p = *con_cls;
    if (!p)
        return;
    *con_cls = NULL;
    if (p->cctx) {
        atomic_store(&p->cctx->since_ms, ag_front_now_ms());
        atomic_store(&p->cctx->state, AG_CONN_IDLE);
    }
    ag_metrics_request(p->route, p->status);
    if (AG_LOG_INFO >= ag_log_min_level) {
        const char *up = "-";
        if (p->forwarding) {
            pthread_mutex_lock(&p->fwd.lock);
            if (p->fwd.replica_set && p->fwd.replica)
                up = p->fwd.replica->label;
            pthread_mutex_unlock(&p->fwd.lock);
        }
        struct ag_log_field fields[] = {
            AG_LF_STR("method", p->req.method),
            AG_LF_STR("path", p->req.path), /* never the query: it may hold codes or tokens */
            AG_LF_STR("client", p->req.client_ip),
            AG_LF_STR("roles", p->roles ? p->roles : ""),
            AG_LF_STR("upstream", up),
            AG_LF_NUM("status", p->status),
            AG_LF_NUM("bytes", p->bytes_out),
            AG_LF_NUM("latency_us", ag_fwd_now_us() - p->t0_us),
            AG_LF_STR("outcome", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" : "aborted"),
        };
        ag_log_emit(AG_LOG_INFO, &p->lctx, fields, sizeof(fields) / sizeof(fields[0]), "request");
    }
    if (p->forwarding) {
        pthread_mutex_lock(&p->fwd.lock);
        p->fwd.front_gone = true;
        bool running = !p->fwd.curl_done;
        pthread_mutex_unlock(&p->fwd.lock);
        if (running)
            ag_upstream_notify(p->px->up, &p->fwd, AG_CMD_ABORT);
    }
    atomic_fetch_sub(&p->front->inflight, 1);
    atomic_fetch_sub(&p->px->inflight, 1);
    ag_fwd_unref(&p->fwd);
}
