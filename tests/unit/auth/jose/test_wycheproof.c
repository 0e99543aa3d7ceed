/* Every Wycheproof JOSE vector (tests/data/wycheproof, Apache-2.0) against our JWS engine:
 * the group's public key set (or, for HMAC groups, its private set) parsed with ag_jwks_parse,
 * then ag_jws_parse + ag_jws_verify with every algorithm allowed (HS* included, as the vectors
 * exercise HMAC). A key set we refuse makes every vector of its group "invalid". */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jose/jwks.h"
#include "auth/jose/jws.h"
#include "core/log.h"

/* Vectors where we do not give Wycheproof's answer, each with the reason. Only the first kind
 * is the deviation the project tolerates; the other two are contradictions inside the data set
 * that no implementation can satisfy, and the test proves each contradiction below. */
enum ag_dev_kind { AG_DEV_STRICT_B64, AG_DEV_IDENTICAL_TO_VALID, AG_DEV_KEY_ALG_CONFLICT };

static const struct {
    const char *file;
    int tc_id;
    enum ag_dev_kind kind;
    const char *reason;
} ag_deviations[] = {
    {"json_web_signature_test.json", 372, AG_DEV_STRICT_B64,
     "InvalidCharacterInsertedInHeader: '?' inserted in the header; strict base64url (RFC 7515 "
     "section 2, RFC 4648 section 5) rejects any character outside the alphabet"},
    {"json_web_signature_test.json", 373, AG_DEV_STRICT_B64,
     "InvalidCharacterInsertedInPayload: '?' inserted in the payload; rejected likewise"},
    {"json_web_signature_test.json", 367, AG_DEV_IDENTICAL_TO_VALID,
     "invalidBase64Padding: the JWS and key are byte-identical to tcId 357 (ValidMac, valid); "
     "the padding the comment describes is not in the data, so we accept it like 357"},
    {"json_web_signature_test.json", 370, AG_DEV_IDENTICAL_TO_VALID,
     "invalidBase64PaddingInPayload: byte-identical to tcId 357 as well"},
    {"json_web_signature_test.json", 346, AG_DEV_KEY_ALG_CONFLICT,
     "RFC 7520 Figure 20 is signed with PS384 but Wycheproof gives the key \"alg\": \"PS256\". "
     "A key's alg must match the header (that is what the ps512 UsingPS256/UsingPS384 "
     "WrongPrimitive vectors require), so we reject it"},
    {"json_web_signature_test.json", 350, AG_DEV_KEY_ALG_CONFLICT,
     "the same Figure 20 vector with key_ops [\"verify\"] and key alg PS256"},
};

static int ag_deviation(const char *file, int id)
{
    for (size_t i = 0; i < sizeof(ag_deviations) / sizeof(ag_deviations[0]); i++) {
        if (strcmp(ag_deviations[i].file, file) == 0 && ag_deviations[i].tc_id == id)
            return (int)i;
    }
    return -1;
}

static json_t *ag_load_vectors(const char *file)
{
    const char *src = getenv("AG_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/data/wycheproof/%s", src ? src : ".", file);
    json_error_t e;
    json_t *doc = json_load_file(path, 0, &e);
    cr_assert_not_null(doc, "cannot load %s: %s", path, e.text);
    return doc;
}

/* Returns the number of vectors checked; counts mismatches and deviations. */
static size_t ag_run_file(const char *file, size_t *mismatches, size_t *deviations)
{
    json_t *doc = ag_load_vectors(file);
    size_t checked = 0;
    size_t gi;
    json_t *g;
    json_array_foreach(json_object_get(doc, "testGroups"), gi, g)
    {
        json_t *set = json_object_get(g, "public");
        if (!set)
            set = json_object_get(g, "private");
        cr_assert_not_null(set);
        /* Some groups give a single JWK rather than a set: wrap it. */
        json_t *wrapped =
            json_object_get(set, "keys") ? json_incref(set) : json_pack("{s:[O]}", "keys", set);
        char *text = json_dumps(wrapped, JSON_COMPACT);
        json_decref(wrapped);
        struct ag_keyset *ks = NULL;
        struct ag_err kerr = {0};
        enum ag_rc krc = ag_jwks_parse(text, strlen(text), &ks, &kerr);
        free(text);
        size_t ti;
        json_t *t;
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            int id = (int)json_integer_value(json_object_get(t, "tcId"));
            const char *jws_text = json_string_value(json_object_get(t, "jws"));
            const char *want = json_string_value(json_object_get(t, "result"));
            cr_assert_not_null(want);
            bool valid = false;
            struct ag_err err = {0};
            if (krc == AG_OK && jws_text) {
                struct ag_arena *a = ag_arena_new(0);
                struct ag_jws *jws;
                valid = ag_jws_parse(a, jws_text, strlen(jws_text), 0, &jws, &err) == AG_OK &&
                        ag_jws_verify(jws, ks, AG_JWS_ALGS_ALL, NULL, &err) == AG_OK;
                ag_arena_free(a);
            } else if (krc != AG_OK) {
                err = kerr;
            }
            bool want_valid = strcmp(want, "valid") == 0;
            checked++;
            if (valid == want_valid)
                continue;
            int d = ag_deviation(file, id);
            if (d >= 0) {
                /* Strictness only ever rejects; the identical-to-valid pair only ever accepts. */
                bool expected_ours = ag_deviations[d].kind == AG_DEV_IDENTICAL_TO_VALID;
                if (valid == expected_ours) {
                    (*deviations)++;
                    continue;
                }
            }
            (*mismatches)++;
            cr_log_error("%s tcId %d (%s): expected %s, got %s: %s", file, id,
                         json_string_value(json_object_get(t, "comment")), want,
                         valid ? "valid" : "invalid", err.msg);
        }
        ag_jwks_unref(ks);
    }
    cr_assert_eq(checked, (size_t)json_integer_value(json_object_get(doc, "numberOfTests")),
                 "%s: checked %zu vectors", file, checked);
    json_decref(doc);
    return checked;
}

