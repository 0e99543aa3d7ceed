/* One event loop thread: epoll dispatch, accepting, pooled buffers, the 250 ms sweep that
 * enforces every deadline, and the cached runtime. See loop.h. */
#define _GNU_SOURCE /* accept4 */
#include "proxy/event/loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "proxy/decide/authcache.h"
#include "proxy/stream/front.h"
#include "proxy/proxy.h"
#include "proxy/runtime.h"
#include "proxy/stream/tls.h"

#define AG_SWEEP_MS 250
#define AG_KEEP_BUFS 256

uint64_t ag_loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ag_loop_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A pooled buffer's first bytes link it to the next one while it is free. */
struct ag_free_buf {
    struct ag_free_buf *next;
};

char *ag_loop_buf_get(struct ag_loop *l)
{
    struct ag_free_buf *f = l->free_bufs;
    if (f) {
        l->free_bufs = f->next;
        l->n_free_bufs--;
        return (char *)f;
    }
    char *b = malloc(AG_IOBUF);
    if (!b)
        abort();
    return b;
}

void ag_loop_buf_put(struct ag_loop *l, char *b)
{
    if (!b)
        return;
    if (l->n_free_bufs >= AG_KEEP_BUFS) {
        free(b);
        return;
    }
    struct ag_free_buf *f = (struct ag_free_buf *)(void *)b; /* malloc'd: aligned for it */
    f->next = l->free_bufs;
    l->free_bufs = f;
    l->n_free_bufs++;
}

/* Bit 31 of ev->events (EPOLLET, which airgate never uses) marks "registered". */
#define AG_EV_REG 0x80000000u

void ag_loop_watch(struct ag_loop *l, int fd, struct ag_ev *ev, uint32_t events)
{
    bool reg = (ev->events & AG_EV_REG) != 0;
    if (reg && (ev->events & ~AG_EV_REG) == events)
        return;
    struct epoll_event e = {.events = events, .data.ptr = ev};
    if (epoll_ctl(l->epfd, reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e) != 0)
        ag_log(AG_LOG_ERROR, NULL, "epoll_ctl on %d: %s", fd, strerror(errno));
    ev->events = events | AG_EV_REG;
}

struct ag_runtime *ag_loop_runtime(struct ag_loop *l)
{
    unsigned gen = atomic_load_explicit(&l->px->rt_gen, memory_order_acquire);
    if (!l->rt || gen != l->rt_gen) {
        ag_runtime_unref(l->rt);
        l->rt = ag_proxy_runtime(l->px);
        l->rt_gen = gen;
    }
    return l->rt;
}

