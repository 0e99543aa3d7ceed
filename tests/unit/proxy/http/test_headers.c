#include <criterion/criterion.h>
#include <string.h>

#include "core/arena.h"
#include "proxy/http/headers.h"

Test(headers, name_eq_folds_case_and_underscore)
{
    cr_assert(ag_hdr_name_eq("X-Forwarded-User", "x-forwarded-user"));
    cr_assert(ag_hdr_name_eq("X_Forwarded_User", "x-forwarded-user"));
    cr_assert(ag_hdr_name_eq("x_FORWARDED-user", "X-Forwarded_User"));
    cr_assert_not(ag_hdr_name_eq("X-Forwarded-Users", "x-forwarded-user"));
    cr_assert_not(ag_hdr_name_eq("X-Forwarded-Use", "x-forwarded-user"));
    cr_assert_not(ag_hdr_name_eq("", "a"));
    cr_assert(ag_hdr_name_eq("", ""));
}

Test(headers, identity_headers_in_every_spelling)
{
    static const char *const spoofed[] = {
        "X-Forwarded-User",
        "x-forwarded-user",
        "X_FORWARDED_USER",
        "x_forwarded-user",
        "X-Forwarded-Email",
        "X-Forwarded-Preferred-Username",
        "X-Forwarded-Groups",
        "X-Forwarded-First-Name",
        "X-Forwarded-Last-Name",
        "X-Airflow-Roles",
        "x_airflow_roles",
        "X-Airgate-Assertion",
        "x_airgate_assertion",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Forwarded-Prefix",
        "Forwarded",
        "X-Real-IP",
        "x_real_ip",
    };
    for (size_t i = 0; i < sizeof(spoofed) / sizeof(spoofed[0]); i++)
        cr_assert(ag_hdr_is_identity(spoofed[i]), "%s", spoofed[i]);
    static const char *const fine[] = {"Accept",      "Authorization",   "Cookie",
                                       "X-Forwarded", "X-Forwardedfor",  "Host",
                                       "X-Airflow",   "X-Requested-With"};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
        cr_assert_not(ag_hdr_is_identity(fine[i]), "%s", fine[i]);
}

Test(headers, hop_by_hop_and_connection_named)
{
    const char *conn[] = {"keep-alive, X-Secret", " close ,x_other"};
    cr_assert(ag_hdr_drop_request("Connection", conn, 2));
    cr_assert(ag_hdr_drop_request("Keep-Alive", conn, 2));
    cr_assert(ag_hdr_drop_request("TE", conn, 2));
    cr_assert(ag_hdr_drop_request("Transfer-Encoding", conn, 2));
    cr_assert(ag_hdr_drop_request("Upgrade", conn, 2));
    cr_assert(ag_hdr_drop_request("Proxy-Authorization", conn, 2));
    cr_assert(ag_hdr_drop_request("x-secret", conn, 2));
    cr_assert(ag_hdr_drop_request("X-Other", conn, 2));
    cr_assert(ag_hdr_drop_request("Content-Length", conn, 2));
    cr_assert(ag_hdr_drop_request("Expect", conn, 2));
    cr_assert_not(ag_hdr_drop_request("X-Secre", conn, 2));
    cr_assert_not(ag_hdr_drop_request("Accept", conn, 2));
    cr_assert_not(ag_hdr_drop_request("Authorization", conn, 2));
    const char *host[] = {"Host"};
    cr_assert_not(ag_hdr_drop_request("Host", host, 1), "Host is never dropped");
    cr_assert(ag_hdr_drop_response("Date", NULL, 0));
    cr_assert(ag_hdr_drop_response("content-length", NULL, 0));
    cr_assert(ag_hdr_drop_response("Transfer-Encoding", NULL, 0));
    cr_assert_not(ag_hdr_drop_response("Set-Cookie", NULL, 0));
    cr_assert(ag_hdr_drop_response("X-Hop", (const char *[]){"X-Hop"}, 1));
}

Test(headers, airgate_cookies_removed)
{
    struct ag_arena *a = ag_arena_new(0);
    cr_assert_str_eq(ag_hdr_cookie_filter(a, "_airgate=x; theme=dark", "_airgate"), "theme=dark");
    cr_assert_str_eq(ag_hdr_cookie_filter(a, "a=1;_airgate_0=c;_airgate_1=d;b=2", "_airgate"),
                     "a=1; b=2");
    cr_assert_str_eq(ag_hdr_cookie_filter(a, "_airgate_csrf=s; _airgatex=keep", "_airgate"),
                     "_airgatex=keep");
    cr_assert_null(ag_hdr_cookie_filter(a, "_airgate=x; _airgate_2=y", "_airgate"));
    cr_assert_null(ag_hdr_cookie_filter(a, "  ;  ", "_airgate"));
    cr_assert_str_eq(ag_hdr_cookie_filter(a, "flag; x=1", "_airgate"), "flag; x=1");
    cr_assert_str_eq(ag_hdr_cookie_filter(a, " _airgate =x;y=2 ", "_airgate"), "y=2");
    ag_arena_free(a);
}

