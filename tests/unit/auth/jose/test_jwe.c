/* auth/jose/jwe.h: JWEs made by cjose itself (the sender's side), then broken by hand: every way
 * in must be refused with its own reason before or by the decryption. */
#include <cjose/cjose.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jose/jwe.h"
#include "core/b64url.h"
#include "core/log.h"

#define INNER "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl" /* a JWS's shape */

static struct ag_arena *arena;

/* A fresh PEM private key: "RSA:2048", "EC:P-256", ... */
static char *gen_pem(const char *type, const char *param)
{
    EVP_PKEY *pk = NULL;
    if (strcmp(type, "RSA") == 0)
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)strtoul(param, NULL, 10));
    else if (strcmp(type, "EC") == 0)
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", param);
    else
        pk = EVP_PKEY_Q_keygen(NULL, NULL, type);
    cr_assert(pk, "keygen %s", type);
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL));
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return out;
}

static enum ag_rc load(char **pems, size_t n, unsigned algs, struct ag_jwe_keys **ks,
                       struct ag_err *err)
{
    struct ag_secret items[8];
    for (size_t i = 0; i < n; i++)
        items[i] = (struct ag_secret){(unsigned char *)pems[i], strlen(pems[i])};
    struct ag_secretlist l = {n, items};
    return ag_jwe_keys_new(&l, algs, ks, err);
}

/* The published public JWK of key i, as cjose would import it from our jwks.json. */
static cjose_jwk_t *public_jwk(const struct ag_jwe_keys *ks, size_t i)
{
    const char *set;
    struct ag_err err;
    cr_assert_eq(ag_jwe_jwks_merge(arena, NULL, ks, &set, &err), AG_OK);
    json_t *o = json_loads(set, 0, NULL);
    char *one = json_dumps(json_array_get(json_object_get(o, "keys"), i), 0);
    cjose_err ce;
    cjose_jwk_t *jwk = cjose_jwk_import(one, strlen(one), &ce);
    cr_assert(jwk, "cjose_jwk_import");
    free(one);
    json_decref(o);
    return jwk;
}

/* What an IdP sends: header {alg, enc, cty, kid?} over INNER, encrypted by cjose. */
static char *encrypt_to(cjose_jwk_t *jwk, const char *alg, const char *enc, const char *kid,
                        const char *extra_name, const char *extra_value)
{
    cjose_err ce;
    cjose_header_t *h = cjose_header_new(&ce);
    cr_assert(cjose_header_set(h, CJOSE_HDR_ALG, alg, &ce));
    cr_assert(cjose_header_set(h, CJOSE_HDR_ENC, enc, &ce));
    cr_assert(cjose_header_set(h, CJOSE_HDR_CTY, "JWT", &ce));
    if (kid)
        cr_assert(cjose_header_set(h, CJOSE_HDR_KID, kid, &ce));
    if (extra_name)
        cr_assert(cjose_header_set(h, extra_name, extra_value, &ce));
    cjose_jwe_t *jwe = cjose_jwe_encrypt(jwk, h, (const uint8_t *)INNER, strlen(INNER), &ce);
    cr_assert(jwe, "cjose_jwe_encrypt %s/%s: %s", alg, enc, ce.message);
    char *c = cjose_jwe_export(jwe, &ce);
    char *out = strdup(c);
    cjose_get_dealloc()(c);
    cjose_jwe_release(jwe);
    cjose_header_release(h);
    return out;
}

/* Replaces part i (0-4) of a compact JWE with the base64url of bytes. */
static char *replace_part(const char *tok, int i, const void *bytes, size_t n)
{
    char enc[8192];
    ag_b64url_encode(bytes, n, enc, sizeof enc);
    size_t cap = strlen(tok) + strlen(enc) + 8, at = 0;
    char *out = calloc(1, cap);
    const char *s = tok;
    for (int k = 0; k < 5; k++) {
        const char *d = strchr(s, '.');
        size_t len = d ? (size_t)(d - s) : strlen(s);
        at += (size_t)snprintf(out + at, cap - at, "%s%.*s", k ? "." : "",
                               k == i ? (int)strlen(enc) : (int)len, k == i ? enc : s);
        s = d ? d + 1 : s + len;
    }
    return out;
}

