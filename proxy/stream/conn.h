/* The client side of a connection: reading request heads and bodies (conn_read.c), writing
 * answers, keep-alive, deadlines (slow heads, slow bodies, idle, stalled readers) and the access
 * log (conn.c). Loop thread only. Internal to proxy/stream/. */
#ifndef AG_PROXY_CONN_H
#define AG_PROXY_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "proxy/event/loop.h"

struct ag_shard;
struct ag_tls;
struct ag_req;

/* Where a client connection is. */
enum ag_cstate {
    AG_C_NEW = 0, /* accepted, nothing read yet: head deadline */
    AG_C_HEAD,    /* reading a request head: head deadline */
    AG_C_BUSY,    /* a request is being served (its phases are in struct ag_req) */
    AG_C_IDLE,    /* keep-alive between requests: idle deadline */
    AG_C_LINGER,  /* answer sent, closing: drain what the client still sends, briefly */
};

struct ag_cconn {
    struct ag_ev ev; /* first: the loop hands it to the handlers */
    uint8_t state;
    bool closing;     /* close once the queued output is out */
    bool mute_in;     /* input arrived that waits for the current answer: EPOLLIN dropped */
    uint8_t tls_want; /* AG_WANT_* the TLS layer waits for */
    int fd;
    struct ag_shard *sh;
    struct ag_tls *tls;
    struct ag_cconn *prev, *next;
    uint64_t since_ms;  /* entered the state, or last progress */
    uint64_t opened_ms; /* accepted (the oldest are shed first near server.max_connections) */
    bool peer_counted;  /* counted in the front's per-address table (ag_peers) */
    char *buf;          /* NULL while idle with nothing buffered */
    uint32_t cap, len, off;
    size_t scan; /* ag_h1_head_end's resume point */
    struct ag_req *req;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer;
    char peer_ip[INET6_ADDRSTRLEN]; /* the peer address as text, made once at accept */
};

/** The handler of a shard's listening socket (listen_ev): accepts what is waiting. */
void ag_cconn_listen_ready(struct ag_ev *ev, uint32_t events);
/** Closes every client connection of sh (the loop is stopping). */
void ag_cconn_close_all(struct ag_shard *sh);
void ag_cconn_close(struct ag_cconn *c, const char *why);
/** Writes what is queued to the client; false when the connection was closed. */
bool ag_cconn_flush(struct ag_cconn *c);
/** The request finished (answer fully written): log, metrics, next request or close. */
void ag_cconn_request_done(struct ag_cconn *c, bool ok);
/** Re-evaluates what the client side waits for (read, write) and registers it. */
void ag_cconn_rearm(struct ag_cconn *c);
/** Queues c to be run after this round of events (buffered input, resumed reading). */
void ag_cconn_kick(struct ag_cconn *c);
/** Decodes the buffered body bytes and hands them to the upstream. */
void ag_cconn_feed_body(struct ag_cconn *c);
/** The upstream took every queued body byte: the client may be read again. */
void ag_cconn_body_drained(struct ag_cconn *c);
/** The request body cannot be forwarded (too large, bad framing): answer status or close. */
void ag_cconn_body_error(struct ag_cconn *c, int status, const char *why);
/** For an own answer: skips a request body that is already buffered; when it is not, the
 * connection closes after the answer. */
void ag_cconn_skip_body(struct ag_cconn *c);

/* Between conn.c (the connection) and conn_read.c (reading heads and bodies). */
ssize_t ag_cconn_io_read(struct ag_cconn *c, void *b, size_t n);
void ag_cconn_buf_release(struct ag_cconn *c);
void ag_cconn_read_head(struct ag_cconn *c);
void ag_cconn_read_body(struct ag_cconn *c);

#endif
