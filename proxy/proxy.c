/* Lifecycle of the running proxy; see proxy.h. */
#include "proxy/proxy.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/idp/http_fetch.h"
#include "auth/login/login.h"
#include "auth/jose/keycache.h"
#include "auth/jose/token_cache.h"
#include "core/arena.h"
#include "core/log.h"
#include "proxy/manage/endpoints.h"
#include "proxy/manage/mgmt_http.h"
#include "proxy/stream/front.h"
#include "proxy/upstream/health.h"
#include "proxy/event/offload.h"
#include "proxy/runtime.h"
#include "state/store.h"

static pthread_mutex_t ag_reload_lock = PTHREAD_MUTEX_INITIALIZER;

struct ag_runtime *ag_proxy_runtime(struct ag_proxy *px)
{
    /* a few nanoseconds under an uncontended lock; reloads swap the pointer under it */
    pthread_mutex_lock(&px->rt_lock);
    struct ag_runtime *rt = ag_runtime_ref(px->rt);
    pthread_mutex_unlock(&px->rt_lock);
    return rt;
}

int ag_proxy_inflight(struct ag_proxy *px)
{
    return ag_front_inflight(px->front);
}

static struct ag_runtime *ag_proxy_svc_runtime(void *owner)
{
    return ag_proxy_runtime(owner);
}

static int ag_proxy_svc_inflight(void *owner)
{
    return ag_proxy_inflight(owner);
}

static int ag_proxy_svc_connections(void *owner)
{
    return ag_front_connections(((struct ag_proxy *)owner)->front);
}

static void ag_proxy_sync_pool(struct ag_proxy *px, const struct ag_config *cfg)
{
    atomic_store(&px->pool.balance, (int)cfg->upstreams.balance);
    atomic_store(&px->pool.rise, cfg->upstreams.rise > 0 ? cfg->upstreams.rise : 1);
    atomic_store(&px->pool.fall, cfg->upstreams.fall > 0 ? cfg->upstreams.fall : 1);
    struct ag_arena *a = ag_arena_new(0);
    struct ag_pool_member *m = NULL;
    size_t n = ag_health_members(cfg, a, &m);
    if (n > 0 || cfg->upstreams.servers.n == 0)
        ag_pool_sync(&px->pool, m, n);
    else
        ag_log(AG_LOG_WARN, NULL, "no upstream resolved; keeping the previous set");
    ag_arena_free(a);
}

static void ag_proxy_log_level(const struct ag_config *cfg)
{
    static const enum ag_log_level map[] = {AG_LOG_DEBUG, AG_LOG_INFO, AG_LOG_WARN, AG_LOG_ERROR};
    unsigned l = (unsigned)cfg->log.level;
    enum ag_log_format f = cfg->log.format == AG_CONF_LOG_TEXT  ? AG_LOG_TEXT
                           : cfg->log.format == AG_CONF_LOG_GCP ? AG_LOG_GCP
                                                                : AG_LOG_JSON;
    ag_log_set_gcp_project(cfg->log.gcp_project_id);
    ag_log_setup(l < 4 ? map[l] : AG_LOG_INFO, f, 2);
}

static void ag_proxy_free_parts(struct ag_proxy *px)
{
    ag_mgmt_http_stop(px->mgmt); /* first: its handler reads everything below */
    ag_health_stop(px->health);
    /* parked requests come back through the decision pool when their refresh ends */
    if (px->rt && px->rt->login)
        ag_login_quiesce(px->rt->login, 30);
    ag_offload_stop(px->offload); /* the loops still run: they receive the last decisions */
    ag_front_free(px->front);
    ag_token_cache_free(px->tc);
    ag_runtime_unref(px->rt);
    ag_runtime_reap_wait();   /* every runtime freed: none still borrows the store */
    ag_state_free(px->state); /* after the runtime: its login borrowed the store */
    ag_pool_destroy(&px->pool);
    pthread_mutex_destroy(&px->rt_lock);
    free(px);
}

static bool ag_proxy_same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

