/* The state thread: its own epoll with the two Redis connections (commands, subscriber), the
 * commands queued by callers, revocations published from the outbox and re-synced after each
 * (re)subscription and every resync_s. See store_int.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/url.h"
#include "state/store_int.h"

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

void ag_state_drain_ops(struct ag_state *s)
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

enum ag_rc ag_state_start_redis(struct ag_state *s, const struct ag_state_opts *o,
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
