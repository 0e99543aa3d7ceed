/* The client side of a connection: reading request heads and bodies, writing answers,
 * keep-alive, deadlines (slow heads, slow bodies, idle, stalled readers) and the access log.
 * Runs on the connection's loop thread only. See loop.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/log.h"
#include "proxy/decide/cidr.h"
#include "proxy/stream/front.h"
#include "proxy/event/loop.h"
#include "proxy/proxy.h"
#include "proxy/runtime.h"
#include "proxy/stream/tls.h"

#define AG_MAX_HEADER_LINES 512
#define AG_LINGER_MS 2000
#define AG_KEEP_REQS 256

/* ---- plain or TLS I/O ---- */

static ssize_t ag_cconn_io_read(struct ag_cconn *c, void *b, size_t n)
{
    ssize_t k = ag_io_read(c->fd, c->tls, &c->tls_want, b, n);
    if (k == -1 && c->tls)
        ag_log(AG_LOG_DEBUG, NULL, "TLS from a client: %s", ag_tls_error(c->tls));
    return k;
}

static ssize_t ag_cconn_io_writev(struct ag_cconn *c, const struct iovec *v, int n)
{
    return ag_io_writev(c->fd, c->tls, &c->tls_want, v, n);
}

/* ---- buffers and request objects ---- */

static void ag_cconn_buf_release(struct ag_cconn *c)
{
    if (c->buf) {
        if (c->cap == AG_IOBUF)
            ag_loop_buf_put(c->loop, c->buf);
        else
            free(c->buf);
    }
    c->buf = NULL;
    c->cap = c->len = c->off = c->scan = 0;
}

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

