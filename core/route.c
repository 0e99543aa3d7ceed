#include "core/route.h"

#include <string.h>

static void ag_route_free(void *p)
{
    regfree(p);
}

/* Length of the METHOD= prefix of spec (0 when there is none): upper-case letters, then '='. */
static size_t ag_route_method_len(const char *spec)
{
    size_t i = 0;
    while (spec[i] >= 'A' && spec[i] <= 'Z')
        i++;
    return i > 0 && spec[i] == '=' ? i : 0;
}

enum ag_rc ag_routes_compile(struct ag_arena *a, const char *const *specs, size_t n,
                             struct ag_routes *out, struct ag_err *err)
{
    out->n = 0;
    out->items = n ? ag_arena_calloc(a, n, sizeof(*out->items)) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct ag_pubroute *r = &out->items[i];
        const char *spec = specs[i];
        size_t ml = ag_route_method_len(spec);
        r->method = ml ? ag_arena_strndup(a, spec, ml) : NULL;
        const char *re = ml ? spec + ml + 1 : spec;
        if (*re == '\0')
            return ag_err_set(err, AG_ECONF,
                              "\"%s\": the regex is empty (it would match every path)", spec);
        int rc = regcomp(&r->re, re, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &r->re, msg, sizeof(msg));
            return ag_err_set(err, AG_ECONF, "\"%s\" is not a POSIX extended regex: %s", spec, msg);
        }
        ag_arena_cleanup_add(a, ag_route_free, &r->re);
        out->n = i + 1;
    }
    return AG_OK;
}

/* True when path has a "." or ".." segment, or any percent-escape: the upstream may normalise
 * these into another path than the one the regex saw, so such a path is never public. */
static bool ag_route_path_ambiguous(const char *path)
{
    if (strchr(path, '%'))
        return true;
    for (const char *p = path; (p = strchr(p, '/')) != NULL; p++) {
        const char *s = p + 1;
        if (s[0] == '.' && (s[1] == '/' || s[1] == '\0'))
            return true;
        if (s[0] == '.' && s[1] == '.' && (s[2] == '/' || s[2] == '\0'))
            return true;
    }
    return false;
}

bool ag_routes_match(const struct ag_routes *r, const char *method, const char *path)
{
    if (!r || r->n == 0 || !path || ag_route_path_ambiguous(path))
        return false;
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].method && strcmp(r->items[i].method, method) != 0)
            continue;
        if (regexec(&r->items[i].re, path, 0, NULL, 0) == 0)
            return true;
    }
    return false;
}
