#include "auth/jose/jws.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <string.h>

#include "core/b64url.h"

/* Digests are fetched once: an implicit fetch on every verification costs more than a hash. */
static EVP_MD *ag_jws_md[3];
static pthread_once_t ag_jws_md_once = PTHREAD_ONCE_INIT;

static void ag_jws_md_init(void)
{
    static const char *const names[3] = {"SHA256", "SHA384", "SHA512"};
    for (int i = 0; i < 3; i++)
        ag_jws_md[i] = EVP_MD_fetch(NULL, names[i], NULL);
}

/* 0: SHA-256, 1: SHA-384, 2: SHA-512, -1: none (EdDSA). */
static int ag_jws_hash_index(enum ag_jws_alg alg)
{
    switch (alg) {
    case AG_JWS_RS256:
    case AG_JWS_PS256:
    case AG_JWS_ES256:
    case AG_JWS_HS256:
        return 0;
    case AG_JWS_RS384:
    case AG_JWS_PS384:
    case AG_JWS_ES384:
    case AG_JWS_HS384:
        return 1;
    case AG_JWS_RS512:
    case AG_JWS_PS512:
    case AG_JWS_ES512:
    case AG_JWS_HS512:
        return 2;
    case AG_JWS_EDDSA:
        return -1;
    }
    return -1;
}

static void ag_jws_json_cleanup(void *p)
{
    ag_json_decref(p);
}

/* Header parameters we understand; a `crit` naming anything else must reject (RFC 7515 4.1.11).
 * b64 (RFC 7797) is understood only so that b64:false can be refused. */
static enum ag_rc ag_jws_check_header(const ag_json *h, struct ag_err *err)
{
    const ag_json *crit = ag_json_get(h, "crit");
    if (crit) {
        if (!ag_json_is_array(crit) || ag_json_array_size(crit) == 0)
            return ag_err_set(err, AG_EPARSE, "header \"crit\" must be a non-empty array");
        size_t i;
        const ag_json *v;
        AG_JSON_ARRAY_FOREACH(crit, i, v)
        {
            if (!ag_json_is_string(v))
                return ag_err_set(err, AG_EPARSE, "header \"crit\" has a non-string member");
            return ag_err_set(err, AG_EPARSE,
                              "header \"crit\" names extension \"%.40s\", which is not supported",
                              ag_json_str(v));
        }
    }
    const ag_json *b64 = ag_json_get(h, "b64");
    if (b64 && !ag_json_is_true(b64))
        return ag_err_set(err, AG_EPARSE, "header \"b64\" other than true is not supported");
    return AG_OK;
}

