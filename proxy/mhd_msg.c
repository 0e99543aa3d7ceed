/* libmicrohttpd <-> core/http_msg.h; see mhd_msg.h. */
#include "proxy/mhd_msg.h"

#include <string.h>
#include <strings.h>

#include "core/arena.h"

struct ag_mhd_hdr_ctx {
    struct ag_arena *a;
    struct ag_http_header *h;
    size_t n, cap;
};

static enum MHD_Result ag_mhd_hdr_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    struct ag_mhd_hdr_ctx *c = cls;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        struct ag_http_header *nh = ag_arena_calloc(c->a, cap, sizeof(*nh));
        if (c->n)
            memcpy(nh, c->h, c->n * sizeof(*nh));
        c->h = nh;
        c->cap = cap;
    }
    /* MHD keeps keys and values in its connection pool until the request completes */
    c->h[c->n].name = key;
    c->h[c->n].value = value ? value : "";
    c->n++;
    return MHD_YES;
}

void ag_mhd_request_fill(struct ag_arena *a, struct MHD_Connection *conn, const char *method,
                         const char *raw_uri, struct ag_http_request *req)
{
    memset(req, 0, sizeof(*req));
    req->method = method;
    const char *q = raw_uri ? strchr(raw_uri, '?') : NULL;
    if (!raw_uri) {
        req->path = "/";
    } else if (q) {
        req->path = ag_arena_strndup(a, raw_uri, (size_t)(q - raw_uri));
        req->query = q + 1;
    } else {
        req->path = raw_uri;
    }
    struct ag_mhd_hdr_ctx c = {.a = a};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, ag_mhd_hdr_iter, &c);
    req->headers = c.h;
    req->n_headers = c.n;
}

enum MHD_Result ag_mhd_respond(struct MHD_Connection *conn, const struct ag_http_response *resp)
{
    /* MUST_COPY: libmicrohttpd copies the body and never writes through the pointer */
    void *body = NULL;
    if (resp->body && resp->body_len > 0)
        memcpy(&body, &resp->body, sizeof(body));
    struct MHD_Response *r =
        MHD_create_response_from_buffer(resp->body_len, body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (resp->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    bool cache_set = false;
    for (size_t i = 0; i < resp->n_headers; i++) {
        cache_set = cache_set || strcasecmp(resp->headers[i].name, "Cache-Control") == 0;
        MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    }
    if (!cache_set)
        MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret =
        MHD_queue_response(conn, (unsigned)(resp->status ? resp->status : 500), r);
    MHD_destroy_response(r);
    return ret;
}
