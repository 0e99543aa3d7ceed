/* Key set parsing: which keys are skipped (and why) and which sets are refused whole. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "auth/jose/jwks.h"
#include "core/log.h"
#include "mint.h"

static void quiet(void)
{
    ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
}

TestSuite(jwks, .init = quiet);

static enum ag_rc parse(const char *s, struct ag_keyset **ks, struct ag_err *err)
{
    *ks = NULL;
    return ag_jwks_parse(s, strlen(s), ks, err);
}

/* One key plus a good RS256 key (so the set as a whole is usable); returns the skip count. */
static size_t skipped_with(const char *bad_jwk)
{
    static struct ag_mint_key good;
    static int have;
    if (!have) {
        ag_mint_key_new(&good, AG_JWS_ES256, "good");
        have = 1;
    }
    char *g = ag_mint_jwk(&good, 1, NULL);
    const char *two[] = {g, bad_jwk};
    char *set = ag_mint_jwks(two, 2);
    struct ag_keyset *ks;
    struct ag_err err;
    cr_assert_eq(parse(set, &ks, &err), AG_OK, "%s", err.msg);
    size_t s = ag_jwks_skipped(ks);
    cr_assert_eq(ag_jwks_count(ks) + s, 2);
    ag_jwks_unref(ks);
    free(set);
    free(g);
    return s;
}

Test(jwks, rsa_1024_skipped)
{
    struct ag_mint_key k;
    ag_mint_key_new_rsa(&k, 1024, "small");
    char *j = ag_mint_jwk(&k, 1, NULL);
    cr_assert_eq(skipped_with(j), 1);
    struct ag_jwk out;
    struct ag_err err;
    json_t *o = json_loads(j, 0, NULL);
    cr_assert_eq(ag_jwk_from_json(o, &out, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "1024 bits is too small"), "%s", err.msg);
    json_decref(o);
    free(j);
    ag_mint_key_free(&k);
}

Test(jwks, rsa_2048_kept_and_usage_rules)
{
    struct ag_mint_key k;
    ag_mint_key_new(&k, AG_JWS_RS256, "r");
    const struct {
        const char *extra;
        size_t skipped;
    } cases[] = {
        {NULL, 0},
        {"\"use\":\"sig\"", 0},
        {"\"use\":\"enc\"", 1},
        {"\"key_ops\":[\"verify\"]", 0},
        {"\"key_ops\":[\"sign\",\"verify\"]", 0},
        {"\"key_ops\":[\"encrypt\"]", 1},
        {"\"key_ops\":[]", 1},
        {"\"use\":7", 1},
        {"\"d\":\"AQAB\"", 1}, /* private material in a verification set */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *j = ag_mint_jwk(&k, 1, cases[i].extra);
        cr_assert_eq(skipped_with(j), cases[i].skipped, "case %s", cases[i].extra);
        free(j);
    }
    ag_mint_key_free(&k);
}

Test(jwks, alg_must_fit_key)
{
    struct ag_mint_key k;
    ag_mint_key_new(&k, AG_JWS_ES256, "e");
    char *j = ag_mint_jwk(&k, 0, "\"alg\":\"ES384\"");
    cr_assert_eq(skipped_with(j), 1);
    free(j);
    j = ag_mint_jwk(&k, 0, "\"alg\":\"RS256\"");
    cr_assert_eq(skipped_with(j), 1);
    free(j);
    j = ag_mint_jwk(&k, 0, "\"alg\":\"none\"");
    cr_assert_eq(skipped_with(j), 1);
    free(j);
    j = ag_mint_jwk(&k, 0, "\"alg\":\"A256GCM\"");
    cr_assert_eq(skipped_with(j), 1);
    free(j);
    ag_mint_key_free(&k);
}

Test(jwks, ec_point_not_on_curve)
{
    struct ag_mint_key k;
    ag_mint_key_new(&k, AG_JWS_ES256, "e");
    char *j = ag_mint_jwk(&k, 1, NULL);
    json_t *o = json_loads(j, 0, NULL);
    /* Change y: the point leaves the curve. */
    char y[64];
    snprintf(y, sizeof(y), "%s", json_string_value(json_object_get(o, "y")));
    y[5] = y[5] == 'A' ? 'B' : 'A';
    json_object_set_new(o, "y", json_string(y));
    struct ag_jwk out;
    struct ag_err err;
    cr_assert_eq(ag_jwk_from_json(o, &out, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "not on curve"), "%s", err.msg);
    /* Wrong coordinate length (a P-256 point labelled P-384). */
    json_object_set_new(o, "crv", json_string("P-384"));
    cr_assert_eq(ag_jwk_from_json(o, &out, &err), AG_EINVAL);
    json_decref(o);
    free(j);
    ag_mint_key_free(&k);
}

Test(jwks, unknown_types_skipped)
{
    cr_assert_eq(skipped_with("{\"kty\":\"XYZ\",\"kid\":\"x\"}"), 1);
    cr_assert_eq(skipped_with("{\"kid\":\"x\"}"), 1);
    cr_assert_eq(skipped_with("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\",\"kid\":\"x\"}"),
                 1);
    cr_assert_eq(skipped_with("{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"}"),
                 1);
    cr_assert_eq(skipped_with("{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}"), 1);
    cr_assert_eq(skipped_with("{\"kty\":\"RSA\",\"n\":\"AQAB=\",\"e\":\"AQAB\"}"), 1);
    cr_assert_eq(skipped_with("\"not an object\""), 1);
}

