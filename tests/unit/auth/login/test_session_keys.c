#include <criterion/criterion.h>
#include <string.h>

#include "auth/login/session.h"
#include "auth/login/session_int.h"
#include "core/b64url.h"
#include "test_session_fixture.h"

#define NOW 1700000000LL

static struct ag_session minimal(void)
{
    struct ag_session s = {.username = "op", .allowed = true, .created_at = NOW, .last_seen = NOW};
    return s;
}

static void seal_into(struct ag_arena *a, const struct ag_config *cfg, struct ag_test_jar *jar,
                      const struct ag_session *s, long long now)
{
    struct ag_seal_ctx ctx;
    struct ag_err err;
    cr_assert_eq(ag_seal_ctx_init(&ctx, cfg, AG_SEAL_SESSION, &err), AG_OK, "%s", err.msg);
    struct ag_http_response resp = {0};
    cr_assert_eq(ag_session_cookie_set(a, &ctx, s, NULL, now, &resp, &err), AG_OK, "%s", err.msg);
    ag_test_jar_apply(jar, &resp);
    ag_seal_ctx_wipe(&ctx);
}

static enum ag_rc open_with(struct ag_arena *a, const struct ag_config *cfg,
                            const struct ag_test_jar *jar, long long now, struct ag_session **out,
                            struct ag_err *err)
{
    struct ag_seal_ctx ctx;
    cr_assert_eq(ag_seal_ctx_init(&ctx, cfg, AG_SEAL_SESSION, err), AG_OK);
    struct ag_http_request req = ag_test_jar_request(a, jar);
    enum ag_rc rc = ag_session_cookie_open(a, &ctx, &req, now, out, err);
    ag_seal_ctx_wipe(&ctx);
    return rc;
}

Test(session_keys, foreign_secret_is_rejected)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_test_jar jar = {0};
    struct ag_config ca = ag_test_config(AG_TEST_SECRET_A, NULL);
    struct ag_config cb = ag_test_config(AG_TEST_SECRET_B, NULL);
    struct ag_session s = minimal();
    seal_into(a, &ca, &jar, &s, NOW);
    struct ag_session *got = NULL;
    struct ag_err err;
    cr_assert_eq(open_with(a, &cb, &jar, NOW, &got, &err), AG_ECRYPTO);
    cr_assert_null(got);
    cr_assert(strstr(err.msg, "unknown key") || strstr(err.msg, "authentication"), "%s", err.msg);
    ag_arena_free(a);
}

Test(session_keys, previous_secret_still_opens_after_rotation)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_test_jar jar = {0};
    struct ag_config old = ag_test_config(AG_TEST_SECRET_A, NULL);
    struct ag_session s = minimal();
    seal_into(a, &old, &jar, &s, NOW);
    struct ag_config rotated = ag_test_config(AG_TEST_SECRET_B, AG_TEST_SECRET_A);
    struct ag_session *got = NULL;
    struct ag_err err;
    cr_assert_eq(open_with(a, &rotated, &jar, NOW, &got, &err), AG_OK, "%s", err.msg);
    cr_assert_str_eq(got->username, "op");
    /* Re-sealing uses the new secret: the old config can no longer open it. */
    struct ag_test_jar jar2 = {0};
    seal_into(a, &rotated, &jar2, got, NOW);
    struct ag_config only_new = ag_test_config(AG_TEST_SECRET_B, NULL);
    cr_assert_eq(open_with(a, &only_new, &jar2, NOW, &got, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(open_with(a, &old, &jar2, NOW, &got, &err), AG_ECRYPTO);
    ag_arena_free(a);
}

Test(session_keys, short_secret_is_a_config_error)
{
    struct ag_config c = ag_test_config("too-short", NULL);
    struct ag_seal_ctx ctx;
    struct ag_err err;
    cr_assert_eq(ag_seal_ctx_init(&ctx, &c, AG_SEAL_SESSION, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "session.cookie_secret"), "%s", err.msg);
    struct ag_config p = ag_test_config(AG_TEST_SECRET_A, "short-prev");
    cr_assert_eq(ag_seal_ctx_init(&ctx, &p, AG_SEAL_SESSION, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "previous_cookie_secrets"), "%s", err.msg);
}

Test(session_keys, login_state_key_cannot_open_a_session)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_config c = ag_test_config(AG_TEST_SECRET_A, NULL);
    struct ag_seal_ctx sess, login;
    struct ag_err err;
    cr_assert_eq(ag_seal_ctx_init(&sess, &c, AG_SEAL_SESSION, &err), AG_OK);
    cr_assert_eq(ag_seal_ctx_init(&login, &c, AG_SEAL_LOGIN_STATE, &err), AG_OK);
    cr_assert_neq(memcmp(sess.keys[0].key, login.keys[0].key, AG_SEAL_KEY_LEN), 0);
    struct ag_session s = minimal();
    const char *json = ag_session_serialize(a, &s);
    char *val = NULL;
    cr_assert_eq(
        ag_seal_seal(a, &login, "_airgate#1", (const uint8_t *)json, strlen(json), &val, &err),
        AG_OK);
    struct ag_http_header h = {"Cookie", ag_arena_printf(a, "_airgate=%s", val)};
    struct ag_http_request req = {.method = "GET", .path = "/", .headers = &h, .n_headers = 1};
    struct ag_session *got = NULL;
    cr_assert_eq(ag_session_cookie_open(a, &sess, &req, NOW, &got, &err), AG_ECRYPTO);
    /* The same value under the session key opens (control). */
    cr_assert_eq(
        ag_seal_seal(a, &sess, "_airgate#1", (const uint8_t *)json, strlen(json), &val, &err),
        AG_OK);
    h.value = ag_arena_printf(a, "_airgate=%s", val);
    cr_assert_eq(ag_session_cookie_open(a, &sess, &req, NOW, &got, &err), AG_OK, "%s", err.msg);
    /* A value moved to another cookie name (different AAD) fails. */
    h.value = ag_arena_printf(a, "_airgate_0=%s; _airgate_1=x", val);
    cr_assert_neq(ag_session_cookie_open(a, &sess, &req, NOW, &got, &err), AG_OK);
    ag_arena_free(a);
}

