#include "auth/login/pages.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define AG_PAGE_MAX 65536

static const char ag_page_style[] =
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f5f6f8;"
    "color:#1d2330;margin:0}main{max-width:36rem;margin:10vh auto;background:#fff;"
    "border-radius:8px;padding:2rem 2.5rem;box-shadow:0 1px 4px rgba(0,0,0,.12)}"
    "h1{font-size:1.4rem;margin-top:0}code{background:#eef0f4;padding:0 .3em;border-radius:3px}"
    "a.button{display:inline-block;margin-top:1rem;padding:.5rem 1rem;background:#017cee;"
    "color:#fff;border-radius:4px;text-decoration:none}.muted{color:#5b6475;font-size:.9rem}";

static void ag_page_common_headers(struct ag_arena *a, struct ag_http_response *resp)
{
    ag_http_response_add_header(a, resp, "Cache-Control", "no-store");
    ag_http_response_add_header(a, resp, "X-Content-Type-Options", "nosniff");
    ag_http_response_add_header(a, resp, "Referrer-Policy", "no-referrer");
    ag_http_response_add_header(a, resp, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors "
                                "'none'; form-action 'none'");
}

/* Appends; a page never comes near AG_PAGE_MAX, so a failed append only truncates the page. */
static void ag_page_put(struct ag_buf *b, const char *s)
{
    if (ag_buf_puts(b, s) != AG_OK)
        return;
}

static void ag_page_esc(struct ag_buf *b, const char *s)
{
    if (ag_buf_append_html(b, s ? s : "") != AG_OK)
        return;
}

static void ag_page_begin(struct ag_buf *b, const char *title)
{
    ag_buf_init(b, AG_PAGE_MAX);
    ag_page_put(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                   "<meta name=\"robots\" content=\"noindex\"><title>");
    ag_page_esc(b, title);
    ag_page_put(b, "</title><style>");
    ag_page_put(b, ag_page_style);
    ag_page_put(b, "</style></head><body><main><h1>");
    ag_page_esc(b, title);
    ag_page_put(b, "</h1>\n");
}

static void ag_page_finish(struct ag_arena *a, struct ag_http_response *resp, struct ag_buf *b,
                           int status)
{
    ag_page_put(b, "</main></body></html>\n");
    /* Copy the NUL too, so the body is also a C string (body_len excludes it). */
    ag_http_response_set(a, resp, status, "text/html; charset=utf-8", b->data ? b->data : "",
                         b->data ? b->len + 1 : 1);
    resp->body_len = b->data ? b->len : 0;
    ag_page_common_headers(a, resp);
    ag_buf_release(b, 0);
}

static void ag_page_link(struct ag_buf *b, const char *href, const char *text)
{
    ag_page_put(b, "<a class=\"button\" href=\"");
    ag_page_esc(b, href);
    ag_page_put(b, "\">");
    ag_page_esc(b, text);
    ag_page_put(b, "</a>\n");
}

static void ag_page_list(struct ag_buf *b, const struct ag_strlist *l)
{
    for (size_t i = 0; l && i < l->n; i++) {
        if (i)
            ag_page_put(b, ", ");
        ag_page_put(b, "<code>");
        ag_page_esc(b, l->items[i]);
        ag_page_put(b, "</code>");
    }
}

void ag_page_forbidden(struct ag_arena *a, struct ag_http_response *resp, const char *username,
                       const struct ag_strlist *have, const struct ag_strlist *granting,
                       const char *logout_path)
{
    struct ag_buf b;
    ag_page_begin(&b, "Access denied");
    ag_page_put(&b, "<p>You are signed in as <strong>");
    ag_page_esc(&b, username);
    ag_page_put(&b, "</strong>, but your account has no role that gives access to Airflow.</p>\n");
    ag_page_put(&b, "<p>Your roles at the identity provider: ");
    if (have && have->n)
        ag_page_list(&b, have);
    else
        ag_page_put(&b, "<em>none</em>");
    ag_page_put(&b, ".</p>\n");
    if (granting && granting->n) {
        ag_page_put(&b, "<p>Any of these roles would grant access: ");
        ag_page_list(&b, granting);
        ag_page_put(&b, ". Ask your administrator to assign one, then sign in again.</p>\n");
    } else {
        ag_page_put(&b, "<p>Ask your administrator for access, then sign in again.</p>\n");
    }
    ag_page_link(&b, logout_path, "Sign out");
    ag_page_finish(a, resp, &b, 403);
}

