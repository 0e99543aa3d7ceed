/* One forwarded request, shared by the HTTP front (a libmicrohttpd thread) and the upstream
 * client (the curl thread). Everything below `lock` is guarded by it; the front fills the
 * fields above it before ag_upstream_start and never changes them afterwards. */
#ifndef AG_PROXY_FWD_H
#define AG_PROXY_FWD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/http_msg.h"

struct ag_arena;
struct ag_config;
struct ag_replica;
struct ag_upstream;

#define AG_FWD_DOWN_CAP (64 * 1024) /* response bytes buffered per request, at most */
#define AG_FWD_UP_CAP (32 * 1024)   /* request body bytes buffered per request, at most */

enum ag_fwd_wait { AG_WAIT_NONE = 0, AG_WAIT_HEAD, AG_WAIT_DATA, AG_WAIT_SPACE };

enum ag_fwd_fail {
    AG_FAIL_NONE = 0,
    AG_FAIL_CONNECT,  /* no replica reachable: 502 (503 when none was healthy) */
    AG_FAIL_TIMEOUT,  /* upstream did not answer in time: 504 */
    AG_FAIL_PROTOCOL, /* reset, empty reply, bad response: 502 */
    AG_FAIL_NO_REPLICA,
};

struct ag_fwd {
    /* front-owned, read-only once started */
    const struct ag_config *cfg;
    struct ag_arena *arena; /* request arena; the curl thread only reads what is in it */
    const char *method;
    const char *url_path; /* path?query as received */
    void *req_headers;    /* struct curl_slist * built in arena by ag_upstream_header_add */
    void *req_headers_tail;
    long long body_len;             /* -1: no body, -2: unknown length (chunked), else length */
    void (*wake)(struct ag_fwd *f); /* resumes the front's suspended connection */
    void *front;                    /* the front's connection handle for wake */
    uint64_t t_start_us;
    bool head_method;
    bool retry_ok; /* idempotent without a body: may be retried once on another replica */

    /* guarded by lock (fields grouped by size to keep the struct compact) */
    bool front_gone;  /* the client side finished or went away */
    bool curl_done;   /* the curl side released the transfer */
    bool up_eof;      /* request body: the front has no more */
    bool up_paused;   /* request body: curl waits for data */
    bool head_ready;  /* the response head is complete */
    bool down_paused; /* response body: curl waits for room */
    bool done;        /* the transfer finished (fail says how) */
    bool replica_set;
    enum ag_fwd_wait waiting; /* the front connection is suspended waiting for this */
    enum ag_fwd_fail fail;
    int status;
    pthread_mutex_t lock;
    /* request body ring: front writes, curl reads */
    char *up_buf;
    size_t up_off, up_len;
    unsigned long long up_total;
    /* response head, built by the curl thread in resp_arena until head_ready */
    struct ag_arena *resp_arena;
    struct ag_http_header *resp_headers;
    size_t n_resp_headers, cap_resp_headers;
    long long resp_len; /* Content-Length from upstream, -1 unknown */
    /* response body ring: curl writes, front reads */
    char *down_buf;
    size_t down_off, down_len;
    unsigned long long down_total;
    struct ag_replica *replica; /* current replica (curl thread), read by the front at the end */
    uint64_t t_upstream_us;     /* upstream latency, set when done */
    char fail_msg[160];

    /* engine queue (guarded by the engine's queue lock) */
    struct ag_fwd *qnext;
    void *easy;                   /* CURL * while attached (curl thread only) */
    struct ag_fwd *aprev, *anext; /* attached list (curl thread only) */
    struct ag_fwd *wnext;
    void (*release)(struct ag_fwd *f); /* called when refs drops to 0 */
    unsigned cmd;
    atomic_int refs;
    bool queued;
    bool retried;
    bool wake_pending; /* curl thread only */
};

/** Drops one reference; the last calls f->release. */
void ag_fwd_unref(struct ag_fwd *f);

/** Monotonic microseconds. */
uint64_t ag_fwd_now_us(void);

#endif
