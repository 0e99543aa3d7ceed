#include "auth/jose/keycache.h"

#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/jose/jws.h"
#include "core/log.h"

struct ag_keycache {
    /* options (owned copies) */
    char *issuer;
    char *jwks_uri;
    char *ca_file;
    struct ag_http_fetch_opts http;
    long refresh_s;
    long min_refetch_s;

    struct ag_arena *meta_arena; /* discovery result, written once under fetch_mu */
    const struct ag_oidc_meta *meta;

    pthread_mutex_t fetch_mu; /* single flight: one fetch at a time */
    pthread_mutex_t mu;       /* guards everything below */
    pthread_cond_t cond;
    struct ag_keyset *keys;
    _Atomic uint64_t generation; /* read without the lock on the request path */
    int64_t last_refetch_mono;   /* last unknown-kid re-fetch (monotonic seconds) */
    bool refetched_once;
    struct ag_keycache_stats st;
    bool stopping;
    bool thread_started;
    pthread_t thread;
};

static int64_t ag_keycache_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

static char *ag_keycache_dup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

enum ag_rc ag_keycache_new(const struct ag_keycache_opts *opts, struct ag_keycache **out,
                           struct ag_err *err)
{
    if (!opts || (!opts->issuer && !opts->jwks_uri))
        return ag_err_set(err, AG_EINVAL, "key cache needs an issuer or a jwks_uri");
    struct ag_keycache *kc = calloc(1, sizeof(*kc));
    if (!kc)
        abort();
    kc->issuer = ag_keycache_dup(opts->issuer);
    kc->jwks_uri = ag_keycache_dup(opts->jwks_uri);
    kc->ca_file = ag_keycache_dup(opts->http.ca_file);
    kc->http = opts->http;
    kc->http.ca_file = kc->ca_file;
    if (kc->http.max_bytes == 0 || kc->http.max_bytes > AG_JWKS_MAX_BYTES)
        kc->http.max_bytes = AG_JWKS_MAX_BYTES;
    kc->refresh_s = opts->refresh_s == 0 ? 300 : opts->refresh_s;
    kc->min_refetch_s = opts->min_refetch_s <= 0 ? 10 : opts->min_refetch_s;
    kc->meta_arena = ag_arena_new(0);
    pthread_mutex_init(&kc->fetch_mu, NULL);
    pthread_mutex_init(&kc->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&kc->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = kc;
    return AG_OK;
}

static void ag_keycache_failed(struct ag_keycache *kc, const struct ag_err *e)
{
    pthread_mutex_lock(&kc->mu);
    kc->st.fetch_failed++;
    kc->st.last_failure = (int64_t)time(NULL);
    size_t have = ag_jwks_count(kc->keys);
    pthread_mutex_unlock(&kc->mu);
    ag_log(AG_LOG_WARN, NULL, "jwks: refresh failed, keeping %zu last good key(s): %s", have,
           e->msg);
}

/* One fetch + parse + swap. Caller holds fetch_mu. */
static enum ag_rc ag_keycache_fetch(struct ag_keycache *kc, struct ag_err *err)
{
    enum ag_rc rc;
    if (!kc->jwks_uri) {
        /* A scratch arena per attempt, so retries while the IdP is down do not accumulate. */
        struct ag_arena *ma = ag_arena_new(0);
        struct ag_oidc_meta *m;
        rc = ag_discovery_fetch(ma, kc->issuer, &kc->http, &m, err);
        if (rc != AG_OK) {
            ag_arena_free(ma);
            ag_err_prefix(err, "discovery");
            ag_keycache_failed(kc, err);
            return rc;
        }
        pthread_mutex_lock(&kc->mu);
        ag_arena_free(kc->meta_arena); /* empty until now: discovery succeeds only once */
        kc->meta_arena = ma;
        kc->meta = m;
        kc->jwks_uri = ag_keycache_dup(m->jwks_uri);
        pthread_mutex_unlock(&kc->mu);
    }
    struct ag_buf b;
    ag_buf_init(&b, kc->http.max_bytes);
    rc = ag_http_fetch_get(kc->jwks_uri, &kc->http, &b, err);
    if (rc != AG_OK) {
        ag_buf_release(&b, 0);
        ag_keycache_failed(kc, err);
        return rc;
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)(b.data ? b.data : ""), b.len, digest);
    pthread_mutex_lock(&kc->mu);
    bool same = kc->keys && memcmp(ag_jwks_digest(kc->keys), digest, sizeof(digest)) == 0;
    if (same) {
        kc->st.fetch_ok++;
        kc->st.last_ok = (int64_t)time(NULL);
    }
    pthread_mutex_unlock(&kc->mu);
    if (same) {
        ag_buf_release(&b, 0);
        return AG_OK;
    }
    struct ag_keyset *ks;
    rc = ag_jwks_parse(b.data ? b.data : "", b.len, &ks, err);
    ag_buf_release(&b, 0);
    if (rc != AG_OK) {
        ag_err_prefix(err, "jwks from %s", kc->jwks_uri);
        ag_keycache_failed(kc, err);
        return rc;
    }
    pthread_mutex_lock(&kc->mu);
    struct ag_keyset *old = kc->keys;
    kc->keys = ks;
    atomic_fetch_add_explicit(&kc->generation, 1, memory_order_release);
    kc->st.fetch_ok++;
    if (old)
        kc->st.rotations++;
    kc->st.last_ok = (int64_t)time(NULL);
    kc->st.keys = ag_jwks_count(ks);
    kc->st.ready = true;
    pthread_mutex_unlock(&kc->mu);
    ag_jwks_unref(old); /* requests still holding it keep it alive */
    ag_log(AG_LOG_INFO, NULL, "jwks: loaded %zu key(s) from %s (%zu skipped)", ag_jwks_count(ks),
           kc->jwks_uri, ag_jwks_skipped(ks));
    return AG_OK;
}

