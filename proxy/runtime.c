/* Reloadable per-config state; see runtime.h. */
#include "proxy/runtime.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/assertion/assertion.h"
#include "auth/jose/jwe.h"
#include "auth/jose/keycache.h"
#include "core/arena.h"
#include "core/log.h"
#include "auth/login/login.h"
#include "rolemap/rolemap.h"

static void ag_kc_holder_unref(struct ag_kc_holder *h)
{
    if (h && atomic_fetch_sub(&h->refs, 1) == 1) {
        ag_keycache_free(h->kc);
        free(h);
    }
}

static bool ag_same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool ag_runtime_keys_reusable(const struct ag_config *a, const struct ag_config *b)
{
    return ag_same_str(a->oidc.issuer, b->oidc.issuer) &&
           ag_same_str(a->oidc.ca_file, b->oidc.ca_file) &&
           a->oidc.http_timeout_ms == b->oidc.http_timeout_ms &&
           a->oidc.jwks_refresh_s == b->oidc.jwks_refresh_s &&
           a->oidc.jwks_min_refetch_s == b->oidc.jwks_min_refetch_s;
}

static enum ag_rc ag_runtime_keys_new(const struct ag_config *c, struct ag_kc_holder **out,
                                      struct ag_err *err)
{
    struct ag_keycache_opts o;
    memset(&o, 0, sizeof(o));
    o.issuer = c->oidc.issuer;
    o.http.ca_file = c->oidc.ca_file;
    o.http.timeout_ms = c->oidc.http_timeout_ms;
    o.http.connect_timeout_ms = c->oidc.http_timeout_ms;
    o.refresh_s = c->oidc.jwks_refresh_s;
    o.min_refetch_s = c->oidc.jwks_min_refetch_s;
    struct ag_keycache *kc = NULL;
    enum ag_rc rc = ag_keycache_new(&o, &kc, err);
    if (rc != AG_OK)
        return rc;
    struct ag_err e2 = {0};
    if (ag_keycache_start(kc, &e2) != AG_OK)
        ag_log(AG_LOG_WARN, NULL, "signing keys not loaded yet (retrying in the background): %s",
               e2.msg);
    struct ag_kc_holder *h = calloc(1, sizeof(*h));
    if (!h)
        abort();
    h->kc = kc;
    atomic_store(&h->refs, 1);
    *out = h;
    return AG_OK;
}

enum ag_rc ag_runtime_new(struct ag_config *cfg, const struct ag_runtime *prev,
                          struct ag_runtime **out, struct ag_err *err)
{
    struct ag_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        abort();
    rt->arena = ag_arena_new(0);
    rt->cfg = ag_config_ref(cfg);
    atomic_store(&rt->refs, 1);
    enum ag_rc rc = ag_rolemap_compile(rt->arena, cfg, &rt->rolemap, err);
    if (rc != AG_OK)
        goto fail;
    rc = ag_routes_compile(rt->arena, (const char *const *)cfg->public_routes.items,
                           cfg->public_routes.n, &rt->public_routes, err);
    if (rc != AG_OK)
        goto fail;
    ag_jwt_policy_init(&rt->policy);
    rt->policy.issuer = cfg->oidc.issuer;
    rt->policy.audience = cfg->oidc.audience ? cfg->oidc.audience : cfg->oidc.client_id;
    rt->policy.azp = cfg->oidc.client_id;
    rt->policy.audiences = (const char *const *)cfg->oidc.audiences.items;
    rt->policy.n_audiences = cfg->oidc.audiences.n;
    rt->policy.accept_azp = cfg->oidc.accept_azp_as_audience;
    rt->policy.leeway_s = cfg->oidc.leeway_s;
    /* A bearer token sits inside the request head: server.max_header_bytes bounds it (431). */
    rt->policy.max_token_bytes =
        cfg->server.max_header_bytes > 0 ? (size_t)cfg->server.max_header_bytes : 0;
    rc = ag_jws_algs_from_names(cfg->oidc.allowed_algs.items, cfg->oidc.allowed_algs.n,
                                &rt->policy.allowed_algs, err);
    if (rc != AG_OK)
        goto fail;
    rc = ag_assertion_signer_new(cfg, &rt->signer, err);
    if (rc != AG_OK)
        goto fail;
    if (prev && prev->keys && ag_runtime_keys_reusable(prev->cfg, cfg)) {
        rt->keys = prev->keys;
        atomic_fetch_add(&rt->keys->refs, 1);
    } else {
        rc = ag_runtime_keys_new(cfg, &rt->keys, err);
        if (rc != AG_OK)
            goto fail;
    }
    rc = ag_login_new(cfg, rt->keys->kc, rt->rolemap, &rt->login, err);
    if (rc != AG_OK)
        goto fail;
    rt->jwks = rt->signer ? ag_assertion_jwks_json(rt->signer) : NULL;
    if (ag_login_jwe_keys(rt->login)) { /* the IdP encrypts ID tokens to these (use: enc) */
        rc = ag_jwe_jwks_merge(rt->arena, rt->jwks, ag_login_jwe_keys(rt->login), &rt->jwks, err);
        if (rc != AG_OK)
            goto fail;
    }
    *out = rt;
    return AG_OK;
fail:
    ag_runtime_unref(rt);
    return rc;
}