enum ag_rc ag_jws_parse(struct ag_arena *a, const char *token, size_t len, size_t max_bytes,
                        struct ag_jws **out, struct ag_err *err)
{
    if (max_bytes == 0)
        max_bytes = AG_JWS_DEFAULT_MAX_BYTES;
    if (len > max_bytes)
        return ag_err_set(err, AG_EINVAL, "token is %zu bytes, over the %zu-byte limit", len,
                          max_bytes);
    if (len == 0)
        return ag_err_set(err, AG_EPARSE, "token is empty");
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2)
        return ag_err_set(err, AG_EPARSE, "token is not a compact JWS (needs 3 parts)");
    if (memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return ag_err_set(err, AG_EPARSE, "token has more than 3 parts (JWE or garbage?)");
    size_t hl = (size_t)(d1 - token), pl = (size_t)(d2 - d1 - 1);
    size_t sl = len - (size_t)(d2 + 1 - token);
    if (hl == 0)
        return ag_err_set(err, AG_EPARSE, "token header is empty");
    struct ag_err e;
    uint8_t *hdr, *payload, *sig;
    size_t hdr_len, payload_len, sig_len;
    if (ag_b64url_decode_arena(a, token, hl, &hdr, &hdr_len, &e) != AG_OK)
        return ag_err_set(err, AG_EPARSE, "token header: %s", e.msg);
    struct ag_json_error jerr;
    ag_json *h = ag_json_parse((const char *)hdr, hdr_len, 0, &jerr);
    if (!h)
        return ag_err_set(err, AG_EPARSE, "token header is not valid JSON: %s", jerr.text);
    ag_arena_cleanup_add(a, ag_jws_json_cleanup, h);
    if (!ag_json_is_object(h))
        return ag_err_set(err, AG_EPARSE, "token header is not a JSON object");
    const ag_json *algv = ag_json_get(h, "alg");
    if (!ag_json_is_string(algv))
        return ag_err_set(err, AG_EPARSE, "token header has no \"alg\" string");
    const char *alg_name = ag_json_str(algv);
    if (strcmp(alg_name, "none") == 0 || alg_name[0] == '\0')
        return ag_err_set(err, AG_ECRYPTO, "alg \"none\" is never accepted");
    enum ag_jws_alg alg;
    if (ag_jws_alg_from_name(alg_name, &alg, NULL) != AG_OK)
        return ag_err_set(err, AG_ECRYPTO, "unsupported alg \"%.40s\"", alg_name);
    const ag_json *kidv = ag_json_get(h, "kid");
    if (kidv && !ag_json_is_string(kidv))
        return ag_err_set(err, AG_EPARSE, "token header \"kid\" is not a string");
    enum ag_rc rc = ag_jws_check_header(h, err);
    if (rc != AG_OK)
        return rc;
    if (sl == 0)
        return ag_err_set(err, AG_EPARSE, "token signature is empty");
    if (ag_b64url_decode_arena(a, d1 + 1, pl, &payload, &payload_len, &e) != AG_OK)
        return ag_err_set(err, AG_EPARSE, "token payload: %s", e.msg);
    if (ag_b64url_decode_arena(a, d2 + 1, sl, &sig, &sig_len, &e) != AG_OK)
        return ag_err_set(err, AG_EPARSE, "token signature: %s", e.msg);
    /* jwk, jku, x5u, x5c, x5t: deliberately never looked at. Keys come only from the set. */
    struct ag_jws *j = ag_arena_calloc(a, 1, sizeof(*j));
    j->alg = alg;
    j->alg_name = ag_jws_alg_name((unsigned)alg);
    j->kid = kidv ? ag_json_str(kidv) : NULL;
    j->header = h;
    j->payload = payload;
    j->payload_len = payload_len;
    j->signing_input = token;
    j->signing_input_len = (size_t)(d2 - token);
    j->sig = sig;
    j->sig_len = sig_len;
    *out = j;
    return AG_OK;
}

static enum ag_rc ag_jws_verify_hmac(const struct ag_jwk *key, int hi, const void *data, size_t len,
                                     const uint8_t *sig, size_t sig_len, struct ag_err *err)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(ag_jws_md[hi], key->secret, (int)key->secret_len, data, len, mac, &mac_len))
        return ag_err_set(err, AG_ECRYPTO, "HMAC failed");
    int ok = sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok ? AG_OK : ag_err_set(err, AG_ECRYPTO, "MAC does not verify");
}

/* JOSE ECDSA signatures are R||S, each exactly the field size; OpenSSL wants DER. */
static enum ag_rc ag_jws_ecdsa_der(const struct ag_jwk *key, const uint8_t *sig, size_t sig_len,
                                   unsigned char **der, int *der_len, struct ag_err *err)
{
    size_t half = ((size_t)key->bits + 7) / 8;
    if (sig_len != 2 * half)
        return ag_err_set(err, AG_ECRYPTO, "ECDSA signature is %zu bytes, expected %zu", sig_len,
                          2 * half);
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL);
    BIGNUM *s = BN_bin2bn(sig + half, (int)half, NULL);
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return ag_err_set(err, AG_ECRYPTO, "out of memory");
    }
    *der = NULL;
    *der_len = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es);
    if (*der_len <= 0)
        return ag_err_set(err, AG_ECRYPTO, "cannot encode ECDSA signature");
    return AG_OK;
}

