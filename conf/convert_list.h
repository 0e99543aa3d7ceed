/* Converters for the compound option types: string/URL lists, secrets (inline or *_file),
 * secret lists, CIDR lists and the role map. Internal to conf/; called by convert.c. */
#ifndef AG_CONF_CONVERT_LIST_H
#define AG_CONF_CONVERT_LIST_H

#include "conf/ctx.h"

/** STRLIST and URLLIST. */
void ag_conf_conv_strlist(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n);

/** SECRET: the value itself, or the path of a file holding it (slot via_file). */
void ag_conf_conv_secret(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n);

/** SECRETLIST: values, or paths of files (slot via_file). */
void ag_conf_conv_secretlist(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n);

/** CIDRLIST: "a.b.c.d/len", "v6/len" or a bare address (a host route). */
void ag_conf_conv_cidrlist(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n);

/** ROLEMAP: {idp_role: AirflowRole | [AirflowRole, ...]}. */
void ag_conf_conv_rolemap(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n);

/** Parses one CIDR; on failure returns -1 with a reason in why. */
enum ag_rc ag_conf_cidr_parse(const char *s, struct ag_cidr *out, struct ag_err *err) AG_WUR;

#endif
