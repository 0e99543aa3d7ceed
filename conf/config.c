/* ag_config_load: read the YAML tree, overlay the environment, convert and validate every option
 * of the table, and hand out a reference-counted, immutable config. */
#include "conf/config.h"

#include <stdlib.h>
#include <string.h>

#include "conf/convert.h"
#include "conf/ctx.h"
#include "conf/options.h"
#include "conf/overlay.h"
#include "conf/validate.h"
#include "conf/yaml_tree.h"
#include "core/arena.h"

static void ag_config_origins_keep(struct ag_conf_ctx *ctx)
{
    struct ag_config *c = ctx->cfg;
    c->origins = ag_arena_calloc(c->arena, ag_conf_nopts, sizeof(*c->origins));
    for (size_t i = 0; i < ag_conf_nopts; i++) {
        c->origins[i] = ctx->slots[i].origin;
        c->origins[i].env = ag_arena_strdup(c->arena, ctx->slots[i].origin.env);
    }
}

enum ag_rc ag_config_load(const char *path, char *const *envp, struct ag_config **out, FILE *errs)
{
    if (!path || !*path) {
        if (errs)
            fputs("airgate: no config file given\n", errs);
        return AG_ECONF;
    }
    struct ag_arena *arena = ag_arena_new(16384);
    struct ag_config *c = ag_arena_calloc(arena, 1, sizeof(*c));
    c->arena = arena;
    c->source = ag_arena_strdup(arena, path);
    atomic_init(&c->refs, 1);

    struct ag_conf_ctx ctx = {.path = path, .errs = errs, .cfg = c};
    ctx.tmp = ag_arena_new(65536);
    ctx.slots = ag_arena_calloc(ctx.tmp, ag_conf_nopts, sizeof(*ctx.slots));
    const char *slash = strrchr(path, '/');
    if (slash)
        ctx.dir = ag_arena_strndup(ctx.tmp, path, slash == path ? 1 : (size_t)(slash - path));

    struct ag_ynode *root = NULL;
    if (ag_yaml_tree_load(&ctx, &root) == AG_OK) {
        ag_conf_overlay_file(&ctx, root);
        ag_conf_overlay_env(&ctx, envp);
        ag_conf_convert_all(&ctx);
        ag_conf_validate(&ctx);
    }
    if (ctx.nerr == 0)
        ag_config_origins_keep(&ctx);

    /* Inline secrets from the file and the environment must not linger in freed memory. */
    ag_ynode_wipe(root);
    for (size_t i = 0; i < ag_conf_nopts; i++) {
        if (ctx.slots[i].origin.src == AG_SRC_ENV)
            ag_ynode_wipe((struct ag_ynode *)ctx.slots[i].node);
    }
    ag_arena_free(ctx.tmp);

    if (ctx.nerr > 0) {
        ag_arena_free(arena);
        return AG_ECONF;
    }
    *out = c;
    return AG_OK;
}

struct ag_config *ag_config_ref(struct ag_config *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void ag_config_unref(struct ag_config *c)
{
    if (!c)
        return;
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        ag_arena_free(c->arena); /* its cleanups wipe the secrets; c itself lives in the arena */
}

void ag_config_locate(const struct ag_config *c, const char *key, char *out, size_t outlen)
{
    long idx = ag_conf_opt_find(key);
    const struct ag_conf_origin *o = idx >= 0 && c->origins ? &c->origins[idx] : NULL;
    if (o && o->src == AG_SRC_FILE)
        snprintf(out, outlen, "%s:%d", c->source, o->line);
    else if (o && o->src == AG_SRC_ENV)
        snprintf(out, outlen, "env %s", o->env);
    else
        snprintf(out, outlen, "%s", c->source);
}
