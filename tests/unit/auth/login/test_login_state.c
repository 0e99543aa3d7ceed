#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <string.h>

#include "auth/login/login_state.h"
#include "core/b64url.h"
#include "test_session_fixture.h"

#define NOW 1700000000LL

struct lenv {
    struct ag_arena *a;
    struct ag_config cfg;
    struct ag_seal_ctx ctx;
    struct ag_test_jar jar;
};

static struct lenv *lenv_new(void)
{
    struct lenv *e = calloc(1, sizeof(*e));
    e->a = ag_arena_new(0);
    e->cfg = ag_test_config(AG_TEST_SECRET_A, NULL);
    struct ag_err err;
    cr_assert_eq(ag_seal_ctx_init(&e->ctx, &e->cfg, AG_SEAL_LOGIN_STATE, &err), AG_OK);
    return e;
}

static void lenv_free(struct lenv *e)
{
    ag_seal_ctx_wipe(&e->ctx);
    ag_arena_free(e->a);
    free(e);
}

static struct ag_login_state *begin(struct lenv *e, const char *rd, long long now)
{
    struct ag_login_state *st = NULL;
    struct ag_err err;
    cr_assert_eq(ag_login_state_new(e->a, rd, now, &st, &err), AG_OK);
    struct ag_http_request req = ag_test_jar_request(e->a, &e->jar);
    struct ag_http_response resp = {0};
    cr_assert_eq(ag_login_state_cookie_set(e->a, &e->ctx, st, &req, now, &resp, &err), AG_OK, "%s",
                 err.msg);
    ag_test_jar_apply(&e->jar, &resp);
    return st;
}

static enum ag_rc finish(struct lenv *e, const char *state, long long now,
                         struct ag_login_state **out, struct ag_err *err)
{
    struct ag_http_request req = ag_test_jar_request(e->a, &e->jar);
    struct ag_http_response resp = {0};
    enum ag_rc rc = ag_login_state_cookie_take(e->a, &e->ctx, &req, state, now, &resp, out, err);
    ag_test_jar_apply(&e->jar, &resp);
    return rc;
}

Test(login_state, fresh_values_are_random_and_long)
{
    struct lenv *e = lenv_new();
    struct ag_login_state *a = begin(e, "/dags", NOW);
    struct ag_login_state *b = begin(e, "/dags", NOW);
    cr_assert_eq(strlen(a->state), 43);
    cr_assert_eq(strlen(a->nonce), 43);
    cr_assert_eq(strlen(a->verifier), 43);
    cr_assert_str_neq(a->state, b->state);
    cr_assert_str_neq(a->nonce, b->nonce);
    cr_assert_str_neq(a->verifier, b->verifier);
    cr_assert_str_neq(a->state, a->nonce);
    cr_assert_str_eq(a->rd, "/dags");
    lenv_free(e);
}

