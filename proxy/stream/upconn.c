/* The upstream side: per-loop keep-alive connections to the replicas, sending request heads and
 * bodies, reading responses and streaming them to the client with backpressure both ways,
 * retries, and upstream deadlines. Runs on the loop thread only. See loop.h. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/stream/front.h"
#include "proxy/event/loop.h"
#include "proxy/proxy.h"
#include "proxy/runtime.h"
#include "proxy/stream/tls.h"

#define AG_UP_IDLE_MS 30000       /* an idle pooled connection is closed after this */
#define AG_UP_FRESH_FOR_BODY 2000 /* requests with a body only reuse connections this fresh */

enum ag_up_fail { AG_UF_CONNECT, AG_UF_TIMEOUT, AG_UF_PROTOCOL, AG_UF_NO_REPLICA };

/* ---- plain or TLS I/O ---- */

static ssize_t ag_uconn_io_read(struct ag_uconn *u, void *b, size_t n)
{
    return ag_io_read(u->fd, u->tls, &u->tls_want, b, n);
}

static ssize_t ag_uconn_io_writev(struct ag_uconn *u, const struct iovec *v, int n)
{
    return ag_io_writev(u->fd, u->tls, &u->tls_want, v, n);
}

/* A fresh connection whose TLS handshake never finished failed to connect (ejects). */
static bool ag_uconn_handshake_failed(const struct ag_uconn *u)
{
    return u->tls && !u->reused && !ag_tls_established(u->tls);
}

static const char *ag_uconn_io_error(struct ag_uconn *u)
{
    return u->tls ? ag_tls_error(u->tls) : strerror(errno);
}

/* ---- connections ---- */

void ag_uconn_close(struct ag_uconn *u)
{
    if (u->fd < 0)
        return;
    struct ag_loop *l = u->loop;
    if (u->req && u->req->u == u)
        u->req->u = NULL;
    u->req = NULL;
    if (u->in_idle) {
        int idx = u->replica->index;
        for (struct ag_uconn **pp = &l->idle[idx]; *pp; pp = &(*pp)->next_idle) {
            if (*pp == u) {
                *pp = u->next_idle;
                l->n_idle[idx]--;
                break;
            }
        }
        u->in_idle = false;
    }
    ag_tls_free(u->tls);
    u->tls = NULL;
    close(u->fd);
    u->fd = -1;
    if (u->prev)
        u->prev->next = u->next;
    else
        l->uconns = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->prev = NULL;
    u->next = l->dead_u;
    l->dead_u = u;
}

static void ag_uconn_rearm(struct ag_uconn *u)
{
    if (u->fd < 0)
        return;
    uint32_t ev = 0;
    struct ag_req *r = u->req;
    if (!r) {
        ev = EPOLLIN | EPOLLRDHUP;
    } else {
        if (u->connecting || r->uq.total > 0)
            ev |= EPOLLOUT;
        if (!u->connecting && !r->upstream_paused)
            ev |= EPOLLIN | EPOLLRDHUP;
    }
    if (u->tls_want & AG_WANT_WRITE)
        ev |= EPOLLOUT;
    if ((u->tls_want & AG_WANT_READ) && !(r && r->upstream_paused))
        ev |= EPOLLIN;
    ag_loop_watch(u->loop, u->fd, &u->ev, ev);
}

/* A pooled connection to rep, or NULL. */
static struct ag_uconn *ag_uconn_take(struct ag_loop *l, struct ag_replica *rep, bool fresh_only)
{
    int idx = rep->index;
    unsigned gen = atomic_load(&rep->gen);
    struct ag_uconn *u;
    while ((u = l->idle[idx])) {
        l->idle[idx] = u->next_idle;
        l->n_idle[idx]--;
        u->next_idle = NULL;
        u->in_idle = false;
        if (u->gen != gen || u->fd < 0 ||
            (fresh_only && l->now_ms - u->since_ms > AG_UP_FRESH_FOR_BODY)) {
            ag_uconn_close(u);
            continue;
        }
        return u;
    }
    return NULL;
}

