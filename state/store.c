/* Shared state: the in-memory sets, the state thread and its Redis connections; see store.h. */
#include "state/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/log.h"
#include "core/secret.h"
#include "core/url.h"
#include "state/redis_conn.h"

#define AG_STATE_MAX_ARGS 7
#define AG_STATE_OUTBOX_MAX 100000
#define AG_STATE_KEY_MAX 200

/* A command handed from a caller thread to the state thread. */
struct ag_state_op {
    int argc;
    char *argv[AG_STATE_MAX_ARGS];
    size_t lens[AG_STATE_MAX_ARGS];
    bool wait; /* a caller waits for the reply (else: fire and forget) */
    bool done, abandoned;
    struct ag_resp *reply;
    struct ag_state *s;
    struct ag_state_op *next;
};

/* A revocation not yet stored in Redis. */
struct ag_state_outbox {
    struct ag_revocation r;
    struct ag_state_outbox *next;
};

struct ag_state {
    bool shared, deny_when_down;
    uint8_t hash_key[32];
    char prefix[64];
    char zkey[96], channel[96];
    char owner[33]; /* this process's lock token */
    long command_timeout_ms, resync_s;

    pthread_rwlock_t rw; /* revoked, used */
    struct ag_revset *revoked, *used;
    atomic_size_t n_revoked;

    pthread_mutex_t mu; /* ops, outbox, flags below */
    pthread_cond_t cond;
    struct ag_state_op *ops_head, *ops_tail;
    struct ag_state_outbox *outbox;
    size_t n_outbox, n_inflight_outbox;
    atomic_bool up, stop;
    atomic_ullong received, errors;

    /* state thread only */
    pthread_t thread;
    bool thread_started;
    int epfd, evfd;
    struct ag_fd_handler wake;
    struct ag_redis_conn *cmd, *sub;
    bool subscribed, resync_needed;
    uint64_t next_resync_ms, next_expire_ms;
};

static uint64_t ag_state_now_ms(void)
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

