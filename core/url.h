/* The one URL parser: scheme (case-insensitive), optional userinfo, host (name, IPv4 or [IPv6]),
 * port and path of an http(s) or redis(s) URL, for the config checks and the upstream pool. */
#ifndef AG_CORE_URL_H
#define AG_CORE_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/** What a caller accepts; OR them together. */
enum ag_url_flags {
    AG_URL_HTTP = 1 << 0,     /* http:// and https:// */
    AG_URL_REDIS = 1 << 1,    /* redis:// and rediss:// */
    AG_URL_USERINFO = 1 << 2, /* user:password@ before the host is allowed */
};

/** A parsed URL. Pointers go into the parsed string, which must outlive this. */
struct ag_url {
    char scheme[8];       /* lower-case: "http", "https", "redis" or "rediss" */
    bool tls;             /* https or rediss */
    char host[256];       /* without brackets for IPv6 */
    bool ipv6;            /* host was written [in brackets] */
    long port;            /* -1 when absent; see ag_url_port */
    const char *userinfo; /* NULL when absent */
    size_t userinfo_len;  /* bytes before the '@' */
    const char *path;     /* "" when absent, else starts with '/' */
};

/** Parses s into u. AG_EPARSE with a reason phrase in err ("has a bad port", ...) for spaces or
 * control characters, a scheme flags do not allow, a ?query or #fragment, refused userinfo, a
 * missing or bad host, or a port outside 1..65535. */
enum ag_rc ag_url_parse(const char *s, unsigned flags, struct ag_url *u, struct ag_err *err) AG_WUR;

/** The explicit port, or the scheme's default (80, 443, 6379). */
unsigned ag_url_port(const struct ag_url *u);

#endif
