/* Active health checks (GET upstreams.health_path every health_interval_s, rise/fall) and the
 * periodic DNS re-resolution of upstream names, on one background thread, never on the request
 * path. Uses the one HTTP client (core/http_client.h; blocking, on its own thread). */
#ifndef AG_PROXY_HEALTH_H
#define AG_PROXY_HEALTH_H

#include <stddef.h>

#include "conf/config.h"
#include "core/err.h"

struct ag_services;
struct ag_health;
struct ag_pool_member;
struct ag_arena;

/** Parsed upstream URL. */
struct ag_upstream_url {
    char scheme[8]; /* "http" or "https" */
    char host[256]; /* without brackets */
    unsigned port;
    char rest[256]; /* path prefix without trailing '/', may be "" */
    bool literal;   /* host is an IP address */
};

/** Parses "http://host:port/prefix"; AG_EINVAL with a reason for anything else. */
enum ag_rc ag_upstream_url_parse(const char *s, struct ag_upstream_url *out,
                                 struct ag_err *err) AG_WUR;

/** Builds the pool members for cfg's servers, resolving names when resolve_interval_s > 0
 * (one member per address, connecting to the address but keeping the name for TLS and Host).
 * Members live in a. Names that do not resolve are logged and skipped. */
size_t ag_health_members(const struct ag_config *cfg, struct ag_arena *a,
                         struct ag_pool_member **out);

/** Starts the thread; svc (borrowed: must outlive it) gives the pool and the current runtime. */
enum ag_rc ag_health_start(const struct ag_services *svc, struct ag_health **out,
                           struct ag_err *err) AG_WUR;

/** Asks for a re-resolution and a check round now (after a reload). */
void ag_health_kick(struct ag_health *h);

/** Stops and frees. NULL is a no-op. */
void ag_health_stop(struct ag_health *h);

#endif
