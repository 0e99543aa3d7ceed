#include "auth/login/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/login/session_int.h"
#include "core/b64url.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/secret.h"

#define AG_SESSION_JSON_VERSION 1

static void ag_session_json_decref(void *p)
{
    ag_json_decref(p);
}

static void ag_session_str_wipe(void *p)
{
    char *s = p;
    ag_secret_wipe(s, strlen(s));
    free(s);
}

static void ag_session_set_str(ag_json *o, const char *key, const char *v)
{
    if (v)
        ag_json_set(o, key, ag_json_new_str(v));
}

static ag_json *ag_session_list_json(const struct ag_strlist *l)
{
    ag_json *arr = ag_json_new_array();
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i])
            ag_json_append(arr, ag_json_new_str(l->items[i]));
    }
    return arr;
}

char *ag_session_serialize(struct ag_arena *a, const struct ag_session *s)
{
    ag_json *o = ag_json_new_object();
    ag_json_set(o, "v", ag_json_new_int(AG_SESSION_JSON_VERSION));
    ag_session_set_str(o, "id", s->session_id);
    ag_session_set_str(o, "sid", s->sid);
    ag_session_set_str(o, "iss", s->issuer);
    ag_session_set_str(o, "sub", s->subject);
    ag_session_set_str(o, "user", s->username);
    ag_session_set_str(o, "email", s->email);
    ag_session_set_str(o, "fn", s->first_name);
    ag_session_set_str(o, "ln", s->last_name);
    ag_json_set(o, "idp", ag_session_list_json(&s->idp_roles));
    ag_json_set(o, "roles", ag_session_list_json(&s->airflow_roles));
    ag_json_set(o, "ok", ag_json_new_bool(s->allowed));
    ag_session_set_str(o, "idt", s->id_token);
    ag_session_set_str(o, "rt", s->refresh_token);
    ag_json_set(o, "aexp", ag_json_new_int(s->access_expires_at));
    ag_json_set(o, "rexp", ag_json_new_int(s->refresh_expires_at));
    ag_json_set(o, "c", ag_json_new_int(s->created_at));
    ag_json_set(o, "seen", ag_json_new_int(s->last_seen));
    char *txt = ag_json_dump(o, AG_JSON_COMPACT);
    ag_json_decref(o);
    if (!txt)
        abort(); /* allocation failure: see style guide */
    /* The text holds tokens: wipe it when the arena goes. */
    ag_arena_cleanup_add(a, ag_session_str_wipe, txt);
    return txt;
}

static enum ag_rc ag_session_get_str(struct ag_arena *a, ag_json *o, const char *key,
                                     const char **out, struct ag_err *err)
{
    ag_json *v = ag_json_get(o, key);
    if (!v || ag_json_is_null(v)) {
        *out = NULL;
        return AG_OK;
    }
    if (!ag_json_is_string(v))
        return ag_err_set(err, AG_EPARSE, "session: %s is not a string", key);
    *out = ag_arena_strndup(a, ag_json_str(v), ag_json_str_len(v));
    return AG_OK;
}

static enum ag_rc ag_session_get_list(struct ag_arena *a, ag_json *o, const char *key,
                                      struct ag_strlist *out, struct ag_err *err)
{
    ag_json *v = ag_json_get(o, key);
    memset(out, 0, sizeof(*out));
    if (!v)
        return AG_OK;
    if (!ag_json_is_array(v))
        return ag_err_set(err, AG_EPARSE, "session: %s is not an array", key);
    size_t n = ag_json_array_size(v);
    out->items = ag_arena_calloc(a, n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        ag_json *e = ag_json_at(v, i);
        if (!ag_json_is_string(e))
            return ag_err_set(err, AG_EPARSE, "session: %s[%zu] is not a string", key, i);
        out->items[out->n++] = ag_arena_strndup(a, ag_json_str(e), ag_json_str_len(e));
    }
    return AG_OK;
}

