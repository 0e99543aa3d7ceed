/* Turns each option's raw value (or its default) into the typed field of struct ag_config,
 * checking types, bounds and formats, and reading *_file secrets. Internal to conf/. */
#ifndef AG_CONF_CONVERT_H
#define AG_CONF_CONVERT_H

#include "conf/ctx.h"

/** True for names Airflow roles can have here: a letter, then letters, digits, space, _ . -
 * (at most 64; no trailing space). Commas are out since roles travel comma-separated. */
bool ag_conf_role_name_ok(const char *s);

/** Airflow's built-in roles, NULL-terminated. */
extern const char *const ag_conf_builtin_roles[];

/** True when s is a built-in Airflow role or one listed in roles.custom (converted earlier). */
bool ag_conf_role_known(const struct ag_config *c, const char *s);

/** The built-in or custom role (or "deny" when with_deny) closest to s, or NULL if none is
 * close; the text lives in ctx->tmp. */
const char *ag_conf_role_suggest(struct ag_conf_ctx *ctx, const char *s, int with_deny);

/** The scalar of n, or NULL after reporting that `what` (e.g. "a string") was expected. */
const char *ag_conf_need_scalar(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n,
                                const char *key, const char *what);

/** 0 when n is printable text, not empty and bounded; otherwise reports and returns -1. */
enum ag_rc ag_conf_check_text(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n,
                              const char *key);

/** Converts every option in table order (defaults for unset ones); reports through ctx. */
void ag_conf_convert_all(struct ag_conf_ctx *ctx);

#endif
