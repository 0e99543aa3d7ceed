/* The /statusz document; see statusz.h. */
#include "proxy/manage/statusz.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/assertion/assertion.h"
#include "auth/idp/breaker.h"
#include "auth/jose/jwks.h"
#include "auth/jose/keycache.h"
#include "auth/login/login.h"
#include "core/json.h"
#include "proxy/services.h"
#include "proxy/upstream/pool.h"
#include "proxy/runtime.h"
#include "state/store.h"

/* RFC 3339 UTC, or JSON null for 0 ("never"). */
static ag_json *ag_statusz_time(int64_t t)
{
    if (t <= 0)
        return ag_json_new_null();
    time_t tt = (time_t)t;
    struct tm tm;
    char s[32];
    if (!gmtime_r(&tt, &tm) || strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return ag_json_new_null();
    return ag_json_new_str(s);
}

/* SHA-256 of the effective config as check-config prints it (secrets redacted, so the digest
 * says whether two replicas run the same settings without revealing any secret). */
static ag_json *ag_statusz_config(const struct ag_config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return ag_json_new_null();
    ag_config_print(cfg, f);
    fclose(f);
    unsigned char md[32];
    unsigned int mdlen = 0;
    char hex[7 + 2 * sizeof(md) + 1] = "sha256:";
    if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == sizeof(md)) {
        for (size_t i = 0; i < sizeof(md); i++)
            snprintf(hex + 7 + 2 * i, 3, "%02x", md[i]);
    } else {
        hex[0] = '\0';
    }
    free(text);
    return ag_json_pack("{s:s?, s:s?}", "source", cfg->source, "digest", hex[0] ? hex : NULL);
}

static ag_json *ag_statusz_idp_keys(const struct ag_runtime *rt)
{
    ag_json *kids = ag_json_new_array();
    struct ag_keycache_stats ks;
    memset(&ks, 0, sizeof(ks));
    const char *jwks_uri = NULL;
    if (rt->keys && rt->keys->kc) {
        struct ag_keycache *kc = rt->keys->kc;
        ag_keycache_stats(kc, &ks);
        const struct ag_oidc_meta *meta = ag_keycache_meta(kc);
        jwks_uri = meta ? meta->jwks_uri : NULL;
        struct ag_keyset *set = ag_keycache_keys(kc);
        for (size_t i = 0; set && i < ag_jwks_count(set); i++) {
            const struct ag_jwk *k = ag_jwks_key(set, i);
            ag_json_append(kids, k && k->kid ? ag_json_new_str(k->kid) : ag_json_new_null());
        }
        if (set)
            ag_jwks_unref(set);
    }
    /* the IdP's circuit breaker (auth/idp/breaker.h): "closed", "open" or "half-open"; null
     * without a browser login (nothing calls the token endpoint) */
    const char *circuit = rt->login ? ag_breaker_state_name(ag_login_idp_circuit(rt->login)) : NULL;
    return ag_json_pack("{s:s, s:s?, s:s?, s:b, s:o, s:o, s:o, s:I, s:I, s:I, s:s?}", "name", "idp",
                        "issuer", rt->cfg->oidc.issuer, "jwks_uri", jwks_uri, "ready", ks.ready,
                        "kids", kids, "last_fetch", ag_statusz_time(ks.last_ok), "last_failure",
                        ag_statusz_time(ks.last_failure), "fetches", (long long)ks.fetch_ok,
                        "fetch_failures", (long long)ks.fetch_failed, "rotations",
                        (long long)ks.rotations, "circuit", circuit);
}

/* airgate's own signing key, as published at /.well-known/airgate/jwks.json. */
static ag_json *ag_statusz_own_keys(const struct ag_runtime *rt)
{
    ag_json *kids = ag_json_new_array();
    const char *kid = rt->signer ? ag_assertion_kid(rt->signer) : NULL;
    if (kid)
        ag_json_append(kids, ag_json_new_str(kid));
    return ag_json_pack("{s:s, s:s, s:o}", "name", "assertion", "url",
                        "/.well-known/airgate/jwks.json", "kids", kids);
}

static ag_json *ag_statusz_upstreams(const struct ag_services *svc)
{
    ag_json *arr = ag_json_new_array();
    struct ag_pool *p = svc->pool;
    int ns = atomic_load(&p->n_slots);
    for (int i = 0; i < ns; i++) {
        struct ag_replica *r = &p->slots[i];
        if (!atomic_load(&r->in_use))
            continue;
        ag_json_append(arr, ag_json_pack("{s:s, s:b, s:i, s:I, s:I}", "upstream", r->label,
                                         "healthy", atomic_load(&r->healthy) ? 1 : 0, "active",
                                         atomic_load(&r->active), "requests",
                                         (long long)atomic_load(&r->requests), "failures",
                                         (long long)atomic_load(&r->failures)));
    }
    return arr;
}

static ag_json *ag_statusz_state(const struct ag_services *svc, const struct ag_config *cfg)
{
    struct ag_state_stats ss;
    memset(&ss, 0, sizeof(ss));
    ag_state_stats(svc->state, &ss);
    /* the URL names host, port and database only (a password is refused in it by check-config) */
    return ag_json_pack("{s:b, s:s?, s:b, s:I, s:I, s:I, s:I}", "shared", ss.shared, "redis_url",
                        cfg->state.redis_url, "up", ss.shared ? ss.up : 1, "revocations",
                        (long long)ss.revocations, "unpublished", (long long)ss.unpublished,
                        "received", (long long)ss.received, "errors", (long long)ss.errors);
}

char *ag_statusz_json(const struct ag_services *svc, struct ag_runtime *rt, struct ag_arena *a,
                      int64_t started_unix, double uptime_s)
{
    ag_json *doc = ag_json_pack(
        "{s:s, s:o, s:f, s:o, s:b, s:[o,o], s:o, s:i, s:o}", "version", AG_VERSION, "started_at",
        ag_statusz_time(started_unix), "uptime_s", uptime_s, "config", ag_statusz_config(rt->cfg),
        "draining", atomic_load(svc->draining) ? 1 : 0, "key_sets", ag_statusz_idp_keys(rt),
        ag_statusz_own_keys(rt), "upstreams", ag_statusz_upstreams(svc), "healthy_upstreams",
        ag_pool_healthy_count(svc->pool), "state", ag_statusz_state(svc, rt->cfg));
    if (!doc)
        return NULL;
    char *s = ag_json_dump(doc, AG_JSON_COMPACT);
    ag_json_decref(doc);
    if (!s)
        return NULL;
    char *out = ag_arena_strdup(a, s);
    free(s);
    return out;
}
