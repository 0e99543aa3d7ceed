/* Test-only token minting: fresh keys generated with OpenSSL, their public JWKs, and compact JWS
 * signed with any algorithm (or deliberately wrong). No private key is ever committed. */
#ifndef AG_TEST_MINT_H
#define AG_TEST_MINT_H

#include <openssl/evp.h>
#include <stddef.h>

#include "auth/jose/jwk.h"

struct ag_mint_key {
    enum ag_jws_alg alg;
    EVP_PKEY *pkey;           /* asymmetric algorithms */
    unsigned char secret[64]; /* HS*: a random secret of 64 bytes */
    size_t secret_len;
    char kid[64];
};

/** Generates a key for alg (RSA 2048, P-256/384/521, Ed25519, or a 64-byte HMAC secret). */
void ag_mint_key_new(struct ag_mint_key *k, enum ag_jws_alg alg, const char *kid);

/** Generates an RSA key of the given size (for the "too small" tests). */
void ag_mint_key_new_rsa(struct ag_mint_key *k, int bits, const char *kid);

void ag_mint_key_free(struct ag_mint_key *k);

/** The public JWK as JSON (malloc'ed). with_alg adds "alg"; extra (may be NULL) is spliced
 * in as additional members, e.g. "\"use\":\"enc\"". */
char *ag_mint_jwk(const struct ag_mint_key *k, int with_alg, const char *extra);

/** {"keys":[jwk1,jwk2,...]} from JWK JSON strings (malloc'ed). */
char *ag_mint_jwks(const char *const *jwks, size_t n);

/** Signs header_json "." payload (both raw JSON/text, base64url-encoded here) with k, using
 * sign_alg (which may differ from k->alg to build wrong tokens). Returns a malloc'ed token. */
char *ag_mint_sign(const struct ag_mint_key *k, enum ag_jws_alg sign_alg, const char *header_json,
                   const void *payload, size_t payload_len);

/** Convenience: {"alg":ALG,"kid":KID,"typ":"JWT"} + payload JSON, signed with k->alg. */
char *ag_mint_token(const struct ag_mint_key *k, const char *payload_json);

/** HMAC-signs with an arbitrary secret (alg-confusion tests). */
char *ag_mint_sign_hmac(const unsigned char *secret, size_t len, enum ag_jws_alg alg,
                        const char *header_json, const char *payload_json);

#endif
