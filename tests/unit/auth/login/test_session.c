#include <criterion/criterion.h>
#include <string.h>

#include "auth/login/session.h"
#include "auth/login/session_int.h"
#include "core/secret.h"
#include "test_session_fixture.h"

#define NOW 1700000000LL

static char *roles_a[] = {"airflow_admin", "offline_access"};
static char *roles_b[] = {"Admin"};

static struct ag_session sample(struct ag_arena *a, size_t id_token_len)
{
    char *idt = ag_arena_alloc(a, id_token_len + 1);
    for (size_t i = 0; i < id_token_len; i++)
        idt[i] = "abcdefghijklmnopqrstuvwxyz0123456789-_."[i % 39];
    idt[id_token_len] = '\0';
    struct ag_session s = {
        .issuer = "https://sso.example.com/realms/demo",
        .subject = "f1e2d3",
        .username = "admin",
        .email = "admin@example.com",
        .first_name = "Ada <b>",
        .last_name = "Lovelace \"q\"",
        .idp_roles = {2, roles_a},
        .airflow_roles = {1, roles_b},
        .allowed = true,
        .id_token = idt,
        .refresh_token = "refresh-123",
        .access_expires_at = NOW + 300,
        .refresh_expires_at = NOW + 1800,
        .created_at = NOW,
        .last_seen = NOW,
    };
    return s;
}

struct env {
    struct ag_arena *a;
    struct ag_config cfg;
    struct ag_seal_ctx ctx;
    struct ag_test_jar jar;
};

static struct env *env_new(const char *secret, const char *prev)
{
    struct env *e = calloc(1, sizeof(*e));
    e->a = ag_arena_new(0);
    e->cfg = ag_test_config(secret, prev);
    struct ag_err err;
    cr_assert_eq(ag_seal_ctx_init(&e->ctx, &e->cfg, AG_SEAL_SESSION, &err), AG_OK, "%s", err.msg);
    return e;
}

static void env_free(struct env *e)
{
    ag_seal_ctx_wipe(&e->ctx);
    ag_arena_free(e->a);
    free(e);
}

static void set_session(struct env *e, const struct ag_session *s, long long now)
{
    struct ag_http_response resp = {0};
    struct ag_http_request req = ag_test_jar_request(e->a, &e->jar);
    struct ag_err err;
    cr_assert_eq(ag_session_cookie_set(e->a, &e->ctx, s, &req, now, &resp, &err), AG_OK, "%s",
                 err.msg);
    ag_test_jar_apply(&e->jar, &resp);
}

static enum ag_rc open_session(struct env *e, long long now, struct ag_session **out,
                               struct ag_err *err)
{
    struct ag_http_request req = ag_test_jar_request(e->a, &e->jar);
    return ag_session_cookie_open(e->a, &e->ctx, &req, now, out, err);
}

Test(session, round_trip_single_cookie_with_attributes)
{
    struct env *e = env_new(AG_TEST_SECRET_A, NULL);
    struct ag_session s = sample(e->a, 200);
    struct ag_http_response resp = {0};
    struct ag_err err;
    cr_assert_eq(ag_session_cookie_set(e->a, &e->ctx, &s, NULL, NOW + 100, &resp, &err), AG_OK);
    cr_assert_eq(resp.n_headers, 1);
    const char *sc = resp.headers[0].value;
    cr_assert(strncmp(sc, "_airgate=", 9) == 0, "%s", sc);
    cr_assert(strstr(sc, "; Path=/;"), "%s", sc);
    cr_assert(strstr(sc, "; HttpOnly"), "%s", sc);
    cr_assert(strstr(sc, "; Secure"), "%s", sc);
    cr_assert(strstr(sc, "; SameSite=Lax"), "%s", sc);
    cr_assert(strstr(sc, "; Max-Age=86300;"), "%s", sc);
    cr_assert_null(strstr(sc, "Domain="));
    /* Nothing of the plaintext is visible in the cookie. */
    cr_assert_null(strstr(sc, "admin"));
    cr_assert_null(strstr(sc, "refresh-123"));
    ag_test_jar_apply(&e->jar, &resp);

    struct ag_session *got = NULL;
    cr_assert_eq(open_session(e, NOW + 200, &got, &err), AG_OK, "%s", err.msg);
    cr_assert_not_null(got);
    cr_assert_str_eq(got->username, "admin");
    cr_assert_str_eq(got->issuer, s.issuer);
    cr_assert_str_eq(got->subject, "f1e2d3");
    cr_assert_str_eq(got->email, "admin@example.com");
    cr_assert_str_eq(got->first_name, "Ada <b>");
    cr_assert_str_eq(got->last_name, "Lovelace \"q\"");
    cr_assert_eq(got->idp_roles.n, 2);
    cr_assert_str_eq(got->idp_roles.items[1], "offline_access");
    cr_assert_eq(got->airflow_roles.n, 1);
    cr_assert_str_eq(got->airflow_roles.items[0], "Admin");
    cr_assert(got->allowed);
    cr_assert_str_eq(got->id_token, s.id_token);
    cr_assert_str_eq(got->refresh_token, "refresh-123");
    cr_assert_eq(got->access_expires_at, NOW + 300);
    cr_assert_eq(got->refresh_expires_at, NOW + 1800);
    cr_assert_eq(got->created_at, NOW);
    cr_assert_eq(got->last_seen, NOW);
    env_free(e);
}

