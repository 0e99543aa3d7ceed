/* X-Airgate-Assertion: ES256 compact JWS over the identity airgate forwards (docs/assertion.md).
 * OpenSSL does the EC work directly; the JSON is small and flat, so it is written with ag_buf
 * (whose string escaping always yields valid JSON) rather than through a JSON library. */
#include "auth/assertion/assertion.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "core/arena.h"
#include "core/b64url.h"
#include "core/buf.h"
#include "core/secret.h"

#define AG_ASSERTION_LOCKS 64
#define AG_ASSERTION_MAX_BYTES (64 * 1024)
#define AG_ASSERTION_DEFAULT_AUD "airflow"
#define AG_ASSERTION_DEFAULT_TTL 120
#define AG_ASSERTION_HKDF_INFO "airgate assertion key v1"

struct ag_assertion_slot {
    uint8_t id[32]; /* SHA-256 of the identity */
    int64_t iat;
    char *jws; /* malloc'd; NULL when the slot is empty */
    size_t len;
};

struct ag_assertion_signer {
    atomic_int refs;
    EVP_PKEY *pkey;
    char *iss;
    char *aud;
    int64_t ttl;
    char kid[64];
    char *header_b64; /* base64url of the protected header, the same for every assertion */
    char *jwks;
    pthread_mutex_t locks[AG_ASSERTION_LOCKS];
    struct ag_assertion_slot *slots; /* AG_ASSERTION_CACHE_SLOTS, direct-mapped */
    atomic_uint_fast64_t hits, signs, entries;
};

static enum ag_rc ag_assertion_ossl_err(struct ag_err *err, enum ag_rc rc, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return ag_err_set(err, rc, "%s%s%s", what, why ? ": " : "", why ? why : "");
}

/* PEM passphrases cannot be typed into a daemon: refuse encrypted keys instead of prompting. */
static int ag_assertion_no_pass(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static enum ag_rc ag_assertion_key_from_pem(const struct ag_secret *pem, EVP_PKEY **out,
                                            struct ag_err *err)
{
    if (pem->len > 64 * 1024)
        return ag_err_set(err, AG_ECONF, "assertion.key: %zu bytes is too large for a PEM key",
                          pem->len);
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    if (!bio)
        return ag_assertion_ossl_err(err, AG_ECONF, "assertion.key: out of memory");
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, ag_assertion_no_pass, NULL);
    BIO_free(bio);
    if (!pkey)
        return ag_assertion_ossl_err(err, AG_ECONF,
                                     "assertion.key: not an unencrypted PEM private key");
    char group[64] = "";
    if (!EVP_PKEY_is_a(pkey, "EC")) {
        ag_err_set(err, AG_ECONF, "assertion.key: %s key, need an EC P-256 key",
                   EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "unknown");
        EVP_PKEY_free(pkey);
        return AG_ECONF;
    }
    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                        NULL) ||
        OBJ_txt2nid(group) != NID_X9_62_prime256v1) {
        ERR_clear_error();
        ag_err_set(err, AG_ECONF, "assertion.key: EC key on curve %s, need P-256 (prime256v1)",
                   group[0] ? group : "(unnamed)");
        EVP_PKEY_free(pkey);
        return AG_ECONF;
    }
    *out = pkey;
    return AG_OK;
}

/* HKDF-SHA256(cookie secret, no salt, info) -> 40 bytes c; d = (c mod (n - 1)) + 1, the method
 * of FIPS 186-4 B.4.1: always in [1, n-1], bias below 2^-64, no retry loop needed. */
static enum ag_rc ag_assertion_key_derive(const struct ag_secret *secret, EVP_PKEY **out,
                                          struct ag_err *err)
{
    enum ag_rc rc = AG_ECRYPTO;
    uint8_t okm[40], pub[65];
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    EC_GROUP *group = NULL;
    EC_POINT *point = NULL;
    BN_CTX *bnctx = NULL;
    BIGNUM *c = NULL, *d = NULL, *nm1 = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;

