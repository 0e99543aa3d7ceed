/* The upstream client's transfers: request setup, curl callbacks, retries, commands; the event
 * loop is in upstream_loop.c. Lock order: fwd->lock, then libmicrohttpd's internal locks (the
 * wake callback resumes a connection while holding fwd->lock). */
#include "proxy/upstream.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/config.h"
#include "core/arena.h"
#include "core/log.h"
#include "proxy/metrics.h"
#include "proxy/pool.h"
#include "proxy/upstream_int.h"

/* The engine whose thread is running (callbacks need it to queue wakeups). */
static _Thread_local struct ag_upstream *ag_up_self;

void ag_up_set_self(struct ag_upstream *u)
{
    ag_up_self = u;
}

uint64_t ag_fwd_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void ag_fwd_unref(struct ag_fwd *f)
{
    if (atomic_fetch_sub(&f->refs, 1) == 1)
        f->release(f);
}

void ag_upstream_header_add(struct ag_fwd *f, const char *name, const char *value)
{
    struct curl_slist *node = ag_arena_alloc(f->arena, sizeof(*node));
    /* curl: "Name:" removes a header it would add itself, "Name;" sends an empty one. Built
     * with memcpy: this runs ~20 times per request */
    size_t nl = strlen(name), vl = value ? strlen(value) : 0;
    char *d = ag_arena_alloc(f->arena, nl + vl + 3);
    memcpy(d, name, nl);
    if (!value || !*value) {
        d[nl] = value ? ';' : ':';
        d[nl + 1] = '\0';
    } else {
        d[nl] = ':';
        d[nl + 1] = ' ';
        memcpy(d + nl + 2, value, vl + 1);
    }
    node->data = d;
    node->next = NULL;
    if (f->req_headers_tail)
        ((struct curl_slist *)f->req_headers_tail)->next = node;
    else
        f->req_headers = node;
    f->req_headers_tail = node;
}

static void ag_up_mark_wake(struct ag_upstream *u, struct ag_fwd *f)
{
    if (!f->wake_pending) {
        f->wake_pending = true;
        f->wnext = u->wake_list;
        u->wake_list = f;
    }
}

/* Resumes fronts whose condition may now hold; batched after each perform round so one
 * upstream read that brings head, body and end costs one wakeup. */
void ag_up_flush_wakes(struct ag_upstream *u)
{
    struct ag_fwd *f = u->wake_list;
    u->wake_list = NULL;
    while (f) {
        struct ag_fwd *next = f->wnext;
        f->wake_pending = false;
        pthread_mutex_lock(&f->lock);
        if (f->waiting != AG_WAIT_NONE && !f->front_gone) {
            f->waiting = AG_WAIT_NONE;
            f->wake(f);
        }
        pthread_mutex_unlock(&f->lock);
        ag_fwd_unref(f);
        f = next;
    }
}

/* Takes a reference for the pending wake (dropped in flush). */
static void ag_up_wake(struct ag_upstream *u, struct ag_fwd *f)
{
    if (!f->wake_pending)
        atomic_fetch_add(&f->refs, 1);
    ag_up_mark_wake(u, f);
}

