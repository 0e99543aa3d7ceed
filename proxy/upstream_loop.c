/* The upstream client's event loop: curl_multi_socket_action on its own epoll set, the command
 * queue from the front threads, and the engine's lifecycle. See upstream.h. */
#include "proxy/upstream.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/upstream_int.h"

static int64_t ag_up_now_ms(void)
{
    return (int64_t)(ag_fwd_now_us() / 1000u);
}

/* CURLMOPT_SOCKETFUNCTION: mirrors curl's interest in a socket into the epoll set. */
static int ag_up_on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    struct ag_upstream *u = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(u->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(u->multi, s, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = 0, .data.fd = s};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    if (socketp) {
        epoll_ctl(u->epfd, EPOLL_CTL_MOD, s, &ev);
    } else {
        if (epoll_ctl(u->epfd, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
            epoll_ctl(u->epfd, EPOLL_CTL_MOD, s, &ev);
        curl_multi_assign(u->multi, s, u); /* any non-NULL marks "added" */
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION */
static int ag_up_on_timer(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct ag_upstream *u = userp;
    u->deadline_ms = timeout_ms < 0 ? -1 : ag_up_now_ms() + timeout_ms;
    return 0;
}

/* Event-driven loop (curl_multi_socket_action): each event costs O(1), not a walk over every
 * transfer as curl_multi_perform does. */
static void *ag_up_main(void *arg)
{
    struct ag_upstream *u = arg;
    ag_up_set_self(u);
    struct epoll_event evs[128];
    while (!atomic_load(&u->stop)) {
        int timeout = 1000;
        if (u->deadline_ms >= 0) {
            int64_t left = u->deadline_ms - ag_up_now_ms();
            timeout = left <= 0 ? 0 : (left < 1000 ? (int)left : 1000);
        }
        /* announce the sleep, then look at the queue once more: a front thread that queued a
         * command after our last look sees `sleeping` and kicks the eventfd; under load the
         * loop rarely sleeps, so most requests cost no wakeup syscall */
        atomic_store(&u->sleeping, true);
        pthread_mutex_lock(&u->qlock);
        bool pending = u->qhead != NULL;
        pthread_mutex_unlock(&u->qlock);
        int n =
            epoll_wait(u->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), pending ? 0 : timeout);
        atomic_store(&u->sleeping, false);
        if (pending)
            ag_up_run_commands(u);
        int running = 0;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd == u->evfd) {
                uint64_t v;
                if (read(u->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    continue;
                ag_up_run_commands(u);
                continue;
            }
            int flags = 0;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
                flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (evs[i].events & EPOLLERR)
                flags |= CURL_CSELECT_ERR;
            curl_multi_socket_action(u->multi, evs[i].data.fd, flags, &running);
        }
        if (u->deadline_ms >= 0 && u->deadline_ms <= ag_up_now_ms()) {
            u->deadline_ms = -1;
            curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        ag_up_wake_fronts_with_data(u);
        ag_up_flush_wakes(u);
    }
    return NULL;
}

static void ag_up_kick(struct ag_upstream *u)
{
    uint64_t one = 1;
    if (write(u->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        ag_log(AG_LOG_ERROR, NULL, "upstream loop wakeup failed: %s", strerror(errno));
}

enum ag_rc ag_upstream_new(struct ag_pool *pool, struct ag_upstream **out, struct ag_err *err)
{
    struct ag_upstream *u = calloc(1, sizeof(*u));
    if (!u)
        abort();
    u->pool = pool;
    u->multi = curl_multi_init();
    if (!u->multi) {
        free(u);
        return ag_err_set(err, AG_EUPSTREAM, "curl_multi_init failed");
    }
    /* keep-alive pool: enough cached connections for the replicas under load */
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 1024L);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, ag_up_on_socket);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, ag_up_on_timer);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    u->deadline_ms = -1;
    u->epfd = epoll_create1(EPOLL_CLOEXEC);
    u->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = u->evfd};
    if (u->epfd < 0 || u->evfd < 0 || epoll_ctl(u->epfd, EPOLL_CTL_ADD, u->evfd, &ev) != 0) {
        if (u->epfd >= 0)
            close(u->epfd);
        if (u->evfd >= 0)
            close(u->evfd);
        curl_multi_cleanup(u->multi);
        free(u);
        return ag_err_set(err, AG_EUPSTREAM, "cannot set up the upstream event loop: %s",
                          strerror(errno));
    }
    pthread_mutex_init(&u->qlock, NULL);
    if (pthread_create(&u->thread, NULL, ag_up_main, u) != 0) {
        close(u->epfd);
        close(u->evfd);
        curl_multi_cleanup(u->multi);
        pthread_mutex_destroy(&u->qlock);
        free(u);
        return ag_err_set(err, AG_EUPSTREAM, "cannot start the upstream thread");
    }
    *out = u;
    return AG_OK;
}

void ag_upstream_free(struct ag_upstream *u)
{
    if (!u)
        return;
    atomic_store(&u->stop, true);
    ag_up_kick(u);
    pthread_join(u->thread, NULL);
    ag_up_set_self(u);
    ag_up_run_commands(u);
    /* abort what is still attached so fronts are woken and references dropped */
    while (u->attached) {
        struct ag_fwd *f = u->attached;
        ag_up_finish(u, f, AG_FAIL_PROTOCOL, "shutting down");
        ag_up_detach(u, f);
    }
    ag_up_flush_wakes(u);
    ag_up_set_self(NULL);
    for (int i = 0; i < u->n_spare; i++)
        curl_easy_cleanup(u->spare[i]);
    curl_multi_cleanup(u->multi);
    close(u->epfd);
    close(u->evfd);
    pthread_mutex_destroy(&u->qlock);
    free(u);
}

void ag_upstream_notify(struct ag_upstream *u, struct ag_fwd *f, unsigned cmd)
{
    pthread_mutex_lock(&u->qlock);
    f->cmd |= cmd;
    bool first = false;
    if (!f->queued) {
        f->queued = true;
        atomic_fetch_add(&f->refs, 1);
        f->qnext = NULL;
        if (u->qtail)
            u->qtail->qnext = f;
        else
            u->qhead = f;
        u->qtail = f;
        first = u->qhead == f;
    }
    pthread_mutex_unlock(&u->qlock);
    /* one wakeup per batch: later commands ride on the pending one */
    if (first && atomic_load(&u->sleeping))
        ag_up_kick(u);
}

void ag_upstream_start(struct ag_upstream *u, struct ag_fwd *f)
{
    atomic_fetch_add(&f->refs, 1); /* the curl side's reference, dropped in detach */
    f->t_start_us = ag_fwd_now_us();
    ag_upstream_notify(u, f, AG_CMD_START);
}

int ag_upstream_active(struct ag_upstream *u)
{
    return atomic_load(&u->active);
}
