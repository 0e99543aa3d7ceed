/* Front-side forwarding; see forward.h. */
#include "proxy/forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/assertion.h"
#include "core/arena.h"
#include "core/log.h"
#include "proxy/front.h"
#include "proxy/headers.h"
#include "proxy/pool.h"
#include "proxy/preq.h"
#include "proxy/proxy.h"
#include "proxy/runtime.h"
#include "proxy/upstream.h"

const char *ag_forward_join(struct ag_arena *a, const struct ag_strlist *l)
{
    size_t n = 1;
    for (size_t i = 0; i < l->n; i++)
        n += strlen(l->items[i]) + 1;
    char *s = ag_arena_alloc(a, n);
    size_t o = 0;
    for (size_t i = 0; i < l->n; i++) {
        size_t k = strlen(l->items[i]);
        if (i)
            s[o++] = ',';
        memcpy(s + o, l->items[i], k);
        o += k;
    }
    s[o] = '\0';
    return s;
}

/* Runs on the curl thread with f->lock held. */
static void ag_forward_wake(struct ag_fwd *f)
{
    MHD_resume_connection(f->front);
}

/* True when the Transfer-Encoding value names chunked (case-insensitive). */
static bool ag_forward_is_chunked(const char *v)
{
    for (; *v; v++) {
        if (strncasecmp(v, "chunked", 7) == 0)
            return true;
    }
    return false;
}

static bool ag_forward_idempotent(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0 ||
           strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0;
}

