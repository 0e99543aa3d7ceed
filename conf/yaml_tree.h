/* Reads the config file and turns it into a tree of ag_ynode with line numbers, using libyaml's
 * event API. Enforces the input limits: size cap, UTF-8 only, no NUL, nesting depth, no
 * anchors/aliases/tags, exactly one document whose top level is a mapping. Internal to conf/. */
#ifndef AG_CONF_YAML_TREE_H
#define AG_CONF_YAML_TREE_H

#include "conf/ctx.h"

/** Parses ctx->path into *root (a map node in ctx->tmp). On failure reports the errors through
 * ctx and returns AG_ECONF. */
enum ag_rc ag_yaml_tree_load(struct ag_conf_ctx *ctx, struct ag_ynode **root) AG_WUR;

/** Same from a buffer (for tests and fuzzing); buf needs no NUL terminator. */
enum ag_rc ag_yaml_tree_parse(struct ag_conf_ctx *ctx, const char *buf, size_t len,
                              struct ag_ynode **root) AG_WUR;

#endif
