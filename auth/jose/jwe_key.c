/* The JWE side that needs no cjose: algorithm names and the allow-list, our PEM decryption keys
 * (OpenSSL reads them; jwe.c turns the components into cjose keys), their RFC 7638 kids and the
 * public JWKs published at /.well-known/airgate/jwks.json. See jwe.h. */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jose/jwe_int.h"
#include "core/b64url.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/secret.h"

static const struct {
    enum ag_jwe_alg alg;
    const char *name;
} ag_jwe_names[] = {
    {AG_JWE_RSA_OAEP, "RSA-OAEP"},
    {AG_JWE_ECDH_ES, "ECDH-ES"},
    {AG_JWE_RSA1_5, "RSA1_5"},
    {AG_JWE_A128GCM, "A128GCM"},
    {AG_JWE_A256GCM, "A256GCM"},
    {AG_JWE_A128CBC_HS256, "A128CBC-HS256"},
    {AG_JWE_A256CBC_HS512, "A256CBC-HS512"},
};
#define AG_JWE_N_NAMES (sizeof(ag_jwe_names) / sizeof(ag_jwe_names[0]))

const char *ag_jwe_alg_name(unsigned alg)
{
    for (size_t i = 0; i < AG_JWE_N_NAMES; i++)
        if ((unsigned)ag_jwe_names[i].alg == alg)
            return ag_jwe_names[i].name;
    return NULL;
}

enum ag_rc ag_jwe_algs_from_names(char *const *names, size_t n, unsigned *mask, struct ag_err *err)
{
    if (n == 0) {
        *mask = AG_JWE_ALGS_DEFAULT;
        return AG_OK;
    }
    unsigned m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned bit = 0;
        for (size_t k = 0; k < AG_JWE_N_NAMES && !bit; k++)
            if (strcmp(names[i], ag_jwe_names[k].name) == 0)
                bit = (unsigned)ag_jwe_names[k].alg;
        if (!bit && strcmp(names[i], "RSA-OAEP-256") == 0)
            return ag_err_set(err, AG_ECONF,
                              "oidc.allowed_enc_algs: RSA-OAEP-256 is not supported (Debian 12's "
                              "cjose 0.6.2 lacks it); use RSA-OAEP or ECDH-ES");
        if (!bit)
            return ag_err_set(err, AG_ECONF,
                              "oidc.allowed_enc_algs: unknown algorithm \"%.40s\" (supported: "
                              "RSA-OAEP, ECDH-ES, RSA1_5; A128GCM, A256GCM, A128CBC-HS256, "
                              "A256CBC-HS512)",
                              names[i]);
        m |= bit;
    }
    if (!(m & AG_JWE_ALGS_KEY) || !(m & AG_JWE_ALGS_ENC))
        return ag_err_set(err, AG_ECONF,
                          "oidc.allowed_enc_algs: needs at least one key management alg "
                          "(RSA-OAEP, ECDH-ES) and one content encryption enc (A128GCM, ...)");
    *mask = m;
    return AG_OK;
}

/* PEM passphrases cannot be typed into a daemon: refuse encrypted keys instead of prompting. */
static int ag_jwe_no_pass(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static void ag_jwe_raw_wipe(struct ag_jwe_raw_key *r)
{
    for (size_t i = 0; i < 8; i++) {
        if (r->part[i]) {
            ag_secret_wipe(r->part[i], r->len[i]);
            free(r->part[i]);
        }
        r->part[i] = NULL;
        r->len[i] = 0;
    }
}

/* One BIGNUM parameter, big-endian, left-padded to pad bytes (0: its own length). */
static int ag_jwe_bn_part(const EVP_PKEY *pk, const char *param, size_t pad,
                          struct ag_jwe_raw_key *r, size_t idx)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pk, param, &bn))
        return -1;
    size_t n = pad ? pad : (size_t)BN_num_bytes(bn);
    if (n == 0)
        n = 1;
    r->part[idx] = malloc(n);
    if (!r->part[idx])
        abort();
    r->len[idx] = n;
    int ok = BN_bn2binpad(bn, r->part[idx], (int)n) == (int)n;
    BN_clear_free(bn);
    return ok ? 0 : -1;
}

