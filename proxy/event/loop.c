/* One event loop thread: epoll dispatch to the events' handlers, pooled buffers, the 250 ms
 * sweep that runs every timer, and the tasks posted back from other threads. See loop.h. */
#include "proxy/event/loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

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

void ag_loop_ready(struct ag_loop *l, struct ag_ev *ev)
{
    if (ev->in_ready)
        return;
    ev->in_ready = true;
    ev->ready_next = l->ready;
    l->ready = ev;
}

void ag_loop_timer_add(struct ag_loop *l, struct ag_ev *ev)
{
    ev->tprev = NULL;
    ev->tnext = l->timers;
    if (l->timers)
        l->timers->tprev = ev;
    l->timers = ev;
}

void ag_loop_retire(struct ag_loop *l, struct ag_ev *ev)
{
    if (l->tcursor == ev) /* a sweep is running: it goes on with the next one */
        l->tcursor = ev->tnext;
    if (ev->tprev)
        ev->tprev->tnext = ev->tnext;
    else if (l->timers == ev)
        l->timers = ev->tnext;
    if (ev->tnext)
        ev->tnext->tprev = ev->tprev;
    ev->tprev = NULL;
    ev->tnext = l->retired;
    l->retired = ev;
}

void ag_loop_post(struct ag_loop *l, struct ag_task *t)
{
    pthread_mutex_lock(&l->done_lock);
    t->next = l->done;
    l->done = t;
    pthread_mutex_unlock(&l->done_lock);
    uint64_t one = 1;
    if (write(l->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        ag_log(AG_LOG_ERROR, NULL, "cannot wake an event loop: %s", strerror(errno));
}

/* Continues the tasks posted back, oldest first. */
static void ag_loop_take_done(struct ag_loop *l)
{
    pthread_mutex_lock(&l->done_lock);
    struct ag_task *t = l->done, *rev = NULL;
    l->done = NULL;
    pthread_mutex_unlock(&l->done_lock);
    while (t) {
        struct ag_task *next = t->next;
        t->next = rev;
        rev = t;
        t = next;
    }
    while (rev) {
        struct ag_task *next = rev->next;
        rev->next = NULL;
        rev->done(rev);
        rev = next;
    }
}

static void ag_loop_wake(struct ag_ev *ev, uint32_t events)
{
    (void)events;
    struct ag_loop *l = (struct ag_loop *)(void *)ev; /* wake_ev is the first member */
    uint64_t v;
    if (read(l->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        ag_log(AG_LOG_DEBUG, NULL, "event loop wakeup: %s", strerror(errno));
    ag_loop_take_done(l);
}

static void ag_loop_reap(struct ag_loop *l)
{
    while (l->retired) {
        struct ag_ev *ev = l->retired;
        l->retired = ev->tnext;
        if (ev->on_free)
            ev->on_free(ev);
    }
}

static void ag_loop_sweep(struct ag_loop *l, uint64_t now)
{
    for (struct ag_ev *ev = l->timers; ev; ev = l->tcursor) {
        l->tcursor = ev->tnext;
        ev->on_timer(ev, now);
    }
    l->tcursor = NULL;
    ag_loop_reap(l);
}

static void ag_loop_shutdown(struct ag_loop *l)
{
    ag_loop_take_done(l);
    if (l->on_stop)
        l->on_stop(l);
    ag_loop_reap(l);
    while (l->free_bufs) {
        char *b = ag_loop_buf_get(l);
        free(b);
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
            ev->handler(ev, evs[i].events);
        }
        while (l->ready) {
            struct ag_ev *ev = l->ready;
            l->ready = ev->ready_next;
            ev->in_ready = false;
            ev->handler(ev, EPOLLIN);
        }
        if (l->now_ms >= l->next_sweep_ms) {
            ag_loop_sweep(l, l->now_ms);
            l->next_sweep_ms = l->now_ms + AG_SWEEP_MS;
        } else {
            ag_loop_reap(l);
        }
    }
    ag_loop_shutdown(l);
    return NULL;
}

int ag_loop_init(struct ag_loop *l)
{
    pthread_mutex_init(&l->done_lock, NULL);
    l->inited = true;
    l->wake_ev.handler = ag_loop_wake;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->wake_ev};
    if (l->epfd < 0 || l->evfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev) != 0)
        return -1;
    return 0;
}

int ag_loop_start(struct ag_loop *l)
{
    int rc = pthread_create(&l->thread, NULL, ag_loop_main, l);
    l->thread_started = rc == 0;
    return rc;
}

void ag_loop_stop(struct ag_loop *l)
{
    atomic_store(&l->stop, true);
    uint64_t one = 1;
    if (l->evfd >= 0 && write(l->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        ag_log(AG_LOG_ERROR, NULL, "cannot wake an event loop: %s", strerror(errno));
}

void ag_loop_destroy(struct ag_loop *l)
{
    if (l->thread_started)
        pthread_join(l->thread, NULL);
    l->thread_started = false;
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->evfd >= 0)
        close(l->evfd);
    l->epfd = l->evfd = -1;
    if (l->inited)
        pthread_mutex_destroy(&l->done_lock);
    l->inited = false;
}
