/* A loop's share of the front; see shard.h. */
#include "proxy/stream/shard.h"

#include <stdlib.h>
#include <time.h>

#include "proxy/decide/authcache.h"
#include "proxy/proxy.h"
#include "proxy/runtime.h"
#include "proxy/stream/conn.h"
#include "proxy/stream/request.h"
#include "proxy/stream/upconn.h"

struct ag_runtime *ag_shard_runtime(struct ag_shard *l)
{
    unsigned gen = atomic_load_explicit(&l->px->rt_gen, memory_order_acquire);
    if (!l->rt || gen != l->rt_gen) {
        ag_runtime_unref(l->rt);
        l->rt = ag_proxy_runtime(l->px);
        l->rt_gen = gen;
    }
    return l->rt;
}

const char *ag_shard_date(struct ag_shard *l)
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

void ag_shard_inflight_add(struct ag_shard *l, int d)
{
    /* only the loop writes its counter (no read-modify-write needed); others only read it */
    atomic_store_explicit(&l->inflight,
                          atomic_load_explicit(&l->inflight, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

/* The loop stops: every connection closes, the pools and caches go. */
static void ag_shard_stop(struct ag_loop *loop)
{
    struct ag_shard *l = (struct ag_shard *)(void *)loop;
    ag_cconn_close_all(l);
    ag_uconn_close_all(l);
    ag_req_pool_free(l);
    ag_runtime_unref(l->rt);
    l->rt = NULL;
    if (l->sesscache) {
        ag_authcache_clear(l->sesscache);
        free(l->sesscache);
        l->sesscache = NULL;
    }
    if (l->authcache) {
        ag_authcache_clear(l->authcache);
        free(l->authcache);
        l->authcache = NULL;
    }
}

int ag_shard_init(struct ag_shard *sh, struct ag_front *f, struct ag_proxy *px, int index)
{
    sh->index = index;
    sh->front = f;
    sh->px = px;
    sh->listen_ev.handler = ag_cconn_listen_ready;
    sh->loop.on_stop = ag_shard_stop;
    return ag_loop_init(&sh->loop);
}
