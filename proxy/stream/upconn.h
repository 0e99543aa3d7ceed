/* The upstream side: per-loop keep-alive connections to the replicas, sending request heads
 * and bodies, failures and retries (upconn.c); reading responses and streaming them to the
 * client with backpressure both ways (upresp.c). Loop thread only. Internal to proxy/stream/. */
#ifndef AG_PROXY_UPCONN_H
#define AG_PROXY_UPCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proxy/event/loop.h"

#define AG_UP_HEAD_MAX 65536 /* largest upstream response head accepted */
#define AG_IDLE_PER_REPLICA 512

struct ag_shard;
struct ag_tls;
struct ag_req;
struct ag_replica;

struct ag_uconn {
    struct ag_ev ev; /* first: the loop hands it to the handlers */
    bool connecting;
    uint8_t tls_want;
    bool reused;  /* came from the idle pool: may have been closed by the upstream meanwhile */
    bool in_idle; /* on the loop's idle list for its replica */
    int fd;
    unsigned gen; /* the replica slot's generation at connect */
    struct ag_shard *sh;
    struct ag_tls *tls;
    struct ag_replica *replica;
    struct ag_req *req; /* NULL while idle */
    struct ag_uconn *next_idle;
    struct ag_uconn *prev, *next; /* every upstream connection of the loop */
    uint64_t since_ms;
};

/** Picks a replica and a connection for r and sends its head (+ the body bytes there are). */
void ag_up_forward(struct ag_req *r);
/** The client delivered more body bytes (decoded data at buf[0..n)): send them upstream. */
void ag_up_body(struct ag_req *r, const char *data, size_t n, bool last);
/** The client took all queued output: resume reading the upstream. */
void ag_up_resume(struct ag_req *r);
/** Drops r's upstream side (client gone or request over). */
void ag_up_detach(struct ag_req *r, bool reusable);
void ag_uconn_close(struct ag_uconn *u);
/** Closes every upstream connection of sh (the loop is stopping). */
void ag_uconn_close_all(struct ag_shard *sh);

/* Between upconn.c (connections, sending, failures) and upresp.c (reading the answer). */
enum ag_up_fail { AG_UF_CONNECT, AG_UF_TIMEOUT, AG_UF_PROTOCOL, AG_UF_NO_REPLICA };
void ag_up_failed(struct ag_req *r, enum ag_up_fail kind, const char *msg);
void ag_uconn_rearm(struct ag_uconn *u);
void ag_uconn_read(struct ag_uconn *u);
const char *ag_uconn_io_error(struct ag_uconn *u);
bool ag_uconn_handshake_failed(const struct ag_uconn *u);
ssize_t ag_uconn_io_read(struct ag_uconn *u, void *b, size_t n);

#endif
