/* airgate's own endpoints: /healthz, /readyz, /metrics and /.well-known/airgate/jwks.json. */
#ifndef AG_PROXY_ENDPOINTS_H
#define AG_PROXY_ENDPOINTS_H

#include "core/http_msg.h"
#include "proxy/manage/metrics.h"

struct ag_services;
struct ag_runtime;

/** The own route for path, or AG_ROUTE_PROXY when the path is forwarded. */
enum ag_route ag_endpoints_route(const char *path);

/** Answers an own route into resp (405 for methods other than GET/HEAD); svc gives the pool,
 * the caches and the counters /readyz and /metrics report. */
void ag_endpoints_handle(const struct ag_services *svc, struct ag_runtime *rt, struct ag_arena *a,
                         const struct ag_http_request *req, enum ag_route route,
                         struct ag_http_response *resp);

#endif
