/* The upstream side: per-loop keep-alive connections to the replicas, sending request heads and
 * bodies, failures and retries, and upstream deadlines; reading the answer is in upresp.c. Runs
 * on the loop thread only. See upconn.h. */
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
#include "proxy/runtime.h"
#include "proxy/services.h"
#include "proxy/stream/conn.h"
#include "proxy/stream/request.h"
#include "proxy/stream/shard.h"
#include "proxy/stream/tls.h"
#include "proxy/stream/upconn.h"

#define AG_UP_IDLE_MS 30000       /* an idle pooled connection is closed after this */
#define AG_UP_FRESH_FOR_BODY 2000 /* requests with a body only reuse connections this fresh */

/* ---- plain or TLS I/O ---- */

ssize_t ag_uconn_io_read(struct ag_uconn *u, void *b, size_t n)
{
    return ag_io_read(u->fd, u->tls, &u->tls_want, b, n);
}

static ssize_t ag_uconn_io_writev(struct ag_uconn *u, const struct iovec *v, int n)
{
    return ag_io_writev(u->fd, u->tls, &u->tls_want, v, n);
}

/* A fresh connection whose TLS handshake never finished failed to connect (ejects). */
bool ag_uconn_handshake_failed(const struct ag_uconn *u)
{
    return u->tls && !u->reused && !ag_tls_established(u->tls);
}

const char *ag_uconn_io_error(struct ag_uconn *u)
{
    return u->tls ? ag_tls_error(u->tls) : strerror(errno);
}

/* ---- connections ---- */

void ag_uconn_close(struct ag_uconn *u)
{
    if (u->fd < 0)
        return;
    struct ag_shard *l = u->sh;
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
    u->prev = u->next = NULL;
    ag_loop_retire(&l->loop, &u->ev);
}

void ag_uconn_rearm(struct ag_uconn *u)
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
    ag_loop_watch(&u->sh->loop, u->fd, &u->ev, ev);
}

/* A pooled connection to rep, or NULL. */
static struct ag_uconn *ag_uconn_take(struct ag_shard *l, struct ag_replica *rep, bool fresh_only)
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
            (fresh_only && l->loop.now_ms - u->since_ms > AG_UP_FRESH_FOR_BODY)) {
            ag_uconn_close(u);
            continue;
        }
        return u;
    }
    return NULL;
}

/* The loop's handlers: the upstream connection's ev is its first member. */
static void ag_uconn_event(struct ag_uconn *u, uint32_t events);
static void ag_uconn_sweep(struct ag_uconn *u, uint64_t now);

static void ag_uconn_on_io(struct ag_ev *ev, uint32_t events)
{
    ag_uconn_event((struct ag_uconn *)(void *)ev, events);
}

static void ag_uconn_on_timer(struct ag_ev *ev, uint64_t now)
{
    ag_uconn_sweep((struct ag_uconn *)(void *)ev, now);
}

static void ag_uconn_on_free(struct ag_ev *ev)
{
    free(ev);
}

static struct ag_uconn *ag_uconn_connect(struct ag_shard *l, struct ag_replica *rep,
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
    u->ev.handler = ag_uconn_on_io;
    u->ev.on_timer = ag_uconn_on_timer;
    u->ev.on_free = ag_uconn_on_free;
    u->fd = fd;
    u->sh = l;
    u->replica = rep;
    u->gen = atomic_load(&rep->gen);
    u->connecting = connecting;
    u->since_ms = l->loop.now_ms;
    u->next = l->uconns;
    if (l->uconns)
        l->uconns->prev = u;
    l->uconns = u;
    ag_loop_timer_add(&l->loop, &u->ev);
    if (rep->tls) {
        struct ag_tls_ctx *ctx = ag_shard_up_tls(l);
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
    struct ag_shard *l = u->sh;
    int idx = u->replica->index;
    if (reusable && u->fd >= 0 && !u->connecting && atomic_load(&u->replica->gen) == u->gen &&
        !atomic_load(l->svc->draining) && l->n_idle[idx] < AG_IDLE_PER_REPLICA &&
        !(u->tls && ag_tls_pending(u->tls))) {
        u->next_idle = l->idle[idx];
        l->idle[idx] = u;
        l->n_idle[idx]++;
        u->in_idle = true;
        u->since_ms = l->loop.now_ms;
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

static void ag_up_start(struct ag_req *r, struct ag_replica *rep, bool fresh)
{
    struct ag_shard *l = r->c->sh;
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
    r->up_since_ms = l->loop.now_ms;
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
    const struct ag_services *svc = r->c->sh->svc;
    r->t_up_us = ag_loop_now_us();
    struct ag_replica *rep = ag_pool_pick(svc->pool, NULL);
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
        if (k == -AG_EAGAIN)
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
        r->up_since_ms = u->sh->loop.now_ms;
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
        r->pause_since_ms = r->c->sh->loop.now_ms;
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

void ag_up_failed(struct ag_req *r, enum ag_up_fail kind, const char *msg)
{
    struct ag_shard *l = r->c->sh;
    const struct ag_services *svc = l->svc;
    struct ag_uconn *u = r->u;
    struct ag_replica *rep = r->replica;
    bool nothing = !r->head_ready && r->dlen == 0;
    bool bodyless = !r->head.chunked && r->head.content_length <= 0;
    bool stale = u && u->reused && nothing && bodyless && kind == AG_UF_PROTOCOL;
    static const char *const kinds[] = {"connect", "timeout", "reset", "connect"};
    if (!stale)
        ag_metrics_upstream_error(kinds[kind]);
    if (kind == AG_UF_CONNECT && rep && ag_pool_eject(svc->pool, rep))
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
        struct ag_replica *next = ag_pool_pick(svc->pool, rep);
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

/* ---- events and deadlines ---- */

static void ag_uconn_event(struct ag_uconn *u, uint32_t events)
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
        ag_loop_watch(&u->sh->loop, u->fd, &u->ev, 0);
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

static void ag_uconn_sweep(struct ag_uconn *u, uint64_t now)
{
    if (u->fd < 0)
        return;
    struct ag_req *r = u->req;
    if (!r) {
        if (now - u->since_ms > AG_UP_IDLE_MS || atomic_load(u->sh->svc->draining))
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

void ag_uconn_close_all(struct ag_shard *sh)
{
    while (sh->uconns)
        ag_uconn_close(sh->uconns);
}