Test(headers, x_forwarded_for)
{
    struct ag_arena *a = ag_arena_new(0);
    cr_assert_str_eq(ag_hdr_xff_build(a, "6.6.6.6", false, "10.0.0.1"), "10.0.0.1");
    cr_assert_str_eq(ag_hdr_xff_build(a, NULL, true, "10.0.0.1"), "10.0.0.1");
    cr_assert_str_eq(ag_hdr_xff_build(a, "203.0.113.7", true, "35.191.0.9"),
                     "203.0.113.7, 35.191.0.9");
    cr_assert_str_eq(ag_hdr_xff_build(a, " 1.1.1.1, 2.2.2.2 ,", true, "::1"),
                     "1.1.1.1, 2.2.2.2, ::1");
    cr_assert_str_eq(ag_hdr_xff_build(a, "  ", true, "10.0.0.1"), "10.0.0.1");
    ag_arena_free(a);
}

Test(headers, names_that_are_not_tokens_are_never_forwarded)
{
    static const char *const odd[] = {"X-Forwarded-User ",
                                      "X-Forwarded-User\t",
                                      "X-Forwarded-User:x",
                                      "X-Custom ",
                                      " X-Custom",
                                      "X Custom",
                                      "",
                                      "X-\x01"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
        cr_assert(ag_hdr_drop_request(odd[i], NULL, 0), "'%s'", odd[i]);
    cr_assert_not(ag_hdr_drop_request("X-Custom_1.a~!", NULL, 0));
}

/* The identity header encoding: a comma in one name never makes two entries; '%', controls and
 * bytes outside well-formed UTF-8 are percent-encoded; valid UTF-8 is kept. */
Test(headers, identity_list_comma_cannot_forge_an_entry)
{
    struct ag_arena *a = ag_arena_new(0);
    const char *roles[] = {"viewer", "team_x,airflow_admin", "100%", "caf\xc3\xa9"};
    cr_assert_str_eq(ag_hdr_identity_list(a, roles, 4),
                     "viewer,team_x%2Cairflow_admin,100%25,caf\xc3\xa9");
    cr_assert_str_eq(ag_hdr_identity_list(a, roles, 0), "");
    const char *one[] = {","};
    cr_assert_str_eq(ag_hdr_identity_list(a, one, 1), "%2C");
    ag_arena_free(a);
}

Test(headers, identity_value_table)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"alice", "alice"},
        {"Zoë Ågren", "Zoë Ågren"}, /* valid UTF-8 kept */
        {"a,b", "a%2Cb"},           /* the same rule as the lists */
        {"50%", "50%25"},           /* so that decoding is unambiguous */
        {"x\r\nX-Airflow-Roles: Admin", "x%0D%0AX-Airflow-Roles: Admin"},
        {"tab\there", "tab%09here"},
        {"nul-free\x7f", "nul-free%7F"},
        {"\xc2\x85next-line", "%C2%85next-line"}, /* C1 control NEL */
        {"bad\xff", "bad%FF"},                    /* not UTF-8 */
        {"\xc3", "%C3"},                          /* truncated */
        {"\xc0\xaf", "%C0%AF"},                   /* overlong '/' */
        {"\xed\xa0\x80", "%ED%A0%80"},            /* surrogate */
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"}, /* U+1F600 */
        {"", ""},
    };
    struct ag_arena *a = ag_arena_new(0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_str_eq(ag_hdr_identity_value(a, cases[i].in), cases[i].want, "case %zu", i);
    cr_assert_str_eq(ag_hdr_identity_value(a, NULL), "");
    /* every output byte is printable ASCII, a space, or part of valid UTF-8 >= U+00A0 */
    for (int c = 1; c < 256; c++) {
        char in[2] = {(char)c, 0};
        const char *o = ag_hdr_identity_value(a, in);
        for (const unsigned char *p = (const unsigned char *)o; *p; p++)
            cr_assert(*p >= 0x20 && *p < 0x7f, "byte 0x%02x encoded as %s", c, o);
    }
    ag_arena_free(a);
}
