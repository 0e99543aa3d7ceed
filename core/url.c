#include "core/url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

struct ag_url_scheme {
    const char *name;
    unsigned flag;
    bool tls;
    unsigned port;
};

static const struct ag_url_scheme ag_url_schemes[] = {
    {"https", AG_URL_HTTP, true, 443},
    {"http", AG_URL_HTTP, false, 80},
    {"rediss", AG_URL_REDIS, true, 6379},
    {"redis", AG_URL_REDIS, false, 6379},
};

#define AG_URL_NSCHEMES (sizeof(ag_url_schemes) / sizeof(ag_url_schemes[0]))

static const char *ag_url_scheme_hint(unsigned flags)
{
    if ((flags & AG_URL_HTTP) && (flags & AG_URL_REDIS))
        return "must start with http://, https://, redis:// or rediss://";
    if (flags & AG_URL_REDIS)
        return "must start with redis:// or rediss://";
    return "must start with http:// or https://";
}

/* Returns what follows "scheme://", or NULL when no allowed scheme matches. */
static const char *ag_url_scheme(const char *s, unsigned flags, struct ag_url *u)
{
    for (size_t i = 0; i < AG_URL_NSCHEMES; i++) {
        const struct ag_url_scheme *sc = &ag_url_schemes[i];
        size_t n = strlen(sc->name);
        if (!(flags & sc->flag) || strncasecmp(s, sc->name, n) != 0 || strncmp(s + n, "://", 3))
            continue;
        memcpy(u->scheme, sc->name, n + 1);
        u->tls = sc->tls;
        return s + n + 3;
    }
    return NULL;
}

static enum ag_rc ag_url_host(const char *h, size_t hlen, struct ag_url *u, struct ag_err *err)
{
    if (hlen == 0 || hlen >= sizeof(u->host))
        return ag_err_set(err, AG_EPARSE,
                          hlen ? "has a host name that is too long" : "has no host");
    memcpy(u->host, h, hlen);
    u->host[hlen] = '\0';
    if (u->ipv6) {
        unsigned char a6[16];
        if (inet_pton(AF_INET6, u->host, a6) != 1)
            return ag_err_set(err, AG_EPARSE, "has a bad IPv6 address");
        return AG_OK;
    }
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)u->host[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_')
            return ag_err_set(err, AG_EPARSE, "has a bad host name");
    }
    return AG_OK;
}

static enum ag_rc ag_url_port_parse(const char *p, const char *end, struct ag_url *u,
                                    struct ag_err *err)
{
    long v = 0;
    if (p == end || end - p > 5)
        return ag_err_set(err, AG_EPARSE, "has a bad port");
    for (; p < end; p++) {
        if (!isdigit((unsigned char)*p))
            return ag_err_set(err, AG_EPARSE, "has a bad port");
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535)
        return ag_err_set(err, AG_EPARSE, "has a port outside 1..65535");
    u->port = v;
    return AG_OK;
}

/* host[:port] or [v6][:port], the authority after any userinfo. */
static enum ag_rc ag_url_hostport(const char *a, const char *end, struct ag_url *u,
                                  struct ag_err *err)
{
    const char *host = a, *hend, *port = NULL;
    if (a < end && a[0] == '[') {
        const char *rb = memchr(a, ']', (size_t)(end - a));
        if (!rb)
            return ag_err_set(err, AG_EPARSE, "has an unterminated [IPv6] host");
        u->ipv6 = true;
        host = a + 1;
        hend = rb;
        if (rb + 1 < end) {
            if (rb[1] != ':')
                return ag_err_set(err, AG_EPARSE, "has junk after the [IPv6] host");
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(a, ':', (size_t)(end - a));
        hend = colon ? colon : end;
        port = colon ? colon + 1 : NULL;
    }
    enum ag_rc rc = ag_url_host(host, (size_t)(hend - host), u, err);
    if (rc == AG_OK && port)
        rc = ag_url_port_parse(port, end, u, err);
    return rc;
}

enum ag_rc ag_url_parse(const char *s, unsigned flags, struct ag_url *u, struct ag_err *err)
{
    memset(u, 0, sizeof(*u));
    u->port = -1;
    u->path = "";
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return ag_err_set(err, AG_EPARSE, "must not contain spaces or control characters");
    }
    const char *rest = ag_url_scheme(s, flags, u);
    if (!rest)
        return ag_err_set(err, AG_EPARSE, "%s", ag_url_scheme_hint(flags));
    if (strchr(rest, '#'))
        return ag_err_set(err, AG_EPARSE, "must not have a #fragment");
    if (strchr(rest, '?'))
        return ag_err_set(err, AG_EPARSE, "must not have a ?query");
    size_t alen = strcspn(rest, "/");
    u->path = rest + alen;
    /* The last '@' ends the userinfo: a password may hold '@' but not '/'. */
    const char *at = NULL;
    for (const char *p = rest; p < rest + alen; p++)
        at = *p == '@' ? p : at;
    if (at && !(flags & AG_URL_USERINFO))
        return ag_err_set(err, AG_EPARSE, "must not contain user:password@");
    if (at) {
        u->userinfo = rest;
        u->userinfo_len = (size_t)(at - rest);
        alen -= (size_t)(at + 1 - rest);
        rest = at + 1;
    }
    if (alen == 0)
        return ag_err_set(err, AG_EPARSE, "has no host");
    return ag_url_hostport(rest, rest + alen, u, err);
}

unsigned ag_url_port(const struct ag_url *u)
{
    if (u->port > 0)
        return (unsigned)u->port;
    for (size_t i = 0; i < AG_URL_NSCHEMES; i++) {
        if (strcmp(u->scheme, ag_url_schemes[i].name) == 0)
            return ag_url_schemes[i].port;
    }
    return 0;
}
