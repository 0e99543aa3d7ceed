/* Compact JWE decryption: our checks first, then cjose. The only file that includes cjose; see
 * jwe.h for the rules. */
#include "auth/jose/jwe.h"

#include <cjose/cjose.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <string.h>
#include <strings.h>

#include "auth/jose/jwe_int.h"
#include "core/b64url.h"
#include "core/json.h"
#include "core/secret.h"

#define AG_JWE_DEFAULT_MAX_BYTES (256u * 1024u)
#define AG_JWE_MAX_HEADER_CHARS 4096u /* an epk header is ~300 bytes */

enum ag_rc ag_jwe_key_cjose_new(struct ag_jwe_key *k, const struct ag_jwe_raw_key *r,
                                struct ag_err *err)
{
    cjose_err ce = {0};
    cjose_jwk_t *jwk;
    if (r->ec) {
        cjose_jwk_ec_keyspec spec = {.crv = (cjose_jwk_ec_curve)r->nid,
                                     .d = r->part[0],
                                     .dlen = r->len[0],
                                     .x = r->part[1],
                                     .xlen = r->len[1],
                                     .y = r->part[2],
                                     .ylen = r->len[2]};
        jwk = cjose_jwk_create_EC_spec(&spec, &ce);
    } else {
        cjose_jwk_rsa_keyspec spec = {.e = r->part[0],
                                      .elen = r->len[0],
                                      .n = r->part[1],
                                      .nlen = r->len[1],
                                      .d = r->part[2],
                                      .dlen = r->len[2],
                                      .p = r->part[3],
                                      .plen = r->len[3],
                                      .q = r->part[4],
                                      .qlen = r->len[4],
                                      .dp = r->part[5],
                                      .dplen = r->len[5],
                                      .dq = r->part[6],
                                      .dqlen = r->len[6],
                                      .qi = r->part[7],
                                      .qilen = r->len[7]};
        jwk = cjose_jwk_create_RSA_spec(&spec, &ce);
    }
    ERR_clear_error();
    if (!jwk)
        return ag_err_set(err, AG_ECONF, "cjose refused the key: %s",
                          ce.message ? ce.message : "unknown error");
    if (!cjose_jwk_set_kid(jwk, k->kid, strlen(k->kid), &ce)) {
        cjose_jwk_release(jwk);
        return ag_err_set(err, AG_ECONF, "cjose: cannot set the kid");
    }
    k->cj = jwk;
    return AG_OK;
}

void ag_jwe_key_cjose_free(void *cj)
{
    if (cj)
        cjose_jwk_release(cj);
}

static void ag_jwe_json_decref(void *p)
{
    ag_json_decref(p);
}

/* What the protected header says, after every check that needs no key. */
struct ag_jwe_hdr {
    unsigned alg, enc;
    const char *kid;    /* NULL when absent */
    const ag_json *epk; /* ECDH-ES only */
};

static unsigned ag_jwe_lookup(const char *name, unsigned among)
{
    for (unsigned bit = 1; bit && bit <= AG_JWE_A256CBC_HS512; bit <<= 1) {
        const char *n = (bit & among) ? ag_jwe_alg_name(bit) : NULL;
        if (n && strcmp(n, name) == 0)
            return bit;
    }
    return 0;
}