static enum ag_rc ag_session_get_int(ag_json *o, const char *key, long long *out,
                                     struct ag_err *err)
{
    ag_json *v = ag_json_get(o, key);
    if (!v) {
        *out = 0;
        return AG_OK;
    }
    if (!ag_json_is_integer(v))
        return ag_err_set(err, AG_EPARSE, "session: %s is not an integer", key);
    *out = (long long)ag_json_int(v);
    return AG_OK;
}

enum ag_rc ag_session_parse(struct ag_arena *a, const char *json, size_t len,
                            struct ag_session **out, struct ag_err *err)
{
    struct ag_json_error jerr;
    ag_json *o = ag_json_parse(json, len, 0, &jerr);
    if (!o)
        return ag_err_set(err, AG_EPARSE, "session: invalid JSON (%s)", jerr.text);
    ag_arena_cleanup_add(a, ag_session_json_decref, o);
    if (!ag_json_is_object(o))
        return ag_err_set(err, AG_EPARSE, "session: not an object");
    ag_json *ver = ag_json_get(o, "v");
    if (!ag_json_is_integer(ver) || ag_json_int(ver) != AG_SESSION_JSON_VERSION)
        return ag_err_set(err, AG_EPARSE, "session: unsupported format version");
    struct ag_session *s = ag_arena_calloc(a, 1, sizeof(*s));
    enum ag_rc rc = AG_OK;
    if ((rc = ag_session_get_str(a, o, "id", &s->session_id, err)) != AG_OK ||
        (rc = ag_session_get_str(a, o, "sid", &s->sid, err)) != AG_OK ||
        (rc = ag_session_get_str(a, o, "iss", &s->issuer, err)) != AG_OK ||
        (rc = ag_session_get_str(a, o, "sub", &s->subject, err)) != AG_OK ||
        (rc = ag_session_get_str(a, o, "user", &s->username, err)) != AG_OK ||
        (rc = ag_session_get_str(a, o, "email", &s->email, err)) != AG_OK ||
        (rc = ag_session_get_str(a, o, "fn", &s->first_name, err)) != AG_OK ||
        (rc = ag_session_get_str(a, o, "ln", &s->last_name, err)) != AG_OK ||
        (rc = ag_session_get_str(a, o, "idt", &s->id_token, err)) != AG_OK ||
        (rc = ag_session_get_str(a, o, "rt", &s->refresh_token, err)) != AG_OK ||
        (rc = ag_session_get_list(a, o, "idp", &s->idp_roles, err)) != AG_OK ||
        (rc = ag_session_get_list(a, o, "roles", &s->airflow_roles, err)) != AG_OK ||
        (rc = ag_session_get_int(o, "aexp", &s->access_expires_at, err)) != AG_OK ||
        (rc = ag_session_get_int(o, "rexp", &s->refresh_expires_at, err)) != AG_OK ||
        (rc = ag_session_get_int(o, "c", &s->created_at, err)) != AG_OK ||
        (rc = ag_session_get_int(o, "seen", &s->last_seen, err)) != AG_OK)
        return rc;
    if (!s->username || !*s->username)
        return ag_err_set(err, AG_EPARSE, "session: no user");
    ag_json *ok = ag_json_get(o, "ok");
    if (ok && !ag_json_is_bool(ok))
        return ag_err_set(err, AG_EPARSE, "session: ok is not a boolean");
    s->allowed = ag_json_is_true(ok);
    *out = s;
    return AG_OK;
}

/* The AAD names the layout: "<cookie_name>#<chunks>" so dropping or adding a chunk fails. */
static const char *ag_session_aad(struct ag_arena *a, const struct ag_seal_ctx *ctx, size_t n)
{
    return ag_arena_printf(a, "%s#%zu", ctx->cookie_name, n);
}

static const char *ag_session_chunk_name(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                         size_t i)
{
    return ag_arena_printf(a, "%s_%zu", ctx->cookie_name, i);
}

long long ag_session_remaining(const struct ag_seal_ctx *ctx, const struct ag_session *s,
                               long long now)
{
    return s->created_at + ctx->lifetime_s - now;
}

