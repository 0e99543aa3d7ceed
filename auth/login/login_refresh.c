/* Token refresh: single-flight per refresh token, run by the login module's own refresh threads
 * (so IdP I/O never holds a thread that decides requests), shared across replicas through the
 * state store, and guarded by the IdP circuit breaker; see login_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "auth/idp/oidc_client.h"
#include "auth/login/login_int.h"
#include "auth/login/session_int.h"
#include "core/log.h"
#include "core/secret.h"

/* ---- the IdP's token endpoint, through the breaker ---- */

enum ag_rc ag_login_idp_post(struct ag_login *l, const char *url, const char *authorization,
                             const char *body, struct ag_buf *out, long *status, struct ag_err *err)
{
    if (!ag_breaker_allow(&l->breaker, ag_breaker_now_ms()))
        return ag_err_set(err, AG_EUPSTREAM, "identity provider circuit open (not called)");
    enum ag_rc rc = l->hooks.post(l->hooks.ctx, url, authorization, body, out, status, err);
    ag_breaker_report(&l->breaker, rc == AG_OK && *status < 500, ag_breaker_now_ms());
    return rc;
}

static enum ag_rc ag_login_refresh_now(struct ag_login *l, struct ag_arena *a,
                                       const struct ag_session *s, long long now,
                                       struct ag_session **out, struct ag_err *err)
{
    const struct ag_oidc_meta *m = l->hooks.meta(l->hooks.ctx);
    if (!m || !m->token_endpoint)
        return ag_err_set(err, AG_EUPSTREAM, "no token endpoint known (discovery pending)");
    struct ag_token_request treq;
    ag_oidc_refresh_request(a, l->cfg, s->refresh_token, &treq);
    struct ag_buf body;
    ag_buf_init(&body, AG_OIDC_TOKEN_MAX_BYTES);
    long status = 0;
    enum ag_rc rc =
        ag_login_idp_post(l, m->token_endpoint, treq.authorization, treq.body, &body, &status, err);
    struct ag_token_response tr;
    if (rc == AG_OK)
        rc = ag_oidc_token_response_parse(a, status, body.data, body.len, &tr, err);
    ag_buf_release(&body, 1);
    if (rc != AG_OK)
        return rc;
    rc = ag_login_session_from_tokens(l, a, tr.id_token, tr.access_token, tr.refresh_token,
                                      tr.expires_in, tr.refresh_expires_in, NULL, s, now, out, err);
    /* Tokens the IdP issued but we cannot verify: treat like a refusal, so the user logs in. */
    if (rc != AG_OK && rc != AG_EUPSTREAM && rc != AG_ETIMEOUT)
        rc = AG_EDENIED;
    return rc;
}

/* ---- the same across replicas (shared state) ---- */

#define AG_REFRESH_SEAL_NAME "airgate-refresh" /* AAD of the token set shared through Redis */

/* The token set another replica stored for this refresh token: AG_OK with *out, or AG_EINVAL
 * when there is none (or it cannot be read). */
static enum ag_rc ag_login_refresh_adopt(struct ag_login *l, struct ag_arena *a, const char *name,
                                         struct ag_session **out, struct ag_err *err)
{
    char *val = NULL;
    size_t len = 0;
    enum ag_rc rc = ag_state_get(l->state, "tokens", name, &val, &len, err);
    if (rc != AG_OK)
        return rc;
    if (!val)
        return AG_EINVAL;
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    rc = ag_seal_open(a, &l->session_ctx, AG_REFRESH_SEAL_NAME, val, len, &pt, &ptlen, err);
    free(val);
    if (rc == AG_OK)
        rc = ag_session_parse(a, (const char *)pt, ptlen, out, err);
    if (pt)
        ag_secret_wipe(pt, ptlen);
    return rc == AG_OK ? AG_OK : AG_EINVAL;
}

static void ag_login_refresh_share(struct ag_login *l, struct ag_arena *a, const char *name,
                                   const struct ag_session *fresh)
{
    const char *json = ag_session_serialize(a, fresh);
    char *sealed = NULL;
    struct ag_err err = {0};
    if (ag_seal_seal(a, &l->session_ctx, AG_REFRESH_SEAL_NAME, (const uint8_t *)json, strlen(json),
                     &sealed, &err) != AG_OK ||
        ag_state_put(l->state, "tokens", name, sealed, strlen(sealed), AG_REFRESH_REMEMBER_S,
                     &err) != AG_OK)
        ag_log(AG_LOG_WARN, NULL, "session: refreshed tokens not shared: %s", err.msg);
}