static void ag_forward_identity(struct ag_preq *p, const struct ag_identity *id)
{
    struct ag_fwd *f = &p->fwd;
    ag_upstream_header_add(f, "X-Forwarded-User", id->username);
    ag_upstream_header_add(f, "X-Forwarded-Preferred-Username", id->username);
    if (id->email)
        ag_upstream_header_add(f, "X-Forwarded-Email", id->email);
    if (id->first_name)
        ag_upstream_header_add(f, "X-Forwarded-First-Name", id->first_name);
    if (id->last_name)
        ag_upstream_header_add(f, "X-Forwarded-Last-Name", id->last_name);
    ag_upstream_header_add(f, "X-Forwarded-Groups", ag_forward_join(p->arena, &id->idp_roles));
    ag_upstream_header_add(f, "X-Airflow-Roles", p->roles ? p->roles : "");
    if (!p->rt->signer)
        return;
    struct ag_assertion_claims c = {
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
    if (ag_assertion_sign(p->rt->signer, p->arena, &c, (int64_t)time(NULL), &jws, &err) == AG_OK)
        ag_upstream_header_add(f, "X-Airgate-Assertion", jws);
    else
        ag_log(AG_LOG_WARN, &p->lctx, "no X-Airgate-Assertion for this request: %s", err.msg);
}

enum ag_rc ag_forward_prepare(struct ag_preq *p, const struct ag_identity *id, struct ag_err *err)
{
    struct ag_fwd *f = &p->fwd;
    const struct ag_config *cfg = p->rt->cfg;
    const struct ag_http_request *req = &p->req;
    f->cfg = cfg;
    /* the upstream thread reads these after libmicrohttpd may have freed the connection (it
     * answers a malformed chunked body with 400 and closes on its own): own copies */
    f->method = ag_arena_strdup(p->arena, req->method);
    f->url_path = req->query ? ag_arena_printf(p->arena, "%s?%s", req->path, req->query)
                             : ag_arena_strdup(p->arena, req->path);
    f->wake = ag_forward_wake;
    f->front = p->conn;
    f->head_method = strcmp(req->method, "HEAD") == 0;
    f->resp_len = -1;
    f->body_len = -1;
    const char *conn_vals[16];
    size_t n_conn = 0;
    bool have_accept = false, chunked = false;
    const char *cl = NULL, *client_xff = NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name;
        if (strcasecmp(name, "Connection") == 0 && n_conn < 16)
            conn_vals[n_conn++] = req->headers[i].value;
        else if (strcasecmp(name, "Content-Length") == 0 && !cl)
            cl = req->headers[i].value; /* the first, as libmicrohttpd reads it */
        else if (strcasecmp(name, "Transfer-Encoding") == 0)
            chunked = chunked || ag_forward_is_chunked(req->headers[i].value);
        else if (ag_hdr_name_eq(name, "X-Forwarded-For") && p->trusted)
            client_xff =
                client_xff ? ag_arena_printf(p->arena, "%s, %s", client_xff, req->headers[i].value)
                           : req->headers[i].value;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name, *value = req->headers[i].value;
        if (ag_hdr_drop_request(name, conn_vals, n_conn))
            continue;
        if (strcasecmp(name, "X-Request-Id") == 0)
            continue;
        if (strcasecmp(name, "Cookie") == 0) {
            value = ag_hdr_cookie_filter(
                p->arena, value, cfg->session.cookie_name ? cfg->session.cookie_name : "_airgate");
            if (!value)
                continue;
        }
        if (strcasecmp(name, "Accept") == 0)
            have_accept = true;
        ag_upstream_header_add(f, name, value);
    }
    ag_upstream_header_add(f, "X-Forwarded-For",
                           ag_hdr_xff_build(p->arena, client_xff, p->trusted, req->client_ip));
    ag_upstream_header_add(f, "X-Forwarded-Proto", req->https ? "https" : "http");
    if (req->host)
        ag_upstream_header_add(f, "X-Forwarded-Host", req->host);
    ag_upstream_header_add(f, "X-Request-Id", p->rid);
    ag_forward_identity(p, id);
    /* keep curl from inventing headers the client did not send */
    if (!have_accept)
        ag_upstream_header_add(f, "Accept", NULL);
    ag_upstream_header_add(f, "Expect", NULL);
    if (!f->head_method) {
        if (chunked) {
            f->body_len = -2;
        } else if (cl) {
            char *end = NULL;
            long long n = strtoll(cl, &end, 10);
            if (end == cl || *end != '\0' || n < 0)
                return ag_err_set(err, AG_EINVAL, "bad Content-Length");
            f->body_len = n;
        }
    }
    f->retry_ok = ag_forward_idempotent(req->method) && (f->body_len == -1 || f->body_len == 0);
    if (f->body_len != -1 && f->body_len != 0 && !f->up_buf) {
        f->up_buf = malloc(AG_FWD_UP_CAP);
        if (!f->up_buf)
            abort();
    }
    if (!f->down_buf) {
        f->down_buf = malloc(AG_FWD_DOWN_CAP);
        if (!f->down_buf)
            abort();
    }
    return AG_OK;
}