static struct ag_uconn *ag_uconn_connect(struct ag_loop *l, struct ag_replica *rep,
                                         const char **why)
{
    if (rep->sa_len == 0) {
        *why = "its name does not resolve";
        return NULL;
    }
    int fd = socket(rep->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = strerror(errno);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    bool connecting = false;
    if (connect(fd, (const struct sockaddr *)&rep->sa, rep->sa_len) != 0) {
        if (errno != EINPROGRESS) {
            *why = strerror(errno);
            close(fd);
            return NULL;
        }
        connecting = true;
    }
    struct ag_uconn *u = calloc(1, sizeof(*u));
    if (!u)
        abort();
    u->ev.kind = AG_EV_UPSTREAM;
    u->fd = fd;
    u->loop = l;
    u->replica = rep;
    u->gen = atomic_load(&rep->gen);
    u->connecting = connecting;
    u->since_ms = l->now_ms;
    u->next = l->uconns;
    if (l->uconns)
        l->uconns->prev = u;
    l->uconns = u;
    if (rep->tls) {
        struct ag_tls_ctx *ctx = ag_front_up_tls(l->front);
        u->tls = ctx ? ag_tls_connect(ctx, fd, rep->host) : NULL;
        ag_tls_ctx_unref(ctx);
        if (!u->tls) {
            *why = "no TLS client context (upstreams.ca_file)";
            ag_uconn_close(u);
            return NULL;
        }
    }
    return u;
}

void ag_up_detach(struct ag_req *r, bool reusable)
{
    struct ag_uconn *u = r->u;
    if (!u)
        return;
    r->u = NULL;
    u->req = NULL;
    struct ag_loop *l = u->loop;
    int idx = u->replica->index;
    if (reusable && u->fd >= 0 && !u->connecting && atomic_load(&u->replica->gen) == u->gen &&
        !atomic_load(&l->px->draining) && l->n_idle[idx] < AG_IDLE_PER_REPLICA &&
        !(u->tls && ag_tls_pending(u->tls))) {
        u->next_idle = l->idle[idx];
        l->idle[idx] = u;
        l->n_idle[idx]++;
        u->in_idle = true;
        u->since_ms = l->now_ms;
        u->reused = true;
        u->tls_want = 0;
        ag_uconn_rearm(u);
        return;
    }
    ag_uconn_close(u);
}

/* ---- sending ---- */

/* False when the request failed (and r may be gone). */
static bool ag_uconn_flush(struct ag_uconn *u);
static void ag_up_failed(struct ag_req *r, enum ag_up_fail kind, const char *msg);
static void ag_uconn_read(struct ag_uconn *u);

static void ag_up_start(struct ag_req *r, struct ag_replica *rep, bool fresh)
{
    struct ag_loop *l = r->c->loop;
    r->replica = rep;
    struct ag_uconn *u = fresh ? NULL : ag_uconn_take(l, rep, !r->body_done);
    const char *why = "connect failed";
    if (!u)
        u = ag_uconn_connect(l, rep, &why);
    if (!u) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s: %s", rep->label, why);
        ag_up_failed(r, AG_UF_CONNECT, msg);
        return;
    }
    u->req = r;
    r->u = u;
    r->up_since_ms = l->now_ms;
    ag_outq_reset(&r->uq);
    const char *line;
    size_t len;
    ag_req_upstream_line(r, rep, &line, &len);
    ag_outq_add(&r->uq, line, len);
    ag_outq_add(&r->uq, r->up_head, r->up_head_len);
    if (!u->connecting && !ag_uconn_flush(u))
        return;
    ag_uconn_rearm(u);
}

void ag_up_forward(struct ag_req *r)
{
    struct ag_proxy *px = r->c->loop->px;
    r->t_up_us = ag_loop_now_us();
    struct ag_replica *rep = ag_pool_pick(&px->pool, NULL);
    if (!rep) {
        ag_up_failed(r, AG_UF_NO_REPLICA, "no healthy upstream replica");
        return;
    }
    ag_up_start(r, rep, false);
}

static bool ag_uconn_flush(struct ag_uconn *u)
{
    struct ag_req *r = u->req;
    struct ag_outq *q = &r->uq;
    while (q->total > 0) {
        ssize_t k = ag_uconn_io_writev(u, q->v + q->i, q->n - q->i);
        if (k == AG_IO_AGAIN)
            break;
        if (k <= 0) {
            int e = errno;
            if (!u->tls && r->up_wrote && (e == EPIPE || e == ECONNRESET)) {
                /* the replica stopped reading the body: it has likely answered already (413
                 * before the whole upload). Pass that answer on rather than a 502; the rest of
                 * the body is not read, so the client connection closes after it */
                ag_outq_reset(q);
                r->up_write_failed = true;
                r->keep_alive = false;
                r->client_paused = true;
                ag_uconn_read(u);
                if (u->fd >= 0 && u->req == r)
                    ag_uconn_rearm(u);
                return false;
            }
            char msg[200];
            snprintf(msg, sizeof(msg), "%s: write failed: %s", u->replica->label,
                     ag_uconn_io_error(u));
            ag_up_failed(r, ag_uconn_handshake_failed(u) ? AG_UF_CONNECT : AG_UF_PROTOCOL, msg);
            return false;
        }
        ag_outq_advance(q, (size_t)k);
        r->up_since_ms = u->loop->now_ms;
        r->up_wrote = true;
    }
    if (q->total == 0) {
        if (r->body_done)
            r->body_sent = true;
        if (r->client_paused)
            ag_cconn_body_drained(r->c);
    }
    return true;
}

