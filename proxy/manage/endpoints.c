/* Own endpoints; see endpoints.h. */
#include "proxy/manage/endpoints.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "auth/assertion/assertion.h"
#include "auth/jose/keycache.h"
#include "auth/jose/token_cache.h"
#include "auth/login/login.h"
#include "core/arena.h"
#include "core/buf.h"
#include "proxy/manage/statusz.h"
#include "proxy/services.h"
#include "proxy/upstream/pool.h"
#include "state/store.h"
#include "proxy/runtime.h"

enum ag_route ag_endpoints_route(const char *path)
{
    if (strcmp(path, "/healthz") == 0)
        return AG_ROUTE_HEALTHZ;
    if (strcmp(path, "/readyz") == 0)
        return AG_ROUTE_READYZ;
    if (strcmp(path, "/metrics") == 0)
        return AG_ROUTE_METRICS;
    if (strcmp(path, "/statusz") == 0)
        return AG_ROUTE_STATUSZ;
    if (strcmp(path, "/.well-known/airgate/jwks.json") == 0)
        return AG_ROUTE_JWKS;
    return AG_ROUTE_PROXY;
}

static double ag_process_start_s;
static pthread_once_t ag_process_start_once = PTHREAD_ONCE_INIT;

/* Start time from /proc/self/stat field 22 (ticks after boot) and /proc/uptime. */
static void ag_process_start_init(void)
{
    {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        ag_process_start_s = (double)now.tv_sec;
        FILE *f = fopen("/proc/self/stat", "r");
        char line[1024];
        if (f && fgets(line, sizeof(line), f)) {
            const char *p = strrchr(line, ')');
            unsigned long long start_ticks = 0;
            for (int field = 2; p && *p && field < 22; p++)
                if (*p == ' ')
                    field++;
            if (p && sscanf(p, "%llu", &start_ticks) == 1) {
                FILE *u = fopen("/proc/uptime", "r");
                double up = 0;
                if (u && fscanf(u, "%lf", &up) == 1)
                    ag_process_start_s = (double)now.tv_sec - up +
                                         (double)start_ticks / (double)sysconf(_SC_CLK_TCK);
                if (u)
                    fclose(u);
            }
        }
        if (f)
            fclose(f);
    }
}

/* The process metrics Prometheus client libraries export under the same names. */
static enum ag_rc ag_endpoints_process_metrics(struct ag_buf *b)
{
    pthread_once(&ag_process_start_once, ag_process_start_init);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    long vsize = 0;
    if (!f || fscanf(f, "%ld %ld", &vsize, &pages) != 2)
        pages = 0;
    if (f)
        fclose(f);
    long fds = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        fds += e->d_name[0] != '.';
    if (d) {
        closedir(d);
        fds--; /* the directory handle itself */
    }
    struct rlimit rl = {0};
    getrlimit(RLIMIT_NOFILE, &rl);
    return ag_buf_printf(
        b,
        "# HELP airgate_build_info The airgate version; always 1.\n"
        "# TYPE airgate_build_info gauge\nairgate_build_info{version=\"%s\"} 1\n"
        "# HELP process_cpu_seconds_total User and system CPU time spent, in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n"
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %lld\n"
        "# HELP process_open_fds Open file descriptors.\n"
        "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n"
        "# HELP process_max_fds Maximum number of open file descriptors.\n"
        "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n"
        "# HELP process_start_time_seconds Start time of the process since the epoch, in "
        "seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.2f\n",
        AG_VERSION, cpu, (long long)pages * (long long)sysconf(_SC_PAGESIZE), fds,
        (unsigned long long)rl.rlim_cur, ag_process_start_s);
}

