/* libFuzzer target: HTTP/1.1 framing (proxy/h1.c). Input: one byte choosing the message kind
 * (request, response, response to HEAD), one byte choosing where to split, then the bytes of a
 * connection: head, body, and whatever follows.
 *
 * Checked:
 *  - ag_h1_head_end gives the same answer one-shot, fed in two pieces, and (short inputs) fed
 *    one byte at a time;
 *  - parsing the same head twice gives the same result; a parsed head is sane (names are
 *    tokens, values hold no control byte but HTAB, one framing at most, a status for refused
 * requests);
 *  - body decoding never yields more bytes than it was given, and gives the same result
 *    (status, data, extra bytes) one-shot, in two pieces and (short bodies) byte by byte.
 * A violation aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "proxy/http/h1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AG_FZ_MAX_HEADERS 64
#define AG_FZ_BYTEWISE 300

static void ag_fz_check(bool ok)
{
    if (!ok)
        abort();
}

struct ag_fz_body {
    enum ag_h1_rc rc;
    enum ag_h1_rc eof;
    char *data;
    size_t len;
    char *extra;
    size_t extra_len;
};

static bool ag_fz_tchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum ag_h1_rc ag_fz_head(struct ag_h1_parser *p, int kind, const char *buf, size_t len,
                                struct ag_h1_head *h, int *status)
{
    struct ag_arena *a = ag_arena_new(0);
    const char *why = NULL;
    ag_h1_parser_init(p, kind == 0, kind == 2);
    enum ag_h1_rc rc = ag_h1_parse_head(p, a, buf, len, AG_FZ_MAX_HEADERS, h, status, &why);
    ag_fz_check(rc == AG_H1_OK || rc == AG_H1_BAD);
    if (rc == AG_H1_BAD) {
        ag_fz_check(why && *why);
        ag_fz_check(kind != 0 || *status == 400 || *status == 431 || *status == 501 ||
                    *status == 505);
    } else {
        ag_fz_check(h->n_headers <= AG_FZ_MAX_HEADERS);
        for (size_t i = 0; i < h->n_headers; i++) {
            const char *n = h->headers[i].name, *v = h->headers[i].value;
            ag_fz_check(*n != '\0');
            for (; *n; n++)
                ag_fz_check(ag_fz_tchar(*n));
            for (; *v; v++)
                ag_fz_check(*v == '\t' || ((unsigned char)*v >= 0x20 && *v != 0x7f));
        }
        ag_fz_check(h->minor == 0 || h->minor == 1);
        ag_fz_check(!(h->chunked && h->until_close));
        ag_fz_check(!(h->no_body && (h->chunked || h->until_close)));
        ag_fz_check(h->content_length >= -1);
        ag_fz_check(!h->until_close || !h->keep_alive);
        if (kind == 0) {
            ag_fz_check(!h->until_close && h->method && *h->method && h->target && *h->target);
            ag_fz_check(!(h->chunked && h->content_length >= 0));
        } else {
            ag_fz_check(h->status >= 100 && h->status <= 999);
        }
    }
    ag_arena_free(a); /* the head's strings go with it: only scalars are compared below */
    return rc;
}

