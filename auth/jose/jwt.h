/* JWT (RFC 7519) verification: a compact JWS whose signature verifies against the key set and
 * whose registered claims pass the policy (iss exact, aud naming us, exp required, nbf/iat with
 * leeway, types checked). */
#ifndef AG_AUTH_JWT_H
#define AG_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/jose/jwk.h"
#include "auth/jose/jwks.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/json.h"

/** What a token must satisfy. Start from ag_jwt_policy_init and set what you need. */
struct ag_jwt_policy {
    const char *issuer;   /* required `iss` (exact match); NULL: not checked */
    const char *audience; /* `aud` (string or array) must contain it ...; NULL: not checked */
    const char *azp;      /* ... or this (the client id); NULL: audience alone */
    const char *const *audiences; /* ... or one of these n_audiences (borrowed) */
    size_t n_audiences;
    bool accept_azp;        /* also accept `azp` == azp in place of aud (off: RFC 9068) */
    unsigned allowed_algs;  /* mask of enum ag_jws_alg; 0 means AG_JWS_ALGS_ASYMMETRIC */
    long leeway_s;          /* clock skew allowed on exp, nbf and iat */
    size_t max_token_bytes; /* 0: AG_JWS_DEFAULT_MAX_BYTES */
    bool check_claims;      /* false: signature only; the payload need not be JSON */
    int64_t now;            /* 0: time(NULL) */
};

/** A verified token. Lives in the caller's arena; header and claims are jansson objects whose
 * references the arena drops when it is freed. Treat them as read-only: the token cache may
 * share them between threads. */
struct ag_jwt {
    enum ag_jws_alg alg;
    const char *alg_name;
    const char *kid; /* NULL when the header has none */
    ag_json *header;
    ag_json *claims;        /* NULL when check_claims was false and the payload is not JSON */
    const uint8_t *payload; /* raw payload bytes, NUL-terminated */
    size_t payload_len;
    int64_t exp;     /* 0 when not checked */
    const char *sub; /* NULL if absent */
    const char *iss; /* NULL if absent */
};

/** Defaults: every asymmetric algorithm, leeway 60 s, claims checked, no iss/aud requirement. */
void ag_jwt_policy_init(struct ag_jwt_policy *p);

/** Verifies token (len bytes, no NUL needed) against keys and the policy; on success *out lives
 * in a. Errors: AG_EPARSE malformed, AG_ECRYPTO bad signature / no usable key / alg not allowed,
 * AG_EEXPIRED exp/nbf/iat, AG_EINVAL wrong iss/aud/claim types or over the size cap. err->msg
 * never contains the token. */
enum ag_rc ag_jwt_verify(struct ag_arena *a, const struct ag_keyset *keys,
                         const struct ag_jwt_policy *p, const char *token, size_t len,
                         struct ag_jwt **out, struct ag_err *err) AG_WUR;

/** Checks the registered claims of an already verified payload against the policy (used by
 * ag_jwt_verify; exposed for the token cache and tests). *exp receives the expiry. */
enum ag_rc ag_jwt_claims_check(const ag_json *claims, const struct ag_jwt_policy *p, int64_t *exp,
                               struct ag_err *err) AG_WUR;

/** Dotted-path lookup into claims ("resource_access.airflow.roles"); NULL when absent. */
const ag_json *ag_jwt_claim_path(const ag_json *claims, const char *path);

#endif
