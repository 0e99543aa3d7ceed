#include "auth/login/login_state.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "auth/login/redirect.h"
#include "core/b64url.h"
#include "core/json.h"
#include "core/secret.h"

static void ag_login_state_json_decref(void *p)
{
    ag_json_decref(p);
}

static enum ag_rc ag_login_state_rand(struct ag_arena *a, const char **out, struct ag_err *err)
{
    uint8_t raw[AG_LOGIN_STATE_RAND_BYTES];
    enum ag_rc rc = ag_random_bytes(raw, sizeof(raw), err);
    if (rc == AG_OK)
        *out = ag_b64url_encode_arena(a, raw, sizeof(raw));
    ag_secret_wipe(raw, sizeof(raw));
    return rc;
}

enum ag_rc ag_login_state_new(struct ag_arena *a, const char *rd, long long now,
                              struct ag_login_state **out, struct ag_err *err)
{
    struct ag_login_state *st = ag_arena_calloc(a, 1, sizeof(*st));
    enum ag_rc rc;
    if ((rc = ag_login_state_rand(a, &st->state, err)) != AG_OK ||
        (rc = ag_login_state_rand(a, &st->nonce, err)) != AG_OK ||
        (rc = ag_login_state_rand(a, &st->verifier, err)) != AG_OK)
        return rc;
    st->rd = ag_arena_strdup(a, ag_redirect_target(a, rd));
    st->created_at = now;
    *out = st;
    return AG_OK;
}

char *ag_login_state_challenge(struct ag_arena *a, const char *verifier)
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)verifier, strlen(verifier), d);
    return ag_b64url_encode_arena(a, d, sizeof(d));
}

static bool ag_login_state_b64_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static const char *ag_login_state_prefix(struct ag_arena *a, const struct ag_seal_ctx *ctx)
{
    return ag_arena_printf(a, "%s_login_", ctx->cookie_name);
}

const char *ag_login_state_cookie_name(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                       const char *state)
{
    if (!state)
        return NULL;
    size_t n = strnlen(state, 256);
    if (n < AG_LOGIN_STATE_PREFIX_LEN || n > 255 || !ag_login_state_b64_ok(state, n))
        return NULL;
    return ag_arena_printf(a, "%s%.*s", ag_login_state_prefix(a, ctx), AG_LOGIN_STATE_PREFIX_LEN,
                           state);
}

static char *ag_login_state_serialize(const struct ag_login_state *st)
{
    ag_json *o = ag_json_new_object();
    /* every member is ASCII we made (rd is sanitised): a failure is a bug */
    if (ag_json_set(o, "s", ag_json_new_str(st->state)) != 0 ||
        ag_json_set(o, "n", ag_json_new_str(st->nonce)) != 0 ||
        ag_json_set(o, "v", ag_json_new_str(st->verifier)) != 0 ||
        ag_json_set(o, "rd", ag_json_new_str(st->rd ? st->rd : "/")) != 0 ||
        ag_json_set(o, "c", ag_json_new_int(st->created_at)) != 0)
        abort();
    char *txt = ag_json_dump(o, AG_JSON_COMPACT);
    ag_json_decref(o);
    if (!txt)
        abort();
    return txt;
}

static enum ag_rc ag_login_state_parse(struct ag_arena *a, const uint8_t *pt, size_t len,
                                       struct ag_login_state **out, struct ag_err *err)
{
    struct ag_json_error jerr;
    ag_json *o = ag_json_parse((const char *)pt, len, 0, &jerr);
    if (!o)
        return ag_err_set(err, AG_EPARSE, "login state: invalid JSON");
    ag_arena_cleanup_add(a, ag_login_state_json_decref, o);
    const char *s = ag_json_str(ag_json_get(o, "s")), *n = ag_json_str(ag_json_get(o, "n"));
    const char *v = ag_json_str(ag_json_get(o, "v")), *rd = ag_json_str(ag_json_get(o, "rd"));
    const ag_json *cj = ag_json_get(o, "c");
    if (!ag_json_is_object(o) || !s || !n || !v || !rd || !ag_json_is_integer(cj))
        return ag_err_set(err, AG_EPARSE, "login state: missing members");
    long long c = ag_json_int(cj);
    struct ag_login_state *st = ag_arena_calloc(a, 1, sizeof(*st));
    st->state = ag_arena_strdup(a, s);
    st->nonce = ag_arena_strdup(a, n);
    st->verifier = ag_arena_strdup(a, v);
    st->rd = ag_arena_strdup(a, ag_redirect_target(a, rd));
    st->created_at = (long long)c;
    *out = st;
    return AG_OK;
}

/* Opens a login cookie by name/value; used for the callback and for eviction. */
static enum ag_rc ag_login_state_open(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                      const char *name, const char *value,
                                      struct ag_login_state **out, struct ag_err *err)
{
    size_t vlen = strlen(value);
    if (vlen == 0 || vlen > AG_LOGIN_STATE_MAX_VALUE)
        return ag_err_set(err, AG_EINVAL, "login state cookie of %zu bytes", vlen);
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    enum ag_rc rc = ag_seal_open(a, ctx, name, value, vlen, &pt, &ptlen, err);
    if (rc != AG_OK)
        return rc;
    rc = ag_login_state_parse(a, pt, ptlen, out, err);
    ag_secret_wipe(pt, ptlen);
    return rc;
}

