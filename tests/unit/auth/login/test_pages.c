#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "auth/login/pages.h"

static const char *hdr(const struct ag_http_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static void assert_html_basics(const struct ag_http_response *r)
{
    cr_assert_str_eq(r->content_type, "text/html; charset=utf-8");
    cr_assert_str_eq(hdr(r, "Cache-Control"), "no-store");
    cr_assert_str_eq(hdr(r, "X-Content-Type-Options"), "nosniff");
    cr_assert(strstr(hdr(r, "Content-Security-Policy"), "default-src 'none'"));
    cr_assert_eq(strlen(r->body), r->body_len);
    cr_assert(strncmp(r->body, "<!DOCTYPE html>", 15) == 0);
    /* Self-contained: no external resources. */
    cr_assert_null(strstr(r->body, "<script"));
    cr_assert_null(strstr(r->body, "src="));
    cr_assert_null(strstr(r->body, "http://"));
    cr_assert_null(strstr(r->body, "https://"));
    cr_assert_null(strstr(r->body, "<link"));
}

Test(pages, forbidden_names_user_roles_and_sign_out)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_http_response r = {0};
    char *have[] = {"offline_access", "<img onerror=x>"};
    char *grant[] = {"airflow_admin", "airflow_viewer"};
    struct ag_strlist h = {2, have}, g = {2, grant};
    ag_page_forbidden(a, &r, "nor\"ole<script>", &h, &g, "/oauth2/logout");
    cr_assert_eq(r.status, 403);
    assert_html_basics(&r);
    cr_assert(strstr(r.body, "nor&quot;ole&lt;script&gt;"), "%s", r.body);
    cr_assert(strstr(r.body, "&lt;img onerror=x&gt;"));
    cr_assert(strstr(r.body, "<code>airflow_admin</code>"));
    cr_assert(strstr(r.body, "<code>airflow_viewer</code>"));
    cr_assert(strstr(r.body, "href=\"/oauth2/logout\""));
    cr_assert(strstr(r.body, "Sign out"));
    struct ag_http_response r2 = {0};
    struct ag_strlist none = {0, NULL};
    ag_page_forbidden(a, &r2, "norole", &none, &none, "/oauth2/logout");
    cr_assert(strstr(r2.body, "<em>none</em>"));
    ag_arena_free(a);
}

Test(pages, idp_errors_map_to_status_and_are_escaped)
{
    struct ag_arena *a = ag_arena_new(0);
    struct {
        const char *error;
        int status;
    } cases[] = {{"access_denied", 403}, {"login_required", 403}, {"temporarily_unavailable", 503},
                 {"server_error", 400},  {"<b>weird</b>", 400},   {NULL, 400}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ag_http_response r = {0};
        ag_page_idp_error(a, &r, cases[i].error, "User \"cancelled\" <login>", "/oauth2/start");
        cr_assert_eq(r.status, cases[i].status, "%s", cases[i].error);
        assert_html_basics(&r);
        cr_assert_null(strstr(r.body, "<b>weird"));
        cr_assert(strstr(r.body, "User &quot;cancelled&quot; &lt;login&gt;"));
        cr_assert(strstr(r.body, "href=\"/oauth2/start\""));
    }
    /* Long descriptions are cut. */
    char longd[2000];
    memset(longd, 'z', sizeof(longd) - 1);
    longd[sizeof(longd) - 1] = '\0';
    struct ag_http_response r = {0};
    ag_page_idp_error(a, &r, "server_error", longd, "/");
    cr_assert_lt(r.body_len, 4000);
    ag_arena_free(a);
}

Test(pages, unavailable_signed_out_and_login_failed)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_http_response r = {0};
    ag_page_idp_unavailable(a, &r, "/oauth2/start?rd=%2Fhome");
    cr_assert_eq(r.status, 503);
    assert_html_basics(&r);
    cr_assert_str_eq(hdr(&r, "Retry-After"), "30");
    cr_assert(strstr(r.body, "href=\"/oauth2/start?rd=%2Fhome\""));
    struct ag_http_response s = {0};
    ag_page_signed_out(a, &s, "/oauth2/start");
    cr_assert_eq(s.status, 200);
    assert_html_basics(&s);
    cr_assert(strstr(s.body, "signed out"));
    struct ag_http_response f = {0};
    ag_page_login_failed(a, &f, "state mismatch", "/oauth2/start");
    cr_assert_eq(f.status, 400);
    assert_html_basics(&f);
    cr_assert(strstr(f.body, "state mismatch"));
    ag_arena_free(a);
}

Test(pages, json_errors_are_valid_json)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_http_response r = {0};
    ag_page_json_error(a, &r, 401, "unauthorized", "sign in first", NULL);
    cr_assert_eq(r.status, 401);
    cr_assert_str_eq(r.content_type, "application/json");
    cr_assert_str_eq(hdr(&r, "WWW-Authenticate"), "Bearer realm=\"airgate\"");
    json_error_t je;
    json_t *j = json_loadb(r.body, r.body_len, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "unauthorized");
    cr_assert_null(json_object_get(j, "user"));
    json_decref(j);
    struct ag_http_response f = {0};
    ag_page_json_error(a, &f, 403, "forbidden", "no Airflow role", "bad\"user\n\xff");
    cr_assert_eq(f.status, 403);
    cr_assert_null(hdr(&f, "WWW-Authenticate"));
    j = json_loadb(f.body, f.body_len, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    cr_assert(strncmp(json_string_value(json_object_get(j, "user")), "bad\"user\n", 9) == 0);
    json_decref(j);
    ag_arena_free(a);
}
