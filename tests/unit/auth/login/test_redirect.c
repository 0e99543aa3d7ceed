#include <criterion/criterion.h>
#include <string.h>

#include "core/arena.h"

#include "auth/login/redirect.h"

Test(redirect, same_site_paths_are_kept)
{
    static const char *ok[] = {
        "/",
        "/home",
        "/dags/example/grid?dag_run_id=manual__2024-01-01T00:00:00+00:00&tab=graph",
        "/dags/x/grid#fragment",
        "/api/v1/dags?limit=100&offset=0",
        "/%7Euser",
        "/caf%C3%A9",       /* percent-encoded UTF-8 */
        "/search?q=100%25", /* a literal percent sign */
        "/x?next=%2Fy",     /* an encoded slash later in the path is harmless */
        "/@user",
        "/path:with:colons",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_assert(ag_redirect_is_safe(ok[i]), "%s refused", ok[i]);
        cr_assert_eq(ag_redirect_sanitize(ok[i]), ok[i]);
    }
}

Test(redirect, everything_else_becomes_root)
{
    static const char *bad[] = {
        "",
        "home",
        "//evil.example",
        "//evil.example/path",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "\\/evil.example",
        "/x\\y",
        "https://evil.example",
        "http:evil.example",
        "javascript:alert(1)",
        "data:text/html,<script>",
        " /home",
        "/%2F%2Fevil.example",
        "%2F2", /* decodes to a path, but is not one */
        "%2Fhome",
        "%5C%5Cevil.example",
        "/%2f/evil.example",
        "/%5Cevil.example",
        "/%5cevil.example",
        "/x%5Cy",
        "/%252F%252Fevil.example", /* double-encoded */
        "/%25252F%25252Fevil",     /* triple-encoded */
        "/\t/evil.example",
        "/%09/evil.example",
        "/home\r\nSet-Cookie: x=1",
        "/home%0d%0aSet-Cookie:%20x=1",
        "/home%00",
        "/x\x7f",
        "/x y",
        "/x\"y",
        "/x<script>",
        "/%",
        "/%4",
        "/%zz",
        "/caf\xc3\xa9", /* raw non-ASCII */
        "/%C3",         /* truncated UTF-8 */
        "/%C0%AF",      /* overlong '/' */
        "/%E0%80%AF",   /* overlong '/' (3 bytes) */
        "/%ED%A0%80",   /* UTF-16 surrogate */
        "/%FF",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not(ag_redirect_is_safe(bad[i]), "%s accepted", bad[i]);
        cr_assert_str_eq(ag_redirect_sanitize(bad[i]), "/");
    }
    cr_assert_str_eq(ag_redirect_sanitize(NULL), "/");
}

Test(redirect, overlong_values_become_root)
{
    char buf[AG_REDIRECT_MAX_LEN + 2];
    buf[0] = '/';
    memset(buf + 1, 'a', AG_REDIRECT_MAX_LEN - 1);
    buf[AG_REDIRECT_MAX_LEN] = '\0';
    cr_assert(ag_redirect_is_safe(buf));
    buf[AG_REDIRECT_MAX_LEN] = 'a';
    buf[AG_REDIRECT_MAX_LEN + 1] = '\0';
    cr_assert_not(ag_redirect_is_safe(buf));
}

Test(redirect, every_single_byte_after_slash_is_safe_or_refused_consistently)
{
    /* "/" + one byte: only printable URL characters other than '/' and '\' may pass, and
     * nothing that passes can start a second slash. */
    for (int c = 1; c < 256; c++) {
        char s[3] = {'/', (char)c, '\0'};
        bool safe = ag_redirect_is_safe(s);
        if (c < 0x21 || c >= 0x7f || c == '/' || c == '\\' || c == '%' || c == '"' || c == '<' ||
            c == '>' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}' || c == '.')
            cr_assert_not(safe, "byte 0x%02x accepted", c); /* "/." is not normal: it is "/" */
        else
            cr_assert(safe, "byte 0x%02x refused", c);
    }
}

