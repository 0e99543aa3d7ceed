/* The per-request context of the front (internal to proxy/). */
#ifndef AG_PROXY_PREQ_H
#define AG_PROXY_PREQ_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/http_msg.h"
#include "core/log.h"
#include "proxy/fwd.h"
#include "proxy/metrics.h"

struct ag_front;
struct ag_proxy;
struct ag_runtime;
struct ag_conn;

struct ag_preq {
    struct ag_fwd fwd; /* first member: the upstream client sees only this */
    struct ag_front *front;
    struct ag_proxy *px;
    struct ag_runtime *rt; /* one reference for the request's lifetime */
    struct ag_conn *cctx;
    struct MHD_Connection *conn;
    struct ag_arena *arena;
    struct ag_http_request req;
    enum ag_route route;
    bool trusted;    /* the peer is a trusted proxy */
    bool forwarding; /* handed to the upstream client */
    bool queued;     /* a response is queued */
    bool too_large;  /* streamed body went over the limit */
    bool pending;    /* resp is answered at the next call, once the (empty) body is read */
    struct ag_http_response resp;
    struct ag_http_response extra; /* headers for the forwarded answer (session Set-Cookie) */
    int status;
    unsigned long long bytes_out, body_in;
    uint64_t t0_us;
    const char *user, *roles;
    char rid[24];
    struct ag_log_ctx lctx; /* request id and user for log lines */
    struct ag_preq *free_next;
};

#endif