static ssize_t ag_forward_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct ag_preq *p = cls;
    struct ag_fwd *f = &p->fwd;
    pthread_mutex_lock(&f->lock);
    if (f->down_len > 0) {
        size_t k = f->down_len < max ? f->down_len : max;
        size_t first = AG_FWD_DOWN_CAP - f->down_off < k ? AG_FWD_DOWN_CAP - f->down_off : k;
        memcpy(buf, f->down_buf + f->down_off, first);
        memcpy(buf + first, f->down_buf, k - first);
        f->down_off = (f->down_off + k) % AG_FWD_DOWN_CAP;
        f->down_len -= k;
        /* un-pause only when a whole curl write (16 KiB) fits, or it pauses again at once */
        bool unpause = f->down_paused && AG_FWD_DOWN_CAP - f->down_len >= 16384;
        pthread_mutex_unlock(&f->lock);
        if (unpause)
            ag_upstream_notify(p->px->up, f, AG_CMD_UNPAUSE_RECV);
        p->bytes_out += k;
        return (ssize_t)k;
    }
    if (f->done) {
        bool failed = f->fail != AG_FAIL_NONE;
        pthread_mutex_unlock(&f->lock);
        if (failed)
            ag_log(AG_LOG_WARN, &p->lctx, "upstream response cut short: %s", f->fail_msg);
        return failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    }
    f->waiting = AG_WAIT_DATA;
    MHD_suspend_connection(p->conn);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static enum MHD_Result ag_forward_error(struct ag_preq *p, int status, const char *code,
                                        const char *text)
{
    p->status = status;
    p->queued = true;
    bool html = ag_http_is_navigation(&p->req);
    char *body = html ? ag_arena_printf(p->arena,
                                        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
                                        "charset=\"utf-8\"><title>%d</title></head><body><h1>%d"
                                        "</h1><p>%s</p><p>Request id <code>%s</code></p></body>"
                                        "</html>\n",
                                        status, status, text, p->rid)
                      : ag_arena_printf(p->arena,
                                        "{\"error\":\"%s\",\"error_description\":\"%s\","
                                        "\"request_id\":\"%s\"}\n",
                                        code, text, p->rid);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type",
                            html ? "text/html; charset=utf-8" : "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == 503)
        MHD_add_response_header(r, "Retry-After", "5");
    /* A session refreshed on this request must reach the browser even when the upstream
     * failed: the old refresh token is already spent at the IdP. */
    for (size_t i = 0; i < p->extra.n_headers; i++)
        MHD_add_response_header(r, p->extra.headers[i].name, p->extra.headers[i].value);
    p->bytes_out = strlen(body);
    enum MHD_Result ret = MHD_queue_response(p->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* True when the transfer ended well and its whole body sits unread at the start of the
 * download buffer. HEAD is excluded: its answer announces the upstream's length. */
static bool ag_forward_whole(struct ag_fwd *f)
{
    pthread_mutex_lock(&f->lock);
    bool whole = f->done && f->fail == AG_FAIL_NONE && !f->head_method && f->down_off == 0 &&
                 f->down_len == f->down_total &&
                 (f->resp_len < 0 || (unsigned long long)f->resp_len == f->down_total);
    pthread_mutex_unlock(&f->lock);
    return whole;
}

static struct MHD_Response *ag_forward_buffered(struct ag_preq *p)
{
    struct ag_fwd *f = &p->fwd;
    size_t n = f->down_len;
    f->down_len = 0;
    p->bytes_out += n;
    if (n == 0)
        return MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    return MHD_create_response_from_buffer(n, f->down_buf, MHD_RESPMEM_MUST_COPY);
}

/* libmicrohttpd callocs the response with a block_size buffer (zeroing all of it): a small
 * body of known length gets a buffer its size, not 32 KiB. */
static size_t ag_forward_block_size(long long resp_len)
{
    if (resp_len >= 0 && resp_len < 32 * 1024)
        return resp_len < 1024 ? 1024 : (size_t)resp_len;
    return 32 * 1024;
}

static enum MHD_Result ag_forward_respond(struct ag_preq *p)
{
    struct ag_fwd *f = &p->fwd;
    if (!f->head_ready) {
        ag_log(AG_LOG_WARN, &p->lctx, "upstream failed: %s", f->fail_msg);
        switch (f->fail) {
        case AG_FAIL_NO_REPLICA:
            return ag_forward_error(p, 503, "no_healthy_upstream",
                                    "no Airflow webserver is available right now");
        case AG_FAIL_TIMEOUT:
            return ag_forward_error(p, 504, "upstream_timeout",
                                    "the Airflow webserver did not answer in time");
        default:
            return ag_forward_error(p, 502, "bad_gateway",
                                    "the Airflow webserver could not be reached");
        }
    }
    int status = f->status;
    struct MHD_Response *r;
    if (status == 204 || status == 304 || status < 200)
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    else if (ag_forward_whole(f))
        /* the whole body is here already (a small answer comes in the same upstream read as
         * its head): a buffer response goes out with the head in one system call */
        r = ag_forward_buffered(p);
    else
        r = MHD_create_response_from_callback(
            f->resp_len >= 0 ? (uint64_t)f->resp_len : MHD_SIZE_UNKNOWN,
            ag_forward_block_size(f->resp_len), ag_forward_reader, p, NULL);
    if (!r)
        return MHD_NO;
    const char *conn_vals[16];
    size_t n_conn = 0;
    for (size_t i = 0; i < f->n_resp_headers && n_conn < 16; i++) {
        if (strcasecmp(f->resp_headers[i].name, "Connection") == 0)
            conn_vals[n_conn++] = f->resp_headers[i].value;
    }
    for (size_t i = 0; i < f->n_resp_headers; i++) {
        if (!ag_hdr_drop_response(f->resp_headers[i].name, conn_vals, n_conn))
            MHD_add_response_header(r, f->resp_headers[i].name, f->resp_headers[i].value);
    }
    for (size_t i = 0; i < p->extra.n_headers; i++) /* renewed session cookies */
        MHD_add_response_header(r, p->extra.headers[i].name, p->extra.headers[i].value);
    if (atomic_load(&p->px->draining) || atomic_load(&p->front->retiring))
        MHD_add_response_header(r, "Connection", "close");
    p->status = status;
    p->queued = true;
    enum MHD_Result ret = MHD_queue_response(p->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The client is over the body limit or the request is being refused: stop the upstream call. */
static void ag_forward_cancel(struct ag_preq *p)
{
    pthread_mutex_lock(&p->fwd.lock);
    p->fwd.front_gone = true;
    bool running = !p->fwd.curl_done;
    pthread_mutex_unlock(&p->fwd.lock);
    if (running)
        ag_upstream_notify(p->px->up, &p->fwd, AG_CMD_ABORT);
}

enum MHD_Result ag_forward_step(struct ag_preq *p, const char *data, size_t *size)
{
    struct ag_fwd *f = &p->fwd;
    if (*size > 0) {
        if (!p->too_large) {
            p->body_in += *size;
            if (p->front->max_body > 0 && p->body_in > (unsigned long long)p->front->max_body) {
                p->too_large = true;
                ag_forward_cancel(p);
            }
        }
        pthread_mutex_lock(&f->lock);
        if (p->too_large || f->done || !f->up_buf) {
            /* nobody reads it any more: swallow it so the answer can be sent */
            pthread_mutex_unlock(&f->lock);
            *size = 0;
            return MHD_YES;
        }
        size_t room = AG_FWD_UP_CAP - f->up_len;
        size_t k = *size < room ? *size : room;
        size_t tail = (f->up_off + f->up_len) % AG_FWD_UP_CAP;
        size_t first = AG_FWD_UP_CAP - tail < k ? AG_FWD_UP_CAP - tail : k;
        memcpy(f->up_buf + tail, data, first);
        memcpy(f->up_buf, data + first, k - first);
        f->up_len += k;
        f->up_total += k;
        *size -= k;
        bool notify = k > 0 && f->up_paused;
        if (*size > 0) {
            f->waiting = AG_WAIT_SPACE;
            MHD_suspend_connection(p->conn);
        }
        pthread_mutex_unlock(&f->lock);
        if (notify)
            ag_upstream_notify(p->px->up, f, AG_CMD_UNPAUSE_SEND);
        return MHD_YES;
    }
    if (p->too_large) {
        p->route = AG_ROUTE_PROXY;
        return ag_forward_error(p, 413, "payload_too_large",
                                "the request body is larger than this server accepts");
    }
    pthread_mutex_lock(&f->lock);
    bool notify = false;
    if (!f->up_eof) {
        f->up_eof = true;
        notify = f->up_paused;
    }
    if (!f->head_ready && !f->done) {
        f->waiting = AG_WAIT_HEAD;
        MHD_suspend_connection(p->conn);
        pthread_mutex_unlock(&f->lock);
        if (notify)
            ag_upstream_notify(p->px->up, f, AG_CMD_UNPAUSE_SEND);
        return MHD_YES;
    }
    pthread_mutex_unlock(&f->lock);
    if (notify)
        ag_upstream_notify(p->px->up, f, AG_CMD_UNPAUSE_SEND);
    return ag_forward_respond(p);
}
