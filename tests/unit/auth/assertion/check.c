#include "check.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <string.h>
#include <jansson.h>

#include "core/arena.h"
#include "core/b64url.h"

struct ag_config ag_test_config(const char *cookie_secret, const char *aud, long ttl)
{
    struct ag_config c;
    memset(&c, 0, sizeof c);
    c.public_url = (char *)AG_TEST_ISS;
    if (cookie_secret) {
        c.session.cookie_secret.data = (unsigned char *)cookie_secret;
        c.session.cookie_secret.len = strlen(cookie_secret);
    }
    c.assertion.audience = (char *)aud;
    c.assertion.ttl_s = ttl;
    return c;
}

static int ag_test_b64(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    struct ag_err err;
    return ag_b64url_decode(s, n, out, cap, len, &err) == AG_OK;
}

EVP_PKEY *ag_test_jwk_pub(const char *jwks)
{
    json_t *root = json_loads(jwks, 0, NULL);
    json_t *k = json_array_get(json_object_get(root, "keys"), 0);
    const char *x = json_string_value(json_object_get(k, "x"));
    const char *y = json_string_value(json_object_get(k, "y"));
    const char *crv = json_string_value(json_object_get(k, "crv"));
    EVP_PKEY *pkey = NULL;
    uint8_t pub[65] = {4}, tmp[96];
    size_t xl = 0, yl = 0;
    if (x && y && crv && strcmp(crv, "P-256") == 0 &&
        ag_test_b64(x, strlen(x), tmp, sizeof tmp, &xl) && xl == 32) {
        memcpy(pub + 1, tmp, 32);
        if (ag_test_b64(y, strlen(y), tmp, sizeof tmp, &yl) && yl == 32) {
            memcpy(pub + 33, tmp, 32);
            OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
            OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub);
            OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
            EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
            if (EVP_PKEY_fromdata_init(ctx) != 1 ||
                EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
                pkey = NULL;
            EVP_PKEY_CTX_free(ctx);
            OSSL_PARAM_free(params);
            OSSL_PARAM_BLD_free(bld);
        }
    }
    json_decref(root);
    return pkey;
}

int ag_test_es256_verify(const char *jws, EVP_PKEY *pub)
{
    const char *d1 = strchr(jws, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2 || strchr(d2 + 1, '.'))
        return 0;
    uint8_t rs[96];
    size_t n = 0;
    if (!ag_test_b64(d2 + 1, strlen(d2 + 1), rs, sizeof rs, &n) || n != 64)
        return 0;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(rs, 32, NULL), BN_bin2bn(rs + 32, 32, NULL));
    unsigned char *der = NULL;
    int derlen = i2d_ECDSA_SIG(sig, &der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = derlen > 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
             EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)jws,
                              (size_t)(d2 - jws)) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    return ok;
}

json_t *ag_test_jws_part(const char *jws, int part)
{
    const char *start = jws;
    for (int i = 0; i < part; i++) {
        start = strchr(start, '.');
        if (!start)
            return NULL;
        start++;
    }
    const char *end = strchr(start, '.');
    size_t n = end ? (size_t)(end - start) : strlen(start);
    struct ag_arena *a = ag_arena_new(0);
    uint8_t *out = NULL;
    size_t len = 0;
    struct ag_err err;
    json_t *j = NULL;
    if (ag_b64url_decode_arena(a, start, n, &out, &len, &err) == AG_OK)
        j = json_loadb((const char *)out, len, 0, NULL);
    ag_arena_free(a);
    return j;
}
