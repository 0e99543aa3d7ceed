/* One non-blocking connection to Redis, driven by the state thread's epoll (state/store.c):
 * connect with a deadline, AUTH and SELECT before anything else, commands answered in order
 * through callbacks, a per-command deadline, and pub/sub messages handed to on_push. A lost or
 * timed-out connection fails every pending command (callback with NULL) and reconnects with a
 * jittered back-off. Only the thread that owns the epoll calls these functions. */
#ifndef AG_STATE_REDIS_CONN_H
#define AG_STATE_REDIS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "state/resp.h"

/** What epoll's data.ptr points at: the loop calls on_event and knows nothing else. */
struct ag_fd_handler {
    void (*on_event)(void *arg, uint32_t events);
    void *arg;
};

/** Called with the reply (the callee owns and frees it) or NULL: no answer (lost, timed out). */
typedef void (*ag_redis_reply_fn)(void *arg, struct ag_resp *reply);

struct ag_redis_conn_opts {
    const char *name; /* for logs: "commands", "subscriber" */
    const char *host;
    unsigned port;
    const char *user;     /* ACL user or NULL */
    const char *password; /* NULL: no AUTH */
    size_t password_len;
    long db;
    long connect_timeout_ms;
    long command_timeout_ms;
    /** Connection became usable (up) or was lost (why says what happened, never a secret). */
    void (*on_state)(void *arg, bool up, const char *why);
    /** A pub/sub message (array "message", channel, payload); the callee frees it. */
    void (*on_push)(void *arg, struct ag_resp *msg);
    void *arg;
};

struct ag_redis_conn;

/** A connection that will connect at the next tick. The strings in o are copied. */
struct ag_redis_conn *ag_redis_conn_new(const struct ag_redis_conn_opts *o, int epfd);

/** Closes (pending callbacks get NULL) and frees. NULL is a no-op. */
void ag_redis_conn_free(struct ag_redis_conn *c);

/** Timers: connect, command deadlines, reconnect back-off. Call at least every 100 ms. */
void ag_redis_conn_tick(struct ag_redis_conn *c, uint64_t now_ms);

bool ag_redis_conn_up(const struct ag_redis_conn *c);

/** Queues a command; cb must not be NULL. AG_OK: cb runs exactly once (perhaps already, with
 * NULL, when the write failed). AG_EUPSTREAM (cb not called) while the connection is not up. */
enum ag_rc ag_redis_conn_send(struct ag_redis_conn *c, int argc, const char *const *argv,
                              const size_t *lens, ag_redis_reply_fn cb, void *arg,
                              struct ag_err *err) AG_WUR;

/** From now on, array replies whose first element is "message" go to on_push. */
void ag_redis_conn_set_subscriber(struct ag_redis_conn *c);

/** Drops the connection (pending callbacks get NULL) and reconnects after the back-off. */
void ag_redis_conn_reset(struct ag_redis_conn *c, const char *why);

#endif
