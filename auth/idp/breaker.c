/* The IdP circuit breaker; see breaker.h. */
#include "auth/idp/breaker.h"

#include <time.h>

#include "core/log.h"
#include "core/secret.h"

void ag_breaker_init(struct ag_breaker *b)
{
    *b = (struct ag_breaker){.state = AG_BREAKER_CLOSED, .backoff_ms = AG_BREAKER_BACKOFF_MS};
    pthread_mutex_init(&b->lock, NULL);
    struct ag_err err = {0};
    if (ag_random_bytes(&b->rng, sizeof(b->rng), &err) != AG_OK)
        b->rng = 0x9e3779b9u; /* jitter only: any seed will do */
    if (b->rng == 0)
        b->rng = 1;
}

void ag_breaker_destroy(struct ag_breaker *b)
{
    pthread_mutex_destroy(&b->lock);
}

long long ag_breaker_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *ag_breaker_state_name(enum ag_breaker_state s)
{
    switch (s) {
    case AG_BREAKER_OPEN:
        return "open";
    case AG_BREAKER_HALF_OPEN:
        return "half-open";
    default:
        return "closed";
    }
}

/* xorshift32: jitter of the back-off so that replicas do not probe in step */
static uint32_t ag_breaker_rand(struct ag_breaker *b)
{
    uint32_t x = b->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return b->rng = x;
}

/* Opens for the current back-off +- 20 %; the lock is held. */
static void ag_breaker_open(struct ag_breaker *b, long long now_ms, const char *why)
{
    long long d = b->backoff_ms;
    long long jitter = d / 5;
    d += (long long)(ag_breaker_rand(b) % (uint32_t)(2 * jitter + 1)) - jitter;
    b->open_until_ms = now_ms + d;
    b->state = AG_BREAKER_OPEN;
    b->opened_total++;
    ag_log(AG_LOG_WARN, NULL,
           "idp circuit: open for %lld ms (%s); sessions are served with refresh postponed and "
           "new logins get the 503 page",
           d, why);
}

bool ag_breaker_allow(struct ag_breaker *b, long long now_ms)
{
    pthread_mutex_lock(&b->lock);
    bool ok = b->state == AG_BREAKER_CLOSED;
    if (b->state == AG_BREAKER_OPEN && now_ms >= b->open_until_ms) {
        b->state = AG_BREAKER_HALF_OPEN;
        ok = true;
        ag_log(AG_LOG_INFO, NULL, "idp circuit: half-open (one probe call)");
    }
    pthread_mutex_unlock(&b->lock);
    return ok;
}

bool ag_breaker_refusing(struct ag_breaker *b, long long now_ms)
{
    pthread_mutex_lock(&b->lock);
    bool r = b->state == AG_BREAKER_HALF_OPEN ||
             (b->state == AG_BREAKER_OPEN && now_ms < b->open_until_ms);
    pthread_mutex_unlock(&b->lock);
    return r;
}

void ag_breaker_report(struct ag_breaker *b, bool ok, long long now_ms)
{
    pthread_mutex_lock(&b->lock);
    if (ok) {
        if (b->state != AG_BREAKER_CLOSED)
            ag_log(AG_LOG_INFO, NULL, "idp circuit: closed (the identity provider answers)");
        b->state = AG_BREAKER_CLOSED;
        b->failures = 0;
        b->backoff_ms = AG_BREAKER_BACKOFF_MS;
    } else if (b->state == AG_BREAKER_HALF_OPEN) {
        b->backoff_ms = b->backoff_ms * 2 > AG_BREAKER_BACKOFF_MAX_MS ? AG_BREAKER_BACKOFF_MAX_MS
                                                                      : b->backoff_ms * 2;
        ag_breaker_open(b, now_ms, "the probe failed");
    } else if (b->state == AG_BREAKER_CLOSED) {
        if (b->failures == 0 || now_ms - b->window_start_ms > AG_BREAKER_WINDOW_MS) {
            b->failures = 0;
            b->window_start_ms = now_ms;
        }
        if (++b->failures >= AG_BREAKER_FAILURES) {
            b->failures = 0;
            ag_breaker_open(b, now_ms, "repeated timeouts or errors");
        }
    }
    /* open: a late report of a call made before it opened changes nothing */
    pthread_mutex_unlock(&b->lock);
}

enum ag_breaker_state ag_breaker_state_get(struct ag_breaker *b)
{
    pthread_mutex_lock(&b->lock);
    enum ag_breaker_state s = b->state;
    pthread_mutex_unlock(&b->lock);
    return s;
}
