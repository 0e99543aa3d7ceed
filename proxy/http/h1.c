/* HTTP/1.1 framing: see h1.h. The start line goes through http_parser (its method table, URL
 * and version grammar); the header lines and every framing decision are checked here in one
 * strict pass, because Debian's lenient libhttp-parser accepts bare CR, spaces in names and
 * rejects identical repeated Content-Length values. Bodies are in h1_body.c. */
#include "proxy/http/h1.h"

#include <limits.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>

#include "core/arena.h"

#include "proxy/http/h1_int.h"

/* RFC 9110 tchar, filled once */
static unsigned char ag_h1_tchar[256];

static pthread_once_t ag_h1_once = PTHREAD_ONCE_INIT;

static void ag_h1_global_init(void)
{
    /* Process-global in http_parser; our callers bound the head themselves. */
    http_parser_set_max_header_size(1u << 20);
    static const char extra[] = "!#$%&'*+-.^_`|~";
    for (int c = '0'; c <= '9'; c++)
        ag_h1_tchar[c] = 1;
    for (int c = 'a'; c <= 'z'; c++)
        ag_h1_tchar[c] = ag_h1_tchar[c - 'a' + 'A'] = 1;
    for (const char *e = extra; *e; e++)
        ag_h1_tchar[(unsigned char)*e] = 1;
}

void ag_h1_parser_init(struct ag_h1_parser *p, bool request, bool head_request)
{
    pthread_once(&ag_h1_once, ag_h1_global_init);
    memset(p, 0, sizeof(*p));
    http_parser_init(&p->hp, request ? HTTP_REQUEST : HTTP_RESPONSE);
    p->request = request;
    p->head_request = head_request;
}

size_t ag_h1_head_end(const char *buf, size_t len, size_t *scan)
{
    size_t i = *scan;
    while (i < len) {
        const char *lf = memchr(buf + i, '\n', len - i);
        if (!lf)
            break;
        i = (size_t)(lf - buf);
        /* Is the line ending at i empty, and where does it start? */
        size_t ls;
        if (i == 0 || buf[i - 1] == '\n')
            ls = i;
        else if (buf[i - 1] == '\r' && (i == 1 || buf[i - 2] == '\n'))
            ls = i - 1;
        else {
            i++;
            continue;
        }
        /* An empty line ends the head unless every line before it was empty too (then it is
         * one of the empty lines allowed before a request line). The first empty line seen
         * after a non-empty one returns, so only the line just before needs a look. */
        bool leading = ls == 0 || ls == 1 || buf[ls - 2] == '\n' ||
                       (buf[ls - 2] == '\r' && (ls == 2 || buf[ls - 3] == '\n'));
        i++;
        if (!leading) {
            *scan = i;
            return i;
        }
    }
    *scan = len;
    return 0;
}

/* ----- head ----- */

static inline char ag_h1_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool ag_h1_ieq(const char *s, size_t n, const char *lit)
{
    size_t i = 0;
    for (; i < n && lit[i]; i++)
        if (ag_h1_lower(s[i]) != lit[i])
            return false;
    return i == n && lit[i] == '\0';
}

static inline bool ag_h1_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Next element of a comma-separated list in s[*pos..n), OWS trimmed; false at the end. Empty
 * elements are returned too (length 0). */
static bool ag_h1_list_next(const char *s, size_t n, size_t *pos, const char **el, size_t *el_len)
{
    if (*pos > n)
        return false;
    size_t b = *pos;
    const char *comma = memchr(s + b, ',', n - b);
    size_t e = comma ? (size_t)(comma - s) : n;
    *pos = e + 1;
    while (b < e && ag_h1_ows(s[b]))
        b++;
    while (e > b && ag_h1_ows(s[e - 1]))
        e--;
    *el = s + b;
    *el_len = e - b;
    return true;
}

/* 1*DIGIT into *v; false on anything else or overflow. */
static bool ag_h1_digits(const char *s, size_t n, long long *v)
{
    if (n == 0)
        return false;
    long long r = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)((unsigned char)s[i] - '0');
        if (d > 9)
            return false;
        if (r > (LLONG_MAX - (long long)d) / 10)
            return false;
        r = r * 10 + (long long)d;
    }
    *v = r;
    return true;
}