/* Normalisation: dot segments (plain or percent-encoded) resolved, repeated slashes collapsed,
 * encoded slashes refused, and anything that would start with "//" after resolving -> "/". */
Test(redirect, normalised_table)
{
    static const struct {
        const char *rd, *want;
    } cases[] = {
        /* kept as they are */
        {"/", "/"},
        {"/dags/", "/dags/"},
        {"/dags/x/grid?tab=graph", "/dags/x/grid?tab=graph"},
        {"/x?next=/a/../b//c", "/x?next=/a/../b//c"}, /* the query is not a path */
        {"/x#/../..//evil", "/x#/../..//evil"},
        {"/a.b/..c/c..", "/a.b/..c/c.."},
        /* dot segments */
        {"/a/b/./c/../d", "/a/b/d"},
        {"/a/./b", "/a/b"},
        {"/a/b/..", "/a/"},
        {"/a/b/.", "/a/b/"},
        {"/..", "/"},
        {"/../../etc", "/etc"},
        {"/.", "/"},
        {"/a/%2e%2E/b", "/b"},
        {"/a/.%2e/b", "/b"},
        {"/a/%2e/b", "/a/b"},
        {"/a/%252e%252e/b", "/b"}, /* double-encoded dots */
        {"/a/b/..?x=1", "/a/?x=1"},
        /* repeated slashes */
        {"/a//b", "/a/b"},
        {"/a///b//", "/a/b/"},
        {"/a/b//../c", "/a/b/c"}, /* "//" collapsed first: the empty segment is no segment */
        /* what the review probed, and its relatives: all become "/" */
        {"//host", "/"},
        {"/\\host", "/"},
        {"/%2F%2Fhost", "/"},
        {"/%2f%2fhost", "/"},
        {"/x/..//host", "/"},
        {"/x/../..//host", "/"},
        {"/.//host", "/"},
        {"/./%2F/host", "/"},
        {"/x/%2e%2e//host", "/"},
        {"/x/..%2F/host", "/"},
        {"/a%2Fb", "/"},   /* an encoded slash anywhere in the path */
        {"/a%252Fb", "/"}, /* double-encoded */
        {"/a/%5Cb", "/"},  /* an encoded backslash */
        {"/a\\b", "/"},    /* a backslash */
        {"/%2e%2e%2f%2e%2e%2fhost", "/"},
    };
    struct ag_arena *a = ag_arena_new(0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = ag_redirect_target(a, cases[i].rd);
        cr_assert_str_eq(got, cases[i].want, "%s -> %s, want %s", cases[i].rd, got, cases[i].want);
        /* the normal form is itself safe and stable */
        cr_assert(ag_redirect_is_safe(got), "%s: normal form %s not safe", cases[i].rd, got);
        cr_assert_str_eq(ag_redirect_target(a, got), got);
        cr_assert_eq(ag_redirect_is_safe(cases[i].rd), strcmp(cases[i].rd, cases[i].want) == 0,
                     "%s", cases[i].rd);
    }
    cr_assert_str_eq(ag_redirect_target(a, NULL), "/");
    char out[AG_REDIRECT_MAX_LEN + 1];
    cr_assert_not(ag_redirect_normalize("/a", out, 8), "a small buffer is refused");
    ag_arena_free(a);
}

Test(redirect, many_empty_segments_are_bounded)
{
    /* "/a" then 2040 slashes then "b": one (empty) segment per byte, all collapsed */
    char buf[AG_REDIRECT_MAX_LEN + 1];
    size_t n = 0;
    buf[n++] = '/';
    buf[n++] = 'a';
    while (n < AG_REDIRECT_MAX_LEN - 1)
        buf[n++] = '/';
    buf[n++] = 'b';
    buf[n] = '\0';
    struct ag_arena *a = ag_arena_new(0);
    cr_assert_str_eq(ag_redirect_target(a, buf), "/a/b");
    ag_arena_free(a);
}
