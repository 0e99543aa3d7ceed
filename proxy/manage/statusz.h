/* /statusz on the management listener: one JSON object saying what this replica runs with —
 * version, uptime, a digest of the effective config, the key sets (kids, last fetch), the
 * upstream replicas with their health and the shared-state store. Never a secret. */
#ifndef AG_PROXY_STATUSZ_H
#define AG_PROXY_STATUSZ_H

#include <stdint.h>

#include "core/arena.h"

struct ag_services;
struct ag_runtime;

/** The status document (NUL-terminated, in a), or NULL when it cannot be built. started_unix is
 * the wall-clock start of the process; uptime_s its monotonic age. */
char *ag_statusz_json(const struct ag_services *svc, struct ag_runtime *rt, struct ag_arena *a,
                      int64_t started_unix, double uptime_s);

#endif
