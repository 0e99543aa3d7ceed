/* A small pool of threads for work that may block (the request decisions that may wait on the
 * IdP: login endpoints, browser sessions that may need a refresh, the IdP reachability probe,
 * an unknown signing key to re-fetch), so an event loop never blocks on the network: the loop
 * hands a task over, keeps serving its other connections, and continues when the worker posts
 * the task back (loop.h). Process lifetime. */
#ifndef AG_PROXY_OFFLOAD_H
#define AG_PROXY_OFFLOAD_H

#include "core/err.h"

struct ag_offload;
struct ag_task;

/** Starts n worker threads (n < 1: 4). */
enum ag_rc ag_offload_start(int n, struct ag_offload **out, struct ag_err *err) AG_WUR;

/** Queues t: a worker runs t->run(t, false) and posts t back to t->loop. Any thread. After
 * ag_offload_stop, t->run(t, true) runs at once and t is posted back. */
void ag_offload_submit(struct ag_offload *o, struct ag_task *t);

/** Lets the running tasks finish, runs what is still queued as stopping, stops the threads
 * and frees o. NULL is a no-op. The loops must still be running (they receive the answers). */
void ag_offload_stop(struct ag_offload *o);

/** Requests queued or being decided. */
int ag_offload_pending(struct ag_offload *o);

#endif