void ag_page_idp_error(struct ag_arena *a, struct ag_http_response *resp, const char *error,
                       const char *description, const char *retry_path)
{
    int status = 400;
    const char *title = "Sign-in failed";
    const char *text = "The identity provider could not complete the sign-in.";
    if (error &&
        (strcmp(error, "access_denied") == 0 || strcmp(error, "login_required") == 0 ||
         strcmp(error, "consent_required") == 0 || strcmp(error, "interaction_required") == 0)) {
        status = 403;
        title = "Sign-in was not allowed";
        text = "The identity provider refused the sign-in (you may have cancelled it, or your "
               "account may not be allowed to use this application).";
    } else if (error && strcmp(error, "temporarily_unavailable") == 0) {
        status = 503;
        title = "Sign-in temporarily unavailable";
        text = "The identity provider is temporarily unavailable. Please try again shortly.";
    }
    struct ag_buf b;
    ag_page_begin(&b, title);
    ag_page_put(&b, "<p>");
    ag_page_put(&b, text);
    ag_page_put(&b, "</p>\n<p class=\"muted\">Error: <code>");
    ag_page_esc(&b, error ? error : "unknown");
    ag_page_put(&b, "</code>");
    if (description && *description) {
        char shortd[301];
        size_t n = strnlen(description, 300);
        memcpy(shortd, description, n);
        shortd[n] = '\0';
        ag_page_put(&b, " &mdash; ");
        ag_page_esc(&b, shortd);
    }
    ag_page_put(&b, "</p>\n");
    ag_page_link(&b, retry_path, "Try again");
    ag_page_finish(a, resp, &b, status);
}

void ag_page_idp_unavailable(struct ag_arena *a, struct ag_http_response *resp,
                             const char *retry_path)
{
    struct ag_buf b;
    ag_page_begin(&b, "Sign-in temporarily unavailable");
    ag_page_put(&b, "<p>The identity provider cannot be reached right now, so a new sign-in "
                    "cannot start. People who are already signed in are not affected.</p>\n"
                    "<p>Please try again in a minute.</p>\n");
    ag_page_link(&b, retry_path, "Try again");
    ag_page_finish(a, resp, &b, 503);
    ag_http_response_add_header(a, resp, "Retry-After", "30");
}

void ag_page_login_failed(struct ag_arena *a, struct ag_http_response *resp, const char *detail,
                          const char *retry_path)
{
    struct ag_buf b;
    ag_page_begin(&b, "Sign-in could not be completed");
    ag_page_put(&b, "<p>This sign-in attempt could not be completed");
    if (detail && *detail) {
        ag_page_put(&b, ": ");
        ag_page_esc(&b, detail);
    }
    ag_page_put(&b, ".</p>\n<p>This happens when a sign-in link is reused, takes longer than ten "
                    "minutes, or was started in another browser. Starting again usually "
                    "works.</p>\n");
    ag_page_link(&b, retry_path, "Sign in again");
    ag_page_finish(a, resp, &b, 400);
}

void ag_page_signed_out(struct ag_arena *a, struct ag_http_response *resp, const char *signin_path)
{
    struct ag_buf b;
    ag_page_begin(&b, "You have signed out");
    ag_page_put(&b, "<p>Your Airflow session has ended.</p>\n");
    ag_page_link(&b, signin_path, "Sign in again");
    ag_page_finish(a, resp, &b, 200);
}

void ag_page_json_error(struct ag_arena *a, struct ag_http_response *resp, int status,
                        const char *code, const char *message, const char *user)
{
    struct ag_buf b;
    ag_buf_init(&b, AG_PAGE_MAX);
    enum ag_rc rc = ag_buf_puts(&b, "{\"error\":");
    if (rc == AG_OK)
        rc = ag_buf_append_json_string(&b, code, strlen(code));
    if (rc == AG_OK)
        rc = ag_buf_puts(&b, ",\"message\":");
    if (rc == AG_OK)
        rc = ag_buf_append_json_string(&b, message, strlen(message));
    if (rc == AG_OK && user) {
        rc = ag_buf_puts(&b, ",\"user\":");
        if (rc == AG_OK)
            rc = ag_buf_append_json_string(&b, user, strnlen(user, 1024));
    }
    if (rc == AG_OK)
        rc = ag_buf_puts(&b, "}\n");
    if (rc != AG_OK)
        abort(); /* cannot happen within AG_PAGE_MAX for our short fields */
    ag_http_response_set(a, resp, status, "application/json", b.data, b.len + 1);
    resp->body_len = b.len;
    ag_buf_release(&b, 0);
    ag_http_response_add_header(a, resp, "Cache-Control", "no-store");
    ag_http_response_add_header(a, resp, "X-Content-Type-Options", "nosniff");
    if (status == 401)
        ag_http_response_add_header(a, resp, "WWW-Authenticate", "Bearer realm=\"airgate\"");
}
