/* The IdP-facing GET (discovery documents, key sets) on the one HTTP client (core/http_client.h).
 * TLS verification is always on; redirects are not followed; the body has a size cap. */
#ifndef AG_AUTH_HTTP_FETCH_H
#define AG_AUTH_HTTP_FETCH_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

struct ag_http_fetch_opts {
    const char *ca_file;     /* NULL: the system CA bundle */
    long connect_timeout_ms; /* 0: 3000 */
    long timeout_ms;         /* whole transfer; 0: 5000 */
    size_t max_bytes;        /* body cap; 0: 1 MiB */
};

/** curl_global_init exactly once per process (pthread_once); safe to call from anywhere, and the
 * proxy's own HTTP client may call it too. */
enum ag_rc ag_http_fetch_global_init(void) AG_WUR;

/** GETs url (http or https only) into out (ag_buf_init'ed by the caller, released by the caller).
 * Only 200 succeeds. AG_ETIMEOUT on timeout, AG_ENOMEM when the body exceeds the cap,
 * AG_EUPSTREAM for connection/TLS/HTTP errors, AG_EINVAL for a bad URL or scheme. */
enum ag_rc ag_http_fetch_get(const char *url, const struct ag_http_fetch_opts *opts,
                             struct ag_buf *out, struct ag_err *err) AG_WUR;

#endif
