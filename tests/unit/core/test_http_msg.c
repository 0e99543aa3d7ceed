#include <criterion/criterion.h>
#include <string.h>

#include "core/http_msg.h"

static struct ag_http_request ag_test_req(const struct ag_http_header *h, size_t n,
                                          const char *method, const char *query)
{
    struct ag_http_request r = {
        .method = method, .path = "/", .query = query, .headers = h, .n_headers = n};
    return r;
}

Test(http_msg, header_lookup_is_case_insensitive)
{
    struct ag_http_header h[] = {{"x-forwarded-user", "mallory"}, {"Accept", "text/html"}};
    struct ag_http_request r = ag_test_req(h, 2, "GET", NULL);
    cr_assert_str_eq(ag_http_header_get(&r, "X-Forwarded-User"), "mallory");
    cr_assert_null(ag_http_header_get(&r, "Cookie"));
}

Test(http_msg, cookies_parsed_across_headers_and_quotes)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_http_header h[] = {{"Cookie", "a=1; _airgate_0=abc; junk; b=\"q v\""},
                                 {"cookie", "_airgate=xyz"}};
    struct ag_http_request r = ag_test_req(h, 2, "GET", NULL);
    cr_assert_str_eq(ag_http_cookie_get(a, &r, "a"), "1");
    cr_assert_str_eq(ag_http_cookie_get(a, &r, "_airgate_0"), "abc");
    cr_assert_str_eq(ag_http_cookie_get(a, &r, "b"), "q v");
    cr_assert_str_eq(ag_http_cookie_get(a, &r, "_airgate"), "xyz");
    cr_assert_null(ag_http_cookie_get(a, &r, "_airgat"));
    cr_assert_null(ag_http_cookie_get(a, &r, "junk"));
    ag_arena_free(a);
}

Test(http_msg, query_decoding)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_http_request r =
        ag_test_req(NULL, 0, "GET", "rd=%2Fhome%3Fx%3D1&code=abc+d&empty=&flag&bad=%zz%4");
    cr_assert_str_eq(ag_http_query_get(a, &r, "rd"), "/home?x=1");
    cr_assert_str_eq(ag_http_query_get(a, &r, "code"), "abc d");
    cr_assert_str_eq(ag_http_query_get(a, &r, "empty"), "");
    cr_assert_str_eq(ag_http_query_get(a, &r, "flag"), "");
    cr_assert_str_eq(ag_http_query_get(a, &r, "bad"), "%zz%4");
    cr_assert_null(ag_http_query_get(a, &r, "missing"));
    struct ag_http_request nul = ag_test_req(NULL, 0, "GET", "rd=%2F%00evil");
    cr_assert_null(ag_http_query_get(a, &nul, "rd"));
    ag_arena_free(a);
}

Test(http_msg, navigation_detection)
{
    struct ag_http_header html[] = {{"Accept", "text/html,application/xhtml+xml"}};
    struct ag_http_header xhr[] = {{"Accept", "text/html"}, {"X-Requested-With", "XMLHttpRequest"}};
    struct ag_http_header json[] = {{"Accept", "application/json"}};
    struct ag_http_request r = ag_test_req(html, 1, "GET", NULL);
    cr_assert(ag_http_is_navigation(&r));
    r = ag_test_req(html, 1, "POST", NULL);
    cr_assert_not(ag_http_is_navigation(&r));
    r = ag_test_req(xhr, 2, "GET", NULL);
    cr_assert_not(ag_http_is_navigation(&r));
    r = ag_test_req(json, 1, "HEAD", NULL);
    cr_assert_not(ag_http_is_navigation(&r));
}

Test(http_msg, response_headers_grow_and_url_encode)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_http_response resp = {0};
    for (int i = 0; i < 20; i++)
        ag_http_response_add_header(a, &resp, "Set-Cookie", ag_arena_printf(a, "c%d=v", i));
    cr_assert_eq(resp.n_headers, 20u);
    cr_assert_str_eq(resp.headers[19].value, "c19=v");
    ag_http_response_set(a, &resp, 302, "text/plain", "x", 1);
    cr_assert_eq(resp.status, 302);
    cr_assert_str_eq(ag_http_url_encode(a, "http://a b/?x=1&y=ä"),
                     "http%3A%2F%2Fa%20b%2F%3Fx%3D1%26y%3D%C3%A4");
    ag_arena_free(a);
}
