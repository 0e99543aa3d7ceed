/* The assertion signer: signatures verify against the published JWK, keys (derived and PEM),
 * claims and their escaping, and every bad key giving a clear error. */
#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <string.h>
#include <jansson.h>
#include <stdio.h>

#include "auth/assertion/assertion.h"
#include "check.h"
#include "core/arena.h"
#include "core/b64url.h"

#define SECRET_A "0123456789abcdef0123456789abcdef-replica-secret"
#define SECRET_B "fedcba9876543210fedcba9876543210-another-secret"

static const char *const ag_roles[] = {"Admin", "Viewer"};
static const char *const ag_groups[] = {"airflow_admin", "airflow_viewer", "offline_access"};

static struct ag_assertion_claims ag_alice(void)
{
    return (struct ag_assertion_claims){
        .sub = "f3a1c9e0-0000-4000-8000-000000000001",
        .preferred_username = "alice",
        .email = "alice@example.com",
        .given_name = "Alice",
        .family_name = "Liddell",
        .roles = ag_roles,
        .n_roles = 2,
        .groups = ag_groups,
        .n_groups = 3,
    };
}

static struct ag_assertion_signer *ag_signer(const struct ag_config *c)
{
    struct ag_assertion_signer *s = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_assertion_signer_new(c, &s, &err), AG_OK, "%s", err.msg);
    cr_assert_not_null(s);
    return s;
}

static const char *ag_sign(struct ag_assertion_signer *s, struct ag_arena *a,
                           const struct ag_assertion_claims *c, int64_t now)
{
    const char *jws = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_assertion_sign(s, a, c, now, &jws, &err), AG_OK, "%s", err.msg);
    cr_assert_not_null(jws);
    return jws;
}

