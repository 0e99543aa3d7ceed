/* The HTTP front: the listening socket, the TLS contexts, and one event loop per core (shard.h)
 * that accepts connections, reads requests, authenticates them and forwards them. */
#ifndef AG_PROXY_FRONT_H
#define AG_PROXY_FRONT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/err.h"

struct ag_proxy;
struct ag_shard;
struct ag_tls_ctx;
struct ag_ev;
struct ag_peers;

struct ag_front {
    struct ag_proxy *px;
    pthread_mutex_t tls_lock;  /* guards the two contexts (swapped by reloads) */
    struct ag_tls_ctx *tls;    /* NULL: plain HTTP */
    struct ag_tls_ctx *up_tls; /* for https:// upstreams */
    struct ag_shard *shards;   /* one per event loop (shard.h) */
    int n_loops;
    atomic_int n_conns;
    struct ag_peers *peers; /* open connections per address (server.max_connections_per_ip) */
    uint16_t port;
};

/** Binds cfg->listen (IPv4 or IPv6), loads TLS files, starts cfg->server.threads loops (0: one
 * per core). AG_ECONF for unreadable TLS files, AG_EIO when the address cannot be bound. */
enum ag_rc ag_front_start(struct ag_proxy *px, const struct ag_config *cfg, struct ag_front **out,
                          struct ag_err *err) AG_WUR;

/** Applies what a reload may change at the front: a new listen address (bound before the old
 * one is closed), re-read TLS certificate and key, the upstream CA bundle. Limits and timeouts
 * are read from the current config per request and need nothing here. On error nothing
 * changes. */
enum ag_rc ag_front_reconfigure(struct ag_front *f, const struct ag_config *old,
                                const struct ag_config *cfg, struct ag_err *err) AG_WUR;

/** Stops accepting and closes the listening socket. */
void ag_front_stop_accepting(struct ag_front *f);

/** Requests being served, over all loops. */
int ag_front_inflight(struct ag_front *f);

/** Open client connections. */
int ag_front_connections(struct ag_front *f);

/** Stops the loops (closing every connection) and frees f. NULL is a no-op. */
void ag_front_free(struct ag_front *f);

/** The TLS context for a new client connection, with a reference (NULL: plain). */
struct ag_tls_ctx *ag_front_tls(struct ag_front *f);

/** The client context for https:// upstreams, with a reference (NULL: could not be built). */
struct ag_tls_ctx *ag_front_up_tls(struct ag_front *f);

/** Monotonic milliseconds. */
uint64_t ag_front_now_ms(void);

#endif