enum ag_rc ag_jws_verify_raw(const struct ag_jwk *key, enum ag_jws_alg alg, const void *data,
                             size_t len, const uint8_t *sig, size_t sig_len, struct ag_err *err)
{
    pthread_once(&ag_jws_md_once, ag_jws_md_init);
    if (!ag_jwk_allows(key, alg))
        return ag_err_set(err, AG_ECRYPTO, "key cannot verify %s", ag_jws_alg_name((unsigned)alg));
    int hi = ag_jws_hash_index(alg);
    if (hi >= 0 && !ag_jws_md[hi])
        return ag_err_set(err, AG_ECRYPTO, "digest unavailable in this OpenSSL");
    if (alg & AG_JWS_ALGS_HMAC)
        return ag_jws_verify_hmac(key, hi, data, len, sig, sig_len, err);
    if (!key->pkey)
        return ag_err_set(err, AG_ECRYPTO, "key has no public key");

    unsigned char *der = NULL;
    int der_len = 0;
    if (alg & AG_JWS_ALGS_EC) {
        enum ag_rc rc = ag_jws_ecdsa_der(key, sig, sig_len, &der, &der_len, err);
        if (rc != AG_OK)
            return rc;
        sig = der;
        sig_len = (size_t)der_len;
    } else if (alg & AG_JWS_ALGS_RSA) {
        /* Exactly the modulus size: no leading zeros added or stripped. */
        if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey))
            return ag_err_set(err, AG_ECRYPTO, "RSA signature is %zu bytes, expected %d", sig_len,
                              EVP_PKEY_get_size(key->pkey));
    }
    enum ag_rc rc = AG_OK;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (!md ||
        EVP_DigestVerifyInit(md, &pctx, hi >= 0 ? ag_jws_md[hi] : NULL, NULL, key->pkey) != 1) {
        rc = ag_err_set(err, AG_ECRYPTO, "cannot set up verification");
        goto out;
    }
    if (alg & (AG_JWS_PS256 | AG_JWS_PS384 | AG_JWS_PS512)) {
        /* RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash. */
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, ag_jws_md[hi]) != 1) {
            rc = ag_err_set(err, AG_ECRYPTO, "cannot set up RSA-PSS");
            goto out;
        }
    } else if (alg & (AG_JWS_RS256 | AG_JWS_RS384 | AG_JWS_RS512)) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
            rc = ag_err_set(err, AG_ECRYPTO, "cannot set up RSA PKCS#1 v1.5");
            goto out;
        }
    }
    if (EVP_DigestVerify(md, sig, sig_len, data, len) != 1)
        rc = ag_err_set(err, AG_ECRYPTO, "signature does not verify");
out:
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return rc;
}

/* The kid comes from the token: keep it short and printable before it reaches a log or a tty. */
static const char *ag_jws_kid_text(const char *kid, char *buf, size_t cap)
{
    size_t o = 0;
    for (; kid[o] && o + 4 < cap; o++) {
        unsigned char c = (unsigned char)kid[o];
        buf[o] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (kid[o]) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

enum ag_rc ag_jws_verify(const struct ag_jws *jws, const struct ag_keyset *keys,
                         unsigned allowed_algs, const struct ag_jwk **used, struct ag_err *err)
{
    char allowed[128];
    if (!(allowed_algs & (unsigned)jws->alg))
        return ag_err_set(err, AG_ECRYPTO, "alg %s is not allowed (allowed: %s)", jws->alg_name,
                          ag_jws_algs_format(allowed_algs, allowed, sizeof(allowed)));
    if (!keys || ag_jwks_count(keys) == 0)
        return ag_err_set(err, AG_ECRYPTO, "no keys loaded");
    if (jws->kid) {
        char kid[72];
        ag_jws_kid_text(jws->kid, kid, sizeof(kid));
        const struct ag_jwk *k = ag_jwks_find_kid(keys, jws->kid);
        if (!k)
            return ag_err_set(err, AG_ECRYPTO, "no key with kid=%s in the key set", kid);
        if (!ag_jwk_allows(k, jws->alg))
            return ag_err_set(err, AG_ECRYPTO, "key kid=%s does not allow alg %s (it allows %s)",
                              kid, jws->alg_name,
                              ag_jws_algs_format(k->algs, allowed, sizeof(allowed)));
        struct ag_err e;
        if (ag_jws_verify_raw(k, jws->alg, jws->signing_input, jws->signing_input_len, jws->sig,
                              jws->sig_len, &e) != AG_OK)
            return ag_err_set(err, AG_ECRYPTO, "signature does not verify with key kid=%s (%s): %s",
                              kid, jws->alg_name, e.msg);
        if (used)
            *used = k;
        return AG_OK;
    }
    size_t tried = 0;
    for (size_t i = 0; i < ag_jwks_count(keys); i++) {
        const struct ag_jwk *k = ag_jwks_key(keys, i);
        if (!ag_jwk_allows(k, jws->alg))
            continue;
        tried++;
        if (ag_jws_verify_raw(k, jws->alg, jws->signing_input, jws->signing_input_len, jws->sig,
                              jws->sig_len, NULL) == AG_OK) {
            if (used)
                *used = k;
            return AG_OK;
        }
    }
    if (tried == 0)
        return ag_err_set(err, AG_ECRYPTO, "no key in the set allows alg %s (token has no kid)",
                          jws->alg_name);
    return ag_err_set(err, AG_ECRYPTO,
                      "signature does not verify with any of the %zu %s key(s) (token has no kid)",
                      tried, jws->alg_name);
}