static size_t ag_up_on_header(char *line, size_t size, size_t n, void *ud)
{
    struct ag_fwd *f = ud;
    size_t len = size * n;
    if (f->head_ready)
        return len; /* trailers: not forwarded */
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* a new status line (after 1xx): start over */
        const char *sp = memchr(line, ' ', len);
        int status = 0;
        if (sp && (size_t)(sp - line) + 4 <= len) {
            for (int i = 1; i <= 3; i++) {
                char c = sp[i];
                status = c >= '0' && c <= '9' ? status * 10 + (c - '0') : -1000;
            }
        }
        f->status = status >= 100 && status <= 599 ? status : 502;
        f->n_resp_headers = 0;
        f->resp_len = -1;
        return len;
    }
    if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) {
        if (f->status >= 200) {
            pthread_mutex_lock(&f->lock);
            f->head_ready = true;
            pthread_mutex_unlock(&f->lock);
            ag_up_wake(ag_up_self, f);
        }
        return len;
    }
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return len;
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (f->n_resp_headers == f->cap_resp_headers) {
        size_t cap = f->cap_resp_headers ? f->cap_resp_headers * 2 : 16;
        struct ag_http_header *nh = ag_arena_calloc(f->resp_arena, cap, sizeof(*nh));
        if (f->n_resp_headers)
            memcpy(nh, f->resp_headers, f->n_resp_headers * sizeof(*nh));
        f->resp_headers = nh;
        f->cap_resp_headers = cap;
    }
    struct ag_http_header *h = &f->resp_headers[f->n_resp_headers++];
    h->name = ag_arena_strndup(f->resp_arena, line, nl);
    h->value = ag_arena_strndup(f->resp_arena, v, (size_t)(end - v));
    if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
        char *e = NULL;
        long long cl = strtoll(h->value, &e, 10);
        f->resp_len = (e && *e == '\0' && cl >= 0) ? cl : -1;
    }
    return len;
}

static size_t ag_up_on_write(char *data, size_t size, size_t n, void *ud)
{
    struct ag_fwd *f = ud;
    size_t len = size * n;
    pthread_mutex_lock(&f->lock);
    if (f->front_gone) {
        pthread_mutex_unlock(&f->lock);
        return 0; /* aborts the transfer */
    }
    f->head_ready = true;
    if (AG_FWD_DOWN_CAP - f->down_len < len) {
        f->down_paused = true;
        pthread_mutex_unlock(&f->lock);
        return CURL_WRITEFUNC_PAUSE;
    }
    size_t tail = (f->down_off + f->down_len) % AG_FWD_DOWN_CAP;
    size_t first = AG_FWD_DOWN_CAP - tail < len ? AG_FWD_DOWN_CAP - tail : len;
    memcpy(f->down_buf + tail, data, first);
    memcpy(f->down_buf, data + first, len - first);
    f->down_len += len;
    f->down_total += len;
    pthread_mutex_unlock(&f->lock);
    ag_up_wake(ag_up_self, f);
    return len;
}

static size_t ag_up_on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct ag_fwd *f = ud;
    size_t max = size * n;
    pthread_mutex_lock(&f->lock);
    if (f->front_gone) {
        pthread_mutex_unlock(&f->lock);
        return CURL_READFUNC_ABORT;
    }
    if (f->up_len == 0) {
        if (f->up_eof) {
            pthread_mutex_unlock(&f->lock);
            return 0;
        }
        f->up_paused = true;
        pthread_mutex_unlock(&f->lock);
        return CURL_READFUNC_PAUSE;
    }
    size_t k = f->up_len < max ? f->up_len : max;
    size_t first = AG_FWD_UP_CAP - f->up_off < k ? AG_FWD_UP_CAP - f->up_off : k;
    memcpy(buf, f->up_buf + f->up_off, first);
    memcpy(buf + first, f->up_buf, k - first);
    f->up_off = (f->up_off + k) % AG_FWD_UP_CAP;
    f->up_len -= k;
    pthread_mutex_unlock(&f->lock);
    ag_up_wake(ag_up_self, f);
    return k;
}

/* Points the easy handle at the current replica. */
static void ag_up_target(struct ag_fwd *f, CURL *e)
{
    struct ag_replica *r = f->replica;
    size_t bl = strlen(r->base), pl = strlen(f->url_path);
    char *url = ag_arena_alloc(f->arena, bl + pl + 1);
    memcpy(url, r->base, bl);
    memcpy(url + bl, f->url_path, pl + 1);
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (r->connect_to[0]) {
        struct curl_slist *ct = ag_arena_alloc(f->arena, sizeof(*ct));
        ct->data = ag_arena_strdup(f->arena, r->connect_to);
        ct->next = NULL;
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, ct);
    } else {
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, NULL);
    }
}