enum ag_rc ag_keycache_refresh(struct ag_keycache *kc, struct ag_err *err)
{
    pthread_mutex_lock(&kc->fetch_mu);
    enum ag_rc rc = ag_keycache_fetch(kc, err);
    pthread_mutex_unlock(&kc->fetch_mu);
    return rc;
}

static void *ag_keycache_thread(void *arg)
{
    struct ag_keycache *kc = arg;
    /* After a failure, retry sooner than the refresh interval: from the re-fetch window,
     * doubling up to the interval, so an IdP that comes back is noticed within seconds
     * without hammering one that stays down. */
    long retry = 0;
    pthread_mutex_lock(&kc->mu);
    while (!kc->stopping) {
        long wait = retry > 0 ? retry : kc->st.ready ? kc->refresh_s : kc->min_refetch_s;
        if (wait <= 0)
            wait = 1;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait;
        while (!kc->stopping) {
            if (pthread_cond_timedwait(&kc->cond, &kc->mu, &ts) == ETIMEDOUT)
                break;
        }
        if (kc->stopping)
            break;
        pthread_mutex_unlock(&kc->mu);
        struct ag_err e;
        enum ag_rc rc = ag_keycache_refresh(kc, &e); /* failures are logged and counted inside */
        pthread_mutex_lock(&kc->mu);
        if (rc == AG_OK) {
            retry = 0;
        } else {
            long base = kc->min_refetch_s > 0 ? kc->min_refetch_s : 1;
            retry = retry > 0 ? retry * 2 : base;
            if (retry > kc->refresh_s)
                retry = kc->refresh_s;
            /* With no keys at all every request fails and /readyz is 503: keep retrying at the
             * re-fetch window, so an IdP that was down at start is noticed within it (doubling
             * let a long outage leave airgate unready for up to an hour after the IdP came back).
             */
            if (!kc->st.ready)
                retry = base;
        }
    }
    pthread_mutex_unlock(&kc->mu);
    return NULL;
}

enum ag_rc ag_keycache_start(struct ag_keycache *kc, struct ag_err *err)
{
    enum ag_rc rc = ag_keycache_refresh(kc, err);
    if (kc->refresh_s > 0 && !kc->thread_started) {
        if (pthread_create(&kc->thread, NULL, ag_keycache_thread, kc) != 0)
            return ag_err_set(err, AG_ENOMEM, "cannot start the key refresh thread");
        kc->thread_started = true;
    }
    return rc;
}

bool ag_keycache_ready(struct ag_keycache *kc)
{
    pthread_mutex_lock(&kc->mu);
    bool r = kc->keys != NULL;
    pthread_mutex_unlock(&kc->mu);
    return r;
}

struct ag_keyset *ag_keycache_keys(struct ag_keycache *kc)
{
    pthread_mutex_lock(&kc->mu);
    struct ag_keyset *ks = ag_jwks_ref(kc->keys);
    pthread_mutex_unlock(&kc->mu);
    return ks;
}

uint64_t ag_keycache_generation(struct ag_keycache *kc)
{
    return atomic_load_explicit(&kc->generation, memory_order_acquire);
}

const struct ag_oidc_meta *ag_keycache_meta(struct ag_keycache *kc)
{
    pthread_mutex_lock(&kc->mu);
    const struct ag_oidc_meta *m = kc->meta;
    pthread_mutex_unlock(&kc->mu);
    return m;
}

void ag_keycache_stats(struct ag_keycache *kc, struct ag_keycache_stats *out)
{
    pthread_mutex_lock(&kc->mu);
    *out = kc->st;
    out->ready = kc->keys != NULL;
    out->keys = ag_jwks_count(kc->keys);
    pthread_mutex_unlock(&kc->mu);
}

/* True when the token names a kid the given set does not have (a rotation we may not know of). */
static bool ag_keycache_kid_unknown(const struct ag_keyset *ks, const char *token, size_t len,
                                    size_t max)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_jws *jws;
    bool unknown = ag_jws_parse(a, token, len, max, &jws, NULL) == AG_OK && jws->kid &&
                   !ag_jwks_find_kid(ks, jws->kid);
    ag_arena_free(a);
    return unknown;
}

/* True when a re-fetch may run in this window; with claim, takes the window's slot (and counts
 * the outcome). False when another re-fetch happened too recently. */
