/* The client side of a connection: accepting, writing answers, keep-alive, deadlines (slow
 * heads, slow bodies, idle, stalled readers) and the access log; reading is in conn_read.c.
 * Runs on the connection's loop thread only. See conn.h. */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/http_msg.h"
#include "core/log.h"
#include "proxy/decide/cidr.h"
#include "proxy/runtime.h"
#include "proxy/services.h"
#include "proxy/stream/conn.h"
#include "proxy/stream/peers.h"
#include "proxy/stream/request.h"
#include "proxy/stream/shard.h"
#include "proxy/stream/tls.h"
#include "proxy/stream/upconn.h"

#define AG_LINGER_MS 2000
#define AG_SHED_MIN_AGE_MS 1000 /* a connection this young is not shed (see ag_cconn_shed) */

/* ---- plain or TLS I/O ---- */

ssize_t ag_cconn_io_read(struct ag_cconn *c, void *b, size_t n)
{
    ssize_t k = ag_io_read(c->fd, c->tls, &c->tls_want, b, n);
    if (k == -AG_EIO && c->tls)
        ag_log(AG_LOG_DEBUG, NULL, "TLS from a client: %s", ag_tls_error(c->tls));
    return k;
}

static ssize_t ag_cconn_io_writev(struct ag_cconn *c, const struct iovec *v, int n)
{
    return ag_io_writev(c->fd, c->tls, &c->tls_want, v, n);
}

/* ---- buffers ---- */

void ag_cconn_buf_release(struct ag_cconn *c)
{
    if (c->buf) {
        if (c->cap == AG_IOBUF)
            ag_loop_buf_put(&c->sh->loop, c->buf);
        else
            free(c->buf);
    }
    c->buf = NULL;
    c->cap = c->len = c->off = c->scan = 0;
}

/* ---- the access log and the end of a request ---- */

static void ag_cconn_log_request(struct ag_req *r, bool ok)
{
    ag_metrics_request(r->route, r->status);
    if (AG_LOG_INFO < ag_log_min_level)
        return;
    struct ag_log_http http = {
        .method = r->req.method ? r->req.method : "-",
        .path = r->req.path ? r->req.path : "-", /* never the query: codes, tokens */
        .remote_ip = r->req.client_ip ? r->req.client_ip : "-",
        .status = r->status,
        .response_size = r->bytes_out,
        .latency_us = ag_loop_now_us() - r->t0_us,
    };
    if (r->req.n_headers > 0) {
        http.user_agent = ag_http_header_get(&r->req, "User-Agent");
        http.trace_context = ag_http_header_get(&r->req, "X-Cloud-Trace-Context");
    }
    struct ag_log_field fields[] = {
        AG_LF_STR("roles", r->roles ? r->roles : ""),
        AG_LF_STR("upstream", r->replica ? r->replica->label : "-"),
        AG_LF_STR("outcome", ok ? "ok" : "aborted"),
    };
    ag_log_emit_http(AG_LOG_INFO, &r->lctx, &http, fields, sizeof(fields) / sizeof(fields[0]),
                     "request");
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
        ag_shard_inflight_add(c->sh, -1);
        return;
    }
    ag_cconn_log_request(r, ok);
    if (r->replica) {
        ag_pool_release(r->replica);
        r->replica = NULL;
    }
    c->req = NULL;
    ag_req_free(c->sh, r);
    ag_shard_inflight_add(c->sh, -1);
}

void ag_cconn_close(struct ag_cconn *c, const char *why)
{
    if (c->fd < 0)
        return;
    struct ag_shard *l = c->sh;
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
    c->prev = c->next = NULL;
    ag_loop_retire(&l->loop, &c->ev);
    atomic_fetch_sub(&l->common->n_conns, 1);
    if (c->peer_counted)
        ag_peers_put(l->common->peers, &c->peer.sa);
    c->peer_counted = false;
}

void ag_cconn_kick(struct ag_cconn *c)
{
    if (c->fd < 0)
        return;
    ag_loop_ready(&c->sh->loop, &c->ev);
}

