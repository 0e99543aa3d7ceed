#include <criterion/criterion.h>

#include "auth/idp/breaker.h"

Test(breaker, opens_after_failures_in_a_window_probes_once_and_closes)
{
    struct ag_breaker b;
    ag_breaker_init(&b);
    long long t = 1000000;
    cr_assert(ag_breaker_allow(&b, t));
    /* failures spread over more than the window never open it */
    for (int i = 0; i < 5; i++) {
        ag_breaker_report(&b, false, t);
        t += AG_BREAKER_WINDOW_MS / (AG_BREAKER_FAILURES - 1) + 1;
    }
    cr_assert_eq(ag_breaker_state_get(&b), AG_BREAKER_CLOSED);
    ag_breaker_report(&b, true, t);
    for (int i = 0; i < AG_BREAKER_FAILURES; i++)
        ag_breaker_report(&b, false, t + i);
    cr_assert_eq(ag_breaker_state_get(&b), AG_BREAKER_OPEN);
    cr_assert(ag_breaker_refusing(&b, t));
    cr_assert_not(ag_breaker_allow(&b, t + 10));
    /* jittered: within +-20 % of the first back-off */
    long long lo = t + AG_BREAKER_FAILURES + AG_BREAKER_BACKOFF_MS * 8 / 10 - 1;
    long long hi = t + AG_BREAKER_FAILURES + AG_BREAKER_BACKOFF_MS * 12 / 10 + 1;
    cr_assert_not(ag_breaker_allow(&b, lo));
    cr_assert(ag_breaker_allow(&b, hi), "the probe is let through after the back-off");
    cr_assert_eq(ag_breaker_state_get(&b), AG_BREAKER_HALF_OPEN);
    cr_assert_not(ag_breaker_allow(&b, hi), "only one probe");
    cr_assert(ag_breaker_refusing(&b, hi));
    ag_breaker_report(&b, true, hi);
    cr_assert_eq(ag_breaker_state_get(&b), AG_BREAKER_CLOSED);
    cr_assert(ag_breaker_allow(&b, hi));
    cr_assert_str_eq(ag_breaker_state_name(AG_BREAKER_HALF_OPEN), "half-open");
    ag_breaker_destroy(&b);
}

Test(breaker, a_failed_probe_doubles_the_back_off_up_to_the_cap)
{
    struct ag_breaker b;
    ag_breaker_init(&b);
    long long t = 0;
    for (int i = 0; i < AG_BREAKER_FAILURES; i++)
        ag_breaker_report(&b, false, t);
    long long expect = AG_BREAKER_BACKOFF_MS;
    for (int round = 0; round < 8; round++) {
        cr_assert_eq(ag_breaker_state_get(&b), AG_BREAKER_OPEN);
        long long until = b.open_until_ms;
        cr_assert_geq(until - t, expect * 8 / 10, "round %d", round);
        cr_assert_leq(until - t, expect * 12 / 10, "round %d", round);
        t = until;
        cr_assert(ag_breaker_allow(&b, t));
        ag_breaker_report(&b, false, t); /* the probe fails */
        expect = expect * 2 > AG_BREAKER_BACKOFF_MAX_MS ? AG_BREAKER_BACKOFF_MAX_MS : expect * 2;
    }
    cr_assert_eq(b.backoff_ms, AG_BREAKER_BACKOFF_MAX_MS);
    ag_breaker_destroy(&b);
}
