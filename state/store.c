/* Shared state: the in-memory sets and the calls of store.h; the state thread is in sync.c. */
#include "state/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/log.h"
#include "core/secret.h"
#include "state/store_int.h"

uint64_t ag_state_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void ag_state_digest(const struct ag_state *s, char kind, const char *value,
                            uint8_t out[AG_REVOKE_DIGEST_LEN])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    size_t vl = strlen(value);
    unsigned char buf[512];
    unsigned char *msg = vl + 2 <= sizeof(buf) ? buf : malloc(vl + 2);
    if (!msg)
        abort();
    msg[0] = (unsigned char)kind;
    msg[1] = ':';
    memcpy(msg + 2, value, vl);
    HMAC(EVP_sha256(), s->hash_key, sizeof(s->hash_key), msg, vl + 2, mac, &n);
    if (msg != buf)
        free(msg);
    memcpy(out, mac, AG_REVOKE_DIGEST_LEN);
}

/* prefix + ns + ":" + hex digest of ns/value */
static void ag_state_key(const struct ag_state *s, const char *ns, const char *value, char *out,
                         size_t outlen)
{
    uint8_t d[AG_REVOKE_DIGEST_LEN];
    char kind = ns[0];
    char tagged[AG_STATE_KEY_MAX];
    snprintf(tagged, sizeof(tagged), "%s/", ns);
    /* the namespace is part of the MAC input, so equal values in two namespaces differ */
    size_t tl = strlen(tagged), vl = strlen(value);
    char *in = malloc(tl + vl + 1);
    if (!in)
        abort();
    memcpy(in, tagged, tl);
    memcpy(in + tl, value, vl + 1);
    ag_state_digest(s, kind, in, d);
    ag_secret_wipe(in, tl + vl);
    free(in);
    static const char hex[] = "0123456789abcdef";
    char hx[AG_REVOKE_DIGEST_LEN * 2 + 1];
    for (size_t i = 0; i < AG_REVOKE_DIGEST_LEN; i++) {
        hx[2 * i] = hex[d[i] >> 4];
        hx[2 * i + 1] = hex[d[i] & 15];
    }
    hx[sizeof(hx) - 1] = '\0';
    snprintf(out, outlen, "%s%s:%s", s->prefix, ns, hx);
}

/* ---- ops: caller side ---- */

struct ag_state_op *ag_state_op_new(struct ag_state *s, int argc, const char *const *argv,
                                    const size_t *lens)
{
    struct ag_state_op *op = calloc(1, sizeof(*op));
    if (!op)
        abort();
    op->s = s;
    op->argc = argc;
    for (int i = 0; i < argc; i++) {
        size_t n = lens ? lens[i] : strlen(argv[i]);
        op->argv[i] = malloc(n + 1);
        if (!op->argv[i])
            abort();
        memcpy(op->argv[i], argv[i], n);
        op->argv[i][n] = '\0';
        op->lens[i] = n;
    }
    return op;
}

void ag_state_op_free(struct ag_state_op *op)
{
    for (int i = 0; i < op->argc; i++) {
        ag_secret_wipe(op->argv[i], op->lens[i]);
        free(op->argv[i]);
    }
    ag_resp_free(op->reply);
    free(op);
}

