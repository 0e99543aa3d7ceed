/* The running proxy: HTTP front(s), upstream pool and client, health checks, the current
 * runtime (config, keys, role map), and the operations around them (reload, drain, stop).
 * `airgate serve` drives it; tests may too. Process lifetime. */
#ifndef AG_PROXY_PROXY_H
#define AG_PROXY_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/err.h"
#include "proxy/services.h"
#include "proxy/upstream/pool.h"

struct ag_runtime;
struct ag_token_cache;
struct ag_front;
struct ag_health;
struct ag_offload;
struct ag_mgmt_http;

struct ag_state;

struct ag_proxy {
    pthread_mutex_t rt_lock;
    struct ag_runtime *rt; /* current; guarded by rt_lock */
    atomic_uint rt_gen;    /* bumped on every swap; threads cache rt per generation */
    struct ag_pool pool;
    struct ag_token_cache *tc;
    struct ag_health *health;
    struct ag_front *front;     /* accepting */
    struct ag_offload *offload; /* decisions that may wait on the IdP */
    struct ag_state *state;     /* shared state; process lifetime (kept across reloads) */
    struct ag_mgmt_http *mgmt;  /* management listener (management.listen); fixed at start */
    atomic_bool draining;
    struct ag_services svc; /* what stream/, manage/ and upstream/ borrow (services.h) */
    uint16_t bound_port;
    uint16_t mgmt_port; /* bound port of the management listener */
};

/** Builds everything from cfg (takes a reference) and starts serving, the management listener
 * too. Errors: AG_ECONF for config problems found only now (bad role map, unreadable TLS
 * files), AG_EIO when the listen or management.listen address cannot be bound. */
enum ag_rc ag_proxy_start(struct ag_config *cfg, struct ag_proxy **out, struct ag_err *err) AG_WUR;

/** Applies a new config (takes a reference): role map, policy, keys (re-fetched), upstreams,
 * trusted proxies, log level, server limits; re-reads the TLS certificate and key and moves to
 * a new listen address (bound before the old one closes). management.listen stays as started (a
 * change is logged as needing a restart). On error nothing changes. */
enum ag_rc ag_proxy_reload(struct ag_proxy *px, struct ag_config *cfg, struct ag_err *err) AG_WUR;

/** Stops accepting, waits up to timeout_s for in-flight requests, then stops everything and
 * frees px. Returns the number of requests that were still running at the deadline. */
int ag_proxy_drain_and_free(struct ag_proxy *px, long timeout_s);

/** Requests being served. */
int ag_proxy_inflight(struct ag_proxy *px);

/** The current runtime with a reference (cheap: cached per thread). */
struct ag_runtime *ag_proxy_runtime(struct ag_proxy *px);

#endif