static char *ag_pem(EVP_PKEY *k, const char *pass)
{
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert(PEM_write_bio_PrivateKey(bio, k, pass ? EVP_aes_256_cbc() : NULL,
                                       (const unsigned char *)pass, pass ? (int)strlen(pass) : 0,
                                       NULL, NULL) == 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

static enum ag_rc ag_new_with_pem(const char *pem, struct ag_err *err)
{
    struct ag_config c = ag_test_config(SECRET_A, NULL, 0);
    c.assertion.key.data = (unsigned char *)pem;
    c.assertion.key.len = strlen(pem);
    struct ag_assertion_signer *s = NULL;
    enum ag_rc rc = ag_assertion_signer_new(&c, &s, err);
    ag_assertion_signer_free(s);
    return rc;
}

Test(assertion, signature_verifies_against_published_jwk)
{
    struct ag_config c = ag_test_config(SECRET_A, "airflow", 120);
    struct ag_assertion_signer *s = ag_signer(&c);
    struct ag_arena *a = ag_arena_new(0);
    struct ag_assertion_claims id = ag_alice();
    const char *jws = ag_sign(s, a, &id, 1700000000);

    EVP_PKEY *pub = ag_test_jwk_pub(ag_assertion_jwks_json(s));
    cr_assert_not_null(pub, "JWKS not usable: %s", ag_assertion_jwks_json(s));
    cr_assert(ag_test_es256_verify(jws, pub));

    /* One flipped payload character must break the signature. */
    char *bad = strdup(jws);
    char *p = strchr(bad, '.') + 5;
    *p = *p == 'A' ? 'B' : 'A';
    cr_assert_not(ag_test_es256_verify(bad, pub));
    free(bad);

    json_t *h = ag_test_jws_part(jws, 0);
    cr_assert_str_eq(json_string_value(json_object_get(h, "alg")), "ES256");
    cr_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
    cr_assert_str_eq(json_string_value(json_object_get(h, "kid")), ag_assertion_kid(s));
    cr_assert_eq(json_object_size(h), 3);

    json_t *set = json_loads(ag_assertion_jwks_json(s), 0, NULL);
    json_t *k = json_array_get(json_object_get(set, "keys"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(k, "kid")), ag_assertion_kid(s));
    cr_assert_str_eq(json_string_value(json_object_get(k, "use")), "sig");
    cr_assert_str_eq(json_string_value(json_object_get(k, "alg")), "ES256");
    cr_assert_str_eq(json_string_value(json_object_get(k, "kty")), "EC");
    cr_assert_null(json_object_get(k, "d"), "private part published");
    json_decref(set);
    json_decref(h);
    EVP_PKEY_free(pub);
    ag_arena_free(a);
    ag_assertion_signer_free(s);
}

Test(assertion, kid_is_rfc7638_thumbprint)
{
    struct ag_config c = ag_test_config(SECRET_A, NULL, 0);
    struct ag_assertion_signer *s = ag_signer(&c);
    json_t *root = json_loads(ag_assertion_jwks_json(s), 0, NULL);
    json_t *k = json_array_get(json_object_get(root, "keys"), 0);
    char canon[256];
    int n = snprintf(
        canon, sizeof canon, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
        json_string_value(json_object_get(k, "x")), json_string_value(json_object_get(k, "y")));
    uint8_t dg[32];
    unsigned dl = 0;
    cr_assert(EVP_Digest(canon, (size_t)n, dg, &dl, EVP_sha256(), NULL) == 1);
    char kid[64];
    ag_b64url_encode(dg, sizeof dg, kid, sizeof kid);
    cr_assert_str_eq(ag_assertion_kid(s), kid);
    cr_assert_eq(strlen(kid), 43);
    json_decref(root);
    ag_assertion_signer_free(s);
}

Test(assertion, claims_carry_identity_and_times)
{
    struct ag_config c = ag_test_config(SECRET_A, "airflow-web", 300);
    struct ag_assertion_signer *s = ag_signer(&c);
    struct ag_arena *a = ag_arena_new(0);
    struct ag_assertion_claims id = ag_alice();
    json_t *p = ag_test_jws_part(ag_sign(s, a, &id, 1700000000), 1);
    cr_assert_not_null(p);
    cr_assert_str_eq(json_string_value(json_object_get(p, "iss")), AG_TEST_ISS);
    cr_assert_str_eq(json_string_value(json_object_get(p, "aud")), "airflow-web");
    cr_assert_str_eq(json_string_value(json_object_get(p, "sub")), id.sub);
    cr_assert_str_eq(json_string_value(json_object_get(p, "preferred_username")), "alice");
    cr_assert_str_eq(json_string_value(json_object_get(p, "email")), "alice@example.com");
    cr_assert_str_eq(json_string_value(json_object_get(p, "given_name")), "Alice");
    cr_assert_str_eq(json_string_value(json_object_get(p, "family_name")), "Liddell");
    json_t *roles = json_object_get(p, "roles"), *groups = json_object_get(p, "groups");
    cr_assert_eq(json_array_size(roles), 2);
    cr_assert_str_eq(json_string_value(json_array_get(roles, 0)), "Admin");
    cr_assert_str_eq(json_string_value(json_array_get(roles, 1)), "Viewer");
    cr_assert_eq(json_array_size(groups), 3);
    cr_assert_str_eq(json_string_value(json_array_get(groups, 2)), "offline_access");
    cr_assert_eq(json_integer_value(json_object_get(p, "iat")), 1700000000);
    cr_assert_eq(json_integer_value(json_object_get(p, "nbf")), 1700000000);
    cr_assert_eq(json_integer_value(json_object_get(p, "exp")), 1700000300);
    const char *jti = json_string_value(json_object_get(p, "jti"));
    cr_assert(jti && strlen(jti) >= 16, "jti missing or short");
    json_decref(p);
    ag_arena_free(a);
    ag_assertion_signer_free(s);
}

Test(assertion, defaults_absent_fields_and_empty_lists)
{
    struct ag_config c = ag_test_config(SECRET_A, NULL, 0); /* audience, ttl unset */
    struct ag_assertion_signer *s = ag_signer(&c);
    struct ag_arena *a = ag_arena_new(0);
    struct ag_assertion_claims id = {.sub = "svc-1"};
    json_t *p = ag_test_jws_part(ag_sign(s, a, &id, 1000), 1);
    cr_assert_str_eq(json_string_value(json_object_get(p, "aud")), "airflow");
    cr_assert_eq(json_integer_value(json_object_get(p, "exp")), 1120);
    cr_assert_null(json_object_get(p, "email"));
    cr_assert_null(json_object_get(p, "given_name"));
    cr_assert(json_is_array(json_object_get(p, "roles")));
    cr_assert_eq(json_array_size(json_object_get(p, "roles")), 0);
    cr_assert_eq(json_array_size(json_object_get(p, "groups")), 0);
    json_decref(p);
    ag_arena_free(a);
    ag_assertion_signer_free(s);
}

Test(assertion, claims_escaping_quotes_unicode_control)
{
    struct ag_config c = ag_test_config(SECRET_A, NULL, 0);
    struct ag_assertion_signer *s = ag_signer(&c);
    struct ag_arena *a = ag_arena_new(0);
    static const char *const roles[] = {"Role \"x\"", "back\\slash"};
    static const char *const groups[] = {"gr\xc3\xbcppe", "</script>", "tab\there"};
    struct ag_assertion_claims id = {
        .sub = "a\"b",
        .preferred_username = "zo\xc3\xab",                        /* zoë */
        .given_name = "\xe5\xb1\xb1\xe7\x94\xb0",                  /* 山田 */
        .family_name = "O'Brien \"The\" \\ \x01 \xf0\x9f\x98\x80", /* control + emoji */
        .email = "x@example.com\n",
        .roles = roles,
        .n_roles = 2,
        .groups = groups,
        .n_groups = 3,
    };
    const char *jws = ag_sign(s, a, &id, 1000);
    json_t *p = ag_test_jws_part(jws, 1);
    cr_assert_not_null(p, "payload is not valid JSON");
    cr_assert_str_eq(json_string_value(json_object_get(p, "sub")), id.sub);
    cr_assert_str_eq(json_string_value(json_object_get(p, "preferred_username")), "zo\xc3\xab");
    cr_assert_str_eq(json_string_value(json_object_get(p, "given_name")), id.given_name);
    cr_assert_str_eq(json_string_value(json_object_get(p, "family_name")), id.family_name);
    cr_assert_str_eq(json_string_value(json_object_get(p, "email")), id.email);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "roles"), 0)), roles[0]);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "roles"), 1)), roles[1]);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "groups"), 2)), groups[2]);
    /* Invalid UTF-8 cannot reach Airflow as such: it is replaced, and the JSON stays valid. */
    id.preferred_username = "bad\xff\xfe";
    json_t *q = ag_test_jws_part(ag_sign(s, a, &id, 1000), 1);
    cr_assert_not_null(q);
    cr_assert_str_eq(json_string_value(json_object_get(q, "preferred_username")),
                     "bad\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(p);
    json_decref(q);
    ag_arena_free(a);
    ag_assertion_signer_free(s);
}

