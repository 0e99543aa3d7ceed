/* Compact JWS (RFC 7515): strict parsing and signature verification with OpenSSL EVP.
 * The algorithm is decided by the caller's allow-list AND the key, never by the header alone. */
#ifndef AG_AUTH_JWS_H
#define AG_AUTH_JWS_H

#include <stddef.h>
#include <stdint.h>

#include "auth/jose/jwk.h"
#include "auth/jose/jwks.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/json.h"

/** Largest token accepted when the caller gives no limit (Keycloak tokens with many roles can
 * reach tens of KiB). */
#define AG_JWS_DEFAULT_MAX_BYTES (256u * 1024u)

/** A parsed, not yet verified, compact JWS. Everything lives in the arena it was parsed into. */
struct ag_jws {
    enum ag_jws_alg alg;
    const char *alg_name;
    const char *kid;        /* NULL when the header has none */
    ag_json *header;        /* owned by the arena (cleanup registered) */
    const uint8_t *payload; /* decoded, NUL-terminated (not counted in payload_len) */
    size_t payload_len;
    const char *signing_input; /* points into the caller's token: header "." payload */
    size_t signing_input_len;
    const uint8_t *sig;
    size_t sig_len;
};

/** Parses a compact JWS: exactly three non-empty-header parts, strict base64url, header JSON
 * object without duplicate members, a known algorithm (never "none"), no unknown `crit`, no
 * `b64: false`. `jwk`/`jku`/`x5u`/`x5c` headers are ignored. max_bytes 0 means
 * AG_JWS_DEFAULT_MAX_BYTES. AG_EPARSE for malformed input, AG_ECRYPTO for "none" or an unknown
 * algorithm, AG_EINVAL for a token over the size cap. token must stay alive while *out is used. */
enum ag_rc ag_jws_parse(struct ag_arena *a, const char *token, size_t len, size_t max_bytes,
                        struct ag_jws **out, struct ag_err *err) AG_WUR;

/** Verifies the signature of a parsed JWS with the key set. The header alg must be in
 * allowed_algs (a mask of enum ag_jws_alg) and allowed by the key; with a kid only that key is
 * tried, without one every compatible key is. HMAC needs the HS alg in allowed_algs and an oct
 * key in the set. On success *used (may be NULL) points at the key that verified. AG_ECRYPTO on
 * any failure, with a message such as "signature does not verify with key kid=abc (RS256)". */
enum ag_rc ag_jws_verify(const struct ag_jws *jws, const struct ag_keyset *keys,
                         unsigned allowed_algs, const struct ag_jwk **used,
                         struct ag_err *err) AG_WUR;

/** Verifies sig over data with one key and algorithm (the primitive under ag_jws_verify; ECDSA
 * signatures are raw R||S of exactly twice the field size). AG_ECRYPTO when it does not verify. */
enum ag_rc ag_jws_verify_raw(const struct ag_jwk *key, enum ag_jws_alg alg, const void *data,
                             size_t len, const uint8_t *sig, size_t sig_len,
                             struct ag_err *err) AG_WUR;

#endif
