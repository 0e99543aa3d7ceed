/* log.format gcp: Cloud Logging's structured fields, httpRequest and the trace from
 * X-Cloud-Trace-Context; the json and text access lines keep their flat fields. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

static FILE *ag_t_file;

static void ag_t_setup(enum ag_log_format format, const char *project)
{
    ag_t_file = tmpfile();
    cr_assert_not_null(ag_t_file);
    ag_log_setup(AG_LOG_DEBUG, format, fileno(ag_t_file));
    ag_log_set_gcp_project(project);
}

/* Everything written since ag_t_setup, as one string (static storage). */
static const char *ag_t_text(void)
{
    static char out[16384];
    int fd = fileno(ag_t_file);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, sizeof(out) - 1);
    out[n < 0 ? 0 : n] = '\0';
    return out;
}

/* The one line written since ag_t_setup, parsed; the file is closed. */
static json_t *ag_t_line(void)
{
    const char *text = ag_t_text();
    cr_assert_eq(strchr(text, '\n'), text + strlen(text) - 1, "exactly one line: %s", text);
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    cr_assert_not_null(j, "not JSON (%s): %s", jerr.text, text);
    fclose(ag_t_file);
    return j;
}

static const char *ag_t_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_string(v), "%s is not a string", key);
    return json_string_value(v);
}

static struct ag_log_http ag_t_http(const char *trace)
{
    return (struct ag_log_http){
        .method = "GET",
        .path = "/dags/x/grid",
        .remote_ip = "203.0.113.7",
        .user_agent = "Mozilla/5.0 \"quoted\"\n",
        .trace_context = trace,
        .status = 302,
        .response_size = 1234,
        .latency_us = 1234,
    };
}

static json_t *ag_t_access(const char *project, const char *trace)
{
    ag_t_setup(AG_LOG_GCP, project);
    struct ag_log_ctx ctx = {.request_id = "r-1", .user = "alice"};
    struct ag_log_http http = ag_t_http(trace);
    struct ag_log_field f[] = {AG_LF_STR("upstream", "10.0.0.1:8080"), AG_LF_NUM("n", 3)};
    ag_log_emit_http(AG_LOG_INFO, &ctx, &http, f, 2, "request");
    return ag_t_line();
}

