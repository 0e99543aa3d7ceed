#include <criterion/criterion.h>
#include <string.h>

#include "auth/login/login_state.h"
#include "test_session_fixture.h"

#define NOW 1700000000LL

static struct ag_arena *A;
static struct ag_config CFG;
static struct ag_seal_ctx CTX;

static void setup(void)
{
    A = ag_arena_new(0);
    CFG = ag_test_config(AG_TEST_SECRET_A, NULL);
    struct ag_err err;
    cr_assert_eq(ag_seal_ctx_init(&CTX, &CFG, AG_SEAL_LOGIN_STATE, &err), AG_OK);
}

static void teardown(void)
{
    ag_seal_ctx_wipe(&CTX);
    ag_arena_free(A);
}

static struct ag_login_state *begin(struct ag_test_jar *jar, const struct ag_seal_ctx *ctx)
{
    struct ag_login_state *st = NULL;
    struct ag_err err;
    cr_assert_eq(ag_login_state_new(A, "/x", NOW, &st, &err), AG_OK);
    struct ag_http_response resp = {0};
    cr_assert_eq(ag_login_state_cookie_set(A, ctx, st, NULL, NOW, &resp, &err), AG_OK);
    ag_test_jar_apply(jar, &resp);
    return st;
}

static enum ag_rc take(struct ag_test_jar *jar, const char *state, long long now,
                       struct ag_err *err)
{
    struct ag_http_request req = ag_test_jar_request(A, jar);
    struct ag_http_response resp = {0};
    struct ag_login_state *got = NULL;
    enum ag_rc rc = ag_login_state_cookie_take(A, &CTX, &req, state, now, &resp, &got, err);
    cr_assert((rc == AG_OK) == (got != NULL));
    return rc;
}

TestSuite(login_state_attacks, .init = setup, .fini = teardown);

Test(login_state_attacks, state_with_same_prefix_but_different_tail_is_denied)
{
    struct ag_test_jar jar = {0};
    struct ag_login_state *st = begin(&jar, &CTX);
    char forged[64];
    snprintf(forged, sizeof(forged), "%s", st->state);
    forged[40] = forged[40] == 'A' ? 'B' : 'A';
    struct ag_err err;
    cr_assert_eq(take(&jar, forged, NOW + 1, &err), AG_EDENIED, "%s", err.msg);
}

Test(login_state_attacks, missing_short_or_odd_state_is_invalid)
{
    struct ag_test_jar jar = {0};
    (void)begin(&jar, &CTX);
    struct ag_err err;
    cr_assert_eq(take(&jar, NULL, NOW, &err), AG_EINVAL);
    cr_assert_eq(take(&jar, "", NOW, &err), AG_EINVAL);
    cr_assert_eq(take(&jar, "abc", NOW, &err), AG_EINVAL);
    cr_assert_eq(take(&jar, "AAAAAAAAAAAAAAAA;x=1AAAAAAAAAAAAAAAAAAAAAAAAA", NOW, &err), AG_EINVAL);
    cr_assert_eq(take(&jar, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NOW, &err), AG_EINVAL);
}

Test(login_state_attacks, expired_attempt_is_refused)
{
    struct ag_test_jar jar = {0};
    struct ag_login_state *st = begin(&jar, &CTX);
    struct ag_err err;
    cr_assert_eq(take(&jar, st->state, NOW + AG_LOGIN_STATE_TTL_S + 1, &err), AG_EEXPIRED);
}

Test(login_state_attacks, tampered_and_foreign_cookies_are_refused)
{
    struct ag_test_jar jar = {0};
    struct ag_login_state *st = begin(&jar, &CTX);
    struct ag_test_jar orig = jar;
    struct ag_err err;
    size_t len = strlen(jar.value[0]);
    for (size_t i = 0; i < len; i += 3) {
        jar = orig;
        jar.value[0][i] = jar.value[0][i] == 'A' ? 'B' : 'A';
        cr_assert_neq(take(&jar, st->state, NOW, &err), AG_OK, "flip at %zu", i);
    }
    /* Sealed by a replica with another secret. */
    struct ag_config other = ag_test_config(AG_TEST_SECRET_B, NULL);
    struct ag_seal_ctx octx;
    cr_assert_eq(ag_seal_ctx_init(&octx, &other, AG_SEAL_LOGIN_STATE, &err), AG_OK);
    struct ag_test_jar jar2 = {0};
    struct ag_login_state *st2 = begin(&jar2, &octx);
    cr_assert_eq(take(&jar2, st2->state, NOW, &err), AG_ECRYPTO);
    /* A session cookie's key cannot have sealed it either. */
    struct ag_seal_ctx sctx;
    cr_assert_eq(ag_seal_ctx_init(&sctx, &CFG, AG_SEAL_SESSION, &err), AG_OK);
    struct ag_test_jar jar3 = {0};
    struct ag_login_state *st3 = begin(&jar3, &sctx);
    cr_assert_eq(take(&jar3, st3->state, NOW, &err), AG_ECRYPTO);
    ag_seal_ctx_wipe(&octx);
    ag_seal_ctx_wipe(&sctx);
}

Test(login_state_attacks, cookie_of_another_state_under_this_name_is_refused)
{
    /* Copy tab 1's value under tab 2's cookie name: the AAD (the name) no longer matches. */
    struct ag_test_jar jar = {0};
    (void)begin(&jar, &CTX);
    struct ag_login_state *t2 = begin(&jar, &CTX);
    cr_assert_eq(jar.n, 2);
    char n2[64];
    snprintf(n2, sizeof(n2), "_airgate_login_%.16s", t2->state);
    cr_assert_str_eq(jar.name[1], n2);
    memcpy(jar.value[1], jar.value[0], sizeof(jar.value[0]));
    struct ag_err err;
    cr_assert_eq(take(&jar, t2->state, NOW, &err), AG_ECRYPTO, "%s", err.msg);
}

Test(login_state_attacks, unsafe_rd_is_replaced_at_creation)
{
    struct ag_login_state *st = NULL;
    struct ag_err err;
    cr_assert_eq(ag_login_state_new(A, "//evil.example", NOW, &st, &err), AG_OK);
    cr_assert_str_eq(st->rd, "/");
    cr_assert_eq(ag_login_state_new(A, NULL, NOW, &st, &err), AG_OK);
    cr_assert_str_eq(st->rd, "/");
}
