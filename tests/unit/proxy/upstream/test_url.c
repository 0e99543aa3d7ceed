#include <criterion/criterion.h>

#include "proxy/upstream/health.h"

Test(url, parses_upstream_urls)
{
    struct ag_upstream_url u;
    struct ag_err e = {0};
    cr_assert_eq(ag_upstream_url_parse("http://10.0.0.1:8080", &u, &e), AG_OK);
    cr_assert_str_eq(u.host, "10.0.0.1");
    cr_assert_eq(u.port, 8080u);
    cr_assert(u.literal);
    cr_assert_eq(ag_upstream_url_parse("https://airflow-web.ns.svc/base/", &u, &e), AG_OK);
    cr_assert_str_eq(u.scheme, "https");
    cr_assert_eq(u.port, 443u);
    cr_assert_str_eq(u.rest, "/base");
    cr_assert_not(u.literal);
    cr_assert_eq(ag_upstream_url_parse("http://[::1]:81", &u, &e), AG_OK);
    cr_assert_str_eq(u.host, "::1");
    cr_assert(u.literal);
}

Test(url, rejects_bad_urls_with_a_reason)
{
    struct ag_upstream_url u;
    static const char *const bad[] = {"ftp://x",     "http://",        "http://:80",
                                      "http://h:0",  "http://h:70000", "http://h:8x",
                                      "http://[::1", "http://h/a?b=1", "10.0.0.1:8080"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ag_err e = {0};
        cr_assert_eq(ag_upstream_url_parse(bad[i], &u, &e), AG_EINVAL, "%s", bad[i]);
        cr_assert(e.msg[0] != '\0');
    }
}