static bool ag_keycache_refetch_allowed(struct ag_keycache *kc, bool claim)
{
    pthread_mutex_lock(&kc->mu);
    int64_t now = ag_keycache_mono();
    bool ok = !kc->refetched_once || now - kc->last_refetch_mono >= kc->min_refetch_s;
    if (!claim) {
        pthread_mutex_unlock(&kc->mu);
        return ok;
    }
    if (ok) {
        kc->refetched_once = true;
        kc->last_refetch_mono = now;
        kc->st.refetch_unknown_kid++;
    } else {
        kc->st.refetch_limited++;
    }
    pthread_mutex_unlock(&kc->mu);
    return ok;
}

/* Verifies against the current keys. When the token names a kid the set lacks, *stale keeps a
 * reference to that set (for the caller to compare with a newer one), else it is NULL. */
static enum ag_rc ag_keycache_try(struct ag_keycache *kc, struct ag_arena *a,
                                  const struct ag_jwt_policy *p, const char *token, size_t len,
                                  struct ag_jwt **out, struct ag_err *err, struct ag_keyset **stale)
{
    *stale = NULL;
    struct ag_keyset *ks = ag_keycache_keys(kc);
    if (!ks)
        return ag_err_set(err, AG_EUPSTREAM, "no signing keys loaded yet from the issuer");
    enum ag_rc rc = ag_jwt_verify(a, ks, p, token, len, out, err);
    if (rc == AG_ECRYPTO && ag_keycache_kid_unknown(ks, token, len, p->max_token_bytes))
        *stale = ks;
    else
        ag_jwks_unref(ks);
    return rc;
}

enum ag_rc ag_keycache_verify(struct ag_keycache *kc, struct ag_arena *a,
                              const struct ag_jwt_policy *p, const char *token, size_t len,
                              struct ag_jwt **out, struct ag_err *err)
{
    struct ag_keyset *ks = NULL;
    enum ag_rc rc = ag_keycache_try(kc, a, p, token, len, out, err, &ks);
    if (!ks)
        return rc;
    if (!ag_keycache_refetch_allowed(kc, true)) {
        /* A re-fetch already ran in this window, or is running: wait for it to finish (an
         * uncontended lock when none is) and use what it brought. Holding ks keeps its address
         * from being reused, so a different pointer means a different set. */
        pthread_mutex_lock(&kc->fetch_mu);
        pthread_mutex_unlock(&kc->fetch_mu);
        struct ag_keyset *cur = ag_keycache_keys(kc);
        bool changed = cur != ks;
        ag_jwks_unref(ks);
        if (changed)
            rc = ag_jwt_verify(a, cur, p, token, len, out, err);
        else
            ag_err_prefix(err, "unknown kid, re-fetch rate-limited");
        ag_jwks_unref(cur);
        return rc;
    }
    ag_jwks_unref(ks);
    struct ag_err ferr;
    pthread_mutex_lock(&kc->fetch_mu);
    rc = ag_keycache_fetch(kc, &ferr); /* a failure keeps the old keys; verify again anyway */
    (void)rc;
    pthread_mutex_unlock(&kc->fetch_mu);
    ks = ag_keycache_keys(kc);
    rc = ag_jwt_verify(a, ks, p, token, len, out, err);
    ag_jwks_unref(ks);
    return rc;
}

enum ag_rc ag_keycache_verify_nowait(struct ag_keycache *kc, struct ag_arena *a,
                                     const struct ag_jwt_policy *p, const char *token, size_t len,
                                     struct ag_jwt **out, struct ag_err *err)
{
    struct ag_keyset *ks = NULL;
    enum ag_rc rc = ag_keycache_try(kc, a, p, token, len, out, err, &ks);
    if (!ks)
        return rc;
    ag_jwks_unref(ks);
    bool allowed = ag_keycache_refetch_allowed(kc, false);
    bool running = pthread_mutex_trylock(&kc->fetch_mu) != 0;
    if (!running)
        pthread_mutex_unlock(&kc->fetch_mu);
    if (allowed || running)
        return ag_err_set(err, AG_EAGAIN, "unknown kid: the key set must be re-fetched");
    ag_err_prefix(err, "unknown kid, re-fetch rate-limited");
    return rc;
}

void ag_keycache_stop(struct ag_keycache *kc)
{
    if (!kc)
        return;
    pthread_mutex_lock(&kc->mu);
    kc->stopping = true;
    pthread_cond_broadcast(&kc->cond);
    bool joined = !kc->thread_started;
    kc->thread_started = false;
    pthread_mutex_unlock(&kc->mu);
    if (!joined)
        pthread_join(kc->thread, NULL);
}

void ag_keycache_free(struct ag_keycache *kc)
{
    if (!kc)
        return;
    ag_keycache_stop(kc);
    ag_jwks_unref(kc->keys);
    ag_arena_free(kc->meta_arena);
    pthread_mutex_destroy(&kc->fetch_mu);
    pthread_mutex_destroy(&kc->mu);
    pthread_cond_destroy(&kc->cond);
    free(kc->issuer);
    free(kc->jwks_uri);
    free(kc->ca_file);
    free(kc);
}
