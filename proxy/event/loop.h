/* The event loops behind the front: one thread per core, each with its own epoll set owning
 * client connections and the upstream connections serving them, so a request never changes
 * thread and nothing on its path takes a lock. Internal to proxy/ (front.c, loop.c, conn.c,
 * upconn.c, request.c). */
#ifndef AG_PROXY_LOOP_H
#define AG_PROXY_LOOP_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "conf/config.h"
#include "core/http_msg.h"
#include "core/log.h"
#include "proxy/http/h1.h"
#include "proxy/manage/metrics.h"
#include "proxy/upstream/pool.h"

struct ag_front;
struct ag_proxy;
struct ag_runtime;
struct ag_tls;
struct ag_tls_ctx;
struct ag_arena;

#define AG_IOBUF 16384       /* pooled I/O buffer: request heads start here, bodies stream here */
#define AG_UP_HEAD_MAX 65536 /* largest upstream response head accepted */
#define AG_IDLE_PER_REPLICA 512

#define AG_WANT_READ 1
#define AG_WANT_WRITE 2

enum ag_ev_kind { AG_EV_LISTEN = 1, AG_EV_WAKE, AG_EV_CLIENT, AG_EV_UPSTREAM };

/* What every epoll registration points at. */
struct ag_ev {
    uint8_t kind;
    uint32_t events; /* the interest currently registered */
};

/* Where a client connection is. */
enum ag_cstate {
    AG_C_NEW = 0, /* accepted, nothing read yet: head deadline */
    AG_C_HEAD,    /* reading a request head: head deadline */
    AG_C_BUSY,    /* a request is being served (its phases are in struct ag_req) */
    AG_C_IDLE,    /* keep-alive between requests: idle deadline */
    AG_C_LINGER,  /* answer sent, closing: drain what the client still sends, briefly */
};

/* Output queue of one direction: up to six slices, sent in order. */
struct ag_outq {
    struct iovec v[6];
    int n, i;     /* slices queued, first unsent */
    size_t total; /* unsent bytes */
};

struct ag_loop;
struct ag_req;
struct ag_free_buf;
struct ag_authcache;