Test(jwks, whole_set_refused)
{
    struct ag_keyset *ks;
    struct ag_err err;
    cr_assert_eq(parse("", &ks, &err), AG_EPARSE);
    cr_assert_eq(parse("{\"keys\":", &ks, &err), AG_EPARSE);
    cr_assert_eq(parse("[]", &ks, &err), AG_EPARSE);
    cr_assert_eq(parse("{\"keys\":{}}", &ks, &err), AG_EPARSE);
    cr_assert_eq(parse("{\"keys\":[],\"keys\":[]}", &ks, &err), AG_EPARSE); /* duplicate */
    cr_assert_eq(parse("{\"keys\":[]}", &ks, &err), AG_EINVAL);             /* nothing usable */
    cr_assert_eq(parse("{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}", &ks, &err), AG_EINVAL);
    cr_assert_null(ks);
}

Test(jwks, duplicate_kid_and_mixed_sets_refused)
{
    struct ag_mint_key a, b, h;
    ag_mint_key_new(&a, AG_JWS_ES256, "same");
    ag_mint_key_new(&b, AG_JWS_ES256, "same");
    ag_mint_key_new(&h, AG_JWS_HS256, "hmac");
    char *ja = ag_mint_jwk(&a, 1, NULL), *jb = ag_mint_jwk(&b, 1, NULL),
         *jh = ag_mint_jwk(&h, 1, NULL);
    const char *dup[] = {ja, jb};
    char *s = ag_mint_jwks(dup, 2);
    struct ag_keyset *ks;
    struct ag_err err;
    cr_assert_eq(parse(s, &ks, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "kid=same"), "%s", err.msg);
    free(s);
    const char *mixed[] = {ja, jh};
    s = ag_mint_jwks(mixed, 2);
    cr_assert_eq(parse(s, &ks, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "mixes"), "%s", err.msg);
    free(s);
    /* An encryption key may share a signing key's kid (RFC 7517 4.5). */
    char *jenc = ag_mint_jwk(&b, 0, "\"use\":\"enc\"");
    const char *ok[] = {ja, jenc};
    s = ag_mint_jwks(ok, 2);
    cr_assert_eq(parse(s, &ks, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(ag_jwks_count(ks), 1);
    cr_assert_not_null(ag_jwks_find_kid(ks, "same"));
    cr_assert_null(ag_jwks_find_kid(ks, "other"));
    ag_jwks_unref(ks);
    free(s);
    free(jenc);
    free(ja);
    free(jb);
    free(jh);
    ag_mint_key_free(&a);
    ag_mint_key_free(&b);
    ag_mint_key_free(&h);
}

Test(jwks, limits)
{
    struct ag_keyset *ks;
    struct ag_err err;
    size_t n = AG_JWKS_MAX_BYTES + 10;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    memcpy(big, "{\"keys\":[]}", 11);
    big[n] = '\0';
    cr_assert_eq(ag_jwks_parse(big, n, &ks, &err), AG_EPARSE);
    free(big);
    /* More keys than allowed. */
    size_t cap = 64 + (AG_JWKS_MAX_KEYS + 1) * 4;
    char *many = malloc(cap);
    size_t o = (size_t)snprintf(many, cap, "{\"keys\":[");
    for (size_t i = 0; i <= AG_JWKS_MAX_KEYS; i++)
        o += (size_t)snprintf(many + o, cap - o, "%s{}", i ? "," : "");
    snprintf(many + o, cap - o, "]}");
    cr_assert_eq(parse(many, &ks, &err), AG_EPARSE);
    free(many);
}

Test(jwks, refcount_and_digest)
{
    struct ag_mint_key k;
    ag_mint_key_new(&k, AG_JWS_EDDSA, "ed");
    char *j = ag_mint_jwk(&k, 1, NULL);
    const char *one[] = {j};
    char *s = ag_mint_jwks(one, 1);
    struct ag_keyset *a, *b;
    struct ag_err err;
    cr_assert_eq(parse(s, &a, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(parse(s, &b, &err), AG_OK);
    cr_assert_eq(memcmp(ag_jwks_digest(a), ag_jwks_digest(b), 32), 0);
    cr_assert_eq(ag_jwks_ref(a), a);
    ag_jwks_unref(a);
    cr_assert_eq(ag_jwks_key(a, 0)->kty, AG_JWK_OKP); /* still alive: one reference left */
    ag_jwks_unref(a);
    ag_jwks_unref(b);
    ag_jwks_unref(NULL);
    free(s);
    free(j);
    ag_mint_key_free(&k);
}

Test(jwks, load_file_errors)
{
    struct ag_keyset *ks;
    struct ag_err err;
    cr_assert_eq(ag_jwks_load_file("/nonexistent/jwks.json", &ks, &err), AG_EIO);
}
