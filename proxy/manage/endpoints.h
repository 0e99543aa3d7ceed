/* airgate's own endpoints. The public listener answers /healthz, /readyz and
 * /.well-known/airgate/jwks.json (404 for /metrics and /statusz); the management listener
 * (mgmt_http.h) answers /healthz, /readyz, /metrics and /statusz. */
#ifndef AG_PROXY_ENDPOINTS_H
#define AG_PROXY_ENDPOINTS_H

#include "core/http_msg.h"
#include "proxy/manage/metrics.h"

struct ag_services;
struct ag_runtime;

/** The own route for path, or AG_ROUTE_PROXY when the path is forwarded. */
enum ag_route ag_endpoints_route(const char *path);

/** Answers an own route of the public listener into resp (405 for methods other than GET/HEAD,
 * 404 for the management-only routes). */
void ag_endpoints_handle(const struct ag_services *svc, struct ag_runtime *rt, struct ag_arena *a,
                         const struct ag_http_request *req, enum ag_route route,
                         struct ag_http_response *resp);

/** The management listener's handler (an ag_mgmt_http_fn; ctx is the proxy's const struct
 * ag_services): takes the current runtime, answers /healthz, /readyz, /metrics (OpenMetrics when
 * Accept asks for application/openmetrics-text) and /statusz, 404 for anything else, and counts the
 * request. */
void ag_endpoints_manage_serve(void *ctx, struct ag_arena *a, const struct ag_http_request *req,
                               struct ag_http_response *resp);

#endif
