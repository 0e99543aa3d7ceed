/* Reading on a client connection: request bodies (decoded, then handed to the upstream or
 * collected for airgate itself) and request heads (parsed into a new request record). Loop
 * thread only. See conn.h. */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/log.h"
#include "proxy/runtime.h"
#include "proxy/stream/conn.h"
#include "proxy/stream/request.h"
#include "proxy/stream/shard.h"
#include "proxy/stream/tls.h"
#include "proxy/stream/upconn.h"

#define AG_MAX_HEADER_LINES 512

/* ---- reading the request body ---- */

void ag_cconn_body_error(struct ag_cconn *c, int status, const char *why)
{
    struct ag_req *r = c->req;
    ag_log(AG_LOG_INFO, &r->lctx, "request body refused (%d): %s", status, why);
    if (r->u)
        ag_up_detach(r, false);
    if (r->head_ready || r->bytes_out > 0 || r->oq.total > 0) {
        ag_cconn_close(c, why);
        return;
    }
    r->keep_alive = false;
    r->phase = AG_R_LOCAL;
    ag_req_error(r, status, status == 413 ? "payload_too_large" : "bad_request",
                 status == 413 ? "the request body is larger than this server accepts"
                               : "the request body is malformed");
}

/* Decodes buffered body bytes and hands them to the upstream. */
void ag_cconn_feed_body(struct ag_cconn *c)
{
    struct ag_req *r = c->req;
    long long max = r->rt->cfg->server.max_body_bytes;
    while (r && !r->body_done && !r->client_paused && c->off < c->len) {
        char *data = c->buf + c->off;
        size_t size = c->len - c->off, extra = 0;
        const char *why = "bad body";
        enum ag_h1_rc rc = ag_h1_parse_body(&r->in, data, &size, &extra, &why);
        if (rc == AG_H1_BAD) {
            ag_cconn_body_error(c, r->in.too_large ? 413 : 400, why);
            return;
        }
        c->len = (uint32_t)(c->off + size + (rc == AG_H1_DONE ? extra : 0));
        c->off += (uint32_t)size;
        r->body_in += size;
        if (rc == AG_H1_DONE)
            r->body_done = true;
        if (max > 0 && r->body_in > (unsigned long long)max) {
            ag_cconn_body_error(c, 413, "over server.max_body_bytes");
            return;
        }
        if (r->collect) {
            if (r->cbody_len + size > AG_REQ_COLLECT_MAX) {
                ag_cconn_body_error(c, 413, "over the logout request limit");
                return;
            }
            memcpy(r->cbody + r->cbody_len, data, size);
            r->cbody_len += size;
            if (r->body_done) {
                ag_req_body_collected(r);
                return;
            }
            continue;
        }
        ag_up_body(r, data, size, r->body_done);
        if (c->fd < 0 || c->req != r)
            return;
    }
    if (r && !r->client_paused && c->off == c->len)
        c->off = c->len = 0;
}

void ag_cconn_body_drained(struct ag_cconn *c)
{
    struct ag_req *r = c->req;
    if (!r || !r->client_paused)
        return;
    r->client_paused = false;
    r->body_since_ms += c->sh->loop.now_ms - r->pause_since_ms;
    if (c->off == c->len)
        c->off = c->len = 0;
    ag_cconn_kick(c);
}

void ag_cconn_skip_body(struct ag_cconn *c)
{
    struct ag_req *r = c->req;
    if (r->body_done)
        return;
    while (c->off < c->len) {
        size_t size = c->len - c->off, extra = 0;
        const char *why = NULL;
        enum ag_h1_rc rc = ag_h1_parse_body(&r->in, c->buf + c->off, &size, &extra, &why);
        if (rc == AG_H1_BAD)
            break;
        if (rc == AG_H1_DONE) {
            memmove(c->buf + c->off, c->buf + c->off + size, extra);
            c->len = (uint32_t)(c->off + extra);
            r->body_done = true;
            return;
        }
        c->off = c->len = 0;
    }
    r->keep_alive = false;
}

void ag_cconn_read_body(struct ag_cconn *c)
{
    if (!c->buf) {
        c->buf = ag_loop_buf_get(&c->sh->loop);
        c->cap = AG_IOBUF;
        c->len = c->off = 0;
    }
    if (c->off == c->len)
        c->off = c->len = 0;
    if (c->len == c->cap)
        return; /* only while paused, which does not read */
    ssize_t k = ag_cconn_io_read(c, c->buf + c->len, c->cap - c->len);
    if (k == -AG_EAGAIN)
        return;
    if (k <= 0) {
        ag_cconn_close(c, k == 0 ? "client closed during the request body" : "read failed");
        return;
    }
    c->len += (uint32_t)k;
    c->since_ms = c->sh->loop.now_ms;
    ag_cconn_feed_body(c);
}

/* ---- reading the request head ---- */

