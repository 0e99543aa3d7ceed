/* The upstream client: one thread running a libcurl multi handle (keep-alive connection cache
 * shared by all requests). The front hands it requests with ag_upstream_start and nudges it
 * with ag_upstream_notify; it never blocks a front thread. The only proxy file with curl. */
#ifndef AG_PROXY_UPSTREAM_H
#define AG_PROXY_UPSTREAM_H

#include <stdbool.h>

#include "core/err.h"
#include "proxy/fwd.h"

struct ag_pool;
struct ag_upstream;

enum ag_upstream_cmd {
    AG_CMD_START = 1u << 0,
    AG_CMD_UNPAUSE_RECV = 1u << 1, /* the front drained response bytes */
    AG_CMD_UNPAUSE_SEND = 1u << 2, /* the front added request body bytes */
    AG_CMD_ABORT = 1u << 3,        /* the front is gone */
};

/** Starts the curl thread. The pool outlives the engine. */
enum ag_rc ag_upstream_new(struct ag_pool *pool, struct ag_upstream **out,
                           struct ag_err *err) AG_WUR;

/** Aborts every transfer (waking their fronts), stops the thread and frees. */
void ag_upstream_free(struct ag_upstream *u);

/** Appends one "Name: value" request header line (copied into f->arena). */
void ag_upstream_header_add(struct ag_fwd *f, const char *name, const char *value);

/** Hands f to the curl thread (takes a reference). */
void ag_upstream_start(struct ag_upstream *u, struct ag_fwd *f);

/** Queues a command for f (bits of enum ag_upstream_cmd). Cheap; safe from any thread. */
void ag_upstream_notify(struct ag_upstream *u, struct ag_fwd *f, unsigned cmd);

/** Transfers currently attached (for draining). */
int ag_upstream_active(struct ag_upstream *u);

#endif
