/* The upstream pool: replicas with health state, balancing (round-robin, least-connections) and
 * passive ejection. Membership changes (config reload, DNS re-resolution) go through
 * ag_pool_sync under a mutex; the request path only reads atomics. Process lifetime. */
#ifndef AG_PROXY_POOL_H
#define AG_PROXY_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define AG_POOL_MAX 64

/** One replica. Slots are never freed, only retired, so a pointer stays valid for the process
 * lifetime; a retired slot is reused only when no request uses it. */
struct ag_replica {
    char base[320];       /* "http://10.0.0.5:8080" (URL prefix the path is appended to) */
    char connect_to[320]; /* "" or curl CONNECT_TO "host:port:addr:port" (DNS mode) */
    char label[128];      /* host:port as shown in logs and metrics */
    /* where and how the upstream client connects (set with the membership) */
    struct sockaddr_storage sa;
    socklen_t sa_len; /* 0: the name did not resolve */
    bool tls;
    char host[256];    /* TLS name (without brackets) */
    char hosthdr[272]; /* Host header for clients that sent none: "host:port" */
    char prefix[256];  /* path prefix of the base URL ("" or "/airflow") */
    atomic_uint gen;   /* bumped whenever the slot is (re)assigned: pooled connections check it */
    int index;
    atomic_bool in_use;
    atomic_bool healthy;
    atomic_int active; /* requests in flight */
    atomic_uint_fast64_t requests, failures;
    /* health state machine, touched by the health thread and by passive ejection */
    pthread_mutex_t hlock;
    int ok_streak, fail_streak;
};

struct ag_pool {
    struct ag_replica slots[AG_POOL_MAX];
    atomic_int n_slots; /* slots ever used (prefix of slots[]) */
    atomic_uint rr;
    atomic_int balance; /* enum ag_balance */
    atomic_long rise, fall;
    pthread_mutex_t lock; /* membership changes only */
};

/** One desired member for ag_pool_sync. */
struct ag_pool_member {
    const char *base;
    const char *connect_to; /* may be NULL */
    const char *label;
    const struct sockaddr *sa; /* may be NULL: the name did not resolve */
    socklen_t sa_len;
    bool tls;
    const char *host, *hosthdr, *prefix;
};

void ag_pool_init(struct ag_pool *p, int balance, long rise, long fall);
void ag_pool_destroy(struct ag_pool *p);

/** Makes the in-use set equal to members (matched by base + connect_to); new replicas start
 * healthy so traffic flows before the first check. Returns how many changed. */
int ag_pool_sync(struct ag_pool *p, const struct ag_pool_member *members, size_t n);

/** Picks a healthy replica (skipping `avoid`, may be NULL) and counts it active; NULL when
 * none is healthy. Release with ag_pool_release. */
struct ag_replica *ag_pool_pick(struct ag_pool *p, const struct ag_replica *avoid);

void ag_pool_release(struct ag_replica *r);

/** Health state machine: one check result. Healthy -> unhealthy after `fall` failures in a
 * row, unhealthy -> healthy after `rise` successes in a row. Returns true when the state
 * changed. */
bool ag_pool_observe(struct ag_pool *p, struct ag_replica *r, bool ok);

/** Passive ejection (connect error): unhealthy now, back after `rise` good checks. Returns true
 * when the state changed. */
bool ag_pool_eject(struct ag_pool *p, struct ag_replica *r);

/** Number of in-use replicas that are healthy. */
int ag_pool_healthy_count(struct ag_pool *p);

#endif
