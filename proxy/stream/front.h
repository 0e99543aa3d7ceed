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

#include "proxy/stream/shard.h"

struct ag_services;

struct ag_front {
    struct ag_shard_common common; /* the TLS contexts (swapped by reloads), connection count */
    struct ag_shard *shards;       /* one per event loop (shard.h) */
    int n_loops;
    uint16_t port;
};

/** Binds cfg->listen (IPv4 or IPv6), loads TLS files, starts cfg->server.threads loops (0: one
 * per core). AG_ECONF for unreadable TLS files, AG_EIO when the address cannot be bound. */
enum ag_rc ag_front_start(const struct ag_services *svc, const struct ag_config *cfg,
                          struct ag_front **out, struct ag_err *err) AG_WUR;

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

/** Monotonic milliseconds. */
uint64_t ag_front_now_ms(void);

#endif
