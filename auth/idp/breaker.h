/* A circuit breaker for one identity provider: after AG_BREAKER_FAILURES timeouts or errors
 * within AG_BREAKER_WINDOW_MS it opens, and for a back-off period (jittered, doubling, capped)
 * nothing calls the IdP; then one probe is let through, whose outcome closes or reopens it.
 * One INFO/WARN log line per state change. Thread-safe; times are milliseconds on any clock
 * the caller keeps monotonic. */
#ifndef AG_AUTH_IDP_BREAKER_H
#define AG_AUTH_IDP_BREAKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define AG_BREAKER_FAILURES 3      /* failures that open it ... */
#define AG_BREAKER_WINDOW_MS 30000 /* ... within this window */
#define AG_BREAKER_BACKOFF_MS 5000 /* first back-off; doubles at each failed probe */
#define AG_BREAKER_BACKOFF_MAX_MS 60000

enum ag_breaker_state {
    AG_BREAKER_CLOSED = 0, /* calls go through */
    AG_BREAKER_OPEN,       /* no calls until the back-off has passed */
    AG_BREAKER_HALF_OPEN,  /* one probe call in flight */
};

struct ag_breaker {
    pthread_mutex_t lock;
    enum ag_breaker_state state;
    int failures;
    long long window_start_ms, open_until_ms, backoff_ms;
    uint32_t rng;
    unsigned long long opened_total; /* times it opened */
};

/** Initializes b closed. */
void ag_breaker_init(struct ag_breaker *b);
void ag_breaker_destroy(struct ag_breaker *b);

/** True when a call to the IdP may be made now. Open with the back-off passed: this caller's
 * call becomes the probe (half-open) and every other caller gets false until it reports. */
bool ag_breaker_allow(struct ag_breaker *b, long long now_ms);

/** True while calls are refused (open and the back-off not passed, or a probe in flight),
 * without taking the probe. */
bool ag_breaker_refusing(struct ag_breaker *b, long long now_ms);

/** Reports the outcome of an allowed call: ok when the IdP answered (any HTTP answer below 500,
 * a refusal included), false for a timeout, connection failure or 5xx. */
void ag_breaker_report(struct ag_breaker *b, bool ok, long long now_ms);

/** The current state (for /statusz and metrics). */
enum ag_breaker_state ag_breaker_state_get(struct ag_breaker *b);

/** "closed", "open" or "half-open". */
const char *ag_breaker_state_name(enum ag_breaker_state s);

/** Milliseconds since an epoch, on CLOCK_MONOTONIC. */
long long ag_breaker_now_ms(void);

#endif
