/* One request on a client connection: the record (struct ag_req) and the pipeline between a
 * parsed head and the upstream (request.c: own endpoints, login, authentication, policy, the
 * hand-over to a worker); own answers and forwarded response heads (respond.c); the upstream
 * request head with the identity headers (uphead.c). Internal to proxy/stream/. */
#ifndef AG_PROXY_REQUEST_H
#define AG_PROXY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/login/login.h"
#include "conf/config.h"
#include "core/http_msg.h"
#include "core/log.h"
#include "proxy/decide/authpath.h"
#include "proxy/event/loop.h"
#include "proxy/http/h1.h"
#include "proxy/manage/metrics.h"
#include "proxy/stream/outq.h"

#define AG_REQ_COLLECT_MAX 16384 /* largest body airgate reads for itself */

struct ag_arena;
struct ag_cconn;
struct ag_identity;
struct ag_replica;
struct ag_runtime;
struct ag_services;
struct ag_shard;
struct ag_uconn;

/* Phases of a forwarded request. */
enum ag_rphase {
    AG_R_LOCAL = 0, /* answered by airgate itself */
    AG_R_UPSTREAM,  /* forwarded */
};

/* What the decision step concluded. */
enum ag_verdict {
    AG_V_NONE = 0,
    AG_V_RESPOND,
    AG_V_FORWARD,
    AG_V_AGAIN,
    AG_V_WAIT, /* an expired session's refresh runs: parked (no thread held) until it ends */
};

struct ag_req {
    struct ag_arena *arena;
    struct ag_shard *sh;
    struct ag_task task;           /* a decision on a worker (offload.h) */
    const struct ag_services *svc; /* what the proxy lends (services.h) */
    struct ag_cconn *c;            /* never touched by a worker */
    struct ag_uconn *u;
    struct ag_runtime *rt; /* one reference for the request */
    unsigned rt_gen; /* the runtime generation (the proxy's runtime generation) it was taken at */
    struct ag_h1_parser in; /* request body */
    struct ag_h1_head head;
    struct ag_http_request req;
    struct ag_authpath_in ap;      /* the facts the auth precedence is decided on (authpath.h) */
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
    bool login_waited;    /* parked once for a refresh: the next session check waits inline */
    struct ag_login_result lwait;   /* AG_V_WAIT: which refresh */
    struct ag_login_waiter lwaiter; /* AG_V_WAIT: the refresh thread re-queues the decision */
    uint8_t verdict;
    struct ag_http_response vresp; /* AG_V_RESPOND */
    struct ag_identity *vid;       /* AG_V_FORWARD, decided now */
    const char *vheaders;          /* AG_V_FORWARD from the loop's bearer cache: identity block */
    size_t vheaders_len;
    int64_t cache_until; /* > 0: the bearer decision may be cached until then (wall clock s) */
    const struct ag_session *vsession; /* allowed by this session cookie alone (cacheable) */
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

/** The body collected for airgate's own endpoint is complete (cbody): decide now. */
void ag_req_body_collected(struct ag_req *r);
/* respond.c: own answers and forwarded response heads */
/** Queues an own answer (status line, headers, body; HEAD without the body). */
void ag_req_respond(struct ag_req *r, const struct ag_http_response *resp);
/** A short JSON (or HTML for navigations) error answer. */
void ag_req_error(struct ag_req *r, int status, const char *code, const char *text);
/** Builds the client response head for the upstream head r->rhead into the arena. */
void ag_req_response_head(struct ag_req *r, const char **out, size_t *len);
/* uphead.c: the upstream request head */
/** The request line for replica rep (its path prefix, and Host when the client sent none). */
void ag_req_upstream_line(struct ag_req *r, const struct ag_replica *rep, const char **out,
                          size_t *len);
/** "a,b,c" in the arena ("" for an empty list). */
const char *ag_req_join(struct ag_arena *a, const struct ag_strlist *l);

/** The header block sent to every replica (id: identity decided now; else r->vheaders). */
void ag_req_prepare(struct ag_req *r, const struct ag_identity *id);
/** A bearer request (ag_authpath_where said AG_AP_TRY_CACHE) this loop already decided:
 * forwards with the cached identity block. False on a miss. */
bool ag_req_cached_bearer(struct ag_req *r);

/** A session-cookie request this loop already decided for the very same sealed cookie, whose
 * session still passes every time and revocation check (ag_login_pin_valid): forwards with the
 * cached identity block without decrypting the cookie or going to a worker. */
bool ag_req_cached_session(struct ag_req *r);

/* request.c */
/** A request record from sh's pool (zeroed, with its arena). */
struct ag_req *ag_req_get(struct ag_shard *sh);
/** Frees a request object (back to the shard's pool). Loop thread. */
void ag_req_free(struct ag_shard *sh, struct ag_req *r);
/** Frees the pooled request records of sh (the loop is stopping). */
void ag_req_pool_free(struct ag_shard *sh);
/** The error answer, built without sending it (workers use it too). */
void ag_req_error_resp(struct ag_req *r, int status, const char *code, const char *text,
                       struct ag_http_response *out);

#endif