/* RFC 7638 thumbprint of the required members, and the JWK we publish. */
static enum ag_rc ag_jwe_publish(struct ag_jwe_key *k, const struct ag_jwe_raw_key *r,
                                 unsigned algs, struct ag_err *err)
{
    struct ag_buf b;
    ag_buf_init(&b, 8192);
    char *p1 = NULL, *p2 = NULL;
    enum ag_rc rc = AG_ECONF;
    /* RSA: e (0) and n (1); EC: x (1) and y (2). */
    size_t i1 = k->ec ? 1 : 0, i2 = k->ec ? 2 : 1;
    p1 = malloc(ag_b64url_encoded_len(r->len[i1]) + 1);
    p2 = malloc(ag_b64url_encoded_len(r->len[i2]) + 1);
    if (!p1 || !p2)
        abort();
    ag_b64url_encode(r->part[i1], r->len[i1], p1, ag_b64url_encoded_len(r->len[i1]) + 1);
    ag_b64url_encode(r->part[i2], r->len[i2], p2, ag_b64url_encoded_len(r->len[i2]) + 1);
    enum ag_rc brc =
        k->ec ? ag_buf_printf(&b, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                              k->crv, p1, p2)
              : ag_buf_printf(&b, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", p1, p2);
    uint8_t th[32];
    unsigned thlen = 0;
    if (brc != AG_OK || EVP_Digest(b.data, b.len, th, &thlen, EVP_sha256(), NULL) != 1 ||
        thlen != sizeof th) {
        rc = ag_err_set(err, AG_ECONF, "thumbprint failed");
        goto out;
    }
    ag_b64url_encode(th, sizeof th, k->kid, sizeof k->kid);
    /* The published alg: the one the IdP should use with this key. */
    const char *alg = k->ec ? "ECDH-ES" : (algs & AG_JWE_RSA_OAEP) ? "RSA-OAEP" : "RSA1_5";
    ag_json *o = ag_json_new_object();
    int bad = ag_json_set(o, "kty", ag_json_new_str(k->ec ? "EC" : "RSA"));
    if (k->ec)
        bad |= ag_json_set(o, "crv", ag_json_new_str(k->crv)) |
               ag_json_set(o, "x", ag_json_new_str(p1)) | ag_json_set(o, "y", ag_json_new_str(p2));
    else
        bad |= ag_json_set(o, "n", ag_json_new_str(p2)) | ag_json_set(o, "e", ag_json_new_str(p1));
    bad |= ag_json_set(o, "kid", ag_json_new_str(k->kid)) |
           ag_json_set(o, "use", ag_json_new_str("enc")) |
           ag_json_set(o, "alg", ag_json_new_str(alg));
    if (bad) /* every member is ASCII we made */
        abort();
    k->public_jwk = ag_json_dump(o, AG_JSON_COMPACT);
    ag_json_decref(o);
    if (!k->public_jwk)
        abort();
    rc = AG_OK;
out:
    free(p1);
    free(p2);
    ag_buf_release(&b, 0);
    return rc;
}

/* Reads one PEM private key into raw components; the checks of jwe.h. */
static enum ag_rc ag_jwe_key_read(const struct ag_secret *pem, struct ag_jwe_key *k,
                                  struct ag_jwe_raw_key *r, struct ag_err *err)
{
    if (pem->len > 64 * 1024)
        return ag_err_set(err, AG_ECONF, "%zu bytes is too large for a PEM key", pem->len);
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    if (!bio)
        abort();
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(bio, NULL, ag_jwe_no_pass, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (!pk)
        return ag_err_set(err, AG_ECONF,
                          "not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)");
    enum ag_rc rc = AG_OK;
    if (EVP_PKEY_is_a(pk, "RSA")) {
        int bits = EVP_PKEY_get_bits(pk);
        if (bits < 2048 || bits > 16384) {
            rc = ag_err_set(err, AG_ECONF, "RSA key of %d bits (2048 to 16384 are accepted)", bits);
            goto out;
        }
        static const char *const names[8] = {
            OSSL_PKEY_PARAM_RSA_E,         OSSL_PKEY_PARAM_RSA_N,
            OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
            OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
            OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
        for (size_t i = 0; i < 8; i++) {
            /* n, e, d are required; a key without the CRT values still works (slower). */
            bool missing = ag_jwe_bn_part(pk, names[i], 0, r, i) != 0;
            if (missing && i < 3) {
                rc = ag_err_set(err, AG_ECONF, "RSA key without %s", names[i]);
                goto out;
            }
        }
        k->ec = false;
        k->size = (size_t)(bits + 7) / 8;
    } else if (EVP_PKEY_is_a(pk, "EC")) {
        char group[64] = "";
        if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                            NULL))
            group[0] = '\0';
        int nid = OBJ_txt2nid(group);
        if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1) {
            rc = ag_err_set(err, AG_ECONF, "EC key on curve %s (P-256 and P-384 are accepted)",
                            group[0] ? group : "(unnamed)");
            goto out;
        }
        k->ec = true;
        k->crv = nid == NID_secp384r1 ? "P-384" : "P-256";
        k->size = nid == NID_secp384r1 ? 48 : 32;
        r->ec = true;
        r->nid = nid;
        if (ag_jwe_bn_part(pk, OSSL_PKEY_PARAM_PRIV_KEY, k->size, r, 0) != 0 ||
            ag_jwe_bn_part(pk, OSSL_PKEY_PARAM_EC_PUB_X, k->size, r, 1) != 0 ||
            ag_jwe_bn_part(pk, OSSL_PKEY_PARAM_EC_PUB_Y, k->size, r, 2) != 0) {
            rc = ag_err_set(err, AG_ECONF, "cannot read the EC key");
            goto out;
        }
    } else {
        const char *t = EVP_PKEY_get0_type_name(pk);
        rc = ag_err_set(err, AG_ECONF, "%s key; an RSA or EC (P-256, P-384) key is needed",
                        t ? t : "unknown");
    }
out:
    ERR_clear_error();
    EVP_PKEY_free(pk);
    return rc;
}