void ag_up_body(struct ag_req *r, const char *data, size_t n, bool last)
{
    if (r->up_write_failed)
        return; /* the replica answered without reading the body: the client stays paused */
    if (r->up_chunked) {
        if (n > 0) {
            ag_outq_add(&r->uq, r->upre, ag_chunk_line(r->upre, n));
            ag_outq_add(&r->uq, data, n);
            ag_outq_add(&r->uq, "\r\n", 2);
        }
        if (last)
            ag_outq_add(&r->uq, "0\r\n\r\n", 5);
    } else {
        ag_outq_add(&r->uq, data, n);
    }
    struct ag_uconn *u = r->u;
    if (r->uq.total > 0) {
        /* the bytes point into the client's buffer: no more client reads until they are out */
        r->client_paused = true;
        r->pause_since_ms = r->c->loop->now_ms;
    }
    if (!u) /* the upstream part already ended (early answer): drop the body */
    {
        ag_outq_reset(&r->uq);
        r->client_paused = false;
        return;
    }
    if (!u->connecting && !ag_uconn_flush(u))
        return;
    if (r->u == u)
        ag_uconn_rearm(u);
}

/* ---- failures and retries ---- */

static void ag_up_failed(struct ag_req *r, enum ag_up_fail kind, const char *msg)
{
    struct ag_loop *l = r->c->loop;
    struct ag_proxy *px = l->px;
    struct ag_uconn *u = r->u;
    struct ag_replica *rep = r->replica;
    bool nothing = !r->head_ready && r->dlen == 0;
    bool bodyless = !r->head.chunked && r->head.content_length <= 0;
    bool stale = u && u->reused && nothing && bodyless && kind == AG_UF_PROTOCOL;
    static const char *const kinds[] = {"connect", "timeout", "reset", "connect"};
    if (!stale)
        ag_metrics_upstream_error(kinds[kind]);
    if (kind == AG_UF_CONNECT && rep && ag_pool_eject(&px->pool, rep))
        ag_log(AG_LOG_WARN, NULL, "upstream %s ejected: %s", rep->label, msg);
    if (u) {
        r->u = NULL;
        u->req = NULL;
        ag_uconn_close(u);
    }
    if (stale && !r->stale_retried) {
        /* the replica closed a pooled connection as we reused it: try a fresh one */
        r->stale_retried = true;
        ag_up_start(r, rep, true);
        return;
    }
    if (nothing && r->retry_ok && !r->retried && kind != AG_UF_TIMEOUT &&
        kind != AG_UF_NO_REPLICA) {
        struct ag_replica *next = ag_pool_pick(&px->pool, rep);
        if (next) {
            ag_metrics_upstream_error("retry");
            ag_log(AG_LOG_INFO, &r->lctx, "retrying %s on %s after: %s", r->req.method, next->label,
                   msg);
            r->retried = true;
            if (rep)
                ag_pool_release(rep);
            ag_up_start(r, next, false);
            return;
        }
    }
    ag_log(AG_LOG_WARN, &r->lctx, "upstream failed: %s", msg);
    if (r->head_ready) {
        /* the answer has begun: the client sees it cut short */
        ag_cconn_close(r->c, "upstream failed during the answer");
        return;
    }
    r->keep_alive = r->keep_alive && r->body_done;
    switch (kind) {
    case AG_UF_NO_REPLICA:
        ag_req_error(r, 503, "no_healthy_upstream", "no Airflow webserver is available right now");
        break;
    case AG_UF_TIMEOUT:
        ag_req_error(r, 504, "upstream_timeout", "the Airflow webserver did not answer in time");
        break;
    default:
        ag_req_error(r, 502, "bad_gateway", "the Airflow webserver could not be reached");
        break;
    }
}

/* ---- receiving ---- */

enum ag_up_next { AG_UP_MORE, AG_UP_STOP };