static struct ag_req *ag_req_get(struct ag_loop *l)
{
    struct ag_req *r = l->free_reqs;
    if (r) {
        l->free_reqs = r->free_next;
        l->n_free_reqs--;
        struct ag_arena *a = r->arena;
        memset(r, 0, sizeof(*r));
        r->arena = a;
        r->loop = l;
        r->px = l->px;
        return r;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->arena = ag_arena_new(8192);
    r->loop = l;
    r->px = l->px;
    return r;
}

void ag_req_free(struct ag_loop *l, struct ag_req *r)
{
    ag_runtime_unref(r->rt);
    r->rt = NULL;
    if (r->dbuf) {
        if (r->dcap == AG_IOBUF)
            ag_loop_buf_put(l, r->dbuf);
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

/* ---- the access log and the end of a request ---- */

static void ag_cconn_log_request(struct ag_req *r, bool ok)
{
    ag_metrics_request(r->route, r->status);
    if (AG_LOG_INFO < ag_log_min_level)
        return;
    struct ag_log_field fields[] = {
        AG_LF_STR("method", r->req.method ? r->req.method : "-"),
        AG_LF_STR("path", r->req.path ? r->req.path : "-"), /* never the query: codes, tokens */
        AG_LF_STR("client", r->req.client_ip ? r->req.client_ip : "-"),
        AG_LF_STR("roles", r->roles ? r->roles : ""),
        AG_LF_STR("upstream", r->replica ? r->replica->label : "-"),
        AG_LF_NUM("status", r->status),
        AG_LF_NUM("bytes", r->bytes_out),
        AG_LF_NUM("latency_us", ag_loop_now_us() - r->t0_us),
        AG_LF_STR("outcome", ok ? "ok" : "aborted"),
    };
    ag_log_emit(AG_LOG_INFO, &r->lctx, fields, sizeof(fields) / sizeof(fields[0]), "request");
}

/* Ends c->req: upstream side, log, counters. */
static void ag_cconn_req_end(struct ag_cconn *c, bool ok)
{
    struct ag_req *r = c->req;
    if (!r)
        return;
    if (r->u)
        ag_up_detach(r, false);
    if (r->offloaded) {
        /* a worker still uses r: it is freed when it comes back (ag_req_resume) */
        r->abandoned = true;
        r->c = NULL;
        c->req = NULL;
        ag_log(AG_LOG_INFO, &r->lctx, "client went away while its request was being decided");
        ag_loop_inflight_add(c->loop, -1);
        return;
    }
    ag_cconn_log_request(r, ok);
    if (r->replica) {
        ag_pool_release(r->replica);
        r->replica = NULL;
    }
    c->req = NULL;
    ag_req_free(c->loop, r);
    ag_loop_inflight_add(c->loop, -1);
}

void ag_cconn_close(struct ag_cconn *c, const char *why)
{
    if (c->fd < 0)
        return;
    struct ag_loop *l = c->loop;
    if (c->req) {
        ag_log(AG_LOG_DEBUG, &c->req->lctx, "connection closed during a request: %s", why);
        ag_cconn_req_end(c, false);
    }
    ag_cconn_buf_release(c);
    ag_tls_free(c->tls);
    c->tls = NULL;
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = l->dead_c;
    l->dead_c = c;
    atomic_fetch_sub(&l->front->n_conns, 1);
}

void ag_cconn_kick(struct ag_cconn *c)
{
    if (c->in_ready || c->fd < 0)
        return;
    c->in_ready = true;
    c->ready_next = c->loop->ready;
    c->loop->ready = c;
}

void ag_cconn_request_done(struct ag_cconn *c, bool ok)
{
    struct ag_req *r = c->req;
    if (!r)
        return;
    bool keep = r->keep_alive && r->body_done && !atomic_load(&c->loop->px->draining);
    bool unread_body = !r->body_done;
    ag_cconn_req_end(c, ok);
    c->since_ms = c->loop->now_ms;
    if (!keep) {
        if (unread_body && !c->tls && c->fd >= 0) {
            /* the client may still be sending the body we did not read: closing now would
             * reset the connection and could destroy the answer before it is read */
            shutdown(c->fd, SHUT_WR);
            c->state = AG_C_LINGER;
            c->off = c->len = 0;
            ag_cconn_rearm(c);
            return;
        }
        ag_cconn_close(c, "done");
        return;
    }
    c->state = AG_C_IDLE;
    c->mute_in = false;
    if (c->off < c->len) { /* a pipelined request is already here */
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
        c->scan = 0;
        ag_cconn_kick(c);
    } else {
        ag_cconn_buf_release(c);
    }
    ag_cconn_rearm(c);
}

/* ---- writing ---- */

bool ag_cconn_flush(struct ag_cconn *c)
{
    struct ag_req *r = c->req;
    if (!r)
        return c->fd >= 0;
    struct ag_outq *q = &r->oq;
    while (q->total > 0) {
        ssize_t k = ag_cconn_io_writev(c, q->v + q->i, q->n - q->i);
        if (k == AG_IO_AGAIN)
            break;
        if (k <= 0) {
            ag_cconn_close(c, "write failed");
            return false;
        }
        ag_outq_advance(q, (size_t)k);
        c->since_ms = c->loop->now_ms;
    }
    return true;
}

static void ag_cconn_after_write(struct ag_cconn *c)
{
    struct ag_req *r = c->req;
    if (!r || r->oq.total > 0)
        return;
    if (r->phase == AG_R_LOCAL) {
        ag_cconn_request_done(c, true);
    } else if (r->resp_done) {
        ag_up_detach(r, false); /* a reusable one went back to the pool at the end */
        ag_cconn_request_done(c, true);
    } else if (r->head_ready) {
        ag_up_resume(r);
    }
}

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
    r->body_since_ms += c->loop->now_ms - r->pause_since_ms;
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

static void ag_cconn_read_body(struct ag_cconn *c)
{
    if (!c->buf) {
        c->buf = ag_loop_buf_get(c->loop);
        c->cap = AG_IOBUF;
        c->len = c->off = 0;
    }
    if (c->off == c->len)
        c->off = c->len = 0;
    if (c->len == c->cap)
        return; /* only while paused, which does not read */
    ssize_t k = ag_cconn_io_read(c, c->buf + c->len, c->cap - c->len);
    if (k == AG_IO_AGAIN)
        return;
    if (k <= 0) {
        ag_cconn_close(c, k == 0 ? "client closed during the request body" : "read failed");
        return;
    }
    c->len += (uint32_t)k;
    c->since_ms = c->loop->now_ms;
    ag_cconn_feed_body(c);
}

/* ---- reading the request head ---- */

static void ag_cconn_reject_head(struct ag_cconn *c, int status, const char *why);

/* A new request record on c, with the current runtime. */
static struct ag_req *ag_cconn_open_request(struct ag_cconn *c)
{
    struct ag_loop *l = c->loop;
    struct ag_req *r = ag_req_get(l);
    r->c = c;
    c->req = r;
    c->state = AG_C_BUSY;
    r->t0_us = ag_loop_now_us();
    r->rt = ag_runtime_ref(ag_loop_runtime(l));
    r->rt_gen = l->rt_gen;
    ag_loop_inflight_add(l, 1);
    return r;
}

static void ag_cconn_start_request(struct ag_cconn *c, size_t end)
{
    struct ag_loop *l = c->loop;
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
    r->body_since_ms = l->now_ms;
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
        c->since_ms = c->loop->now_ms;
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

static void ag_cconn_read_head(struct ag_cconn *c)
{
    struct ag_runtime *rt = ag_loop_runtime(c->loop);
    size_t max =
        rt->cfg->server.max_header_bytes > 0 ? (size_t)rt->cfg->server.max_header_bytes : 65536;
    for (int round = 0; round < 8; round++) {
        if (c->len > c->off && round == 0 && ag_cconn_try_head(c, max))
            return;
        if (!c->buf) {
            c->buf = ag_loop_buf_get(c->loop);
            c->cap = AG_IOBUF;
            c->len = c->off = c->scan = 0;
        }
        if (c->len == c->cap && !ag_cconn_buf_grow(c, max)) {
            ag_cconn_reject_head(c, 431, "request head over server.max_header_bytes");
            return;
        }
        ssize_t k = ag_cconn_io_read(c, c->buf + c->len, c->cap - c->len);
        if (k == AG_IO_AGAIN) {
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

static void ag_cconn_linger(struct ag_cconn *c)
{
    char tmp[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t k = recv(c->fd, tmp, sizeof(tmp), 0);
        if (k > 0)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        ag_cconn_close(c, "done");
        return;
    }
}

/* ---- events ---- */

void ag_cconn_rearm(struct ag_cconn *c)
{
    if (c->fd < 0)
        return;
    uint32_t ev = EPOLLRDHUP;
    struct ag_req *r = c->req;
    switch (c->state) {
    case AG_C_BUSY:
        /* EPOLLIN stays registered while a request runs (two epoll_ctl calls fewer per
         * request); it is dropped only when unwanted input actually arrives */
        if (r && r->oq.total > 0)
            ev |= EPOLLOUT;
        if (r && ((!r->body_done && !r->client_paused) || !c->mute_in))
            ev |= EPOLLIN;
        break;
    default:
        ev |= EPOLLIN;
        break;
    }
    if (c->tls_want & AG_WANT_WRITE)
        ev |= EPOLLOUT;
    if (c->tls_want & AG_WANT_READ)
        ev |= EPOLLIN;
    ag_loop_watch(c->loop, c->fd, &c->ev, ev);
}

static void ag_cconn_input(struct ag_cconn *c, uint32_t events)
{
    switch (c->state) {
    case AG_C_NEW:
    case AG_C_HEAD:
    case AG_C_IDLE:
        ag_cconn_read_head(c);
        break;
    case AG_C_LINGER:
        ag_cconn_linger(c);
        break;
    case AG_C_BUSY: {
        struct ag_req *r = c->req;
        if (r && !r->body_done && !r->client_paused)
            ag_cconn_read_body(c);
        else if (events & (EPOLLRDHUP | EPOLLHUP))
            ag_cconn_close(c, "client went away");
        else if (events & EPOLLIN)
            c->mute_in = true; /* pipelined bytes wait for the answer: stop hearing about them */
        break;
    }
    default:
        break;
    }
}

void ag_cconn_event(struct ag_cconn *c, uint32_t events)
{
    if (c->fd < 0)
        return;
    if (events & EPOLLERR) {
        ag_cconn_close(c, "connection error");
        return;
    }
    if ((events & EPOLLOUT) && c->req && c->req->oq.total > 0) {
        if (!ag_cconn_flush(c))
            return;
        ag_cconn_after_write(c);
        if (c->fd < 0)
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
        ag_cconn_input(c, events);
    if (c->fd < 0)
        return;
    ag_cconn_rearm(c);
    /* bytes OpenSSL already decrypted are invisible to epoll */
    if (c->tls && ag_tls_pending(c->tls) &&
        (c->state != AG_C_BUSY || (c->req && !c->req->body_done && !c->req->client_paused)))
        ag_cconn_kick(c);
}

void ag_cconn_accepted(struct ag_loop *l, int fd, const struct sockaddr *sa, socklen_t len)
{
    struct ag_cconn *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->ev.kind = AG_EV_CLIENT;
    c->fd = fd;
    /* answers go out in several writes (head, body pieces): Nagle would hold the last one back
     * until the client's delayed ACK, 40 ms later */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->loop = l;
    c->state = AG_C_NEW;
    c->since_ms = l->now_ms;
    if (len <= sizeof(c->peer))
        memcpy(&c->peer, sa, len);
    ag_cidr_addr_text(&c->peer.sa, c->peer_ip, sizeof(c->peer_ip));
    struct ag_tls_ctx *ctx = ag_front_tls(l->front);
    if (ctx) {
        c->tls = ag_tls_accept(ctx, fd);
        ag_tls_ctx_unref(ctx);
        if (!c->tls) {
            close(fd);
            free(c);
            return;
        }
    }
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    atomic_fetch_add(&l->front->n_conns, 1);
    /* the request often arrives with the connection: try it before asking epoll */
    ag_cconn_event(c, EPOLLIN);
}

void ag_cconn_sweep(struct ag_cconn *c, uint64_t now)
{
    if (c->fd < 0)
        return;
    const struct ag_config *cfg = ag_loop_runtime(c->loop)->cfg;
    uint64_t head_ms =
        (uint64_t)(cfg->server.client_header_timeout_s > 0 ? cfg->server.client_header_timeout_s
                                                           : 10) *
        1000u;
    uint64_t idle_ms =
        (uint64_t)(cfg->server.idle_timeout_s > 0 ? cfg->server.idle_timeout_s : 60) * 1000u;
    uint64_t age = now > c->since_ms ? now - c->since_ms : 0;
    switch (c->state) {
    case AG_C_NEW:
    case AG_C_HEAD:
        if (age > head_ms) {
            ag_log(AG_LOG_INFO, NULL,
                   "closed a connection from %s: too slow to send a request head", c->peer_ip);
            ag_cconn_close(c, "request head too slow");
        }
        break;
    case AG_C_IDLE:
        if (age > idle_ms || atomic_load(&c->loop->px->draining))
            ag_cconn_close(c, "idle");
        break;
    case AG_C_LINGER:
        if (age > AG_LINGER_MS)
            ag_cconn_close(c, "done");
        break;
    case AG_C_BUSY: {
        struct ag_req *r = c->req;
        if (!r)
            break;
        if (r->oq.total > 0 && age > idle_ms) {
            ag_log(AG_LOG_WARN, &r->lctx, "client stopped reading the answer for %llu s",
                   (unsigned long long)(age / 1000));
            ag_cconn_close(c, "client stopped reading");
            break;
        }
        long long base = cfg->server.client_body_timeout_s;
        long long rate =
            cfg->server.client_body_min_rate > 0 ? cfg->server.client_body_min_rate : 16384;
        if (r->body_done || r->client_paused || base <= 0)
            break;
        /* mod_reqtimeout's MinRate: every `rate` bytes buy one more second */
        uint64_t limit = (uint64_t)base * 1000u + r->body_in * 1000u / (uint64_t)rate;
        if (now > r->body_since_ms && now - r->body_since_ms > limit) {
            ag_log(AG_LOG_WARN, &r->lctx,
                   "closing connection from %s: request body too slow: %llu bytes in %llu s",
                   r->req.client_ip ? r->req.client_ip : "-", r->body_in,
                   (unsigned long long)((now - r->body_since_ms) / 1000));
            ag_cconn_close(c, "request body too slow");
        }
        break;
    }
    default:
        break;
    }
}
