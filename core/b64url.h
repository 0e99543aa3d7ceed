/* Strict base64url (RFC 4648 section 5) as JOSE requires it: no padding, no whitespace,
 * no characters from the standard alphabet, and canonical trailing bits. */
#ifndef AG_CORE_B64URL_H
#define AG_CORE_B64URL_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

/** Characters needed to encode n bytes (without the NUL). */
size_t ag_b64url_encoded_len(size_t n);

/** Upper bound of bytes a string of n characters decodes to. */
size_t ag_b64url_decoded_max(size_t n);

/** Encodes n bytes into out (outcap must be >= encoded_len + 1); NUL-terminates; returns length. */
size_t ag_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outcap);

/** Encodes into arena memory, NUL-terminated. */
char *ag_b64url_encode_arena(struct ag_arena *a, const uint8_t *in, size_t n);

/** Decodes exactly n characters into out (outcap >= ag_b64url_decoded_max(n)). Rejects padding,
 * characters outside [A-Za-z0-9_-], a length of 1 mod 4 and non-zero unused trailing bits. */
enum ag_rc ag_b64url_decode(const char *in, size_t n, uint8_t *out, size_t outcap, size_t *outlen,
                            struct ag_err *err) AG_WUR;

/** Decodes into arena memory; the result is NUL-terminated for convenience (not counted in outlen).
 */
enum ag_rc ag_b64url_decode_arena(struct ag_arena *a, const char *in, size_t n, uint8_t **out,
                                  size_t *outlen, struct ag_err *err) AG_WUR;

#endif