    if (!secret->data || secret->len == 0)
        return ag_err_set(err, AG_ECONF,
                          "assertion.key is empty and there is no session.cookie_secret to "
                          "derive the assertion key from");
    char info[] = AG_ASSERTION_HKDF_INFO;
    char digest[] = "SHA256";
    OSSL_PARAM kp[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, secret->data, secret->len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (!kctx || EVP_KDF_derive(kctx, okm, sizeof okm, kp) != 1) {
        ag_assertion_ossl_err(err, rc, "assertion key: HKDF failed");
        goto out;
    }
    group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    bnctx = BN_CTX_new();
    c = BN_bin2bn(okm, (int)sizeof okm, NULL);
    d = BN_secure_new();
    nm1 = group ? BN_dup(EC_GROUP_get0_order(group)) : NULL;
    point = group ? EC_POINT_new(group) : NULL;
    if (!bnctx || !c || !d || !nm1 || !point || !BN_sub_word(nm1, 1) || !BN_mod(d, c, nm1, bnctx) ||
        !BN_add_word(d, 1) || !EC_POINT_mul(group, point, d, NULL, NULL, bnctx) ||
        EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof pub, bnctx) !=
            sizeof pub) {
        ag_assertion_ossl_err(err, rc, "assertion key: EC arithmetic failed");
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub) ||
        !(params = OSSL_PARAM_BLD_to_param(bld))) {
        ag_assertion_ossl_err(err, rc, "assertion key: building key parameters failed");
        goto out;
    }
    pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
        EVP_PKEY_fromdata(pctx, out, EVP_PKEY_KEYPAIR, params) != 1) {
        ag_assertion_ossl_err(err, rc, "assertion key: importing the derived key failed");
        goto out;
    }
    rc = AG_OK;
out:
    ag_secret_wipe(okm, sizeof okm);
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params); /* params holds the private scalar: OpenSSL clears BN params */
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(c);
    BN_clear_free(d);
    BN_free(nm1);
    EC_POINT_free(point);
    BN_CTX_free(bnctx);
    EC_GROUP_free(group);
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rc;
}

/* x, y as base64url of their 32-byte big-endian encodings; kid = RFC 7638 thumbprint. */
static enum ag_rc ag_assertion_publish(struct ag_assertion_signer *s, struct ag_err *err)
{
    BIGNUM *x = NULL, *y = NULL;
    uint8_t xb[32], yb[32], th[32];
    char xs[64], ys[64];
    unsigned thlen = 0;
    struct ag_buf b;
    ag_buf_init(&b, 4096);
    enum ag_rc rc = AG_ECRYPTO;

