#include "core/b64url.h"

static const char ag_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t ag_b64url_encoded_len(size_t n)
{
    return (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t ag_b64url_decoded_max(size_t n)
{
    return (n / 4) * 3 + 2;
}

size_t ag_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outcap)
{
    size_t need = ag_b64url_encoded_len(n);
    if (outcap < need + 1)
        return 0;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = ag_b64url_alphabet[(v >> 18) & 63];
        out[o++] = ag_b64url_alphabet[(v >> 12) & 63];
        out[o++] = ag_b64url_alphabet[(v >> 6) & 63];
        out[o++] = ag_b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = ag_b64url_alphabet[(v >> 18) & 63];
        out[o++] = ag_b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = ag_b64url_alphabet[(v >> 18) & 63];
        out[o++] = ag_b64url_alphabet[(v >> 12) & 63];
        out[o++] = ag_b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

char *ag_b64url_encode_arena(struct ag_arena *a, const uint8_t *in, size_t n)
{
    size_t cap = ag_b64url_encoded_len(n) + 1;
    char *out = ag_arena_alloc(a, cap);
    ag_b64url_encode(in, n, out, cap);
    return out;
}

/* Value of each byte in the base64url alphabet, -1 for every other byte (one load per
 * character: tokens are decoded on every full verification). */
static const signed char ag_b64url_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

static int ag_b64url_value(unsigned char c)
{
    return ag_b64url_values[c];
}

enum ag_rc ag_b64url_decode(const char *in, size_t n, uint8_t *out, size_t outcap, size_t *outlen,
                            struct ag_err *err)
{
    if (n % 4 == 1)
        return ag_err_set(err, AG_EPARSE, "base64url: impossible length %zu", n);
    if (outcap < ag_b64url_decoded_max(n))
        return ag_err_set(err, AG_EINVAL, "base64url: output buffer too small");
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = ag_b64url_value((unsigned char)in[i]);
        if (v < 0) {
            if (in[i] == '=')
                return ag_err_set(err, AG_EPARSE, "base64url: padding is not allowed");
            return ag_err_set(err, AG_EPARSE, "base64url: invalid character at offset %zu", i);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero, otherwise two different strings decode to the same bytes. */
    if (acc != 0)
        return ag_err_set(err, AG_EPARSE, "base64url: non-canonical trailing bits");
    *outlen = o;
    return AG_OK;
}

enum ag_rc ag_b64url_decode_arena(struct ag_arena *a, const char *in, size_t n, uint8_t **out,
                                  size_t *outlen, struct ag_err *err)
{
    size_t cap = ag_b64url_decoded_max(n) + 1;
    uint8_t *buf = ag_arena_alloc(a, cap);
    enum ag_rc rc = ag_b64url_decode(in, n, buf, cap, outlen, err);
    if (rc != AG_OK)
        return rc;
    buf[*outlen] = '\0';
    *out = buf;
    return AG_OK;
}