static enum ag_rc ag_endpoints_metrics(const struct ag_services *svc, struct ag_runtime *rt,
                                       struct ag_buf *b)
{
    enum ag_rc rc = ag_metrics_render(b);
    if (rc == AG_OK)
        rc = ag_buf_puts(b, "# HELP airgate_upstream_healthy 1 when the replica passes its "
                            "health checks.\n# TYPE airgate_upstream_healthy gauge\n");
    struct ag_pool *p = svc->pool;
    int ns = atomic_load(&p->n_slots);
    for (int i = 0; i < ns && rc == AG_OK; i++) {
        struct ag_replica *r = &p->slots[i];
        if (atomic_load(&r->in_use))
            rc = ag_buf_printf(b, "airgate_upstream_healthy{upstream=\"%s\"} %d\n", r->label,
                               atomic_load(&r->healthy) ? 1 : 0);
    }
    if (rc == AG_OK)
        rc = ag_buf_puts(b, "# HELP airgate_upstream_active_requests Requests in flight per "
                            "replica.\n# TYPE airgate_upstream_active_requests gauge\n");
    for (int i = 0; i < ns && rc == AG_OK; i++) {
        struct ag_replica *r = &p->slots[i];
        if (atomic_load(&r->in_use))
            rc = ag_buf_printf(b, "airgate_upstream_active_requests{upstream=\"%s\"} %d\n",
                               r->label, atomic_load(&r->active));
    }
    struct ag_keycache_stats ks;
    memset(&ks, 0, sizeof(ks));
    if (rt->keys)
        ag_keycache_stats(rt->keys->kc, &ks);
    if (rc == AG_OK)
        rc = ag_buf_printf(
            b,
            "# HELP airgate_jwks_refresh_total Successful fetches of the IdP key set.\n"
            "# TYPE airgate_jwks_refresh_total counter\nairgate_jwks_refresh_total %llu\n"
            "# HELP airgate_jwks_refresh_failures_total Failed fetches (old keys kept).\n"
            "# TYPE airgate_jwks_refresh_failures_total counter\n"
            "airgate_jwks_refresh_failures_total %llu\n"
            "# HELP airgate_jwks_keys Usable keys in the current key set.\n"
            "# TYPE airgate_jwks_keys gauge\nairgate_jwks_keys %zu\n"
            "# HELP airgate_jwks_ready 1 once a key set is loaded.\n"
            "# TYPE airgate_jwks_ready gauge\nairgate_jwks_ready %d\n",
            (unsigned long long)ks.fetch_ok, (unsigned long long)ks.fetch_failed, ks.keys,
            ks.ready ? 1 : 0);
    struct ag_token_cache_stats ts;
    memset(&ts, 0, sizeof(ts));
    ag_token_cache_stats(svc->tc, &ts);
    if (rc == AG_OK)
        rc = ag_buf_printf(b,
                           "# HELP airgate_token_cache_hits_total Bearer tokens found verified "
                           "in the cache.\n# TYPE airgate_token_cache_hits_total counter\n"
                           "airgate_token_cache_hits_total %llu\n"
                           "# HELP airgate_token_cache_misses_total Bearer tokens verified "
                           "with a signature check.\n"
                           "# TYPE airgate_token_cache_misses_total counter\n"
                           "airgate_token_cache_misses_total %llu\n"
                           "# HELP airgate_inflight_requests Requests being served.\n"
                           "# TYPE airgate_inflight_requests gauge\n"
                           "airgate_inflight_requests %d\n"
                           "# HELP airgate_open_connections Client connections open.\n"
                           "# TYPE airgate_open_connections gauge\n"
                           "airgate_open_connections %d\n",
                           (unsigned long long)ts.hits, (unsigned long long)ts.misses,
                           svc->inflight(svc->owner), svc->connections(svc->owner));
    if (rc == AG_OK && rt->login)
        rc = ag_buf_printf(b,
                           "# HELP airgate_idp_circuit_state The identity provider's circuit "
                           "breaker: 0 closed, 1 open (not called), 2 half-open (one probe).\n"
                           "# TYPE airgate_idp_circuit_state gauge\n"
                           "airgate_idp_circuit_state %d\n",
                           (int)ag_login_idp_circuit(rt->login));
    struct ag_state_stats ss;
    ag_state_stats(svc->state, &ss);
    if (rc == AG_OK)
        rc = ag_buf_printf(
            b,
            "# HELP airgate_state_shared 1 when state.redis_url is set (0: this replica alone).\n"
            "# TYPE airgate_state_shared gauge\nairgate_state_shared %d\n"
            "# HELP airgate_state_up 1 while shared state (Redis) is usable.\n"
            "# TYPE airgate_state_up gauge\nairgate_state_up %d\n"
            "# HELP airgate_state_revocations Revocations held in memory.\n"
            "# TYPE airgate_state_revocations gauge\nairgate_state_revocations %zu\n"
            "# HELP airgate_state_unpublished_revocations Revocations waiting for Redis.\n"
            "# TYPE airgate_state_unpublished_revocations gauge\n"
            "airgate_state_unpublished_revocations %zu\n"
            "# HELP airgate_state_received_total Revocations received from other replicas.\n"
            "# TYPE airgate_state_received_total counter\nairgate_state_received_total %llu\n"
            "# HELP airgate_state_errors_total Redis connection failures and timeouts.\n"
            "# TYPE airgate_state_errors_total counter\nairgate_state_errors_total %llu\n",
            ss.shared ? 1 : 0, ss.shared ? (ss.up ? 1 : 0) : 1, ss.revocations, ss.unpublished,
            ss.received, ss.errors);
    if (rc == AG_OK)
        rc = ag_endpoints_process_metrics(b);
    return rc;
}

/* Prometheus text, or OpenMetrics when the scraper's Accept names it (Prometheus >= 2.5 sends
 * "application/openmetrics-text;version=1.0.0,...;q=0.5,text/plain;version=0.0.4;q=0.4"). */
