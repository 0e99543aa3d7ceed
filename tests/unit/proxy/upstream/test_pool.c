#include <criterion/criterion.h>
#include <string.h>

#include "conf/config.h"
#include "proxy/upstream/pool.h"

static struct ag_pool pool;

static void setup3(int balance, long rise, long fall)
{
    ag_pool_init(&pool, balance, rise, fall);
    struct ag_pool_member m[] = {{.base = "http://a:1", .connect_to = NULL, .label = "a:1"},
                                 {.base = "http://b:1", .connect_to = NULL, .label = "b:1"},
                                 {.base = "http://c:1", .connect_to = NULL, .label = "c:1"}};
    cr_assert_eq(ag_pool_sync(&pool, m, 3), 3);
}

Test(pool, round_robin_spreads_evenly)
{
    setup3(AG_BALANCE_ROUND_ROBIN, 1, 1);
    int count[3] = {0};
    for (int i = 0; i < 300; i++) {
        struct ag_replica *r = ag_pool_pick(&pool, NULL);
        cr_assert_not_null(r);
        count[r->index]++;
        ag_pool_release(r);
    }
    cr_assert_eq(count[0], 100);
    cr_assert_eq(count[1], 100);
    cr_assert_eq(count[2], 100);
    ag_pool_destroy(&pool);
}

Test(pool, least_connections_prefers_idle)
{
    setup3(AG_BALANCE_LEAST_CONN, 1, 1);
    struct ag_replica *busy1 = ag_pool_pick(&pool, NULL);
    struct ag_replica *busy2 = ag_pool_pick(&pool, NULL);
    cr_assert_neq(busy1, busy2);
    struct ag_replica *third = ag_pool_pick(&pool, NULL);
    cr_assert(third != busy1 && third != busy2, "the idle replica is chosen");
    ag_pool_release(busy1);
    struct ag_replica *next = ag_pool_pick(&pool, NULL);
    cr_assert_eq(next, busy1, "the one that became idle is chosen");
    ag_pool_destroy(&pool);
}

Test(pool, avoid_and_unhealthy_are_skipped)
{
    setup3(AG_BALANCE_ROUND_ROBIN, 1, 1);
    struct ag_replica *a = &pool.slots[0], *b = &pool.slots[1];
    cr_assert(ag_pool_eject(&pool, b));
    for (int i = 0; i < 20; i++) {
        struct ag_replica *r = ag_pool_pick(&pool, a);
        cr_assert_not_null(r);
        cr_assert(r != a && r != b);
        ag_pool_release(r);
    }
    ag_pool_eject(&pool, &pool.slots[2]);
    cr_assert_null(ag_pool_pick(&pool, a), "only the avoided one is left");
    ag_pool_eject(&pool, a);
    cr_assert_null(ag_pool_pick(&pool, NULL));
    cr_assert_eq(ag_pool_healthy_count(&pool), 0);
    ag_pool_destroy(&pool);
}

Test(pool, health_state_machine_rise_fall)
{
    setup3(AG_BALANCE_ROUND_ROBIN, 2, 3);
    struct ag_replica *r = &pool.slots[0];
    cr_assert(atomic_load(&r->healthy), "starts healthy");
    cr_assert_not(ag_pool_observe(&pool, r, false));
    cr_assert_not(ag_pool_observe(&pool, r, false));
    cr_assert_not(ag_pool_observe(&pool, r, true), "a success resets the failure streak");
    cr_assert_not(ag_pool_observe(&pool, r, false));
    cr_assert_not(ag_pool_observe(&pool, r, false));
    cr_assert(ag_pool_observe(&pool, r, false), "third failure in a row: down");
    cr_assert_not(atomic_load(&r->healthy));
    cr_assert_not(ag_pool_observe(&pool, r, true));
    cr_assert_not(ag_pool_observe(&pool, r, false), "a failure resets the success streak");
    cr_assert_not(ag_pool_observe(&pool, r, true));
    cr_assert(ag_pool_observe(&pool, r, true), "second success in a row: up");
    cr_assert(atomic_load(&r->healthy));
    /* passive ejection takes it out at once; rise successes bring it back */
    cr_assert(ag_pool_eject(&pool, r));
    cr_assert_not(ag_pool_eject(&pool, r), "already out");
    cr_assert_not(ag_pool_observe(&pool, r, true));
    cr_assert(ag_pool_observe(&pool, r, true));
    ag_pool_destroy(&pool);
}

Test(pool, sync_adds_retires_and_reuses)
{
    setup3(AG_BALANCE_ROUND_ROBIN, 1, 1);
    struct ag_pool_member two[] = {
        {.base = "http://a:1", .connect_to = NULL, .label = "a:1"},
        {.base = "http://d:1", .connect_to = "d:1:10.0.0.4:1", .label = "10.0.0.4:1"}};
    cr_assert_eq(ag_pool_sync(&pool, two, 2), 3, "b and c retired, d added");
    cr_assert_eq(ag_pool_healthy_count(&pool), 2);
    cr_assert_eq(ag_pool_sync(&pool, two, 2), 0, "no change");
    for (int i = 0; i < 10; i++) {
        struct ag_replica *r = ag_pool_pick(&pool, NULL);
        cr_assert(strcmp(r->base, "http://a:1") == 0 || strcmp(r->label, "10.0.0.4:1") == 0);
        ag_pool_release(r);
    }
    cr_assert_leq(atomic_load(&pool.n_slots), 3, "retired idle slots are reused");
    ag_pool_destroy(&pool);
}
