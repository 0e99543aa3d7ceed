#include "auth/login/session_seal.h"

#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include "core/b64url.h"
#include "core/secret.h"

static const char *ag_seal_info(enum ag_seal_purpose p)
{
    return p == AG_SEAL_SESSION ? "airgate session cookie v1" : "airgate login-state cookie v1";
}

static enum ag_rc ag_seal_hkdf(const struct ag_secret *secret, const char *info, uint8_t *out,
                               struct ag_err *err)
{
    static const char salt[] = "airgate-cookie-salt-v1";
    enum ag_rc rc = AG_OK;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (!kctx) {
        rc = ag_err_set(err, AG_ECRYPTO, "HKDF unavailable");
        goto out;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, secret->data, secret->len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, sizeof(salt) - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_KDF_derive(kctx, out, AG_SEAL_KEY_LEN, params) != 1)
        rc = ag_err_set(err, AG_ECRYPTO, "HKDF derivation failed");
out:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return rc;
}

static enum ag_rc ag_seal_key_add(struct ag_seal_ctx *ctx, const struct ag_secret *s,
                                  const char *what, struct ag_err *err)
{
    if (!s->data || s->len < AG_SEAL_MIN_SECRET)
        return ag_err_set(err, AG_ECONF, "%s: must be at least %d bytes (has %zu)", what,
                          AG_SEAL_MIN_SECRET, s->data ? s->len : (size_t)0);
    if (ctx->n_keys >= AG_SEAL_MAX_KEYS)
        return ag_err_set(err, AG_ECONF, "session.previous_cookie_secrets: at most %d entries",
                          AG_SEAL_MAX_KEYS - 1);
    struct ag_seal_key *k = &ctx->keys[ctx->n_keys];
    enum ag_rc rc = ag_seal_hkdf(s, ag_seal_info(ctx->purpose), k->key, err);
    if (rc != AG_OK)
        return rc;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(k->key, sizeof(k->key), digest);
    k->id = digest[0];
    ctx->n_keys++;
    return AG_OK;
}

enum ag_rc ag_seal_ctx_init(struct ag_seal_ctx *ctx, const struct ag_config *cfg,
                            enum ag_seal_purpose purpose, struct ag_err *err)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->purpose = purpose;
    ctx->cookie_name = cfg->session.cookie_name ? cfg->session.cookie_name : "_airgate";
    ctx->domain = cfg->session.cookie_domain;
    ctx->secure = cfg->public_https;
    ctx->lifetime_s = cfg->session.lifetime_s > 0 ? cfg->session.lifetime_s : 86400;
    ctx->idle_timeout_s = cfg->session.idle_timeout_s > 0 ? cfg->session.idle_timeout_s : 0;
    enum ag_rc rc = ag_seal_key_add(ctx, &cfg->session.cookie_secret, "session.cookie_secret", err);
    for (size_t i = 0; rc == AG_OK && i < cfg->session.previous_cookie_secrets.n; i++)
        rc = ag_seal_key_add(ctx, &cfg->session.previous_cookie_secrets.items[i],
                             "session.previous_cookie_secrets", err);
    if (rc != AG_OK)
        ag_seal_ctx_wipe(ctx);
    return rc;
}

void ag_seal_ctx_wipe(struct ag_seal_ctx *ctx)
{
    ag_secret_wipe(ctx->keys, sizeof(ctx->keys));
    ctx->n_keys = 0;
}

static enum ag_rc ag_seal_gcm(int enc, const struct ag_seal_key *k, const uint8_t *nonce,
                              const uint8_t *aad1, size_t aad1len, const char *aad2,
                              const uint8_t *in, size_t inlen, uint8_t *out, uint8_t *tag)
{
    enum ag_rc rc = AG_ECRYPTO;
    int len = 0;
    if (inlen > 0x7fffffff)
        return AG_EINVAL;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c)
        return AG_ECRYPTO;
    if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, AG_SEAL_NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(c, NULL, NULL, k->key, nonce, enc) != 1)
        goto out;
    if (EVP_CipherUpdate(c, NULL, &len, aad1, (int)aad1len) != 1 ||
        EVP_CipherUpdate(c, NULL, &len, (const uint8_t *)aad2, (int)strlen(aad2)) != 1)
        goto out;
    if (inlen && EVP_CipherUpdate(c, out, &len, in, (int)inlen) != 1)
        goto out;
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, AG_SEAL_TAG_LEN, tag) != 1)
        goto out;
    if (EVP_CipherFinal_ex(c, out + len, &len) != 1)
        goto out;
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, AG_SEAL_TAG_LEN, tag) != 1)
        goto out;
    rc = AG_OK;
out:
    EVP_CIPHER_CTX_free(c);
    return rc;
}