Test(session_keys, lifetime_idle_and_future_sessions_expire)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_config c = ag_test_config(AG_TEST_SECRET_A, NULL);
    c.session.lifetime_s = 3600;
    c.session.idle_timeout_s = 600;
    struct ag_test_jar jar = {0};
    struct ag_session s = minimal();
    s.last_seen = NOW + 3000;
    seal_into(a, &c, &jar, &s, NOW + 3000);
    struct ag_session *got = NULL;
    struct ag_err err;
    cr_assert_eq(open_with(a, &c, &jar, NOW + 3500, &got, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(open_with(a, &c, &jar, NOW + 3600, &got, &err), AG_EEXPIRED);
    cr_assert(strstr(err.msg, "lifetime"), "%s", err.msg);
    cr_assert_null(got);
    /* Idle: last_seen + 600 passed although the lifetime has not. */
    struct ag_test_jar jar2 = {0};
    s.last_seen = NOW;
    seal_into(a, &c, &jar2, &s, NOW);
    cr_assert_eq(open_with(a, &c, &jar2, NOW + 599, &got, &err), AG_OK);
    cr_assert_eq(open_with(a, &c, &jar2, NOW + 600, &got, &err), AG_EEXPIRED);
    cr_assert(strstr(err.msg, "idle"), "%s", err.msg);
    /* Created far in the future (forged clock) is refused. */
    struct ag_test_jar jar3 = {0};
    s.created_at = NOW + 5000;
    s.last_seen = NOW + 5000;
    seal_into(a, &c, &jar3, &s, NOW + 5000);
    cr_assert_eq(open_with(a, &c, &jar3, NOW, &got, &err), AG_EEXPIRED);
    /* Sealing a session whose lifetime is already over fails. */
    struct ag_seal_ctx ctx;
    cr_assert_eq(ag_seal_ctx_init(&ctx, &c, AG_SEAL_SESSION, &err), AG_OK);
    struct ag_http_response resp = {0};
    s.created_at = NOW;
    cr_assert_eq(ag_session_cookie_set(a, &ctx, &s, NULL, NOW + 3600, &resp, &err), AG_EEXPIRED);
    cr_assert_eq(resp.n_headers, 0);
    ag_arena_free(a);
}

Test(session_keys, oversized_sessions_are_refused_both_ways)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_config c = ag_test_config(AG_TEST_SECRET_A, NULL);
    struct ag_seal_ctx ctx;
    struct ag_err err;
    cr_assert_eq(ag_seal_ctx_init(&ctx, &c, AG_SEAL_SESSION, &err), AG_OK);
    struct ag_session s = minimal();
    char *big = ag_arena_alloc(a, 40001);
    memset(big, 'x', 40000);
    big[40000] = '\0';
    s.id_token = big;
    struct ag_http_response resp = {0};
    cr_assert_eq(ag_session_cookie_set(a, &ctx, &s, NULL, NOW, &resp, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "cookies"), "%s", err.msg);
    /* Nine chunks on the way in. */
    char *cookie = ag_arena_alloc(a, 9 * 4000 + 200);
    size_t off = 0;
    for (int i = 0; i <= AG_SESSION_MAX_CHUNKS; i++) {
        off += (size_t)snprintf(cookie + off, 200, "%s_airgate_%d=", i ? "; " : "", i);
        memset(cookie + off, 'A', 3800);
        off += 3800;
        cookie[off] = '\0';
    }
    struct ag_http_header h = {"Cookie", cookie};
    struct ag_http_request req = {.method = "GET", .path = "/", .headers = &h, .n_headers = 1};
    struct ag_session *got = NULL;
    cr_assert_eq(ag_session_cookie_open(a, &ctx, &req, NOW, &got, &err), AG_EINVAL);
    /* One single huge cookie as well. */
    char *huge = ag_arena_alloc(a, 40100);
    memcpy(huge, "_airgate=", 9);
    memset(huge + 9, 'A', 40000);
    huge[40009] = '\0';
    h.value = huge;
    cr_assert_eq(ag_session_cookie_open(a, &ctx, &req, NOW, &got, &err), AG_EINVAL);
    cr_assert_null(got);
    ag_seal_ctx_wipe(&ctx);
    ag_arena_free(a);
}

