#include "auth/idp/http_fetch.h"

#include "core/http_client.h"

enum ag_rc ag_http_fetch_global_init(void)
{
    return ag_http_global_init();
}

static struct ag_http_client_opts ag_http_fetch_client_opts(const struct ag_http_fetch_opts *o)
{
    struct ag_http_client_opts co = {0};
    if (o) {
        co.ca_file = o->ca_file;
        co.connect_timeout_ms = o->connect_timeout_ms;
        co.timeout_ms = o->timeout_ms;
        co.max_bytes = o->max_bytes;
    }
    return co;
}

enum ag_rc ag_http_fetch_get(const char *url, const struct ag_http_fetch_opts *opts,
                             struct ag_buf *out, struct ag_err *err)
{
    struct ag_http_client_opts co = ag_http_fetch_client_opts(opts);
    struct ag_http_call call = {.url = url};
    long status = 0;
    enum ag_rc rc = ag_http_client_call(NULL, &call, &co, &status, out, err);
    if (rc == AG_EINVAL)
        return rc;
    if (rc != AG_OK) {
        ag_err_prefix(err, "GET %s", url);
        return rc;
    }
    if (status != 200)
        return ag_err_set(err, AG_EUPSTREAM, "GET %s: HTTP status %ld", url, status);
    return AG_OK;
}
