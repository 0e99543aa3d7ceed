#include "mint.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64url.h"

static void ag_mint_die(const char *what)
{
    fprintf(stderr, "mint: %s failed\n", what);
    abort();
}

static char *ag_mint_b64(const void *p, size_t n)
{
    size_t cap = ag_b64url_encoded_len(n) + 1;
    char *s = malloc(cap);
    if (!s)
        ag_mint_die("malloc");
    ag_b64url_encode(p, n, s, cap);
    return s;
}

static const EVP_MD *ag_mint_md(enum ag_jws_alg alg)
{
    if (alg & (AG_JWS_RS256 | AG_JWS_PS256 | AG_JWS_ES256 | AG_JWS_HS256))
        return EVP_sha256();
    if (alg & (AG_JWS_RS384 | AG_JWS_PS384 | AG_JWS_ES384 | AG_JWS_HS384))
        return EVP_sha384();
    if (alg & (AG_JWS_RS512 | AG_JWS_PS512 | AG_JWS_ES512 | AG_JWS_HS512))
        return EVP_sha512();
    return NULL;
}

void ag_mint_key_new_rsa(struct ag_mint_key *k, int bits, const char *kid)
{
    memset(k, 0, sizeof(*k));
    k->alg = AG_JWS_RS256;
    snprintf(k->kid, sizeof(k->kid), "%s", kid ? kid : "");
    k->pkey = EVP_RSA_gen((unsigned)bits);
    if (!k->pkey)
        ag_mint_die("RSA keygen");
}

void ag_mint_key_new(struct ag_mint_key *k, enum ag_jws_alg alg, const char *kid)
{
    memset(k, 0, sizeof(*k));
    k->alg = alg;
    snprintf(k->kid, sizeof(k->kid), "%s", kid ? kid : "");
    if (alg & AG_JWS_ALGS_RSA) {
        k->pkey = EVP_RSA_gen(2048);
    } else if (alg & AG_JWS_ALGS_EC) {
        const char *curve = alg == AG_JWS_ES256 ? "P-256" : alg == AG_JWS_ES384 ? "P-384" : "P-521";
        k->pkey = EVP_EC_gen(curve);
    } else if (alg == AG_JWS_EDDSA) {
        k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    } else {
        k->secret_len = 64;
        if (RAND_bytes(k->secret, 64) != 1)
            ag_mint_die("RAND_bytes");
        return;
    }
    if (!k->pkey)
        ag_mint_die("keygen");
}

void ag_mint_key_free(struct ag_mint_key *k)
{
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
}

static char *ag_mint_bn_b64(const EVP_PKEY *pk, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pk, param, &bn))
        ag_mint_die("get_bn_param");
    size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
    unsigned char *buf = malloc(n);
    if (!buf || BN_bn2binpad(bn, buf, (int)n) < 0)
        ag_mint_die("bn2bin");
    char *s = ag_mint_b64(buf, n);
    free(buf);
    BN_free(bn);
    return s;
}

char *ag_mint_jwk(const struct ag_mint_key *k, int with_alg, const char *extra)
{
    char body[4096];
    const char *alg = ag_jws_alg_name((unsigned)k->alg);
    if (k->alg & AG_JWS_ALGS_RSA) {
        char *n = ag_mint_bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        char *e = ag_mint_bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        snprintf(body, sizeof(body), "\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"", n, e);
        free(n);
        free(e);
    } else if (k->alg & AG_JWS_ALGS_EC) {
        unsigned char pub[200];
        size_t len = 0;
        if (!EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub),
                                             &len) ||
            pub[0] != 4)
            ag_mint_die("EC public key");
        size_t half = (len - 1) / 2;
        char *x = ag_mint_b64(pub + 1, half);
        char *y = ag_mint_b64(pub + 1 + half, half);
        const char *crv = k->alg == AG_JWS_ES256   ? "P-256"
                          : k->alg == AG_JWS_ES384 ? "P-384"
                                                   : "P-521";
        snprintf(body, sizeof(body), "\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"", crv,
                 x, y);
        free(x);
        free(y);
    } else if (k->alg == AG_JWS_EDDSA) {
        unsigned char pub[32];
        size_t len = sizeof(pub);
        if (!EVP_PKEY_get_raw_public_key(k->pkey, pub, &len))
            ag_mint_die("Ed25519 public key");
        char *x = ag_mint_b64(pub, len);
        snprintf(body, sizeof(body), "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"", x);
        free(x);
    } else {
        char *kk = ag_mint_b64(k->secret, k->secret_len);
        snprintf(body, sizeof(body), "\"kty\":\"oct\",\"k\":\"%s\"", kk);
        free(kk);
    }
    size_t cap = strlen(body) + 256 + (extra ? strlen(extra) : 0);
    char *out = malloc(cap);
    if (!out)
        ag_mint_die("malloc");
    snprintf(out, cap, "{%s%s%s%s%s%s%s%s%s}", body, k->kid[0] ? ",\"kid\":\"" : "", k->kid,
             k->kid[0] ? "\"" : "", with_alg ? ",\"alg\":\"" : "", with_alg ? alg : "",
             with_alg ? "\"" : "", extra ? "," : "", extra ? extra : "");
    return out;
}

