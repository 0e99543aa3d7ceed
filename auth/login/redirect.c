#include "auth/login/redirect.h"

#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
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
    for (size_t i = 0, k; i < n; i += k) {
        k = ag_utf8_seq_len(s + i, n - i);
        if (k == 0)
            return false;
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

static bool ag_redirect_layers_ok(const char *rd)
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

/* Fully percent-decodes one path segment (bounded rounds, as ag_redirect_is_safe does) and
 * says what it is: 0 a plain segment, 1 ".", 2 "..", -1 refused (it decodes to something
 * holding '/' or '\\': an encoded slash would become a separator further down). */
static int ag_redirect_segment_kind(const char *seg, size_t n)
{
    if (n == 0)
        return 0;
    char a[AG_REDIRECT_MAX_LEN + 1], b[AG_REDIRECT_MAX_LEN + 1] = {0};
    size_t alen = n;
    memcpy(a, seg, n);
    a[n] = '\0';
    for (int round = 0; round < 5; round++) {
        size_t o = 0;
        for (size_t i = 0; i < alen; i++) {
            int hi = -1, lo = -1;
            if (a[i] == '%' && i + 2 < alen) {
                hi = ag_http_hex_value((unsigned char)a[i + 1]);
                lo = ag_http_hex_value((unsigned char)a[i + 2]);
            }
            if (hi >= 0 && lo >= 0) {
                b[o++] = (char)(hi * 16 + lo);
                i += 2;
            } else {
                b[o++] = a[i];
            }
        }
        if (memchr(b, '/', o) || memchr(b, '\\', o))
            return -1;
        if (o == alen)
            break;
        memcpy(a, b, o);
        alen = o;
    }
    if (alen == 1 && a[0] == '.')
        return 1;
    if (alen == 2 && a[0] == '.' && a[1] == '.')
        return 2;
    return 0;
}

/* Normalises a safe rd into out: dot segments (also percent-encoded ones) resolved as RFC 3986
 * 5.2.4 does, repeated slashes collapsed, query and fragment kept. False when a segment hides an
 * encoded slash or when resolving would make the path start with "//" ("/x/..//host"). */
static bool ag_redirect_normal_form(const char *rd, char *out)
{
    size_t plen = strcspn(rd, "?#");
    /* one entry per segment; a segment may be empty, so up to one per byte */
    uint16_t starts[AG_REDIRECT_MAX_LEN + 1], lens[AG_REDIRECT_MAX_LEN + 1];
    size_t depth = 0;
    bool trailing = false;
    size_t i = 1; /* rd[0] == '/' */
    while (i <= plen) {
        size_t e = i;
        while (e < plen && rd[e] != '/')
            e++;
        bool last = e >= plen;
        int kind = ag_redirect_segment_kind(rd + i, e - i);
        if (kind < 0)
            return false;
        trailing = last && kind > 0;
        if (kind == 2 && depth > 0)
            depth--;
        if (kind == 0) { /* empty segments too: ".." removes one, as RFC 3986 does */
            starts[depth] = (uint16_t)i;
            lens[depth] = (uint16_t)(e - i);
            depth++;
        }
        i = e + 1;
    }
    /* An empty first segment followed by more is "//host...": another origin. */
    if (depth >= 2 && lens[0] == 0)
        return false;
    size_t o = 0;
    for (size_t k = 0; k < depth; k++) {
        if (lens[k] == 0) { /* repeated slashes collapse; a final empty one is a trailing '/' */
            trailing = trailing || k == depth - 1;
            continue;
        }
        out[o++] = '/';
        memcpy(out + o, rd + starts[k], lens[k]);
        o += lens[k];
    }
    if (o == 0 || trailing)
        out[o++] = '/';
    size_t rest = strlen(rd + plen);
    memcpy(out + o, rd + plen, rest);
    out[o + rest] = '\0';
    return true;
}

bool ag_redirect_normalize(const char *rd, char *out, size_t cap)
{
    if (cap < AG_REDIRECT_MAX_LEN + 1 || !ag_redirect_layers_ok(rd))
        return false;
    return ag_redirect_normal_form(rd, out);
}

bool ag_redirect_is_safe(const char *rd)
{
    char n[AG_REDIRECT_MAX_LEN + 1];
    return ag_redirect_normalize(rd, n, sizeof(n)) && strcmp(n, rd) == 0;
}

const char *ag_redirect_sanitize(const char *rd)
{
    return ag_redirect_is_safe(rd) ? rd : "/";
}

const char *ag_redirect_target(struct ag_arena *a, const char *rd)
{
    char n[AG_REDIRECT_MAX_LEN + 1];
    if (!ag_redirect_normalize(rd, n, sizeof(n)))
        return "/";
    return strcmp(n, rd) == 0 ? rd : ag_arena_strdup(a, n);
}