/* Queues decoded body bytes (and the end) to the client. */
static enum ag_up_next ag_up_deliver(struct ag_req *r, const char *data, size_t size, bool done,
                                     bool reusable)
{
    struct ag_cconn *c = r->c;
    if (size > 0) {
        if (r->resp_chunked) {
            ag_outq_add(&r->oq, r->cpre, ag_chunk_line(r->cpre, size));
            ag_outq_add(&r->oq, data, size);
            ag_outq_add(&r->oq, "\r\n", 2);
        } else {
            ag_outq_add(&r->oq, data, size);
        }
        r->bytes_out += size;
    }
    if (done) {
        if (r->resp_chunked)
            ag_outq_add(&r->oq, "0\r\n\r\n", 5);
        r->resp_done = true;
        ag_metrics_upstream_latency(ag_loop_now_us() - r->t_up_us);
        /* the answer is complete: the connection can serve others while the client reads */
        ag_up_detach(r, reusable && r->body_sent);
    }
    if (!ag_cconn_flush(c))
        return AG_UP_STOP;
    if (r->oq.total == 0) {
        if (r->resp_done) {
            ag_cconn_request_done(c, true);
            return AG_UP_STOP;
        }
        r->dlen = 0;
        return AG_UP_MORE;
    }
    r->upstream_paused = true;
    ag_cconn_rearm(c);
    if (r->u)
        ag_uconn_rearm(r->u);
    return AG_UP_STOP;
}

static enum ag_up_next ag_up_body_bytes(struct ag_req *r, char *data, size_t n)
{
    size_t size = n, extra = 0;
    const char *why = "bad response body";
    enum ag_h1_rc rc;
    if (r->rhead.no_body) {
        rc = AG_H1_DONE;
        size = 0;
        extra = n;
    } else {
        rc = ag_h1_parse_body(&r->out, data, &size, &extra, &why);
    }
    if (rc == AG_H1_BAD) {
        ag_log(AG_LOG_WARN, &r->lctx, "upstream response broken: %s", why);
        ag_cconn_close(r->c, "broken upstream response");
        return AG_UP_STOP;
    }
    bool done = rc == AG_H1_DONE;
    return ag_up_deliver(r, data, size, done, done && r->rhead.keep_alive && extra == 0);
}

static bool ag_up_grow(struct ag_req *r)
{
    if (r->dcap >= AG_UP_HEAD_MAX)
        return false;
    size_t cap = r->dcap < AG_IOBUF ? AG_IOBUF * 2 : (size_t)r->dcap * 2;
    if (cap > AG_UP_HEAD_MAX)
        cap = AG_UP_HEAD_MAX;
    char *b = malloc(cap);
    if (!b)
        abort();
    memcpy(b, r->dbuf, r->dlen);
    if (r->dcap == AG_IOBUF)
        ag_loop_buf_put(r->c->loop, r->dbuf);
    else
        free(r->dbuf);
    r->dbuf = b;
    r->dcap = (uint32_t)cap;
    return true;
}

static enum ag_up_next ag_up_head(struct ag_req *r)
{
    for (;;) {
        size_t end = ag_h1_head_end(r->dbuf, r->dlen, &r->dscan);
        if (end == 0) {
            if (r->dlen == r->dcap && !ag_up_grow(r)) {
                ag_up_failed(r, AG_UF_PROTOCOL, "response head too large");
                return AG_UP_STOP;
            }
            return AG_UP_MORE;
        }
        bool head_req = strcmp(r->req.method, "HEAD") == 0;
        ag_h1_parser_init(&r->out, false, head_req);
        int st = 0;
        const char *why = "bad response head";
        if (ag_h1_parse_head(&r->out, r->arena, r->dbuf, end, 512, &r->rhead, &st, &why) !=
            AG_H1_OK) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%s: %s", r->replica ? r->replica->label : "-", why);
            ag_up_failed(r, AG_UF_PROTOCOL, msg);
            return AG_UP_STOP;
        }
        if (r->rhead.status == 101) {
            ag_up_failed(r, AG_UF_PROTOCOL, "the upstream switched protocols (not supported)");
            return AG_UP_STOP;
        }
        memmove(r->dbuf, r->dbuf + end, r->dlen - end);
        r->dlen -= (uint32_t)end;
        r->dscan = 0;
        if (r->rhead.status >= 200)
            break;
        /* 1xx interim answers (103 Early Hints) are not passed on */
    }
    r->head_ready = true;
    const char *head;
    size_t hl;
    ag_req_response_head(r, &head, &hl);
    ag_outq_add(&r->oq, head, hl);
    return ag_up_body_bytes(r, r->dbuf, r->dlen);
}