enum ag_rc ag_proxy_start(struct ag_config *cfg, struct ag_proxy **out, struct ag_err *err)
{
    enum ag_rc rc = ag_http_fetch_global_init();
    if (rc != AG_OK)
        return ag_err_set(err, rc, "curl_global_init failed");
    ag_proxy_log_level(cfg);
    struct ag_proxy *px = calloc(1, sizeof(*px));
    if (!px)
        abort();
    pthread_mutex_init(&px->rt_lock, NULL);
    ag_pool_init(&px->pool, (int)cfg->upstreams.balance, cfg->upstreams.rise, cfg->upstreams.fall);
    px->tc = ag_token_cache_new(0);
    struct ag_state_opts so = {
        .redis_url = cfg->state.redis_url,
        .password = cfg->state.password.len ? (const char *)cfg->state.password.data : NULL,
        .password_len = cfg->state.password.len,
        .key_prefix = cfg->state.key_prefix,
        .deny_when_down = !cfg->state.serve_when_down,
        .connect_timeout_ms = cfg->state.connect_timeout_ms,
        .command_timeout_ms = cfg->state.command_timeout_ms,
        .resync_s = cfg->state.resync_s,
        .hash_key = cfg->session.cookie_secret.data,
        .hash_key_len = cfg->session.cookie_secret.len,
    };
    rc = ag_state_new(&so, &px->state, err);
    if (rc != AG_OK)
        goto fail;
    if (!cfg->state.redis_url)
        ag_log(AG_LOG_INFO, NULL,
               "state: no state.redis_url: sign-out, single-use login state "
               "and refresh coordination hold within this replica only");
    rc = ag_runtime_new(cfg, NULL, &px->rt, err);
    if (rc != AG_OK)
        goto fail;
    if (px->rt->login)
        ag_login_set_state(px->rt->login, px->state);
    ag_proxy_sync_pool(px, cfg);
    rc = ag_offload_start(4, &px->offload, err);
    if (rc != AG_OK)
        goto fail;
    px->svc = (struct ag_services){
        .pool = &px->pool,
        .tc = px->tc,
        .offload = px->offload,
        .state = px->state,
        .draining = &px->draining,
        .rt_gen = &px->rt_gen,
        .runtime = ag_proxy_svc_runtime,
        .inflight = ag_proxy_svc_inflight,
        .connections = ag_proxy_svc_connections,
        .owner = px,
    };
    rc = ag_health_start(&px->svc, &px->health, err);
    if (rc != AG_OK)
        goto fail;
    rc = ag_front_start(&px->svc, cfg, &px->front, err);
    if (rc != AG_OK)
        goto fail;
    px->bound_port = px->front->port;
    struct ag_mgmt_http_opts mo = {
        .host = cfg->management.listen_host,
        .port = cfg->management.listen_port,
        .handler = ag_endpoints_manage_serve,
        .ctx = &px->svc,
    };
    rc = ag_mgmt_http_start(&mo, &px->mgmt, err);
    if (rc != AG_OK)
        goto fail;
    px->mgmt_port = ag_mgmt_http_port(px->mgmt);
    *out = px;
    return AG_OK;
fail:
    ag_proxy_free_parts(px);
    return rc;
}

enum ag_rc ag_proxy_reload(struct ag_proxy *px, struct ag_config *cfg, struct ag_err *err)
{
    pthread_mutex_lock(&ag_reload_lock);
    struct ag_runtime *cur = ag_proxy_runtime(px);
    struct ag_runtime *nrt = NULL;
    enum ag_rc rc = ag_runtime_new(cfg, cur, &nrt, err);
    if (rc != AG_OK)
        goto out;
    if (nrt->login)
        ag_login_set_state(nrt->login, px->state);
    if (!ag_proxy_same_str(cur->cfg->state.redis_url, cfg->state.redis_url) ||
        !ag_proxy_same_str(cur->cfg->state.key_prefix, cfg->state.key_prefix))
        ag_log(AG_LOG_WARN, NULL,
               "state.* changed: the new shared-state settings take effect "
               "after a restart");
    if (!ag_proxy_same_str(cur->cfg->management.listen, cfg->management.listen))
        ag_log(AG_LOG_WARN, NULL,
               "management.listen changed (%s -> %s): the management listener stays on port %u "
               "until a restart",
               cur->cfg->management.listen ? cur->cfg->management.listen : "",
               cfg->management.listen ? cfg->management.listen : "", (unsigned)px->mgmt_port);
    rc = ag_front_reconfigure(px->front, cur->cfg, cfg, err);
    if (rc != AG_OK) {
        ag_runtime_unref(nrt);
        goto out;
    }
    px->bound_port = px->front->port;
    pthread_mutex_lock(&px->rt_lock);
    struct ag_runtime *old_rt = px->rt;
    px->rt = nrt;
    pthread_mutex_unlock(&px->rt_lock);
    ag_runtime_unref(old_rt);
    atomic_fetch_add(&px->rt_gen, 1);
    ag_proxy_log_level(cfg);
    ag_proxy_sync_pool(px, cfg);
    ag_token_cache_clear(px->tc);
    if (nrt->keys == cur->keys) {
        struct ag_err e2 = {0};
        if (ag_keycache_refresh(nrt->keys->kc, &e2) != AG_OK)
            ag_log(AG_LOG_WARN, NULL, "key refresh on reload failed (old keys kept): %s", e2.msg);
    }
    ag_health_kick(px->health);
out:
    ag_runtime_unref(cur);
    pthread_mutex_unlock(&ag_reload_lock);
    return rc;
}

int ag_proxy_drain_and_free(struct ag_proxy *px, long timeout_s)
{
    /* new answers say Connection: close and the loops close idle keep-alive connections */
    atomic_store(&px->draining, true);
    ag_front_stop_accepting(px->front);
    uint64_t deadline = ag_front_now_ms() + (uint64_t)(timeout_s > 0 ? timeout_s : 0) * 1000u;
    while (ag_proxy_inflight(px) > 0 && ag_front_now_ms() < deadline)
        usleep(20 * 1000);
    int left = ag_proxy_inflight(px);
    ag_proxy_free_parts(px);
    return left;
}
