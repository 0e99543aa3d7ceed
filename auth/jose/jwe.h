/* Compact JWE (RFC 7516): encrypted ID tokens (Keycloak's "ID token encryption" client setting)
 * and userinfo answers. cjose does the cryptography and stays behind this header: only jwe.c
 * includes <cjose/cjose.h>. The JWE layer only unwraps: the nested JWS it yields is verified by
 * the caller exactly as an unencrypted token would be (signature, issuer, audience, expiry).
 *
 * What is accepted is decided here, before cjose sees a byte: alg and enc from an allow-list,
 * RSA1_5 only when listed, no `zip`, no `crit`, `cty: JWT`, exact IV and tag lengths (a
 * truncated GCM tag is refused: CVE-2023-37464), a size cap, and only our own keys (by `kid`,
 * or each of ours that fits the alg when the token names none). */
#ifndef AG_AUTH_JWE_H
#define AG_AUTH_JWE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "core/arena.h"
#include "core/err.h"

/** Key management (alg) and content encryption (enc) algorithms, as bits of one mask. */
enum ag_jwe_alg {
    AG_JWE_RSA_OAEP = 1u << 0,
    AG_JWE_ECDH_ES = 1u << 1,
    AG_JWE_RSA1_5 = 1u << 2, /* Bleichenbacher-prone: only when listed */
    AG_JWE_A128GCM = 1u << 8,
    AG_JWE_A256GCM = 1u << 9,
    AG_JWE_A128CBC_HS256 = 1u << 10,
    AG_JWE_A256CBC_HS512 = 1u << 11,
};

#define AG_JWE_ALGS_KEY (AG_JWE_RSA_OAEP | AG_JWE_ECDH_ES | AG_JWE_RSA1_5)
#define AG_JWE_ALGS_ENC                                                                            \
    (AG_JWE_A128GCM | AG_JWE_A256GCM | AG_JWE_A128CBC_HS256 | AG_JWE_A256CBC_HS512)
/** The default allow-list: everything but RSA1_5. */
#define AG_JWE_ALGS_DEFAULT (AG_JWE_RSA_OAEP | AG_JWE_ECDH_ES | AG_JWE_ALGS_ENC)

/** Name as it appears in a JWE header ("RSA-OAEP", "A256GCM"); NULL for a value that is not one
 * algorithm. */
const char *ag_jwe_alg_name(unsigned alg);

/** Parses oidc.allowed_enc_algs (alg and enc names in one list) into a mask; n == 0 gives
 * AG_JWE_ALGS_DEFAULT. AG_ECONF for unknown names (RSA-OAEP-256 with its own reason: Debian 12's
 * cjose 0.6.2 lacks it), or a list without any alg or without any enc. */
enum ag_rc ag_jwe_algs_from_names(char *const *names, size_t n, unsigned *mask,
                                  struct ag_err *err) AG_WUR;

/** Our decryption keys (oidc.decryption_key): process lifetime, read-only once built, safe to
 * share between threads. */
struct ag_jwe_keys;

/** Builds the key set from PEM private keys (RSA >= 2048 bits, EC P-256 or P-384; unencrypted
 * PEM). algs is the allow-list mask; a key whose alg is not allowed is a config error. With no
 * PEM at all *out is NULL and AG_OK is returned. AG_ECONF naming the key (1-based) otherwise. */
enum ag_rc ag_jwe_keys_new(const struct ag_secretlist *pems, unsigned algs,
                           struct ag_jwe_keys **out, struct ag_err *err) AG_WUR;

/** Frees (the private keys are wiped by cjose and OpenSSL). NULL is a no-op. */
void ag_jwe_keys_free(struct ag_jwe_keys *k);

/** Number of keys (0 for NULL). */
size_t ag_jwe_keys_count(const struct ag_jwe_keys *k);

/** The kid of key i: its RFC 7638 thumbprint. Owned by the key set. */
const char *ag_jwe_keys_kid(const struct ag_jwe_keys *k, size_t i);

/** The JWK Set sig_jwks ({"keys":[...]}, may be NULL) with our public keys added (`use: enc`,
 * `alg`, `kid`), as served at /.well-known/airgate/jwks.json. *out lives in a. */
enum ag_rc ag_jwe_jwks_merge(struct ag_arena *a, const char *sig_jwks, const struct ag_jwe_keys *k,
                             const char **out, struct ag_err *err) AG_WUR;

/** True when token has the shape of a compact JWE: exactly five dot-separated parts. */
bool ag_jwe_is_compact(const char *token, size_t len);

/** Decrypts a compact JWE with our keys. max_bytes caps the token before any work (0: 256 KiB)
 * and the plaintext too. On success *out (NUL-terminated, *out_len bytes, in a) is the nested
 * JWS, still to be verified. AG_EPARSE malformed, AG_EINVAL over the cap, AG_ECRYPTO for an alg,
 * enc or header we refuse, an unknown kid, or a token that does not decrypt. err->msg never
 * contains token material. */
enum ag_rc ag_jwe_decrypt(struct ag_arena *a, const struct ag_jwe_keys *k, const char *token,
                          size_t len, size_t max_bytes, const char **out, size_t *out_len,
                          struct ag_err *err) AG_WUR;

#endif
