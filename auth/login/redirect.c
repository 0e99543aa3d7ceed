#include "auth/login/redirect.h"

#include <string.h>

#include "core/http_msg.h"

/* RFC 3986 characters that may appear in a path, query or fragment as we accept them. Anything
 * else (space, quotes, <>, \, ^, `, {|}, controls, non-ASCII) means the value did not come from a
 * well-behaved client and is refused rather than repaired. */
static bool ag_redirect_char_ok(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("-._~!$&'()*+,;=:@/?#%[]", c) != NULL;
}

/* Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF). */
static bool ag_redirect_utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3fu);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* Checks one layer of text and percent-decodes it into out (room for len + 1). The first layer
 * (raw) must be well-formed; in later layers a '%' without two hex digits is literal text. */
static bool ag_redirect_layer(const char *s, size_t len, char *out, size_t *outlen, bool raw)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
        if (raw && !ag_redirect_char_ok(c))
            return false;
        int hi = -1, lo = -1;
        if (c == '%' && i + 2 < len) {
            hi = ag_http_hex_value((unsigned char)s[i + 1]);
            lo = ag_http_hex_value((unsigned char)s[i + 2]);
        }
        if (c == '%' && (hi < 0 || lo < 0)) {
            if (raw)
                return false;
            out[o++] = (char)c;
        } else if (c == '%') {
            unsigned char d = (unsigned char)(hi * 16 + lo);
            if (d < 0x20 || d == 0x7f || d == '\\')
                return false;
            out[o++] = (char)d;
            i += 2;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    *outlen = o;
    if (!ag_redirect_utf8_ok((const unsigned char *)out, o))
        return false;
    /* After decoding, the value must still be a single-slash path: "/%2F/evil" -> "//evil". */
    if (o == 0 || out[0] != '/')
        return false;
    if (o >= 2 && (out[1] == '/' || out[1] == '\\'))
        return false;
    return true;
}

bool ag_redirect_is_safe(const char *rd)
{
    if (!rd)
        return false;
    size_t len = strnlen(rd, AG_REDIRECT_MAX_LEN + 1);
    /* The raw value is the Location: it must itself start with "/" ("%2Fx" is a relative
     * reference that only decodes to a path). */
    if (len == 0 || len > AG_REDIRECT_MAX_LEN || rd[0] != '/')
        return false;
    char a[AG_REDIRECT_MAX_LEN + 1], b[AG_REDIRECT_MAX_LEN + 1];
    size_t alen = 0, blen = 0;
    if (!ag_redirect_layer(rd, len, a, &alen, true))
        return false;
    /* Decode until stable (bounded): a proxy or framework might decode more than once. */
    for (int round = 0; round < 4; round++) {
        if (!ag_redirect_layer(a, alen, b, &blen, false))
            return false;
        if (blen == alen)
            return true; /* nothing left to decode */
        memcpy(a, b, blen + 1);
        alen = blen;
    }
    return false; /* still changing after several rounds: refuse */
}

const char *ag_redirect_sanitize(const char *rd)
{
    return ag_redirect_is_safe(rd) ? rd : "/";
}
