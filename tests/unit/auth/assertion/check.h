/* Helpers for the assertion tests: an independent ES256 verifier built from the published JWK
 * (OpenSSL only, nothing shared with auth/assertion.c) and a config with just the fields the
 * signer reads. */
#ifndef AG_TEST_ASSERTION_CHECK_H
#define AG_TEST_ASSERTION_CHECK_H

#include <jansson.h>
#include <openssl/evp.h>

#include "conf/config.h"

#define AG_TEST_ISS "https://airflow.example.com"

/** A zeroed config with public_url, the cookie secret (borrowed), audience and ttl set. */
struct ag_config ag_test_config(const char *cookie_secret, const char *aud, long ttl);

/** The public key of the first JWK in a JWK Set (EC P-256); NULL when it is not one. */
EVP_PKEY *ag_test_jwk_pub(const char *jwks);

/** 1 when jws is a compact JWS whose ES256 signature verifies with pub. */
int ag_test_es256_verify(const char *jws, EVP_PKEY *pub);

/** The decoded, parsed part (0 header, 1 payload) of a compact JWS; NULL if not JSON. */
json_t *ag_test_jws_part(const char *jws, int part);

#endif
