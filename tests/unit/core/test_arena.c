#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"

static int ag_test_cleanup_order[8];
static int ag_test_cleanup_n;

static void ag_test_record(void *p)
{
    ag_test_cleanup_order[ag_test_cleanup_n++] = *(int *)p;
}

Test(arena, allocations_are_aligned_and_distinct)
{
    struct ag_arena *a = ag_arena_new(64);
    char *p1 = ag_arena_alloc(a, 3);
    char *p2 = ag_arena_alloc(a, 5);
    cr_assert_eq((uintptr_t)p1 % 16, 0);
    cr_assert_eq((uintptr_t)p2 % 16, 0);
    cr_assert_neq(p1, p2);
    memset(p1, 'a', 3);
    memset(p2, 'b', 5);
    cr_assert_eq(p1[2], 'a');
    ag_arena_free(a);
}

Test(arena, oversized_allocation_gets_own_block)
{
    struct ag_arena *a = ag_arena_new(64);
    char *small1 = ag_arena_alloc(a, 8);
    char *big = ag_arena_alloc(a, 100000);
    memset(big, 1, 100000);
    char *small2 = ag_arena_alloc(a, 8);
    /* the small allocations keep sharing the first block */
    cr_assert_eq(small2 - small1, 16);
    cr_assert_geq(ag_arena_used(a), 100000u);
    ag_arena_free(a);
}

Test(arena, strings_and_printf)
{
    struct ag_arena *a = ag_arena_new(0);
    cr_assert_str_eq(ag_arena_strdup(a, "hello"), "hello");
    cr_assert_null(ag_arena_strdup(a, NULL));
    cr_assert_str_eq(ag_arena_strndup(a, "hello", 3), "hel");
    cr_assert_str_eq(ag_arena_printf(a, "%s-%d", "x", 42), "x-42");
    char *big = ag_arena_printf(a, "%5000d", 7);
    cr_assert_eq(strlen(big), 5000u);
    ag_arena_free(a);
}

Test(arena, cleanups_run_newest_first_on_free_and_reset)
{
    static int one = 1, two = 2, three = 3;
    ag_test_cleanup_n = 0;
    struct ag_arena *a = ag_arena_new(0);
    ag_arena_cleanup_add(a, ag_test_record, &one);
    ag_arena_cleanup_add(a, ag_test_record, &two);
    ag_arena_reset(a);
    cr_assert_eq(ag_test_cleanup_n, 2);
    cr_assert_eq(ag_test_cleanup_order[0], 2);
    cr_assert_eq(ag_test_cleanup_order[1], 1);
    cr_assert_eq(ag_arena_used(a), 0u);
    ag_arena_cleanup_add(a, ag_test_record, &three);
    ag_arena_free(a);
    cr_assert_eq(ag_test_cleanup_n, 3);
    cr_assert_eq(ag_test_cleanup_order[2], 3);
}

Test(arena, calloc_zeroes)
{
    struct ag_arena *a = ag_arena_new(0);
    unsigned char *p = ag_arena_calloc(a, 100, 3);
    for (int i = 0; i < 300; i++)
        cr_assert_eq(p[i], 0);
    ag_arena_free(a);
}

Test(arena, calloc_overflow_aborts, .signal = SIGABRT)
{
    struct ag_arena *a = ag_arena_new(0);
    (void)ag_arena_calloc(a, SIZE_MAX / 2, 4);
}