    if (!EVP_PKEY_get_bn_param(s->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
        !EVP_PKEY_get_bn_param(s->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) ||
        BN_bn2binpad(x, xb, sizeof xb) != sizeof xb ||
        BN_bn2binpad(y, yb, sizeof yb) != sizeof yb) {
        ag_assertion_ossl_err(err, rc, "assertion key: reading the public key failed");
        goto out;
    }
    ag_b64url_encode(xb, sizeof xb, xs, sizeof xs);
    ag_b64url_encode(yb, sizeof yb, ys, sizeof ys);
    /* RFC 7638: required members only, lexicographic order, no whitespace. */
    if (ag_buf_printf(&b, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", xs, ys) !=
            AG_OK ||
        EVP_Digest(b.data, b.len, th, &thlen, EVP_sha256(), NULL) != 1 || thlen != sizeof th) {
        ag_assertion_ossl_err(err, rc, "assertion key: thumbprint failed");
        goto out;
    }
    ag_b64url_encode(th, sizeof th, s->kid, sizeof s->kid);
    ag_buf_clear(&b);
    if (ag_buf_printf(&b,
                      "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\","
                      "\"kid\":\"%s\",\"use\":\"sig\",\"alg\":\"ES256\"}]}",
                      xs, ys, s->kid) != AG_OK) {
        rc = ag_err_set(err, AG_ENOMEM, "assertion key: JWKS too large");
        goto out;
    }
    s->jwks = strdup(b.data);
    char hdr[160];
    int n = snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", s->kid);
    size_t cap = ag_b64url_encoded_len((size_t)n) + 1;
    s->header_b64 = malloc(cap);
    if (!s->jwks || !s->header_b64)
        abort();
    ag_b64url_encode((const uint8_t *)hdr, (size_t)n, s->header_b64, cap);
    rc = AG_OK;
out:
    BN_free(x);
    BN_free(y);
    ag_buf_release(&b, 0);
    return rc;
}

enum ag_rc ag_assertion_signer_new(const struct ag_config *c, struct ag_assertion_signer **out,
                                   struct ag_err *err)
{
    if (!c || !out)
        return ag_err_set(err, AG_EINVAL, "assertion signer: no config");
    if (!c->public_url || !c->public_url[0])
        return ag_err_set(err, AG_ECONF, "assertion: public_url (the assertion issuer) is empty");
    EVP_PKEY *pkey = NULL;
    enum ag_rc rc = c->assertion.key.data && c->assertion.key.len
                        ? ag_assertion_key_from_pem(&c->assertion.key, &pkey, err)
                        : ag_assertion_key_derive(&c->session.cookie_secret, &pkey, err);
    if (rc != AG_OK)
        return rc;

    struct ag_assertion_signer *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    atomic_init(&s->refs, 1);
    s->pkey = pkey;
    s->iss = strdup(c->public_url);
    s->aud = strdup(c->assertion.audience && c->assertion.audience[0] ? c->assertion.audience
                                                                      : AG_ASSERTION_DEFAULT_AUD);
    s->ttl = c->assertion.ttl_s > 0 ? c->assertion.ttl_s : AG_ASSERTION_DEFAULT_TTL;
    s->slots = calloc(AG_ASSERTION_CACHE_SLOTS, sizeof *s->slots);
    if (!s->iss || !s->aud || !s->slots)
        abort();
    for (size_t i = 0; i < AG_ASSERTION_LOCKS; i++)
        pthread_mutex_init(&s->locks[i], NULL);
    if ((rc = ag_assertion_publish(s, err)) != AG_OK) {
        ag_assertion_signer_free(s);
        return rc;
    }
    *out = s;
    return AG_OK;
}

struct ag_assertion_signer *ag_assertion_signer_ref(struct ag_assertion_signer *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

void ag_assertion_signer_free(struct ag_assertion_signer *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->slots) {
        for (size_t i = 0; i < AG_ASSERTION_CACHE_SLOTS; i++) {
            /* A cached assertion is a bearer credential towards Airflow until it expires. */
            ag_secret_wipe(s->slots[i].jws, s->slots[i].len);
            free(s->slots[i].jws);
        }
        free(s->slots);
    }
    for (size_t i = 0; i < AG_ASSERTION_LOCKS; i++)
        pthread_mutex_destroy(&s->locks[i]);
    EVP_PKEY_free(s->pkey);
    free(s->iss);
    free(s->aud);
    free(s->header_b64);
    free(s->jwks);
    free(s);
}

const char *ag_assertion_jwks_json(const struct ag_assertion_signer *s)
{
    return s->jwks;
}

const char *ag_assertion_kid(const struct ag_assertion_signer *s)
{
    return s->kid;
}

void ag_assertion_stats_get(struct ag_assertion_signer *s, struct ag_assertion_stats *out)
{
    out->hits = atomic_load(&s->hits);
    out->signs = atomic_load(&s->signs);
    out->entries = atomic_load(&s->entries);
}

/* Length-prefixed fields so that ("ab","c") and ("a","bc") hash differently; absent strings
 * differ from empty ones. */
static enum ag_rc ag_assertion_id_field(struct ag_buf *b, const char *v)
{
    uint64_t n = v ? strlen(v) + 1 : 0; /* 0: absent; len + 1: present */
    enum ag_rc rc = ag_buf_append(b, &n, sizeof n);
    return rc == AG_OK && v ? ag_buf_append(b, v, (size_t)n - 1) : rc;
}

static enum ag_rc ag_assertion_id_list(struct ag_buf *b, const char *const *v, size_t n)
{
    uint64_t count = n;
    enum ag_rc rc = ag_buf_append(b, &count, sizeof count);
    for (size_t i = 0; rc == AG_OK && i < n; i++)
        rc = ag_assertion_id_field(b, v[i] ? v[i] : "");
    return rc;
}

static enum ag_rc ag_assertion_identity(const struct ag_assertion_claims *c, uint8_t id[32],
                                        struct ag_err *err)
{
    struct ag_buf b;
    ag_buf_init(&b, AG_ASSERTION_MAX_BYTES);
    enum ag_rc rc = ag_assertion_id_field(&b, c->sub);
    if (rc == AG_OK)
        rc = ag_assertion_id_field(&b, c->preferred_username);
    if (rc == AG_OK)
        rc = ag_assertion_id_field(&b, c->email);
    if (rc == AG_OK)
        rc = ag_assertion_id_field(&b, c->given_name);
    if (rc == AG_OK)
        rc = ag_assertion_id_field(&b, c->family_name);
    if (rc == AG_OK)
        rc = ag_assertion_id_list(&b, c->roles, c->n_roles);
    if (rc == AG_OK)
        rc = ag_assertion_id_list(&b, c->groups, c->n_groups);
    unsigned len = 0;
    if (rc != AG_OK)
        rc = ag_err_set(err, AG_EINVAL, "assertion: identity larger than %d bytes",
                        AG_ASSERTION_MAX_BYTES);
    else if (EVP_Digest(b.data, b.len, id, &len, EVP_sha256(), NULL) != 1 || len != 32)
        rc = ag_assertion_ossl_err(err, AG_ECRYPTO, "assertion: hashing the identity failed");
    ag_buf_release(&b, 1);
    return rc;
}

static enum ag_rc ag_assertion_json_member(struct ag_buf *b, const char *name, const char *v)
{
    if (!v)
        return AG_OK;
    enum ag_rc rc = ag_buf_printf(b, ",\"%s\":", name);
    return rc == AG_OK ? ag_buf_append_json_string(b, v, strlen(v)) : rc;
}

static enum ag_rc ag_assertion_json_array(struct ag_buf *b, const char *name, const char *const *v,
                                          size_t n)
{
    enum ag_rc rc = ag_buf_printf(b, ",\"%s\":[", name);
    for (size_t i = 0; rc == AG_OK && i < n; i++) {
        const char *item = v[i] ? v[i] : "";
        if (i)
            rc = ag_buf_puts(b, ",");
        if (rc == AG_OK)
            rc = ag_buf_append_json_string(b, item, strlen(item));
    }
    return rc == AG_OK ? ag_buf_puts(b, "]") : rc;
}

static enum ag_rc ag_assertion_payload(const struct ag_assertion_signer *s,
                                       const struct ag_assertion_claims *c, int64_t now,
                                       const char *jti, struct ag_buf *b)
{
    enum ag_rc rc = ag_buf_puts(b, "{\"iss\":");
    if (rc == AG_OK)
        rc = ag_buf_append_json_string(b, s->iss, strlen(s->iss));
    if (rc == AG_OK)
        rc = ag_buf_puts(b, ",\"aud\":");
    if (rc == AG_OK)
        rc = ag_buf_append_json_string(b, s->aud, strlen(s->aud));
    if (rc == AG_OK)
        rc = ag_assertion_json_member(b, "sub", c->sub);
    if (rc == AG_OK)
        rc = ag_assertion_json_member(b, "preferred_username", c->preferred_username);
    if (rc == AG_OK)
        rc = ag_assertion_json_member(b, "email", c->email);
    if (rc == AG_OK)
        rc = ag_assertion_json_member(b, "given_name", c->given_name);
    if (rc == AG_OK)
        rc = ag_assertion_json_member(b, "family_name", c->family_name);
    if (rc == AG_OK)
        rc = ag_assertion_json_array(b, "roles", c->roles, c->n_roles);
    if (rc == AG_OK)
        rc = ag_assertion_json_array(b, "groups", c->groups, c->n_groups);
    if (rc == AG_OK)
        rc = ag_buf_printf(b, ",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld,\"jti\":\"%s\"}",
                           (long long)now, (long long)now, (long long)now + (long long)s->ttl, jti);
    return rc;
}

/* SHA-256 fetched once: an implicit fetch per signature costs more than the hash. */
static EVP_MD *ag_assertion_sha256;
static pthread_once_t ag_assertion_md_once = PTHREAD_ONCE_INIT;

static void ag_assertion_md_init(void)
{
    ag_assertion_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* ECDSA gives DER (SEQUENCE of r, s); JWS wants r || s, each 32 bytes big-endian. */
static enum ag_rc ag_assertion_es256(EVP_PKEY *pkey, const char *data, size_t len, uint8_t rs[64],
                                     struct ag_err *err)
{
    uint8_t der[80];
    size_t derlen = sizeof der;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *sig = NULL;
    enum ag_rc rc = AG_OK;
    pthread_once(&ag_assertion_md_once, ag_assertion_md_init);
    const EVP_MD *sha256 = ag_assertion_sha256 ? ag_assertion_sha256 : EVP_sha256();
    if (!md || EVP_DigestSignInit(md, NULL, sha256, NULL, pkey) != 1 ||
        EVP_DigestSign(md, der, &derlen, (const unsigned char *)data, len) != 1) {
        rc = ag_assertion_ossl_err(err, AG_ECRYPTO, "assertion: signing failed");
        goto out;
    }
    const unsigned char *p = der;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) != 32)
        rc = ag_assertion_ossl_err(err, AG_ECRYPTO, "assertion: bad ECDSA signature encoding");
out:
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    return rc;
}

static enum ag_rc ag_assertion_build(const struct ag_assertion_signer *s,
                                     const struct ag_assertion_claims *c, int64_t now,
                                     struct ag_buf *jws, struct ag_err *err)
{
    uint8_t rnd[16], rs[64];
    char jti[32], sig[100];
    struct ag_buf payload;
    ag_buf_init(&payload, AG_ASSERTION_MAX_BYTES);
    enum ag_rc rc = ag_random_bytes(rnd, sizeof rnd, err);
    if (rc != AG_OK)
        goto out;
    ag_b64url_encode(rnd, sizeof rnd, jti, sizeof jti);
    if (ag_assertion_payload(s, c, now, jti, &payload) != AG_OK) {
        rc = ag_err_set(err, AG_EINVAL, "assertion: claims larger than %d bytes",
                        AG_ASSERTION_MAX_BYTES);
        goto out;
    }
    size_t plen = ag_b64url_encoded_len(payload.len);
    if (ag_buf_puts(jws, s->header_b64) != AG_OK || ag_buf_puts(jws, ".") != AG_OK ||
        plen + 128 > jws->max - jws->len) {
        rc = ag_err_set(err, AG_EINVAL, "assertion: larger than %zu bytes", jws->max);
        goto out;
    }
    char *pad = malloc(plen + 1);
    if (!pad)
        abort();
    ag_b64url_encode((const uint8_t *)payload.data, payload.len, pad, plen + 1);
    rc = ag_buf_append(jws, pad, plen);
    free(pad);
    if (rc == AG_OK)
        rc = ag_assertion_es256(s->pkey, jws->data, jws->len, rs, err);
    if (rc == AG_OK) {
        ag_b64url_encode(rs, sizeof rs, sig, sizeof sig);
        if (ag_buf_puts(jws, ".") != AG_OK || ag_buf_puts(jws, sig) != AG_OK)
            rc = ag_err_set(err, AG_EINVAL, "assertion: larger than %zu bytes", jws->max);
    }
out:
    ag_buf_release(&payload, 0);
    return rc;
}

enum ag_rc ag_assertion_sign(struct ag_assertion_signer *s, struct ag_arena *arena,
                             const struct ag_assertion_claims *c, int64_t now, const char **jws,
                             struct ag_err *err)
{
    if (!s || !arena || !c || !jws)
        return ag_err_set(err, AG_EINVAL, "assertion: missing argument");
    if ((c->n_roles && !c->roles) || (c->n_groups && !c->groups))
        return ag_err_set(err, AG_EINVAL, "assertion: role list is NULL");
    uint8_t id[32] = {0};
    enum ag_rc rc = ag_assertion_identity(c, id, err);
    if (rc != AG_OK)
        return rc;
    uint32_t h = (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
    size_t idx = h % AG_ASSERTION_CACHE_SLOTS;
    pthread_mutex_t *lock = &s->locks[idx % AG_ASSERTION_LOCKS];
    struct ag_assertion_slot *slot = &s->slots[idx];

    pthread_mutex_lock(lock);
    /* Reuse only in the first half of the lifetime, so a receiver always gets at least ttl/2
     * seconds of validity; a clock that went backwards forces a fresh signature. */
    if (slot->jws && memcmp(slot->id, id, sizeof id) == 0 && now >= slot->iat &&
        (now - slot->iat) * 2 < s->ttl) {
        *jws = ag_arena_strndup(arena, slot->jws, slot->len);
        pthread_mutex_unlock(lock);
        atomic_fetch_add(&s->hits, 1);
        return AG_OK;
    }
    pthread_mutex_unlock(lock);

    /* Sign outside the lock: two threads racing on a new identity both sign, which is harmless. */
    struct ag_buf b;
    ag_buf_init(&b, AG_ASSERTION_MAX_BYTES + 256);
    rc = ag_assertion_build(s, c, now, &b, err);
    if (rc != AG_OK) {
        ag_buf_release(&b, 1);
        return rc;
    }
    atomic_fetch_add(&s->signs, 1);
    *jws = ag_arena_strndup(arena, b.data, b.len);

    char *copy = malloc(b.len + 1);
    if (!copy)
        abort();
    memcpy(copy, b.data, b.len + 1);
    pthread_mutex_lock(lock);
    if (!slot->jws)
        atomic_fetch_add(&s->entries, 1);
    ag_secret_wipe(slot->jws, slot->len);
    free(slot->jws);
    memcpy(slot->id, id, sizeof id);
    slot->iat = now;
    slot->jws = copy;
    slot->len = b.len;
    pthread_mutex_unlock(lock);
    ag_buf_release(&b, 1);
    return AG_OK;
}
