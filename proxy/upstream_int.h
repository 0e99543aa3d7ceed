/* Internal to the upstream client (upstream.c: transfers and callbacks; upstream_loop.c: the
 * event loop and lifecycle). Curl thread only unless noted. */
#ifndef AG_PROXY_UPSTREAM_INT_H
#define AG_PROXY_UPSTREAM_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/fwd.h"

struct ag_pool;

struct ag_upstream {
    CURLM *multi;
    struct ag_pool *pool;
    int epfd;            /* curl's sockets, and evfd */
    int evfd;            /* wakes the loop when commands are queued */
    int64_t deadline_ms; /* curl's next timeout (monotonic ms), -1: none */
    pthread_t thread;
    pthread_mutex_t qlock;
    struct ag_fwd *qhead, *qtail;
    atomic_bool stop;
    atomic_bool sleeping; /* the loop is (about to be) in epoll_wait */
    atomic_int active;
    struct ag_fwd *wake_list; /* curl thread only */
    struct ag_fwd *attached;  /* curl thread only */
    CURL *spare[64];          /* reusable easy handles (curl thread only) */
    int n_spare;
};

/** Makes u the engine the callbacks of this thread report to. */
void ag_up_set_self(struct ag_upstream *u);

/** Runs the commands queued by the front threads. */
void ag_up_run_commands(struct ag_upstream *u);

/** Handles finished transfers (curl_multi_info_read). */
void ag_up_wake_fronts_with_data(struct ag_upstream *u);

/** Resumes the fronts waiting for something that arrived in this round. */
void ag_up_flush_wakes(struct ag_upstream *u);

/** Marks f done (fail says how) and queues its front's wakeup. */
void ag_up_finish(struct ag_upstream *u, struct ag_fwd *f, enum ag_fwd_fail fail, const char *msg);

/** Removes f's transfer and drops the curl side's reference. */
void ag_up_detach(struct ag_upstream *u, struct ag_fwd *f);

#endif
