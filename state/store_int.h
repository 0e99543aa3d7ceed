/* Private to state/: the store's structs, shared by store.c (the calls of store.h, on any thread)
 * and sync.c (the state thread: commands to Redis, revocations published and re-synced). */
#ifndef AG_STATE_STORE_INT_H
#define AG_STATE_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "state/redis_conn.h"
#include "state/revset.h"
#include "state/store.h"

#define AG_STATE_MAX_ARGS 7
#define AG_STATE_OUTBOX_MAX 100000
#define AG_STATE_KEY_MAX 200

/* A command handed from a caller thread to the state thread. */
struct ag_state_op {
    int argc;
    char *argv[AG_STATE_MAX_ARGS];
    size_t lens[AG_STATE_MAX_ARGS];
    bool wait; /* a caller waits for the reply (else: fire and forget) */
    bool done, abandoned;
    struct ag_resp *reply;
    struct ag_state *s;
    struct ag_state_op *next;
};

/* A revocation not yet stored in Redis. */
struct ag_state_outbox {
    struct ag_revocation r;
    struct ag_state_outbox *next;
};

struct ag_state {
    bool shared, deny_when_down;
    uint8_t hash_key[32];
    char prefix[64];
    char zkey[96], channel[96];
    char owner[33]; /* this process's lock token */
    long command_timeout_ms, resync_s;

    pthread_rwlock_t rw; /* revoked, used */
    struct ag_revset *revoked, *used;
    atomic_size_t n_revoked;

    pthread_mutex_t mu; /* ops, outbox, flags below */
    pthread_cond_t cond;
    struct ag_state_op *ops_head, *ops_tail;
    struct ag_state_outbox *outbox;
    size_t n_outbox, n_inflight_outbox;
    atomic_bool up, stop;
    atomic_ullong received, errors;

    /* state thread only */
    pthread_t thread;
    bool thread_started;
    int epfd, evfd;
    struct ag_fd_handler wake;
    struct ag_redis_conn *cmd, *sub;
    bool subscribed, resync_needed;
    uint64_t next_resync_ms, next_expire_ms;
};

/** CLOCK_MONOTONIC in milliseconds. */
uint64_t ag_state_now_ms(void);

/** A copy of argv (lens NULL: C strings) as a command for the state thread; freed (wiped) by
 * ag_state_op_free. */
struct ag_state_op *ag_state_op_new(struct ag_state *s, int argc, const char *const *argv,
                                    const size_t *lens);
void ag_state_op_free(struct ag_state_op *op);

/** Wakes the state thread (its eventfd). */
void ag_state_wake(struct ag_state *s);

/** Queues op; with reply non-NULL, waits for the answer (owned by the caller) or the timeout. */
enum ag_rc ag_state_run(struct ag_state *s, struct ag_state_op *op, struct ag_resp **reply,
                        struct ag_err *err);

/** Adds r to the in-memory revocation set (any thread). */
void ag_state_apply(struct ag_state *s, const struct ag_revocation *r);

/** State thread (and ag_state_free after it stopped): sends the queued commands; those that
 * cannot be sent complete with a NULL reply. */
void ag_state_drain_ops(struct ag_state *s);

/** Parses o->redis_url, makes the two connections and starts the state thread. */
enum ag_rc ag_state_start_redis(struct ag_state *s, const struct ag_state_opts *o,
                                struct ag_err *err);

#endif
