/* One event loop's share of the front: the loop itself, its listening socket, its client and
 * upstream connections, the pools of idle upstream connections and request records, the bearer
 * decision cache, and the runtime it caches per generation. Owned by its loop's thread (the
 * counters are read by others). Internal to proxy/stream/. */
#ifndef AG_PROXY_SHARD_H
#define AG_PROXY_SHARD_H

#include <stdatomic.h>
#include <stdint.h>

#include "proxy/event/loop.h"
#include "proxy/upstream/pool.h"

struct ag_authcache;
struct ag_cconn;
struct ag_front;
struct ag_proxy;
struct ag_req;
struct ag_runtime;
struct ag_uconn;

struct ag_shard {
    struct ag_loop loop; /* first: the loop's handlers find the shard from it */
    struct ag_ev listen_ev;
    atomic_int listen_fd; /* this loop's own listening socket (SO_REUSEPORT), -1: none */
    atomic_int inflight;  /* requests being served (written by the loop only) */
    int index;
    struct ag_front *front;
    struct ag_proxy *px;
    struct ag_cconn *conns;
    struct ag_uconn *uconns;
    struct ag_uconn *idle[AG_POOL_MAX];
    int n_idle[AG_POOL_MAX];
    struct ag_req *free_reqs;
    int n_free_reqs;
    struct ag_authcache *authcache; /* bearer decisions (authcache.h), created on first use */
    struct ag_authcache *sesscache; /* session-cookie decisions, keyed by the sealed cookie */
    struct ag_runtime *rt;          /* current runtime, refreshed per generation */
    unsigned rt_gen;
    char date[64]; /* "Date: ...\r\n" for the current second */
    int64_t date_sec;
};

/** Sets up sh's loop and hooks (the loop's stop closes its connections). -1 (errno) on error. */
int ag_shard_init(struct ag_shard *sh, struct ag_front *f, struct ag_proxy *px, int index);
/** The current runtime (no reference taken: valid while the loop runs this event). */
struct ag_runtime *ag_shard_runtime(struct ag_shard *sh);
/** "Date: <now>\r\n", made once a second. */
const char *ag_shard_date(struct ag_shard *sh);
/** Adds d to the shard's count of requests being served. Loop thread. */
void ag_shard_inflight_add(struct ag_shard *sh, int d);

#endif