enum ag_rc ag_seal_seal(struct ag_arena *a, const struct ag_seal_ctx *ctx, const char *name,
                        const uint8_t *pt, size_t ptlen, char **out, struct ag_err *err)
{
    if (ctx->n_keys == 0)
        return ag_err_set(err, AG_ECONF, "no cookie key configured");
    size_t total = ptlen + AG_SEAL_OVERHEAD;
    uint8_t *blob = ag_arena_alloc(a, total);
    blob[0] = AG_SEAL_VERSION;
    blob[1] = ctx->keys[0].id;
    enum ag_rc rc = ag_random_bytes(blob + 2, AG_SEAL_NONCE_LEN, err);
    if (rc != AG_OK)
        return rc;
    uint8_t *ct = blob + 2 + AG_SEAL_NONCE_LEN;
    rc = ag_seal_gcm(1, &ctx->keys[0], blob + 2, blob, 2, name, pt, ptlen, ct, ct + ptlen);
    if (rc != AG_OK)
        return ag_err_set(err, rc, "cookie encryption failed");
    *out = ag_b64url_encode_arena(a, blob, total);
    return AG_OK;
}

enum ag_rc ag_seal_open(struct ag_arena *a, const struct ag_seal_ctx *ctx, const char *name,
                        const char *b64, size_t b64len, uint8_t **pt, size_t *ptlen,
                        struct ag_err *err)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    if (ag_b64url_decode_arena(a, b64, b64len, &blob, &len, err) != AG_OK)
        return ag_err_set(err, AG_EPARSE, "cookie %s: not base64url", name);
    if (len < AG_SEAL_OVERHEAD)
        return ag_err_set(err, AG_EPARSE, "cookie %s: truncated (%zu bytes)", name, len);
    if (blob[0] != AG_SEAL_VERSION)
        return ag_err_set(err, AG_ECRYPTO, "cookie %s: unknown version %u", name, blob[0]);
    size_t ctlen = len - AG_SEAL_OVERHEAD;
    uint8_t *ct = blob + 2 + AG_SEAL_NONCE_LEN;
    uint8_t *out = ag_arena_alloc(a, ctlen + 1);
    bool id_known = false;
    for (size_t i = 0; i < ctx->n_keys; i++) {
        if (ctx->keys[i].id != blob[1])
            continue;
        id_known = true;
        if (ag_seal_gcm(0, &ctx->keys[i], blob + 2, blob, 2, name, ct, ctlen, out, ct + ctlen) ==
            AG_OK) {
            out[ctlen] = '\0';
            *pt = out;
            *ptlen = ctlen;
            return AG_OK;
        }
    }
    ag_secret_wipe(out, ctlen);
    if (!id_known)
        return ag_err_set(err, AG_ECRYPTO, "cookie %s: sealed with an unknown key (id %u)", name,
                          blob[1]);
    return ag_err_set(err, AG_ECRYPTO, "cookie %s: authentication failed (tampered or foreign)",
                      name);
}

char *ag_seal_cookie_header(struct ag_arena *a, const struct ag_seal_ctx *ctx, const char *name,
                            const char *value, long max_age, const char *path)
{
    bool clear = max_age <= 0;
    return ag_arena_printf(
        a, "%s=%s; Path=%s%s%s; Max-Age=%ld%s; HttpOnly%s; SameSite=Lax", name, clear ? "" : value,
        path, ctx->domain ? "; Domain=" : "", ctx->domain ? ctx->domain : "", clear ? 0L : max_age,
        clear ? "; Expires=Thu, 01 Jan 1970 00:00:00 GMT" : "", ctx->secure ? "; Secure" : "");
}

size_t ag_seal_cookies_with_prefix(struct ag_arena *a, const struct ag_http_request *req,
                                   const char *prefix, struct ag_cookie *out, size_t max)
{
    size_t n = 0;
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < req->n_headers && n < max; i++) {
        if (strcasecmp(req->headers[i].name, "Cookie") != 0 || !req->headers[i].value)
            continue;
        const char *p = req->headers[i].value;
        while (*p && n < max) {
            while (*p == ' ' || *p == '\t' || *p == ';')
                p++;
            const char *semi = strchr(p, ';');
            const char *end = semi ? semi : p + strlen(p);
            const char *eq = memchr(p, '=', (size_t)(end - p));
            if (eq && (size_t)(eq - p) >= plen && memcmp(p, prefix, plen) == 0) {
                const char *v = eq + 1;
                size_t vlen = (size_t)(end - v);
                if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
                    v++;
                    vlen -= 2;
                }
                out[n].name = ag_arena_strndup(a, p, (size_t)(eq - p));
                out[n].value = ag_arena_strndup(a, v, vlen);
                n++;
            }
            p = end;
        }
    }
    return n;
}
