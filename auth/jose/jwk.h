/* One JSON Web Key (RFC 7517) turned into something OpenSSL can verify with, after every check
 * we insist on: signing use only, algorithm consistent with kty/crv, RSA >= 2048 bits with a sane
 * exponent and no ROCA fingerprint, EC points on their curve, HMAC secrets long enough.
 * Also the table of JWS algorithms (RFC 7518) we know. */
#ifndef AG_AUTH_JWK_H
#define AG_AUTH_JWK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/json.h"

struct evp_pkey_st; /* OpenSSL's EVP_PKEY, kept out of this header */

/** JWS algorithms, as bits so a set of them is an unsigned mask. `none` has no value on purpose. */
enum ag_jws_alg {
    AG_JWS_RS256 = 1u << 0,
    AG_JWS_RS384 = 1u << 1,
    AG_JWS_RS512 = 1u << 2,
    AG_JWS_PS256 = 1u << 3,
    AG_JWS_PS384 = 1u << 4,
    AG_JWS_PS512 = 1u << 5,
    AG_JWS_ES256 = 1u << 6,
    AG_JWS_ES384 = 1u << 7,
    AG_JWS_ES512 = 1u << 8,
    AG_JWS_EDDSA = 1u << 9,
    AG_JWS_HS256 = 1u << 10,
    AG_JWS_HS384 = 1u << 11,
    AG_JWS_HS512 = 1u << 12,
};

#define AG_JWS_ALGS_RSA                                                                            \
    (AG_JWS_RS256 | AG_JWS_RS384 | AG_JWS_RS512 | AG_JWS_PS256 | AG_JWS_PS384 | AG_JWS_PS512)
#define AG_JWS_ALGS_EC (AG_JWS_ES256 | AG_JWS_ES384 | AG_JWS_ES512)
#define AG_JWS_ALGS_HMAC (AG_JWS_HS256 | AG_JWS_HS384 | AG_JWS_HS512)
/** Every asymmetric algorithm: the default allow-list when none is configured. */
#define AG_JWS_ALGS_ASYMMETRIC (AG_JWS_ALGS_RSA | AG_JWS_ALGS_EC | AG_JWS_EDDSA)
#define AG_JWS_ALGS_ALL (AG_JWS_ALGS_ASYMMETRIC | AG_JWS_ALGS_HMAC)

/** Name as it appears in a JOSE header ("RS256"); NULL for a value that is not one algorithm. */
const char *ag_jws_alg_name(unsigned alg);

/** Looks up a header name; AG_EINVAL for unknown names and always for "none". */
enum ag_rc ag_jws_alg_from_name(const char *name, enum ag_jws_alg *out, struct ag_err *err) AG_WUR;

/** Parses a list such as "RS256,PS256 ES256" (comma and/or space separated) into a mask.
 * Rejects unknown names, "none" and an empty list. */
enum ag_rc ag_jws_algs_parse(const char *list, unsigned *mask, struct ag_err *err) AG_WUR;

/** Same for an array of names (the config's oidc.allowed_algs); n == 0 gives the default
 * AG_JWS_ALGS_ASYMMETRIC. */
enum ag_rc ag_jws_algs_from_names(char *const *names, size_t n, unsigned *mask,
                                  struct ag_err *err) AG_WUR;

/** Writes "RS256,PS256" for a mask into out (always NUL-terminated); returns out. */
char *ag_jws_algs_format(unsigned mask, char *out, size_t outlen);

enum ag_jwk_kty { AG_JWK_RSA = 1, AG_JWK_EC, AG_JWK_OKP, AG_JWK_OCT };

/** A key ready for verification. Owned by its key set; read-only once built. */
struct ag_jwk {
    char *kid; /* NULL when the JWK has no kid */
    enum ag_jwk_kty kty;
    unsigned algs;            /* the algorithms this key may verify (from alg, or kty/crv) */
    int bits;                 /* RSA modulus / EC field / OKP size / HMAC secret bits */
    const char *crv;          /* "P-256", "Ed25519", ... or NULL */
    struct evp_pkey_st *pkey; /* RSA, EC, OKP */
    unsigned char *secret;    /* oct: the HMAC secret (wiped on free) */
    size_t secret_len;
};

/** Builds *out from one JWK object. AG_EINVAL with a reason ("use is enc", "RSA key of 1024 bits
 * is too small", ...) when the key must be skipped, AG_EPARSE when its members are malformed.
 * On success the caller releases it with ag_jwk_clear. */
enum ag_rc ag_jwk_from_json(const ag_json *jwk, struct ag_jwk *out, struct ag_err *err) AG_WUR;

/** Frees what ag_jwk_from_json allocated (wiping secrets) and zeroes the struct. */
void ag_jwk_clear(struct ag_jwk *k);

/** True when the key may verify alg. */
bool ag_jwk_allows(const struct ag_jwk *k, enum ag_jws_alg alg);

#endif
