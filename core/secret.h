/* Handling of secret bytes: constant-time comparison, wiping, and random generation. */
#ifndef AG_CORE_SECRET_H
#define AG_CORE_SECRET_H

#include <stddef.h>

#include "core/err.h"

/** Non-zero when the two byte strings are equal; time depends only on the lengths. */
int ag_secret_equal(const void *a, size_t alen, const void *b, size_t blen);

/** Overwrites n bytes at p so the compiler cannot elide it. */
void ag_secret_wipe(void *p, size_t n);

/** Fills out with n cryptographically secure random bytes. */
enum ag_rc ag_random_bytes(void *out, size_t n, struct ag_err *err) AG_WUR;

#endif
