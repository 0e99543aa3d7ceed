/* The X-Airgate-Assertion signer: a short-lived ES256 JWT that airgate adds to every request it
 * forwards, so Airflow can check that the identity headers really came from airgate (as Google
 * IAP's x-goog-iap-jwt-assertion does). Format: docs/assertion.md.
 *
 * The key is assertion.key (PEM, EC P-256) or, when that is empty, derived from
 * session.cookie_secret with HKDF-SHA256, so every replica holding the same cookie secret signs
 * with the same key and publishes the same JWKS at /.well-known/airgate/jwks.json.
 *
 * Signed assertions are cached per identity and reused until half their lifetime has passed:
 * signing costs tens of microseconds, a cache hit about one. The signer is thread-safe. */
#ifndef AG_AUTH_ASSERTION_H
#define AG_AUTH_ASSERTION_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct ag_arena;
struct ag_config;
struct ag_assertion_signer;

/** The identity an assertion carries. Plain borrowed data: nothing here is kept after
 * ag_assertion_sign returns. NULL strings are left out of the claims; role lists may be empty. */
struct ag_assertion_claims {
    const char *sub;                /* IdP subject */
    const char *preferred_username; /* also what X-Forwarded-User carries */
    const char *email;
    const char *given_name;
    const char *family_name;
    const char *const *roles; /* mapped Airflow roles ("Admin", "Viewer", ...) */
    size_t n_roles;
    const char *const *groups; /* raw IdP roles, as in X-Forwarded-Groups */
    size_t n_groups;
};

/** Cache counters, for /metrics and tests. */
struct ag_assertion_stats {
    uint64_t hits;    /* assertions served from the cache */
    uint64_t signs;   /* assertions signed */
    uint64_t entries; /* identities currently cached (bounded by AG_ASSERTION_CACHE_SLOTS) */
};

/** Most identities the cache holds at once; older ones are replaced. */
#define AG_ASSERTION_CACHE_SLOTS 4096

/** Builds a signer from c's public_url (iss), assertion.audience (aud, default "airflow"),
 * assertion.ttl_s (default 120) and assertion.key or, when that is empty, session.cookie_secret.
 * The signer copies what it needs: c may be released afterwards. One reference, to drop with
 * ag_assertion_signer_free. AG_ECONF with a reason when the key is unusable. */
enum ag_rc ag_assertion_signer_new(const struct ag_config *c, struct ag_assertion_signer **out,
                                   struct ag_err *err) AG_WUR;

/** Takes another reference (thread-safe): a reload must not free a signer a request still uses. */
struct ag_assertion_signer *ag_assertion_signer_ref(struct ag_assertion_signer *s);

/** Drops a reference; the last one wipes the key and the cache. NULL is a no-op. */
void ag_assertion_signer_free(struct ag_assertion_signer *s);

/** Writes the compact JWS for c at time now (seconds since the epoch) into arena memory at *jws.
 * Reuses a cached assertion for the same identity while now is in its first half-life.
 * Thread-safe. AG_EINVAL when the claims are too large for a header. */
enum ag_rc ag_assertion_sign(struct ag_assertion_signer *s, struct ag_arena *arena,
                             const struct ag_assertion_claims *c, int64_t now, const char **jws,
                             struct ag_err *err) AG_WUR;

/** The public JWK Set ({"keys":[{"kty":"EC",...,"kid":...,"use":"sig","alg":"ES256"}]}) for
 * /.well-known/airgate/jwks.json; owned by the signer, valid while it is. */
const char *ag_assertion_jwks_json(const struct ag_assertion_signer *s);

/** The key id: the RFC 7638 thumbprint of the public key. Owned by the signer. */
const char *ag_assertion_kid(const struct ag_assertion_signer *s);

/** Reads the cache counters. */
void ag_assertion_stats_get(struct ag_assertion_signer *s, struct ag_assertion_stats *out);

#endif