void ag_cconn_request_done(struct ag_cconn *c, bool ok)
{
    struct ag_req *r = c->req;
    if (!r)
        return;
    bool keep = r->keep_alive && r->body_done && !atomic_load(c->sh->svc->draining);
    bool unread_body = !r->body_done;
    ag_cconn_req_end(c, ok);
    c->since_ms = c->sh->loop.now_ms;
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
        if (k == -AG_EAGAIN)
            break;
        if (k <= 0) {
            ag_cconn_close(c, "write failed");
            return false;
        }
        ag_outq_advance(q, (size_t)k);
        c->since_ms = c->sh->loop.now_ms;
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
    ag_loop_watch(&c->sh->loop, c->fd, &c->ev, ev);
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

static void ag_cconn_event(struct ag_cconn *c, uint32_t events)
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

/* The loop's handlers: the client connection's ev is its first member. */
static void ag_cconn_on_io(struct ag_ev *ev, uint32_t events)
{
    ag_cconn_event((struct ag_cconn *)(void *)ev, events);
}

static void ag_cconn_sweep(struct ag_cconn *c, uint64_t now);

static void ag_cconn_on_timer(struct ag_ev *ev, uint64_t now)
{
    ag_cconn_sweep((struct ag_cconn *)(void *)ev, now);
}

static void ag_cconn_on_free(struct ag_ev *ev)
{
    free(ev);
}

static void ag_cconn_accepted(struct ag_shard *l, int fd, const struct sockaddr *sa, socklen_t len,
                              bool counted)
{
    struct ag_cconn *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->ev.handler = ag_cconn_on_io;
    c->ev.on_timer = ag_cconn_on_timer;
    c->ev.on_free = ag_cconn_on_free;
    c->fd = fd;
    /* answers go out in several writes (head, body pieces): Nagle would hold the last one back
     * until the client's delayed ACK, 40 ms later */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->sh = l;
    c->state = AG_C_NEW;
    c->since_ms = c->opened_ms = l->loop.now_ms;
    if (len <= sizeof(c->peer))
        memcpy(&c->peer, sa, len);
    ag_cidr_addr_text(&c->peer.sa, c->peer_ip, sizeof(c->peer_ip));
    struct ag_tls_ctx *ctx = ag_shard_tls(l);
    if (ctx) {
        c->tls = ag_tls_accept(ctx, fd);
        ag_tls_ctx_unref(ctx);
        if (!c->tls) {
            if (counted)
                ag_peers_put(l->common->peers, sa);
            close(fd);
            free(c);
            return;
        }
    }
    c->peer_counted = counted;
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    ag_loop_timer_add(&l->loop, &c->ev);
    atomic_fetch_add(&l->common->n_conns, 1);
    /* the request often arrives with the connection: try it before asking epoll */
    ag_cconn_event(c, EPOLLIN);
}

static void ag_cconn_sweep(struct ag_cconn *c, uint64_t now)
{
    if (c->fd < 0)
        return;
    const struct ag_config *cfg = ag_shard_runtime(c->sh)->cfg;
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
        if (age > idle_ms || atomic_load(c->sh->svc->draining))
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

/* At most one line a second for each kind of refusal: a flood must not flood the log too. */
static _Atomic uint64_t ag_cconn_per_ip_log_ms, ag_cconn_max_log_ms, ag_cconn_shed_log_ms;

static bool ag_cconn_log_due(_Atomic uint64_t *last, uint64_t now)
{
    uint64_t prev = atomic_load(last);
    return (prev == 0 || now - prev >= 1000) && atomic_compare_exchange_strong(last, &prev, now);
}

/* At server.max_connections: closes this loop's oldest connection that has not sent a whole
 * request head (nginx reuses idle connections the same way), so a slow flood cannot keep the
 * others out. Connections younger than AG_SHED_MIN_AGE_MS are left alone: a client that just
 * connected is about to send its head. False when there is none. */
static bool ag_cconn_shed(struct ag_shard *l, long max)
{
    struct ag_cconn *old = NULL;
    uint64_t now = l->loop.now_ms;
    for (struct ag_cconn *c = l->conns; c; c = c->next) {
        if ((c->state != AG_C_NEW && c->state != AG_C_HEAD) || c->req || c->fd < 0)
            continue;
        if (now - c->opened_ms < AG_SHED_MIN_AGE_MS)
            continue;
        if (!old || c->opened_ms < old->opened_ms)
            old = c;
    }
    if (!old)
        return false;
    if (ag_cconn_log_due(&ag_cconn_shed_log_ms, now))
        ag_log(AG_LOG_WARN, NULL,
               "server.max_connections (%ld) reached: closing the oldest connections without a "
               "request head (from %s, open %llu ms) to make room",
               max, old->peer_ip, (unsigned long long)(now - old->opened_ms));
    ag_cconn_close(old, "shed to make room");
    return true;
}

void ag_cconn_listen_ready(struct ag_ev *ev, uint32_t events)
{
    (void)events;
    struct ag_shard *l = (struct ag_shard *)((char *)ev - offsetof(struct ag_shard, listen_ev));
    for (int i = 0; i < 64; i++) {
        int lfd = atomic_load(&l->listen_fd);
        if (lfd < 0)
            return;
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                ag_log(AG_LOG_ERROR, NULL, "cannot accept: %s", strerror(errno));
            return;
        }
        const struct ag_config *cfg = ag_shard_runtime(l)->cfg;
        const struct sockaddr *sa = (const struct sockaddr *)&ss;
        /* behind a load balancer every peer is one of its front ends: no per-address cap */
        long per_ip = cfg->server.max_connections_per_ip;
        long max = cfg->server.max_connections;
        /* a per-address cap at or above the global one adds nothing */
        bool counted = per_ip > 0 && (max <= 0 || per_ip < max) &&
                       !ag_cidr_match_sockaddr(cfg->trusted_proxies, cfg->n_trusted_proxies, sa);
        if (counted && !ag_peers_take(l->common->peers, sa, per_ip)) {
            if (ag_cconn_log_due(&ag_cconn_per_ip_log_ms, l->loop.now_ms)) {
                char ip[INET6_ADDRSTRLEN];
                ag_log(AG_LOG_WARN, NULL,
                       "refusing connections from %s: server.max_connections_per_ip (%ld) "
                       "reached",
                       ag_cidr_addr_text(sa, ip, sizeof(ip)), per_ip);
            }
            close(fd);
            continue;
        }
        if (max > 0 && atomic_load(&l->common->n_conns) >= max && !ag_cconn_shed(l, max)) {
            if (ag_cconn_log_due(&ag_cconn_max_log_ms, l->loop.now_ms))
                ag_log(AG_LOG_WARN, NULL,
                       "refusing a connection: server.max_connections (%ld) reached", max);
            if (counted)
                ag_peers_put(l->common->peers, sa);
            close(fd);
            continue;
        }
        ag_cconn_accepted(l, fd, sa, len, counted);
    }
}

void ag_cconn_close_all(struct ag_shard *sh)
{
    while (sh->conns)
        ag_cconn_close(sh->conns, "shutting down");
}