static enum ag_rc ag_jwe_header_check(const ag_json *h, unsigned allowed, struct ag_jwe_hdr *out,
                                      struct ag_err *err)
{
    const ag_json *algv = ag_json_get(h, "alg"), *encv = ag_json_get(h, "enc");
    if (!ag_json_is_string(algv) || !ag_json_is_string(encv))
        return ag_err_set(err, AG_EPARSE, "JWE header needs \"alg\" and \"enc\" strings");
    const char *alg = ag_json_str(algv), *enc = ag_json_str(encv);
    out->alg = ag_jwe_lookup(alg, AG_JWE_ALGS_KEY);
    out->enc = ag_jwe_lookup(enc, AG_JWE_ALGS_ENC);
    if (strcmp(alg, "RSA-OAEP-256") == 0)
        return ag_err_set(err, AG_ECRYPTO,
                          "JWE alg RSA-OAEP-256 is not supported (Debian 12's cjose 0.6.2 lacks "
                          "it): set the IdP to RSA-OAEP or ECDH-ES");
    if (!out->alg)
        return ag_err_set(err, AG_ECRYPTO,
                          "unsupported JWE alg \"%.40s\" (supported: RSA-OAEP, ECDH-ES)", alg);
    if (!out->enc)
        return ag_err_set(err, AG_ECRYPTO,
                          "unsupported JWE enc \"%.40s\" (supported: A128GCM, A256GCM, "
                          "A128CBC-HS256, A256CBC-HS512)",
                          enc);
    if (!(allowed & out->alg) || !(allowed & out->enc))
        return ag_err_set(err, AG_ECRYPTO, "JWE %s \"%s\" is not in oidc.allowed_enc_algs",
                          (allowed & out->alg) ? "enc" : "alg", (allowed & out->alg) ? enc : alg);
    if (ag_json_get(h, "zip"))
        return ag_err_set(err, AG_ECRYPTO, "JWE \"zip\" (compressed content) is refused");
    if (ag_json_get(h, "crit"))
        return ag_err_set(err, AG_ECRYPTO, "JWE header \"crit\" is not supported");
    const ag_json *cty = ag_json_get(h, "cty");
    if (!ag_json_is_string(cty) || strcasecmp(ag_json_str(cty), "JWT") != 0)
        return ag_err_set(err, AG_ECRYPTO,
                          "JWE header \"cty\" must be \"JWT\" (a signed token nested inside)");
    const ag_json *kid = ag_json_get(h, "kid");
    if (kid && !ag_json_is_string(kid))
        return ag_err_set(err, AG_EPARSE, "JWE header \"kid\" is not a string");
    out->kid = kid ? ag_json_str(kid) : NULL;
    out->epk = ag_json_get(h, "epk");
    if (out->alg == AG_JWE_ECDH_ES && !ag_json_is_object(out->epk))
        return ag_err_set(err, AG_EPARSE, "ECDH-ES JWE without an \"epk\" object");
    return AG_OK;
}

/* The sender's ephemeral key must be a public point on our key's curve (invalid-curve attacks
 * recover the private key from many answers otherwise). */
static enum ag_rc ag_jwe_epk_check(struct ag_arena *a, const ag_json *epk,
                                   const struct ag_jwe_key *k, struct ag_err *err)
{
    const char *kty = ag_json_str(ag_json_get(epk, "kty"));
    const char *crv = ag_json_str(ag_json_get(epk, "crv"));
    const char *xs = ag_json_str(ag_json_get(epk, "x"));
    const char *ys = ag_json_str(ag_json_get(epk, "y"));
    if (!kty || strcmp(kty, "EC") != 0 || !crv || !xs || !ys || ag_json_get(epk, "d"))
        return ag_err_set(err, AG_EPARSE, "JWE \"epk\" is not a public EC key");
    if (strcmp(crv, k->crv) != 0)
        return ag_err_set(err, AG_ECRYPTO, "JWE \"epk\" is on %.16s, key kid=%s is %s", crv, k->kid,
                          k->crv);
    uint8_t *x, *y;
    size_t xl, yl;
    struct ag_err e;
    if (ag_b64url_decode_arena(a, xs, strlen(xs), &x, &xl, &e) != AG_OK ||
        ag_b64url_decode_arena(a, ys, strlen(ys), &y, &yl, &e) != AG_OK || xl != k->size ||
        yl != k->size)
        return ag_err_set(err, AG_EPARSE, "JWE \"epk\" coordinates are malformed");
    EC_GROUP *g = EC_GROUP_new_by_curve_name(k->size == 48 ? NID_secp384r1 : NID_X9_62_prime256v1);
    EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
    BIGNUM *bx = BN_bin2bn(x, (int)xl, NULL), *by = BN_bin2bn(y, (int)yl, NULL);
    int ok = g && pt && bx && by && EC_POINT_set_affine_coordinates(g, pt, bx, by, NULL) == 1 &&
             EC_POINT_is_on_curve(g, pt, NULL) == 1;
    BN_free(bx);
    BN_free(by);
    EC_POINT_free(pt);
    EC_GROUP_free(g);
    ERR_clear_error();
    return ok ? AG_OK : ag_err_set(err, AG_ECRYPTO, "JWE \"epk\" is not a point on %s", k->crv);
}