Test(log_gcp, plain_line_has_severity_message_time)
{
    ag_t_setup(AG_LOG_GCP, NULL);
    ag_log(AG_LOG_WARN, NULL, "keys %s", "stale");
    json_t *j = ag_t_line();
    cr_assert_str_eq(ag_t_str(j, "severity"), "WARNING");
    cr_assert_str_eq(ag_t_str(j, "message"), "keys stale");
    cr_assert_eq(strlen(ag_t_str(j, "time")), strlen("2024-01-02T03:04:05.678Z"));
    cr_assert_null(json_object_get(j, "level"), "no json-format keys");
    cr_assert_null(json_object_get(j, "msg"));
    cr_assert_null(json_object_get(j, "httpRequest"), "httpRequest only on access lines");
    json_decref(j);

    const char *want[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
    for (int l = AG_LOG_DEBUG; l <= AG_LOG_ERROR; l++) {
        ag_t_setup(AG_LOG_GCP, NULL);
        ag_log((enum ag_log_level)l, NULL, "x");
        j = ag_t_line();
        cr_assert_str_eq(ag_t_str(j, "severity"), want[l]);
        json_decref(j);
    }
}

Test(log_gcp, access_line_has_http_request)
{
    json_t *j = ag_t_access(NULL, NULL);
    cr_assert_str_eq(ag_t_str(j, "severity"), "INFO");
    cr_assert_str_eq(ag_t_str(j, "message"), "request");
    json_t *h = json_object_get(j, "httpRequest");
    cr_assert(json_is_object(h));
    cr_assert_str_eq(ag_t_str(h, "requestMethod"), "GET");
    cr_assert_str_eq(ag_t_str(h, "requestUrl"), "/dags/x/grid");
    cr_assert_eq(json_integer_value(json_object_get(h, "status")), 302);
    cr_assert_str_eq(ag_t_str(h, "responseSize"), "1234");
    cr_assert_str_eq(ag_t_str(h, "latency"), "0.001234s");
    cr_assert_str_eq(ag_t_str(h, "remoteIp"), "203.0.113.7");
    cr_assert_str_eq(ag_t_str(h, "userAgent"), "Mozilla/5.0 \"quoted\"\n");
    cr_assert_eq(json_object_size(h), 7, "only the seven fields");
    cr_assert_str_eq(ag_t_str(j, "request_id"), "r-1");
    cr_assert_str_eq(ag_t_str(j, "user"), "alice");
    cr_assert_str_eq(ag_t_str(j, "upstream"), "10.0.0.1:8080");
    cr_assert_eq(json_integer_value(json_object_get(j, "n")), 3);
    const char *flat[] = {"method", "path", "client", "status", "bytes", "latency_us"};
    for (size_t i = 0; i < 6; i++)
        cr_assert_null(json_object_get(j, flat[i]), "%s duplicated outside httpRequest", flat[i]);
    cr_assert_null(json_object_get(j, "logging.googleapis.com/trace"), "no project: no trace");
    json_decref(j);
}

Test(log_gcp, latency_is_seconds_with_six_decimals)
{
    const long long us[] = {0, 7, 999999, 1000000, 1500000, 61000042};
    const char *want[] = {"0.000000s", "0.000007s", "0.999999s",
                          "1.000000s", "1.500000s", "61.000042s"};
    for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
        ag_t_setup(AG_LOG_GCP, NULL);
        struct ag_log_http http = ag_t_http(NULL);
        http.latency_us = us[i];
        http.user_agent = NULL;
        ag_log_emit_http(AG_LOG_INFO, NULL, &http, NULL, 0, "request");
        json_t *j = ag_t_line();
        json_t *h = json_object_get(j, "httpRequest");
        cr_assert_str_eq(ag_t_str(h, "latency"), want[i]);
        cr_assert_null(json_object_get(h, "userAgent"), "absent User-Agent: no field");
        json_decref(j);
    }
}

Test(log_gcp, trace_from_cloud_trace_context_when_project_set)
{
    json_t *j = ag_t_access("my-project-1", "105445AA7843BC8BF206B12000100000/1;o=1");
    cr_assert_str_eq(ag_t_str(j, "logging.googleapis.com/trace"),
                     "projects/my-project-1/traces/105445aa7843bc8bf206b12000100000");
    cr_assert_str_eq(ag_t_str(j, "logging.googleapis.com/spanId"), "0000000000000001");
    cr_assert(json_is_true(json_object_get(j, "logging.googleapis.com/trace_sampled")));
    json_decref(j);

    j = ag_t_access("my-project-1", "105445aa7843bc8bf206b12000100000/18446744073709551615;o=0");
    cr_assert_str_eq(ag_t_str(j, "logging.googleapis.com/spanId"), "ffffffffffffffff");
    cr_assert(json_is_false(json_object_get(j, "logging.googleapis.com/trace_sampled")));
    json_decref(j);

    j = ag_t_access("my-project-1", "105445aa7843bc8bf206b12000100000");
    cr_assert_str_eq(ag_t_str(j, "logging.googleapis.com/trace"),
                     "projects/my-project-1/traces/105445aa7843bc8bf206b12000100000");
    cr_assert_null(json_object_get(j, "logging.googleapis.com/spanId"));
    cr_assert_null(json_object_get(j, "logging.googleapis.com/trace_sampled"));
    json_decref(j);

    /* a header without a project gives no trace: the field would name no project */
    j = ag_t_access(NULL, "105445aa7843bc8bf206b12000100000/1;o=1");
    cr_assert_null(json_object_get(j, "logging.googleapis.com/trace"));
    json_decref(j);
}

