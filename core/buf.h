/* Growable byte buffer with a hard ceiling, for building responses, JSON and log lines
 * without ever growing past a limit an attacker could push us to. Owned by its user. */
#ifndef AG_CORE_BUF_H
#define AG_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/err.h"

struct ag_buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t
        max; /* appends that would exceed max fail with AG_ENOMEM and leave the buffer as it was */
};

/** Starts an empty buffer that may hold at most max bytes (0 means 64 MiB). No allocation yet. */
void ag_buf_init(struct ag_buf *b, size_t max);

/** Frees the storage (wiping it first if wipe is non-zero) and re-initialises with the same max. */
void ag_buf_release(struct ag_buf *b, int wipe);

/** Appends n bytes. */
enum ag_rc ag_buf_append(struct ag_buf *b, const void *data, size_t n) AG_WUR;

/** Appends a NUL-terminated string. */
enum ag_rc ag_buf_puts(struct ag_buf *b, const char *s) AG_WUR;

/** Appends formatted text. */
enum ag_rc ag_buf_printf(struct ag_buf *b, const char *fmt, ...) AG_PRINTF(2, 3) AG_WUR;

/** Appends s as a JSON string literal with quotes, escaping control characters, quotes,
 * backslashes and invalid UTF-8 (replaced by U+FFFD) so the result is always valid JSON. */
/** Length of the valid UTF-8 sequence at s (1..4; n > 0 bytes available), or 0 if it is not
 * valid: overlong forms, surrogates and code points above U+10FFFF are invalid. The one UTF-8
 * check of the code base (JSON strings, identity headers, redirect targets). */
size_t ag_utf8_seq_len(const unsigned char *s, size_t n);

enum ag_rc ag_buf_append_json_string(struct ag_buf *b, const char *s, size_t n) AG_WUR;

/** Appends s with &, <, >, ", ' escaped for HTML text and attribute values. */
enum ag_rc ag_buf_append_html(struct ag_buf *b, const char *s) AG_WUR;

/** Empties the buffer, keeping its storage. */
void ag_buf_clear(struct ag_buf *b);

#endif