const char *ag_loop_date(struct ag_loop *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != l->date_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(l->date, sizeof(l->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        l->date_sec = ts.tv_sec;
    }
    return l->date;
}

ssize_t ag_io_read(int fd, struct ag_tls *tls, uint8_t *want, void *b, size_t n)
{
    if (tls) {
        ssize_t k = ag_tls_read(tls, b, n);
        *want &= (uint8_t) ~(AG_WANT_READ | AG_WANT_WRITE);
        if (k == AG_TLS_WANT_READ || k == AG_TLS_WANT_WRITE) {
            *want |= k == AG_TLS_WANT_WRITE ? AG_WANT_WRITE : AG_WANT_READ;
            return AG_IO_AGAIN;
        }
        return k < 0 ? -1 : k;
    }
    ssize_t k = recv(fd, b, n, 0);
    if (k < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? AG_IO_AGAIN : -1;
    return k;
}

ssize_t ag_io_writev(int fd, struct ag_tls *tls, uint8_t *want, const struct iovec *v, int n)
{
    if (tls) {
        ssize_t k = ag_tls_writev(tls, v, n);
        if (k == AG_TLS_WANT_READ || k == AG_TLS_WANT_WRITE) {
            *want |= k == AG_TLS_WANT_WRITE ? AG_WANT_WRITE : AG_WANT_READ;
            return AG_IO_AGAIN;
        }
        return k < 0 ? -1 : k;
    }
    ssize_t k = writev(fd, v, n);
    if (k < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? AG_IO_AGAIN : -1;
    return k;
}

void ag_loop_inflight_add(struct ag_loop *l, int d)
{
    /* only the loop writes its counter (no read-modify-write needed); others only read it */
    atomic_store_explicit(&l->inflight,
                          atomic_load_explicit(&l->inflight, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

void ag_outq_advance(struct ag_outq *q, size_t k)
{
    q->total -= k;
    while (k > 0 && q->i < q->n) {
        struct iovec *v = &q->v[q->i];
        if (k < v->iov_len) {
            v->iov_base = (char *)v->iov_base + k;
            v->iov_len -= k;
            return;
        }
        k -= v->iov_len;
        q->i++;
    }
    if (q->total == 0)
        q->n = q->i = 0;
}

static void ag_loop_accept(struct ag_loop *l)
{
    struct ag_front *f = l->front;
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
        long max = ag_loop_runtime(l)->cfg->server.max_connections;
        if (max > 0 && atomic_load(&f->n_conns) >= max) {
            ag_log(AG_LOG_WARN, NULL, "refusing a connection: server.max_connections (%ld) reached",
                   max);
            close(fd);
            continue;
        }
        ag_cconn_accepted(l, fd, (struct sockaddr *)&ss, len);
    }
}

void ag_loop_post(struct ag_loop *l, struct ag_req *r)
{
    pthread_mutex_lock(&l->done_lock);
    r->free_next = l->done;
    l->done = r;
    pthread_mutex_unlock(&l->done_lock);
    uint64_t one = 1;
    if (write(l->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        ag_log(AG_LOG_ERROR, NULL, "cannot wake an event loop: %s", strerror(errno));
}

/* Continues the requests workers decided, oldest first. */
static void ag_loop_take_done(struct ag_loop *l)
{
    pthread_mutex_lock(&l->done_lock);
    struct ag_req *r = l->done, *rev = NULL;
    l->done = NULL;
    pthread_mutex_unlock(&l->done_lock);
    while (r) {
        struct ag_req *next = r->free_next;
        r->free_next = rev;
        rev = r;
        r = next;
    }
    while (rev) {
        struct ag_req *next = rev->free_next;
        rev->free_next = NULL;
        ag_req_resume(rev);
        rev = next;
    }
}

static void ag_loop_reap_dead(struct ag_loop *l)
{
    while (l->dead_c) {
        struct ag_cconn *c = l->dead_c;
        l->dead_c = c->next;
        free(c);
    }
    while (l->dead_u) {
        struct ag_uconn *u = l->dead_u;
        l->dead_u = u->next;
        free(u);
    }
}

static void ag_loop_sweep(struct ag_loop *l, uint64_t now)
{
    for (struct ag_cconn *c = l->conns, *next; c; c = next) {
        next = c->next;
        ag_cconn_sweep(c, now);
    }
    for (struct ag_uconn *u = l->uconns, *next; u; u = next) {
        next = u->next;
        ag_uconn_sweep(u, now);
    }
    ag_loop_reap_dead(l);
}

static void ag_loop_shutdown(struct ag_loop *l)
{
    ag_loop_take_done(l);
    while (l->conns)
        ag_cconn_close(l->conns, "shutting down");
    while (l->uconns)
        ag_uconn_close(l->uconns);
    ag_loop_reap_dead(l);
    while (l->free_bufs) {
        char *b = ag_loop_buf_get(l);
        free(b);
    }
    while (l->free_reqs) {
        struct ag_req *r = l->free_reqs;
        l->free_reqs = r->free_next;
        ag_arena_free(r->arena);
        free(r);
    }
    ag_runtime_unref(l->rt);
    l->rt = NULL;
    if (l->authcache) {
        ag_authcache_clear(l->authcache);
        free(l->authcache);
        l->authcache = NULL;
    }
}

static void *ag_loop_main(void *arg)
{
    struct ag_loop *l = arg;
    struct epoll_event evs[256];
    l->now_ms = ag_loop_now_ms();
    l->next_sweep_ms = l->now_ms + AG_SWEEP_MS;
    while (!atomic_load(&l->stop)) {
        int timeout = (int)(l->next_sweep_ms > l->now_ms ? l->next_sweep_ms - l->now_ms : 0);
        int n = epoll_wait(l->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
        l->now_ms = ag_loop_now_ms();
        for (int i = 0; i < n; i++) {
            struct ag_ev *ev = evs[i].data.ptr;
            switch (ev->kind) {
            case AG_EV_LISTEN:
                ag_loop_accept(l);
                break;
            case AG_EV_WAKE: {
                uint64_t v;
                if (read(l->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    ag_log(AG_LOG_DEBUG, NULL, "event loop wakeup: %s", strerror(errno));
                ag_loop_take_done(l);
                break;
            }
            case AG_EV_CLIENT:
                ag_cconn_event((struct ag_cconn *)ev, evs[i].events);
                break;
            case AG_EV_UPSTREAM:
                ag_uconn_event((struct ag_uconn *)ev, evs[i].events);
                break;
            default:
                break;
            }
        }
        while (l->ready) {
            struct ag_cconn *c = l->ready;
            l->ready = c->ready_next;
            c->in_ready = false;
            ag_cconn_event(c, EPOLLIN);
        }
        if (l->now_ms >= l->next_sweep_ms) {
            ag_loop_sweep(l, l->now_ms);
            l->next_sweep_ms = l->now_ms + AG_SWEEP_MS;
        } else {
            ag_loop_reap_dead(l);
        }
    }
    ag_loop_shutdown(l);
    return NULL;
}

int ag_loop_start(struct ag_loop *l)
{
    return pthread_create(&l->thread, NULL, ag_loop_main, l);
}