Test(session, no_cookie_is_ok_and_null)
{
    struct env *e = env_new(AG_TEST_SECRET_A, NULL);
    struct ag_session *got = (struct ag_session *)1;
    struct ag_err err;
    cr_assert_eq(open_session(e, NOW, &got, &err), AG_OK);
    cr_assert_null(got);
    struct ag_http_request req = ag_test_jar_request(e->a, &e->jar);
    cr_assert_not(ag_session_cookie_present(e->a, &e->ctx, &req));
    env_free(e);
}

Test(session, http_public_url_has_no_secure_and_domain_is_set)
{
    struct env *e = env_new(AG_TEST_SECRET_A, NULL);
    e->cfg.public_https = false;
    e->cfg.session.cookie_domain = (char *)".example.com";
    struct ag_err err;
    cr_assert_eq(ag_seal_ctx_init(&e->ctx, &e->cfg, AG_SEAL_SESSION, &err), AG_OK);
    struct ag_session s = sample(e->a, 10);
    struct ag_http_response resp = {0};
    cr_assert_eq(ag_session_cookie_set(e->a, &e->ctx, &s, NULL, NOW, &resp, &err), AG_OK);
    cr_assert_null(strstr(resp.headers[0].value, "Secure"));
    cr_assert(strstr(resp.headers[0].value, "; Domain=.example.com;"), "%s", resp.headers[0].value);
    env_free(e);
}

Test(session, large_session_is_chunked_and_reassembled)
{
    struct env *e = env_new(AG_TEST_SECRET_A, NULL);
    struct ag_session s = sample(e->a, 7000);
    set_session(e, &s, NOW);
    cr_assert_null(ag_test_jar_get(&e->jar, "_airgate"));
    cr_assert_not_null(ag_test_jar_get(&e->jar, "_airgate_0"));
    cr_assert_not_null(ag_test_jar_get(&e->jar, "_airgate_1"));
    cr_assert_not_null(ag_test_jar_get(&e->jar, "_airgate_2"));
    cr_assert_null(ag_test_jar_get(&e->jar, "_airgate_3"));
    for (size_t i = 0; i < e->jar.n; i++)
        cr_assert_leq(strlen(e->jar.value[i]), AG_SESSION_CHUNK_LEN);
    struct ag_session *got = NULL;
    struct ag_err err;
    cr_assert_eq(open_session(e, NOW + 1, &got, &err), AG_OK, "%s", err.msg);
    cr_assert_str_eq(got->id_token, s.id_token);
    env_free(e);
}

