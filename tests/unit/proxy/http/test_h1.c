/* proxy/h1.c: HTTP/1.1 head checks (smuggling and spoofing rules), framing decisions, head_end
 * scanning and in-place body decoding. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "proxy/http/h1.h"

/* expectation flags for heads that parse */
#define F_CHUNKED 1u
#define F_CLOSE 2u /* until_close */
#define F_NOBODY 4u
#define F_KEEP 8u
#define F_EXPECT 16u

#define BAD -1 /* responses: AG_H1_BAD (no status to compare) */

struct hcase {
    const char *name;
    const char *in;
    size_t len;
    int want;       /* 0: parses; a status: refused with it; BAD: response refused */
    long long cl;   /* when it parses */
    unsigned flags; /* when it parses */
    int kind;       /* 0 request, 1 response, 2 response to HEAD */
};

#define REQ(n, s, want, cl, fl)                                                                    \
    {                                                                                              \
        n, s, sizeof(s) - 1, want, cl, fl, 0                                                       \
    }
#define RES(n, s, want, cl, fl)                                                                    \
    {                                                                                              \
        n, s, sizeof(s) - 1, want, cl, fl, 1                                                       \
    }
#define HRES(n, s, want, cl, fl)                                                                   \
    {                                                                                              \
        n, s, sizeof(s) - 1, want, cl, fl, 2                                                       \
    }
#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"
#define P11 "POST / HTTP/1.1\r\nHost: a\r\n"