/* One refresh for all replicas: the lock winner spends the refresh token and stores the new
 * (encrypted) token set; the others wait for it instead of spending the token again. *handled
 * is false when shared state cannot help (not configured, down): refresh locally then. Runs on
 * a refresh thread. */
static enum ag_rc ag_login_refresh_shared(struct ag_login *l, struct ag_arena *a,
                                          const struct ag_session *s, const uint8_t *key,
                                          long long now, struct ag_session **out, bool *handled,
                                          struct ag_err *err)
{
    *handled = false;
    if (!ag_state_shared(l->state) || !ag_state_up(l->state))
        return AG_OK;
    char name[65];
    for (size_t i = 0; i < 32; i++)
        snprintf(name + 2 * i, 3, "%02x", key[i]);
    enum ag_rc rc = ag_login_refresh_adopt(l, a, name, out, err);
    if (rc == AG_OK) {
        *handled = true;
        return AG_OK;
    }
    if (rc != AG_EINVAL)
        return AG_OK; /* Redis trouble: local refresh */
    long http_ms = l->cfg->oidc.http_timeout_ms > 0 ? l->cfg->oidc.http_timeout_ms : 5000;
    bool won = false;
    if (ag_state_lock(l->state, "refresh", name, http_ms + 2000, &won, err) != AG_OK)
        return AG_OK;
    *handled = true;
    if (won) {
        rc = ag_login_refresh_now(l, a, s, now, out, err);
        if (rc == AG_OK)
            ag_login_refresh_share(l, a, name, *out);
        ag_state_unlock(l->state, "refresh", name);
        return rc;
    }
    /* another replica is refreshing this very token: wait for its result */
    for (long waited = 0; waited < http_ms + 2000; waited += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        rc = ag_login_refresh_adopt(l, a, name, out, err);
        if (rc == AG_OK)
            return AG_OK;
        if (rc != AG_EINVAL)
            break;
    }
    return ag_err_set(err, AG_ETIMEOUT, "another replica's refresh did not finish in time");
}

/* ---- slots: one per refresh token being or recently refreshed ---- */

static struct ag_refresh_slot *ag_login_slot_find(struct ag_login *l, const uint8_t *key)
{
    for (size_t i = 0; i < AG_REFRESH_SLOTS; i++)
        if (l->slots[i].used && memcmp(l->slots[i].key, key, 32) == 0)
            return &l->slots[i];
    return NULL;
}