Test(assertion, too_large_claims_rejected)
{
    struct ag_config c = ag_test_config(SECRET_A, NULL, 0);
    struct ag_assertion_signer *s = ag_signer(&c);
    struct ag_arena *a = ag_arena_new(0);
    size_t n = 100 * 1024;
    char *big = malloc(n + 1);
    memset(big, 'g', n);
    big[n] = 0;
    const char *groups[] = {big};
    struct ag_assertion_claims id = {.sub = "x", .groups = groups, .n_groups = 1};
    const char *jws = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_assertion_sign(s, a, &id, 1000, &jws, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "larger than"), "%s", err.msg);
    struct ag_assertion_claims nolist = {.sub = "x", .n_roles = 2};
    cr_assert_eq(ag_assertion_sign(s, a, &nolist, 1000, &jws, &err), AG_EINVAL);
    free(big);
    ag_arena_free(a);
    ag_assertion_signer_free(s);
}

Test(assertion, derived_key_deterministic_per_secret)
{
    struct ag_config ca = ag_test_config(SECRET_A, NULL, 0);
    struct ag_config cb = ag_test_config(SECRET_B, NULL, 0);
    struct ag_assertion_signer *s1 = ag_signer(&ca), *s2 = ag_signer(&ca), *s3 = ag_signer(&cb);
    cr_assert_str_eq(ag_assertion_jwks_json(s1), ag_assertion_jwks_json(s2));
    cr_assert_str_eq(ag_assertion_kid(s1), ag_assertion_kid(s2));
    cr_assert_str_neq(ag_assertion_kid(s1), ag_assertion_kid(s3));
    /* Replica 2 verifies what replica 1 signed. */
    struct ag_arena *a = ag_arena_new(0);
    struct ag_assertion_claims id = ag_alice();
    EVP_PKEY *pub2 = ag_test_jwk_pub(ag_assertion_jwks_json(s2));
    EVP_PKEY *pub3 = ag_test_jwk_pub(ag_assertion_jwks_json(s3));
    const char *jws = ag_sign(s1, a, &id, 5000);
    cr_assert(ag_test_es256_verify(jws, pub2));
    cr_assert_not(ag_test_es256_verify(jws, pub3));
    EVP_PKEY_free(pub2);
    EVP_PKEY_free(pub3);
    ag_arena_free(a);
    ag_assertion_signer_free(s1);
    ag_assertion_signer_free(s2);
    ag_assertion_signer_free(s3);
}

