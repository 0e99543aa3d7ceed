/* Assigns raw values to option slots: first from the YAML tree (unknown and duplicate keys,
 * x and x_file both given), then from AIRGATE_* environment variables, which win. Internal. */
#ifndef AG_CONF_OVERLAY_H
#define AG_CONF_OVERLAY_H

#include "conf/ctx.h"

/** Walks the top-level map and fills ctx->slots; reports problems through ctx. */
void ag_conf_overlay_file(struct ag_conf_ctx *ctx, const struct ag_ynode *root);

/** Applies every AIRGATE_* entry of envp (NULL-terminated "K=V"); unknown names are errors. */
void ag_conf_overlay_env(struct ag_conf_ctx *ctx, char *const *envp);

#endif