static void ag_quiet(void)
{
    ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
}

TestSuite(wycheproof, .init = ag_quiet);

Test(wycheproof, json_web_signature_every_vector)
{
    size_t mism = 0, dev = 0;
    size_t n = ag_run_file("json_web_signature_test.json", &mism, &dev);
    cr_assert_eq(n, 401);
    cr_assert_eq(mism, 0, "%zu of %zu JWS vectors disagree", mism, n);
    cr_assert_eq(dev, 6, "expected exactly the 6 listed deviations, saw %zu", dev);
}

Test(wycheproof, json_web_key_every_vector)
{
    size_t mism = 0, dev = 0;
    size_t n = ag_run_file("json_web_key_test.json", &mism, &dev);
    cr_assert_eq(n, 26);
    cr_assert_eq(mism, 0, "%zu of %zu JWK vectors disagree", mism, n);
    cr_assert_eq(dev, 0);
}

static json_t *ag_find_vector(json_t *doc, int id, json_t **group)
{
    size_t gi, ti;
    json_t *g, *t;
    json_array_foreach(json_object_get(doc, "testGroups"), gi, g)
    {
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            if (json_integer_value(json_object_get(t, "tcId")) == id) {
                *group = g;
                return t;
            }
        }
    }
    return NULL;
}

/* Proves the data-set contradictions the deviation list relies on. */
Test(wycheproof, listed_contradictions_are_real)
{
    json_t *doc = ag_load_vectors("json_web_signature_test.json");
    json_t *g357, *g367, *g370, *g346;
    json_t *v357 = ag_find_vector(doc, 357, &g357);
    json_t *v367 = ag_find_vector(doc, 367, &g367);
    json_t *v370 = ag_find_vector(doc, 370, &g370);
    cr_assert(v357 && v367 && v370);
    cr_assert(json_equal(json_object_get(v357, "jws"), json_object_get(v367, "jws")));
    cr_assert(json_equal(json_object_get(v357, "jws"), json_object_get(v370, "jws")));
    cr_assert(json_equal(json_object_get(g357, "private"), json_object_get(g367, "private")));
    cr_assert_str_eq(json_string_value(json_object_get(v357, "result")), "valid");
    cr_assert_str_eq(json_string_value(json_object_get(v367, "result")), "invalid");
    /* 346: key alg PS256, header alg PS384, and yet "valid" ... */
    json_t *v346 = ag_find_vector(doc, 346, &g346);
    cr_assert_not_null(v346);
    json_t *k346 = json_object_get(g346, "public"); /* a single JWK in this group */
    cr_assert_str_eq(json_string_value(json_object_get(k346, "alg")), "PS256");
    cr_assert(strncmp(json_string_value(json_object_get(v346, "jws")), "eyJhbGciOiJQUzM4NCIs",
                      20) == 0); /* {"alg":"PS384", */
    cr_assert_str_eq(json_string_value(json_object_get(v346, "result")), "valid");
    /* ... while a PS512 key must not verify PS384 (WrongPrimitive). */
    int wrong_primitive = 0;
    size_t gi, ti;
    json_t *g, *t;
    json_array_foreach(json_object_get(doc, "testGroups"), gi, g)
    {
        json_t *k = json_object_get(g, "public");
        if (json_object_get(k, "keys"))
            k = json_array_get(json_object_get(k, "keys"), 0);
        const char *kalg = json_string_value(json_object_get(k, "alg"));
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            const char *c = json_string_value(json_object_get(t, "comment"));
            if (kalg && strcmp(kalg, "PS512") == 0 && c && strcmp(c, "UsingPS384") == 0) {
                cr_assert_str_eq(json_string_value(json_object_get(t, "result")), "invalid");
                wrong_primitive++;
            }
        }
    }
    cr_assert_eq(wrong_primitive, 2);
    json_decref(doc);
}