enum ag_rc ag_jwe_keys_new(const struct ag_secretlist *pems, unsigned algs,
                           struct ag_jwe_keys **out, struct ag_err *err)
{
    *out = NULL;
    if (!pems || pems->n == 0)
        return AG_OK;
    if (pems->n > AG_JWE_MAX_KEYS)
        return ag_err_set(err, AG_ECONF, "oidc.decryption_key: %zu keys; at most %d", pems->n,
                          AG_JWE_MAX_KEYS);
    struct ag_jwe_keys *ks = calloc(1, sizeof(*ks));
    if (!ks)
        abort();
    ks->algs = algs;
    enum ag_rc rc = AG_OK;
    for (size_t i = 0; i < pems->n && rc == AG_OK; i++) {
        struct ag_jwe_key *k = &ks->items[ks->n];
        struct ag_jwe_raw_key raw = {0};
        rc = ag_jwe_key_read(&pems->items[i], k, &raw, err);
        if (rc == AG_OK) {
            k->algs = k->ec ? (algs & AG_JWE_ECDH_ES) : (algs & (AG_JWE_RSA_OAEP | AG_JWE_RSA1_5));
            if (!k->algs)
                rc = ag_err_set(err, AG_ECONF,
                                "%s key, but oidc.allowed_enc_algs lists no alg for it (%s)",
                                k->ec ? "an EC" : "an RSA", k->ec ? "ECDH-ES" : "RSA-OAEP");
        }
        if (rc == AG_OK)
            rc = ag_jwe_publish(k, &raw, algs, err);
        for (size_t j = 0; rc == AG_OK && j < ks->n; j++)
            if (strcmp(ks->items[j].kid, k->kid) == 0)
                rc = ag_err_set(err, AG_ECONF, "the same key as key %zu", j + 1);
        if (rc == AG_OK)
            rc = ag_jwe_key_cjose_new(k, &raw, err);
        ag_jwe_raw_wipe(&raw);
        if (rc == AG_OK) {
            ks->n++;
        } else {
            free(k->public_jwk);
            k->public_jwk = NULL;
            ag_err_prefix(err, "oidc.decryption_key (key %zu)", i + 1);
        }
    }
    if (rc != AG_OK) {
        ag_jwe_keys_free(ks);
        return rc;
    }
    *out = ks;
    return AG_OK;
}

void ag_jwe_keys_free(struct ag_jwe_keys *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        ag_jwe_key_cjose_free(k->items[i].cj);
        free(k->items[i].public_jwk);
    }
    free(k);
}

size_t ag_jwe_keys_count(const struct ag_jwe_keys *k)
{
    return k ? k->n : 0;
}

const char *ag_jwe_keys_kid(const struct ag_jwe_keys *k, size_t i)
{
    return k && i < k->n ? k->items[i].kid : NULL;
}

static void ag_jwe_json_decref(void *p)
{
    ag_json_decref(p);
}

enum ag_rc ag_jwe_jwks_merge(struct ag_arena *a, const char *sig_jwks, const struct ag_jwe_keys *k,
                             const char **out, struct ag_err *err)
{
    struct ag_json_error je;
    ag_json *set =
        sig_jwks ? ag_json_parse(sig_jwks, strlen(sig_jwks), 0, &je) : ag_json_new_object();
    if (!set || !ag_json_is_object(set)) {
        ag_json_decref(set);
        return ag_err_set(err, AG_EINVAL, "the signing JWK Set is not a JSON object");
    }
    ag_arena_cleanup_add(a, ag_jwe_json_decref, set);
    ag_json *keys = ag_json_get(set, "keys");
    if (!keys) {
        keys = ag_json_new_array();
        ag_json_set(set, "keys", keys);
    }
    if (!ag_json_is_array(keys))
        return ag_err_set(err, AG_EINVAL, "the signing JWK Set has no \"keys\" array");
    for (size_t i = 0; k && i < k->n; i++) {
        ag_json *jwk =
            ag_json_parse(k->items[i].public_jwk, strlen(k->items[i].public_jwk), 0, &je);
        if (!jwk || ag_json_append(keys, jwk) != 0)
            abort();
    }
    char *txt = ag_json_dump(set, AG_JSON_COMPACT);
    if (!txt)
        abort();
    *out = ag_arena_strdup(a, txt);
    free(txt);
    return AG_OK;
}

bool ag_jwe_is_compact(const char *token, size_t len)
{
    size_t dots = 0;
    for (size_t i = 0; i < len && dots <= 4; i++)
        dots += token[i] == '.';
    return dots == 4;
}
