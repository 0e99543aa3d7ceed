#include "auth/jose/jwks.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct ag_keyset {
    atomic_int refs;
    size_t n;
    size_t skipped;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    struct ag_jwk keys[];
};

static void ag_jwks_free(struct ag_keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        ag_jwk_clear(&ks->keys[i]);
    free(ks);
}

struct ag_keyset *ag_jwks_ref(struct ag_keyset *ks)
{
    if (ks)
        atomic_fetch_add_explicit(&ks->refs, 1, memory_order_relaxed);
    return ks;
}

void ag_jwks_unref(struct ag_keyset *ks)
{
    if (ks && atomic_fetch_sub_explicit(&ks->refs, 1, memory_order_acq_rel) == 1)
        ag_jwks_free(ks);
}

size_t ag_jwks_count(const struct ag_keyset *ks)
{
    return ks ? ks->n : 0;
}

size_t ag_jwks_skipped(const struct ag_keyset *ks)
{
    return ks ? ks->skipped : 0;
}

const struct ag_jwk *ag_jwks_key(const struct ag_keyset *ks, size_t i)
{
    return ks && i < ks->n ? &ks->keys[i] : NULL;
}

const struct ag_jwk *ag_jwks_find_kid(const struct ag_keyset *ks, const char *kid)
{
    if (!ks || !kid)
        return NULL;
    for (size_t i = 0; i < ks->n; i++) {
        if (ks->keys[i].kid && strcmp(ks->keys[i].kid, kid) == 0)
            return &ks->keys[i];
    }
    return NULL;
}

const unsigned char *ag_jwks_digest(const struct ag_keyset *ks)
{
    return ks->digest;
}

enum ag_rc ag_jwks_parse(const char *json, size_t len, struct ag_keyset **out, struct ag_err *err)
{
    if (len > AG_JWKS_MAX_BYTES)
        return ag_err_set(err, AG_EPARSE, "key set is %zu bytes, over the %u-byte limit", len,
                          AG_JWKS_MAX_BYTES);
    struct ag_json_error jerr;
    ag_json *doc = ag_json_parse(json, len, 0, &jerr);
    if (!doc)
        return ag_err_set(err, AG_EPARSE, "key set is not valid JSON: %s (line %d)", jerr.text,
                          jerr.line);
    enum ag_rc rc = AG_OK;
    struct ag_keyset *ks = NULL;
    const ag_json *keys = ag_json_get(doc, "keys");
    if (!ag_json_is_object(doc) || !ag_json_is_array(keys)) {
        rc = ag_err_set(err, AG_EPARSE, "key set has no \"keys\" array");
        goto out;
    }
    size_t total = ag_json_array_size(keys);
    if (total > AG_JWKS_MAX_KEYS) {
        rc = ag_err_set(err, AG_EPARSE, "key set has %zu keys, over the limit of %u", total,
                        AG_JWKS_MAX_KEYS);
        goto out;
    }
    ks = calloc(1, sizeof(*ks) + total * sizeof(struct ag_jwk));
    if (!ks)
        abort();
    atomic_init(&ks->refs, 1);
    SHA256((const unsigned char *)json, len, ks->digest);
    /* Two signing keys with one kid make the choice ambiguous, even when one of them is unusable
     * (RFC 7517 4.5 only tolerates it for keys of different purpose). */
    for (size_t i = 0; i < total; i++) {
        const ag_json *ki = ag_json_at(keys, i);
        const char *kid = ag_json_str(ag_json_get(ki, "kid"));
        const char *use = ag_json_str(ag_json_get(ki, "use"));
        if (!kid || (use && strcmp(use, "sig") != 0))
            continue;
        for (size_t j = i + 1; j < total; j++) {
            const ag_json *kj = ag_json_at(keys, j);
            const char *kid2 = ag_json_str(ag_json_get(kj, "kid"));
            const char *use2 = ag_json_str(ag_json_get(kj, "use"));
            if (kid2 && strcmp(kid, kid2) == 0 && (!use2 || strcmp(use2, "sig") == 0)) {
                rc = ag_err_set(err, AG_EINVAL, "key set has two signing keys with kid=%.64s", kid);
                goto out;
            }
        }
    }
    bool sym = false, asym = false;
    for (size_t i = 0; i < total; i++) {
        struct ag_err kerr;
        struct ag_jwk k;
        if (ag_jwk_from_json(ag_json_at(keys, i), &k, &kerr) != AG_OK) {
            ks->skipped++;
            ag_log(AG_LOG_WARN, NULL, "jwks: skipping key %zu: %s", i, kerr.msg);
            continue;
        }
        if (k.kid && ag_jwks_find_kid(ks, k.kid)) {
            rc = ag_err_set(err, AG_EINVAL, "key set has two usable keys with kid=%.64s", k.kid);
            ag_jwk_clear(&k);
            goto out;
        }
        if (k.kty == AG_JWK_OCT)
            sym = true;
        else
            asym = true;
        ks->keys[ks->n++] = k;
    }
    /* A set that mixes HMAC secrets and public keys invites algorithm confusion. */
    if (sym && asym) {
        rc = ag_err_set(err, AG_EINVAL, "key set mixes symmetric (oct) and asymmetric keys");
        goto out;
    }
    if (ks->n == 0) {
        rc = ag_err_set(err, AG_EINVAL, "key set has no usable signing key (%zu skipped)",
                        ks->skipped);
        goto out;
    }
    *out = ks;
    ks = NULL;
out:
    if (ks)
        ag_jwks_free(ks);
    ag_json_decref(doc);
    return rc;
}

enum ag_rc ag_jwks_load_file(const char *path, struct ag_keyset **out, struct ag_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ag_err_set(err, AG_EIO, "cannot open key set %s: %s", path, strerror(errno));
    size_t cap = AG_JWKS_MAX_BYTES + 1;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    size_t n = fread(buf, 1, cap, f);
    int bad = ferror(f);
    fclose(f);
    enum ag_rc rc;
    if (bad)
        rc = ag_err_set(err, AG_EIO, "cannot read key set %s", path);
    else if (n > AG_JWKS_MAX_BYTES)
        rc = ag_err_set(err, AG_EPARSE, "key set %s is over the %u-byte limit", path,
                        AG_JWKS_MAX_BYTES);
    else
        rc = ag_jwks_parse(buf, n, out, err);
    free(buf);
    return rc;
}
