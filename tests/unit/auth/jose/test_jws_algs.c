/* Hand-made vectors for every algorithm: keys generated here with OpenSSL, tokens signed here. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jose/jwks.h"
#include "auth/jose/jws.h"
#include "core/log.h"
#include "mint.h"

static void quiet(void)
{
    ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
}

static struct ag_keyset *set_of(const struct ag_mint_key *k, int with_alg)
{
    char *jwk = ag_mint_jwk(k, with_alg, NULL);
    const char *one[] = {jwk};
    char *set = ag_mint_jwks(one, 1);
    struct ag_keyset *ks = NULL;
    struct ag_err err;
    cr_assert_eq(ag_jwks_parse(set, strlen(set), &ks, &err), AG_OK, "%s", err.msg);
    free(set);
    free(jwk);
    return ks;
}

static enum ag_rc check(const char *tok, const struct ag_keyset *ks, unsigned allowed,
                        struct ag_err *err)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_jws *jws;
    enum ag_rc rc = ag_jws_parse(a, tok, strlen(tok), 0, &jws, err);
    if (rc == AG_OK)
        rc = ag_jws_verify(jws, ks, allowed, NULL, err);
    ag_arena_free(a);
    return rc;
}

static enum ag_jws_alg every_alg[] = {
    AG_JWS_RS256, AG_JWS_RS384, AG_JWS_RS512, AG_JWS_PS256, AG_JWS_PS384,
    AG_JWS_PS512, AG_JWS_ES256, AG_JWS_ES384, AG_JWS_ES512, AG_JWS_EDDSA,
    AG_JWS_HS256, AG_JWS_HS384, AG_JWS_HS512,
};

ParameterizedTestParameters(algs, sign_verify_tamper)
{
    return cr_make_param_array(enum ag_jws_alg, every_alg,
                               sizeof(every_alg) / sizeof(every_alg[0]));
}

ParameterizedTest(enum ag_jws_alg *alg, algs, sign_verify_tamper, .init = quiet)
{
    struct ag_mint_key k;
    ag_mint_key_new(&k, *alg, "kid-1");
    const char *name = ag_jws_alg_name((unsigned)*alg);
    for (int with_alg = 0; with_alg <= 1; with_alg++) {
        struct ag_keyset *ks = set_of(&k, with_alg);
        char *tok = ag_mint_token(&k, "{\"sub\":\"x\"}");
        struct ag_err err = {0};
        cr_assert_eq(check(tok, ks, AG_JWS_ALGS_ALL, &err), AG_OK, "%s: %s", name, err.msg);
        /* Not in the allow-list: refused before any key is touched. */
        cr_assert_eq(check(tok, ks, AG_JWS_ALGS_ALL & ~(unsigned)*alg, &err), AG_ECRYPTO);
        /* HS* must be explicitly allowed: the default asymmetric list refuses it. */
        if (*alg & AG_JWS_ALGS_HMAC)
            cr_assert_eq(check(tok, ks, AG_JWS_ALGS_ASYMMETRIC, &err), AG_ECRYPTO);
        /* Flip one bit in the middle of the signature. */
        char *sig = strrchr(tok, '.') + 1;
        size_t sl = strlen(sig);
        sig[sl / 2] = sig[sl / 2] == 'A' ? 'B' : 'A';
        cr_assert_eq(check(tok, ks, AG_JWS_ALGS_ALL, &err), AG_ECRYPTO, "%s tampered", name);
        free(tok);
        ag_jwks_unref(ks);
    }
    /* Another key of the same type under the same kid: does not verify. */
    struct ag_mint_key other;
    ag_mint_key_new(&other, *alg, "kid-1");
    struct ag_keyset *ks = set_of(&other, 1);
    char *tok = ag_mint_token(&k, "{\"sub\":\"x\"}");
    struct ag_err err = {0};
    cr_assert_eq(check(tok, ks, AG_JWS_ALGS_ALL, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "signature does not verify with key kid=kid-1"), "%s", err.msg);
    free(tok);
    ag_jwks_unref(ks);
    ag_mint_key_free(&other);
    ag_mint_key_free(&k);
}

/* A key with alg set verifies only that alg, even within the same family. */
Test(algs, key_alg_pins_the_algorithm, .init = quiet)
{
    struct ag_mint_key k;
    ag_mint_key_new(&k, AG_JWS_RS256, "r");
    struct ag_keyset *ks = set_of(&k, 1); /* alg RS256 */
    char *ps = ag_mint_sign(&k, AG_JWS_PS256, "{\"alg\":\"PS256\",\"kid\":\"r\"}", "x", 1);
    struct ag_err err;
    cr_assert_eq(check(ps, ks, AG_JWS_ALGS_ALL, &err), AG_ECRYPTO);
    ag_jwks_unref(ks);
    ks = set_of(&k, 0); /* no alg: any RSA algorithm */
    cr_assert_eq(check(ps, ks, AG_JWS_ALGS_ALL, &err), AG_OK, "%s", err.msg);
    free(ps);
    ag_jwks_unref(ks);
    ag_mint_key_free(&k);
}

/* ECDSA: JOSE wants raw R||S of exactly 2x the field size; DER or padded forms are refused. */
Test(algs, ecdsa_exact_signature_length, .init = quiet)
{
    struct ag_mint_key k;
    ag_mint_key_new(&k, AG_JWS_ES256, "e");
    struct ag_keyset *ks = set_of(&k, 1);
    char *tok = ag_mint_token(&k, "{}");
    struct ag_err err;
    cr_assert_eq(check(tok, ks, AG_JWS_ALGS_ALL, &err), AG_OK, "%s", err.msg);
    char buf[1024];
    snprintf(buf, sizeof(buf), "%sAA", tok); /* two more zero bytes */
    cr_assert_eq(check(buf, ks, AG_JWS_ALGS_ALL, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "ECDSA signature is 66 bytes, expected 64"), "%s", err.msg);
    free(tok);
    ag_jwks_unref(ks);
    ag_mint_key_free(&k);
}

Test(algs, names_and_lists)
{
    unsigned m;
    struct ag_err err;
    cr_assert_eq(ag_jws_algs_parse("RS256, PS256,ES256", &m, &err), AG_OK);
    cr_assert_eq(m, AG_JWS_RS256 | AG_JWS_PS256 | AG_JWS_ES256);
    char out[128];
    cr_assert_str_eq(ag_jws_algs_format(m, out, sizeof(out)), "RS256,PS256,ES256");
    cr_assert_eq(ag_jws_algs_parse("RS256,none", &m, &err), AG_EINVAL);
    cr_assert_eq(ag_jws_algs_parse("RS1", &m, &err), AG_EINVAL);
    cr_assert_eq(ag_jws_algs_parse("", &m, &err), AG_EINVAL);
    cr_assert_eq(ag_jws_algs_parse("EdDSA HS512", &m, &err), AG_OK);
    cr_assert_eq(m, AG_JWS_EDDSA | AG_JWS_HS512);
    char *names[] = {"ES384", "EdDSA"};
    cr_assert_eq(ag_jws_algs_from_names(names, 2, &m, &err), AG_OK);
    cr_assert_eq(m, AG_JWS_ES384 | AG_JWS_EDDSA);
    cr_assert_eq(ag_jws_algs_from_names(NULL, 0, &m, &err), AG_OK);
    cr_assert_eq(m, AG_JWS_ALGS_ASYMMETRIC);
}
