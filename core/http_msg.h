/* Plain HTTP request/response values shared by auth/ and proxy/, so the login flow and the
 * bearer check can be tested without sockets. proxy/ fills ag_http_request from its own HTTP/1
 * parser (proxy/http/h1.h) and writes ag_http_response back as a real answer. All memory is
 * arena-owned. */
#ifndef AG_CORE_HTTP_MSG_H
#define AG_CORE_HTTP_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"

struct ag_http_header {
    const char *name;
    const char *value;
};

struct ag_http_request {
    const char *method;    /* "GET" */
    const char *path;      /* decoded-free raw path without the query: "/home" */
    const char *query;     /* raw query without '?', or NULL */
    const char *client_ip; /* peer address as text */
    bool https;            /* the client-facing scheme as airgate believes it */
    const char *host;      /* the Host the client used (after trusted X-Forwarded-Host) */
    size_t n_headers;
    const struct ag_http_header *headers;
    const char *body; /* NUL-terminated; only for the few endpoints whose body airgate reads */
    size_t body_len;
};

struct ag_http_response {
    int status; /* 0: not set */
    const char *content_type;
    const char *body; /* may contain NULs: use body_len */
    size_t body_len;
    size_t n_headers;
    size_t cap_headers;
    struct ag_http_header *headers; /* extra headers, e.g. Location, Set-Cookie (may repeat) */
};

/** First header named name (ASCII case-insensitive), or NULL. */
const char *ag_http_header_get(const struct ag_http_request *req, const char *name);

/** Value of cookie `name` from the Cookie header(s), copied into the arena, or NULL. */
const char *ag_http_cookie_get(struct ag_arena *a, const struct ag_http_request *req,
                               const char *name);

/** Value of query parameter `name`, percent-decoded into the arena, or NULL if absent. Returns
 * NULL too when the decoded value would contain a NUL byte. */
const char *ag_http_query_get(struct ag_arena *a, const struct ag_http_request *req,
                              const char *name);

/** True for a browser navigation: GET/HEAD whose Accept mentions text/html and without
 * X-Requested-With (XHR/API calls get JSON errors instead of redirects). */
bool ag_http_is_navigation(const struct ag_http_request *req);

/** Appends a header to the response (name and value are copied into the arena). */
void ag_http_response_add_header(struct ag_arena *a, struct ag_http_response *resp,
                                 const char *name, const char *value);

/** Sets status, content type and a body copied into the arena. */
void ag_http_response_set(struct ag_arena *a, struct ag_http_response *resp, int status,
                          const char *content_type, const char *body, size_t body_len);

/** Value of a hexadecimal digit (either case), -1 for anything else (percent-decoding). */
int ag_http_hex_value(unsigned char c);

/** Appends `s` percent-encoded for use in a query component (RFC 3986 unreserved kept). */
char *ag_http_url_encode(struct ag_arena *a, const char *s);

#endif
