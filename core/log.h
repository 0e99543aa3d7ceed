/* Logging: one JSON object per line (default) or human text, written atomically to stderr.
 * The level is checked before any formatting happens. Never pass secrets: use ag_log_redact. */
#ifndef AG_CORE_LOG_H
#define AG_CORE_LOG_H

#include <stddef.h>

#include "core/err.h"

enum ag_log_level { AG_LOG_DEBUG = 0, AG_LOG_INFO, AG_LOG_WARN, AG_LOG_ERROR, AG_LOG_OFF };
enum ag_log_format { AG_LOG_JSON = 0, AG_LOG_TEXT };

/** Per-request context added to every line logged for that request (any field may be NULL). */
struct ag_log_ctx {
    const char *request_id;
    const char *user;
};

/** One extra structured field: a string (str != NULL) or a number. */
struct ag_log_field {
    const char *key;
    const char *str;
    long long num;
    int is_num;
};

#define AG_LF_STR(k, v) ((struct ag_log_field){.key = (k), .str = (v)})
#define AG_LF_NUM(k, v) ((struct ag_log_field){.key = (k), .num = (long long)(v), .is_num = 1})

extern enum ag_log_level ag_log_min_level;

/** Sets the minimum level, the format and the file descriptor lines go to (normally 2). */
void ag_log_setup(enum ag_log_level min, enum ag_log_format format, int fd);

/** Parses "debug|info|warn|error|off"; returns AG_EINVAL for anything else. */
enum ag_rc ag_log_level_parse(const char *s, enum ag_log_level *out) AG_WUR;

/** Parses "json|text". */
enum ag_rc ag_log_format_parse(const char *s, enum ag_log_format *out) AG_WUR;

/** Writes one line; use the ag_log macro, which skips formatting below the minimum level. */
void ag_log_emit(enum ag_log_level level, const struct ag_log_ctx *ctx,
                 const struct ag_log_field *fields, size_t nfields, const char *fmt, ...)
    AG_PRINTF(5, 6);

#define ag_log(level, ctx, ...)                                                                    \
    do {                                                                                           \
        if ((level) >= ag_log_min_level)                                                           \
            ag_log_emit((level), (ctx), NULL, 0, __VA_ARGS__);                                     \
    } while (0)

#define ag_log_fields(level, ctx, fields, nfields, ...)                                            \
    do {                                                                                           \
        if ((level) >= ag_log_min_level)                                                           \
            ag_log_emit((level), (ctx), (fields), (nfields), __VA_ARGS__);                         \
    } while (0)

/** Writes a loggable stand-in for a secret into out: "[redacted N bytes sha256:xxxxxxxx]", so two
 * log lines can be correlated without revealing the value. Returns out. */
char *ag_log_redact(const void *secret, size_t len, char *out, size_t outlen);

#endif