char *ag_mint_jwks(const char *const *jwks, size_t n)
{
    size_t cap = 32;
    for (size_t i = 0; i < n; i++)
        cap += strlen(jwks[i]) + 1;
    char *out = malloc(cap);
    if (!out)
        ag_mint_die("malloc");
    size_t o = (size_t)snprintf(out, cap, "{\"keys\":[");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", jwks[i]);
    snprintf(out + o, cap - o, "]}");
    return out;
}

static char *ag_mint_join(const char *h64, const char *p64, const unsigned char *sig, size_t sl)
{
    char *s64 = ag_mint_b64(sig, sl);
    size_t cap = strlen(h64) + strlen(p64) + strlen(s64) + 3;
    char *tok = malloc(cap);
    if (!tok)
        ag_mint_die("malloc");
    snprintf(tok, cap, "%s.%s.%s", h64, p64, s64);
    free(s64);
    return tok;
}

char *ag_mint_sign_hmac(const unsigned char *secret, size_t len, enum ag_jws_alg alg,
                        const char *header_json, const char *payload_json)
{
    char *h64 = ag_mint_b64(header_json, strlen(header_json));
    char *p64 = ag_mint_b64(payload_json, strlen(payload_json));
    size_t in_len = strlen(h64) + 1 + strlen(p64);
    char *in = malloc(in_len + 1);
    if (!in)
        ag_mint_die("malloc");
    snprintf(in, in_len + 1, "%s.%s", h64, p64);
    unsigned char mac[64];
    unsigned int ml = 0;
    HMAC(ag_mint_md(alg), secret, (int)len, (unsigned char *)in, in_len, mac, &ml);
    char *tok = ag_mint_join(h64, p64, mac, ml);
    free(in);
    free(h64);
    free(p64);
    return tok;
}

char *ag_mint_sign(const struct ag_mint_key *k, enum ag_jws_alg alg, const char *header_json,
                   const void *payload, size_t payload_len)
{
    if (alg & AG_JWS_ALGS_HMAC) {
        char *p = malloc(payload_len + 1);
        if (!p)
            ag_mint_die("malloc");
        memcpy(p, payload, payload_len);
        p[payload_len] = '\0';
        char *t = ag_mint_sign_hmac(k->secret, k->secret_len, alg, header_json, p);
        free(p);
        return t;
    }
    char *h64 = ag_mint_b64(header_json, strlen(header_json));
    char *p64 = ag_mint_b64(payload, payload_len);
    size_t in_len = strlen(h64) + 1 + strlen(p64);
    char *in = malloc(in_len + 1);
    if (!in)
        ag_mint_die("malloc");
    snprintf(in, in_len + 1, "%s.%s", h64, p64);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (EVP_DigestSignInit(md, &pctx, ag_mint_md(alg), NULL, k->pkey) != 1)
        ag_mint_die("DigestSignInit");
    if (alg & (AG_JWS_PS256 | AG_JWS_PS384 | AG_JWS_PS512)) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    size_t sl = 0;
    if (EVP_DigestSign(md, NULL, &sl, (unsigned char *)in, in_len) != 1)
        ag_mint_die("DigestSign size");
    unsigned char *sig = malloc(sl);
    if (!sig || EVP_DigestSign(md, sig, &sl, (unsigned char *)in, in_len) != 1)
        ag_mint_die("DigestSign");
    EVP_MD_CTX_free(md);
    if (alg & AG_JWS_ALGS_EC) {
        /* DER -> R||S of the key's field size. */
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
        int bits = EVP_PKEY_get_bits(k->pkey);
        size_t half = ((size_t)bits + 7) / 8;
        unsigned char *raw = malloc(2 * half);
        if (!es || !raw)
            ag_mint_die("ECDSA DER");
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)half);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + half, (int)half);
        ECDSA_SIG_free(es);
        free(sig);
        sig = raw;
        sl = 2 * half;
    }
    char *tok = ag_mint_join(h64, p64, sig, sl);
    free(sig);
    free(in);
    free(h64);
    free(p64);
    return tok;
}

char *ag_mint_token(const struct ag_mint_key *k, const char *payload_json)
{
    char hdr[256];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
             ag_jws_alg_name((unsigned)k->alg), k->kid);
    return ag_mint_sign(k, k->alg, hdr, payload_json, strlen(payload_json));
}
