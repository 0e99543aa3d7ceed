/* libFuzzer target: the header policy applied to a client's request before it is forwarded
 * (proxy/headers.c). The input is a request head: one "Name: value" per line (a line without a
 * colon is a name with an empty value; when a line holds the byte 0x01, that separates name and
 * value instead, so names can carry blanks and colons the way a lenient parser hands them over;
 * proxy/h1.c refuses such names, and the header policy must not depend on that).
 *
 * Checked:
 *  - identity stripping: every header whose name, ASCII case-folded with '_' read as '-' (the
 *    way gunicorn/WSGI see it), is one airgate sets (the design's list: X-Forwarded-*,
 *    X-Airflow-Roles, X-Airgate-*, Forwarded, X-Real-IP) is dropped, whatever Connection says,
 *    and so is every header that the upstream would read as one of those or as a hop-by-hop
 *    header from the "name: value" line sent upstream (a name ending in blanks, or holding ':');
 *  - hop-by-hop headers and headers named in Connection are dropped;
 *  - Cookie values: after ag_hdr_cookie_filter no cookie airgate reads as its own (`_airgate`,
 *    `_airgate_*`) is left, the result is never longer than the filter's buffer, and never
 *    contains a control character the input did not have;
 *  - X-Forwarded-For building keeps the peer address last.
 * A violation aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/login/session_seal.h"
#include "core/arena.h"
#include "core/http_msg.h"
#include "proxy/http/headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AG_FZ_MAX_HEADERS 64

/* The canonical form a WSGI server compares: ASCII lower case, '_' as '-'. */
static void ag_fz_canon(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    for (; *name && o + 1 < cap; name++) {
        char c = *name;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c == '_')
            c = '-';
        out[o++] = c;
    }
    out[o] = '\0';
}

static bool ag_fz_must_strip(const char *name)
{
    static const char *const exact[] = {
        "x-forwarded-user",
        "x-forwarded-email",
        "x-forwarded-preferred-username",
        "x-forwarded-first-name",
        "x-forwarded-last-name",
        "x-forwarded-groups",
        "x-airflow-roles",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-airgate-assertion",
        "forwarded",
        "x-real-ip",
    };
    char c[512];
    ag_fz_canon(name, c, sizeof(c));
    if (strlen(name) >= sizeof(c))
        return false;
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strcmp(c, exact[i]) == 0)
            return true;
    return strncmp(c, "x-forwarded-", 12) == 0 || strncmp(c, "x-airgate-", 10) == 0;
}

static bool ag_fz_has_ctl(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 && *p != '\t')
            return true;
    return false;
}

static void ag_fz_cookie(struct ag_arena *a, const char *value)
{
    const char *out = ag_hdr_cookie_filter(a, value, "_airgate");
    if (!out)
        return;
    if (strlen(out) > 2 * strlen(value) || (ag_fz_has_ctl(out) && !ag_fz_has_ctl(value)))
        abort();
    /* Read the filtered header back the way airgate itself reads cookies. */
    struct ag_http_header h = {"Cookie", out};
    struct ag_http_request req = {.method = "GET", .path = "/", .n_headers = 1, .headers = &h};
    if (ag_http_cookie_get(a, &req, "_airgate") || ag_http_cookie_get(a, &req, "_airgate_0"))
        abort();
    struct ag_cookie left[4];
    if (ag_seal_cookies_with_prefix(a, &req, "_airgate_", left, 4) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    struct ag_arena *a = ag_arena_new(0);
    char *text = ag_arena_strndup(a, (const char *)data, size);
    struct ag_http_header hdrs[AG_FZ_MAX_HEADERS];
    const char *conn[16];
    size_t nh = 0, nconn = 0;
    for (char *p = text; p && nh < AG_FZ_MAX_HEADERS;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        /* "\x01" separates name and value when present, so that a name may hold what a lenient
         * parser can hand over: trailing blanks, and ": ..." from an obs-fold continuation line. */
        char *colon = strchr(p, '\x01');
        if (!colon)
            colon = strchr(p, ':');
        hdrs[nh].name = p;
        hdrs[nh].value = "";
        if (colon) {
            *colon = '\0';
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            hdrs[nh].value = v;
        }
        if (ag_hdr_name_eq(hdrs[nh].name, "Connection") && nconn < 16)
            conn[nconn++] = hdrs[nh].value;
        nh++;
        p = nl ? nl + 1 : NULL;
    }
    for (size_t i = 0; i < nh; i++) {
        const char *name = hdrs[i].name;
        bool drop = ag_hdr_drop_request(name, conn, nconn);
        if (ag_fz_must_strip(name) && (!drop || !ag_hdr_is_identity(name)))
            abort();
        /* What the upstream reads from the line "name: value" sent to it: the name up to
         * the first ':', trailing blanks removed (as lenient servers do). */
        char up[512];
        size_t ul = strcspn(name, ":");
        if (ul < sizeof(up)) {
            memcpy(up, name, ul);
            while (ul > 0 && (up[ul - 1] == ' ' || up[ul - 1] == '\t'))
                ul--;
            up[ul] = '\0';
            if ((ag_fz_must_strip(up) || ag_hdr_is_hop_by_hop(up)) && !drop)
                abort();
        }
        if (ag_hdr_is_hop_by_hop(name) && !drop)
            abort();
        if (*name && !ag_hdr_name_eq(name, "host") &&
            ag_hdr_named_in_connection(name, conn, nconn) && !drop)
            abort();
        (void)ag_hdr_drop_response(name, conn, nconn);
        if (ag_hdr_name_eq(name, "Cookie"))
            ag_fz_cookie(a, hdrs[i].value);
        if (ag_hdr_name_eq(name, "X-Forwarded-For")) {
            const char *xff = ag_hdr_xff_build(a, hdrs[i].value, true, "192.0.2.7");
            size_t n = strlen(xff);
            if (n < 9 || strcmp(xff + n - 9, "192.0.2.7") != 0)
                abort();
        }
    }
    /* The whole input as one Cookie header value too. */
    ag_fz_cookie(a, ag_arena_strndup(a, (const char *)data, size));
    ag_arena_free(a);
    return 0;
}
