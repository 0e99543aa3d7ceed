#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "core/buf.h"

enum ag_log_level ag_log_min_level = AG_LOG_INFO;
static enum ag_log_format ag_log_format_current = AG_LOG_JSON;
static int ag_log_fd = 2;

static const char *const ag_log_level_names[] = {"debug", "info", "warn", "error", "off"};

void ag_log_setup(enum ag_log_level min, enum ag_log_format format, int fd)
{
    ag_log_min_level = min;
    ag_log_format_current = format;
    ag_log_fd = fd;
}

enum ag_rc ag_log_level_parse(const char *s, enum ag_log_level *out)
{
    for (int i = AG_LOG_DEBUG; i <= AG_LOG_OFF; i++) {
        if (strcmp(s, ag_log_level_names[i]) == 0) {
            *out = (enum ag_log_level)i;
            return AG_OK;
        }
    }
    return AG_EINVAL;
}

enum ag_rc ag_log_format_parse(const char *s, enum ag_log_format *out)
{
    if (strcmp(s, "json") == 0)
        *out = AG_LOG_JSON;
    else if (strcmp(s, "text") == 0)
        *out = AG_LOG_TEXT;
    else
        return AG_EINVAL;
    return AG_OK;
}

static void ag_log_write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(ag_log_fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a logging failure */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void ag_log_timestamp(char *out, size_t outlen)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, outlen - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

static enum ag_rc ag_log_json_kv(struct ag_buf *b, const char *key, const char *val)
{
    enum ag_rc rc = ag_buf_puts(b, ",");
    if (rc == AG_OK)
        rc = ag_buf_append_json_string(b, key, strlen(key));
    if (rc == AG_OK)
        rc = ag_buf_puts(b, ":");
    if (rc == AG_OK)
        rc = ag_buf_append_json_string(b, val, strlen(val));
    return rc;
}

static enum ag_rc ag_log_text_kv(struct ag_buf *b, const char *key, const char *val)
{
    /* Text lines stay single-line: control characters are escaped like JSON does. */
    enum ag_rc rc = ag_buf_printf(b, " %s=", key);
    if (rc == AG_OK)
        rc = ag_buf_append_json_string(b, val, strlen(val));
    return rc;
}

void ag_log_emit(enum ag_log_level level, const struct ag_log_ctx *ctx,
                 const struct ag_log_field *fields, size_t nfields, const char *fmt, ...)
{
    if (level < ag_log_min_level || level >= AG_LOG_OFF)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char ts[40];
    ag_log_timestamp(ts, sizeof(ts));

    struct ag_buf b;
    ag_buf_init(&b, 16384);
    enum ag_rc rc;
    int json = ag_log_format_current == AG_LOG_JSON;
    if (json) {
        rc = ag_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, ag_log_level_names[level]);
        if (rc == AG_OK)
            rc = ag_log_json_kv(&b, "msg", msg);
    } else {
        rc = ag_buf_printf(&b, "%s %-5s %s", ts, ag_log_level_names[level], msg);
    }
    enum ag_rc (*kv)(struct ag_buf *, const char *, const char *) =
        json ? ag_log_json_kv : ag_log_text_kv;
    if (ctx && ctx->request_id && rc == AG_OK)
        rc = kv(&b, "request_id", ctx->request_id);
    if (ctx && ctx->user && rc == AG_OK)
        rc = kv(&b, "user", ctx->user);
    for (size_t i = 0; i < nfields && rc == AG_OK; i++) {
        if (fields[i].is_num) {
            rc = json ? ag_buf_printf(&b, ",\"%s\":%lld", fields[i].key, fields[i].num)
                      : ag_buf_printf(&b, " %s=%lld", fields[i].key, fields[i].num);
        } else if (fields[i].str) {
            rc = kv(&b, fields[i].key, fields[i].str);
        }
    }
    if (rc == AG_OK)
        rc = ag_buf_puts(&b, json ? "}\n" : "\n");
    if (rc == AG_OK) {
        ag_log_write_all(b.data, b.len);
    } else {
        static const char overflow[] = "{\"level\":\"error\",\"msg\":\"log line too long\"}\n";
        ag_log_write_all(overflow, sizeof(overflow) - 1);
    }
    ag_buf_release(&b, 0);
}

char *ag_log_redact(const void *secret, size_t len, char *out, size_t outlen)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(secret, len, md);
    snprintf(out, outlen, "[redacted %zu bytes sha256:%02x%02x%02x%02x]", len, md[0], md[1], md[2],
             md[3]);
    return out;
}
