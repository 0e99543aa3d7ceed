/* Logging: one JSON object per line (default), Google Cloud Logging's structured JSON, or human
 * text, written atomically to stderr. The level is checked before any formatting happens. Never
 * pass secrets: use ag_log_redact. */
#ifndef AG_CORE_LOG_H
#define AG_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

enum ag_log_level { AG_LOG_DEBUG = 0, AG_LOG_INFO, AG_LOG_WARN, AG_LOG_ERROR, AG_LOG_OFF };
enum ag_log_format { AG_LOG_JSON = 0, AG_LOG_TEXT, AG_LOG_GCP };

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

/** The HTTP side of an access-log line. `json`/`text` write it as flat fields (method, path,
 * client, status, bytes, latency_us); `gcp` as Cloud Logging's `httpRequest` object, plus
 * `logging.googleapis.com/trace` from trace_context when a project id is set. */
struct ag_log_http {
    const char *method;
    const char *path; /* never the query: it can hold codes and tokens */
    const char *remote_ip;
    const char *user_agent;    /* NULL: absent */
    const char *trace_context; /* the X-Cloud-Trace-Context header; NULL: absent */
    int status;
    long long response_size;
    long long latency_us;
};

#define AG_LF_STR(k, v) ((struct ag_log_field){.key = (k), .str = (v)})
#define AG_LF_NUM(k, v) ((struct ag_log_field){.key = (k), .num = (long long)(v), .is_num = 1})

extern enum ag_log_level ag_log_min_level;

/** Sets the minimum level, the format and the file descriptor lines go to (normally 2). */
void ag_log_setup(enum ag_log_level min, enum ag_log_format format, int fd);

/** Parses "debug|info|warn|error|off"; returns AG_EINVAL for anything else. */
enum ag_rc ag_log_level_parse(const char *s, enum ag_log_level *out) AG_WUR;

/** Sets the Google Cloud project that `gcp` lines name in their trace field (NULL or "": no trace
 * field). Copied; safe to call while other threads log (a replaced value is kept, not freed). */
void ag_log_set_gcp_project(const char *project_id);

/** Checks a Google Cloud project id: 6 to 30 of [a-z0-9-], starting with a letter, not ending with
 * a hyphen, optionally behind a `domain.tld:` prefix (legacy domain-scoped projects). */
bool ag_log_gcp_project_valid(const char *project_id);

/** Parses "json|text|gcp". */
enum ag_rc ag_log_format_parse(const char *s, enum ag_log_format *out) AG_WUR;

/** Writes one line; use the ag_log macro, which skips formatting below the minimum level. */
void ag_log_emit(enum ag_log_level level, const struct ag_log_ctx *ctx,
                 const struct ag_log_field *fields, size_t nfields, const char *fmt, ...)
    AG_PRINTF(5, 6);

/** Writes one access-log line: like ag_log_emit with the HTTP fields of http (see above). */
void ag_log_emit_http(enum ag_log_level level, const struct ag_log_ctx *ctx,
                      const struct ag_log_http *http, const struct ag_log_field *fields,
                      size_t nfields, const char *fmt, ...) AG_PRINTF(6, 7);

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
