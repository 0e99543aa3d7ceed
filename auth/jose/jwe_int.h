/* Internals shared by jwe.c (cjose) and jwe_key.c (PEM keys, names, the published JWKs). */
#ifndef AG_AUTH_JWE_INT_H
#define AG_AUTH_JWE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/jose/jwe.h"

/** Most keys oidc.decryption_key may list (a rotation needs two). */
#define AG_JWE_MAX_KEYS 8

/** Big-endian key components, to build the cjose key from. RSA: e n d p q dp dq qi; EC: d x y. */
struct ag_jwe_raw_key {
    bool ec;
    int nid; /* EC curve (OpenSSL NID) */
    uint8_t *part[8];
    size_t len[8];
};

struct ag_jwe_key {
    char kid[48];     /* RFC 7638 thumbprint, base64url */
    unsigned algs;    /* the key management algs this key accepts (RSA-OAEP/RSA1_5 or ECDH-ES) */
    bool ec;          /* EC (ECDH-ES) or RSA */
    const char *crv;  /* "P-256" / "P-384"; NULL for RSA */
    size_t size;      /* RSA modulus bytes or EC coordinate bytes */
    char *public_jwk; /* malloc'ed JSON object, as published */
    void *cj;         /* cjose_jwk_t *, owned */
};

struct ag_jwe_keys {
    unsigned algs; /* the allow-list mask */
    size_t n;
    struct ag_jwe_key items[AG_JWE_MAX_KEYS];
};

/** Builds k->cj from raw (jwe.c). AG_ECONF when cjose refuses the key. */
enum ag_rc ag_jwe_key_cjose_new(struct ag_jwe_key *k, const struct ag_jwe_raw_key *raw,
                                struct ag_err *err) AG_WUR;

/** Releases a key built by ag_jwe_key_cjose_new; NULL is a no-op (jwe.c). */
void ag_jwe_key_cjose_free(void *cj);

#endif
