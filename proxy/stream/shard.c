/* A loop's share of the front; see shard.h. */
#include "proxy/stream/shard.h"

#include <time.h>

#include "proxy/runtime.h"
#include "proxy/services.h"
#include "proxy/stream/tls.h"

struct ag_runtime *ag_shard_runtime(struct ag_shard *l)
{
    unsigned gen = atomic_load_explicit(l->svc->rt_gen, memory_order_acquire);
    if (!l->rt || gen != l->rt_gen) {
        ag_runtime_unref(l->rt);
        l->rt = l->svc->runtime(l->svc->owner);
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

struct ag_tls_ctx *ag_shard_tls(struct ag_shard *sh)
{
    struct ag_shard_common *c = sh->common;
    pthread_mutex_lock(&c->tls_lock);
    struct ag_tls_ctx *t = c->tls ? ag_tls_ctx_ref(c->tls) : NULL;
    pthread_mutex_unlock(&c->tls_lock);
    return t;
}

struct ag_tls_ctx *ag_shard_up_tls(struct ag_shard *sh)
{
    struct ag_shard_common *c = sh->common;
    pthread_mutex_lock(&c->tls_lock);
    struct ag_tls_ctx *t = c->up_tls ? ag_tls_ctx_ref(c->up_tls) : NULL;
    pthread_mutex_unlock(&c->tls_lock);
    return t;
}

int ag_shard_init(struct ag_shard *sh, struct ag_shard_common *common,
                  const struct ag_services *svc, int index)
{
    sh->index = index;
    sh->common = common;
    sh->svc = svc;
    return ag_loop_init(&sh->loop);
}