Test(login_state, pkce_s256_matches_rfc7636_example)
{
    struct ag_arena *a = ag_arena_new(0);
    /* RFC 7636 appendix B. */
    cr_assert_str_eq(ag_login_state_challenge(a, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                     "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    ag_arena_free(a);
}

Test(login_state, cookie_round_trip_and_single_use)
{
    struct lenv *e = lenv_new();
    struct ag_login_state *st = begin(e, "/home?x=1", NOW);
    cr_assert_eq(e->jar.n, 1);
    char want[128];
    snprintf(want, sizeof(want), "_airgate_login_%.16s", st->state);
    cr_assert_str_eq(e->jar.name[0], want);
    cr_assert_null(strstr(e->jar.value[0], st->verifier));
    struct ag_login_state *got = NULL;
    struct ag_err err;
    cr_assert_eq(finish(e, st->state, NOW + 30, &got, &err), AG_OK, "%s", err.msg);
    cr_assert_str_eq(got->nonce, st->nonce);
    cr_assert_str_eq(got->verifier, st->verifier);
    cr_assert_str_eq(got->rd, "/home?x=1");
    cr_assert_eq(got->created_at, NOW);
    /* The cookie was cleared: replaying the callback finds nothing. */
    cr_assert_eq(e->jar.n, 0);
    cr_assert_eq(finish(e, st->state, NOW + 31, &got, &err), AG_EINVAL);
    cr_assert_null(got);
    lenv_free(e);
}

Test(login_state, cookie_attributes)
{
    struct lenv *e = lenv_new();
    struct ag_login_state *st = NULL;
    struct ag_err err;
    cr_assert_eq(ag_login_state_new(e->a, "/", NOW, &st, &err), AG_OK);
    struct ag_http_response resp = {0};
    cr_assert_eq(ag_login_state_cookie_set(e->a, &e->ctx, st, NULL, NOW, &resp, &err), AG_OK);
    cr_assert_eq(resp.n_headers, 1);
    const char *v = resp.headers[0].value;
    cr_assert(strstr(v, "; Path=/;") && strstr(v, "; Max-Age=600;") && strstr(v, "; HttpOnly") &&
                  strstr(v, "; Secure") && strstr(v, "; SameSite=Lax"),
              "%s", v);
    lenv_free(e);
}

Test(login_state, concurrent_tabs_each_complete)
{
    struct lenv *e = lenv_new();
    struct ag_login_state *t1 = begin(e, "/a", NOW);
    struct ag_login_state *t2 = begin(e, "/b", NOW + 1);
    struct ag_login_state *t3 = begin(e, "/c", NOW + 2);
    cr_assert_eq(e->jar.n, 3);
    struct ag_login_state *got = NULL;
    struct ag_err err;
    /* Finish out of order. */
    cr_assert_eq(finish(e, t2->state, NOW + 5, &got, &err), AG_OK, "%s", err.msg);
    cr_assert_str_eq(got->rd, "/b");
    cr_assert_eq(finish(e, t3->state, NOW + 6, &got, &err), AG_OK, "%s", err.msg);
    cr_assert_str_eq(got->rd, "/c");
    cr_assert_eq(finish(e, t1->state, NOW + 7, &got, &err), AG_OK, "%s", err.msg);
    cr_assert_str_eq(got->rd, "/a");
    cr_assert_eq(e->jar.n, 0);
    lenv_free(e);
}

Test(login_state, the_set_is_bounded_oldest_evicted)
{
    struct lenv *e = lenv_new();
    struct ag_login_state *st[7];
    for (int i = 0; i < 7; i++)
        st[i] = begin(e, "/", NOW + i);
    cr_assert_eq(e->jar.n, AG_LOGIN_STATE_MAX);
    struct ag_login_state *got = NULL;
    struct ag_err err;
    for (int i = 0; i < 7 - AG_LOGIN_STATE_MAX; i++)
        cr_assert_eq(finish(e, st[i]->state, NOW + 10, &got, &err), AG_EINVAL, "tab %d", i);
    for (int i = 7 - AG_LOGIN_STATE_MAX; i < 7; i++)
        cr_assert_eq(finish(e, st[i]->state, NOW + 10, &got, &err), AG_OK, "tab %d: %s", i,
                     err.msg);
    lenv_free(e);
}

Test(login_state, expired_and_garbage_cookies_are_evicted_first)
{
    struct lenv *e = lenv_new();
    struct ag_login_state *old = begin(e, "/", NOW);
    /* A junk cookie with a plausible name. */
    cr_assert_lt(e->jar.n, AG_JAR_MAX);
    snprintf(e->jar.name[e->jar.n], sizeof(e->jar.name[0]), "_airgate_login_AAAAAAAAAAAAAAAA");
    snprintf(e->jar.value[e->jar.n], sizeof(e->jar.value[0]), "garbage");
    e->jar.n++;
    struct ag_login_state *fresh = begin(e, "/", NOW + AG_LOGIN_STATE_TTL_S + 5);
    cr_assert_eq(e->jar.n, 1);
    struct ag_login_state *got = NULL;
    struct ag_err err;
    cr_assert_eq(finish(e, old->state, NOW + 700, &got, &err), AG_EINVAL);
    cr_assert_eq(finish(e, fresh->state, NOW + 700, &got, &err), AG_OK, "%s", err.msg);
    lenv_free(e);
}