Test(log_gcp, malformed_trace_context_is_ignored)
{
    const char *bad[] = {
        "",
        "xyz",
        "105445aa7843bc8bf206b1200010000",                       /* 31 digits */
        "105445aa7843bc8bf206b120001000000",                     /* 33 digits */
        "105445aa7843bc8bf206b1200010000g/1",                    /* not hex */
        "00000000000000000000000000000000/1",                    /* zero trace id */
        "105445aa7843bc8bf206b12000100000/",                     /* empty span */
        "105445aa7843bc8bf206b12000100000/abc",                  /* span not decimal */
        "105445aa7843bc8bf206b12000100000/18446744073709551616", /* span > 2^64-1 */
        "105445aa7843bc8bf206b12000100000/1;o=2",
        "105445aa7843bc8bf206b12000100000/1;o=1 ",
        "105445aa7843bc8bf206b12000100000/1\",\"x\":\"y",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = ag_t_access("my-project-1", bad[i]);
        cr_assert_null(json_object_get(j, "logging.googleapis.com/trace"), "accepted \"%s\"",
                       bad[i]);
        cr_assert_null(json_object_get(j, "x"));
        json_decref(j);
    }
}

Test(log_gcp, json_and_text_access_lines_keep_flat_fields)
{
    ag_t_setup(AG_LOG_JSON, "my-project-1");
    struct ag_log_http http = ag_t_http("105445aa7843bc8bf206b12000100000/1;o=1");
    ag_log_emit_http(AG_LOG_INFO, NULL, &http, NULL, 0, "request");
    json_t *j = ag_t_line();
    cr_assert_str_eq(ag_t_str(j, "level"), "info");
    cr_assert_str_eq(ag_t_str(j, "method"), "GET");
    cr_assert_str_eq(ag_t_str(j, "path"), "/dags/x/grid");
    cr_assert_str_eq(ag_t_str(j, "client"), "203.0.113.7");
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 302);
    cr_assert_eq(json_integer_value(json_object_get(j, "bytes")), 1234);
    cr_assert_eq(json_integer_value(json_object_get(j, "latency_us")), 1234);
    cr_assert_null(json_object_get(j, "httpRequest"));
    cr_assert_null(json_object_get(j, "logging.googleapis.com/trace"));
    json_decref(j);

    ag_t_setup(AG_LOG_TEXT, NULL);
    ag_log_emit_http(AG_LOG_INFO, NULL, &http, NULL, 0, "request");
    const char *t = ag_t_text();
    cr_assert(strstr(t, " request method=\"GET\" path=\"/dags/x/grid\" client=\"203.0.113.7\" "
                        "status=302 bytes=1234 latency_us=1234\n"),
              "%s", t);
    fclose(ag_t_file);
}

Test(log_gcp, level_checked_before_formatting)
{
    ag_t_setup(AG_LOG_GCP, NULL);
    ag_log_setup(AG_LOG_WARN, AG_LOG_GCP, fileno(ag_t_file));
    struct ag_log_http http = ag_t_http(NULL);
    ag_log_emit_http(AG_LOG_INFO, NULL, &http, NULL, 0, "request");
    cr_assert_str_eq(ag_t_text(), "");
    fclose(ag_t_file);
}

Test(log_gcp, project_id_check)
{
    const char *good[] = {"my-project-1", "abcdef", "a12345678901234567890123456789",
                          "example.com:my-project", "google.com:abc-def"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(ag_log_gcp_project_valid(good[i]), "%s", good[i]);
    const char *bad[] = {"",        "abcde",          "a123456789012345678901234567890",
                         "1abcdef", "my-project-",    "My-Project",
                         "my_proj", "projects/x-y-z", "nodot:my-project",
                         ":abcdef", "example.com:",   "Example.com:my-project"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(ag_log_gcp_project_valid(bad[i]), "%s", bad[i]);
}

Test(log_gcp, parse_format)
{
    enum ag_log_format f;
    cr_assert_eq(ag_log_format_parse("gcp", &f), AG_OK);
    cr_assert_eq(f, AG_LOG_GCP);
    cr_assert_eq(ag_log_format_parse("GCP", &f), AG_EINVAL);
}