/* "HTTP/" 1*3DIGIT "." 1*3DIGIT exactly; false when malformed. */
static bool ag_h1_version(const char *s, size_t n, int *major, int *minor)
{
    if (n < 8 || memcmp(s, "HTTP/", 5) != 0)
        return false;
    const char *dot = memchr(s + 5, '.', n - 5);
    if (!dot)
        return false;
    long long ma, mi;
    size_t ml = (size_t)(dot - (s + 5)), nl = n - 5 - ml - 1;
    if (ml > 3 || nl > 3 || !ag_h1_digits(s + 5, ml, &ma) || !ag_h1_digits(dot + 1, nl, &mi))
        return false;
    *major = (int)ma;
    *minor = (int)mi;
    return true;
}

static enum ag_h1_rc ag_h1_fail(struct ag_h1_parser *p, int *status, const char **why, int st,
                                const char *reason)
{
    p->bad = true;
    if (status)
        *status = p->request ? st : 502;
    if (why)
        *why = reason;
    return AG_H1_BAD;
}

/* The start line goes through http_parser for its method table and grammar; no callbacks
 * needed (http_parser skips unset ones). */
static const http_parser_settings ag_h1_settings;

/* Checks the start line c[0..n) (without its line end) and fills method/target/status/minor.
 * Writes NULs into c (the arena copy) only after http_parser has run over it. */
static enum ag_h1_rc ag_h1_start_line(struct ag_h1_parser *p, char *c, size_t n, size_t line_end,
                                      struct ag_h1_head *out, int *status, const char **why)
{
    int major = 0, minor = 0;
    if (p->request) {
        const char *sp1 = memchr(c, ' ', n);
        if (!sp1 || sp1 == c)
            return ag_h1_fail(p, status, why, 400, "malformed request line");
        size_t ml = (size_t)(sp1 - c);
        for (size_t i = 0; i < ml; i++)
            if (!ag_h1_tchar[(unsigned char)c[i]])
                return ag_h1_fail(p, status, why, 400, "method is not a token");
        const char *sp2 = memchr(sp1 + 1, ' ', n - ml - 1);
        if (!sp2 || sp2 == sp1 + 1)
            return ag_h1_fail(p, status, why, 400, "malformed request line");
        size_t ts = ml + 1, tl = (size_t)(sp2 - c) - ts;
        for (size_t i = ts; i < ts + tl; i++) {
            unsigned char ch = (unsigned char)c[i];
            if (ch <= 0x20 || ch == 0x7f)
                return ag_h1_fail(p, status, why, 400, "control character in request-target");
        }
        size_t vs = ts + tl + 1;
        if (!ag_h1_version(c + vs, n - vs, &major, &minor))
            return ag_h1_fail(p, status, why, 400, "malformed HTTP version");
        if (major != 1 || minor > 1)
            return ag_h1_fail(p, status, why, 505, "unsupported HTTP version");
    } else {
        if (n < 12 || !ag_h1_version(c, 8, &major, &minor) || c[8] != ' ')
            return ag_h1_fail(p, status, why, 502, "malformed status line");
        if (major != 1 || minor > 1)
            return ag_h1_fail(p, status, why, 502, "unsupported HTTP version");
        int st = 0;
        for (size_t i = 9; i < 12; i++) {
            unsigned d = (unsigned)((unsigned char)c[i] - '0');
            if (d > 9)
                return ag_h1_fail(p, status, why, 502, "malformed status code");
            st = st * 10 + (int)d;
        }
        if (st < 100 || (n > 12 && c[12] != ' '))
            return ag_h1_fail(p, status, why, 502, "malformed status code");
        for (size_t i = 13; i < n; i++)
            if (ag_h1_ctl((unsigned char)c[i]))
                return ag_h1_fail(p, status, why, 502, "control character in reason phrase");
        out->status = st;
    }
    /* http_parser over the start line and its line end: one call, input never written. */
    size_t fed = http_parser_execute(&p->hp, &ag_h1_settings, c, line_end);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    /* a method outside http_parser's table (WebDAV extensions, "FOO") is still a token the
     * checks above accepted: forwarded like any other, as RFC 9110 9.1 lets a proxy do */
    bool foreign_method = p->request && e == HPE_INVALID_METHOD;
    if (!foreign_method) {
        if (e != HPE_OK || fed != line_end)
            return ag_h1_fail(p, status, why, 400, "malformed start line");
        if (p->hp.http_major != major || p->hp.http_minor != minor ||
            (!p->request && (int)p->hp.status_code != out->status))
            return ag_h1_fail(p, status, why, 400, "malformed start line");
    }
    out->minor = minor;
    if (p->request) {
        char *sp1 = memchr(c, ' ', n);
        char *sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 - c) - 1);
        *sp1 = '\0';
        *sp2 = '\0';
        out->method = c;
        out->target = sp1 + 1;
    }
    return AG_H1_OK;
}

