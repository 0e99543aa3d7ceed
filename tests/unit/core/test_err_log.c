#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

Test(err, set_returns_code_and_prefix_adds_context)
{
    struct ag_err err;
    cr_assert_eq(ag_err_set(&err, AG_EPARSE, "bad %s", "thing"), AG_EPARSE);
    cr_assert_eq(err.rc, AG_EPARSE);
    ag_err_prefix(&err, "jwks %d", 2);
    cr_assert_str_eq(err.msg, "jwks 2: bad thing");
    cr_assert_eq(ag_err_set(NULL, AG_EIO, "ignored"), AG_EIO);
    cr_assert_str_eq(ag_rc_name(AG_EEXPIRED), "expired");
    ag_err_clear(&err);
    cr_assert_eq(err.rc, AG_OK);
}

static char *ag_test_capture(int fd)
{
    static char out[8192];
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, sizeof(out) - 1);
    out[n < 0 ? 0 : n] = '\0';
    return out;
}

Test(log, json_line_is_valid_json_with_fields)
{
    FILE *f = tmpfile();
    int fd = fileno(f);
    ag_log_setup(AG_LOG_INFO, AG_LOG_JSON, fd);
    struct ag_log_ctx ctx = {.request_id = "r-1", .user = "al\"ice\n"};
    struct ag_log_field fields[] = {AG_LF_STR("upstream", "10.0.0.1:8080"),
                                    AG_LF_NUM("status", 200)};
    ag_log_fields(AG_LOG_INFO, &ctx, fields, 2, "request %s", "done");
    char *line = ag_test_capture(fd);
    cr_assert_eq(strchr(line, '\n'), line + strlen(line) - 1, "exactly one line");
    json_error_t jerr;
    json_t *j = json_loads(line, 0, &jerr);
    cr_assert_not_null(j, "not JSON: %s", line);
    cr_assert_str_eq(json_string_value(json_object_get(j, "msg")), "request done");
    cr_assert_str_eq(json_string_value(json_object_get(j, "user")), "al\"ice\n");
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "level")), "info");
    json_decref(j);
    fclose(f);
}

static int ag_test_formatted;
static const char *ag_test_count_format(void)
{
    ag_test_formatted++;
    return "x";
}

Test(log, level_checked_before_formatting)
{
    FILE *f = tmpfile();
    ag_log_setup(AG_LOG_WARN, AG_LOG_TEXT, fileno(f));
    ag_test_formatted = 0;
    ag_log(AG_LOG_DEBUG, NULL, "%s", ag_test_count_format());
    ag_log(AG_LOG_INFO, NULL, "%s", ag_test_count_format());
    cr_assert_eq(ag_test_formatted, 0);
    ag_log(AG_LOG_ERROR, NULL, "%s", ag_test_count_format());
    cr_assert_eq(ag_test_formatted, 1);
    char *line = ag_test_capture(fileno(f));
    cr_assert(strstr(line, "error x"), "%s", line);
    fclose(f);
}

Test(log, redact_never_shows_the_secret)
{
    char out[64];
    const char *tok = "eyJhbGciOiJSUzI1NiJ9.secretpayload.sig";
    ag_log_redact(tok, strlen(tok), out, sizeof(out));
    cr_assert_null(strstr(out, "eyJ"));
    cr_assert_null(strstr(out, "secret"));
    cr_assert(strstr(out, "redacted 38 bytes sha256:"), "%s", out);
}

Test(log, parse_level_and_format)
{
    enum ag_log_level l;
    enum ag_log_format f;
    cr_assert_eq(ag_log_level_parse("warn", &l), AG_OK);
    cr_assert_eq(l, AG_LOG_WARN);
    cr_assert_eq(ag_log_level_parse("loud", &l), AG_EINVAL);
    cr_assert_eq(ag_log_format_parse("text", &f), AG_OK);
    cr_assert_eq(f, AG_LOG_TEXT);
    cr_assert_eq(ag_log_format_parse("xml", &f), AG_EINVAL);
}
