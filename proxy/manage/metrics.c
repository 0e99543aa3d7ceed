/* Prometheus counters; see metrics.h. */
#include "proxy/manage/metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#define AG_STATUS_MIN 100
#define AG_STATUS_MAX 599

static atomic_uint_fast64_t ag_m_requests[AG_ROUTE_COUNT][AG_STATUS_MAX - AG_STATUS_MIN + 1];
static atomic_uint_fast64_t ag_m_requests_other[AG_ROUTE_COUNT];
static const double ag_m_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};
#define AG_NB (sizeof(ag_m_bounds) / sizeof(ag_m_bounds[0]))
static atomic_uint_fast64_t ag_m_lat_buckets[AG_NB];
static atomic_uint_fast64_t ag_m_lat_count, ag_m_lat_sum_us;
static atomic_uint_fast64_t ag_m_decisions[AG_DECISION_COUNT];
static const char *const ag_m_err_kinds[] = {"connect", "timeout", "reset", "retry", "other"};
#define AG_NERR (sizeof(ag_m_err_kinds) / sizeof(ag_m_err_kinds[0]))
static atomic_uint_fast64_t ag_m_errors[AG_NERR];

const char *ag_route_name(enum ag_route r)
{
    static const char *const n[AG_ROUTE_COUNT] = {"proxy", "healthz", "readyz", "metrics",
                                                  "jwks",  "login",   "statusz"};
    return (unsigned)r < AG_ROUTE_COUNT ? n[r] : "unknown";
}

const char *ag_decision_name(enum ag_decision d)
{
    static const char *const n[AG_DECISION_COUNT] = {"allow", "deny", "no_credentials",
                                                     "invalid_token", "error"};
    return (unsigned)d < AG_DECISION_COUNT ? n[d] : "unknown";
}

void ag_metrics_request(enum ag_route route, int status)
{
    if ((unsigned)route >= AG_ROUTE_COUNT)
        return;
    if (status >= AG_STATUS_MIN && status <= AG_STATUS_MAX)
        atomic_fetch_add_explicit(&ag_m_requests[route][status - AG_STATUS_MIN], 1,
                                  memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&ag_m_requests_other[route], 1, memory_order_relaxed);
}

void ag_metrics_upstream_latency(uint64_t usec)
{
    double s = (double)usec / 1e6;
    for (size_t i = 0; i < AG_NB; i++) {
        if (s <= ag_m_bounds[i]) {
            atomic_fetch_add_explicit(&ag_m_lat_buckets[i], 1, memory_order_relaxed);
            break;
        }
    }
    atomic_fetch_add_explicit(&ag_m_lat_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ag_m_lat_sum_us, usec, memory_order_relaxed);
}

void ag_metrics_decision(enum ag_decision d)
{
    if ((unsigned)d < AG_DECISION_COUNT)
        atomic_fetch_add_explicit(&ag_m_decisions[d], 1, memory_order_relaxed);
}

void ag_metrics_upstream_error(const char *kind)
{
    size_t i = 0;
    while (i + 1 < AG_NERR && strcmp(ag_m_err_kinds[i], kind) != 0)
        i++;
    atomic_fetch_add_explicit(&ag_m_errors[i], 1, memory_order_relaxed);
}

#define AG_LOAD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))

