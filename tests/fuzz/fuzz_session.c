/* libFuzzer target: airgate's cookies as a browser (or an attacker) sends them back.
 *
 * Input forms (first byte):
 *   'S' flags plaintext  the plaintext is sealed with the fixed session key as a session of
 *                        1 + (flags & 7) chunks (flags & 0x80: one character of the cookie value
 *                        is then changed), sent back and opened: reaches the session JSON parser
 *                        behind a valid AES-GCM seal (what a leaked or misused key would allow).
 *   'L' plaintext        the same for a login-state cookie, taken at the callback.
 *   anything else        raw text: the first line is the query string of /oauth2/callback, every
 *                        further line the value of one Cookie header (chunked session cookies,
 *                        tampered ciphertext, login-state cookies, quoting, odd separators).
 *
 * Checked: nothing crashes or leaks; every failure carries its code and a message; an accepted
 * session names a user and is inside its lifetime; an accepted login state carries a safe rd
 * and the exact state; an accepted session written back (ag_session_cookie_set, chunked when
 * large) and read again is the same; every Set-Cookie airgate writes is free of control
 * characters. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/login/login_state.h"
#include "auth/login/redirect.h"
#include "auth/login/session.h"
#include "auth/login/session_seal.h"
#include "core/arena.h"
#include "core/http_msg.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AG_FZ_NOW 1700000000LL
#define AG_FZ_MAX_HEADERS 16
/* A fixed state: the login cookie for it is "_airgate_login_" + its first 16 characters. */
#define AG_FZ_STATE "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static struct ag_seal_ctx ag_fz_session, ag_fz_login;
static bool ag_fz_ready;

static void ag_fz_init(void)
{
    static unsigned char secret[] = "fuzz-cookie-secret-0123456789abcdef-0123456789";
    static unsigned char previous[] = "fuzz-previous-secret-0123456789abcdef-012345678";
    static struct ag_secret prev_list[1];
    static struct ag_config cfg;
    ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
    cfg.session.cookie_name = "_airgate";
    cfg.session.cookie_secret = (struct ag_secret){secret, sizeof(secret) - 1};
    prev_list[0] = (struct ag_secret){previous, sizeof(previous) - 1};
    cfg.session.previous_cookie_secrets = (struct ag_secretlist){1, prev_list};
    cfg.session.lifetime_s = 86400;
    cfg.session.idle_timeout_s = 3600;
    cfg.public_https = true;
    struct ag_err err;
    if (ag_seal_ctx_init(&ag_fz_session, &cfg, AG_SEAL_SESSION, &err) != AG_OK ||
        ag_seal_ctx_init(&ag_fz_login, &cfg, AG_SEAL_LOGIN_STATE, &err) != AG_OK)
        abort();
    ag_fz_ready = true;
}

static void ag_fz_check_err(enum ag_rc rc, const struct ag_err *err)
{
    if (rc != AG_OK && (err->rc != rc || err->msg[0] == '\0'))
        abort();
}

static void ag_fz_check_resp(const struct ag_http_response *resp)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        for (const unsigned char *p = (const unsigned char *)resp->headers[i].value; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                abort();
    }
}

/* An accepted session written back with ag_session_cookie_set and read again is the same. */
static void ag_fz_roundtrip(struct ag_arena *a, const struct ag_session *s)
{
    struct ag_http_response resp = {0};
    struct ag_err err = {0};
    enum ag_rc rc = ag_session_cookie_set(a, &ag_fz_session, s, NULL, AG_FZ_NOW, &resp, &err);
    ag_fz_check_err(rc, &err);
    if (rc != AG_OK)
        return; /* too large for AG_SESSION_MAX_CHUNKS cookies */
    ag_fz_check_resp(&resp);
    const char *jar = "";
    for (size_t i = 0; i < resp.n_headers; i++) {
        const char *v = resp.headers[i].value, *semi = strchr(v, ';');
        jar = ag_arena_printf(a, "%s%s%.*s", jar, i ? "; " : "", (int)(semi - v), v);
    }
    struct ag_http_header h = {"Cookie", jar};
    struct ag_http_request req = {.method = "GET", .path = "/", .n_headers = 1, .headers = &h};
    struct ag_session *back = NULL;
    rc = ag_session_cookie_open(a, &ag_fz_session, &req, AG_FZ_NOW, &back, &err);
    if (rc != AG_OK || !back || strcmp(back->username, s->username) != 0 ||
        back->idp_roles.n != s->idp_roles.n || back->airflow_roles.n != s->airflow_roles.n ||
        back->allowed != s->allowed || back->created_at != s->created_at)
        abort();
}

static void ag_fz_check_session(struct ag_arena *a, const struct ag_http_request *req)
{
    struct ag_session *s = NULL;
    struct ag_err err = {0};
    enum ag_rc rc = ag_session_cookie_open(a, &ag_fz_session, req, AG_FZ_NOW, &s, &err);
    ag_fz_check_err(rc, &err);
    if (rc == AG_OK && s) {
        if (!s->username || !*s->username)
            abort();
        if (s->created_at <= 0 || ag_session_remaining(&ag_fz_session, s, AG_FZ_NOW) <= 0)
            abort();
        ag_fz_roundtrip(a, s);
    }
    if (rc != AG_OK && s)
        abort();
    bool present = ag_session_cookie_present(a, &ag_fz_session, req);
    if (rc == AG_OK && s && !present)
        abort();
    struct ag_http_response resp = {0};
    ag_session_cookie_clear(a, &ag_fz_session, req, &resp);
    ag_fz_check_resp(&resp);
}

