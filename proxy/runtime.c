/* Reloadable per-config state; see runtime.h. */
#include "proxy/runtime.h"

#include <stdlib.h>
#include <string.h>

#include "auth/assertion/assertion.h"
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

void ag_runtime_unref(struct ag_runtime *rt)
{
    if (!rt || atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) != 1)
        return;
    ag_login_free(rt->login);
    ag_kc_holder_unref(rt->keys);
    ag_assertion_signer_free(rt->signer);
    ag_arena_free(rt->arena);
    ag_config_unref(rt->cfg);
    free(rt);
}

bool ag_runtime_keys_ready(const struct ag_runtime *rt)
{
    return rt->keys && ag_keycache_ready(rt->keys->kc);
}
