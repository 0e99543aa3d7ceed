/* HTTP/1.1 message framing for the front and the upstream client, on top of Debian's http_parser
 * (libhttp-parser): request and response heads, and bodies framed by Content-Length, chunked
 * coding or the end of the connection. Debian builds that library in its lenient mode, so the
 * checks that matter against request smuggling and header spoofing are made here again: strict
 * line endings, no obs-fold, token header names, no control characters in values, one
 * Content-Length value, only "chunked" as a transfer coding, Host rules. Pure: no sockets.
 *
 * Usage: ag_h1_head_end finds where a head ends; ag_h1_parse_head parses exactly those bytes;
 * ag_h1_parse_body then decodes the body bytes that follow, in place, until it says DONE. */
#ifndef AG_PROXY_H1_H
#define AG_PROXY_H1_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/http_msg.h"

struct ag_arena;

enum ag_h1_rc {
    AG_H1_OK = 0, /* head parsed / body bytes decoded, more may follow */
    AG_H1_DONE,   /* body: the message ended within the bytes given */
    AG_H1_BAD,    /* malformed or refused: see why (and status for requests) */
};

/* One message head. Every string is a NUL-terminated copy in the arena given to
 * ag_h1_parse_head, so the input buffer may be reused at once. */
struct ag_h1_head {
    const char *method; /* requests: "GET" */
    const char *target; /* requests: the request-target exactly as received */
    int status;         /* responses: 100..999 */
    int minor;          /* HTTP/1.<minor>: 0 or 1 */
    struct ag_http_header *headers;
    size_t n_headers;
    long long content_length; /* -1: no Content-Length */
    bool chunked;             /* Transfer-Encoding: chunked */
    bool until_close;         /* responses: the body runs to the end of the connection */
    bool no_body;             /* no body follows the head (HEAD answer, 1xx/204/304, CL 0) */
    bool keep_alive;          /* the sender allows another message on this connection */
    bool expect_continue;     /* requests: Expect: 100-continue */
};

/* Parser state for one message; embed it, call ag_h1_parser_init before each message. */
struct ag_h1_parser {
    http_parser hp;
    bool request;
    bool head_request; /* responses: the answer to a HEAD request (no body whatever it says) */
    bool done;         /* the message is complete */
    bool bad;
    /* body framing state (h1.c): how the body is delimited, the chunk decoder's state, the
     * bytes left in the current chunk or Content-Length body, and the chunk-extension plus
     * trailer bytes seen so far (capped per message) */
    unsigned char body_mode;
    unsigned char chunk_state;
    unsigned char chunk_digits;
    unsigned long long remaining;
    size_t meta;
    /* chunked bodies: the largest body accepted (0: no limit, set by the caller after init),
     * the chunk sizes announced so far, and whether a failure was that limit (413, not 400) */
    unsigned long long max_body;
    unsigned long long announced;
    bool too_large;
};

/** Prepares p for a request (request=true) or for the response to a request; head_request
 * says the request was HEAD, so the response has no body whatever its headers say. */
void ag_h1_parser_init(struct ag_h1_parser *p, bool request, bool head_request);

/** Offset just past the empty line that ends a message head in buf[0..len), or 0 when the head
 * is not complete yet. *scan (0 at first) remembers how far the search got, so a caller that
 * reads more bytes only pays for the new ones. Empty lines before a request line (RFC 9112
 * 2.2) count as part of the head. Both CRLF and bare LF end a line. */
size_t ag_h1_head_end(const char *buf, size_t len, size_t *scan);

/** Parses the complete head buf[0..len) (len from ag_h1_head_end) into out, copying strings
 * into a. At most max_headers header lines. On AG_H1_BAD, *why is a short reason for the log
 * (never containing header values) and, for requests, *status the answer to give: 400
 * malformed, 431 too many header lines, 501 a transfer coding other than chunked or an unknown
 * method, 505 an HTTP version other than 1.0/1.1. */
enum ag_h1_rc ag_h1_parse_head(struct ag_h1_parser *p, struct ag_arena *a, const char *buf,
                               size_t len, size_t max_headers, struct ag_h1_head *out, int *status,
                               const char **why);

/** Decodes body bytes buf[0..*len) in place. Afterwards buf[0..*len) holds the body data they
 * carried (chunk framing removed). Returns AG_H1_OK when the body goes on, AG_H1_DONE when it
 * ended within the input: then *extra bytes that followed the body (the next message) sit right
 * after the data, at buf[*len .. *len + *extra). AG_H1_BAD (with *why) on broken framing: a bad
 * chunk size, chunk extensions or trailers over 4 KiB, bare CR or LF inside chunk framing, and
 * (too_large set) chunk sizes adding up to more than max_body. */
enum ag_h1_rc ag_h1_parse_body(struct ag_h1_parser *p, char *buf, size_t *len, size_t *extra,
                               const char **why);

/** The connection ended (read returned 0). AG_H1_DONE when that legitimately ends the body
 * (until_close responses, or a message already complete), AG_H1_BAD when the body was cut short. */
enum ag_h1_rc ag_h1_parse_eof(struct ag_h1_parser *p, const char **why);

/** Reason phrase for a status code ("OK", "Not Found"), "" when unknown. */
const char *ag_h1_reason(int status);

#endif