Test(assertion, pem_key_is_used)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    cr_assert_not_null(k);
    char *pem = ag_pem(k, NULL);
    struct ag_config c = ag_test_config(SECRET_A, NULL, 0);
    c.assertion.key.data = (unsigned char *)pem;
    c.assertion.key.len = strlen(pem);
    struct ag_assertion_signer *s = ag_signer(&c);
    struct ag_config derived = ag_test_config(SECRET_A, NULL, 0);
    struct ag_assertion_signer *sd = ag_signer(&derived);
    cr_assert_str_neq(ag_assertion_kid(s), ag_assertion_kid(sd), "PEM key ignored");

    struct ag_arena *a = ag_arena_new(0);
    struct ag_assertion_claims id = ag_alice();
    const char *jws = ag_sign(s, a, &id, 5000);
    cr_assert(ag_test_es256_verify(jws, k), "not signed with the configured key");
    EVP_PKEY *pub = ag_test_jwk_pub(ag_assertion_jwks_json(s));
    cr_assert(EVP_PKEY_eq(pub, k) == 1, "JWKS does not publish the configured key");
    EVP_PKEY_free(pub);
    ag_arena_free(a);
    ag_assertion_signer_free(s);
    ag_assertion_signer_free(sd);
    free(pem);
    EVP_PKEY_free(k);
}

Test(assertion, bad_keys_give_clear_errors)
{
    struct ag_err err = {0};
    cr_assert_eq(ag_new_with_pem("not a key at all", &err), AG_ECONF);
    cr_assert(strstr(err.msg, "assertion.key: not an unencrypted PEM private key"), "%s", err.msg);

    cr_assert_eq(
        ag_new_with_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", &err),
        AG_ECONF);
    cr_assert(strstr(err.msg, "assertion.key"), "%s", err.msg);

    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    char *pem = ag_pem(p384, NULL);
    cr_assert_eq(ag_new_with_pem(pem, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "secp384r1") && strstr(err.msg, "need P-256"), "%s", err.msg);
    free(pem);
    EVP_PKEY_free(p384);

    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    pem = ag_pem(ed, NULL);
    cr_assert_eq(ag_new_with_pem(pem, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "ED25519 key, need an EC P-256 key"), "%s", err.msg);
    free(pem);
    EVP_PKEY_free(ed);

    EVP_PKEY *p256 = EVP_EC_gen("P-256");
    pem = ag_pem(p256, "passphrase");
    cr_assert_eq(ag_new_with_pem(pem, &err), AG_ECONF, "encrypted key accepted");
    cr_assert(strstr(err.msg, "not an unencrypted PEM private key"), "%s", err.msg);
    free(pem);
    EVP_PKEY_free(p256);

    /* A public key alone cannot sign. */
    cr_assert_eq(ag_new_with_pem("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"
                                 "\n-----END PUBLIC KEY-----\n",
                                 &err),
                 AG_ECONF);
}

Test(assertion, missing_secret_or_issuer_rejected)
{
    struct ag_assertion_signer *s = NULL;
    struct ag_err err = {0};
    struct ag_config c = ag_test_config(NULL, NULL, 0);
    cr_assert_eq(ag_assertion_signer_new(&c, &s, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "cookie_secret"), "%s", err.msg);
    cr_assert_null(s);
    c = ag_test_config(SECRET_A, NULL, 0);
    c.public_url = NULL;
    cr_assert_eq(ag_assertion_signer_new(&c, &s, &err), AG_ECONF);
    cr_assert(strstr(err.msg, "public_url"), "%s", err.msg);
    cr_assert_eq(ag_assertion_signer_new(NULL, &s, &err), AG_EINVAL);
    ag_assertion_signer_free(NULL); /* no-op */
}
