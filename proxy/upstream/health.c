/* Health checks and DNS re-resolution; see health.h. */
#include "proxy/upstream/health.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/url.h"
#include "proxy/upstream/pool.h"
#include "proxy/runtime.h"
#include "proxy/services.h"

struct ag_health {
    const struct ag_services *svc; /* the pool and the current runtime */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, kick;
    struct ag_http_client *client[AG_POOL_MAX]; /* one per replica: keeps its connection */
};

enum ag_rc ag_upstream_url_parse(const char *s, struct ag_upstream_url *out, struct ag_err *err)
{
    memset(out, 0, sizeof(*out));
    struct ag_url u;
    if (ag_url_parse(s, AG_URL_HTTP, &u, err) != AG_OK) {
        ag_err_prefix(err, "'%s'", s);
        if (err)
            err->rc = AG_EINVAL;
        return AG_EINVAL;
    }
    memcpy(out->scheme, u.scheme, sizeof(out->scheme));
    memcpy(out->host, u.host, sizeof(out->host));
    out->port = ag_url_port(&u);
    size_t rl = strlen(u.path);
    while (rl > 0 && u.path[rl - 1] == '/')
        rl--;
    if (rl >= sizeof(out->rest))
        return ag_err_set(err, AG_EINVAL, "'%s': path prefix too long", s);
    memcpy(out->rest, u.path, rl);
    unsigned char buf[16];
    out->literal =
        inet_pton(AF_INET, out->host, buf) == 1 || inet_pton(AF_INET6, out->host, buf) == 1;
    return AG_OK;
}

static const char *ag_health_hostport(struct ag_arena *a, const char *host, unsigned port)
{
    return strchr(host, ':') ? ag_arena_printf(a, "[%s]:%u", host, port)
                             : ag_arena_printf(a, "%s:%u", host, port);
}

/* An IPv4 address is preferred when a static name resolves to both families: a test or VM
 * upstream listening on 127.0.0.1 is commonly also "localhost", which may resolve to ::1 first. */
static bool ag_health_resolve_one(const char *host, unsigned port, struct ag_arena *a,
                                  struct ag_pool_member *m)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0) {
        ag_log(AG_LOG_WARN, NULL, "upstream %s does not resolve: %s", host, gai_strerror(gai));
        return false;
    }
    const struct addrinfo *pick = res;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
    }
    bool ok = false;
    if (pick && (pick->ai_family == AF_INET || pick->ai_family == AF_INET6)) {
        struct sockaddr_storage *ss = ag_arena_calloc(a, 1, sizeof(*ss));
        memcpy(ss, pick->ai_addr, pick->ai_addrlen);
        if (ss->ss_family == AF_INET)
            ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
        else
            ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
        m->sa = (const struct sockaddr *)ss;
        m->sa_len = pick->ai_addrlen;
        ok = true;
    }
    freeaddrinfo(res);
    return ok;
}

static void ag_health_literal(const char *host, unsigned port, struct ag_arena *a,
                              struct ag_pool_member *m)
{
    struct sockaddr_storage *ss = ag_arena_calloc(a, 1, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        m->sa_len = sizeof(*in);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        m->sa_len = sizeof(*in6);
    } else {
        return;
    }
    m->sa = (const struct sockaddr *)ss;
}

size_t ag_health_members(const struct ag_config *cfg, struct ag_arena *a,
                         struct ag_pool_member **out)
{
    size_t cap = AG_POOL_MAX, n = 0;
    struct ag_pool_member *m = ag_arena_calloc(a, cap, sizeof(*m));
    for (size_t i = 0; i < cfg->upstreams.servers.n && n < cap; i++) {
        struct ag_upstream_url u;
        struct ag_err err = {0};
        if (ag_upstream_url_parse(cfg->upstreams.servers.items[i], &u, &err) != AG_OK) {
            ag_log(AG_LOG_ERROR, NULL, "upstreams.servers: %s", err.msg);
            continue;
        }
        const char *hp = ag_health_hostport(a, u.host, u.port);
        const char *base = ag_arena_printf(a, "%s://%s%s", u.scheme, hp, u.rest);
        struct ag_pool_member tmpl = {
            .base = base,
            .label = hp,
            .tls = strcmp(u.scheme, "https") == 0,
            .host = ag_arena_strdup(a, u.host),
            .hosthdr = hp,
            .prefix = ag_arena_strdup(a, u.rest),
        };
        if (u.literal || cfg->upstreams.resolve_interval_s <= 0) {
            m[n] = tmpl;
            if (u.literal)
                ag_health_literal(u.host, u.port, a, &m[n]);
            else
                ag_health_resolve_one(u.host, u.port, a, &m[n]);
            n++;
            continue;
        }
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
        struct addrinfo *res = NULL;
        int gai = getaddrinfo(u.host, NULL, &hints, &res);
        if (gai != 0) {
            ag_log(AG_LOG_WARN, NULL, "upstream %s does not resolve: %s", u.host,
                   gai_strerror(gai));
            continue;
        }
        for (struct addrinfo *ai = res; ai && n < cap; ai = ai->ai_next) {
            char ip[INET6_ADDRSTRLEN];
            if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
                continue;
            const void *src = ai->ai_family == AF_INET
                                  ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                  : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
            if (!inet_ntop(ai->ai_family, src, ip, sizeof(ip)))
                continue;
            const char *ip_t =
                ai->ai_family == AF_INET6 ? ag_arena_printf(a, "[%s]", ip) : ag_arena_strdup(a, ip);
            const char *ct = ag_arena_printf(a, "%s:%u:%s:%u", u.host, u.port, ip_t, u.port);
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = m[k].connect_to && strcmp(m[k].connect_to, ct) == 0;
            if (dup)
                continue;
            m[n] = tmpl;
            m[n].connect_to = ct;
            m[n].label = ag_arena_printf(a, "%s:%u", ip_t, u.port);
            ag_health_literal(ip, u.port, a, &m[n]);
            n++;
        }
        freeaddrinfo(res);
    }
    *out = m;
    return n;
}