/* Decodes part i into buf; returns its length. */
static size_t get_part(const char *tok, int i, uint8_t *buf, size_t cap)
{
    const char *s = tok;
    for (int k = 0; k < i; k++)
        s = strchr(s, '.') + 1;
    const char *d = strchr(s, '.');
    size_t len = d ? (size_t)(d - s) : strlen(s), n = 0;
    struct ag_err err;
    cr_assert_eq(ag_b64url_decode(s, len, buf, cap, &n, &err), AG_OK);
    return n;
}

static enum ag_rc dec(const struct ag_jwe_keys *ks, const char *tok, struct ag_err *err)
{
    const char *out = NULL;
    size_t n = 0;
    enum ag_rc rc = ag_jwe_decrypt(arena, ks, tok, strlen(tok), 0, &out, &n, err);
    if (rc == AG_OK) {
        cr_assert_eq(n, strlen(INNER));
        cr_assert_str_eq(out, INNER);
    }
    return rc;
}

static struct ag_jwe_keys *rsa, *ec; /* one RSA 2048 key; one EC P-256 key */
static char *rsa_pem, *ec_pem;

static void setup(void)
{
    ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
    arena = ag_arena_new(0);
    rsa_pem = gen_pem("RSA", "2048");
    ec_pem = gen_pem("EC", "P-256");
    struct ag_err err;
    cr_assert_eq(load(&rsa_pem, 1, AG_JWE_ALGS_DEFAULT, &rsa, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(load(&ec_pem, 1, AG_JWE_ALGS_DEFAULT, &ec, &err), AG_OK, "%s", err.msg);
}

static void teardown(void)
{
    ag_jwe_keys_free(rsa);
    ag_jwe_keys_free(ec);
    free(rsa_pem);
    free(ec_pem);
    ag_arena_free(arena);
}

TestSuite(jwe, .init = setup, .fini = teardown);

Test(jwe, rsa_oaep_every_enc_round_trips)
{
    const char *encs[] = {"A128GCM", "A256GCM", "A128CBC-HS256", "A256CBC-HS512"};
    cjose_jwk_t *pub = public_jwk(rsa, 0);
    for (size_t i = 0; i < 4; i++) {
        for (int with_kid = 0; with_kid < 2; with_kid++) {
            char *tok = encrypt_to(pub, "RSA-OAEP", encs[i],
                                   with_kid ? ag_jwe_keys_kid(rsa, 0) : NULL, NULL, NULL);
            cr_assert(ag_jwe_is_compact(tok, strlen(tok)));
            struct ag_err err = {0};
            cr_assert_eq(dec(rsa, tok, &err), AG_OK, "%s: %s", encs[i], err.msg);
            free(tok);
        }
    }
    cjose_jwk_release(pub);
}

Test(jwe, ecdh_es_p256_and_p384_round_trip)
{
    cjose_jwk_t *pub = public_jwk(ec, 0);
    char *tok = encrypt_to(pub, "ECDH-ES", "A256GCM", ag_jwe_keys_kid(ec, 0), NULL, NULL);
    struct ag_err err = {0};
    cr_assert_eq(dec(ec, tok, &err), AG_OK, "%s", err.msg);
    free(tok);
    cjose_jwk_release(pub);

    char *p384 = gen_pem("EC", "P-384");
    struct ag_jwe_keys *k384;
    cr_assert_eq(load(&p384, 1, AG_JWE_ALGS_DEFAULT, &k384, &err), AG_OK, "%s", err.msg);
    pub = public_jwk(k384, 0);
    tok = encrypt_to(pub, "ECDH-ES", "A128CBC-HS256", NULL, NULL, NULL);
    cr_assert_eq(dec(k384, tok, &err), AG_OK, "%s", err.msg);
    /* a P-256 key is never tried on a P-384 epk */
    cr_assert_eq(dec(ec, tok, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "P-384"), "%s", err.msg);
    free(tok);
    cjose_jwk_release(pub);
    ag_jwe_keys_free(k384);
    free(p384);
}

Test(jwe, rotation_tries_only_our_keys_without_kid)
{
    char *pems[2] = {gen_pem("RSA", "2048"), rsa_pem};
    struct ag_jwe_keys *two;
    struct ag_err err = {0};
    cr_assert_eq(load(pems, 2, AG_JWE_ALGS_DEFAULT, &two, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(ag_jwe_keys_count(two), 2);
    cr_assert_str_eq(ag_jwe_keys_kid(two, 1), ag_jwe_keys_kid(rsa, 0));
    cjose_jwk_t *pub = public_jwk(rsa, 0); /* encrypted to the older key, no kid */
    char *tok = encrypt_to(pub, "RSA-OAEP", "A256GCM", NULL, NULL, NULL);
    cr_assert_eq(dec(two, tok, &err), AG_OK, "%s", err.msg);
    free(tok);
    cjose_jwk_release(pub);
    ag_jwe_keys_free(two);
    free(pems[0]);
}

Test(jwe, wrong_key_does_not_decrypt)
{
    char *other_pem = gen_pem("RSA", "2048");
    struct ag_jwe_keys *other;
    struct ag_err err = {0};
    cr_assert_eq(load(&other_pem, 1, AG_JWE_ALGS_DEFAULT, &other, &err), AG_OK);
    cjose_jwk_t *pub = public_jwk(other, 0);
    /* without kid: our key is tried and fails; with our kid: the same */
    char *tok = encrypt_to(pub, "RSA-OAEP", "A256GCM", NULL, NULL, NULL);
    cr_assert_eq(dec(rsa, tok, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "does not decrypt"), "%s", err.msg);
    free(tok);
    tok = encrypt_to(pub, "RSA-OAEP", "A256GCM", ag_jwe_keys_kid(rsa, 0), NULL, NULL);
    cr_assert_eq(dec(rsa, tok, &err), AG_ECRYPTO);
    free(tok);
    /* a kid that is none of ours */
    tok = encrypt_to(pub, "RSA-OAEP", "A256GCM", ag_jwe_keys_kid(other, 0), NULL, NULL);
    cr_assert_eq(dec(rsa, tok, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "none of our decryption keys"), "%s", err.msg);
    free(tok);
    /* an RSA JWE never goes to an EC key */
    tok = encrypt_to(pub, "RSA-OAEP", "A256GCM", NULL, NULL, NULL);
    cr_assert_eq(dec(ec, tok, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "does not fit"), "%s", err.msg);
    free(tok);
    cjose_jwk_release(pub);
    ag_jwe_keys_free(other);
    free(other_pem);
}

Test(jwe, wrong_tag_and_wrong_ciphertext)
{
    cjose_jwk_t *pub = public_jwk(rsa, 0);
    const char *encs[] = {"A128GCM", "A256CBC-HS512"};
    for (size_t i = 0; i < 2; i++) {
        char *tok = encrypt_to(pub, "RSA-OAEP", encs[i], NULL, NULL, NULL);
        uint8_t buf[8192];
        for (int part = 3; part <= 4; part++) {
            size_t n = get_part(tok, part, buf, sizeof buf);
            buf[n - 1] ^= 1;
            char *bad = replace_part(tok, part, buf, n);
            struct ag_err err = {0};
            cr_assert_eq(dec(rsa, bad, &err), AG_ECRYPTO, "%s part %d", encs[i], part);
            free(bad);
        }
        free(tok);
    }
    cjose_jwk_release(pub);
}

Test(jwe, truncated_tag_is_refused_before_cjose)
{
    cjose_jwk_t *pub = public_jwk(rsa, 0);
    char *tok = encrypt_to(pub, "RSA-OAEP", "A256GCM", NULL, NULL, NULL);
    uint8_t buf[64];
    size_t n = get_part(tok, 4, buf, sizeof buf);
    cr_assert_eq(n, 16);
    const size_t cut[] = {0, 1, 4, 8, 12, 15};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        char *bad = replace_part(tok, 4, buf, cut[i]);
        struct ag_err err = {0};
        cr_assert_eq(dec(rsa, bad, &err), AG_ECRYPTO, "tag of %zu", cut[i]);
        cr_assert(strstr(err.msg, "authentication tag is"), "%s", err.msg);
        free(bad);
    }
    /* a wrong-length IV too */
    n = get_part(tok, 2, buf, sizeof buf);
    char *bad = replace_part(tok, 2, buf, n - 1);
    struct ag_err err = {0};
    cr_assert_eq(dec(rsa, bad, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "IV is 11 bytes"), "%s", err.msg);
    free(bad);
    free(tok);
    cjose_jwk_release(pub);
}

/* Rewrites the protected header (the decryption would fail anyway: it is the AAD; these must be
 * refused for what they say, before any key is used). */
static void expect_header_refused(const char *hdr, enum ag_rc want, const char *why)
{
    cjose_jwk_t *pub = public_jwk(rsa, 0);
    char *tok = encrypt_to(pub, "RSA-OAEP", "A256GCM", NULL, NULL, NULL);
    char *bad = replace_part(tok, 0, hdr, strlen(hdr));
    struct ag_err err = {0};
    cr_assert_eq(dec(rsa, bad, &err), want, "%s: %s", hdr, err.msg);
    cr_assert(strstr(err.msg, why), "%s: %s", hdr, err.msg);
    free(bad);
    free(tok);
    cjose_jwk_release(pub);
}

Test(jwe, header_rules)
{
    expect_header_refused("{\"alg\":\"RSA-OAEP\",\"enc\":\"A192GCM\",\"cty\":\"JWT\"}", AG_ECRYPTO,
                          "unsupported JWE enc \"A192GCM\"");
    expect_header_refused(
        "{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\",\"cty\":\"JWT\",\"zip\":\"DEF\"}", AG_ECRYPTO,
        "zip");
    expect_header_refused("{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"cty\":\"JWT\"}",
                          AG_ECRYPTO, "RSA-OAEP-256 is not supported");
    expect_header_refused("{\"alg\":\"dir\",\"enc\":\"A256GCM\",\"cty\":\"JWT\"}", AG_ECRYPTO,
                          "unsupported JWE alg \"dir\" (supported: RSA-OAEP, ECDH-ES)");
    expect_header_refused("{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\"}", AG_ECRYPTO, "cty");
    expect_header_refused(
        "{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\",\"cty\":\"JWT\",\"crit\":[\"x\"]}", AG_ECRYPTO,
        "crit");
    expect_header_refused("{\"alg\":\"RSA-OAEP\",\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\"}",
                          AG_EPARSE, "not valid JSON");
    expect_header_refused("{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\",\"cty\":\"JWT\",\"kid\":7}",
                          AG_EPARSE, "kid");
    expect_header_refused("[1]", AG_EPARSE, "not a JSON object");
    expect_header_refused("{\"alg\":\"ECDH-ES\",\"enc\":\"A256GCM\",\"cty\":\"JWT\"}", AG_EPARSE,
                          "epk");
}

Test(jwe, rsa1_5_only_when_listed)
{
    cjose_jwk_t *pub = public_jwk(rsa, 0);
    char *tok = encrypt_to(pub, "RSA1_5", "A128CBC-HS256", NULL, NULL, NULL);
    struct ag_err err = {0};
    cr_assert_eq(dec(rsa, tok, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "alg \"RSA1_5\" is not in oidc.allowed_enc_algs"), "%s", err.msg);
    struct ag_jwe_keys *with;
    cr_assert_eq(load(&rsa_pem, 1, AG_JWE_ALGS_DEFAULT | AG_JWE_RSA1_5, &with, &err), AG_OK);
    cr_assert_eq(dec(with, tok, &err), AG_OK, "%s", err.msg);
    ag_jwe_keys_free(with);
    free(tok);
    /* an enc left out of the list */
    tok = encrypt_to(pub, "RSA-OAEP", "A128GCM", NULL, NULL, NULL);
    cr_assert_eq(load(&rsa_pem, 1, AG_JWE_RSA_OAEP | AG_JWE_A256GCM, &with, &err), AG_OK);
    cr_assert_eq(dec(with, tok, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "enc \"A128GCM\" is not in"), "%s", err.msg);
    ag_jwe_keys_free(with);
    free(tok);
    cjose_jwk_release(pub);
}

Test(jwe, garbage_and_huge_parts)
{
    const char *bad[] = {
        "a.b.c.d.e", "....",        "!!!!.AAAA.AAAA.AAAA.AAAA",     "e30.AAAA.AAAA.AAAA.AAAA",
        "a.b.c",     "a.b.c.d.e.f", "eyJhbGciOiJSU0EtT0FFUCJ9....", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ag_err err = {0};
        enum ag_rc rc = dec(rsa, bad[i], &err);
        cr_assert(rc == AG_EPARSE || rc == AG_ECRYPTO, "%s: %d %s", bad[i], rc, err.msg);
    }
    /* over the cap: refused before anything is decoded */
    size_t big = 300 * 1024;
    char *huge = malloc(big + 1);
    memset(huge, 'A', big);
    huge[10] = huge[20] = huge[30] = huge[40] = '.';
    huge[big] = '\0';
    struct ag_err err = {0};
    cr_assert_eq(dec(rsa, huge, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "limit"), "%s", err.msg);
    /* a huge header under the cap */
    const char *out;
    size_t n;
    memset(huge, 'A', big);
    huge[5000] = huge[5010] = huge[5020] = huge[5030] = '.';
    cr_assert_eq(ag_jwe_decrypt(arena, rsa, huge, 200 * 1024, 0, &out, &n, &err), AG_EPARSE);
    cr_assert(strstr(err.msg, "header"), "%s", err.msg);
    free(huge);
    /* a caller's smaller cap wins */
    cjose_jwk_t *pub = public_jwk(rsa, 0);
    char *tok = encrypt_to(pub, "RSA-OAEP", "A256GCM", NULL, NULL, NULL);
    cr_assert_eq(ag_jwe_decrypt(arena, rsa, tok, strlen(tok), 100, &out, &n, &err), AG_EINVAL);
    free(tok);
    cjose_jwk_release(pub);
    /* no key configured: a clear error */
    cr_assert_eq(ag_jwe_decrypt(arena, NULL, "a.b.c.d.e", 9, 0, &out, &n, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "no oidc.decryption_key"), "%s", err.msg);
}

Test(jwe, epk_off_curve_is_refused)
{
    cjose_jwk_t *pub = public_jwk(ec, 0);
    char *tok = encrypt_to(pub, "ECDH-ES", "A256GCM", NULL, NULL, NULL);
    uint8_t hb[2048];
    size_t hl = get_part(tok, 0, hb, sizeof hb);
    json_t *h = json_loadb((const char *)hb, hl, 0, NULL);
    json_t *epk = json_object_get(h, "epk");
    /* y + 1: almost surely not on the curve */
    uint8_t y[32];
    size_t yl;
    struct ag_err err;
    const char *ys = json_string_value(json_object_get(epk, "y"));
    cr_assert_eq(ag_b64url_decode(ys, strlen(ys), y, sizeof y, &yl, &err), AG_OK);
    y[31] ^= 1;
    char yb[64];
    ag_b64url_encode(y, yl, yb, sizeof yb);
    json_object_set_new(epk, "y", json_string(yb));
    char *txt = json_dumps(h, JSON_COMPACT);
    char *bad = replace_part(tok, 0, txt, strlen(txt));
    cr_assert_eq(dec(ec, bad, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "not a point on P-256"), "%s", err.msg);
    free(bad);
    free(txt);
    /* a private member in epk */
    json_object_set_new(epk, "d", json_string("AAAA"));
    txt = json_dumps(h, JSON_COMPACT);
    bad = replace_part(tok, 0, txt, strlen(txt));
    cr_assert_eq(dec(ec, bad, &err), AG_EPARSE);
    free(bad);
    free(txt);
    json_decref(h);
    free(tok);
    cjose_jwk_release(pub);
}

Test(jwe, content_must_be_a_jws)
{
    cjose_jwk_t *pub = public_jwk(rsa, 0);
    cjose_err ce;
    cjose_header_t *h = cjose_header_new(&ce);
    cr_assert(cjose_header_set(h, CJOSE_HDR_ALG, "RSA-OAEP", &ce));
    cr_assert(cjose_header_set(h, CJOSE_HDR_ENC, "A256GCM", &ce));
    cr_assert(cjose_header_set(h, CJOSE_HDR_CTY, "JWT", &ce));
    const char *plain = "{\"sub\":\"admin\"}"; /* claims without a signature */
    cjose_jwe_t *jwe = cjose_jwe_encrypt(pub, h, (const uint8_t *)plain, strlen(plain), &ce);
    char *tok = cjose_jwe_export(jwe, &ce);
    const char *out;
    size_t n;
    struct ag_err err;
    cr_assert_eq(ag_jwe_decrypt(arena, rsa, tok, strlen(tok), 0, &out, &n, &err), AG_EPARSE);
    cr_assert(strstr(err.msg, "not a signed JWT"), "%s", err.msg);
    cjose_get_dealloc()(tok);
    cjose_jwe_release(jwe);
    cjose_header_release(h);
    cjose_jwk_release(pub);
}

/* RFC 7638 computed here independently from the published n and e. */
Test(jwe, published_jwk_has_use_alg_and_thumbprint_kid)
{
    const char *set;
    struct ag_err err;
    cr_assert_eq(
        ag_jwe_jwks_merge(arena, "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"sig\"}]}", rsa, &set, &err),
        AG_OK);
    json_t *o = json_loads(set, 0, NULL);
    json_t *keys = json_object_get(o, "keys");
    cr_assert_eq(json_array_size(keys), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(keys, 0), "kid")), "sig");
    json_t *k = json_array_get(keys, 1);
    cr_assert_str_eq(json_string_value(json_object_get(k, "use")), "enc");
    cr_assert_str_eq(json_string_value(json_object_get(k, "alg")), "RSA-OAEP");
    cr_assert_null(json_object_get(k, "d"));
    char canon[2048];
    snprintf(canon, sizeof canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
             json_string_value(json_object_get(k, "e")),
             json_string_value(json_object_get(k, "n")));
    uint8_t th[32];
    unsigned thl;
    cr_assert(EVP_Digest(canon, strlen(canon), th, &thl, EVP_sha256(), NULL));
    char kid[64];
    ag_b64url_encode(th, 32, kid, sizeof kid);
    cr_assert_str_eq(json_string_value(json_object_get(k, "kid")), kid);
    cr_assert_str_eq(ag_jwe_keys_kid(rsa, 0), kid);
    json_decref(o);
    /* EC: ECDH-ES */
    cr_assert_eq(ag_jwe_jwks_merge(arena, NULL, ec, &set, &err), AG_OK);
    cr_assert(strstr(set, "\"alg\":\"ECDH-ES\"") && strstr(set, "\"crv\":\"P-256\""), "%s", set);
}

Test(jwe, bad_keys_are_config_errors)
{
    struct {
        const char *type, *param, *why;
    } cases[] = {
        {"RSA", "1024", "RSA key of 1024 bits"},
        {"EC", "P-521", "curve"},
        {"ED25519", NULL, "ED25519 key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *pem = gen_pem(cases[i].type, cases[i].param);
        struct ag_jwe_keys *ks = NULL;
        struct ag_err err = {0};
        cr_assert_eq(load(&pem, 1, AG_JWE_ALGS_DEFAULT, &ks, &err), AG_ECONF, "%s", cases[i].type);
        cr_assert(strstr(err.msg, cases[i].why), "%s", err.msg);
        cr_assert(strstr(err.msg, "oidc.decryption_key (key 1)"), "%s", err.msg);
        cr_assert_null(ks);
        free(pem);
    }
    char *junk = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    struct ag_jwe_keys *ks = NULL;
    struct ag_err err = {0};
    cr_assert_eq(load(&junk, 1, AG_JWE_ALGS_DEFAULT, &ks, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "not an unencrypted PEM private key"), "%s", err.msg);
    /* an EC key with ECDH-ES left out of the allow-list */
    cr_assert_eq(load(&ec_pem, 1, AG_JWE_RSA_OAEP | AG_JWE_A256GCM, &ks, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "lists no alg"), "%s", err.msg);
    /* none configured: no key set at all */
    struct ag_secretlist none = {0, NULL};
    cr_assert_eq(ag_jwe_keys_new(&none, AG_JWE_ALGS_DEFAULT, &ks, &err), AG_OK);
    cr_assert_null(ks);
}

Test(jwe, allow_list_names)
{
    unsigned m;
    struct ag_err err;
    char *ok[] = {"RSA-OAEP", "A256GCM"};
    cr_assert_eq(ag_jwe_algs_from_names(ok, 2, &m, &err), AG_OK);
    cr_assert_eq(m, AG_JWE_RSA_OAEP | AG_JWE_A256GCM);
    cr_assert_eq(ag_jwe_algs_from_names(NULL, 0, &m, &err), AG_OK);
    cr_assert_eq(m, AG_JWE_ALGS_DEFAULT);
    cr_assert_eq(m & AG_JWE_RSA1_5, 0);
    char *oaep256[] = {"RSA-OAEP-256", "A256GCM"};
    cr_assert_eq(ag_jwe_algs_from_names(oaep256, 2, &m, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "RSA-OAEP-256 is not supported"), "%s", err.msg);
    char *noenc[] = {"RSA-OAEP"};
    cr_assert_eq(ag_jwe_algs_from_names(noenc, 1, &m, &err), AG_ECONF);
    char *unknown[] = {"A128KW"};
    cr_assert_eq(ag_jwe_algs_from_names(unknown, 1, &m, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "unknown algorithm \"A128KW\""), "%s", err.msg);
}