Test(session_keys, garbage_cookies_never_open)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_config c = ag_test_config(AG_TEST_SECRET_A, NULL);
    struct ag_seal_ctx ctx;
    struct ag_err err;
    cr_assert_eq(ag_seal_ctx_init(&ctx, &c, AG_SEAL_SESSION, &err), AG_OK);
    static const char *fixed[] = {
        "_airgate=",       "_airgate=\"\"",  "_airgate=!!!!", "_airgate=AAAA",
        "_airgate=A",      "_airgate=AQ",    "_airgate=====", "_airgate_0=AAAA; _airgate_1=",
        "_airgate_1=AAAA", "_airgate=%00%00"};
    struct ag_http_header h = {"Cookie", NULL};
    struct ag_http_request req = {.method = "GET", .path = "/", .headers = &h, .n_headers = 1};
    struct ag_session *got = NULL;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        h.value = fixed[i];
        enum ag_rc rc = ag_session_cookie_open(a, &ctx, &req, NOW, &got, &err);
        cr_assert(got == NULL, "%s opened", fixed[i]);
        (void)rc;
    }
    /* A valid version byte and key id with random bodies: bounded random trials. */
    unsigned seed = 12345;
    for (int t = 0; t < 500; t++) {
        uint8_t blob[200];
        size_t n = 30 + (size_t)(t % 150);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            blob[i] = (uint8_t)(seed >> 16);
        }
        blob[0] = AG_SEAL_VERSION;
        blob[1] = ctx.keys[0].id;
        h.value = ag_arena_printf(a, "_airgate=%s", ag_b64url_encode_arena(a, blob, n));
        cr_assert_eq(ag_session_cookie_open(a, &ctx, &req, NOW, &got, &err), AG_ECRYPTO);
        cr_assert_null(got);
    }
    ag_seal_ctx_wipe(&ctx);
    ag_arena_free(a);
}

Test(session_keys, payload_parse_rejects_wrong_shapes)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_session *s = NULL;
    struct ag_err err;
    static const char *bad[] = {"",
                                "[]",
                                "{\"v\":2,\"user\":\"x\",\"c\":1}",
                                "{\"v\":1,\"c\":1}",
                                "{\"v\":1,\"user\":\"\",\"c\":1}",
                                "{\"v\":1,\"user\":5}",
                                "{\"v\":1,\"user\":\"x\",\"idp\":\"admin\"}",
                                "{\"v\":1,\"user\":\"x\",\"roles\":[1]}",
                                "{\"v\":1,\"user\":\"x\",\"c\":\"1\"}",
                                "{\"v\":1,\"user\":\"x\",\"ok\":1}",
                                "{\"v\":1,\"user\":\"x\",\"user\":\"y\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(ag_session_parse(a, bad[i], strlen(bad[i]), &s, &err), AG_EPARSE, "%s",
                     bad[i]);
    const char *ok = "{\"v\":1,\"user\":\"x\",\"c\":1,\"ok\":false}";
    cr_assert_eq(ag_session_parse(a, ok, strlen(ok), &s, &err), AG_OK, "%s", err.msg);
    cr_assert_not(s->allowed);
    cr_assert_eq(s->idp_roles.n, 0);
    ag_arena_free(a);
}

Test(session_keys, clear_removes_every_session_cookie)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_config c = ag_test_config(AG_TEST_SECRET_A, NULL);
    struct ag_seal_ctx ctx;
    struct ag_err err;
    cr_assert_eq(ag_seal_ctx_init(&ctx, &c, AG_SEAL_SESSION, &err), AG_OK);
    struct ag_http_header h = {"Cookie", "_airgate_0=a; other=1; _airgate_1=b; _airgate_2=c"};
    struct ag_http_request req = {.method = "GET", .path = "/", .headers = &h, .n_headers = 1};
    cr_assert(ag_session_cookie_present(a, &ctx, &req));
    struct ag_http_response resp = {0};
    ag_session_cookie_clear(a, &ctx, &req, &resp);
    cr_assert_eq(resp.n_headers, 4);
    const char *want[] = {"_airgate=;", "_airgate_0=;", "_airgate_1=;", "_airgate_2=;"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert(strncmp(resp.headers[i].value, want[i], strlen(want[i])) == 0, "%s",
                  resp.headers[i].value);
        cr_assert(strstr(resp.headers[i].value, "Max-Age=0;"), "%s", resp.headers[i].value);
        cr_assert(strstr(resp.headers[i].value, "Expires=Thu, 01 Jan 1970"));
    }
    ag_seal_ctx_wipe(&ctx);
    ag_arena_free(a);
}
