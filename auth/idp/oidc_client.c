#include "auth/idp/oidc_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/http_client.h"
#include "core/b64url.h"
#include "core/http_msg.h"
#include "core/json.h"
#include "core/secret.h"

static void ag_oidc_wipe_str(void *p)
{
    char *s = p;
    ag_secret_wipe(s, strlen(s));
}

/* Text holding the client secret or tokens: wiped when the arena goes. */
static char *ag_oidc_secret_text(struct ag_arena *a, char *s)
{
    ag_arena_cleanup_add(a, ag_oidc_wipe_str, s);
    return s;
}

static const char *ag_oidc_secret_str(struct ag_arena *a, const struct ag_config *cfg)
{
    const struct ag_secret *s = &cfg->oidc.client_secret;
    return ag_oidc_secret_text(
        a, ag_arena_strndup(a, s->data ? (const char *)s->data : "", s->data ? s->len : 0));
}

/* RFC 6749 2.3.1: client_id and secret are form-urlencoded before Basic encoding. */
static void ag_oidc_client_auth(struct ag_arena *a, const struct ag_config *cfg,
                                const char *grant_body, struct ag_token_request *out)
{
    const char *id = ag_http_url_encode(a, cfg->oidc.client_id ? cfg->oidc.client_id : "");
    const char *secret = ag_oidc_secret_text(a, ag_http_url_encode(a, ag_oidc_secret_str(a, cfg)));
    if (cfg->oidc.token_endpoint_auth == AG_CLIENT_AUTH_POST) {
        out->body = ag_oidc_secret_text(
            a, ag_arena_printf(a, "%s&client_id=%s&client_secret=%s", grant_body, id, secret));
        out->authorization = NULL;
        return;
    }
    char *pair = ag_oidc_secret_text(a, ag_arena_printf(a, "%s:%s", id, secret));
    char *b64 = ag_oidc_secret_text(a, ag_arena_alloc(a, (strlen(pair) + 2) / 3 * 4 + 1));
    /* Standard base64 with padding (not base64url) for HTTP Basic. */
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(pair), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)pair[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)pair[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)pair[i + 2];
        b64[o++] = tab[(v >> 18) & 63];
        b64[o++] = tab[(v >> 12) & 63];
        b64[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        b64[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    b64[o] = '\0';
    out->authorization = ag_oidc_secret_text(a, ag_arena_printf(a, "Basic %s", b64));
    out->body = ag_oidc_secret_text(a, ag_arena_printf(a, "%s&client_id=%s", grant_body, id));
}

void ag_oidc_code_request(struct ag_arena *a, const struct ag_config *cfg, const char *code,
                          const char *verifier, struct ag_token_request *out)
{
    char *grant = ag_oidc_secret_text(
        a,
        ag_arena_printf(a, "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s",
                        ag_http_url_encode(a, code),
                        ag_http_url_encode(a, cfg->redirect_uri ? cfg->redirect_uri : ""),
                        ag_http_url_encode(a, verifier)));
    ag_oidc_client_auth(a, cfg, grant, out);
}

void ag_oidc_refresh_request(struct ag_arena *a, const struct ag_config *cfg,
                             const char *refresh_token, struct ag_token_request *out)
{
    char *grant = ag_oidc_secret_text(
        a, ag_arena_printf(a, "grant_type=refresh_token&refresh_token=%s",
                           ag_oidc_secret_text(a, ag_http_url_encode(a, refresh_token))));
    ag_oidc_client_auth(a, cfg, grant, out);
}

static void ag_oidc_json_decref(void *p)
{
    ag_json_decref(p);
}

static const char *ag_oidc_json_str(struct ag_arena *a, ag_json *o, const char *key)
{
    ag_json *v = ag_json_get(o, key);
    if (!ag_json_is_string(v))
        return NULL;
    return ag_oidc_secret_text(a, ag_arena_strndup(a, ag_json_str(v), ag_json_str_len(v)));
}

static long long ag_oidc_json_int(ag_json *o, const char *key)
{
    ag_json *v = ag_json_get(o, key);
    if (ag_json_is_integer(v))
        return (long long)ag_json_int(v);
    if (ag_json_is_real(v))
        return (long long)ag_json_real(v);
    return 0;
}

enum ag_rc ag_oidc_token_response_parse(struct ag_arena *a, long status, const char *body,
                                        size_t len, struct ag_token_response *out,
                                        struct ag_err *err)
{
    memset(out, 0, sizeof(*out));
    struct ag_json_error jerr;
    ag_json *o = body && len ? ag_json_parse(body, len, 0, &jerr) : NULL;
    if (o)
        ag_arena_cleanup_add(a, ag_oidc_json_decref, o);
    if (o && !ag_json_is_object(o))
        o = NULL;
    if (status >= 500 || status == 0)
        return ag_err_set(err, AG_EUPSTREAM, "token endpoint answered HTTP %ld", status);
    if (status != 200) {
        out->error = o ? ag_oidc_json_str(a, o, "error") : NULL;
        out->error_description = o ? ag_oidc_json_str(a, o, "error_description") : NULL;
        if (!out->error)
            return ag_err_set(err, AG_EUPSTREAM,
                              "token endpoint answered HTTP %ld without an "
                              "OAuth error",
                              status);
        return ag_err_set(err, AG_EDENIED, "token endpoint refused: %s", out->error);
    }
    if (!o)
        return ag_err_set(err, AG_EPARSE, "token endpoint answer is not a JSON object");
    ag_json *tt = ag_json_get(o, "token_type");
    if (tt && (!ag_json_is_string(tt) || strcasecmp(ag_json_str(tt), "bearer") != 0))
        return ag_err_set(err, AG_EPARSE, "token endpoint: token_type is not Bearer");
    out->access_token = ag_oidc_json_str(a, o, "access_token");
    out->id_token = ag_oidc_json_str(a, o, "id_token");
    out->refresh_token = ag_oidc_json_str(a, o, "refresh_token");
    out->expires_in = ag_oidc_json_int(o, "expires_in");
    out->refresh_expires_in = ag_oidc_json_int(o, "refresh_expires_in");
    if (!out->access_token || !*out->access_token)
        return ag_err_set(err, AG_EPARSE, "token endpoint answer has no access_token");
    if (out->expires_in < 0 || out->refresh_expires_in < 0)
        return ag_err_set(err, AG_EPARSE, "token endpoint: negative expiry");
    return AG_OK;
}

enum ag_rc ag_oidc_http_post(const char *url, const char *authorization, const char *body,
                             const struct ag_http_fetch_opts *opts, struct ag_buf *out,
                             long *status, struct ag_err *err)
{
    *status = 0;
    if (!url || (strncasecmp(url, "https://", 8) != 0 && strncasecmp(url, "http://", 7) != 0))
        return ag_err_set(err, AG_EINVAL, "token endpoint must be an http(s) URL");
    struct ag_http_client_opts co = {.max_bytes = AG_OIDC_TOKEN_MAX_BYTES};
    if (opts) {
        co.ca_file = opts->ca_file;
        co.connect_timeout_ms = opts->connect_timeout_ms;
        co.timeout_ms = opts->timeout_ms;
    }
    char *authz_line = NULL;
    if (authorization) {
        size_t n = strlen(authorization) + sizeof("Authorization: ");
        authz_line = malloc(n);
        if (!authz_line)
            abort();
        snprintf(authz_line, n, "Authorization: %s", authorization);
    }
    const char *headers[] = {"Accept: application/json",
                             "Content-Type: application/x-www-form-urlencoded", authz_line, NULL};
    struct ag_http_call call = {.url = url, .post_body = body, .headers = headers};
    struct ag_err why = {0};
    enum ag_rc rc = ag_http_client_call(NULL, &call, &co, status, out, &why);
    if (authz_line) {
        ag_secret_wipe(authz_line, strlen(authz_line));
        free(authz_line);
    }
    if (rc == AG_ENOMEM)
        return ag_err_set(err, AG_ENOMEM, "token endpoint answer larger than %d bytes",
                          AG_OIDC_TOKEN_MAX_BYTES);
    if (rc == AG_ETIMEOUT)
        return ag_err_set(err, AG_ETIMEOUT, "token endpoint timed out");
    if (rc != AG_OK)
        return ag_err_set(err, rc, "token endpoint: %s", why.msg);
    return AG_OK;
}