/* Decodes body[0..n) split at the cuts (ascending) and collects data and extra bytes. */
static void ag_fz_body_run(const struct ag_h1_parser *proto, const uint8_t *body, size_t n,
                           const size_t *cuts, size_t n_cuts, struct ag_fz_body *r)
{
    struct ag_h1_parser p = *proto;
    r->data = malloc(n + 1);
    r->extra = malloc(n + 1);
    ag_fz_check(r->data && r->extra);
    r->len = r->extra_len = 0;
    r->rc = AG_H1_OK;
    size_t from = 0;
    char *piece = malloc(n + 1);
    ag_fz_check(piece != NULL);
    for (size_t c = 0; c <= n_cuts && r->rc != AG_H1_BAD; c++) {
        size_t to = c < n_cuts ? cuts[c] : n, len = to - from, extra = 0;
        const char *why = NULL;
        memcpy(piece, body + from, len);
        if (r->rc == AG_H1_DONE) {
            memcpy(r->extra + r->extra_len, piece, len);
            r->extra_len += len;
        } else {
            r->rc = ag_h1_parse_body(&p, piece, &len, &extra, &why);
            ag_fz_check(len + extra <= to - from);
            ag_fz_check(r->rc != AG_H1_BAD || (why && *why));
            ag_fz_check(r->rc == AG_H1_DONE || extra == 0);
            memcpy(r->data + r->len, piece, len);
            r->len += len;
            memcpy(r->extra + r->extra_len, piece + len, extra);
            r->extra_len += extra;
        }
        from = to;
    }
    free(piece);
    const char *why = NULL;
    r->eof = ag_h1_parse_eof(&p, &why);
    ag_fz_check(r->eof != AG_H1_OK);
    ag_fz_check(r->len + r->extra_len <= n);
}

static void ag_fz_body_same(const struct ag_fz_body *x, const struct ag_fz_body *y)
{
    ag_fz_check(x->rc == y->rc && x->eof == y->eof);
    if (x->rc == AG_H1_BAD)
        return; /* how much came out before the error depends on the split */
    ag_fz_check(x->len == y->len && memcmp(x->data, y->data, x->len) == 0);
    ag_fz_check(x->extra_len == y->extra_len && memcmp(x->extra, y->extra, x->extra_len) == 0);
}

static void ag_fz_body_free(struct ag_fz_body *r)
{
    free(r->data);
    free(r->extra);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int kind = data[0] % 3;
    size_t seed = data[1];
    const char *in = (const char *)data + 2;
    size -= 2;

    size_t scan = 0, end = ag_h1_head_end(in, size, &scan);
    ag_fz_check(end <= size);
    size_t cut = seed % (size + 1);
    scan = 0;
    size_t e2 = ag_h1_head_end(in, cut, &scan);
    if (!e2)
        e2 = ag_h1_head_end(in, size, &scan);
    ag_fz_check(e2 == end);
    if (size <= AG_FZ_BYTEWISE) {
        size_t got = 0;
        scan = 0;
        for (size_t k = 0; k <= size && !got; k++)
            got = ag_h1_head_end(in, k, &scan);
        ag_fz_check(got == end);
    }
    if (!end)
        return 0;

    struct ag_h1_parser p1, p2;
    struct ag_h1_head h1, h2;
    int st1 = 0, st2 = 0;
    enum ag_h1_rc r1 = ag_fz_head(&p1, kind, in, end, &h1, &st1);
    enum ag_h1_rc r2 = ag_fz_head(&p2, kind, in, end, &h2, &st2);
    ag_fz_check(r1 == r2 && st1 == st2);
    if (r1 != AG_H1_OK)
        return 0;
    ag_fz_check(h1.n_headers == h2.n_headers && h1.content_length == h2.content_length &&
                h1.chunked == h2.chunked && h1.until_close == h2.until_close &&
                h1.no_body == h2.no_body && h1.keep_alive == h2.keep_alive);

    const uint8_t *body = data + 2 + end;
    size_t n = size - end;
    struct ag_fz_body one, two;
    ag_fz_body_run(&p1, body, n, NULL, 0, &one);
    size_t cut2[1] = {(seed * 7919u) % (n + 1)};
    ag_fz_body_run(&p1, body, n, cut2, 1, &two);
    ag_fz_body_same(&one, &two);
    ag_fz_body_free(&two);
    if (n <= AG_FZ_BYTEWISE) {
        size_t *cuts = malloc((n + 1) * sizeof(*cuts));
        ag_fz_check(cuts != NULL);
        for (size_t k = 0; k < n; k++)
            cuts[k] = k + 1;
        struct ag_fz_body three;
        ag_fz_body_run(&p1, body, n, cuts, n ? n - 1 : 0, &three);
        ag_fz_body_same(&one, &three);
        ag_fz_body_free(&three);
        free(cuts);
    }
    ag_fz_body_free(&one);
    return 0;
}
