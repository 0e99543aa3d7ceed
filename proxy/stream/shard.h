/* One event loop's share of the front: the loop itself, its listening socket, its client and
 * upstream connections, the pools of idle upstream connections and request records, the bearer
 * decision cache, and the runtime it caches per generation. Owned by its loop's thread (the
 * counters are read by others). Internal to proxy/stream/. */
#ifndef AG_PROXY_SHARD_H
#define AG_PROXY_SHARD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "proxy/event/loop.h"
#include "proxy/upstream/pool.h"

struct ag_authcache;
struct ag_cconn;
struct ag_req;
struct ag_runtime;
struct ag_services;
struct ag_tls_ctx;
struct ag_uconn;

/** What every loop of a front shares, owned by the front (front.c): the TLS contexts a reload
 * may swap and the count of open client connections. */
struct ag_peers;

struct ag_shard_common {
    pthread_mutex_t tls_lock;  /* guards the two contexts */
    struct ag_tls_ctx *tls;    /* NULL: plain HTTP */
    struct ag_tls_ctx *up_tls; /* for https:// upstreams */
    atomic_int n_conns;
    struct ag_peers *peers; /* open connections per address (server.max_connections_per_ip) */
};

struct ag_shard {
    struct ag_loop loop; /* first: the loop's handlers find the shard from it */
    struct ag_ev listen_ev;
    atomic_int listen_fd; /* this loop's own listening socket (SO_REUSEPORT), -1: none */
    atomic_int inflight;  /* requests being served (written by the loop only) */
    int index;
    struct ag_shard_common *common; /* the front's (front.c) */
    const struct ag_services *svc;  /* what the proxy lends (services.h) */
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

/** Sets up sh's loop (its owner, front.c, sets the listening and stop handlers). -1 (errno) on
 * error. */
int ag_shard_init(struct ag_shard *sh, struct ag_shard_common *common,
                  const struct ag_services *svc, int index);
/** The TLS context for a new client connection, with a reference (NULL: plain). */
struct ag_tls_ctx *ag_shard_tls(struct ag_shard *sh);
/** The client context for https:// upstreams, with a reference (NULL: could not be built). */
struct ag_tls_ctx *ag_shard_up_tls(struct ag_shard *sh);
/** The current runtime (no reference taken: valid while the loop runs this event). */
struct ag_runtime *ag_shard_runtime(struct ag_shard *sh);
/** "Date: <now>\r\n", made once a second. */
const char *ag_shard_date(struct ag_shard *sh);
/** Adds d to the shard's count of requests being served. Loop thread. */
void ag_shard_inflight_add(struct ag_shard *sh, int d);

#endif