static void ag_endpoints_metrics_answer(const struct ag_services *svc, struct ag_runtime *rt,
                                        struct ag_arena *a, const struct ag_http_request *req,
                                        struct ag_http_response *resp)
{
    const char *accept = ag_http_header_get(req, "Accept");
    bool om = accept && strstr(accept, "application/openmetrics-text") != NULL;
    struct ag_buf b, o;
    ag_buf_init(&b, 4u << 20);
    ag_buf_init(&o, 4u << 20);
    enum ag_rc rc = ag_endpoints_metrics(svc, rt, &b);
    if (rc == AG_OK && om)
        rc = ag_metrics_to_openmetrics(b.data, b.len, &o);
    if (rc != AG_OK)
        ag_http_response_set(a, resp, 500, "text/plain", "metrics too large\n", 18);
    else if (om)
        ag_http_response_set(a, resp, 200,
                             "application/openmetrics-text; version=1.0.0; charset=utf-8", o.data,
                             o.len);
    else
        ag_http_response_set(a, resp, 200, "text/plain; version=0.0.4; charset=utf-8", b.data,
                             b.len);
    ag_buf_release(&b, 0);
    ag_buf_release(&o, 0);
}

static void ag_endpoints_statusz(const struct ag_services *svc, struct ag_runtime *rt,
                                 struct ag_arena *a, struct ag_http_response *resp)
{
    pthread_once(&ag_process_start_once, ag_process_start_init);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double up = (double)now.tv_sec + (double)now.tv_nsec / 1e9 - ag_process_start_s;
    char *body = ag_statusz_json(svc, rt, a, (int64_t)ag_process_start_s, up > 0 ? up : 0);
    if (body)
        ag_http_response_set(a, resp, 200, "application/json", body, strlen(body));
    else
        ag_http_response_set(a, resp, 500, "application/json", "{\"error\":\"internal\"}\n", 21);
}

static void ag_endpoints_answer(const struct ag_services *svc, struct ag_runtime *rt,
                                struct ag_arena *a, const struct ag_http_request *req,
                                enum ag_route route, struct ag_http_response *resp)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        static const char body[] = "{\"error\":\"method_not_allowed\"}\n";
        ag_http_response_set(a, resp, 405, "application/json", body, sizeof(body) - 1);
        ag_http_response_add_header(a, resp, "Allow", "GET, HEAD");
        return;
    }
    switch (route) {
    case AG_ROUTE_HEALTHZ:
        ag_http_response_set(a, resp, 200, "text/plain; charset=utf-8", "ok\n", 3);
        return;
    case AG_ROUTE_READYZ: {
        bool keys = ag_runtime_keys_ready(rt);
        int healthy = ag_pool_healthy_count(svc->pool);
        bool draining = atomic_load(svc->draining);
        bool ok = keys && healthy > 0 && !draining;
        char *body = ag_arena_printf(
            a, "{\"ready\":%s,\"keys_loaded\":%s,\"healthy_upstreams\":%d,\"draining\":%s}\n",
            ok ? "true" : "false", keys ? "true" : "false", healthy, draining ? "true" : "false");
        ag_http_response_set(a, resp, ok ? 200 : 503, "application/json", body, strlen(body));
        return;
    }
    case AG_ROUTE_METRICS:
        ag_endpoints_metrics_answer(svc, rt, a, req, resp);
        return;
    case AG_ROUTE_STATUSZ:
        ag_endpoints_statusz(svc, rt, a, resp);
        return;
    case AG_ROUTE_JWKS: {
        const char *jwks = rt->jwks;
        if (!jwks) {
            ag_http_response_set(a, resp, 404, "application/json", "{\"error\":\"not_found\"}\n",
                                 22);
            return;
        }
        ag_http_response_set(a, resp, 200, "application/jwk-set+json", jwks, strlen(jwks));
        ag_http_response_add_header(a, resp, "Cache-Control", "public, max-age=300");
        return;
    }
    default:
        ag_http_response_set(a, resp, 404, "application/json", "{\"error\":\"not_found\"}\n", 22);
        return;
    }
}

void ag_endpoints_handle(const struct ag_services *svc, struct ag_runtime *rt, struct ag_arena *a,
                         const struct ag_http_request *req, enum ag_route route,
                         struct ag_http_response *resp)
{
    /* they name every upstream and key: only on the management listener (management.listen) */
    if (route == AG_ROUTE_METRICS || route == AG_ROUTE_STATUSZ) {
        ag_http_response_set(a, resp, 404, "application/json", "{\"error\":\"not_found\"}\n", 22);
        return;
    }
    ag_endpoints_answer(svc, rt, a, req, route, resp);
}

void ag_endpoints_manage_serve(void *ctx, struct ag_arena *a, const struct ag_http_request *req,
                               struct ag_http_response *resp)
{
    const struct ag_services *svc = ctx;
    enum ag_route route = ag_endpoints_route(req->path);
    if (route == AG_ROUTE_JWKS)
        route = AG_ROUTE_PROXY; /* the public listener's; 404 here */
    struct ag_runtime *rt = svc->runtime(svc->owner);
    ag_endpoints_answer(svc, rt, a, req, route, resp);
    ag_runtime_unref(rt);
    if (route != AG_ROUTE_PROXY) /* unknown paths here are not the data path's "proxy" route */
        ag_metrics_request(route, resp->status);
}
