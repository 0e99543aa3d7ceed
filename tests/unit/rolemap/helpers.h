/* Test helpers: a roles config built by hand (no YAML), so rolemap tests do not depend on conf/. */
#ifndef AG_TEST_ROLEMAP_HELPERS_H
#define AG_TEST_ROLEMAP_HELPERS_H

#include <jansson.h>

#include "conf/config.h"
#include "core/arena.h"
#include "rolemap/rolemap.h"

/* A roles config in compact form. map: "idp=Role1,Role2;idp2=Role" ('|' may stand for ';' in a
 * key that needs it is not supported: keys must not contain '=' or ';'). unmapped NULL: deny. */
struct t_roles {
    const char *claims[4]; /* NULL-terminated; all NULL: use the default from client_id */
    const char *map;
    const char *unmapped;
    const char *client_id;
};

/** Builds a struct ag_config in a holding only the roles and oidc.client_id fields. */
struct ag_config *t_config(struct ag_arena *a, const struct t_roles *r);

/** Compiles r, asserting success. */
struct ag_rolemap *t_compile(struct ag_arena *a, const struct t_roles *r);

/** Parses JSON text (asserting it parses, \u0000 allowed); owned by the arena. */
json_t *t_json(struct ag_arena *a, const char *text);

/** "a,b,c" from a list (empty string for none), in arena memory. */
const char *t_join(struct ag_arena *a, const struct ag_strlist *l);

/** Concatenation of every explanation sentence, one per line. */
const char *t_explain(struct ag_arena *a, const struct ag_identity *id);

#endif
