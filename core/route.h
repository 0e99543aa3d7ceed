/* Public routes: `[METHOD=]regex` on the request path (oauth2-proxy's --skip-auth-route
 * syntax). The regex is POSIX extended (regcomp REG_EXTENDED | REG_NOSUB), matched against the
 * path without the query; it is not anchored for you: write `^/health$` to mean exactly
 * /health. METHOD (upper-case letters before the first '='), when given, is compared
 * case-sensitively with the request method. */
#ifndef AG_CORE_ROUTE_H
#define AG_CORE_ROUTE_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"

struct ag_pubroute {
    const char *method; /* NULL: any method */
    regex_t re;
};

struct ag_routes {
    size_t n;
    struct ag_pubroute *items;
};

/** Compiles the specs into out (allocated in a, regexes freed with a). On a bad spec, err
 * names it and the regcomp message, and AG_ECONF is returned. */
enum ag_rc ag_routes_compile(struct ag_arena *a, const char *const *specs, size_t n,
                             struct ag_routes *out, struct ag_err *err) AG_WUR;

/** True when method + path (without the query) matches one route. A path with a "." or
 * ".." segment or a percent-escape never matches. */
bool ag_routes_match(const struct ag_routes *r, const char *method, const char *path);

#endif
