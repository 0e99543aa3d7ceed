/* HTTP/1.1 bodies: see h1.h. Chunked bodies are decoded by a small strict state machine of our
 * own: http_parser's lenient mode does not check the CRLF after chunk data and gives no hook to
 * bound chunk extensions or a chunk size against the body limit. */
#include "proxy/http/h1.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "proxy/http/h1_int.h"

/* ----- body ----- */

static enum ag_h1_rc ag_h1_body_fail(struct ag_h1_parser *p, const char **why, const char *reason)
{
    p->bad = true;
    if (why)
        *why = reason;
    return AG_H1_BAD;
}

static inline int ag_h1_hex(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (unsigned char)(ch | 0x20);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* The chunked decoder: framing bytes one at a time, data in bulk. *o is the output position,
 * *i the input position (always *o <= *i). Returns OK when the input ran out, DONE after the
 * final CRLF, BAD on broken framing. */
static enum ag_h1_rc ag_h1_chunked(struct ag_h1_parser *p, char *buf, size_t len, size_t *i,
                                   size_t *o, const char **why)
{
    size_t in = *i, op = *o;
    const char *err = NULL;
    bool done = false;
    while (in < len && !err && !done) {
        if (p->chunk_state == AG_H1_C_DATA) {
            size_t n = len - in;
            if ((unsigned long long)n > p->remaining)
                n = (size_t)p->remaining;
            if (op != in)
                memmove(buf + op, buf + in, n);
            op += n;
            in += n;
            p->remaining -= n;
            if (p->remaining == 0)
                p->chunk_state = AG_H1_C_DATA_CR;
            continue;
        }
        unsigned char ch = (unsigned char)buf[in++];
        int h;
        switch (p->chunk_state) {
        case AG_H1_C_SIZE0:
        case AG_H1_C_SIZE:
            if ((h = ag_h1_hex(ch)) >= 0) {
                if (++p->chunk_digits > AG_H1_HEX_MAX)
                    err = "chunk size too long";
                p->remaining = (p->remaining << 4) | (unsigned)h;
                p->chunk_state = AG_H1_C_SIZE;
            } else if (p->chunk_state == AG_H1_C_SIZE && ch == ';') {
                p->chunk_state = AG_H1_C_EXT;
                if (++p->meta > AG_H1_META_MAX)
                    err = "chunk extensions too long";
            } else if (p->chunk_state == AG_H1_C_SIZE && ch == '\r') {
                p->chunk_state = AG_H1_C_SIZE_LF;
            } else {
                err = "invalid chunk size";
            }
            break;
        case AG_H1_C_EXT:
            if (ch == '\r')
                p->chunk_state = AG_H1_C_SIZE_LF;
            else if (ag_h1_ctl(ch))
                err = "control character in chunk extension";
            else if (++p->meta > AG_H1_META_MAX)
                err = "chunk extensions too long";
            break;
        case AG_H1_C_SIZE_LF:
            if (ch != '\n')
                err = "bare CR in chunk size line";
            /* Refuse a body that announces more than the limit now, not once the bytes came:
             * the upstream would be held until the body timeout meanwhile. */
            if (!err && p->max_body &&
                (p->remaining > p->max_body || p->announced > p->max_body - p->remaining)) {
                p->too_large = true;
                err = "chunk size over the body limit";
            }
            p->announced += p->remaining;
            p->chunk_digits = 0;
            p->chunk_state = p->remaining ? AG_H1_C_DATA : AG_H1_C_TRAILER0;
            break;
        case AG_H1_C_DATA_CR:
        case AG_H1_C_DATA_LF:
            if (ch != (p->chunk_state == AG_H1_C_DATA_CR ? '\r' : '\n'))
                err = "chunk data not followed by CRLF";
            p->chunk_state = p->chunk_state == AG_H1_C_DATA_CR ? AG_H1_C_DATA_LF : AG_H1_C_SIZE0;
            break;
        case AG_H1_C_TRAILER0: /* start of a trailer line, or the final empty line */
        case AG_H1_C_TRAILER:
            if (ch == '\r')
                p->chunk_state =
                    p->chunk_state == AG_H1_C_TRAILER0 ? AG_H1_C_END_LF : AG_H1_C_TRAILER_LF;
            else if (ch == '\n' || ag_h1_ctl(ch))
                err = "invalid trailer";
            else if (++p->meta > AG_H1_META_MAX)
                err = "trailers too long";
            else
                p->chunk_state = AG_H1_C_TRAILER;
            break;
        case AG_H1_C_TRAILER_LF:
        case AG_H1_C_END_LF:
            if (ch != '\n')
                err = "bare CR in trailers";
            done = p->chunk_state == AG_H1_C_END_LF;
            p->chunk_state = AG_H1_C_TRAILER0;
            break;
        default:
            err = "chunk decoder state";
            break;
        }
    }
    *i = in;
    *o = op;
    if (err)
        return ag_h1_body_fail(p, why, err);
    return done ? AG_H1_DONE : AG_H1_OK;
}

enum ag_h1_rc ag_h1_parse_body(struct ag_h1_parser *p, char *buf, size_t *len, size_t *extra,
                               const char **why)
{
    size_t n = *len;
    *extra = 0;
    if (p->bad) {
        *len = 0;
        return ag_h1_body_fail(p, why, "parser already failed");
    }
    if (p->done) {
        *len = 0;
        *extra = n;
        return AG_H1_DONE;
    }
    switch (p->body_mode) {
    case AG_H1_M_CLOSE:
        return AG_H1_OK;
    case AG_H1_M_LENGTH:
        if ((unsigned long long)n < p->remaining) {
            p->remaining -= n;
            return AG_H1_OK;
        }
        *len = (size_t)p->remaining;
        *extra = n - *len;
        p->remaining = 0;
        p->done = true;
        return AG_H1_DONE;
    case AG_H1_M_CHUNKED: {
        size_t i = 0, o = 0;
        enum ag_h1_rc rc = ag_h1_chunked(p, buf, n, &i, &o, why);
        if (rc == AG_H1_BAD) {
            *len = 0;
            return rc;
        }
        if (rc == AG_H1_DONE) {
            p->done = true;
            *extra = n - i;
            if (o != i && *extra)
                memmove(buf + o, buf + i, *extra);
        }
        *len = o;
        return rc;
    }
    default:
        /* no head parsed: nothing can frame a body */
        *len = 0;
        return ag_h1_body_fail(p, why, "no message head");
    }
}

enum ag_h1_rc ag_h1_parse_eof(struct ag_h1_parser *p, const char **why)
{
    if (p->bad)
        return ag_h1_body_fail(p, why, "parser already failed");
    if (p->done)
        return AG_H1_DONE;
    if (p->body_mode == AG_H1_M_CLOSE) {
        p->done = true;
        return AG_H1_DONE;
    }
    return ag_h1_body_fail(p, why, "connection closed before the body ended");
}