static void ag_fz_check_login(struct ag_arena *a, const struct ag_http_request *req,
                              const char *state)
{
    struct ag_http_response resp = {0};
    struct ag_login_state *st = NULL;
    struct ag_err err = {0};
    enum ag_rc rc =
        ag_login_state_cookie_take(a, &ag_fz_login, req, state, AG_FZ_NOW, &resp, &st, &err);
    ag_fz_check_err(rc, &err);
    if (rc == AG_OK) {
        if (!st || !st->rd || !ag_redirect_is_safe(st->rd) || strcmp(st->state, state) != 0)
            abort();
    }
    /* A new login among whatever login cookies the browser already holds (eviction opens them
     * all), then a logout clearing them. */
    struct ag_login_state *fresh = NULL;
    if (ag_login_state_new(a, "/home", AG_FZ_NOW, &fresh, &err) != AG_OK)
        abort();
    rc = ag_login_state_cookie_set(a, &ag_fz_login, fresh, req, AG_FZ_NOW, &resp, &err);
    if (rc != AG_OK)
        abort();
    ag_login_state_cookie_clear_all(a, &ag_fz_login, req, &resp);
    ag_fz_check_resp(&resp);
}

/* 'S': seal the plaintext as a session of n chunks and open it again. */
static void ag_fz_sealed_session(struct ag_arena *a, const uint8_t *data, size_t size)
{
    if (size < 1)
        return;
    unsigned flags = data[0];
    size_t n = 1 + (flags & 7u);
    char *val = NULL;
    struct ag_err err;
    const char *aad = ag_arena_printf(a, "_airgate#%zu", n);
    if (ag_seal_seal(a, &ag_fz_session, aad, data + 1, size - 1, &val, &err) != AG_OK)
        abort();
    size_t vlen = strlen(val);
    if (flags & 0x80u)
        val[((flags >> 3) & 15u) % vlen] ^= 0x01; /* stays base64url-ish or becomes invalid */
    const char *hdr;
    if (n == 1) {
        hdr = ag_arena_printf(a, "_airgate=%s", val);
    } else {
        hdr = "";
        for (size_t i = 0; i < n; i++) {
            size_t off = i * vlen / n, end = (i + 1) * vlen / n;
            hdr = ag_arena_printf(a, "%s_airgate_%zu=%.*s; ", hdr, i, (int)(end - off), val + off);
        }
    }
    struct ag_http_header h = {"Cookie", hdr};
    struct ag_http_request req = {.method = "GET", .path = "/", .n_headers = 1, .headers = &h};
    ag_fz_check_session(a, &req);
}

/* 'L': seal the plaintext as the login state of AG_FZ_STATE and take it at the callback. */
static void ag_fz_sealed_login(struct ag_arena *a, const uint8_t *data, size_t size)
{
    const char *name = ag_login_state_cookie_name(a, &ag_fz_login, AG_FZ_STATE);
    char *val = NULL;
    struct ag_err err;
    if (!name || ag_seal_seal(a, &ag_fz_login, name, data, size, &val, &err) != AG_OK)
        abort();
    struct ag_http_header h = {"Cookie", ag_arena_printf(a, "%s=%s", name, val)};
    struct ag_http_request req = {
        .method = "GET", .path = "/oauth2/callback", .n_headers = 1, .headers = &h};
    ag_fz_check_login(a, &req, AG_FZ_STATE);
}

static void ag_fz_raw(struct ag_arena *a, const uint8_t *data, size_t size)
{
    char *text = ag_arena_strndup(a, (const char *)data, size);
    struct ag_http_header hdrs[AG_FZ_MAX_HEADERS];
    size_t nh = 0;
    char *query = text, *p = strchr(text, '\n');
    if (p)
        *p++ = '\0';
    while (p && nh < AG_FZ_MAX_HEADERS) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        /* Alternate the header name's spelling: header names are case-insensitive. */
        hdrs[nh].name = (nh & 1) ? "cookie" : "Cookie";
        hdrs[nh].value = p;
        nh++;
        p = nl ? nl + 1 : NULL;
    }
    struct ag_http_request req = {.method = "GET",
                                  .path = "/oauth2/callback",
                                  .query = *query ? query : NULL,
                                  .n_headers = nh,
                                  .headers = hdrs};
    /* The generic accessors the handlers use. */
    static const char *const cookie_names[] = {"_airgate", "_airgate_0", "_airgate_1", "a", ""};
    for (size_t i = 0; i < sizeof(cookie_names) / sizeof(cookie_names[0]); i++) {
        const char *v = ag_http_cookie_get(a, &req, cookie_names[i]);
        if (v && strchr(v, ';'))
            abort(); /* a cookie value never spans a separator */
    }
    static const char *const params[] = {"state", "code", "rd", "error", ""};
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
        (void)ag_http_query_get(a, &req, params[i]);

    ag_fz_check_session(a, &req);
    const char *state = ag_http_query_get(a, &req, "state");
    ag_fz_check_login(a, &req, state ? state : AG_FZ_STATE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ag_fz_ready)
        ag_fz_init();
    if (size > 64 * 1024)
        return 0;
    struct ag_arena *a = ag_arena_new(0);
    if (size > 0 && data[0] == 'S')
        ag_fz_sealed_session(a, data + 1, size - 1);
    else if (size > 0 && data[0] == 'L')
        ag_fz_sealed_login(a, data + 1, size - 1);
    else
        ag_fz_raw(a, data, size);
    ag_arena_free(a);
    return 0;
}
