#include <criterion/criterion.h>
#include <string.h>

#include "core/url.h"

struct url_good {
    const char *in;
    unsigned flags;
    const char *scheme, *host, *path, *userinfo;
    long port;
    unsigned eff_port;
    bool tls, ipv6;
};

static const struct url_good goods[] = {
    {"http://h", AG_URL_HTTP, "http", "h", "", NULL, -1, 80, false, false},
    {"HTTP://Airflow.example:8080/x/", AG_URL_HTTP, "http", "Airflow.example", "/x/", NULL, 8080,
     8080, false, false},
    {"HtTpS://idp/realms/a", AG_URL_HTTP, "https", "idp", "/realms/a", NULL, -1, 443, true, false},
    {"https://[::1]:8443/", AG_URL_HTTP, "https", "::1", "/", NULL, 8443, 8443, true, true},
    {"http://[fe80::1]", AG_URL_HTTP, "http", "fe80::1", "", NULL, -1, 80, false, true},
    {"http://10.0.0.1:1", AG_URL_HTTP, "http", "10.0.0.1", "", NULL, 1, 1, false, false},
    {"http://h:65535", AG_URL_HTTP, "http", "h", "", NULL, 65535, 65535, false, false},
    {"redis://cache:6380/2", AG_URL_REDIS, "redis", "cache", "/2", NULL, 6380, 6380, false, false},
    {"REDISS://cache", AG_URL_REDIS, "rediss", "cache", "", NULL, -1, 6379, true, false},
    {"redis://:p@ss@cache/0", AG_URL_REDIS | AG_URL_USERINFO, "redis", "cache", "/0", ":p@ss", -1,
     6379, false, false},
    {"rediss://u:pw@[::1]:7000", AG_URL_REDIS | AG_URL_USERINFO, "rediss", "::1", "", "u:pw", 7000,
     7000, true, true},
    {"https://x", AG_URL_HTTP | AG_URL_REDIS, "https", "x", "", NULL, -1, 443, true, false},
};

Test(url, parses_the_parts)
{
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        const struct url_good *g = &goods[i];
        struct ag_url u;
        struct ag_err err = {0};
        cr_assert_eq(ag_url_parse(g->in, g->flags, &u, &err), AG_OK, "%s: %s", g->in, err.msg);
        cr_expect_str_eq(u.scheme, g->scheme, "%s", g->in);
        cr_expect_str_eq(u.host, g->host, "%s", g->in);
        cr_expect_str_eq(u.path, g->path, "%s", g->in);
        cr_expect_eq(u.port, g->port, "%s", g->in);
        cr_expect_eq(ag_url_port(&u), g->eff_port, "%s", g->in);
        cr_expect_eq(u.tls, g->tls, "%s", g->in);
        cr_expect_eq(u.ipv6, g->ipv6, "%s", g->in);
        if (g->userinfo) {
            cr_assert_not_null(u.userinfo, "%s", g->in);
            cr_expect_eq(u.userinfo_len, strlen(g->userinfo), "%s", g->in);
            cr_expect_eq(memcmp(u.userinfo, g->userinfo, u.userinfo_len), 0, "%s", g->in);
        } else {
            cr_expect_null(u.userinfo, "%s", g->in);
        }
    }
}

struct url_bad {
    const char *in;
    unsigned flags;
    const char *why;
};

static const struct url_bad bads[] = {
    {"http://h x", AG_URL_HTTP, "must not contain spaces or control characters"},
    {"http://h\t", AG_URL_HTTP, "must not contain spaces or control characters"},
    {"ftp://h", AG_URL_HTTP, "must start with http:// or https://"},
    {"http:/h", AG_URL_HTTP, "must start with http:// or https://"},
    {"h:80", AG_URL_HTTP, "must start with http:// or https://"},
    {"redis://h", AG_URL_HTTP, "must start with http:// or https://"},
    {"http://h", AG_URL_REDIS, "must start with redis:// or rediss://"},
    {"gopher://h", AG_URL_HTTP | AG_URL_REDIS,
     "must start with http://, https://, redis:// or rediss://"},
    {"http://h/#x", AG_URL_HTTP, "must not have a #fragment"},
    {"http://h/?a=1", AG_URL_HTTP, "must not have a ?query"},
    {"http://u:p@h", AG_URL_HTTP, "must not contain user:password@"},
    {"redis://u:p@h", AG_URL_REDIS, "must not contain user:password@"},
    {"http://", AG_URL_HTTP, "has no host"},
    {"http:///x", AG_URL_HTTP, "has no host"},
    {"redis://u@", AG_URL_REDIS | AG_URL_USERINFO, "has no host"},
    {"http://:80", AG_URL_HTTP, "has no host"},
    {"http://[]", AG_URL_HTTP, "has no host"},
    {"http://[::1", AG_URL_HTTP, "has an unterminated [IPv6] host"},
    {"http://[::1]x", AG_URL_HTTP, "has junk after the [IPv6] host"},
    {"http://[zz::1]", AG_URL_HTTP, "has a bad IPv6 address"},
    {"http://h!st", AG_URL_HTTP, "has a bad host name"},
    {"http://h:", AG_URL_HTTP, "has a bad port"},
    {"http://h:8x", AG_URL_HTTP, "has a bad port"},
    {"http://h:123456", AG_URL_HTTP, "has a bad port"},
    {"http://h:-1", AG_URL_HTTP, "has a bad port"},
    {"http://h:0", AG_URL_HTTP, "has a port outside 1..65535"},
    {"http://h:70000", AG_URL_HTTP, "has a port outside 1..65535"},
};

Test(url, refuses_with_a_reason)
{
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        struct ag_url u;
        struct ag_err err = {0};
        cr_expect_eq(ag_url_parse(bads[i].in, bads[i].flags, &u, &err), AG_EPARSE, "%s",
                     bads[i].in);
        cr_expect_str_eq(err.msg, bads[i].why, "%s", bads[i].in);
        cr_expect_eq(err.rc, AG_EPARSE, "%s", bads[i].in);
    }
}

Test(url, too_long_host_is_refused)
{
    char s[300] = "http://";
    memset(s + 7, 'a', 280);
    s[287] = '\0';
    struct ag_url u;
    struct ag_err err = {0};
    cr_assert_eq(ag_url_parse(s, AG_URL_HTTP, &u, &err), AG_EPARSE);
    cr_assert_str_eq(err.msg, "has a host name that is too long");
    cr_assert_eq(ag_url_parse(s, AG_URL_HTTP, &u, NULL), AG_EPARSE); /* err may be NULL */
}