struct ag_cconn {
    struct ag_ev ev;
    uint8_t state;
    bool closing; /* close once the queued output is out */
    bool in_ready;
    bool mute_in;     /* input arrived that waits for the current answer: EPOLLIN dropped */
    uint8_t tls_want; /* AG_WANT_* the TLS layer waits for */
    int fd;
    struct ag_loop *loop;
    struct ag_tls *tls;
    struct ag_cconn *prev, *next;
    struct ag_cconn *ready_next;
    uint64_t since_ms; /* entered the state, or last progress */
    char *buf;         /* NULL while idle with nothing buffered */
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

struct ag_uconn {
    struct ag_ev ev;
    bool connecting;
    uint8_t tls_want;
    bool reused;  /* came from the idle pool: may have been closed by the upstream meanwhile */
    bool in_idle; /* on the loop's idle list for its replica */
    int fd;
    unsigned gen; /* the replica slot's generation at connect */
    struct ag_loop *loop;
    struct ag_tls *tls;
    struct ag_replica *replica;
    struct ag_req *req; /* NULL while idle */
    struct ag_uconn *next_idle;
    struct ag_uconn *prev, *next; /* every upstream connection of the loop */
    uint64_t since_ms;
};

/* Phases of a forwarded request. */
enum ag_rphase {
    AG_R_LOCAL = 0, /* answered by airgate itself */
    AG_R_UPSTREAM,  /* forwarded */
};

/* What the decision step concluded. */
enum ag_verdict { AG_V_NONE = 0, AG_V_RESPOND, AG_V_FORWARD, AG_V_AGAIN };

struct ag_req {
    struct ag_arena *arena;
    struct ag_loop *loop;
    struct ag_proxy *px;
    struct ag_cconn *c; /* never touched by a worker */
    struct ag_uconn *u;
    struct ag_runtime *rt;  /* one reference for the request */
    unsigned rt_gen;        /* the runtime generation (px->rt_gen) it was taken at */
    struct ag_h1_parser in; /* request body */
    struct ag_h1_head head;
    struct ag_http_request req;
    struct ag_http_response extra; /* headers for the forwarded answer (session Set-Cookie) */
    enum ag_route route;
    uint8_t phase;
    bool trusted;
    bool public_route; /* matched public_routes: forwarded without identity or Authorization */
    bool keep_alive;   /* the client connection stays open after this answer */
    bool body_done;    /* the whole request body was read from the client */
    bool collect;      /* the body is read into cbody for airgate itself (back-channel logout) */
    char *cbody;       /* AG_REQ_COLLECT_MAX + 1 bytes in the arena while collect */
    size_t cbody_len;
    bool body_sent;  /* ... and written to the upstream */
    bool up_chunked; /* the request body goes upstream chunked */
    bool retry_ok;   /* idempotent without a body: may be retried once elsewhere */
    bool retried;
    bool head_ready;      /* the upstream response head was parsed and queued to the client */
    bool resp_chunked;    /* the answer goes to the client chunked */
    bool resp_done;       /* the upstream response is complete */
    bool client_paused;   /* not reading the client: the upstream is not taking its body */
    bool upstream_paused; /* not reading the upstream: the client is not taking the answer */
    bool up_wrote;        /* some of the request reached the upstream connection */
    bool up_write_failed; /* the upstream stopped reading the request (see upconn.c) */
    bool offloaded;       /* a worker is deciding: the loop leaves the request alone */
    bool abandoned;       /* the client went away while a worker decided: free on return */
    uint8_t verdict;
    struct ag_http_response vresp; /* AG_V_RESPOND */
    struct ag_identity *vid;       /* AG_V_FORWARD, decided now */
    const char *vheaders;          /* AG_V_FORWARD from the loop's bearer cache: identity block */
    size_t vheaders_len;
    int64_t cache_until; /* > 0: the bearer decision may be cached until then (wall clock s) */
    int status;
    unsigned long long body_in, bytes_out;
    uint64_t t0_us, t_up_us;
    uint64_t up_since_ms;    /* upstream progress (connect, head, body), for its deadline */
    uint64_t body_since_ms;  /* the body deadline runs from here */
    uint64_t pause_since_ms; /* client reading paused since (the upstream was slow) */
    struct ag_replica *replica;
    struct ag_outq oq; /* to the client */
    struct ag_outq uq; /* to the upstream */
    char *up_head;     /* the upstream request head (arena) */
    size_t up_head_len;
    char *dbuf; /* upstream read buffer (pooled when dcap is AG_IOBUF) */
    uint32_t dlen, dcap;
    size_t dscan;
    const char *fwd_target; /* origin-form target sent upstream (after the replica's prefix) */
    bool stale_retried;
    struct ag_h1_parser out; /* response body */
    struct ag_h1_head rhead;
    char cpre[24], upre[24]; /* chunk size lines to the client / to the upstream */
    const char *user, *roles;
    char rid[24];
    struct ag_log_ctx lctx;
    struct ag_req *free_next;
};

struct ag_loop {
    struct ag_ev wake_ev;
    struct ag_ev listen_ev;
    atomic_int listen_fd; /* this loop's own listening socket (SO_REUSEPORT), -1: none */
    atomic_int inflight;  /* requests being served (written by the loop only) */
    int epfd, evfd;
    int index;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    struct ag_front *front;
    struct ag_proxy *px;
    struct ag_cconn *conns;
    struct ag_uconn *uconns;
    struct ag_uconn *idle[AG_POOL_MAX];
    int n_idle[AG_POOL_MAX];
    struct ag_free_buf *free_bufs; /* pooled AG_IOBUF buffers, linked through their first bytes */
    int n_free_bufs;
    struct ag_req *free_reqs;
    int n_free_reqs;
    struct ag_cconn *dead_c; /* closed this round, freed after it (events may still name them) */
    struct ag_uconn *dead_u;
    struct ag_cconn *ready;         /* connections with work that no epoll event will announce */
    struct ag_authcache *authcache; /* bearer decisions (authcache.h), created on first use */
    pthread_mutex_t done_lock;
    struct ag_req *done; /* decided by workers, waiting for the loop */
    uint64_t now_ms, next_sweep_ms;
    struct ag_runtime *rt; /* current runtime, refreshed per generation */
    unsigned rt_gen;
    char date[64]; /* "Date: ...\r\n" for the current second */
    int64_t date_sec;
};

/* loop.c */
uint64_t ag_loop_now_ms(void);
uint64_t ag_loop_now_us(void);
char *ag_loop_buf_get(struct ag_loop *l);
void ag_loop_buf_put(struct ag_loop *l, char *b);
/** Registers or changes the epoll interest of fd (events 0: none, still registered). */
void ag_loop_watch(struct ag_loop *l, int fd, struct ag_ev *ev, uint32_t events);
/** The current runtime (no reference taken: valid while the loop runs this event). */
struct ag_runtime *ag_loop_runtime(struct ag_loop *l);
const char *ag_loop_date(struct ag_loop *l);
int ag_loop_start(struct ag_loop *l);
#define AG_IO_AGAIN (-2)

/** Reads from a plain (tls NULL) or TLS socket: bytes, 0 at end of stream, AG_IO_AGAIN when it
 * would block (*want then says what TLS waits for), -1 on error. */
ssize_t ag_io_read(int fd, struct ag_tls *tls, uint8_t *want, void *b, size_t n);
/** Writes the slices in order: bytes written, AG_IO_AGAIN, or -1 on error. */
ssize_t ag_io_writev(int fd, struct ag_tls *tls, uint8_t *want, const struct iovec *v, int n);

/** Adds d to the loop's count of requests being served. Loop thread. */
void ag_loop_inflight_add(struct ag_loop *l, int d);
/** Hands r (decided by a worker) back to its loop. Any thread. */
void ag_loop_post(struct ag_loop *l, struct ag_req *r);
/** Frees a request object (back to the loop's pool). Loop thread. */
void ag_req_free(struct ag_loop *l, struct ag_req *r);

/* conn.c: the client side */
void ag_cconn_accepted(struct ag_loop *l, int fd, const struct sockaddr *sa, socklen_t len);
void ag_cconn_event(struct ag_cconn *c, uint32_t events);
void ag_cconn_close(struct ag_cconn *c, const char *why);
/** Checks c's deadline (head, idle, body rate, stalled client). */
void ag_cconn_sweep(struct ag_cconn *c, uint64_t now);
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

/* upconn.c: the upstream side */
void ag_uconn_event(struct ag_uconn *u, uint32_t events);
void ag_uconn_sweep(struct ag_uconn *u, uint64_t now);
/** Picks a replica and a connection for r and sends its head (+ the body bytes there are). */
void ag_up_forward(struct ag_req *r);
/** The client delivered more body bytes (decoded data at buf[0..n)): send them upstream. */
void ag_up_body(struct ag_req *r, const char *data, size_t n, bool last);
/** The client took all queued output: resume reading the upstream. */
void ag_up_resume(struct ag_req *r);
/** Drops r's upstream side (client gone or request over). */
void ag_up_detach(struct ag_req *r, bool reusable);
void ag_uconn_close(struct ag_uconn *u);
void ag_loop_idle_trim(struct ag_loop *l, uint64_t now);

/* request.c: the pipeline between head and forwarding */
/** Handles a parsed request head: own endpoints, login, authentication, policy; then either
 * queues an own answer or starts forwarding. Decisions that may wait on the IdP go to the
 * decision pool (offload.h) and continue in ag_req_resume. */
void ag_req_begin(struct ag_req *r);
/** Decides r (login endpoints, session, bearer token, policy) into r->verdict; touches neither
 * the connection nor the loop, so a worker may run it. With may_block false, a decision that
 * would need the network ends as AG_V_AGAIN. */
void ag_req_decide(struct ag_req *r, bool may_block);
/** The decision for requests caught by a shutdown: 503. */
void ag_req_decide_shutdown(struct ag_req *r);
/** Continues r on its loop once a worker decided it. */
void ag_req_resume(struct ag_req *r);

#define AG_REQ_COLLECT_MAX 16384 /* largest body airgate reads for itself */

/** The body collected for airgate's own endpoint is complete (cbody): decide now. */
void ag_req_body_collected(struct ag_req *r);
/** Queues an own answer (status line, headers, body; HEAD without the body). */
void ag_req_respond(struct ag_req *r, const struct ag_http_response *resp);
/** A short JSON (or HTML for navigations) error answer. */
void ag_req_error(struct ag_req *r, int status, const char *code, const char *text);
/** Builds the client response head for the upstream head r->rhead into the arena. */
void ag_req_response_head(struct ag_req *r, const char **out, size_t *len);
/** The request line for replica rep (its path prefix, and Host when the client sent none). */
void ag_req_upstream_line(struct ag_req *r, const struct ag_replica *rep, const char **out,
                          size_t *len);
/** "a,b,c" in the arena ("" for an empty list). */
const char *ag_req_join(struct ag_arena *a, const struct ag_strlist *l);

/* outq */
static inline void ag_outq_reset(struct ag_outq *q)
{
    q->n = q->i = 0;
    q->total = 0;
}
static inline void ag_outq_add(struct ag_outq *q, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(&q->v[q->n].iov_base, &p, sizeof(p)); /* iovec wants void *; nothing writes through it */
    q->v[q->n].iov_len = n;
    q->n++;
    q->total += n;
}
/** Marks k bytes as sent. */
void ag_outq_advance(struct ag_outq *q, size_t k);

/** Writes "<hex n>\r\n" (a chunk-size line) into out (at least 20 bytes); returns its length. */
static inline size_t ag_chunk_line(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t k = 0;
    do {
        tmp[k++] = hex[n & 15];
        n >>= 4;
    } while (n);
    for (size_t i = 0; i < k; i++)
        out[i] = tmp[k - 1 - i];
    out[k] = '\r';
    out[k + 1] = '\n';
    return k + 2;
}

#endif
