/* Process-wide counters for /metrics, lock-free (relaxed atomics) on the request path, rendered
 * as Prometheus text on demand. */
#ifndef AG_PROXY_METRICS_H
#define AG_PROXY_METRICS_H

#include <stdint.h>

#include "core/buf.h"

enum ag_route {
    AG_ROUTE_PROXY = 0,
    AG_ROUTE_HEALTHZ,
    AG_ROUTE_READYZ,
    AG_ROUTE_METRICS,
    AG_ROUTE_JWKS,
    AG_ROUTE_LOGIN,
    AG_ROUTE_STATUSZ,
    AG_ROUTE_COUNT
};

enum ag_decision {
    AG_DECISION_ALLOW = 0,
    AG_DECISION_DENY,           /* authenticated, no Airflow role: 403 */
    AG_DECISION_NO_CREDENTIALS, /* 401 (or login redirect) */
    AG_DECISION_INVALID_TOKEN,  /* bad signature, expired, wrong issuer/audience */
    AG_DECISION_ERROR,          /* keys unavailable, bad claims */
    AG_DECISION_COUNT
};

/** Name used as the route label ("proxy", "healthz", ...). */
const char *ag_route_name(enum ag_route r);
const char *ag_decision_name(enum ag_decision d);

/** Counts one finished request. */
void ag_metrics_request(enum ag_route route, int status);

/** Records the time from sending to an upstream until its response completed. */
void ag_metrics_upstream_latency(uint64_t usec);

void ag_metrics_decision(enum ag_decision d);

/** Counts upstream failures by kind ("connect", "timeout", "reset", "retry"). */
void ag_metrics_upstream_error(const char *kind);

/** Adds requests_total, latency histogram and decisions to b (text format 0.0.4). */
enum ag_rc ag_metrics_render(struct ag_buf *b) AG_WUR;

/** Rewrites Prometheus text (0.0.4, as rendered here) as OpenMetrics 1.0 into out: a counter
 * family is named without its `_total` suffix in `# HELP`/`# TYPE` (samples keep it), and
 * `# EOF` ends the exposition. */
enum ag_rc ag_metrics_to_openmetrics(const char *text, size_t len, struct ag_buf *out) AG_WUR;

/** Zeroes everything (tests). */
void ag_metrics_reset(void);

#endif