/* What the header lines said about framing. */
struct ag_h1_framing {
    long long cl;
    size_t n_te, n_host;
    const char *te; /* value of the last Transfer-Encoding */
    size_t te_len;
    bool conn_close, conn_keep;
    bool cl_bad;
};

static void ag_h1_note(struct ag_h1_framing *f, const char *name, size_t nl, const char *v,
                       size_t vl, struct ag_h1_head *out)
{
    switch (ag_h1_lower(name[0])) {
    case 'c':
        if (ag_h1_ieq(name, nl, "content-length")) {
            long long cl;
            if (!ag_h1_digits(v, vl, &cl) || (f->cl >= 0 && f->cl != cl))
                f->cl_bad = true;
            else
                f->cl = cl;
        } else if (ag_h1_ieq(name, nl, "connection")) {
            size_t pos = 0, el_len;
            const char *el;
            while (ag_h1_list_next(v, vl, &pos, &el, &el_len)) {
                if (ag_h1_ieq(el, el_len, "close"))
                    f->conn_close = true;
                else if (ag_h1_ieq(el, el_len, "keep-alive"))
                    f->conn_keep = true;
            }
        }
        break;
    case 't':
        if (ag_h1_ieq(name, nl, "transfer-encoding")) {
            f->n_te++;
            f->te = v;
            f->te_len = vl;
        }
        break;
    case 'h':
        if (ag_h1_ieq(name, nl, "host"))
            f->n_host++;
        break;
    case 'e':
        if (ag_h1_ieq(name, nl, "expect") && ag_h1_ieq(v, vl, "100-continue"))
            out->expect_continue = true;
        break;
    default:
        break;
    }
}

/* The last coding of a Transfer-Encoding list is chunked. */
static bool ag_h1_te_final_chunked(const char *v, size_t vl)
{
    size_t pos = 0, el_len, last_len = 0;
    const char *el, *last = NULL;
    while (ag_h1_list_next(v, vl, &pos, &el, &el_len))
        if (el_len) {
            last = el;
            last_len = el_len;
        }
    return last && ag_h1_ieq(last, last_len, "chunked");
}