enum ag_rc ag_metrics_render(struct ag_buf *b)
{
    enum ag_rc rc = ag_buf_puts(b, "# HELP airgate_requests_total Requests answered, by route and "
                                   "status.\n# TYPE airgate_requests_total counter\n");
    for (int r = 0; r < AG_ROUTE_COUNT && rc == AG_OK; r++) {
        for (int s = AG_STATUS_MIN; s <= AG_STATUS_MAX && rc == AG_OK; s++) {
            unsigned long long v = AG_LOAD(ag_m_requests[r][s - AG_STATUS_MIN]);
            if (v)
                rc = ag_buf_printf(b, "airgate_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                                   ag_route_name((enum ag_route)r), s, v);
        }
        unsigned long long o = AG_LOAD(ag_m_requests_other[r]);
        if (o && rc == AG_OK)
            rc = ag_buf_printf(b, "airgate_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                               ag_route_name((enum ag_route)r), o);
    }
    if (rc == AG_OK)
        rc = ag_buf_puts(b, "# HELP airgate_upstream_latency_seconds Time from sending a request "
                            "upstream to its last response byte.\n"
                            "# TYPE airgate_upstream_latency_seconds histogram\n");
    unsigned long long cum = 0;
    for (size_t i = 0; i < AG_NB && rc == AG_OK; i++) {
        cum += AG_LOAD(ag_m_lat_buckets[i]);
        rc = ag_buf_printf(b, "airgate_upstream_latency_seconds_bucket{le=\"%g\"} %llu\n",
                           ag_m_bounds[i], cum);
    }
    unsigned long long count = AG_LOAD(ag_m_lat_count);
    if (rc == AG_OK)
        rc = ag_buf_printf(b,
                           "airgate_upstream_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                           "airgate_upstream_latency_seconds_sum %.6f\n"
                           "airgate_upstream_latency_seconds_count %llu\n",
                           count, (double)AG_LOAD(ag_m_lat_sum_us) / 1e6, count);
    if (rc == AG_OK)
        rc = ag_buf_puts(b, "# HELP airgate_auth_decisions_total Authentication and policy "
                            "decisions on protected requests.\n"
                            "# TYPE airgate_auth_decisions_total counter\n");
    for (int d = 0; d < AG_DECISION_COUNT && rc == AG_OK; d++)
        rc = ag_buf_printf(b, "airgate_auth_decisions_total{decision=\"%s\"} %llu\n",
                           ag_decision_name((enum ag_decision)d), AG_LOAD(ag_m_decisions[d]));
    if (rc == AG_OK)
        rc = ag_buf_puts(b, "# HELP airgate_upstream_errors_total Upstream failures by kind.\n"
                            "# TYPE airgate_upstream_errors_total counter\n");
    for (size_t i = 0; i < AG_NERR && rc == AG_OK; i++)
        rc = ag_buf_printf(b, "airgate_upstream_errors_total{kind=\"%s\"} %llu\n",
                           ag_m_err_kinds[i], AG_LOAD(ag_m_errors[i]));
    return rc;
}

/* "# HELP name ..." / "# TYPE name counter": the family name is the token after the keyword. */
static enum ag_rc ag_metrics_om_line(const char *line, size_t n, struct ag_buf *out)
{
    static const char sfx[] = "_total";
    const size_t sl = sizeof(sfx) - 1;
    bool help = n > 7 && memcmp(line, "# HELP ", 7) == 0;
    bool type = n > 7 && memcmp(line, "# TYPE ", 7) == 0;
    if (!help && !type)
        return ag_buf_append(out, line, n);
    const char *name = line + 7;
    const char *end = memchr(name, ' ', n - 7);
    size_t nl = end ? (size_t)(end - name) : n - 7;
    bool counter = nl > sl && memcmp(name + nl - sl, sfx, sl) == 0;
    if (type && counter)
        counter = end && (size_t)(line + n - end) == 8 && memcmp(end, " counter", 8) == 0;
    if (!counter)
        return ag_buf_append(out, line, n);
    enum ag_rc rc = ag_buf_append(out, line, 7 + nl - sl);
    return rc == AG_OK ? ag_buf_append(out, name + nl, n - 7 - nl) : rc;
}

enum ag_rc ag_metrics_to_openmetrics(const char *text, size_t len, struct ag_buf *out)
{
    enum ag_rc rc = AG_OK;
    size_t i = 0;
    while (i < len && rc == AG_OK) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
        if (n > 0) {
            rc = ag_metrics_om_line(text + i, n, out);
            if (rc == AG_OK)
                rc = ag_buf_append(out, "\n", 1);
        }
        i += n + 1;
    }
    return rc == AG_OK ? ag_buf_puts(out, "# EOF\n") : rc;
}

void ag_metrics_reset(void)
{
    for (int r = 0; r < AG_ROUTE_COUNT; r++) {
        for (int s = 0; s <= AG_STATUS_MAX - AG_STATUS_MIN; s++)
            atomic_store(&ag_m_requests[r][s], 0);
        atomic_store(&ag_m_requests_other[r], 0);
    }
    for (size_t i = 0; i < AG_NB; i++)
        atomic_store(&ag_m_lat_buckets[i], 0);
    atomic_store(&ag_m_lat_count, 0);
    atomic_store(&ag_m_lat_sum_us, 0);
    for (int d = 0; d < AG_DECISION_COUNT; d++)
        atomic_store(&ag_m_decisions[d], 0);
    for (size_t i = 0; i < AG_NERR; i++)
        atomic_store(&ag_m_errors[i], 0);
}
