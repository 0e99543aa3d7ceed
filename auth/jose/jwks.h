/* A JWK Set (RFC 7517 section 5) parsed into an immutable, reference-counted key set, so the live
 * key cache can swap in a new set while requests still verify against the old one. */
#ifndef AG_AUTH_JWKS_H
#define AG_AUTH_JWKS_H

#include <stddef.h>

#include "auth/jose/jwk.h"
#include "core/err.h"

/** Immutable after ag_jwks_parse; safe to share between threads. */
struct ag_keyset;

/** Limits for a key set document. */
#define AG_JWKS_MAX_BYTES (512u * 1024u)
#define AG_JWKS_MAX_KEYS 100u

/** Parses a JWK Set document. Unusable keys (wrong use/key_ops, unknown kty/alg, too small,
 * invalid point, private parts present) are skipped with a log line and counted. The whole set is
 * rejected (AG_EPARSE) when the JSON is malformed, has duplicate members, has no "keys" array, is
 * larger than AG_JWKS_MAX_BYTES, or holds more than AG_JWKS_MAX_KEYS keys; and (AG_EINVAL) when
 * two usable keys share a kid, when it mixes symmetric and asymmetric keys, or when no key is
 * usable. On success *out holds one reference. */
enum ag_rc ag_jwks_parse(const char *json, size_t len, struct ag_keyset **out,
                         struct ag_err *err) AG_WUR;

/** Reads a file (at most AG_JWKS_MAX_BYTES) and parses it. AG_EIO when unreadable. */
enum ag_rc ag_jwks_load_file(const char *path, struct ag_keyset **out, struct ag_err *err) AG_WUR;

/** Takes another reference (thread-safe); returns ks. */
struct ag_keyset *ag_jwks_ref(struct ag_keyset *ks);

/** Drops a reference; the last one frees the keys. NULL is a no-op. */
void ag_jwks_unref(struct ag_keyset *ks);

/** Number of usable keys. */
size_t ag_jwks_count(const struct ag_keyset *ks);

/** Number of keys skipped while parsing. */
size_t ag_jwks_skipped(const struct ag_keyset *ks);

/** The i-th usable key (i < ag_jwks_count). */
const struct ag_jwk *ag_jwks_key(const struct ag_keyset *ks, size_t i);

/** The usable key with this kid, or NULL. */
const struct ag_jwk *ag_jwks_find_kid(const struct ag_keyset *ks, const char *kid);

/** SHA-256 over the document the set was parsed from: equal digests mean an unchanged set. */
const unsigned char *ag_jwks_digest(const struct ag_keyset *ks);

#endif