/* Makes room for a head larger than the pooled buffer, up to max bytes. */
static bool ag_cconn_buf_grow(struct ag_cconn *c, size_t max)
{
    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->scan = c->scan > c->off ? c->scan - c->off : 0;
        c->off = 0;
        if (c->len < c->cap)
            return true;
    }
    if (c->cap >= max + 1024)
        return false;
    size_t cap = c->cap < AG_IOBUF ? AG_IOBUF * 4 : (size_t)c->cap * 4;
    if (cap > max + 1024)
        cap = max + 1024;
    char *b = malloc(cap);
    if (!b)
        abort();
    memcpy(b, c->buf, c->len);
    uint32_t len = c->len;
    size_t scan = c->scan;
    ag_cconn_buf_release(c);
    c->buf = b;
    c->cap = (uint32_t)cap;
    c->len = len;
    c->scan = scan;
    return true;
}

static void ag_cconn_reject_head(struct ag_cconn *c, int status, const char *why);

/* A new request record on c, with the current runtime. */
static struct ag_req *ag_cconn_open_request(struct ag_cconn *c)
{
    struct ag_shard *l = c->sh;
    struct ag_req *r = ag_req_get(l);
    r->c = c;
    c->req = r;
    c->state = AG_C_BUSY;
    r->t0_us = ag_loop_now_us();
    r->rt = ag_runtime_ref(ag_shard_runtime(l));
    r->rt_gen = l->rt_gen;
    ag_shard_inflight_add(l, 1);
    return r;
}

static void ag_cconn_start_request(struct ag_cconn *c, size_t end)
{
    struct ag_shard *l = c->sh;
    struct ag_req *r = ag_cconn_open_request(c);
    ag_h1_parser_init(&r->in, true, false);
    if (r->rt->cfg->server.max_body_bytes > 0)
        r->in.max_body = (unsigned long long)r->rt->cfg->server.max_body_bytes;
    int status = 400;
    const char *why = "malformed request";
    enum ag_h1_rc rc = ag_h1_parse_head(&r->in, r->arena, c->buf + c->off, end, AG_MAX_HEADER_LINES,
                                        &r->head, &status, &why);
    c->off += (uint32_t)end;
    c->scan = 0;
    if (rc != AG_H1_OK) {
        ag_cconn_reject_head(c, status, why);
        return;
    }
    r->body_done = r->head.chunked ? false : r->head.content_length <= 0;
    r->keep_alive = r->head.keep_alive;
    r->body_since_ms = l->loop.now_ms;
    ag_req_begin(r);
    if (c->req == r && r->collect && c->off < c->len)
        ag_cconn_feed_body(c); /* body bytes that came with the head */
}

/* Answers a request whose head could not be read (431, 400, 501, 505) and closes. */
static void ag_cconn_reject_head(struct ag_cconn *c, int status, const char *why)
{
    if (!c->req)
        ag_cconn_open_request(c);
    struct ag_req *r = c->req;
    r->req.client_ip = ag_arena_strdup(r->arena, c->peer_ip);
    ag_log(AG_LOG_INFO, NULL, "refused a request from %s (%d): %s", c->peer_ip, status, why);
    r->keep_alive = false;
    r->body_done = false; /* whatever follows is not read: linger, then close */
    r->phase = AG_R_LOCAL;
    ag_req_error(r, status,
                 status == 431   ? "request_header_fields_too_large"
                 : status == 501 ? "not_implemented"
                 : status == 505 ? "http_version_not_supported"
                                 : "bad_request",
                 status == 431 ? "the request head is larger than this server accepts" : why);
}

/* True when a request was started (or the connection closed). */
static bool ag_cconn_try_head(struct ag_cconn *c, size_t max)
{
    if (c->state == AG_C_IDLE) {
        c->state = AG_C_HEAD;
        c->since_ms = c->sh->loop.now_ms;
    } else if (c->state == AG_C_NEW) {
        c->state = AG_C_HEAD; /* the head deadline keeps running from the accept */
    }
    size_t avail = c->len - c->off;
    size_t end = ag_h1_head_end(c->buf + c->off, avail, &c->scan);
    if (end == 0 ? avail > max : end > max) {
        ag_cconn_reject_head(c, 431, "request head over server.max_header_bytes");
        return true;
    }
    if (end == 0)
        return false;
    ag_cconn_start_request(c, end);
    return true;
}

void ag_cconn_read_head(struct ag_cconn *c)
{
    struct ag_runtime *rt = ag_shard_runtime(c->sh);
    size_t max =
        rt->cfg->server.max_header_bytes > 0 ? (size_t)rt->cfg->server.max_header_bytes : 65536;
    for (int round = 0; round < 8; round++) {
        if (c->len > c->off && round == 0 && ag_cconn_try_head(c, max))
            return;
        if (!c->buf) {
            c->buf = ag_loop_buf_get(&c->sh->loop);
            c->cap = AG_IOBUF;
            c->len = c->off = c->scan = 0;
        }
        if (c->len == c->cap && !ag_cconn_buf_grow(c, max)) {
            ag_cconn_reject_head(c, 431, "request head over server.max_header_bytes");
            return;
        }
        ssize_t k = ag_cconn_io_read(c, c->buf + c->len, c->cap - c->len);
        if (k == -AG_EAGAIN) {
            if (c->len == 0)
                ag_cconn_buf_release(c);
            return;
        }
        if (k <= 0) {
            ag_cconn_close(c, k == 0 ? "client closed" : "read failed");
            return;
        }
        c->len += (uint32_t)k;
        if (ag_cconn_try_head(c, max))
            return;
    }
}
