#include "core/http_msg.h"

#include <string.h>
#include <strings.h>

const char *ag_http_header_get(const struct ag_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    }
    return NULL;
}

static const char *ag_http_cookie_find(const char *hdr, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = hdr;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *eq = strchr(p, '=');
        const char *semi = strchr(p, ';');
        if (!eq || (semi && semi < eq)) {
            if (!semi)
                break;
            p = semi;
            continue;
        }
        const char *end = semi ? semi : p + strlen(p);
        if ((size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq + 1;
            *vlen = (size_t)(end - v);
            return v;
        }
        p = end;
    }
    return NULL;
}

const char *ag_http_cookie_get(struct ag_arena *a, const struct ag_http_request *req,
                               const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, "Cookie") != 0)
            continue;
        size_t vlen;
        const char *v = ag_http_cookie_find(req->headers[i].value, name, &vlen);
        if (v) {
            /* Values may be quoted (RFC 6265 cookie-value). */
            if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                v++;
                vlen -= 2;
            }
            return ag_arena_strndup(a, v, vlen);
        }
    }
    return NULL;
}

int ag_http_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

const char *ag_http_query_get(struct ag_arena *a, const struct ag_http_request *req,
                              const char *name)
{
    if (!req->query)
        return NULL;
    size_t nlen = strlen(name);
    const char *p = req->query;
    while (*p) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *kend = eq ? eq : end;
        if ((size_t)(kend - p) == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : end;
            size_t vlen = (size_t)(end - v);
            char *out = ag_arena_alloc(a, vlen + 1);
            size_t o = 0;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] == '+') {
                    out[o++] = ' ';
                } else if (v[i] == '%' && i + 2 < vlen &&
                           ag_http_hex_value((unsigned char)v[i + 1]) >= 0 &&
                           ag_http_hex_value((unsigned char)v[i + 2]) >= 0) {
                    char c = (char)(ag_http_hex_value((unsigned char)v[i + 1]) * 16 +
                                    ag_http_hex_value((unsigned char)v[i + 2]));
                    if (c == '\0')
                        return NULL;
                    out[o++] = c;
                    i += 2;
                } else {
                    out[o++] = v[i];
                }
            }
            out[o] = '\0';
            return out;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return NULL;
}

bool ag_http_is_navigation(const struct ag_http_request *req)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return false;
    if (ag_http_header_get(req, "X-Requested-With"))
        return false;
    const char *accept = ag_http_header_get(req, "Accept");
    return accept && strstr(accept, "text/html") != NULL;
}

void ag_http_response_add_header(struct ag_arena *a, struct ag_http_response *resp,
                                 const char *name, const char *value)
{
    if (resp->n_headers == resp->cap_headers) {
        size_t cap = resp->cap_headers ? resp->cap_headers * 2 : 8;
        struct ag_http_header *h = ag_arena_calloc(a, cap, sizeof(*h));
        if (resp->n_headers)
            memcpy(h, resp->headers, resp->n_headers * sizeof(*h));
        resp->headers = h;
        resp->cap_headers = cap;
    }
    resp->headers[resp->n_headers].name = ag_arena_strdup(a, name);
    resp->headers[resp->n_headers].value = ag_arena_strdup(a, value);
    resp->n_headers++;
}

void ag_http_response_set(struct ag_arena *a, struct ag_http_response *resp, int status,
                          const char *content_type, const char *body, size_t body_len)
{
    resp->status = status;
    resp->content_type = content_type ? ag_arena_strdup(a, content_type) : NULL;
    resp->body = body ? ag_arena_memdup(a, body, body_len) : NULL;
    resp->body_len = body ? body_len : 0;
}

char *ag_http_url_encode(struct ag_arena *a, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = ag_arena_alloc(a, n * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}
