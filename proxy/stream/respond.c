/* Own answers (status line, headers, body; the JSON or HTML error answer) and the client
 * response head for a forwarded answer. See request.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"
#include "proxy/http/headers.h"
#include "proxy/services.h"
#include "proxy/stream/conn.h"
#include "proxy/stream/request.h"
#include "proxy/stream/sb.h"
#include "proxy/stream/shard.h"
#include "proxy/stream/upconn.h"

/* ---- own answers ---- */

static void ag_req_send(struct ag_req *r)
{
    struct ag_cconn *c = r->c;
    if (!ag_cconn_flush(c))
        return;
    if (r->oq.total == 0) {
        if (r->phase == AG_R_LOCAL)
            ag_cconn_request_done(c, true);
        return;
    }
    ag_cconn_rearm(c);
}

static bool ag_req_closing(const struct ag_req *r)
{
    return !r->keep_alive || atomic_load(r->c->sh->svc->draining);
}

/* "HTTP/1.1 200 OK\r\n" */
static void ag_req_status_line(struct ag_sb *b, int status)
{
    if (status < 100 || status > 999)
        status = 502;
    char line[16] = "HTTP/1.1 ";
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    line[12] = ' ';
    ag_sb_put(b, line, 13);
    ag_sb_str(b, ag_h1_reason(status));
    ag_sb_put(b, "\r\n", 2);
}

static void ag_req_connection_header(struct ag_req *r, struct ag_sb *b)
{
    if (ag_req_closing(r)) {
        r->keep_alive = false;
        ag_sb_str(b, "Connection: close\r\n");
    } else if (r->head.minor == 0) {
        ag_sb_str(b, "Connection: keep-alive\r\n");
    }
}

void ag_req_respond(struct ag_req *r, const struct ag_http_response *resp)
{
    struct ag_cconn *c = r->c;
    r->phase = AG_R_LOCAL;
    if (r->u)
        ag_up_detach(r, false);
    if (!r->body_done)
        ag_cconn_skip_body(c);
    int status = resp->status ? resp->status : 500;
    r->status = status;
    struct ag_sb b;
    ag_sb_init(&b, r->arena, 512 + resp->body_len);
    ag_req_status_line(&b, status);
    if (resp->content_type)
        ag_sb_hdr(&b, "Content-Type", resp->content_type);
    bool cache_set = false, nosniff_set = false;
    for (size_t i = 0; i < resp->n_headers; i++) {
        cache_set = cache_set || strcasecmp(resp->headers[i].name, "Cache-Control") == 0;
        nosniff_set =
            nosniff_set || strcasecmp(resp->headers[i].name, "X-Content-Type-Options") == 0;
        ag_sb_hdr(&b, resp->headers[i].name, resp->headers[i].value);
    }
    if (!cache_set)
        ag_sb_str(&b, "Cache-Control: no-store\r\n");
    if (!nosniff_set) /* the login pages set their own: one header, not two */
        ag_sb_str(&b, "X-Content-Type-Options: nosniff\r\n");
    ag_sb_str(&b, ag_shard_date(c->sh));
    ag_sb_str(&b, "Content-Length: ");
    ag_sb_num(&b, resp->body_len);
    ag_sb_put(&b, "\r\n", 2);
    ag_req_connection_header(r, &b);
    ag_sb_put(&b, "\r\n", 2);
    bool head = r->req.method && strcmp(r->req.method, "HEAD") == 0;
    if (!head && resp->body_len > 0)
        ag_sb_put(&b, resp->body, resp->body_len);
    r->bytes_out = head ? 0 : resp->body_len;
    ag_outq_add(&r->oq, b.p, b.len);
    ag_req_send(r);
}

/* The error answer, built without sending it (workers use it too). */
void ag_req_error_resp(struct ag_req *r, int status, const char *code, const char *text,
                       struct ag_http_response *out)
{
    if (!r->req.method)
        r->req.method = "-";
    struct ag_http_response resp = {0};
    char *body;
    const char *rid = r->rid[0] ? r->rid : "-";
    if (ag_http_is_navigation(&r->req)) {
        body = ag_arena_printf(r->arena,
                               "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                               "<title>%d</title></head><body><h1>%d</h1><p>%s</p>"
                               "<p>Request id <code>%s</code></p></body></html>\n",
                               status, status, text, rid);
        ag_http_response_set(r->arena, &resp, status, "text/html; charset=utf-8", body,
                             strlen(body));
    } else {
        body = ag_arena_printf(r->arena,
                               "{\"error\":\"%s\",\"error_description\":\"%s\","
                               "\"request_id\":\"%s\"}\n",
                               code, text, rid);
        ag_http_response_set(r->arena, &resp, status, "application/json", body, strlen(body));
    }
    if (status == 503)
        ag_http_response_add_header(r->arena, &resp, "Retry-After", "5");
    /* a session refreshed on this request must reach the browser even when the upstream
     * failed: the old refresh token is already spent at the IdP */
    for (size_t i = 0; i < r->extra.n_headers; i++)
        ag_http_response_add_header(r->arena, &resp, r->extra.headers[i].name,
                                    r->extra.headers[i].value);
    *out = resp;
}

void ag_req_error(struct ag_req *r, int status, const char *code, const char *text)
{
    struct ag_http_response resp;
    ag_req_error_resp(r, status, code, text, &resp);
    ag_req_respond(r, &resp);
}

/* ---- the answer head for a forwarded response ---- */

void ag_req_response_head(struct ag_req *r, const char **out, size_t *len)
{
    const struct ag_h1_head *h = &r->rhead;
    struct ag_sb b;
    ag_sb_init(&b, r->arena, 1024);
    ag_req_status_line(&b, h->status);
    const char *conn_vals[16];
    size_t n_conn = 0;
    for (size_t i = 0; i < h->n_headers && n_conn < 16; i++) {
        if (strcasecmp(h->headers[i].name, "Connection") == 0)
            conn_vals[n_conn++] = h->headers[i].value;
    }
    for (size_t i = 0; i < h->n_headers; i++) {
        if (!ag_hdr_drop_response(h->headers[i].name, conn_vals, n_conn))
            ag_sb_hdr(&b, h->headers[i].name, h->headers[i].value);
    }
    for (size_t i = 0; i < r->extra.n_headers; i++) /* renewed session cookies */
        ag_sb_hdr(&b, r->extra.headers[i].name, r->extra.headers[i].value);
    ag_sb_str(&b, ag_shard_date(r->c->sh));
    if (!r->body_done)
        r->keep_alive = false; /* an early answer: the rest of the body is never read */
    bool bodyless_status = h->status < 200 || h->status == 204 || h->status == 304;
    if (h->content_length >= 0 && h->status != 204 && !(h->status < 200)) {
        ag_sb_str(&b, "Content-Length: ");
        ag_sb_num(&b, (unsigned long long)h->content_length);
        ag_sb_put(&b, "\r\n", 2);
    } else if (!h->no_body && !bodyless_status) {
        if (r->head.minor >= 1) {
            r->resp_chunked = true;
            ag_sb_str(&b, "Transfer-Encoding: chunked\r\n");
        } else {
            r->keep_alive = false; /* an HTTP/1.0 client reads to the end of the connection */
        }
    }
    ag_req_connection_header(r, &b);
    ag_sb_put(&b, "\r\n", 2);
    r->status = h->status;
    *out = b.p;
    *len = b.len;
}
