#include <criterion/criterion.h>
#include <string.h>

#include "auth/login/redirect.h"

Test(redirect, same_site_paths_are_kept)
{
    static const char *ok[] = {
        "/",
        "/home",
        "/dags/example/grid?dag_run_id=manual__2024-01-01T00:00:00+00:00&tab=graph",
        "/dags/x/grid#fragment",
        "/api/v1/dags?limit=100&offset=0",
        "/a/b/./c/../d",
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
            c == '>' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}')
            cr_assert_not(safe, "byte 0x%02x accepted", c);
        else
            cr_assert(safe, "byte 0x%02x refused", c);
    }
}