void ag_up_finish(struct ag_upstream *u, struct ag_fwd *f, enum ag_fwd_fail fail, const char *msg)
{
    pthread_mutex_lock(&f->lock);
    f->done = true;
    f->fail = fail;
    if (msg)
        snprintf(f->fail_msg, sizeof(f->fail_msg), "%s", msg);
    f->t_upstream_us = ag_fwd_now_us() - f->t_start_us;
    pthread_mutex_unlock(&f->lock);
    ag_up_wake(u, f);
}

void ag_up_detach(struct ag_upstream *u, struct ag_fwd *f)
{
    CURL *e = f->easy;
    if (e) {
        curl_multi_remove_handle(u->multi, e);
        f->easy = NULL;
        if (f->aprev)
            f->aprev->anext = f->anext;
        else
            u->attached = f->anext;
        if (f->anext)
            f->anext->aprev = f->aprev;
        f->aprev = f->anext = NULL;
        if (u->n_spare < (int)(sizeof(u->spare) / sizeof(u->spare[0]))) {
            u->spare[u->n_spare++] = e;
        } else {
            curl_easy_cleanup(e);
        }
        atomic_fetch_sub(&u->active, 1);
    }
    pthread_mutex_lock(&f->lock);
    f->curl_done = true;
    pthread_mutex_unlock(&f->lock);
    ag_fwd_unref(f); /* the curl thread's reference */
}

/* Options that depend only on the config. */
static void ag_up_setup_handle(CURL *e, const struct ag_config *c)
{
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, ag_up_on_header);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ag_up_on_write);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, ag_up_on_read);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     c->upstreams.connect_timeout_ms > 0 ? c->upstreams.connect_timeout_ms : 5000L);
    /* no progress for response_timeout_s: cuts a stalled upstream, never a slow download */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                     c->upstreams.response_timeout_s > 0 ? c->upstreams.response_timeout_s : 60L);
    if (c->upstreams.ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->upstreams.ca_file);
}

static void ag_up_begin(struct ag_upstream *u, struct ag_fwd *f)
{
    f->replica = ag_pool_pick(u->pool, NULL);
    if (!f->replica) {
        ag_up_finish(u, f, AG_FAIL_NO_REPLICA, "no healthy upstream replica");
        ag_up_detach(u, f);
        return;
    }
    pthread_mutex_lock(&f->lock);
    f->replica_set = true;
    pthread_mutex_unlock(&f->lock);
    CURL *e = NULL;
    if (u->n_spare > 0) {
        e = u->spare[--u->n_spare];
        /* a reset handle keeps its connection cache and buffers; options left over from
         * another method (HEAD, uploads) must not leak into this request */
        curl_easy_reset(e);
    } else {
        e = curl_easy_init();
    }
    if (!e)
        abort();
    ag_up_setup_handle(e, f->cfg);
    curl_easy_setopt(e, CURLOPT_PRIVATE, f);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)f->req_headers);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(e, CURLOPT_READDATA, f);
    /* back to a plain GET: clears NOBODY and UPLOAD left by an earlier request */
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    if (f->head_method) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (f->body_len != -1) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        /* -1: unknown length, sent chunked */
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)(f->body_len >= 0 ? f->body_len : -1));
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, f->method);
    } else if (strcmp(f->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, f->method);
    }
    ag_up_target(f, e);
    f->easy = e;
    f->aprev = NULL;
    f->anext = u->attached;
    if (u->attached)
        u->attached->aprev = f;
    u->attached = f;
    atomic_fetch_add(&u->active, 1);
    curl_multi_add_handle(u->multi, e);
}

static enum ag_fwd_fail ag_up_classify(CURLcode rc, const char **kind)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
        *kind = "connect";
        return AG_FAIL_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        *kind = "timeout";
        return AG_FAIL_TIMEOUT;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        *kind = "reset";
        return AG_FAIL_PROTOCOL;
    default:
        *kind = "other";
        return AG_FAIL_PROTOCOL;
    }
}