static bool ag_health_check_one(struct ag_health *h, struct ag_replica *r,
                                const struct ag_config *cfg, char *why, size_t why_len)
{
    struct ag_http_client *c = h->client[r->index];
    if (!c) {
        c = h->client[r->index] = ag_http_client_new();
        if (!c) {
            snprintf(why, why_len, "cannot make an HTTP client");
            return false;
        }
    }
    char url[1024];
    const char *hp = cfg->upstreams.health_path ? cfg->upstreams.health_path : "/health";
    snprintf(url, sizeof(url), "%s%s", r->base, hp);
    long tmo = cfg->upstreams.health_timeout_ms > 0 ? cfg->upstreams.health_timeout_ms : 2000;
    struct ag_http_client_opts o = {.ca_file = cfg->upstreams.ca_file,
                                    .connect_timeout_ms = tmo,
                                    .timeout_ms = tmo,
                                    .connect_to = r->connect_to,
                                    .user_agent = "airgate-health/" AG_VERSION};
    struct ag_http_call call = {.url = url};
    struct ag_err err = {0};
    long code = 0;
    enum ag_rc rc = ag_http_client_call(c, &call, &o, &code, NULL, &err);
    bool ok = rc == AG_OK && code >= 200 && code < 400;
    if (!ok) {
        if (rc == AG_OK)
            snprintf(why, why_len, "HTTP %ld from %s", code, hp);
        else
            snprintf(why, why_len, "%s", err.msg);
        ag_log(AG_LOG_DEBUG, NULL, "health check %s failed: %s", url, why);
    }
    return ok;
}

static void *ag_health_main(void *arg)
{
    struct ag_health *h = arg;
    uint64_t next_resolve = 0;
    for (;;) {
        struct ag_runtime *rt = h->svc->runtime(h->svc->owner);
        const struct ag_config *cfg = rt->cfg;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (cfg->upstreams.resolve_interval_s > 0 && (uint64_t)now.tv_sec >= next_resolve) {
            struct ag_arena *a = ag_arena_new(0);
            struct ag_pool_member *m = NULL;
            size_t n = ag_health_members(cfg, a, &m);
            /* a failed lookup must not empty the pool: keep the last good set */
            if (n > 0 && ag_pool_sync(h->svc->pool, m, n) > 0)
                ag_log(AG_LOG_INFO, NULL, "upstream set re-resolved: %zu replica(s)", n);
            ag_arena_free(a);
            next_resolve = (uint64_t)now.tv_sec + (uint64_t)cfg->upstreams.resolve_interval_s;
        }
        struct ag_pool *pool = h->svc->pool;
        int ns = atomic_load(&pool->n_slots);
        for (int i = 0; i < ns; i++) {
            struct ag_replica *r = &pool->slots[i];
            if (!atomic_load(&r->in_use))
                continue;
            char why[320] = "";
            bool ok = ag_health_check_one(h, r, cfg, why, sizeof(why));
            if (ag_pool_observe(pool, r, ok))
                ag_log(ok ? AG_LOG_INFO : AG_LOG_WARN, NULL, "upstream %s is now %s%s%s", r->label,
                       ok ? "healthy" : "unhealthy", ok ? "" : ": ", ok ? "" : why);
        }
        long interval = cfg->upstreams.health_interval_s > 0 ? cfg->upstreams.health_interval_s : 5;
        ag_runtime_unref(rt);
        pthread_mutex_lock(&h->lock);
        if (!h->stop && !h->kick) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += interval;
            pthread_cond_timedwait(&h->cond, &h->lock, &ts);
        }
        bool stop = h->stop;
        if (h->kick)
            next_resolve = 0;
        h->kick = false;
        pthread_mutex_unlock(&h->lock);
        if (stop)
            break;
    }
    return NULL;
}

enum ag_rc ag_health_start(const struct ag_services *svc, struct ag_health **out,
                           struct ag_err *err)
{
    struct ag_health *h = calloc(1, sizeof(*h));
    if (!h)
        abort();
    h->svc = svc;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    if (pthread_create(&h->thread, NULL, ag_health_main, h) != 0) {
        free(h);
        return ag_err_set(err, AG_EIO, "cannot start the health-check thread");
    }
    *out = h;
    return AG_OK;
}

void ag_health_kick(struct ag_health *h)
{
    pthread_mutex_lock(&h->lock);
    h->kick = true;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

void ag_health_stop(struct ag_health *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->stop = true;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    for (int i = 0; i < AG_POOL_MAX; i++)
        ag_http_client_free(h->client[i]);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    free(h);
}
