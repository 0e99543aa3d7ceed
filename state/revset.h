/* The in-memory revocation set every replica checks on every session request (no Redis round
 * trip): revoked session ids, IdP session ids (sid) and subjects, each by a keyed digest (never
 * the raw value), with the time of the revocation and an expiry. Pure and single-threaded: the
 * caller (state/store.c) locks. Also the wire form shared through Redis. */
#ifndef AG_STATE_REVSET_H
#define AG_STATE_REVSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define AG_REVOKE_DIGEST_LEN 16
#define AG_REVOCATION_TEXT_MAX 80 /* "s:" + 32 hex + ":" + 2 x 20 digits, with room */

enum ag_revoke_kind {
    AG_REVOKE_SESSION = 's', /* one airgate session (its random id) */
    AG_REVOKE_SID = 'i',     /* every session of one IdP session (the ID token's sid) */
    AG_REVOKE_SUB = 'u',     /* every session of one user (sub) */
};

struct ag_revocation {
    char kind; /* enum ag_revoke_kind */
    uint8_t digest[AG_REVOKE_DIGEST_LEN];
    long long revoked_at; /* sessions created at or before this are revoked */
    long long until;      /* the entry may be forgotten after this (no session outlives it) */
};

struct ag_revset;

/** A set holding at most max entries (0: 1,000,000). */
struct ag_revset *ag_revset_new(size_t max);
void ag_revset_free(struct ag_revset *s);

/** Adds or widens an entry (the later revoked_at and until win). AG_ENOMEM when full. */
enum ag_rc ag_revset_add(struct ag_revset *s, const struct ag_revocation *r) AG_WUR;

/** True when a session of this kind and digest, created at created_at, is revoked at now. */
bool ag_revset_hit(const struct ag_revset *s, char kind, const uint8_t *digest,
                   long long created_at, long long now);

/** Drops entries whose until has passed; returns how many remain. */
size_t ag_revset_expire(struct ag_revset *s, long long now);

size_t ag_revset_count(const struct ag_revset *s);

/** "k:<32 hex>:<revoked_at>:<until>" into out (at least AG_REVOCATION_TEXT_MAX bytes); length. */
size_t ag_revocation_format(const struct ag_revocation *r, char *out, size_t outlen);

/** Parses the wire form strictly. AG_EPARSE for anything else (a foreign or corrupt entry). */
enum ag_rc ag_revocation_parse(const char *s, size_t len, struct ag_revocation *out,
                               struct ag_err *err) AG_WUR;

#endif