static enum ag_h1_rc ag_h1_decide(struct ag_h1_parser *p, const struct ag_h1_framing *f,
                                  struct ag_h1_head *out, int *status, const char **why)
{
    if (f->cl_bad)
        return ag_h1_fail(p, status, why, 400, "invalid Content-Length");
    out->content_length = f->cl;
    if (out->minor == 0)
        out->expect_continue = false; /* RFC 9110 10.1.1: ignored from HTTP/1.0 clients */
    out->keep_alive = out->minor == 1 ? !f->conn_close : (f->conn_keep && !f->conn_close);
    if (p->request) {
        if (f->n_host > 1 || (out->minor == 1 && f->n_host == 0))
            return ag_h1_fail(p, status, why, 400, "missing or repeated Host");
        if (f->n_te) {
            if (out->minor == 0)
                return ag_h1_fail(p, status, why, 400, "Transfer-Encoding in HTTP/1.0");
            if (f->n_te != 1 || !ag_h1_ieq(f->te, f->te_len, "chunked"))
                return ag_h1_fail(p, status, why, 501, "unsupported Transfer-Encoding");
            if (f->cl >= 0)
                return ag_h1_fail(p, status, why, 400, "Transfer-Encoding with Content-Length");
            out->chunked = true;
            p->body_mode = AG_H1_M_CHUNKED;
        } else if (f->cl > 0) {
            p->body_mode = AG_H1_M_LENGTH;
        } else {
            out->no_body = true;
        }
    } else {
        int st = out->status;
        if (p->head_request || st < 200 || st == 204 || st == 304 || (!f->n_te && f->cl == 0)) {
            out->no_body = true;
        } else if (f->n_te) {
            out->content_length = -1;
            if (ag_h1_te_final_chunked(f->te, f->te_len)) {
                out->chunked = true;
                p->body_mode = AG_H1_M_CHUNKED;
            } else {
                out->until_close = true;
                p->body_mode = AG_H1_M_CLOSE;
            }
        } else if (f->cl > 0) {
            p->body_mode = AG_H1_M_LENGTH;
        } else {
            out->until_close = true;
            p->body_mode = AG_H1_M_CLOSE;
        }
        if (out->until_close)
            out->keep_alive = false;
    }
    if (p->body_mode == AG_H1_M_LENGTH)
        p->remaining = (unsigned long long)f->cl;
    if (out->no_body)
        p->done = true;
    return AG_H1_OK;
}

/* Index of the first byte of s[0..n) that may not appear in a field value (CTL other than HTAB,
 * or DEL), or n. Eight bytes at a time: a word without any byte below 0x20 or equal to 0x7f is
 * clean (HTAB makes the word take the byte loop). */
static size_t ag_h1_value_scan(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t v, d;
        memcpy(&v, s + k, 8);
        d = v ^ (ones * 0x7f);
        if (!((((v - ones * 0x20) & ~v) | ((d - ones) & ~d)) & high))
            continue;
        for (size_t j = k; j < k + 8; j++)
            if (ag_h1_ctl((unsigned char)s[j]))
                return j;
    }
    for (; k < n; k++)
        if (ag_h1_ctl((unsigned char)s[k]))
            return k;
    return n;
}