static void ag_up_completed(struct ag_upstream *u, struct ag_fwd *f, CURLcode rc)
{
    struct ag_replica *r = f->replica;
    if (rc == CURLE_OK) {
        ag_metrics_upstream_latency(ag_fwd_now_us() - f->t_start_us);
        ag_up_finish(u, f, AG_FAIL_NONE, NULL);
        ag_up_detach(u, f);
        return;
    }
    const char *kind = "other";
    enum ag_fwd_fail fail = ag_up_classify(rc, &kind);
    ag_metrics_upstream_error(kind);
    if (fail == AG_FAIL_CONNECT && r && ag_pool_eject(u->pool, r))
        ag_log(AG_LOG_WARN, NULL, "upstream %s ejected: %s", r->label, curl_easy_strerror(rc));
    pthread_mutex_lock(&f->lock);
    bool nothing_yet = !f->head_ready && f->down_total == 0 && !f->front_gone;
    pthread_mutex_unlock(&f->lock);
    if (f->retry_ok && !f->retried && nothing_yet && fail != AG_FAIL_TIMEOUT) {
        struct ag_replica *next = ag_pool_pick(u->pool, r);
        if (next) {
            ag_metrics_upstream_error("retry");
            ag_log(AG_LOG_INFO, NULL, "retrying %s on %s after %s on %s", f->method, next->label,
                   curl_easy_strerror(rc), r ? r->label : "-");
            f->retried = true;
            CURL *e = f->easy;
            curl_multi_remove_handle(u->multi, e);
            pthread_mutex_lock(&f->lock);
            ag_pool_release(r);
            f->replica = next;
            f->status = 0;
            f->n_resp_headers = 0;
            pthread_mutex_unlock(&f->lock);
            ag_up_target(f, e);
            curl_multi_add_handle(u->multi, e);
            return;
        }
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "%s: %s", r ? r->label : "-", curl_easy_strerror(rc));
    ag_up_finish(u, f, fail, msg);
    ag_up_detach(u, f);
}

void ag_up_run_commands(struct ag_upstream *u)
{
    pthread_mutex_lock(&u->qlock);
    struct ag_fwd *f = u->qhead;
    u->qhead = u->qtail = NULL;
    pthread_mutex_unlock(&u->qlock);
    while (f) {
        pthread_mutex_lock(&u->qlock);
        struct ag_fwd *next = f->qnext;
        unsigned cmd = f->cmd;
        f->cmd = 0;
        f->queued = false;
        f->qnext = NULL;
        pthread_mutex_unlock(&u->qlock);
        if (cmd & AG_CMD_START)
            ag_up_begin(u, f);
        if (cmd & AG_CMD_ABORT) {
            if (f->easy && !f->curl_done) {
                ag_up_finish(u, f, AG_FAIL_PROTOCOL, "client went away");
                ag_up_detach(u, f);
            }
        } else if (f->easy) {
            pthread_mutex_lock(&f->lock);
            bool unpause = (cmd & AG_CMD_UNPAUSE_RECV && f->down_paused) ||
                           (cmd & AG_CMD_UNPAUSE_SEND && f->up_paused);
            if (cmd & AG_CMD_UNPAUSE_RECV)
                f->down_paused = false;
            if (cmd & AG_CMD_UNPAUSE_SEND)
                f->up_paused = false;
            pthread_mutex_unlock(&f->lock);
            /* the callbacks pause again by themselves when there is still no room/data */
            if (unpause)
                curl_easy_pause(f->easy, CURLPAUSE_CONT);
        }
        ag_fwd_unref(f); /* the queue's reference */
        f = next;
    }
}

void ag_up_wake_fronts_with_data(struct ag_upstream *u)
{
    /* head_ready and body bytes are set by callbacks; wake every attached transfer whose front
     * waits for something that is now there */
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(u->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct ag_fwd *f = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        if (f)
            ag_up_completed(u, f, m->data.result);
    }
}
