/* A small pool of threads for the request decisions that may wait on the IdP (login endpoints,
 * browser sessions that may need a refresh, the IdP reachability probe, an unknown signing key
 * to re-fetch), so an event loop never blocks on the network: the loop hands the request over,
 * keeps serving its other connections, and continues the request when the worker posts it
 * back. Process lifetime. */
#ifndef AG_PROXY_OFFLOAD_H
#define AG_PROXY_OFFLOAD_H

#include "core/err.h"

struct ag_offload;
struct ag_req;

/** Starts n worker threads (n < 1: 4). */
enum ag_rc ag_offload_start(int n, struct ag_offload **out, struct ag_err *err) AG_WUR;

/** Queues r: a worker runs ag_req_decide(r, true) and posts r back to its loop. Any thread.
 * After ag_offload_stop, r is posted back at once with a 503 decision. */
void ag_offload_submit(struct ag_offload *o, struct ag_req *r);

/** Lets the running decisions finish, answers what is still queued with 503, stops the threads
 * and frees o. NULL is a no-op. The loops must still be running (they receive the answers). */
void ag_offload_stop(struct ag_offload *o);

/** Requests queued or being decided. */
int ag_offload_pending(struct ag_offload *o);

#endif