static struct ag_state_op *ag_state_op_new(struct ag_state *s, int argc, const char *const *argv,
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

static void ag_state_op_free(struct ag_state_op *op)
{
    for (int i = 0; i < op->argc; i++) {
        ag_secret_wipe(op->argv[i], op->lens[i]);
        free(op->argv[i]);
    }
    ag_resp_free(op->reply);
    free(op);
}

static void ag_state_wake(struct ag_state *s)
{
    uint64_t one = 1;
    if (write(s->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        ag_log(AG_LOG_WARN, NULL, "state: cannot wake the state thread: %s", strerror(errno));
}

/* Queues op; with op->wait, waits for the reply (returned, owned by the caller) or the timeout. */
static enum ag_rc ag_state_run(struct ag_state *s, struct ag_state_op *op, struct ag_resp **reply,
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

/* ---- ops: state thread side ---- */

static void ag_state_op_done(void *arg, struct ag_resp *reply)
{
    struct ag_state_op *op = arg;
    struct ag_state *s = op->s;
    if (!op->wait) {
        ag_resp_free(reply);
        ag_state_op_free(op);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (op->abandoned) {
        pthread_mutex_unlock(&s->mu);
        ag_resp_free(reply);
        ag_state_op_free(op);
        return;
    }
    op->reply = reply;
    op->done = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void ag_state_drain_ops(struct ag_state *s)
{
    pthread_mutex_lock(&s->mu);
    struct ag_state_op *op = s->ops_head;
    s->ops_head = s->ops_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    while (op) {
        struct ag_state_op *next = op->next;
        op->next = NULL;
        struct ag_err err = {0};
        if (ag_redis_conn_send(s->cmd, op->argc, (const char *const *)op->argv, op->lens,
                               ag_state_op_done, op, &err) != AG_OK)
            ag_state_op_done(op, NULL);
        op = next;
    }
}

/* ---- revocations through Redis ---- */

static void ag_state_ignore(void *arg, struct ag_resp *reply)
{
    (void)arg;
    ag_resp_free(reply);
}

static void ag_state_apply(struct ag_state *s, const struct ag_revocation *r)
{
    pthread_rwlock_wrlock(&s->rw);
    if (ag_revset_add(s->revoked, r) != AG_OK)
        ag_log(AG_LOG_ERROR, NULL, "state: revocation set full (%zu entries)",
               ag_revset_count(s->revoked));
    atomic_store(&s->n_revoked, ag_revset_count(s->revoked));
    pthread_rwlock_unlock(&s->rw);
}

struct ag_state_pub {
    struct ag_state *s;
    struct ag_state_outbox *entry;
};

static void ag_state_published(void *arg, struct ag_resp *reply)
{
    struct ag_state_pub *p = arg;
    struct ag_state *s = p->s;
    bool ok = reply && reply->type == AG_RESP_INTEGER;
    ag_resp_free(reply);
    pthread_mutex_lock(&s->mu);
    s->n_inflight_outbox--;
    if (ok) {
        free(p->entry);
    } else { /* back into the outbox: published after the next reconnect */
        p->entry->next = s->outbox;
        s->outbox = p->entry;
        s->n_outbox++;
    }
    pthread_mutex_unlock(&s->mu);
    free(p);
}

static void ag_state_flush_outbox(struct ag_state *s)
{
    if (!ag_redis_conn_up(s->cmd))
        return;
    pthread_mutex_lock(&s->mu);
    struct ag_state_outbox *e = s->outbox;
    s->outbox = NULL;
    s->n_inflight_outbox += s->n_outbox;
    s->n_outbox = 0;
    pthread_mutex_unlock(&s->mu);
    while (e) {
        struct ag_state_outbox *next = e->next;
        char member[AG_REVOCATION_TEXT_MAX], score[24];
        size_t ml = ag_revocation_format(&e->r, member, sizeof(member));
        snprintf(score, sizeof(score), "%lld", e->r.until);
        const char *zadd[4] = {"ZADD", s->zkey, score, member};
        size_t zl[4] = {4, strlen(s->zkey), strlen(score), ml};
        const char *pub[3] = {"PUBLISH", s->channel, member};
        size_t pl[3] = {7, strlen(s->channel), ml};
        struct ag_state_pub *p = calloc(1, sizeof(*p));
        if (!p)
            abort();
        p->s = s;
        p->entry = e;
        struct ag_err err = {0};
        /* the PUBLISH answer (receivers count) confirms both: commands answer in order */
        if (ag_redis_conn_send(s->cmd, 4, zadd, zl, ag_state_ignore, NULL, &err) != AG_OK ||
            ag_redis_conn_send(s->cmd, 3, pub, pl, ag_state_published, p, &err) != AG_OK)
            ag_state_published(p, NULL);
        e = next;
    }
}

static void ag_state_synced(void *arg, struct ag_resp *reply)
{
    struct ag_state *s = arg;
    if (!reply || reply->type != AG_RESP_ARRAY) {
        if (reply)
            ag_log(AG_LOG_WARN, NULL, "state: revocation resync failed: unexpected answer");
        ag_resp_free(reply);
        s->resync_needed = true;
        return;
    }
    size_t bad = 0;
    for (size_t i = 0; i < reply->n; i++) {
        struct ag_revocation r;
        struct ag_err err = {0};
        const struct ag_resp *m = reply->elem[i];
        if (m->type != AG_RESP_STRING || ag_revocation_parse(m->str, m->len, &r, &err) != AG_OK) {
            bad++;
            continue;
        }
        ag_state_apply(s, &r);
    }
    if (bad)
        ag_log(AG_LOG_WARN, NULL, "state: ignored %zu unreadable revocation entries", bad);
    ag_log(AG_LOG_DEBUG, NULL, "state: revocations re-synced (%zu in Redis)", reply->n);
    ag_resp_free(reply);
}

static void ag_state_resync(struct ag_state *s, uint64_t now_ms)
{
    char min[24];
    snprintf(min, sizeof(min), "(%lld", (long long)time(NULL));
    const char *trim[4] = {"ZREMRANGEBYSCORE", s->zkey, "-inf", min + 1};
    size_t tl[4] = {16, strlen(s->zkey), 4, strlen(min + 1)};
    const char *get[4] = {"ZRANGEBYSCORE", s->zkey, min, "+inf"};
    size_t gl[4] = {13, strlen(s->zkey), strlen(min), 4};
    struct ag_err err = {0};
    if (ag_redis_conn_send(s->cmd, 4, trim, tl, ag_state_ignore, NULL, &err) != AG_OK ||
        ag_redis_conn_send(s->cmd, 4, get, gl, ag_state_synced, s, &err) != AG_OK)
        return;
    s->resync_needed = false;
    s->next_resync_ms = now_ms + (uint64_t)s->resync_s * 1000u;
}

static void ag_state_on_message(void *arg, struct ag_resp *msg)
{
    struct ag_state *s = arg;
    const struct ag_resp *payload = msg->elem[2];
    struct ag_revocation r;
    struct ag_err err = {0};
    if (payload->type == AG_RESP_STRING &&
        ag_revocation_parse(payload->str, payload->len, &r, &err) == AG_OK) {
        ag_state_apply(s, &r);
        atomic_fetch_add(&s->received, 1);
    } else {
        ag_log(AG_LOG_WARN, NULL, "state: ignored an unreadable revocation message");
    }
    ag_resp_free(msg);
}

static void ag_state_update_up(struct ag_state *s, const char *why)
{
    bool up = ag_redis_conn_up(s->cmd) && s->subscribed;
    if (atomic_exchange(&s->up, up) == up)
        return;
    if (up)
        ag_log(AG_LOG_INFO, NULL,
               "state: shared state is up (Redis connected, revocations "
               "subscribed)");
    else
        ag_log(AG_LOG_WARN, NULL, "state: shared state is down (%s); %s", why,
               s->deny_when_down ? "session requests are refused until it is back"
                                 : "serving on the last known revocations");
}

static void ag_state_subscribed(void *arg, struct ag_resp *reply)
{
    struct ag_state *s = arg;
    bool ok = reply && reply->type == AG_RESP_ARRAY && reply->n >= 2 &&
              ag_resp_is(reply->elem[0], "subscribe");
    ag_resp_free(reply);
    if (!ok) {
        if (reply)
            ag_redis_conn_reset(s->sub, "subscriber connection: SUBSCRIBE was refused");
        return;
    }
    s->subscribed = true;
    s->resync_needed = true; /* subscribed first, then read: no revocation falls in between */
    ag_state_update_up(s, "subscribed");
}

static void ag_state_conn_state(void *arg, bool up, const char *why)
{
    struct ag_state *s = arg;
    if (!up) {
        atomic_fetch_add(&s->errors, 1);
        ag_log(AG_LOG_WARN, NULL, "state: %s", why);
    }
    ag_state_update_up(s, why);
}

static void ag_state_sub_state(void *arg, bool up, const char *why)
{
    struct ag_state *s = arg;
    if (!up) {
        s->subscribed = false;
        ag_state_conn_state(arg, false, why);
        return;
    }
    const char *argv[2] = {"SUBSCRIBE", s->channel};
    size_t lens[2] = {9, strlen(s->channel)};
    struct ag_err err = {0};
    ag_redis_conn_set_subscriber(s->sub);
    if (ag_redis_conn_send(s->sub, 2, argv, lens, ag_state_subscribed, s, &err) != AG_OK)
        ag_log(AG_LOG_WARN, NULL, "state: cannot subscribe: %s", err.msg);
}

static void ag_state_on_wake(void *arg, uint32_t events)
{
    struct ag_state *s = arg;
    (void)events;
    uint64_t v;
    while (read(s->evfd, &v, sizeof(v)) > 0) {
    }
}

static void *ag_state_main(void *arg)
{
    struct ag_state *s = arg;
    struct epoll_event evs[16];
    while (!atomic_load(&s->stop)) {
        int n = epoll_wait(s->epfd, evs, 16, 50);
        for (int i = 0; i < n; i++) {
            struct ag_fd_handler *h = evs[i].data.ptr;
            h->on_event(h->arg, evs[i].events);
        }
        uint64_t now = ag_state_now_ms();
        ag_redis_conn_tick(s->cmd, now);
        ag_redis_conn_tick(s->sub, now);
        ag_state_drain_ops(s);
        if (ag_redis_conn_up(s->cmd) && s->subscribed) {
            ag_state_flush_outbox(s);
            if (s->resync_needed || now >= s->next_resync_ms)
                ag_state_resync(s, now);
        }
        if (now >= s->next_expire_ms) {
            long long t = (long long)time(NULL);
            pthread_rwlock_wrlock(&s->rw);
            atomic_store(&s->n_revoked, ag_revset_expire(s->revoked, t));
            ag_revset_expire(s->used, t);
            pthread_rwlock_unlock(&s->rw);
            s->next_expire_ms = now + 60000u;
        }
    }
    return NULL;
}

/* ---- set-up ---- */

static enum ag_rc ag_state_start_redis(struct ag_state *s, const struct ag_state_opts *o,
                                       struct ag_err *err)
{
    struct ag_url u;
    if (ag_url_parse(o->redis_url, AG_URL_REDIS | AG_URL_USERINFO, &u, err) != AG_OK)
        return ag_err_set(err, AG_ECONF, "state.redis_url %s", err->msg);
    if (u.tls)
        return ag_err_set(err, AG_ECONF,
                          "state.redis_url: rediss:// (TLS) is not supported: Debian 12's hiredis "
                          "is built without TLS; use redis:// inside the VPC with AUTH");
    long db = 0;
    if (u.path[0] == '/' && u.path[1]) {
        char *end = NULL;
        db = strtol(u.path + 1, &end, 10);
        if (!end || *end || db < 0 || db > 15)
            return ag_err_set(err, AG_ECONF, "state.redis_url: the database must be /0../15");
    }
    char user[128] = "";
    if (u.userinfo) {
        size_t n = u.userinfo_len;
        const char *colon = memchr(u.userinfo, ':', n);
        if (colon)
            return ag_err_set(err, AG_ECONF,
                              "state.redis_url: put the password in "
                              "state.password_file, not in the URL");
        if (n >= sizeof(user))
            return ag_err_set(err, AG_ECONF, "state.redis_url: user name too long");
        memcpy(user, u.userinfo, n);
        user[n] = '\0';
    }
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->epfd < 0 || s->evfd < 0)
        return ag_err_set(err, AG_EIO, "state: epoll/eventfd: %s", strerror(errno));
    s->wake.on_event = ag_state_on_wake;
    s->wake.arg = s;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->wake};
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &ev);
    struct ag_redis_conn_opts co = {
        .name = "commands",
        .host = u.host,
        .port = ag_url_port(&u),
        .user = user[0] ? user : NULL,
        .password = o->password,
        .password_len = o->password_len,
        .db = db,
        .connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 1000,
        .command_timeout_ms = s->command_timeout_ms,
        .on_state = ag_state_conn_state,
        .arg = s,
    };
    s->cmd = ag_redis_conn_new(&co, s->epfd);
    co.name = "subscriber";
    co.on_state = ag_state_sub_state;
    co.on_push = ag_state_on_message;
    s->sub = ag_redis_conn_new(&co, s->epfd);
    if (pthread_create(&s->thread, NULL, ag_state_main, s) != 0)
        return ag_err_set(err, AG_EIO, "state: cannot start the state thread");
    s->thread_started = true;
    ag_log(AG_LOG_INFO, NULL, "state: shared state on Redis %s:%u db %ld (prefix %s, %s when down)",
           u.host, ag_url_port(&u), db, s->prefix, s->deny_when_down ? "deny" : "serve");
    return AG_OK;
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
