/* Reading the upstream's answer: the response head (1xx skipped, the client head built), the
 * body decoded and queued to the client with backpressure both ways. Loop thread only. See
 * upconn.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "proxy/stream/conn.h"
#include "proxy/stream/request.h"
#include "proxy/stream/shard.h"
#include "proxy/stream/tls.h"
#include "proxy/stream/upconn.h"
#include "proxy/upstream/pool.h"

/* ---- receiving ---- */

enum ag_up_next { AG_UP_MORE, AG_UP_STOP };

/* Queues decoded body bytes (and the end) to the client. */
static enum ag_up_next ag_up_deliver(struct ag_req *r, const char *data, size_t size, bool done,
                                     bool reusable)
{
    struct ag_cconn *c = r->c;
    if (size > 0) {
        if (r->resp_chunked) {
            ag_outq_add(&r->oq, r->cpre, ag_chunk_line(r->cpre, size));
            ag_outq_add(&r->oq, data, size);
            ag_outq_add(&r->oq, "\r\n", 2);
        } else {
            ag_outq_add(&r->oq, data, size);
        }
        r->bytes_out += size;
    }
    if (done) {
        if (r->resp_chunked)
            ag_outq_add(&r->oq, "0\r\n\r\n", 5);
        r->resp_done = true;
        ag_metrics_upstream_latency(ag_loop_now_us() - r->t_up_us);
        /* the answer is complete: the connection can serve others while the client reads */
        ag_up_detach(r, reusable && r->body_sent);
    }
    if (!ag_cconn_flush(c))
        return AG_UP_STOP;
    if (r->oq.total == 0) {
        if (r->resp_done) {
            ag_cconn_request_done(c, true);
            return AG_UP_STOP;
        }
        r->dlen = 0;
        return AG_UP_MORE;
    }
    r->upstream_paused = true;
    ag_cconn_rearm(c);
    if (r->u)
        ag_uconn_rearm(r->u);
    return AG_UP_STOP;
}

static enum ag_up_next ag_up_body_bytes(struct ag_req *r, char *data, size_t n)
{
    size_t size = n, extra = 0;
    const char *why = "bad response body";
    enum ag_h1_rc rc;
    if (r->rhead.no_body) {
        rc = AG_H1_DONE;
        size = 0;
        extra = n;
    } else {
        rc = ag_h1_parse_body(&r->out, data, &size, &extra, &why);
    }
    if (rc == AG_H1_BAD) {
        ag_log(AG_LOG_WARN, &r->lctx, "upstream response broken: %s", why);
        ag_cconn_close(r->c, "broken upstream response");
        return AG_UP_STOP;
    }
    bool done = rc == AG_H1_DONE;
    return ag_up_deliver(r, data, size, done, done && r->rhead.keep_alive && extra == 0);
}

static bool ag_up_grow(struct ag_req *r)
{
    if (r->dcap >= AG_UP_HEAD_MAX)
        return false;
    size_t cap = r->dcap < AG_IOBUF ? AG_IOBUF * 2 : (size_t)r->dcap * 2;
    if (cap > AG_UP_HEAD_MAX)
        cap = AG_UP_HEAD_MAX;
    char *b = malloc(cap);
    if (!b)
        abort();
    memcpy(b, r->dbuf, r->dlen);
    if (r->dcap == AG_IOBUF)
        ag_loop_buf_put(&r->c->sh->loop, r->dbuf);
    else
        free(r->dbuf);
    r->dbuf = b;
    r->dcap = (uint32_t)cap;
    return true;
}

static enum ag_up_next ag_up_head(struct ag_req *r)
{
    for (;;) {
        size_t end = ag_h1_head_end(r->dbuf, r->dlen, &r->dscan);
        if (end == 0) {
            if (r->dlen == r->dcap && !ag_up_grow(r)) {
                ag_up_failed(r, AG_UF_PROTOCOL, "response head too large");
                return AG_UP_STOP;
            }
            return AG_UP_MORE;
        }
        bool head_req = strcmp(r->req.method, "HEAD") == 0;
        ag_h1_parser_init(&r->out, false, head_req);
        int st = 0;
        const char *why = "bad response head";
        if (ag_h1_parse_head(&r->out, r->arena, r->dbuf, end, 512, &r->rhead, &st, &why) !=
            AG_H1_OK) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%s: %s", r->replica ? r->replica->label : "-", why);
            ag_up_failed(r, AG_UF_PROTOCOL, msg);
            return AG_UP_STOP;
        }
        if (r->rhead.status == 101) {
            ag_up_failed(r, AG_UF_PROTOCOL, "the upstream switched protocols (not supported)");
            return AG_UP_STOP;
        }
        memmove(r->dbuf, r->dbuf + end, r->dlen - end);
        r->dlen -= (uint32_t)end;
        r->dscan = 0;
        if (r->rhead.status >= 200)
            break;
        /* 1xx interim answers (103 Early Hints) are not passed on */
    }
    r->head_ready = true;
    const char *head;
    size_t hl;
    ag_req_response_head(r, &head, &hl);
    ag_outq_add(&r->oq, head, hl);
    return ag_up_body_bytes(r, r->dbuf, r->dlen);
}

void ag_uconn_read(struct ag_uconn *u)
{
    struct ag_req *r = u->req;
    for (int round = 0; round < 16; round++) {
        if (!r->dbuf) {
            r->dbuf = ag_loop_buf_get(&u->sh->loop);
            r->dcap = AG_IOBUF;
            r->dlen = 0;
        }
        if (r->dlen == r->dcap && (r->head_ready || !ag_up_grow(r))) {
            ag_up_failed(r, AG_UF_PROTOCOL, "response head too large");
            return;
        }
        ssize_t k = ag_uconn_io_read(u, r->dbuf + r->dlen, r->dcap - r->dlen);
        if (k == -AG_EAGAIN)
            return;
        if (k <= 0) {
            if (!r->head_ready) {
                char msg[200];
                snprintf(msg, sizeof(msg), "%s: %s", u->replica->label,
                         k == 0 ? "closed the connection without an answer" : ag_uconn_io_error(u));
                ag_up_failed(r, ag_uconn_handshake_failed(u) ? AG_UF_CONNECT : AG_UF_PROTOCOL, msg);
                return;
            }
            const char *why = "upstream closed the connection";
            if (k == 0 && ag_h1_parse_eof(&r->out, &why) == AG_H1_DONE) {
                ag_up_deliver(r, NULL, 0, true, false);
                return;
            }
            ag_log(AG_LOG_WARN, &r->lctx, "upstream response cut short: %s", why);
            ag_cconn_close(r->c, "upstream response cut short");
            return;
        }
        r->up_since_ms = u->sh->loop.now_ms;
        uint32_t start = r->dlen;
        r->dlen += (uint32_t)k;
        enum ag_up_next next =
            r->head_ready ? ag_up_body_bytes(r, r->dbuf + start, (size_t)k) : ag_up_head(r);
        if (next == AG_UP_STOP || r->u != u)
            return;
    }
}

void ag_up_resume(struct ag_req *r)
{
    if (!r->upstream_paused)
        return;
    r->upstream_paused = false;
    r->dlen = 0;
    struct ag_uconn *u = r->u;
    if (!u)
        return;
    ag_uconn_read(u);
    if (u->fd >= 0 && u->req == r)
        ag_uconn_rearm(u);
}