static void ag_login_str_drop(char **p)
{
    if (*p) {
        ag_secret_wipe(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

void ag_login_slot_reset(struct ag_refresh_slot *sl)
{
    ag_login_str_drop(&sl->session);
    ag_login_str_drop(&sl->job);
    memset(sl, 0, sizeof(*sl));
}

/* A free slot, else the oldest finished one; NULL when all are busy refreshing. */
static struct ag_refresh_slot *ag_login_slot_take(struct ag_login *l)
{
    struct ag_refresh_slot *best = NULL;
    for (size_t i = 0; i < AG_REFRESH_SLOTS; i++) {
        struct ag_refresh_slot *sl = &l->slots[i];
        if (!sl->used)
            return sl;
        if (!sl->running && (!best || sl->done_at < best->done_at))
            best = sl;
    }
    if (best)
        ag_login_slot_reset(best);
    return best;
}

static enum ag_rc ag_login_slot_outcome(struct ag_login *l, struct ag_arena *a,
                                        const struct ag_refresh_slot *sl, struct ag_session **out,
                                        struct ag_err *err)
{
    enum ag_rc rc = sl->rc;
    char *json = sl->session ? ag_arena_strdup(a, sl->session) : NULL;
    char msg[sizeof(sl->msg)];
    memcpy(msg, sl->msg, sizeof(msg));
    pthread_mutex_unlock(&l->lock);
    if (rc != AG_OK || !json)
        return ag_err_set(err, rc != AG_OK ? rc : AG_EUPSTREAM, "%s",
                          msg[0] ? msg : "refresh failed");
    return ag_session_parse(a, json, strlen(json), out, err);
}

/* ---- the refresh threads ---- */

static long ag_login_http_ms(const struct ag_login *l)
{
    return l->cfg->oidc.http_timeout_ms > 0 ? l->cfg->oidc.http_timeout_ms : 5000;
}

/* Runs one queued slot (its session JSON in job), outside the lock. */
static enum ag_rc ag_login_refresh_job(struct ag_login *l, const uint8_t *key, const char *job,
                                       long long queued_ms, char **result, struct ag_err *err)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_session *s = NULL, *fresh = NULL;
    enum ag_rc rc = ag_session_parse(a, job, strlen(job), &s, err);
    if (rc == AG_OK && ag_breaker_now_ms() - queued_ms > ag_login_http_ms(l))
        rc = ag_err_set(err, AG_ETIMEOUT, "waited too long for a refresh thread");
    long long now = ag_login_now(l);
    bool handled = false;
    if (rc == AG_OK)
        rc = ag_login_refresh_shared(l, a, s, key, now, &fresh, &handled, err);
    if (rc == AG_OK && !handled)
        rc = ag_login_refresh_now(l, a, s, now, &fresh, err);
    if (rc == AG_OK) {
        *result = strdup(ag_session_serialize(a, fresh));
        if (!*result)
            abort();
    } else if (rc == AG_EUPSTREAM || rc == AG_ETIMEOUT) {
        struct ag_log_ctx lc = {.user = s ? s->username : NULL};
        ag_log(AG_LOG_WARN, &lc, "session: refresh postponed: %s", err->msg);
    }
    ag_arena_free(a);
    return rc;
}

static void *ag_login_refresh_main(void *arg)
{
    struct ag_login *l = arg;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (l->q_head < 0 && !l->q_stop)
            pthread_cond_wait(&l->q_cond, &l->lock);
        if (l->q_head < 0)
            break;
        struct ag_refresh_slot *sl = &l->slots[l->q_head];
        l->q_head = sl->q_next;
        if (l->q_head < 0)
            l->q_tail = -1;
        sl->q_next = -1;
        sl->queued = false;
        uint8_t key[32];
        memcpy(key, sl->key, 32);
        char *job = sl->job;
        sl->job = NULL;
        long long queued_ms = sl->queued_ms;
        bool stopping = l->q_stop;
        pthread_mutex_unlock(&l->lock);

        struct ag_err err = {0};
        char *result = NULL;
        enum ag_rc rc = stopping ? ag_err_set(&err, AG_ETIMEOUT, "shutting down")
                                 : ag_login_refresh_job(l, key, job, queued_ms, &result, &err);
        ag_login_str_drop(&job);

        pthread_mutex_lock(&l->lock);
        sl->running = false;
        sl->rc = rc;
        sl->session = result;
        snprintf(sl->msg, sizeof(sl->msg), "%s", rc == AG_OK ? "" : err.msg);
        sl->done_at = ag_login_now(l);
        /* A success answers the old cookie for as long as the old refresh token could come
         * back (bounded), so a browser idle past the old token's expiry does not spend the
         * rotated refresh token again; a failure only briefly, so the next request retries. */
        long keep = AG_REFRESH_REMEMBER_S;
        if (rc == AG_OK && sl->old_refresh_expires_at > sl->done_at)
            keep = (long)(sl->old_refresh_expires_at - sl->done_at);
        if (keep > AG_REFRESH_KEEP_MAX_S)
            keep = AG_REFRESH_KEEP_MAX_S;
        if (keep < AG_REFRESH_REMEMBER_S)
            keep = AG_REFRESH_REMEMBER_S;
        if (rc == AG_EUPSTREAM || rc == AG_ETIMEOUT)
            keep = 2;
        sl->keep_until = sl->done_at + keep;
        struct ag_login_waiter *w = sl->waiters;
        sl->waiters = NULL;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
        while (w) { /* outside the lock: a callback may queue work elsewhere */
            struct ag_login_waiter *next = w->next;
            w->next = NULL;
            w->cb(w->arg);
            w = next;
        }
        pthread_mutex_lock(&l->lock);
        l->q_running--; /* after the callbacks: ag_login_quiesce means they all ran */
        pthread_cond_broadcast(&l->cond);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

enum ag_rc ag_login_refresh_start(struct ag_login *l, struct ag_err *err)
{
    l->q_head = l->q_tail = -1;
    pthread_cond_init(&l->q_cond, NULL);
    for (int i = 0; i < AG_REFRESH_THREADS; i++) {
        if (pthread_create(&l->q_threads[i], NULL, ag_login_refresh_main, l) != 0)
            return ag_err_set(err, AG_EIO, "cannot start the refresh threads");
        l->q_n = i + 1;
    }
    return AG_OK;
}

void ag_login_refresh_stop(struct ag_login *l)
{
    pthread_mutex_lock(&l->lock);
    l->q_stop = true;
    pthread_cond_broadcast(&l->q_cond);
    pthread_mutex_unlock(&l->lock);
    for (int i = 0; i < l->q_n; i++)
        pthread_join(l->q_threads[i], NULL);
    l->q_n = 0;
    pthread_cond_destroy(&l->q_cond);
}

void ag_login_quiesce(struct ag_login *l, int max_s)
{
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < max_s && (l->q_running > 0 || l->q_head >= 0); i++) {
        struct timespec d;
        clock_gettime(CLOCK_REALTIME, &d);
        d.tv_sec += 1;
        pthread_cond_timedwait(&l->cond, &l->lock, &d);
    }
    pthread_mutex_unlock(&l->lock);
}

/* Queues s for a refresh thread in a new slot; the lock is held. */
static enum ag_rc ag_login_refresh_queue(struct ag_login *l, struct ag_arena *a,
                                         const struct ag_session *s, const uint8_t *key,
                                         struct ag_err *err)
{
    struct ag_refresh_slot *sl = ag_login_slot_take(l);
    if (!sl)
        return ag_err_set(err, AG_EUPSTREAM, "too many refreshes in progress");
    memcpy(sl->key, key, 32);
    sl->used = sl->running = sl->queued = true;
    sl->job = strdup(ag_session_serialize(a, s));
    if (!sl->job)
        abort();
    sl->old_refresh_expires_at = s->refresh_expires_at;
    sl->queued_ms = ag_breaker_now_ms();
    sl->q_next = -1;
    int idx = (int)(sl - l->slots);
    if (l->q_tail >= 0)
        l->slots[l->q_tail].q_next = idx;
    else
        l->q_head = idx;
    l->q_tail = idx;
    l->q_running++;
    pthread_cond_signal(&l->q_cond);
    return AG_OK;
}

enum ag_rc ag_login_refresh(struct ag_login *l, struct ag_arena *a, const struct ag_session *s,
                            long long now, enum ag_refresh_how how, uint8_t key_out[32],
                            struct ag_session **out, struct ag_err *err)
{
    uint8_t key[32];
    SHA256((const uint8_t *)s->refresh_token, strlen(s->refresh_token), key);
    if (key_out)
        memcpy(key_out, key, 32);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ag_login_http_ms(l) / 500 + 2;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        struct ag_refresh_slot *sl = ag_login_slot_find(l, key);
        if (sl && !sl->running && now <= sl->keep_until)      /* refreshed a moment ago: reuse */
            return ag_login_slot_outcome(l, a, sl, out, err); /* unlocks */
        if (sl && !sl->running)
            ag_login_slot_reset(sl);
        else if (sl && how == AG_REFRESH_WAIT) {
            if (pthread_cond_timedwait(&l->cond, &l->lock, &deadline) != 0) {
                pthread_mutex_unlock(&l->lock);
                return ag_err_set(err, AG_ETIMEOUT, "waited too long for a concurrent refresh");
            }
            continue;
        } else if (sl) {
            pthread_mutex_unlock(&l->lock);
            return ag_err_set(err, AG_EAGAIN, "refresh in progress");
        }
        /* nothing running for this token: start one, unless the IdP's circuit is open */
        if (ag_breaker_refusing(&l->breaker, ag_breaker_now_ms())) {
            pthread_mutex_unlock(&l->lock);
            return ag_err_set(err, AG_EUPSTREAM, "identity provider circuit open");
        }
        enum ag_rc rc = ag_login_refresh_queue(l, a, s, key, err);
        if (rc != AG_OK || how != AG_REFRESH_WAIT) {
            pthread_mutex_unlock(&l->lock);
            return rc != AG_OK ? rc : ag_err_set(err, AG_EAGAIN, "refresh started");
        }
    }
}

bool ag_login_when_refreshed(struct ag_login *l, const struct ag_login_result *res,
                             struct ag_login_waiter *w)
{
    pthread_mutex_lock(&l->lock);
    struct ag_refresh_slot *sl = ag_login_slot_find(l, res->wait_key);
    bool parked = sl && sl->running;
    if (parked) {
        w->next = sl->waiters;
        sl->waiters = w;
    }
    pthread_mutex_unlock(&l->lock);
    return parked;
}

enum ag_breaker_state ag_login_idp_circuit(struct ag_login *l)
{
    return ag_breaker_state_get(&l->breaker);
}