static bool ag_login_state_fresh(const struct ag_login_state *st, long long now)
{
    /* A little tolerance for replicas whose clocks run ahead. */
    return st->created_at <= now + 60 && now - st->created_at <= AG_LOGIN_STATE_TTL_S;
}

static void ag_login_state_clear(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                 const char *name, struct ag_http_response *resp)
{
    ag_http_response_add_header(a, resp, "Set-Cookie",
                                ag_seal_cookie_header(a, ctx, name, "", 0, "/"));
}

#define AG_LOGIN_STATE_SCAN 64 /* cookies examined for eviction */

enum ag_rc ag_login_state_cookie_set(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                     const struct ag_login_state *st,
                                     const struct ag_http_request *req, long long now,
                                     struct ag_http_response *resp, struct ag_err *err)
{
    const char *name = ag_login_state_cookie_name(a, ctx, st->state);
    if (!name)
        return ag_err_set(err, AG_EINVAL, "login state: malformed state");
    if (req) {
        struct ag_cookie seen[AG_LOGIN_STATE_SCAN];
        long long created[AG_LOGIN_STATE_SCAN];
        size_t n = ag_seal_cookies_with_prefix(a, req, ag_login_state_prefix(a, ctx), seen,
                                               AG_LOGIN_STATE_SCAN);
        size_t live = 0;
        size_t plen = strlen(ag_login_state_prefix(a, ctx));
        for (size_t i = 0; i < n; i++) {
            struct ag_login_state *old = NULL;
            struct ag_err e2;
            created[i] = -1;
            const char *suffix = seen[i].name + plen;
            if (!ag_login_state_b64_ok(suffix, strlen(suffix)))
                continue; /* not a name we would have written: leave it alone */
            if (ag_login_state_open(a, ctx, seen[i].name, seen[i].value, &old, &e2) != AG_OK ||
                !old || !ag_login_state_fresh(old, now))
                ag_login_state_clear(a, ctx, seen[i].name, resp);
            else {
                created[i] = old->created_at;
                live++;
            }
        }
        /* Keep at most AG_LOGIN_STATE_MAX - 1 older attempts, dropping the oldest first. */
        while (live >= AG_LOGIN_STATE_MAX) {
            size_t oldest = n;
            for (size_t i = 0; i < n; i++) {
                if (created[i] >= 0 && (oldest == n || created[i] < created[oldest]))
                    oldest = i;
            }
            ag_login_state_clear(a, ctx, seen[oldest].name, resp);
            created[oldest] = -1;
            live--;
        }
    }
    char *json = ag_login_state_serialize(st);
    char *val = NULL;
    enum ag_rc rc = ag_seal_seal(a, ctx, name, (const uint8_t *)json, strlen(json), &val, err);
    ag_secret_wipe(json, strlen(json));
    free(json);
    if (rc != AG_OK)
        return rc;
    ag_http_response_add_header(
        a, resp, "Set-Cookie", ag_seal_cookie_header(a, ctx, name, val, AG_LOGIN_STATE_TTL_S, "/"));
    return AG_OK;
}

enum ag_rc ag_login_state_cookie_take(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                      const struct ag_http_request *req, const char *state,
                                      long long now, struct ag_http_response *resp,
                                      struct ag_login_state **out, struct ag_err *err)
{
    *out = NULL;
    const char *name = ag_login_state_cookie_name(a, ctx, state);
    if (!name)
        return ag_err_set(err, AG_EINVAL, "callback without a well-formed state parameter");
    const char *value = ag_http_cookie_get(a, req, name);
    if (!value)
        return ag_err_set(err, AG_EINVAL,
                          "no login state cookie for this state (expired, already used, or "
                          "started in another browser)");
    ag_login_state_clear(a, ctx, name, resp);
    struct ag_login_state *st = NULL;
    enum ag_rc rc = ag_login_state_open(a, ctx, name, value, &st, err);
    if (rc != AG_OK)
        return rc;
    if (!st)
        return ag_err_set(err, AG_EPARSE, "login state: empty");
    if (!ag_secret_equal(st->state, strlen(st->state), state, strlen(state)))
        return ag_err_set(err, AG_EDENIED, "state parameter does not match the login cookie");
    if (!ag_login_state_fresh(st, now))
        return ag_err_set(err, AG_EEXPIRED, "login attempt older than %ds", AG_LOGIN_STATE_TTL_S);
    *out = st;
    return AG_OK;
}

void ag_login_state_cookie_clear_all(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                     const struct ag_http_request *req,
                                     struct ag_http_response *resp)
{
    struct ag_cookie seen[AG_LOGIN_STATE_SCAN];
    size_t n = ag_seal_cookies_with_prefix(a, req, ag_login_state_prefix(a, ctx), seen,
                                           AG_LOGIN_STATE_SCAN);
    size_t plen = strlen(ag_login_state_prefix(a, ctx));
    for (size_t i = 0; i < n; i++) {
        const char *suffix = seen[i].name + plen;
        if (ag_login_state_b64_ok(suffix, strlen(suffix)))
            ag_login_state_clear(a, ctx, seen[i].name, resp);
    }
}