enum ag_rc ag_session_cookie_set(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                 const struct ag_session *s, const struct ag_http_request *req,
                                 long long now, struct ag_http_response *resp, struct ag_err *err)
{
    long long max_age = ag_session_remaining(ctx, s, now);
    if (max_age <= 0)
        return ag_err_set(err, AG_EEXPIRED, "session lifetime already over");
    const char *json = ag_session_serialize(a, s);
    size_t jlen = strlen(json);
    /* Each chunk count gives a different AAD, so pick the count from the sealed size (exact:
     * base64url of plaintext + overhead). */
    size_t sealed_len = ag_b64url_encoded_len(jlen + AG_SEAL_OVERHEAD);
    size_t n = (sealed_len + AG_SESSION_CHUNK_LEN - 1) / AG_SESSION_CHUNK_LEN;
    if (n > AG_SESSION_MAX_CHUNKS)
        return ag_err_set(err, AG_EINVAL, "session of %zu bytes needs %zu cookies (max %d)", jlen,
                          n, AG_SESSION_MAX_CHUNKS);
    char *val = NULL;
    enum ag_rc rc =
        ag_seal_seal(a, ctx, ag_session_aad(a, ctx, n), (const uint8_t *)json, jlen, &val, err);
    if (rc != AG_OK)
        return rc;
    size_t vlen = strlen(val);
    if (n == 1) {
        ag_http_response_add_header(
            a, resp, "Set-Cookie",
            ag_seal_cookie_header(a, ctx, ctx->cookie_name, val, (long)max_age, "/"));
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t off = i * vlen / n, end = (i + 1) * vlen / n;
            char *part = ag_arena_strndup(a, val + off, end - off);
            ag_http_response_add_header(a, resp, "Set-Cookie",
                                        ag_seal_cookie_header(a, ctx,
                                                              ag_session_chunk_name(a, ctx, i),
                                                              part, (long)max_age, "/"));
        }
    }
    /* Clear what the new layout does not overwrite. */
    if (req) {
        if (n > 1 && ag_http_cookie_get(a, req, ctx->cookie_name))
            ag_http_response_add_header(
                a, resp, "Set-Cookie", ag_seal_cookie_header(a, ctx, ctx->cookie_name, "", 0, "/"));
        for (size_t i = (n == 1 ? 0 : n); i <= AG_SESSION_MAX_CHUNKS; i++) {
            const char *cn = ag_session_chunk_name(a, ctx, i);
            if (ag_http_cookie_get(a, req, cn))
                ag_http_response_add_header(a, resp, "Set-Cookie",
                                            ag_seal_cookie_header(a, ctx, cn, "", 0, "/"));
        }
    }
    return AG_OK;
}

/* The sealed value of req's session cookie(s) and its chunk count: AG_OK with *value NULL when
 * there is none. */
static enum ag_rc ag_session_cookie_gather(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                           const struct ag_http_request *req, const char **value,
                                           size_t *count, struct ag_err *err)
{
    *value = NULL;
    *count = 0;
    const size_t max_total = (size_t)AG_SESSION_CHUNK_LEN * AG_SESSION_MAX_CHUNKS + 64;
    const char *single = ag_http_cookie_get(a, req, ctx->cookie_name);
    size_t n = 0;
    if (single && *single) {
        *value = single;
        *count = 1;
        return AG_OK;
    }
    struct ag_buf joined;
    ag_buf_init(&joined, max_total);
    for (n = 0; n <= AG_SESSION_MAX_CHUNKS; n++) {
        const char *part = ag_http_cookie_get(a, req, ag_session_chunk_name(a, ctx, n));
        if (!part)
            break;
        if (n == AG_SESSION_MAX_CHUNKS || ag_buf_puts(&joined, part) != AG_OK) {
            ag_buf_release(&joined, 0);
            return ag_err_set(err, AG_EINVAL, "session cookie oversized");
        }
    }
    if (n == 0) {
        ag_buf_release(&joined, 0);
        return AG_OK; /* no session cookie at all */
    }
    if (n == 1) {
        ag_buf_release(&joined, 0);
        return ag_err_set(err, AG_EPARSE, "session cookie: lone chunk 0");
    }
    *value = ag_arena_strndup(a, joined.data ? joined.data : "", joined.len);
    *count = n;
    ag_buf_release(&joined, 0);
    return AG_OK;
}

