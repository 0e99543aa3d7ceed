/* The one HTTP client (the only libcurl user): a bounded GET or form POST over http(s), used
 * for discovery documents, key sets and the token endpoint (auth/idp/) and for upstream health
 * checks (proxy/upstream/). TLS verification is always on; redirects are never followed; the
 * body has a size cap; no signals. */
#ifndef AG_CORE_HTTP_CLIENT_H
#define AG_CORE_HTTP_CLIENT_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

struct ag_http_client_opts {
    const char *ca_file;     /* NULL: the system CA bundle */
    long connect_timeout_ms; /* 0: 3000 */
    long timeout_ms;         /* whole transfer; 0: 5000 */
    size_t max_bytes;        /* body cap; 0: 1 MiB */
    const char *connect_to;  /* curl CONNECT_TO pin "host:port:addr:port"; NULL or "": none */
    const char *user_agent;  /* NULL: "airgate/<version>" */
};

struct ag_http_call {
    const char *url;            /* http:// or https:// (scheme case-insensitive) */
    const char *post_body;      /* NULL: GET; else POSTed as is */
    const char *const *headers; /* NULL or NULL-terminated "Name: value" lines */
};

/** A reusable client: keeps connections open between calls. Used by one thread at a time. */
struct ag_http_client;

/** curl_global_init exactly once per process (pthread_once); safe to call from anywhere. */
enum ag_rc ag_http_global_init(void) AG_WUR;

/** NULL when curl cannot make a handle. Freed with ag_http_client_free (NULL is fine). */
struct ag_http_client *ag_http_client_new(void);
void ag_http_client_free(struct ag_http_client *c);

/** Performs call with c (NULL: a one-shot handle). *status gets the HTTP status (0 when there was
 * no answer); the body goes to out (ag_buf_init'ed and released by the caller) or is discarded
 * when out is NULL. Any status is AG_OK: the caller judges it. AG_EINVAL for a bad URL,
 * AG_ENOMEM when the body exceeds the cap, AG_ETIMEOUT on timeout, AG_EUPSTREAM for connection,
 * TLS or protocol errors. Messages name the failure, not the URL (callers add it). Header
 * copies are wiped before they are freed (they may hold credentials). */
enum ag_rc ag_http_client_call(struct ag_http_client *c, const struct ag_http_call *call,
                               const struct ag_http_client_opts *opts, long *status,
                               struct ag_buf *out, struct ag_err *err) AG_WUR;

#endif
