/* public_routes matching: [METHOD=]regex on the path, no implicit anchors, ambiguous paths never
 * public. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/arena.h"
#include "core/route.h"

static struct ag_routes compile(struct ag_arena *a, const char *const *specs, size_t n)
{
    struct ag_routes r;
    struct ag_err err = {0};
    cr_assert_eq(ag_routes_compile(a, specs, n, &r, &err), AG_OK, "%s", err.msg);
    return r;
}

Test(route, method_and_anchors)
{
    struct ag_arena *a = ag_arena_new(0);
    const char *specs[] = {"GET=^/health$", "^/static/"};
    struct ag_routes r = compile(a, specs, 2);
    cr_assert(ag_routes_match(&r, "GET", "/health"));
    cr_assert_not(ag_routes_match(&r, "POST", "/health"), "the method is part of the route");
    cr_assert_not(ag_routes_match(&r, "get", "/health"), "methods compare exactly");
    cr_assert_not(ag_routes_match(&r, "GET", "/healthz"));
    cr_assert_not(ag_routes_match(&r, "GET", "/health/"));
    cr_assert_not(ag_routes_match(&r, "GET", "/x/health"));
    cr_assert(ag_routes_match(&r, "POST", "/static/app.js"), "no method: any method");
    cr_assert(ag_routes_match(&r, "GET", "/static/"));
    cr_assert_not(ag_routes_match(&r, "GET", "/api/static/x"));
    ag_arena_free(a);
}

Test(route, unanchored_regex_matches_anywhere)
{
    struct ag_arena *a = ag_arena_new(0);
    const char *specs[] = {"health"};
    struct ag_routes r = compile(a, specs, 1);
    cr_assert(ag_routes_match(&r, "GET", "/api/v1/dags/health"), "documented: no implicit ^$");
    ag_arena_free(a);
}

Test(route, ambiguous_paths_never_match)
{
    struct ag_arena *a = ag_arena_new(0);
    const char *specs[] = {"^/static/"};
    struct ag_routes r = compile(a, specs, 1);
    cr_assert_not(ag_routes_match(&r, "GET", "/static/../api/v1/dags"));
    cr_assert_not(ag_routes_match(&r, "GET", "/static/./x"));
    cr_assert_not(ag_routes_match(&r, "GET", "/static/.."));
    cr_assert_not(ag_routes_match(&r, "GET", "/static/%2e%2e/api"));
    cr_assert(ag_routes_match(&r, "GET", "/static/app..js"), "dots inside a name are fine");
    cr_assert(ag_routes_match(&r, "GET", "/static/.hidden"));
    ag_arena_free(a);
}

Test(route, none_configured)
{
    struct ag_routes r = {0};
    cr_assert_not(ag_routes_match(&r, "GET", "/"));
    cr_assert_not(ag_routes_match(NULL, "GET", "/"));
}

Test(route, bad_specs)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_routes r;
    struct ag_err err = {0};
    const char *bad[] = {"^/(x"};
    cr_assert_eq(ag_routes_compile(a, bad, 1, &r, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "not a POSIX extended regex"), "%s", err.msg);
    const char *empty[] = {"POST="};
    cr_assert_eq(ag_routes_compile(a, empty, 1, &r, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "empty"), "%s", err.msg);
    const char *lower[] = {"get=^/x$"};
    r = compile(a, lower, 1);
    cr_assert_null(r.items[0].method, "only upper-case letters make a method");
    ag_arena_free(a);
}