Test(session, shrinking_session_clears_stale_chunks)
{
    struct env *e = env_new(AG_TEST_SECRET_A, NULL);
    struct ag_session big = sample(e->a, 7000);
    set_session(e, &big, NOW);
    cr_assert_eq(e->jar.n, 3);
    struct ag_session small = sample(e->a, 50);
    set_session(e, &small, NOW);
    cr_assert_eq(e->jar.n, 1, "stale chunks left: %zu cookies", e->jar.n);
    cr_assert_not_null(ag_test_jar_get(&e->jar, "_airgate"));
    struct ag_session *got = NULL;
    struct ag_err err;
    cr_assert_eq(open_session(e, NOW, &got, &err), AG_OK, "%s", err.msg);
    cr_assert_str_eq(got->id_token, small.id_token);
    /* And growing again from one cookie to two chunks removes the single cookie. */
    struct ag_session mid = sample(e->a, 5000);
    set_session(e, &mid, NOW);
    cr_assert_eq(e->jar.n, 2);
    cr_assert_null(ag_test_jar_get(&e->jar, "_airgate"));
    cr_assert_eq(open_session(e, NOW, &got, &err), AG_OK, "%s", err.msg);
    cr_assert_str_eq(got->id_token, mid.id_token);
    /* From three chunks to two: _airgate_2 must go. */
    set_session(e, &big, NOW);
    set_session(e, &mid, NOW);
    cr_assert_eq(e->jar.n, 2);
    cr_assert_null(ag_test_jar_get(&e->jar, "_airgate_2"));
    env_free(e);
}

Test(session, tampered_value_is_rejected)
{
    struct env *e = env_new(AG_TEST_SECRET_A, NULL);
    struct ag_session s = sample(e->a, 100);
    set_session(e, &s, NOW);
    char *v = e->jar.value[0];
    size_t len = strlen(v);
    struct ag_err err;
    struct ag_session *got = NULL;
    /* Flip every position in turn (bounded: the value is a few hundred characters). */
    for (size_t i = 0; i < len; i++) {
        char orig = v[i];
        v[i] = orig == 'A' ? 'B' : 'A';
        enum ag_rc rc = open_session(e, NOW, &got, &err);
        cr_assert_neq(rc, AG_OK, "flip at %zu accepted", i);
        cr_assert_null(got);
        v[i] = orig;
    }
    cr_assert_eq(open_session(e, NOW, &got, &err), AG_OK);
    env_free(e);
}

Test(session, truncated_value_is_rejected)
{
    struct env *e = env_new(AG_TEST_SECRET_A, NULL);
    struct ag_session s = sample(e->a, 100);
    set_session(e, &s, NOW);
    char *v = e->jar.value[0];
    size_t len = strlen(v);
    struct ag_err err;
    struct ag_session *got = NULL;
    for (size_t cut = 1; cut < len; cut += 7) {
        char saved = v[cut];
        v[cut] = '\0';
        cr_assert_neq(open_session(e, NOW, &got, &err), AG_OK, "truncation to %zu accepted", cut);
        v[cut] = saved;
    }
    v[4] = '\0';
    cr_assert_eq(open_session(e, NOW, &got, &err), AG_EPARSE);
    env_free(e);
}

Test(session, reordered_or_missing_chunks_are_rejected)
{
    struct env *e = env_new(AG_TEST_SECRET_A, NULL);
    struct ag_session s = sample(e->a, 7000);
    set_session(e, &s, NOW);
    cr_assert_eq(e->jar.n, 3);
    struct ag_test_jar orig = e->jar;
    struct ag_err err;
    struct ag_session *got = NULL;
    /* Swap the values of chunks 0 and 1. */
    char *v0 = (char *)ag_test_jar_get(&e->jar, "_airgate_0");
    char *v1 = (char *)ag_test_jar_get(&e->jar, "_airgate_1");
    char tmp[8192];
    memcpy(tmp, v0, sizeof(tmp));
    memcpy(v0, v1, sizeof(tmp));
    memcpy(v1, tmp, sizeof(tmp));
    cr_assert_eq(open_session(e, NOW, &got, &err), AG_ECRYPTO, "%s", err.msg);
    /* Drop the last chunk: the chunk count is authenticated. */
    e->jar = orig;
    for (size_t i = 0; i < e->jar.n; i++)
        if (strcmp(e->jar.name[i], "_airgate_2") == 0)
            snprintf(e->jar.name[i], sizeof(e->jar.name[i]), "_unrelated");
    cr_assert_neq(open_session(e, NOW, &got, &err), AG_OK);
    cr_assert_null(got);
    /* A lone chunk 0 is no session either. */
    e->jar = orig;
    for (size_t i = 0; i < e->jar.n; i++)
        if (strcmp(e->jar.name[i], "_airgate_0") != 0)
            e->jar.name[i][0] = 'x';
    cr_assert_eq(open_session(e, NOW, &got, &err), AG_EPARSE);
    env_free(e);
}
