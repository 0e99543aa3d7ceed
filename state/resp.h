/* The Redis wire protocol (RESP2), and the only header that knows hiredis: commands are
 * formatted and replies parsed with hiredis' reader; the socket I/O is ours (state/redis_conn.h),
 * so no hiredis code runs a connection, a timer or an assert on a reply shape. */
#ifndef AG_STATE_RESP_H
#define AG_STATE_RESP_H

#include <stddef.h>

#include "core/err.h"

enum ag_resp_type {
    AG_RESP_STRING = 1, /* bulk string */
    AG_RESP_ARRAY,
    AG_RESP_INTEGER,
    AG_RESP_NIL,
    AG_RESP_STATUS, /* +OK */
    AG_RESP_ERROR,  /* -ERR ... */
};

/** One reply; owned by whoever received it, freed with ag_resp_free. */
struct ag_resp {
    enum ag_resp_type type;
    long long integer; /* AG_RESP_INTEGER */
    char *str;         /* STRING, STATUS, ERROR: NUL-terminated, len bytes */
    size_t len;
    size_t n;              /* ARRAY */
    struct ag_resp **elem; /* ARRAY: n replies */
};

void ag_resp_free(struct ag_resp *r);

/** True for a STATUS or STRING reply equal to s. */
int ag_resp_is(const struct ag_resp *r, const char *s);

/** Formats one command from argc arguments (binary-safe, lens[i] bytes each) into a malloc'ed
 * buffer (*out, *outlen). The caller frees it with free(). */
enum ag_rc ag_resp_format(int argc, const char *const *argv, const size_t *lens, char **out,
                          size_t *outlen, struct ag_err *err) AG_WUR;

/** An incremental reply parser with a bound on buffered, unparsed bytes. */
struct ag_resp_reader;

struct ag_resp_reader *ag_resp_reader_new(size_t max_buffered);
void ag_resp_reader_free(struct ag_resp_reader *r);

/** Adds bytes read from the socket. AG_EPARSE once the stream is broken (then stays broken). */
enum ag_rc ag_resp_reader_feed(struct ag_resp_reader *r, const char *buf, size_t len,
                               struct ag_err *err) AG_WUR;

/** The next complete reply: AG_OK with *out (or *out == NULL: need more bytes); AG_EPARSE when
 * the bytes are not RESP (a server that is not Redis) or exceed the bound. */
enum ag_rc ag_resp_reader_next(struct ag_resp_reader *r, struct ag_resp **out,
                               struct ag_err *err) AG_WUR;

#endif