/* Exact sizes: RFC 7518 5.2.2 / 5.3. A short GCM tag is the CVE-2023-37464 forgery. */
static enum ag_rc ag_jwe_sizes_check(unsigned enc, size_t iv_len, size_t ct_len, size_t tag_len,
                                     struct ag_err *err)
{
    bool gcm = enc == AG_JWE_A128GCM || enc == AG_JWE_A256GCM;
    size_t want_iv = gcm ? 12 : 16, want_tag = enc == AG_JWE_A256CBC_HS512 ? 32 : 16;
    if (iv_len != want_iv)
        return ag_err_set(err, AG_ECRYPTO, "JWE IV is %zu bytes; %s needs %zu", iv_len,
                          ag_jwe_alg_name(enc), want_iv);
    if (tag_len != want_tag)
        return ag_err_set(err, AG_ECRYPTO, "JWE authentication tag is %zu bytes; %s needs %zu",
                          tag_len, ag_jwe_alg_name(enc), want_tag);
    if (ct_len == 0 || (!gcm && ct_len % 16 != 0))
        return ag_err_set(err, AG_ECRYPTO, "JWE ciphertext of %zu bytes is not valid for %s",
                          ct_len, ag_jwe_alg_name(enc));
    return AG_OK;
}

/* One attempt with one key: a fresh cjose object each time, so no state carries over. */
static enum ag_rc ag_jwe_try_key(struct ag_arena *a, const struct ag_jwe_key *k, const char *token,
                                 size_t len, size_t max_bytes, const char **out, size_t *out_len,
                                 struct ag_err *err)
{
    cjose_err ce = {0};
    cjose_jwe_t *jwe = cjose_jwe_import(token, len, &ce);
    if (!jwe) {
        ERR_clear_error();
        return ag_err_set(err, AG_EPARSE, "JWE does not parse: %s",
                          ce.message ? ce.message : "unknown error");
    }
    size_t n = 0;
    uint8_t *pt = cjose_jwe_decrypt(jwe, k->cj, &n, &ce);
    cjose_jwe_release(jwe);
    ERR_clear_error();
    if (!pt)
        return ag_err_set(err, AG_ECRYPTO, "JWE does not decrypt with key kid=%s", k->kid);
    enum ag_rc rc = AG_OK;
    if (n == 0 || n > max_bytes) {
        rc = ag_err_set(err, n ? AG_EINVAL : AG_EPARSE,
                        "JWE content is %zu bytes (1 to %zu are accepted)", n, max_bytes);
    } else {
        char *s = ag_arena_alloc(a, n + 1);
        memcpy(s, pt, n);
        s[n] = '\0';
        *out = s;
        *out_len = n;
    }
    ag_secret_wipe(pt, n);
    cjose_get_dealloc()(pt);
    return rc;
}