bool ag_session_cookie_key(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                           const struct ag_http_request *req, const char **key, size_t *len)
{
    const char *value = NULL;
    size_t n = 0;
    struct ag_err err = {0};
    if (ag_session_cookie_gather(a, ctx, req, &value, &n, &err) != AG_OK || !value)
        return false;
    const size_t max_total = (size_t)AG_SESSION_CHUNK_LEN * AG_SESSION_MAX_CHUNKS + 64;
    if (strlen(value) > max_total)
        return false;
    /* memcpy, not printf: the value is kilobytes and this runs on every cookie request */
    const char *aad = ag_session_aad(a, ctx, n);
    size_t al = strlen(aad), vl = strlen(value);
    char *k = ag_arena_alloc(a, al + 1 + vl + 1);
    memcpy(k, aad, al + 1);
    k[al] = '\n'; /* over aad's terminator */
    memcpy(k + al + 1, value, vl + 1);
    *key = k;
    *len = al + 1 + vl;
    return true;
}

enum ag_rc ag_session_cookie_open(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                  const struct ag_http_request *req, long long now,
                                  struct ag_session **out, struct ag_err *err)
{
    *out = NULL;
    const size_t max_total = (size_t)AG_SESSION_CHUNK_LEN * AG_SESSION_MAX_CHUNKS + 64;
    const char *value = NULL;
    size_t n = 0;
    enum ag_rc grc = ag_session_cookie_gather(a, ctx, req, &value, &n, err);
    if (grc != AG_OK || !value)
        return grc;
    size_t vlen = strlen(value);
    if (vlen > max_total)
        return ag_err_set(err, AG_EINVAL, "session cookie oversized (%zu bytes)", vlen);
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    enum ag_rc rc = ag_seal_open(a, ctx, ag_session_aad(a, ctx, n), value, vlen, &pt, &ptlen, err);
    if (rc != AG_OK)
        return rc;
    struct ag_session *s = NULL;
    rc = ag_session_parse(a, (const char *)pt, ptlen, &s, err);
    ag_secret_wipe(pt, ptlen);
    if (rc != AG_OK)
        return rc;
    if (!s)
        return ag_err_set(err, AG_EPARSE, "session: empty");
    if (s->created_at <= 0 || s->created_at > now + AG_SESSION_MAX_SKEW_S)
        return ag_err_set(err, AG_EEXPIRED, "session created_at out of range");
    if (ag_session_remaining(ctx, s, now) <= 0)
        return ag_err_set(err, AG_EEXPIRED, "session lifetime of %lds is over", ctx->lifetime_s);
    if (ctx->idle_timeout_s > 0 && s->last_seen + ctx->idle_timeout_s <= now)
        return ag_err_set(err, AG_EEXPIRED, "session idle for more than %lds", ctx->idle_timeout_s);
    *out = s;
    return AG_OK;
}

void ag_session_cookie_clear(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                             const struct ag_http_request *req, struct ag_http_response *resp)
{
    ag_http_response_add_header(a, resp, "Set-Cookie",
                                ag_seal_cookie_header(a, ctx, ctx->cookie_name, "", 0, "/"));
    for (size_t i = 0; req && i <= AG_SESSION_MAX_CHUNKS; i++) {
        const char *cn = ag_session_chunk_name(a, ctx, i);
        if (ag_http_cookie_get(a, req, cn))
            ag_http_response_add_header(a, resp, "Set-Cookie",
                                        ag_seal_cookie_header(a, ctx, cn, "", 0, "/"));
    }
}

bool ag_session_cookie_present(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                               const struct ag_http_request *req)
{
    return ag_http_cookie_get(a, req, ctx->cookie_name) ||
           ag_http_cookie_get(a, req, ag_session_chunk_name(a, ctx, 0));
}
