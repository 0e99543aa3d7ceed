/* What the running proxy lends to its parts, given to them at creation (proxy.c fills it): the
 * upstream pool, the verified-token cache, the decision workers, the shared state, the drain
 * flag and the current runtime. stream/, manage/ and upstream/ read it instead of including
 * proxy.h, so no include cycle runs through the top. A leaf header: includes nothing of ours. */
#ifndef AG_PROXY_SERVICES_H
#define AG_PROXY_SERVICES_H

#include <stdatomic.h>

struct ag_offload;
struct ag_pool;
struct ag_runtime;
struct ag_state;
struct ag_token_cache;

struct ag_services {
    struct ag_pool *pool;       /* the upstream replicas (upstream/pool.h) */
    struct ag_token_cache *tc;  /* verified bearer tokens (auth/jose/token_cache.h) */
    struct ag_offload *offload; /* decisions that may wait on the IdP (event/offload.h) */
    struct ag_state *state;     /* shared state (state/store.h) */
    atomic_bool *draining;      /* set once the proxy drains */
    atomic_uint *rt_gen;        /* bumped on every runtime swap */
    /** The current runtime with a reference (thread-safe). */
    struct ag_runtime *(*runtime)(void *owner);
    /** Requests being served, over all loops. */
    int (*inflight)(void *owner);
    /** Open client connections. */
    int (*connections)(void *owner);
    void *owner; /* the running proxy, passed back to the callbacks */
};

#endif