static const struct hcase cases[] = {
    /* line endings */
    REQ("crlf", H11 "\r\n", 0, -1, F_NOBODY | F_KEEP),
    REQ("bare lf", "GET / HTTP/1.1\nHost: a\n\n", 0, -1, F_NOBODY | F_KEEP),
    REQ("mixed endings", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\n", 0, -1, F_NOBODY | F_KEEP),
    REQ("leading empty lines", "\r\n\n\r\n" H11 "\r\n", 0, -1, F_NOBODY | F_KEEP),
    REQ("bare cr in value", H11 "X: a\rb\r\n\r\n", 400, 0, 0),
    REQ("bare cr before crlf", H11 "X: a\r\r\n\r\n", 400, 0, 0),
    REQ("bare cr in request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("bare cr as line end", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400, 0, 0),
    REQ("bare cr empty line", H11 "\r\r\n", 400, 0, 0),
    REQ("leading bare cr", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("incomplete head", H11, 400, 0, 0),
    REQ("bytes after head", H11 "\r\nGET", 400, 0, 0),
    REQ("empty head", "\r\n", 400, 0, 0),
    /* obs-fold */
    REQ("obs-fold sp", H11 "X: a\r\n b\r\n\r\n", 400, 0, 0),
    REQ("obs-fold htab", H11 "X: a\r\n\tb\r\n\r\n", 400, 0, 0),
    REQ("obs-fold first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, 0, 0),
    /* names */
    REQ("token name chars", H11 "X-A_b.c!#$%&'*+^`|~9: v\r\n\r\n", 0, -1, F_NOBODY | F_KEEP),
    REQ("space in name", H11 "X Y: a\r\n\r\n", 400, 0, 0),
    REQ("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, 0, 0),
    REQ("tab before colon", H11 "X\t: a\r\n\r\n", 400, 0, 0),
    REQ("empty name", H11 ": a\r\n\r\n", 400, 0, 0),
    REQ("no colon", H11 "Xyz\r\n\r\n", 400, 0, 0),
    REQ("separator in name", H11 "X(y): a\r\n\r\n", 400, 0, 0),
    REQ("high byte in name", H11 "X\x80: a\r\n\r\n", 400, 0, 0),
    /* values */
    REQ("nul in value", H11 "X: a\0b\r\n\r\n", 400, 0, 0),
    REQ("del in value", H11 "X: a\x7f\r\n\r\n", 400, 0, 0),
    REQ("esc in value", H11 "X: a\x1b[0m\r\n\r\n", 400, 0, 0),
    REQ("vt in value", H11 "X: a\vb\r\n\r\n", 400, 0, 0),
    REQ("htab in value", H11 "X: a\tb\r\n\r\n", 0, -1, F_NOBODY | F_KEEP),
    REQ("obs-text in value", H11 "X: caf\xc3\xa9\r\n\r\n", 0, -1, F_NOBODY | F_KEEP),
    REQ("empty value", H11 "X:\r\n\r\n", 0, -1, F_NOBODY | F_KEEP),
    /* request line */
    REQ("target ctl", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("target del", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("target tab", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("empty target", "GET  HTTP/1.1\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("no version", "GET /\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("method not token", "G(ET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, 0, 0),
    /* methods outside http_parser's table are tokens all the same: forwarded */
    REQ("unknown method", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 0, -1, F_NOBODY | F_KEEP),
    REQ("lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 0, -1, F_NOBODY | F_KEEP),
    REQ("unknown method, bad version", "FOO / HTTP/1.x\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("unknown method, ctl in target", "FOO /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("te xchunked beside cl", P11 "Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n",
        501, 0, 0),
    REQ("known method", "PATCH /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n", 0, -1, F_NOBODY | F_KEEP),
    REQ("asterisk form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, -1, F_NOBODY | F_KEEP),
    REQ("connect", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 0, -1,
        F_NOBODY | F_KEEP),
    /* versions */
    REQ("http/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, 0, 0),
    REQ("http/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, 0, 0),
    REQ("http/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, 0, 0),
    REQ("version garbage", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("version lower", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, 0, 0),
    REQ("http/1.0 no host", "GET / HTTP/1.0\r\n\r\n", 0, -1, F_NOBODY),
    REQ("http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, -1,
        F_NOBODY | F_KEEP),
    /* Host */
    REQ("http/1.1 no host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400, 0, 0),
    REQ("two hosts", H11 "Host: b\r\n\r\n", 400, 0, 0),
    REQ("two hosts 1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400, 0, 0),
    /* Connection */
    REQ("connection close", H11 "Connection: close\r\n\r\n", 0, -1, F_NOBODY),
    REQ("connection list close", H11 "Connection: foo, Close \r\n\r\n", 0, -1, F_NOBODY),
    REQ("connection closed", H11 "Connection: closed\r\n\r\n", 0, -1, F_NOBODY | F_KEEP),
    /* Content-Length */
    REQ("cl", P11 "Content-Length: 5\r\n\r\n", 0, 5, F_KEEP),
    REQ("cl zero", P11 "Content-Length: 0\r\n\r\n", 0, 0, F_NOBODY | F_KEEP),
    REQ("cl leading zeros", P11 "Content-Length: 007\r\n\r\n", 0, 7, F_KEEP),
    REQ("cl ows", P11 "Content-Length: \t 5 \r\n\r\n", 0, 5, F_KEEP),
    REQ("cl max", P11 "Content-Length: 9223372036854775807\r\n\r\n", 0, 9223372036854775807LL,
        F_KEEP),
    REQ("cl overflow", P11 "Content-Length: 9223372036854775808\r\n\r\n", 400, 0, 0),
    REQ("cl huge", P11 "Content-Length: 99999999999999999999999\r\n\r\n", 400, 0, 0),
    REQ("cl plus", P11 "Content-Length: +5\r\n\r\n", 400, 0, 0),
    REQ("cl minus", P11 "Content-Length: -1\r\n\r\n", 400, 0, 0),
    REQ("cl list", P11 "Content-Length: 5, 5\r\n\r\n", 400, 0, 0),
    REQ("cl inner space", P11 "Content-Length: 5 5\r\n\r\n", 400, 0, 0),
    REQ("cl empty", P11 "Content-Length:\r\n\r\n", 400, 0, 0),
    REQ("cl hex", P11 "Content-Length: 0x5\r\n\r\n", 400, 0, 0),
    REQ("cl dup same", P11 "Content-Length: 5\r\ncontent-length: 5\r\n\r\n", 0, 5, F_KEEP),
    REQ("cl dup differ", P11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, 0, 0),
    REQ("cl dup zero differ", P11 "Content-Length: 0\r\nContent-Length: 6\r\n\r\n", 400, 0, 0),
    /* Transfer-Encoding (request) */
    REQ("te chunked", P11 "Transfer-Encoding: chunked\r\n\r\n", 0, -1, F_CHUNKED | F_KEEP),
    REQ("te Chunked", P11 "Transfer-Encoding: Chunked\r\n\r\n", 0, -1, F_CHUNKED | F_KEEP),
    REQ("te leading ows", P11 "Transfer-Encoding:  chunked\r\n\r\n", 0, -1, F_CHUNKED | F_KEEP),
    REQ("te trailing tab", P11 "Transfer-Encoding: chunked\t\r\n\r\n", 0, -1, F_CHUNKED | F_KEEP),
    REQ("te gzip chunked", P11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, 0, 0),
    REQ("te chunked chunked", P11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 501, 0, 0),
    REQ("te xchunked", P11 "Transfer-Encoding: xchunked\r\n\r\n", 501, 0, 0),
    REQ("te chunked param", P11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 501, 0, 0),
    REQ("te identity", P11 "Transfer-Encoding: identity\r\n\r\n", 501, 0, 0),
    REQ("te empty", P11 "Transfer-Encoding:\r\n\r\n", 501, 0, 0),
    REQ("te two headers", P11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        501, 0, 0),
    REQ("te vertical tab", P11 "Transfer-Encoding: chunked\v\r\n\r\n", 400, 0, 0),
    REQ("te obs-fold", P11 "Transfer-Encoding:\r\n chunked\r\n\r\n", 400, 0, 0),
    REQ("te space before colon", P11 "Transfer-Encoding : chunked\r\n\r\n", 400, 0, 0),
    REQ("te underscore is other header", P11 "Transfer_Encoding: chunked\r\n\r\n", 0, -1,
        F_NOBODY | F_KEEP),
    REQ("cl.te", P11 "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 0, 0),
    REQ("te.cl", P11 "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", 400, 0, 0),
    REQ("te in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 0, 0),
    /* Expect, Upgrade */
    REQ("expect", P11 "Expect: 100-Continue\r\nContent-Length: 3\r\n\r\n", 0, 3, F_KEEP | F_EXPECT),
    REQ("expect 1.0 ignored",
        "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 0, 3, 0),
    REQ("expect other", P11 "Expect: 200-ok\r\nContent-Length: 3\r\n\r\n", 0, 3, F_KEEP),
    REQ("upgrade with body",
        P11 "Connection: Upgrade\r\nUpgrade: websocket\r\n"
            "Content-Length: 3\r\n\r\n",
        0, 3, F_KEEP),
    /* responses */
    RES("res cl", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0, 5, F_KEEP),
    RES("res cl zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0, F_NOBODY | F_KEEP),
    RES("res no reason", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", 0, 1, F_KEEP),
    RES("res empty reason", "HTTP/1.1 404 \r\nContent-Length: 1\r\n\r\n", 0, 1, F_KEEP),
    RES("res until close", "HTTP/1.1 200 OK\r\n\r\n", 0, -1, F_CLOSE),
    RES("res chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, -1,
        F_CHUNKED | F_KEEP),
    RES("res chunked drops cl",
        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n", 0, -1,
        F_CHUNKED | F_KEEP),
    RES("res gzip chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, -1,
        F_CHUNKED | F_KEEP),
    RES("res gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, -1, F_CLOSE),
    RES("res chunked gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 0, -1,
        F_CLOSE),
    RES("res 204", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 0, 5, F_NOBODY | F_KEEP),
    RES("res 304", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 0, -1,
        F_NOBODY | F_KEEP),
    RES("res 100", "HTTP/1.1 100 Continue\r\n\r\n", 0, -1, F_NOBODY | F_KEEP),
    RES("res 101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 0, -1,
        F_NOBODY | F_KEEP),
    HRES("res to head", "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", 0, 50, F_NOBODY | F_KEEP),
    HRES("res to head no cl", "HTTP/1.1 200 OK\r\n\r\n", 0, -1, F_NOBODY | F_KEEP),
    RES("res 1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", 0, 1, 0),
    RES("res 1.0 keep-alive",
        "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", 0, 1, F_KEEP),
    RES("res close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", 0, 1, 0),
    RES("res cl dup differ", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        BAD, 0, 0),
    RES("res cl dup same", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", 0,
        2, F_KEEP),
    RES("res cl plus", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n", BAD, 0, 0),
    RES("res http/2", "HTTP/2.0 200 OK\r\n\r\n", BAD, 0, 0),
    RES("res short status", "HTTP/1.1 99 X\r\n\r\n", BAD, 0, 0),
    RES("res long status", "HTTP/1.1 2000 X\r\n\r\n", BAD, 0, 0),
    RES("res status 099", "HTTP/1.1 099 X\r\n\r\n", BAD, 0, 0),
    RES("res ctl in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", BAD, 0, 0),
    RES("res obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", BAD, 0, 0),
    RES("res bare cr", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", BAD, 0, 0),
};

static unsigned head_flags(const struct ag_h1_head *h)
{
    return (h->chunked ? F_CHUNKED : 0) | (h->until_close ? F_CLOSE : 0) |
           (h->no_body ? F_NOBODY : 0) | (h->keep_alive ? F_KEEP : 0) |
           (h->expect_continue ? F_EXPECT : 0);
}

Test(h1, head_table)
{
    size_t n = sizeof(cases) / sizeof(cases[0]);
    cr_assert_geq(n, 60);
    for (size_t i = 0; i < n; i++) {
        const struct hcase *c = &cases[i];
        struct ag_arena *a = ag_arena_new(0);
        struct ag_h1_parser p;
        ag_h1_parser_init(&p, c->kind == 0, c->kind == 2);
        struct ag_h1_head h;
        int st = -7;
        const char *why = NULL;
        enum ag_h1_rc rc = ag_h1_parse_head(&p, a, c->in, c->len, 100, &h, &st, &why);
        if (c->want == 0) {
            cr_expect_eq(rc, AG_H1_OK, "%s: rc %d (%s)", c->name, rc, why ? why : "");
            if (rc == AG_H1_OK) {
                cr_expect_eq(h.content_length, c->cl, "%s: cl %lld", c->name, h.content_length);
                cr_expect_eq(head_flags(&h), c->flags, "%s: flags %u want %u", c->name,
                             head_flags(&h), c->flags);
            }
        } else {
            cr_expect_eq(rc, AG_H1_BAD, "%s: rc %d", c->name, rc);
            cr_expect(why && *why, "%s: reason", c->name);
            if (c->want > 0)
                cr_expect_eq(st, c->want, "%s: status %d want %d (%s)", c->name, st, c->want,
                             why ? why : "");
        }
        ag_arena_free(a);
    }
}

static enum ag_h1_rc req(struct ag_arena *a, struct ag_h1_parser *p, const char *s,
                         struct ag_h1_head *h, size_t max_headers, int *st)
{
    const char *why;
    ag_h1_parser_init(p, true, false);
    return ag_h1_parse_head(p, a, s, strlen(s), max_headers, h, st, &why);
}

Test(h1, head_fields)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_h1_parser p;
    struct ag_h1_head h;
    int st;
    char in[] = "\r\nPUT /a/b?c=d%20e HTTP/1.1\r\nHost: ex.org\r\nX-Empty:\r\n"
                "X-Trim: \t v 1 \t\r\nX-Tab: a\tb\r\n\r\n";
    cr_assert_eq(req(a, &p, in, &h, 10, &st), AG_H1_OK);
    memset(in, 'Z', sizeof(in) - 1); /* strings are copies */
    cr_expect_str_eq(h.method, "PUT");
    cr_expect_str_eq(h.target, "/a/b?c=d%20e");
    cr_expect_eq(h.minor, 1);
    cr_assert_eq(h.n_headers, 4);
    cr_expect_str_eq(h.headers[0].name, "Host");
    cr_expect_str_eq(h.headers[0].value, "ex.org");
    cr_expect_str_eq(h.headers[1].name, "X-Empty");
    cr_expect_str_eq(h.headers[1].value, "");
    cr_expect_str_eq(h.headers[2].value, "v 1");
    cr_expect_str_eq(h.headers[3].value, "a\tb");

    struct ag_h1_parser r;
    ag_h1_parser_init(&r, false, false);
    const char *why;
    const char res[] = "HTTP/1.0 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n";
    cr_assert_eq(ag_h1_parse_head(&r, a, res, sizeof(res) - 1, 10, &h, &st, &why), AG_H1_OK);
    cr_expect_eq(h.status, 503);
    cr_expect_eq(h.minor, 0);
    cr_expect_str_eq(h.headers[0].name, "Retry-After");
    ag_arena_free(a);
}

Test(h1, max_headers)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_h1_parser p;
    struct ag_h1_head h;
    int st = 0;
    const char *in = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    cr_expect_eq(req(a, &p, in, &h, 3, &st), AG_H1_OK);
    cr_expect_eq(h.n_headers, 3);
    cr_expect_eq(req(a, &p, in, &h, 2, &st), AG_H1_BAD);
    cr_expect_eq(st, 431);
    cr_expect_eq(req(a, &p, in, &h, 0, &st), AG_H1_BAD);
    cr_expect_eq(st, 431);
    const char *why = NULL;
    ag_h1_parser_init(&p, true, false);
    cr_expect_eq(ag_h1_parse_head(&p, a, NULL, 0, 10, &h, &st, &why), AG_H1_BAD);
    cr_expect_eq(st, 400);
    ag_arena_free(a);
}

Test(h1, big_heads)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_h1_parser p;
    struct ag_h1_head h;
    int st = 0;
    /* a 100-byte head */
    char small[101];
    const char *pre = "GET /x HTTP/1.1\r\nHost: a\r\nX-Pad: ";
    size_t pl = strlen(pre);
    memcpy(small, pre, pl);
    memset(small + pl, 'p', 100 - pl - 4);
    memcpy(small + 96, "\r\n\r\n", 4);
    small[100] = '\0';
    size_t scan = 0;
    cr_expect_eq(ag_h1_head_end(small, 100, &scan), 100);
    cr_expect_eq(req(a, &p, small, &h, 10, &st), AG_H1_OK);
    cr_expect_eq(strlen(h.headers[1].value), 100 - pl - 4);

    /* a 64 KiB head of 1000 headers plus one long value */
    size_t cap = 65536;
    char *big = malloc(cap + 1);
    size_t o = (size_t)snprintf(big, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 1000; i++)
        o += (size_t)snprintf(big + o, cap - o, "X-H%d: value-%d\r\n", i, i);
    size_t fill = cap - o - 4 - 8;
    memcpy(big + o, "X-Long: ", 8);
    memset(big + o + 8, 'v', fill);
    memcpy(big + cap - 4, "\r\n\r\n", 4);
    big[cap] = '\0';
    scan = 0;
    cr_expect_eq(ag_h1_head_end(big, cap, &scan), cap);
    cr_expect_eq(req(a, &p, big, &h, 2000, &st), AG_H1_OK);
    cr_expect_eq(h.n_headers, 1002);
    cr_expect_str_eq(h.headers[500].name, "X-H499");
    cr_expect_str_eq(h.headers[500].value, "value-499");
    cr_expect_eq(strlen(h.headers[1001].value), fill);
    cr_expect_eq(req(a, &p, big, &h, 1000, &st), AG_H1_BAD);
    cr_expect_eq(st, 431);
    free(big);
    ag_arena_free(a);
}

/* ----- head_end ----- */

static const char *const ends[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.1\nHost: a\n\nBODY",
    "GET / HTTP/1.1\r\nHost: a\r\n\nrest",
    "GET / HTTP/1.1\nHost: a\n\r\nrest\r\n\r\n",
    "\r\n\r\n\nGET / HTTP/1.1\r\n\r\n",
    "\n\nGET / HTTP/1.1\n\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    "GET / HTTP/1.1\r\nX: a\r\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: a\r\n",     /* incomplete */
    "\r\n\r\n\n",                        /* only empty lines: incomplete */
    "GET / HTTP/1.1\r\nHost: a\r\n\r",   /* incomplete */
    "GET / HTTP/1.1\r\nHost: a\r\r\n\r", /* incomplete */
};
static const size_t ends_want[] = {27, 24, 26, 25, 23, 18, 38, 34, 0, 0, 0, 0};

Test(h1, head_end_oneshot_and_bytewise)
{
    for (size_t c = 0; c < sizeof(ends) / sizeof(ends[0]); c++) {
        const char *s = ends[c];
        size_t n = strlen(s), scan = 0;
        size_t one = ag_h1_head_end(s, n, &scan);
        cr_expect_eq(one, ends_want[c], "case %zu: %zu want %zu", c, one, ends_want[c]);
        /* one byte more each time: the first non-zero answer equals the one-shot answer */
        size_t got = 0, at = 0;
        scan = 0;
        for (size_t k = 0; k <= n && !got; k++) {
            got = ag_h1_head_end(s, k, &scan);
            at = k;
        }
        cr_expect_eq(got, one, "case %zu bytewise: %zu want %zu", c, got, one);
        if (one)
            cr_expect_eq(at, one, "case %zu: found only at %zu", c, at);
    }
}

/* ----- bodies ----- */

struct bres {
    enum ag_h1_rc rc;
    char data[512];
    size_t len;
    char extra[512];
    size_t extra_len;
};

/* Decodes s[0..n) after head in pieces cut at the given positions, collecting data and extra. */
static void body_run(const char *head, bool request, const char *s, size_t n, const size_t *cuts,
                     size_t n_cuts, struct bres *r)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_h1_parser p;
    struct ag_h1_head h;
    int st;
    const char *why;
    memset(r, 0, sizeof(*r));
    ag_h1_parser_init(&p, request, false);
    cr_assert_eq(ag_h1_parse_head(&p, a, head, strlen(head), 50, &h, &st, &why), AG_H1_OK, "%s",
                 head);
    size_t from = 0;
    r->rc = AG_H1_OK;
    for (size_t c = 0; c <= n_cuts; c++) {
        size_t to = c < n_cuts ? cuts[c] : n;
        char piece[512];
        size_t len = to - from, extra = 0;
        memcpy(piece, s + from, len);
        if (r->rc == AG_H1_DONE) { /* after the end: everything is extra */
            memcpy(r->extra + r->extra_len, piece, len);
            r->extra_len += len;
        } else {
            r->rc = ag_h1_parse_body(&p, piece, &len, &extra, &why);
            if (r->rc == AG_H1_BAD)
                break;
            cr_assert_leq(len + extra, to - from);
            memcpy(r->data + r->len, piece, len);
            r->len += len;
            memcpy(r->extra + r->extra_len, piece + len, extra);
            r->extra_len += extra;
        }
        from = to;
    }
    ag_arena_free(a);
}

#define CHUNKED_REQ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
#define CHUNKED_RES "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

Test(h1, chunked_every_split)
{
    const char body[] = "5\r\nhello\r\n6;name=\"v\"\r\n world\r\nA\r\n0123456789\r\n"
                        "0000000000000001\r\n!\r\n0\r\nTrailer: x\r\nT2: y\r\n\r\nGET /next";
    size_t n = sizeof(body) - 1;
    struct bres one, two, three;
    body_run(CHUNKED_REQ, true, body, n, NULL, 0, &one);
    cr_assert_eq(one.rc, AG_H1_DONE);
    cr_expect_eq(one.len, 22);
    cr_expect(memcmp(one.data, "hello world0123456789!", 22) == 0);
    cr_expect_eq(one.extra_len, 9);
    cr_expect(memcmp(one.extra, "GET /next", 9) == 0);
    for (size_t k = 0; k <= n; k++) {
        size_t cut[1] = {k};
        body_run(CHUNKED_RES, false, body, n, cut, 1, &two);
        cr_expect_eq(two.rc, one.rc, "split %zu", k);
        cr_expect_eq(two.len, one.len, "split %zu", k);
        cr_expect(memcmp(two.data, one.data, one.len) == 0, "split %zu", k);
        cr_expect_eq(two.extra_len, one.extra_len, "split %zu", k);
        cr_expect(memcmp(two.extra, one.extra, one.extra_len) == 0, "split %zu", k);
    }
    size_t cuts[sizeof(body)];
    for (size_t k = 0; k < n; k++)
        cuts[k] = k;
    body_run(CHUNKED_REQ, true, body, n, cuts, n, &three);
    cr_expect_eq(three.rc, AG_H1_DONE);
    cr_expect_eq(three.len, one.len);
    cr_expect(memcmp(three.data, one.data, one.len) == 0);
    cr_expect_eq(three.extra_len, one.extra_len);
}

struct bcase {
    const char *name;
    const char *in;
    size_t len;
    enum ag_h1_rc want;
};
#define B(n, s, w)                                                                                 \
    {                                                                                              \
        n, s, sizeof(s) - 1, w                                                                     \
    }

static const struct bcase chunk_cases[] = {
    B("plain", "3\r\nabc\r\n0\r\n\r\n", AG_H1_DONE),
    B("upper hex", "A\r\n0123456789\r\n0\r\n\r\n", AG_H1_DONE),
    B("16 digits", "0000000000000003\r\nabc\r\n0\r\n\r\n", AG_H1_DONE),
    B("17 digits", "00000000000000003\r\nabc\r\n0\r\n\r\n", AG_H1_BAD),
    B("bare lf after size", "3\nabc\r\n0\r\n\r\n", AG_H1_BAD),
    B("bare cr after size", "3\rabc\r\n0\r\n\r\n", AG_H1_BAD),
    B("data too long", "3\r\nabcd\r\n0\r\n\r\n", AG_H1_BAD),
    B("bare lf after data", "3\r\nabc\n0\r\n\r\n", AG_H1_BAD),
    B("no crlf after data", "3\r\nabc0\r\n\r\n", AG_H1_BAD),
    B("two bytes instead of crlf", "3\r\nabcXY0\r\n\r\n", AG_H1_BAD),
    B("lf lf after data", "3\r\nabc\n\n0\r\n\r\n", AG_H1_BAD),
    B("cr cr after data", "3\r\nabc\r\r0\r\n\r\n", AG_H1_BAD),
    B("not hex", "g\r\nabc\r\n0\r\n\r\n", AG_H1_BAD),
    B("empty size", "\r\nabc\r\n0\r\n\r\n", AG_H1_BAD),
    B("sign", "+3\r\nabc\r\n0\r\n\r\n", AG_H1_BAD),
    B("0x prefix", "0x3\r\nabc\r\n0\r\n\r\n", AG_H1_BAD),
    B("space after size", "3 \r\nabc\r\n0\r\n\r\n", AG_H1_BAD),
    B("extension", "3;a=b;c\r\nabc\r\n0;z\r\n\r\n", AG_H1_DONE),
    B("extension ctl", "3;a\x01\r\nabc\r\n0\r\n\r\n", AG_H1_BAD),
    B("extension bare lf", "3;a\nabc\r\n0\r\n\r\n", AG_H1_BAD),
    B("trailer", "0\r\nA: b\r\n\r\n", AG_H1_DONE),
    B("trailer bare lf", "0\r\nA: b\n\r\n", AG_H1_BAD),
    B("final bare lf", "0\r\n\n", AG_H1_BAD),
    B("final bare cr", "0\r\n\r\r", AG_H1_BAD),
    B("trailer nul", "0\r\nA: \0\r\n\r\n", AG_H1_BAD),
    B("unfinished", "3\r\nabc\r\n", AG_H1_OK),
};

Test(h1, chunked_table)
{
    for (size_t c = 0; c < sizeof(chunk_cases) / sizeof(chunk_cases[0]); c++) {
        const struct bcase *b = &chunk_cases[c];
        size_t n = b->len;
        struct bres r;
        body_run(CHUNKED_REQ, true, b->in, n, NULL, 0, &r);
        cr_expect_eq(r.rc, b->want, "%s: rc %d want %d", b->name, r.rc, b->want);
        cr_expect_leq(r.len, n, "%s", b->name);
    }
}

static void meta_case(size_t ext, size_t trailer, enum ag_h1_rc want)
{
    static char buf[16384];
    size_t o = 0;
    buf[o++] = '3';
    if (ext) {
        buf[o++] = ';';
        memset(buf + o, 'e', ext - 1);
        o += ext - 1;
    }
    memcpy(buf + o, "\r\nabc\r\n0\r\n", 10);
    o += 10;
    if (trailer) {
        memcpy(buf + o, "T:", 2);
        memset(buf + o + 2, 't', trailer - 2);
        o += trailer;
        memcpy(buf + o, "\r\n", 2);
        o += 2;
    }
    memcpy(buf + o, "\r\n", 2);
    o += 2;
    struct ag_arena *a = ag_arena_new(0);
    struct ag_h1_parser p;
    struct ag_h1_head h;
    int st;
    const char *why = NULL;
    ag_h1_parser_init(&p, true, false);
    cr_assert_eq(ag_h1_parse_head(&p, a, CHUNKED_REQ, strlen(CHUNKED_REQ), 10, &h, &st, &why),
                 AG_H1_OK);
    size_t len = o, extra;
    cr_expect_eq(ag_h1_parse_body(&p, buf, &len, &extra, &why), want, "ext %zu trailer %zu", ext,
                 trailer);
    ag_arena_free(a);
}

Test(h1, chunk_meta_cap)
{
    meta_case(4096, 0, AG_H1_DONE);
    meta_case(4097, 0, AG_H1_BAD);
    meta_case(0, 4096, AG_H1_DONE);
    meta_case(0, 4097, AG_H1_BAD);
    meta_case(2048, 2048, AG_H1_DONE);
    meta_case(2048, 2049, AG_H1_BAD);
}

Test(h1, length_body_and_pipelining)
{
    const char *head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
    const char in[] = "helloGET / HTTP/1.1\r\n";
    size_t n = sizeof(in) - 1;
    for (size_t k = 0; k <= n; k++) {
        size_t cut[1] = {k};
        struct bres r;
        body_run(head, true, in, n, cut, 1, &r);
        cr_expect_eq(r.rc, AG_H1_DONE, "split %zu", k);
        cr_expect_eq(r.len, 5);
        cr_expect(memcmp(r.data, "hello", 5) == 0);
        cr_expect_eq(r.extra_len, n - 5, "split %zu", k);
        cr_expect(memcmp(r.extra, in + 5, n - 5) == 0);
    }
    /* no body: everything is the next message */
    struct bres r;
    body_run("GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, in, n, NULL, 0, &r);
    cr_expect_eq(r.rc, AG_H1_DONE);
    cr_expect_eq(r.len, 0);
    cr_expect_eq(r.extra_len, n);
}

Test(h1, eof_rules)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_h1_parser p;
    struct ag_h1_head h;
    int st;
    const char *why = NULL;
    char buf[64];
    size_t len, extra;

    /* until_close: everything is body, EOF ends it */
    const char *r1 = "HTTP/1.1 200 OK\r\n\r\n";
    ag_h1_parser_init(&p, false, false);
    cr_assert_eq(ag_h1_parse_head(&p, a, r1, strlen(r1), 10, &h, &st, &why), AG_H1_OK);
    memcpy(buf, "0\r\n\r\nabc", 8);
    len = 8;
    cr_expect_eq(ag_h1_parse_body(&p, buf, &len, &extra, &why), AG_H1_OK);
    cr_expect_eq(len, 8);
    cr_expect_eq(extra, 0);
    cr_expect_eq(ag_h1_parse_eof(&p, &why), AG_H1_DONE);

    /* Content-Length cut short */
    const char *r2 = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    ag_h1_parser_init(&p, false, false);
    cr_assert_eq(ag_h1_parse_head(&p, a, r2, strlen(r2), 10, &h, &st, &why), AG_H1_OK);
    memcpy(buf, "hello", 5);
    len = 5;
    cr_expect_eq(ag_h1_parse_body(&p, buf, &len, &extra, &why), AG_H1_OK);
    why = NULL;
    cr_expect_eq(ag_h1_parse_eof(&p, &why), AG_H1_BAD);
    cr_expect(why != NULL);

    /* chunked cut short */
    ag_h1_parser_init(&p, false, false);
    cr_assert_eq(ag_h1_parse_head(&p, a, CHUNKED_RES, strlen(CHUNKED_RES), 10, &h, &st, &why),
                 AG_H1_OK);
    memcpy(buf, "5\r\nhel", 6);
    len = 6;
    cr_expect_eq(ag_h1_parse_body(&p, buf, &len, &extra, &why), AG_H1_OK);
    cr_expect_eq(len, 3);
    cr_expect(memcmp(buf, "hel", 3) == 0);
    cr_expect_eq(ag_h1_parse_eof(&p, &why), AG_H1_BAD);

    /* chunked complete, then EOF is fine */
    ag_h1_parser_init(&p, false, false);
    cr_assert_eq(ag_h1_parse_head(&p, a, CHUNKED_RES, strlen(CHUNKED_RES), 10, &h, &st, &why),
                 AG_H1_OK);
    memcpy(buf, "0\r\n\r\n", 5);
    len = 5;
    cr_expect_eq(ag_h1_parse_body(&p, buf, &len, &extra, &why), AG_H1_DONE);
    cr_expect_eq(ag_h1_parse_eof(&p, &why), AG_H1_DONE);

    /* no body (204, request without CL) */
    const char *r3 = "HTTP/1.1 204 No Content\r\n\r\n";
    ag_h1_parser_init(&p, false, false);
    cr_assert_eq(ag_h1_parse_head(&p, a, r3, strlen(r3), 10, &h, &st, &why), AG_H1_OK);
    cr_expect_eq(ag_h1_parse_eof(&p, &why), AG_H1_DONE);

    /* a failed parser stays failed */
    ag_h1_parser_init(&p, false, false);
    cr_assert_eq(ag_h1_parse_head(&p, a, CHUNKED_RES, strlen(CHUNKED_RES), 10, &h, &st, &why),
                 AG_H1_OK);
    memcpy(buf, "x\r\n", 3);
    len = 3;
    cr_expect_eq(ag_h1_parse_body(&p, buf, &len, &extra, &why), AG_H1_BAD);
    len = 3;
    cr_expect_eq(ag_h1_parse_body(&p, buf, &len, &extra, &why), AG_H1_BAD);
    cr_expect_eq(ag_h1_parse_eof(&p, &why), AG_H1_BAD);
    ag_arena_free(a);
}

Test(h1, informational_then_final)
{
    /* a 100 Continue, then the real answer on the same bytes stream */
    const char in[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    size_t n = sizeof(in) - 1, scan = 0;
    struct ag_arena *a = ag_arena_new(0);
    struct ag_h1_parser p;
    struct ag_h1_head h;
    int st;
    const char *why;
    size_t e1 = ag_h1_head_end(in, n, &scan);
    cr_assert_eq(e1, 25);
    ag_h1_parser_init(&p, false, false);
    cr_assert_eq(ag_h1_parse_head(&p, a, in, e1, 10, &h, &st, &why), AG_H1_OK);
    cr_expect_eq(h.status, 100);
    cr_expect(h.no_body);
    scan = 0;
    size_t e2 = ag_h1_head_end(in + e1, n - e1, &scan);
    cr_assert_gt(e2, 0);
    ag_h1_parser_init(&p, false, false);
    cr_assert_eq(ag_h1_parse_head(&p, a, in + e1, e2, 10, &h, &st, &why), AG_H1_OK);
    cr_expect_eq(h.status, 200);
    cr_expect_eq(h.content_length, 2);
    ag_arena_free(a);
}

Test(h1, reasons)
{
    static const int codes[] = {100, 101, 200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303,
                                304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408,
                                409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423,
                                424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        cr_expect(ag_h1_reason(codes[i])[0] != '\0', "%d", codes[i]);
    cr_expect_str_eq(ag_h1_reason(200), "OK");
    cr_expect_str_eq(ag_h1_reason(404), "Not Found");
    cr_expect_str_eq(ag_h1_reason(431), "Request Header Fields Too Large");
    cr_expect_str_eq(ag_h1_reason(299), "");
    cr_expect_str_eq(ag_h1_reason(-1), "");
}

Test(h1, upgrade_and_head_answers_keep_framing)
{
    /* an Upgrade header does not stop body decoding: callers ignore upgrades */
    const char in[] = "abcGET / HTTP/1.1\r\n";
    size_t n = sizeof(in) - 1;
    struct bres r;
    body_run("POST / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
             "Content-Length: 3\r\n\r\n",
             true, in, n, NULL, 0, &r);
    cr_expect_eq(r.rc, AG_H1_DONE);
    cr_expect_eq(r.len, 3);
    cr_expect(memcmp(r.data, "abc", 3) == 0);
    cr_expect_eq(r.extra_len, n - 3);

    /* the answer to HEAD has no body whatever it says: the next bytes are the next response */
    struct ag_arena *a = ag_arena_new(0);
    struct ag_h1_parser p;
    struct ag_h1_head h;
    int st;
    const char *why;
    const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    ag_h1_parser_init(&p, false, true);
    cr_assert_eq(ag_h1_parse_head(&p, a, head, sizeof(head) - 1, 10, &h, &st, &why), AG_H1_OK);
    cr_expect(h.no_body);
    cr_expect(!h.chunked);
    char buf[] = "HTTP/1.1 204 No Content\r\n\r\n";
    size_t len = sizeof(buf) - 1, extra = 0;
    cr_expect_eq(ag_h1_parse_body(&p, buf, &len, &extra, &why), AG_H1_DONE);
    cr_expect_eq(len, 0);
    cr_expect_eq(extra, sizeof(buf) - 1);

    /* parse_head leaves its input alone and copies what it returns */
    char req[] = "GET /x HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
    char copy[sizeof(req)];
    memcpy(copy, req, sizeof(req));
    ag_h1_parser_init(&p, true, false);
    cr_assert_eq(ag_h1_parse_head(&p, a, req, sizeof(req) - 1, 10, &h, &st, &why), AG_H1_OK);
    cr_expect(memcmp(req, copy, sizeof(req)) == 0);
    cr_expect(h.target != req + 4);
    ag_arena_free(a);
}

Test(h1, reasons_for_the_log)
{
    static const struct {
        const char *in, *why;
    } w[] = {
        {H11 "X: a\rb\r\n\r\n", "bare CR in head"},
        {"GET / HTTP/1.1\rHost: a\r\n\r\n", "bare CR in head"},
        {H11 "X: a\r\n b\r\n\r\n", "obsolete line folding"},
        {H11 "X: a\r\n\tb:c\r\n\r\n", "obsolete line folding"},
        {P11 "Content-Length: 1\r\nContent-Length: 2\r\n\r\n", "invalid Content-Length"},
        {"GET / HTTP/1.1\r\n\r\n", "missing or repeated Host"},
    };
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        struct ag_arena *a = ag_arena_new(0);
        struct ag_h1_parser p;
        struct ag_h1_head h;
        int st;
        const char *why = NULL;
        ag_h1_parser_init(&p, true, false);
        cr_expect_eq(ag_h1_parse_head(&p, a, w[i].in, strlen(w[i].in), 10, &h, &st, &why),
                     AG_H1_BAD);
        cr_expect_str_eq(why ? why : "", w[i].why, "case %zu", i);
        cr_expect_eq(st, 400);
        ag_arena_free(a);
    }
}

Test(h1, value_scan_every_position)
{
    /* the value check reads eight bytes at a time: a control byte is found at every offset, and
     * HTAB, obs-text and every visible byte pass */
    static const unsigned char bad[] = {0x00, 0x01, 0x0b, 0x0d, 0x1f, 0x7f};
    struct ag_arena *a = ag_arena_new(0);
    for (size_t pos = 0; pos < 40; pos++) {
        for (size_t b = 0; b < sizeof(bad); b++) {
            char in[128];
            char val[41];
            for (size_t k = 0; k < 40; k++)
                val[k] = (char)(k % 3 == 0 ? '\t' : k % 3 == 1 ? 0xe9 : 'a' + (char)(k % 26));
            val[0] = 'v';
            val[39] = 'z';
            val[pos] = (char)bad[b];
            size_t o = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
            memcpy(in + o, val, 40);
            memcpy(in + o + 40, "\r\n\r\n", 4);
            struct ag_h1_parser p;
            struct ag_h1_head h;
            int st = 0;
            const char *why;
            ag_h1_parser_init(&p, true, false);
            cr_expect_eq(ag_h1_parse_head(&p, a, in, o + 44, 10, &h, &st, &why), AG_H1_BAD,
                         "byte %02x at %zu", bad[b], pos);
            cr_expect_eq(st, 400);
        }
    }
    char in[400];
    size_t o = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    for (int ch = 0x20; ch <= 0xff; ch++)
        if (ch != 0x7f)
            in[o++] = (char)ch;
    in[o++] = '\t';
    in[o++] = '!';
    memcpy(in + o, "\r\n\r\n", 4);
    struct ag_h1_parser p;
    struct ag_h1_head h;
    int st = 0;
    const char *why;
    ag_h1_parser_init(&p, true, false);
    cr_expect_eq(ag_h1_parse_head(&p, a, in, o + 4, 10, &h, &st, &why), AG_H1_OK);
    cr_expect_eq(strlen(h.headers[1].value), 0xff - 0x20 - 1 + 1 + 2 - 1); /* leading SP trimmed */
    ag_arena_free(a);
}

/* max_body: a chunk size (or the sum of the sizes) over the limit fails at the size line,
 * before any of its data, with too_large set; within the limit nothing changes. */
static enum ag_h1_rc limit_case(unsigned long long max, const char *body, bool *too_large)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_h1_parser p;
    struct ag_h1_head h;
    int st;
    const char *why = NULL;
    ag_h1_parser_init(&p, true, false);
    p.max_body = max;
    cr_assert_eq(ag_h1_parse_head(&p, a, CHUNKED_REQ, strlen(CHUNKED_REQ), 10, &h, &st, &why),
                 AG_H1_OK);
    char buf[256];
    size_t len = strlen(body), extra;
    memcpy(buf, body, len);
    enum ag_h1_rc rc = ag_h1_parse_body(&p, buf, &len, &extra, &why);
    *too_large = p.too_large;
    ag_arena_free(a);
    return rc;
}

Test(h1, chunk_size_over_the_body_limit)
{
    bool big;
    cr_expect_eq(limit_case(10, "a\r\n0123456789\r\n0\r\n\r\n", &big), AG_H1_DONE);
    cr_expect_not(big);
    cr_expect_eq(limit_case(10, "b\r\n", &big), AG_H1_BAD, "one byte over, no data yet");
    cr_expect(big);
    cr_expect_eq(limit_case(10, "5\r\n01234\r\n6\r\n", &big), AG_H1_BAD, "the sum is over");
    cr_expect(big);
    cr_expect_eq(limit_case(65536, "ffffffffffffffff\r\n", &big), AG_H1_BAD, "2^64 - 1");
    cr_expect(big);
    cr_expect_eq(limit_case(65536, "8000\r\n", &big), AG_H1_OK);
    cr_expect_not(big);
    /* the sum never wraps: 2^63 twice */
    cr_expect_eq(limit_case(~0ULL, "8000000000000000\r\n", &big), AG_H1_OK);
    cr_expect_not(big);
    cr_expect_eq(limit_case(0, "ffffffffffffffff\r\n", &big), AG_H1_OK, "no limit set");
    /* 17 hex digits overflow 64 bits: 400, not 413 */
    cr_expect_eq(limit_case(65536, "10000000000000000\r\n", &big), AG_H1_BAD);
    cr_expect_not(big);
}
