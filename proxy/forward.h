/* Forwarding on the front side: the upstream request head (header policy, identity headers,
 * X-Forwarded-*), the request body fed to the upstream client, and the streamed response. */
#ifndef AG_PROXY_FORWARD_H
#define AG_PROXY_FORWARD_H

#include <microhttpd.h>

#include "conf/config.h"
#include "core/err.h"
#include "rolemap/rolemap.h"

struct ag_preq;
struct ag_arena;

/** Fills p->fwd (method, target, headers, body mode) for the identity id. */
enum ag_rc ag_forward_prepare(struct ag_preq *p, const struct ag_identity *id,
                              struct ag_err *err) AG_WUR;

/** Access-handler step after the upstream call started: feeds body bytes, and once the body is
 * complete, queues the upstream's response (or the 502/503/504/413 answer). */
enum MHD_Result ag_forward_step(struct ag_preq *p, const char *data, size_t *size);

/** "a,b,c" in the arena ("" for an empty list). */
const char *ag_forward_join(struct ag_arena *a, const struct ag_strlist *l);

#endif