void ag_state_wake(struct ag_state *s)
{
    uint64_t one = 1;
    if (write(s->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        ag_log(AG_LOG_WARN, NULL, "state: cannot wake the state thread: %s", strerror(errno));
}

/* Queues op; with op->wait, waits for the reply (returned, owned by the caller) or the timeout. */
enum ag_rc ag_state_run(struct ag_state *s, struct ag_state_op *op, struct ag_resp **reply,
                        struct ag_err *err)
{
    op->wait = reply != NULL;
    pthread_mutex_lock(&s->mu);
    if (s->ops_tail)
        s->ops_tail->next = op;
    else
        s->ops_head = op;
    s->ops_tail = op;
    pthread_mutex_unlock(&s->mu);
    ag_state_wake(s);
    if (!reply)
        return AG_OK;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    long ms = s->command_timeout_ms + 50;
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (!op->done) {
        if (pthread_cond_timedwait(&s->cond, &s->mu, &dl) == ETIMEDOUT)
            break;
    }
    if (!op->done) {
        op->abandoned = true; /* the state thread frees it */
        pthread_mutex_unlock(&s->mu);
        return ag_err_set(err, AG_ETIMEOUT, "Redis did not answer within %ld ms",
                          s->command_timeout_ms);
    }
    pthread_mutex_unlock(&s->mu);
    *reply = op->reply;
    op->reply = NULL;
    ag_state_op_free(op);
    if (!*reply)
        return ag_err_set(err, AG_EUPSTREAM, "Redis is not reachable");
    if ((*reply)->type == AG_RESP_ERROR) {
        ag_err_set(err, AG_EUPSTREAM, "Redis error: %.160s", (*reply)->str);
        ag_resp_free(*reply);
        *reply = NULL;
        return AG_EUPSTREAM;
    }
    return AG_OK;
}

void ag_state_apply(struct ag_state *s, const struct ag_revocation *r)
{
    pthread_rwlock_wrlock(&s->rw);
    if (ag_revset_add(s->revoked, r) != AG_OK)
        ag_log(AG_LOG_ERROR, NULL, "state: revocation set full (%zu entries)",
               ag_revset_count(s->revoked));
    atomic_store(&s->n_revoked, ag_revset_count(s->revoked));
    pthread_rwlock_unlock(&s->rw);
}

enum ag_rc ag_state_new(const struct ag_state_opts *o, struct ag_state **out, struct ag_err *err)
{
    struct ag_state *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->epfd = s->evfd = -1;
    pthread_rwlock_init(&s->rw, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->revoked = ag_revset_new(0);
    s->used = ag_revset_new(0);
    s->deny_when_down = o->deny_when_down;
    s->command_timeout_ms = o->command_timeout_ms > 0 ? o->command_timeout_ms : 500;
    s->resync_s = o->resync_s > 0 ? o->resync_s : 30;
    snprintf(s->prefix, sizeof(s->prefix), "%s", o->key_prefix ? o->key_prefix : "airgate:");
    snprintf(s->zkey, sizeof(s->zkey), "%srevocations", s->prefix);
    snprintf(s->channel, sizeof(s->channel), "%srevocations", s->prefix);
    if (o->hash_key && o->hash_key_len > 0) {
        unsigned n = 0;
        HMAC(EVP_sha256(), o->hash_key, o->hash_key_len, (const unsigned char *)"airgate state v1",
             16, s->hash_key, &n);
    } else if (ag_random_bytes(s->hash_key, sizeof(s->hash_key), err) != AG_OK) {
        ag_state_free(s);
        return AG_EIO;
    }
    uint8_t tok[16];
    if (ag_random_bytes(tok, sizeof(tok), err) != AG_OK) {
        ag_state_free(s);
        return AG_EIO;
    }
    for (size_t i = 0; i < sizeof(tok); i++)
        snprintf(s->owner + 2 * i, 3, "%02x", tok[i]);
    atomic_store(&s->up, true);
    if (o->redis_url && *o->redis_url) {
        s->shared = true;
        atomic_store(&s->up, false);
        enum ag_rc rc = ag_state_start_redis(s, o, err);
        if (rc != AG_OK) {
            ag_state_free(s);
            return rc;
        }
    }
    *out = s;
    return AG_OK;
}

void ag_state_free(struct ag_state *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    ag_redis_conn_free(s->cmd); /* pending callbacks run with NULL */
    ag_redis_conn_free(s->sub);
    ag_state_drain_ops(s); /* none can be sent now: each completes with NULL */
    while (s->outbox) {
        struct ag_state_outbox *n = s->outbox->next;
        free(s->outbox);
        s->outbox = n;
    }
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->evfd >= 0)
        close(s->evfd);
    ag_revset_free(s->revoked);
    ag_revset_free(s->used);
    pthread_rwlock_destroy(&s->rw);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    ag_secret_wipe(s->hash_key, sizeof(s->hash_key));
    free(s);
}

bool ag_state_shared(const struct ag_state *s)
{
    return s->shared;
}

bool ag_state_up(const struct ag_state *s)
{
    return atomic_load(&((struct ag_state *)s)->up);
}

bool ag_state_deny_when_down(const struct ag_state *s)
{
    return s->shared && s->deny_when_down;
}

/* ---- revocations ---- */

void ag_state_revoke_digest(struct ag_state *s, const struct ag_revocation *r)
{
    ag_state_apply(s, r);
    if (!s->shared)
        return;
    struct ag_state_outbox *e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    e->r = *r;
    pthread_mutex_lock(&s->mu);
    if (s->n_outbox < AG_STATE_OUTBOX_MAX) {
        e->next = s->outbox;
        s->outbox = e;
        s->n_outbox++;
        e = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (e) {
        ag_log(AG_LOG_ERROR, NULL, "state: %d revocations wait for Redis; one was not queued",
               AG_STATE_OUTBOX_MAX);
        free(e);
    }
    ag_state_wake(s);
}

void ag_state_revoke(struct ag_state *s, enum ag_revoke_kind kind, const char *value,
                     long long revoked_at, long long until)
{
    if (!value || !*value)
        return;
    struct ag_revocation r = {.kind = (char)kind, .revoked_at = revoked_at, .until = until};
    ag_state_digest(s, (char)kind, value, r.digest);
    ag_state_revoke_digest(s, &r);
}

bool ag_state_revoked(struct ag_state *s, const char *session_id, const char *sid, const char *sub,
                      long long created_at, long long now)
{
    if (atomic_load_explicit(&s->n_revoked, memory_order_acquire) == 0)
        return false;
    const char *vals[3] = {session_id, sid, sub};
    const char kinds[3] = {AG_REVOKE_SESSION, AG_REVOKE_SID, AG_REVOKE_SUB};
    uint8_t d[3][AG_REVOKE_DIGEST_LEN];
    for (int i = 0; i < 3; i++)
        if (vals[i] && *vals[i])
            ag_state_digest(s, kinds[i], vals[i], d[i]);
    bool hit = false;
    pthread_rwlock_rdlock(&s->rw);
    for (int i = 0; i < 3 && !hit; i++)
        hit = vals[i] && *vals[i] && ag_revset_hit(s->revoked, kinds[i], d[i], created_at, now);
    pthread_rwlock_unlock(&s->rw);
    return hit;
}

/* ---- single use, locks, values ---- */

static enum ag_rc ag_state_claim_local(struct ag_state *s, const char *ns, const char *value,
                                       long ttl_s, struct ag_err *err)
{
    char key[AG_STATE_KEY_MAX];
    ag_state_key(s, ns, value, key, sizeof(key));
    struct ag_revocation r = {.kind = 'o', .revoked_at = 0};
    ag_state_digest(s, 'o', key, r.digest);
    long long now = (long long)time(NULL);
    r.until = now + ttl_s;
    enum ag_rc rc = AG_OK;
    pthread_rwlock_wrlock(&s->rw);
    if (ag_revset_hit(s->used, 'o', r.digest, 0, now))
        rc = ag_err_set(err, AG_EDENIED, "%s was used before", ns);
    else if (ag_revset_add(s->used, &r) != AG_OK)
        rc = ag_err_set(err, AG_ENOMEM, "too many single-use values remembered");
    pthread_rwlock_unlock(&s->rw);
    return rc;
}

enum ag_rc ag_state_claim_once(struct ag_state *s, const char *ns, const char *value, long ttl_s,
                               struct ag_err *err)
{
    enum ag_rc rc = ag_state_claim_local(s, ns, value, ttl_s, err);
    if (rc != AG_OK || !s->shared)
        return rc;
    char key[AG_STATE_KEY_MAX], ttl[24];
    ag_state_key(s, ns, value, key, sizeof(key));
    snprintf(ttl, sizeof(ttl), "%ld", ttl_s > 0 ? ttl_s : 1);
    const char *argv[6] = {"SET", key, "1", "NX", "EX", ttl};
    struct ag_resp *reply = NULL;
    rc = ag_state_run(s, ag_state_op_new(s, 6, argv, NULL), &reply, err);
    if (rc != AG_OK) {
        if (s->deny_when_down)
            return AG_EUPSTREAM;
        ag_log(AG_LOG_WARN, NULL, "state: %s checked in this process only: %s", ns, err->msg);
        return AG_OK;
    }
    bool first = ag_resp_is(reply, "OK");
    ag_resp_free(reply);
    return first ? AG_OK : ag_err_set(err, AG_EDENIED, "%s was used before (another replica)", ns);
}

enum ag_rc ag_state_lock(struct ag_state *s, const char *ns, const char *name, long ttl_ms,
                         bool *won, struct ag_err *err)
{
    *won = false;
    if (!s->shared || !ag_state_up(s))
        return ag_err_set(err, AG_EUPSTREAM, "no shared state");
    char key[AG_STATE_KEY_MAX], ttl[24];
    ag_state_key(s, ns, name, key, sizeof(key));
    snprintf(ttl, sizeof(ttl), "%ld", ttl_ms > 0 ? ttl_ms : 1);
    const char *argv[6] = {"SET", key, s->owner, "NX", "PX", ttl};
    struct ag_resp *reply = NULL;
    enum ag_rc rc = ag_state_run(s, ag_state_op_new(s, 6, argv, NULL), &reply, err);
    if (rc != AG_OK)
        return rc;
    *won = ag_resp_is(reply, "OK");
    ag_resp_free(reply);
    return AG_OK;
}

void ag_state_unlock(struct ag_state *s, const char *ns, const char *name)
{
    if (!s->shared)
        return;
    static const char script[] =
        "if redis.call('get',KEYS[1])==ARGV[1] then return redis.call('del',KEYS[1]) end return 0";
    char key[AG_STATE_KEY_MAX];
    ag_state_key(s, ns, name, key, sizeof(key));
    const char *argv[5] = {"EVAL", script, "1", key, s->owner};
    struct ag_err err = {0};
    (void)ag_state_run(s, ag_state_op_new(s, 5, argv, NULL), NULL, &err);
}

enum ag_rc ag_state_get(struct ag_state *s, const char *ns, const char *name, char **val,
                        size_t *len, struct ag_err *err)
{
    *val = NULL;
    *len = 0;
    if (!s->shared || !ag_state_up(s))
        return ag_err_set(err, AG_EUPSTREAM, "no shared state");
    char key[AG_STATE_KEY_MAX];
    ag_state_key(s, ns, name, key, sizeof(key));
    const char *argv[2] = {"GET", key};
    struct ag_resp *reply = NULL;
    enum ag_rc rc = ag_state_run(s, ag_state_op_new(s, 2, argv, NULL), &reply, err);
    if (rc != AG_OK)
        return rc;
    if (reply->type == AG_RESP_STRING) {
        *val = reply->str;
        *len = reply->len;
        reply->str = NULL;
    }
    ag_resp_free(reply);
    return AG_OK;
}

enum ag_rc ag_state_put(struct ag_state *s, const char *ns, const char *name, const char *val,
                        size_t len, long ttl_s, struct ag_err *err)
{
    if (!s->shared || !ag_state_up(s))
        return ag_err_set(err, AG_EUPSTREAM, "no shared state");
    char key[AG_STATE_KEY_MAX], ttl[24];
    ag_state_key(s, ns, name, key, sizeof(key));
    snprintf(ttl, sizeof(ttl), "%ld", ttl_s > 0 ? ttl_s : 1);
    const char *argv[5] = {"SET", key, val, "EX", ttl};
    size_t lens[5] = {3, strlen(key), len, 2, strlen(ttl)};
    struct ag_resp *reply = NULL;
    enum ag_rc rc = ag_state_run(s, ag_state_op_new(s, 5, argv, lens), &reply, err);
    ag_resp_free(reply);
    return rc;
}

void ag_state_stats(struct ag_state *s, struct ag_state_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->shared = s->shared;
    out->up = ag_state_up(s);
    out->revocations = atomic_load(&s->n_revoked);
    pthread_mutex_lock(&s->mu);
    out->unpublished = s->n_outbox + s->n_inflight_outbox;
    pthread_mutex_unlock(&s->mu);
    out->received = atomic_load(&s->received);
    out->errors = atomic_load(&s->errors);
}