static void ag_uconn_read(struct ag_uconn *u)
{
    struct ag_req *r = u->req;
    for (int round = 0; round < 16; round++) {
        if (!r->dbuf) {
            r->dbuf = ag_loop_buf_get(u->loop);
            r->dcap = AG_IOBUF;
            r->dlen = 0;
        }
        if (r->dlen == r->dcap && (r->head_ready || !ag_up_grow(r))) {
            ag_up_failed(r, AG_UF_PROTOCOL, "response head too large");
            return;
        }
        ssize_t k = ag_uconn_io_read(u, r->dbuf + r->dlen, r->dcap - r->dlen);
        if (k == AG_IO_AGAIN)
            return;
        if (k <= 0) {
            if (!r->head_ready) {
                char msg[200];
                snprintf(msg, sizeof(msg), "%s: %s", u->replica->label,
                         k == 0 ? "closed the connection without an answer" : ag_uconn_io_error(u));
                ag_up_failed(r, ag_uconn_handshake_failed(u) ? AG_UF_CONNECT : AG_UF_PROTOCOL, msg);
                return;
            }
            const char *why = "upstream closed the connection";
            if (k == 0 && ag_h1_parse_eof(&r->out, &why) == AG_H1_DONE) {
                ag_up_deliver(r, NULL, 0, true, false);
                return;
            }
            ag_log(AG_LOG_WARN, &r->lctx, "upstream response cut short: %s", why);
            ag_cconn_close(r->c, "upstream response cut short");
            return;
        }
        r->up_since_ms = u->loop->now_ms;
        uint32_t start = r->dlen;
        r->dlen += (uint32_t)k;
        enum ag_up_next next =
            r->head_ready ? ag_up_body_bytes(r, r->dbuf + start, (size_t)k) : ag_up_head(r);
        if (next == AG_UP_STOP || r->u != u)
            return;
    }
}

void ag_up_resume(struct ag_req *r)
{
    if (!r->upstream_paused)
        return;
    r->upstream_paused = false;
    r->dlen = 0;
    struct ag_uconn *u = r->u;
    if (!u)
        return;
    ag_uconn_read(u);
    if (u->fd >= 0 && u->req == r)
        ag_uconn_rearm(u);
}

/* ---- events and deadlines ---- */

void ag_uconn_event(struct ag_uconn *u, uint32_t events)
{
    if (u->fd < 0)
        return;
    struct ag_req *r = u->req;
    if (!r) { /* pooled: the replica closed it (or sent something nobody asked for) */
        ag_uconn_close(u);
        return;
    }
    if (u->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err != 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%s: %s", u->replica->label, strerror(err));
            ag_up_failed(r, AG_UF_CONNECT, msg);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        u->connecting = false;
    }
    if (r->upstream_paused && (events & (EPOLLHUP | EPOLLERR))) {
        /* seen again when the client has caught up; until then epoll would repeat it */
        ag_loop_watch(u->loop, u->fd, &u->ev, 0);
        return;
    }
    if ((events & EPOLLOUT) || (u->tls_want & AG_WANT_WRITE)) {
        if (r->uq.total > 0 && !ag_uconn_flush(u))
            return;
        if (u->req != r)
            return;
    }
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) && !r->upstream_paused)
        ag_uconn_read(u);
    if (u->fd >= 0)
        ag_uconn_rearm(u);
}

void ag_uconn_sweep(struct ag_uconn *u, uint64_t now)
{
    if (u->fd < 0)
        return;
    struct ag_req *r = u->req;
    if (!r) {
        if (now - u->since_ms > AG_UP_IDLE_MS || atomic_load(&u->loop->px->draining))
            ag_uconn_close(u);
        return;
    }
    const struct ag_config *cfg = r->rt->cfg;
    uint64_t age = now > r->up_since_ms ? now - r->up_since_ms : 0;
    if (u->connecting) {
        long ms = cfg->upstreams.connect_timeout_ms > 0 ? cfg->upstreams.connect_timeout_ms : 3000;
        if (age > (uint64_t)ms) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%s: connect timed out after %ld ms", u->replica->label, ms);
            ag_up_failed(r, AG_UF_CONNECT, msg);
        }
        return;
    }
    if (r->upstream_paused || (!r->body_sent && r->uq.total == 0))
        return; /* the client is the slow side */
    long s = cfg->upstreams.response_timeout_s > 0 ? cfg->upstreams.response_timeout_s : 60;
    if (age > (uint64_t)s * 1000u) {
        char msg[200];
        snprintf(msg, sizeof(msg), "%s: no progress for %ld s", u->replica->label, s);
        ag_up_failed(r, AG_UF_TIMEOUT, msg);
    }
}
