/* Role mapping: verified token claims + the `roles:` config -> an identity with raw IdP roles,
 * Airflow roles, an allow/deny decision and an explanation of every step. Pure: no I/O, no
 * logging; everything it returns lives in the caller's arena. See docs/rolemap.md. */
#ifndef AG_ROLEMAP_ROLEMAP_H
#define AG_ROLEMAP_ROLEMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "core/err.h"
#include "core/json.h"
#include "rolemap/path.h"

struct ag_arena;

/* Bounds on what one set of claims may carry; exceeding one is bad input (AG_EINVAL). */
#define AG_ROLEMAP_MAX_ROLES 1024     /* role values read across all claim paths */
#define AG_ROLEMAP_MAX_NAME_LEN 255   /* bytes in one role name (Keycloak's own limit is 255) */
#define AG_ROLEMAP_MAX_CLAIM_LEN 1024 /* bytes in sub, preferred_username, email, names */

/** Airflow's built-in roles, in the order airflow_roles lists them (custom roles follow). */
extern const char *const ag_rolemap_builtin_roles[5]; /* Admin, Op, User, Viewer, Public */

enum ag_rolemap_step_kind {
    AG_ROLEMAP_STEP_USER,     /* where the username came from (text names the claim) */
    AG_ROLEMAP_STEP_PATH,     /* a claim path was read: path, found, values */
    AG_ROLEMAP_STEP_RULE,     /* idp_role matched a rule granting airflow_roles */
    AG_ROLEMAP_STEP_NO_RULE,  /* idp_role matched no rule (ignored) */
    AG_ROLEMAP_STEP_UNMAPPED, /* no Airflow role: the `unmapped` role was given (airflow_roles) */
    AG_ROLEMAP_STEP_DENY,     /* access denied (text says why) */
};

/** One line of the explanation. Unused fields are NULL / empty. */
struct ag_rolemap_step {
    enum ag_rolemap_step_kind kind;
    const char *path;                /* PATH: the claim path as configured */
    bool found;                      /* PATH: the path exists in the claims */
    struct ag_strlist values;        /* PATH: the role values it held */
    const char *idp_role;            /* RULE, NO_RULE */
    struct ag_strlist airflow_roles; /* RULE, UNMAPPED */
    const char *text;                /* one human sentence, always set */
};

/** The result of mapping one set of claims. All strings live in the arena given to apply. */
struct ag_identity {
    const char *subject;         /* `sub`, may be NULL when the token has none */
    const char *username;        /* preferred_username, else sub; never NULL */
    const char *username_claim;  /* "preferred_username" or "sub" */
    const char *email;           /* NULL when absent (also first_name, last_name) */
    const char *first_name;      /* given_name */
    const char *last_name;       /* family_name */
    struct ag_strlist idp_roles; /* raw roles found, deduplicated, in the order found */
    struct ag_strlist
        airflow_roles; /* Admin, Op, User, Viewer, Public, then custom; deduplicated */
    bool allowed;
    const char *deny_reason; /* NULL when allowed */
    size_t n_explain;
    const struct ag_rolemap_step *explain;
};

/** Compiled `roles:` config (paths parsed, rules indexed). Immutable; safe to share. */
struct ag_rolemap;

/** Compiles cfg->roles (and cfg->oidc.client_id for the default path
 * `resource_access."<client_id>".roles` when roles.claims is empty) into *out, allocated in a.
 * Bad paths, empty or invalid role names and duplicate rules give AG_ECONF naming the key. */
enum ag_rc ag_rolemap_compile(struct ag_arena *a, const struct ag_config *cfg,
                              struct ag_rolemap **out, struct ag_err *err) AG_WUR;

/** Maps verified claims to an identity allocated in a. A policy denial is AG_OK with
 * allowed == false; malformed claims (wrong types, limits, NUL or control characters) give
 * AG_EPARSE or AG_EINVAL with a message naming the claim, and *out is left untouched. */
enum ag_rc ag_rolemap_apply(struct ag_arena *a, const struct ag_rolemap *m, const ag_json *claims,
                            struct ag_identity **out, struct ag_err *err) AG_WUR;

/** The same decision as ag_rolemap_apply without the explanation (id->explain is empty, no
 * sentence is formatted): for the request path, where nobody reads it. */
enum ag_rc ag_rolemap_decide(struct ag_arena *a, const struct ag_rolemap *m, const ag_json *claims,
                             struct ag_identity **out, struct ag_err *err) AG_WUR;

/** The claim paths the compiled map reads, as written (for display). */
size_t ag_rolemap_path_count(const struct ag_rolemap *m);
const char *ag_rolemap_path_text(const struct ag_rolemap *m, size_t i);

/** The `unmapped` role, or NULL for deny. */
const char *ag_rolemap_unmapped_role(const struct ag_rolemap *m);

/** The rules, sorted by IdP role (bytewise): e.g. for a 403 page naming the roles that would
 * grant access. */
size_t ag_rolemap_rule_count(const struct ag_rolemap *m);
const char *ag_rolemap_rule_idp_role(const struct ag_rolemap *m, size_t i);
const struct ag_strlist *ag_rolemap_rule_airflow_roles(const struct ag_rolemap *m, size_t i);

#endif