enum ag_rc ag_jwe_decrypt(struct ag_arena *a, const struct ag_jwe_keys *k, const char *token,
                          size_t len, size_t max_bytes, const char **out, size_t *out_len,
                          struct ag_err *err)
{
    if (max_bytes == 0)
        max_bytes = AG_JWE_DEFAULT_MAX_BYTES;
    if (len > max_bytes)
        return ag_err_set(err, AG_EINVAL, "token is %zu bytes, over the %zu-byte limit", len,
                          max_bytes);
    if (!k || k->n == 0)
        return ag_err_set(err, AG_ECRYPTO,
                          "token is an encrypted JWE, but no oidc.decryption_key is configured");
    /* Five parts: header . encrypted key . IV . ciphertext . tag */
    const char *p[5];
    size_t pl[5], np = 0;
    const char *s = token, *end = token + len;
    while (np < 5) {
        const char *d = memchr(s, '.', (size_t)(end - s));
        p[np] = s;
        pl[np] = d ? (size_t)(d - s) : (size_t)(end - s);
        np++;
        if (!d)
            break;
        s = d + 1;
    }
    if (np != 5 || p[4] + pl[4] != end)
        return ag_err_set(err, AG_EPARSE, "token is not a compact JWE (needs 5 parts)");
    if (pl[0] == 0 || pl[0] > AG_JWE_MAX_HEADER_CHARS)
        return ag_err_set(err, AG_EPARSE, "JWE header is empty or over %u characters",
                          AG_JWE_MAX_HEADER_CHARS);
    struct ag_err e;
    uint8_t *bytes[5];
    size_t bl[5];
    for (size_t i = 0; i < 5; i++) {
        if (ag_b64url_decode_arena(a, p[i], pl[i], &bytes[i], &bl[i], &e) != AG_OK) {
            static const char *const what[5] = {"header", "encrypted key", "IV", "ciphertext",
                                                "tag"};
            return ag_err_set(err, AG_EPARSE, "JWE %s: %s", what[i], e.msg);
        }
    }
    struct ag_json_error je;
    ag_json *h = ag_json_parse((const char *)bytes[0], bl[0], 0, &je);
    if (!h)
        return ag_err_set(err, AG_EPARSE, "JWE header is not valid JSON: %s", je.text);
    ag_arena_cleanup_add(a, ag_jwe_json_decref, h);
    if (!ag_json_is_object(h))
        return ag_err_set(err, AG_EPARSE, "JWE header is not a JSON object");
    struct ag_jwe_hdr hd = {0};
    enum ag_rc rc = ag_jwe_header_check(h, k->algs, &hd, err);
    if (rc == AG_OK)
        rc = ag_jwe_sizes_check(hd.enc, bl[2], bl[3], bl[4], err);
    if (rc != AG_OK)
        return rc;
    if (hd.alg == AG_JWE_ECDH_ES && bl[1] != 0)
        return ag_err_set(err, AG_ECRYPTO, "ECDH-ES JWE must have an empty encrypted key");
    /* The kid names one of our keys; without one, each of ours that fits is tried. */
    struct ag_err last = {0};
    rc = AG_ECRYPTO;
    for (size_t i = 0; i < k->n; i++) {
        const struct ag_jwe_key *key = &k->items[i];
        if (hd.kid && strcmp(hd.kid, key->kid) != 0)
            continue;
        if (!(key->algs & hd.alg)) {
            ag_err_set(&last, AG_ECRYPTO, "JWE alg %s does not fit key kid=%s",
                       ag_jwe_alg_name(hd.alg), key->kid);
            continue;
        }
        if (hd.alg == AG_JWE_ECDH_ES)
            rc = ag_jwe_epk_check(a, hd.epk, key, &last);
        else if (bl[1] != key->size)
            rc = ag_err_set(&last, AG_ECRYPTO,
                            "JWE encrypted key is %zu bytes; key kid=%s needs %zu", bl[1], key->kid,
                            key->size);
        else
            rc = AG_OK;
        if (rc == AG_OK)
            rc = ag_jwe_try_key(a, key, token, len, max_bytes, out, out_len, &last);
        if (rc != AG_ECRYPTO) /* done, or malformed: another key would not help */
            break;
    }
    if (rc != AG_OK) {
        if (last.msg[0])
            return ag_err_set(err, rc, "%s", last.msg);
        if (hd.kid)
            return ag_err_set(err, AG_ECRYPTO, "JWE kid \"%.60s\" is none of our decryption keys",
                              hd.kid);
        return ag_err_set(err, AG_ECRYPTO, "no decryption key fits JWE alg %s",
                          ag_jwe_alg_name(hd.alg));
    }
    /* cty JWT: a compact JWS, which the caller verifies. A nested JWE is not unwrapped. */
    const char *d1 = memchr(*out, '.', *out_len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', *out_len - (size_t)(d1 + 1 - *out)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', *out_len - (size_t)(d2 + 1 - *out)))
        return ag_err_set(err, AG_EPARSE, "JWE content is not a signed JWT (3 parts)");
    return AG_OK;
}
