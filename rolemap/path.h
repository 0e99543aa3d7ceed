/* Claim paths: where in the token's JSON the roles are. Dotted segments; a segment containing
 * dots (or any other character) is written in double quotes: resource_access."airflow.prod".roles
 * Inside quotes, \" and \\ escape a quote and a backslash. See docs/rolemap.md. */
#ifndef AG_ROLEMAP_PATH_H
#define AG_ROLEMAP_PATH_H

#include <stddef.h>

#include "core/err.h"
#include "core/json.h"

struct ag_arena;

#define AG_ROLEMAP_PATH_MAX_LEN 512 /* bytes of path text */
#define AG_ROLEMAP_PATH_MAX_SEGMENTS 16

/** A parsed claim path. */
struct ag_rolemap_path {
    const char *text; /* as written */
    size_t n;
    const char **segments; /* object keys, unquoted */
};

/** Parses text into *out (allocated in a). Invalid syntax gives AG_EINVAL with a message saying
 * what is wrong and at which byte. a may be NULL to validate only (out is then ignored): this is
 * what config validation calls. */
enum ag_rc ag_rolemap_path_parse(struct ag_arena *a, const char *text, struct ag_rolemap_path **out,
                                 struct ag_err *err) AG_WUR;

/** Writes key as one path segment into buf (quoted when it needs to be), for building paths
 * such as resource_access."<client_id>".roles. Returns AG_EINVAL if it does not fit. */
enum ag_rc ag_rolemap_path_quote_segment(const char *key, char *buf, size_t bufsz) AG_WUR;

/** Outcome of following a path through claims. */
enum ag_rolemap_lookup {
    AG_ROLEMAP_FOUND,   /* *value set */
    AG_ROLEMAP_MISSING, /* some key along the way is absent: no roles from this path */
    AG_ROLEMAP_BAD,     /* an intermediate value is not an object: err says which segment */
};

/** Follows p through root. Never fails on absence; BAD fills err (AG_EPARSE). */
enum ag_rolemap_lookup ag_rolemap_path_lookup(const struct ag_rolemap_path *p, const ag_json *root,
                                              const ag_json **value, struct ag_err *err);

#endif