struct ag_runtime *ag_runtime_ref(struct ag_runtime *rt)
{
    atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
    return rt;
}

static void ag_runtime_teardown(struct ag_runtime *rt)
{
    ag_login_free(rt->login);
    ag_kc_holder_unref(rt->keys);
    ag_assertion_signer_free(rt->signer);
    ag_arena_free(rt->arena);
    ag_config_unref(rt->cfg);
    free(rt);
}

/* The reaper: a runtime's teardown may join the key cache's refresh thread, which can sit in a
 * JWKS fetch for up to oidc.http_timeout_ms. The last reference is often dropped on an event
 * loop (the first request after a reload), which must never block, so the teardown runs on a
 * detached thread started for the purpose; it exits when nothing is left to free. */
static pthread_mutex_t ag_reaper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ag_reaper_idle = PTHREAD_COND_INITIALIZER;
static struct ag_runtime *ag_reaper_queue; /* linked through reap_next */
static int ag_reaper_busy;                 /* runtimes queued or being torn down */
static bool ag_reaper_running;

static void *ag_reaper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ag_reaper_lock);
    while (ag_reaper_queue) {
        struct ag_runtime *rt = ag_reaper_queue;
        ag_reaper_queue = rt->reap_next;
        pthread_mutex_unlock(&ag_reaper_lock);
        ag_runtime_teardown(rt);
        pthread_mutex_lock(&ag_reaper_lock);
        if (--ag_reaper_busy == 0)
            pthread_cond_broadcast(&ag_reaper_idle);
    }
    ag_reaper_running = false;
    pthread_mutex_unlock(&ag_reaper_lock);
    return NULL;
}

static void ag_runtime_reap(struct ag_runtime *rt)
{
    pthread_mutex_lock(&ag_reaper_lock);
    rt->reap_next = ag_reaper_queue;
    ag_reaper_queue = rt;
    ag_reaper_busy++;
    if (!ag_reaper_running) {
        pthread_attr_t at;
        pthread_t t;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        ag_reaper_running = pthread_create(&t, &at, ag_reaper_main, NULL) == 0;
        pthread_attr_destroy(&at);
        if (!ag_reaper_running) { /* no thread: free here rather than never */
            ag_reaper_queue = rt->reap_next;
            ag_reaper_busy--;
            pthread_mutex_unlock(&ag_reaper_lock);
            ag_log(AG_LOG_WARN, NULL, "no reaper thread: freeing a runtime in place");
            ag_runtime_teardown(rt);
            return;
        }
    }
    pthread_mutex_unlock(&ag_reaper_lock);
}

void ag_runtime_reap_wait(void)
{
    pthread_mutex_lock(&ag_reaper_lock);
    while (ag_reaper_busy > 0)
        pthread_cond_wait(&ag_reaper_idle, &ag_reaper_lock);
    pthread_mutex_unlock(&ag_reaper_lock);
}

void ag_runtime_unref(struct ag_runtime *rt)
{
    if (!rt || atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) != 1)
        return;
    ag_runtime_reap(rt);
}

bool ag_runtime_keys_ready(const struct ag_runtime *rt)
{
    return rt->keys && ag_keycache_ready(rt->keys->kc);
}
