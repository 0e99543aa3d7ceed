/* libFuzzer target: the post-login redirect (`rd` of /oauth2/start). The input is used twice:
 * as the raw `rd` value, and as the query string of /oauth2/start (where the real flow takes
 * `rd` from, percent-decoded once by ag_http_query_get). Whatever ag_redirect_is_safe accepts
 * must be a same-site relative path, checked here independently of auth/redirect.c: it starts
 * with exactly one '/', has no control character, backslash or non-ASCII byte, and percent-
 * decoding it again and again (as a proxy or framework further down might) never produces a
 * "//" or "/\" prefix, a control character or a backslash. A violation aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/login/redirect.h"
#include "core/arena.h"
#include "core/http_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ag_fz_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One layer of the property: a relative path a browser cannot turn into another origin. */
static bool ag_fz_layer_ok(const unsigned char *s, size_t n)
{
    if (n == 0 || s[0] != '/')
        return false;
    if (n >= 2 && (s[1] == '/' || s[1] == '\\'))
        return false;
    for (size_t i = 0; i < n; i++) {
        /* Browsers drop tab/CR/LF inside URLs and treat '\' as '/': none may appear. */
        if (s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\')
            return false;
    }
    return true;
}

/* Percent-decodes s into out (room for n bytes); returns the new length. */
static size_t ag_fz_decode(const unsigned char *s, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = -1, lo = -1;
        if (s[i] == '%' && i + 2 < n) {
            hi = ag_fz_hex(s[i + 1]);
            lo = ag_fz_hex(s[i + 2]);
        }
        if (hi >= 0 && lo >= 0) {
            out[o++] = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

static void ag_fz_check(const char *rd)
{
    bool safe = ag_redirect_is_safe(rd);
    const char *san = ag_redirect_sanitize(rd);
    if (safe ? san != rd : strcmp(san, "/") != 0)
        abort();
    if (!safe || !rd)
        return;
    size_t n = strlen(rd);
    if (n > AG_REDIRECT_MAX_LEN)
        abort();
    const unsigned char *raw = (const unsigned char *)rd;
    /* The raw value is what goes into Location: printable ASCII only, so no scheme can hide
     * behind a stripped character and no header can be split. */
    for (size_t i = 0; i < n; i++)
        if (raw[i] <= 0x20 || raw[i] >= 0x7f)
            abort();
    unsigned char *a = malloc(n + 1), *b = malloc(n + 1);
    if (!a || !b)
        abort();
    memcpy(a, raw, n);
    size_t alen = n;
    for (int round = 0; round < 8; round++) {
        if (!ag_fz_layer_ok(a, alen))
            abort();
        size_t blen = ag_fz_decode(a, alen, b);
        if (blen == alen)
            break;
        memcpy(a, b, blen);
        alen = blen;
    }
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 3 * AG_REDIRECT_MAX_LEN)
        return 0;
    struct ag_arena *a = ag_arena_new(0);
    char *s = ag_arena_strndup(a, (const char *)data, size); /* stops at an embedded NUL */
    ag_fz_check(s);

    struct ag_http_request req = {.method = "GET", .path = "/oauth2/start", .query = s};
    const char *rd = ag_http_query_get(a, &req, "rd");
    if (rd)
        ag_fz_check(rd);
    ag_fz_check(NULL);
    ag_arena_free(a);
    return 0;
}