/* What tcIds 367/370 describe but do not contain: tcId 357 with base64 padding added to each
 * part. Every variant must be refused as malformed. */
Test(wycheproof, padded_variants_of_357_are_rejected, .init = ag_quiet)
{
    json_t *doc = ag_load_vectors("json_web_signature_test.json");
    json_t *g;
    json_t *v = ag_find_vector(doc, 357, &g);
    cr_assert_not_null(v);
    json_t *set = json_pack("{s:[O]}", "keys", json_object_get(g, "private"));
    char *text = json_dumps(set, JSON_COMPACT);
    struct ag_keyset *ks;
    struct ag_err err;
    cr_assert_eq(ag_jwks_parse(text, strlen(text), &ks, &err), AG_OK, "%s", err.msg);
    const char *jws = json_string_value(json_object_get(v, "jws"));
    const char *d1 = strchr(jws, '.'), *d2 = strrchr(jws, '.');
    char variants[4][512];
    snprintf(variants[0], 512, "%.*s=%s", (int)(d1 - jws), jws, d1);    /* header */
    snprintf(variants[1], 512, "%.*s==%s", (int)(d2 - jws), jws, d2);   /* payload */
    snprintf(variants[2], 512, "%s=", jws);                             /* signature */
    snprintf(variants[3], 512, "%.*s%%3D%s", (int)(d2 - jws), jws, d2); /* url-escaped */
    for (int i = 0; i < 4; i++) {
        struct ag_arena *a = ag_arena_new(0);
        struct ag_jws *out;
        cr_assert_eq(ag_jws_parse(a, variants[i], strlen(variants[i]), 0, &out, &err), AG_EPARSE,
                     "variant %d accepted", i);
        ag_arena_free(a);
    }
    /* ... while the vector itself verifies. */
    struct ag_arena *a = ag_arena_new(0);
    struct ag_jws *out;
    cr_assert_eq(ag_jws_parse(a, jws, strlen(jws), 0, &out, &err), AG_OK);
    cr_assert_eq(ag_jws_verify(out, ks, AG_JWS_ALGS_ALL, NULL, &err), AG_OK, "%s", err.msg);
    ag_arena_free(a);
    ag_jwks_unref(ks);
    free(text);
    json_decref(set);
    json_decref(doc);
}

/* tcId 367 and 370 (invalidBase64Padding, invalidBase64PaddingInPayload) are byte-identical to
 * the valid tcId 357 in the published data; here the padding and stray bits their comments
 * describe are really added to 357's parts, and each spelling is refused at parse time. */
Test(wycheproof, base64_padding_and_stray_bits_really_added)
{
    static const char *const bad[] = {
        "eyJraWQiOiJoczI1Ni1rZXkiLCJhbGciOiJIUzI1NiJ9.VGVzdA==."
        "c1LROH7eNQwUT8KMVEO52VC3WZ9e_AnDWbZ7aMmowV8", /* padded payload */
        "eyJraWQiOiJoczI1Ni1rZXkiLCJhbGciOiJIUzI1NiJ9.VGVzdA=."
        "c1LROH7eNQwUT8KMVEO52VC3WZ9e_AnDWbZ7aMmowV8",
        "eyJraWQiOiJoczI1Ni1rZXkiLCJhbGciOiJIUzI1NiJ9=.VGVzdA."
        "c1LROH7eNQwUT8KMVEO52VC3WZ9e_AnDWbZ7aMmowV8", /* padded header */
        "eyJraWQiOiJoczI1Ni1rZXkiLCJhbGciOiJIUzI1NiJ9.VGVzdA."
        "c1LROH7eNQwUT8KMVEO52VC3WZ9e_AnDWbZ7aMmowV8=", /* padded signature */
        "eyJraWQiOiJoczI1Ni1rZXkiLCJhbGciOiJIUzI1NiJ9.VGVzdB."
        "c1LROH7eNQwUT8KMVEO52VC3WZ9e_AnDWbZ7aMmowV8", /* stray bits: "Test" spelled VGVzdB */
        "eyJraWQiOiJoczI1Ni1rZXkiLCJhbGciOiJIUzI1NiJ9.VGVzdA."
        "c1LROH7eNQwUT8KMVEO52VC3WZ9e_AnDWbZ7aMmowV9", /* stray bits in the signature */
        "eyJraWQiOiJoczI1Ni1rZXkiLCJhbGciOiJIUzI1NiJ9.VGVz+A."
        "c1LROH7eNQwUT8KMVEO52VC3WZ9e_AnDWbZ7aMmowV8", /* standard alphabet */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ag_arena *a = ag_arena_new(0);
        struct ag_jws *jws;
        struct ag_err err = {0};
        cr_expect_eq(ag_jws_parse(a, bad[i], strlen(bad[i]), 0, &jws, &err), AG_EPARSE, "%s",
                     bad[i]);
        cr_expect(strstr(err.msg, "base64url") != NULL, "%zu: %s", i, err.msg);
        ag_arena_free(a);
    }
}