enum ag_h1_rc ag_h1_parse_head(struct ag_h1_parser *p, struct ag_arena *a, const char *buf,
                               size_t len, size_t max_headers, struct ag_h1_head *out, int *status,
                               const char **why)
{
    memset(out, 0, sizeof(*out));
    out->content_length = -1;
    if (status)
        *status = 0;
    if (why)
        *why = NULL;
    if (p->bad)
        return ag_h1_fail(p, status, why, 400, "parser already failed");
    if (len == 0)
        return ag_h1_fail(p, status, why, 400, "empty head");
    char *c = ag_arena_alloc(a, len + 1);
    memcpy(c, buf, len);
    c[len] = '\0';

    /* Empty lines before the start line (RFC 9112 2.2). */
    size_t i = 0;
    while (i < len && (c[i] == '\n' || (c[i] == '\r' && i + 1 < len && c[i + 1] == '\n')))
        i += c[i] == '\r' ? 2 : 1;
    /* The header array grows by doubling in the arena (bounded by max_headers). */
    size_t cap = max_headers < 32 ? max_headers : 32;
    out->headers = ag_arena_alloc(a, (cap ? cap : 1) * sizeof(*out->headers));

    struct ag_h1_framing f = {.cl = -1};
    bool first = true, ended = false;
    while (i < len) {
        char *lf = memchr(c + i, '\n', len - i);
        if (!lf)
            return ag_h1_fail(p, status, why, 400, "incomplete head");
        size_t e = (size_t)(lf - c), line_end = e + 1;
        if (e > i && c[e - 1] == '\r')
            e--;
        if (first) {
            if (memchr(c + i, '\r', e - i))
                return ag_h1_fail(p, status, why, 400, "bare CR in head");
            enum ag_h1_rc rc = ag_h1_start_line(p, c + i, e - i, line_end - i, out, status, why);
            if (rc != AG_H1_OK)
                return rc;
            first = false;
            i = line_end;
            continue;
        }
        if (e == i) { /* the empty line ends the head */
            ended = true;
            i = line_end;
            break;
        }
        /* name: tchars up to the colon (this also finds the colon) */
        size_t k = i;
        while (k < e && ag_h1_tchar[(unsigned char)c[k]])
            k++;
        if (k == e || c[k] != ':' || k == i) {
            const char *r = k < e && c[k] == '\r'   ? "bare CR in head"
                            : ag_h1_ows(c[i])       ? "obsolete line folding"
                            : k == i && c[k] == ':' ? "header line without a name"
                                                    : "invalid header name";
            return ag_h1_fail(p, status, why, 400, r);
        }
        size_t nl = k - i;
        size_t vb = k + 1, ve = e;
        while (vb < ve && ag_h1_ows(c[vb]))
            vb++;
        while (ve > vb && ag_h1_ows(c[ve - 1]))
            ve--;
        size_t bad = ag_h1_value_scan(c + vb, ve - vb);
        if (bad < ve - vb)
            return ag_h1_fail(p, status, why, 400,
                              c[vb + bad] == '\r' ? "bare CR in head"
                                                  : "control character in header value");
        if (out->n_headers >= max_headers)
            return ag_h1_fail(p, status, why, 431, "too many header lines");
        if (out->n_headers == cap) {
            size_t ncap = cap * 2 < max_headers ? cap * 2 : max_headers;
            struct ag_http_header *nh = ag_arena_alloc(a, ncap * sizeof(*nh));
            memcpy(nh, out->headers, cap * sizeof(*nh));
            out->headers = nh;
            cap = ncap;
        }
        ag_h1_note(&f, c + i, nl, c + vb, ve - vb, out);
        c[i + nl] = '\0';
        c[ve] = '\0';
        out->headers[out->n_headers].name = c + i;
        out->headers[out->n_headers].value = c + vb;
        out->n_headers++;
        i = line_end;
    }
    if (first)
        return ag_h1_fail(p, status, why, 400, "empty head");
    if (!ended || i != len)
        return ag_h1_fail(p, status, why, 400, "bytes after the head");
    return ag_h1_decide(p, &f, out, status, why);
}

/* clang-format off */
static const struct {
    int code;
    const char *text;
} ag_h1_reasons[] = {
    {100, "Continue"}, {101, "Switching Protocols"}, {200, "OK"}, {201, "Created"},
    {202, "Accepted"}, {203, "Non-Authoritative Information"}, {204, "No Content"},
    {205, "Reset Content"}, {206, "Partial Content"}, {300, "Multiple Choices"},
    {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"}, {304, "Not Modified"},
    {305, "Use Proxy"}, {307, "Temporary Redirect"}, {308, "Permanent Redirect"},
    {400, "Bad Request"}, {401, "Unauthorized"}, {402, "Payment Required"}, {403, "Forbidden"},
    {404, "Not Found"}, {405, "Method Not Allowed"}, {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"}, {408, "Request Timeout"}, {409, "Conflict"},
    {410, "Gone"}, {411, "Length Required"}, {412, "Precondition Failed"},
    {413, "Content Too Large"}, {414, "URI Too Long"}, {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"}, {417, "Expectation Failed"}, {418, "I'm a teapot"},
    {421, "Misdirected Request"}, {422, "Unprocessable Content"}, {423, "Locked"},
    {424, "Failed Dependency"}, {425, "Too Early"}, {426, "Upgrade Required"},
    {428, "Precondition Required"}, {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"}, {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"}, {501, "Not Implemented"}, {502, "Bad Gateway"},
    {503, "Service Unavailable"}, {504, "Gateway Timeout"}, {505, "HTTP Version Not Supported"},
};
/* clang-format on */

const char *ag_h1_reason(int status)
{
    /* sorted by code: binary search */
    size_t lo = 0, hi = sizeof(ag_h1_reasons) / sizeof(ag_h1_reasons[0]);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ag_h1_reasons[mid].code == status)
            return ag_h1_reasons[mid].text;
        if (ag_h1_reasons[mid].code < status)
            lo = mid + 1;
        else
            hi = mid;
    }
    return "";
}
