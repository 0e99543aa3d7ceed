#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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
    else if (strcmp(s, "gcp") == 0)
        *out = AG_LOG_GCP;
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

/* X-Cloud-Trace-Context: TRACE_ID[/SPAN_ID][;o=OPTIONS], TRACE_ID 32 hex digits, SPAN_ID an
 * unsigned 64-bit decimal. Anything else is ignored: the header comes from the client. */
struct ag_log_trace {
    char trace[33];
    char span[17]; /* 16 hex digits, as Cloud Logging's spanId wants; "" if absent */
    int sampled;   /* -1: not said */
};

static bool ag_log_trace_parse(const char *h, struct ag_log_trace *t)
{
    size_t i = 0;
    for (; i < 32; i++) {
        char ch = h[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
            return false;
        t->trace[i] = (char)(ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch);
    }
    t->trace[32] = '\0';
    if (strspn(t->trace, "0") == 32)
        return false; /* all zeros is not a trace id */
    const char *p = h + 32;
    t->span[0] = '\0';
    t->sampled = -1;
    if (*p == '/') {
        p++;
        unsigned long long v = 0;
        size_t n = 0;
        for (; p[n] >= '0' && p[n] <= '9'; n++) {
            unsigned d = (unsigned)(p[n] - '0');
            if (n >= 20 || v > (~0ULL - d) / 10)
                return false;
            v = v * 10 + d;
        }
        if (n == 0)
            return false;
        p += n;
        if (v != 0)
            snprintf(t->span, sizeof(t->span), "%016llx", v);
    }
    if (*p == ';') {
        if (strcmp(p, ";o=1") == 0)
            t->sampled = 1;
        else if (strcmp(p, ";o=0") == 0)
            t->sampled = 0;
        else
            return false;
        p += strlen(p);
    }
    return *p == '\0';
}

/* The project id is read by every logging thread and replaced on a reload: a replaced copy is
 * kept (a few bytes per reload that changed it), so no reader ever sees freed memory. */
static _Atomic(char *) ag_log_gcp_project;

void ag_log_set_gcp_project(const char *project_id)
{
    char *cur = atomic_load(&ag_log_gcp_project);
    if (!project_id || !*project_id) {
        atomic_store(&ag_log_gcp_project, NULL);
        return;
    }
    if (cur && strcmp(cur, project_id) == 0)
        return;
    char *copy = strdup(project_id);
    if (!copy)
        abort();
    atomic_store(&ag_log_gcp_project, copy);
}

bool ag_log_gcp_project_valid(const char *project_id)
{
    const char *id = project_id;
    const char *colon = strchr(project_id, ':');
    if (colon) {
        /* domain-scoped: "example.com:my-project" */
        size_t dn = (size_t)(colon - project_id);
        if (dn < 3 || dn > 253 || !strchr(project_id, '.') || strchr(project_id, '.') > colon)
            return false;
        for (size_t i = 0; i < dn; i++) {
            char ch = project_id[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
                return false;
        }
        id = colon + 1;
    }
    size_t n = strlen(id);
    if (n < 6 || n > 30 || !(id[0] >= 'a' && id[0] <= 'z') || id[n - 1] == '-')
        return false;
    return strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static const char *const ag_log_severities[] = {"DEBUG", "INFO", "WARNING", "ERROR"};

static enum ag_rc ag_log_http_flat(struct ag_buf *b, const struct ag_log_http *h, bool json,
                                   enum ag_rc (*kv)(struct ag_buf *, const char *, const char *))
{
    enum ag_rc rc = kv(b, "method", h->method ? h->method : "-");
    if (rc == AG_OK)
        rc = kv(b, "path", h->path ? h->path : "-");
    if (rc == AG_OK)
        rc = kv(b, "client", h->remote_ip ? h->remote_ip : "-");
    if (rc == AG_OK)
        rc = ag_buf_printf(b,
                           json ? ",\"status\":%d,\"bytes\":%lld,\"latency_us\":%lld"
                                : " status=%d bytes=%lld latency_us=%lld",
                           h->status, h->response_size, h->latency_us);
    return rc;
}

static enum ag_rc ag_log_http_gcp(struct ag_buf *b, const struct ag_log_http *h)
{
    long long us = h->latency_us < 0 ? 0 : h->latency_us;
    enum ag_rc rc = ag_buf_puts(b, ",\"httpRequest\":{\"requestMethod\":");
    if (rc == AG_OK) {
        const char *m = h->method ? h->method : "-";
        rc = ag_buf_append_json_string(b, m, strlen(m));
    }
    if (rc == AG_OK)
        rc = ag_log_json_kv(b, "requestUrl", h->path ? h->path : "-");
    /* responseSize is an int64, which proto3 JSON writes as a string */
    if (rc == AG_OK)
        rc = ag_buf_printf(
            b, ",\"status\":%d,\"responseSize\":\"%lld\",\"latency\":\"%lld.%06llds\"", h->status,
            h->response_size < 0 ? 0 : h->response_size, us / 1000000, us % 1000000);
    if (rc == AG_OK && h->remote_ip)
        rc = ag_log_json_kv(b, "remoteIp", h->remote_ip);
    if (rc == AG_OK && h->user_agent)
        rc = ag_log_json_kv(b, "userAgent", h->user_agent);
    if (rc == AG_OK)
        rc = ag_buf_puts(b, "}");
    const char *project = atomic_load(&ag_log_gcp_project);
    struct ag_log_trace t;
    if (rc == AG_OK && project && h->trace_context && ag_log_trace_parse(h->trace_context, &t)) {
        rc = ag_buf_printf(b, ",\"logging.googleapis.com/trace\":\"projects/%s/traces/%s\"",
                           project, t.trace);
        if (rc == AG_OK && t.span[0])
            rc = ag_buf_printf(b, ",\"logging.googleapis.com/spanId\":\"%s\"", t.span);
        if (rc == AG_OK && t.sampled >= 0)
            rc = ag_buf_printf(b, ",\"logging.googleapis.com/trace_sampled\":%s",
                               t.sampled ? "true" : "false");
    }
    return rc;
}

static void ag_log_vemit(enum ag_log_level level, const struct ag_log_ctx *ctx,
                         const struct ag_log_http *http, const struct ag_log_field *fields,
                         size_t nfields, const char *fmt, va_list ap) AG_PRINTF(6, 0);

static void ag_log_vemit(enum ag_log_level level, const struct ag_log_ctx *ctx,
                         const struct ag_log_http *http, const struct ag_log_field *fields,
                         size_t nfields, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    char ts[40];
    ag_log_timestamp(ts, sizeof(ts));

    struct ag_buf b;
    ag_buf_init(&b, 16384);
    enum ag_rc rc;
    enum ag_log_format format = ag_log_format_current;
    bool json = format != AG_LOG_TEXT;
    if (format == AG_LOG_GCP) {
        /* Cloud Logging's structured-logging fields; the rest lands in jsonPayload */
        rc = ag_buf_printf(&b, "{\"severity\":\"%s\"", ag_log_severities[level]);
        if (rc == AG_OK)
            rc = ag_log_json_kv(&b, "message", msg);
        if (rc == AG_OK)
            rc = ag_log_json_kv(&b, "time", ts);
    } else if (json) {
        rc = ag_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, ag_log_level_names[level]);
        if (rc == AG_OK)
            rc = ag_log_json_kv(&b, "msg", msg);
    } else {
        rc = ag_buf_printf(&b, "%s %-5s %s", ts, ag_log_level_names[level], msg);
    }
    enum ag_rc (*kv)(struct ag_buf *, const char *, const char *) =
        json ? ag_log_json_kv : ag_log_text_kv;
    if (http && rc == AG_OK)
        rc =
            format == AG_LOG_GCP ? ag_log_http_gcp(&b, http) : ag_log_http_flat(&b, http, json, kv);
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
    } else if (format == AG_LOG_GCP) {
        static const char overflow[] =
            "{\"severity\":\"ERROR\",\"message\":\"log line too long\"}\n";
        ag_log_write_all(overflow, sizeof(overflow) - 1);
    } else {
        static const char overflow[] = "{\"level\":\"error\",\"msg\":\"log line too long\"}\n";
        ag_log_write_all(overflow, sizeof(overflow) - 1);
    }
    ag_buf_release(&b, 0);
}

void ag_log_emit(enum ag_log_level level, const struct ag_log_ctx *ctx,
                 const struct ag_log_field *fields, size_t nfields, const char *fmt, ...)
{
    if (level < ag_log_min_level || level >= AG_LOG_OFF)
        return;
    va_list ap;
    va_start(ap, fmt);
    ag_log_vemit(level, ctx, NULL, fields, nfields, fmt, ap);
    va_end(ap);
}

void ag_log_emit_http(enum ag_log_level level, const struct ag_log_ctx *ctx,
                      const struct ag_log_http *http, const struct ag_log_field *fields,
                      size_t nfields, const char *fmt, ...)
{
    if (level < ag_log_min_level || level >= AG_LOG_OFF)
        return;
    va_list ap;
    va_start(ap, fmt);
    ag_log_vemit(level, ctx, http, fields, nfields, fmt, ap);
    va_end(ap);
}

char *ag_log_redact(const void *secret, size_t len, char *out, size_t outlen)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(secret, len, md);
    snprintf(out, outlen, "[redacted %zu bytes sha256:%02x%02x%02x%02x]", len, md[0], md[1], md[2],
             md[3]);
    return out;
}
