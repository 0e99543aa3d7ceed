/* The management listener's HTTP server: libmicrohttpd behind this one header (mgmt_http.c is
 * the only file that includes <microhttpd.h>). MHD runs its own polling thread (epoll); the
 * handler is called there, one request at a time, and must not block. Connections, request
 * heads and idle time are bounded; MHD answers malformed requests (400) itself. Only GET and
 * HEAD reach the handler with a request: other methods get 405 here. */
#ifndef AG_PROXY_MGMT_HTTP_H
#define AG_PROXY_MGMT_HTTP_H

#include <stdint.h>

#include "core/err.h"
#include "core/http_msg.h"

struct ag_mgmt_http;

/** Answers one request into resp (memory from a, freed after the answer is queued). */
typedef void (*ag_mgmt_http_fn)(void *ctx, struct ag_arena *a, const struct ag_http_request *req,
                                struct ag_http_response *resp);

#define AG_MGMT_HTTP_MAX_CONNECTIONS 64 /* further connections are closed at accept */
#define AG_MGMT_HTTP_TIMEOUT_S 10       /* an idle or stalled connection is closed */
#define AG_MGMT_HTTP_MEMORY_LIMIT 32768 /* bytes per connection for the request head */

struct ag_mgmt_http_opts {
    const char *host; /* IP literal: "127.0.0.1", "0.0.0.0", "::" */
    uint16_t port;    /* 0: a free port (see ag_mgmt_http_port) */
    ag_mgmt_http_fn handler;
    void *ctx;
};

/** Binds host:port and starts serving. AG_EIO with "cannot serve management on ADDR: REASON"
 * when the address cannot be bound (in use, not local, no permission). */
enum ag_rc ag_mgmt_http_start(const struct ag_mgmt_http_opts *o, struct ag_mgmt_http **out,
                              struct ag_err *err) AG_WUR;

/** The bound port. */
uint16_t ag_mgmt_http_port(const struct ag_mgmt_http *m);

/** Stops the thread, closes the socket and every connection, frees m. NULL is a no-op. */
void ag_mgmt_http_stop(struct ag_mgmt_http *m);

#endif
