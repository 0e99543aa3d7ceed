#include "conf/overlay.h"

#include <string.h>

#include "conf/options.h"
#include "core/arena.h"

static void ag_slot_set(struct ag_conf_ctx *ctx, long idx, int via_file, const struct ag_ynode *k,
                        const struct ag_ynode *v, const char *written)
{
    struct ag_conf_slot *s = &ctx->slots[idx];
    const char *path = ag_conf_opts[idx].path;
    if (s->origin.src == AG_SRC_FILE) {
        /* Same key twice is caught as a duplicate before; this is x next to x_file. */
        ag_conf_error(ctx, (struct ag_conf_loc){k->line, NULL}, written,
                      "both %s (line %d) and %s_file are given; use one", path, s->origin.line,
                      path);
        return;
    }
    s->origin.src = AG_SRC_FILE;
    s->origin.via_file = via_file != 0;
    s->origin.line = k->line;
    s->node = v;
}

static void ag_unknown_key(struct ag_conf_ctx *ctx, const struct ag_ynode *k, const char *path)
{
    char sug[128];
    struct ag_conf_loc loc = {k->line, NULL};
    if (strchr(k->str, '.')) {
        ag_conf_error(ctx, loc, path, "unknown key (dotted keys are not supported: nest them)");
        return;
    }
    const char *s = ag_conf_suggest_key(path, sug, sizeof(sug));
    if (s)
        ag_conf_error(ctx, loc, path, "unknown key (did you mean %s?)", s);
    else
        ag_conf_error(ctx, loc, path, "unknown key");
}

/* No section of the config has more than a few dozen keys; a mapping with hundreds is not a
 * config, and walking it key by key (duplicate check, suggestions) would cost O(n^2). */
#define AG_CONF_MAX_MAP_KEYS 256

static void ag_walk_map(struct ag_conf_ctx *ctx, const struct ag_ynode *map, const char *prefix)
{
    size_t nkeys = 0;
    for (const struct ag_ynode *k = map->first; k && k->next; k = k->next->next)
        nkeys++;
    if (nkeys > AG_CONF_MAX_MAP_KEYS) {
        ag_conf_error(ctx, (struct ag_conf_loc){map->line, NULL}, prefix,
                      "%zu keys in one mapping; at most %d are allowed (is this the right file?)",
                      nkeys, AG_CONF_MAX_MAP_KEYS);
        return;
    }
    for (const struct ag_ynode *k = map->first; k && k->next; k = k->next->next) {
        const struct ag_ynode *v = k->next;
        if (k->kind != AG_YNODE_SCALAR) {
            ag_conf_error(ctx, (struct ag_conf_loc){k->line, NULL}, prefix,
                          "keys must be plain words, got %s as a key", ag_conf_kind_name(k));
            continue;
        }
        const char *path = prefix ? ag_arena_printf(ctx->tmp, "%s.%s", prefix, k->str) : k->str;
        int dup = 0;
        for (const struct ag_ynode *p = map->first; p != k; p = p->next->next) {
            if (p->kind == AG_YNODE_SCALAR && p->len == k->len &&
                memcmp(p->str, k->str, k->len) == 0) {
                ag_conf_error(ctx, (struct ag_conf_loc){k->line, NULL}, path,
                              "duplicate key (first given at line %d)", p->line);
                dup = 1;
                break;
            }
        }
        if (dup)
            continue;
        long idx = strchr(k->str, '.') ? -1 : ag_conf_opt_find(path);
        if (idx >= 0) {
            ag_slot_set(ctx, idx, 0, k, v, path);
            continue;
        }
        size_t plen = strlen(path);
        if (plen > 5 && strcmp(path + plen - 5, "_file") == 0 && !strchr(k->str, '.')) {
            char *base = ag_arena_strndup(ctx->tmp, path, plen - 5);
            idx = ag_conf_opt_find(base);
            if (idx >= 0 && ag_conf_opt_is_secret(&ag_conf_opts[idx])) {
                ag_slot_set(ctx, idx, 1, k, v, path);
                continue;
            }
        }
        if (!prefix && !strchr(k->str, '.') && ag_conf_section_exists(path)) {
            ag_conf_section_line_set(ctx, path, k->line);
            if (v->kind == AG_YNODE_MAP)
                ag_walk_map(ctx, v, path);
            else if (v->kind != AG_YNODE_NULL)
                ag_conf_error(ctx, (struct ag_conf_loc){k->line, NULL}, path,
                              "expected a mapping of keys (e.g. %s: {key: value}), got %s", path,
                              ag_conf_kind_name(v));
            continue;
        }
        ag_unknown_key(ctx, k, path);
    }
}

void ag_conf_overlay_file(struct ag_conf_ctx *ctx, const struct ag_ynode *root)
{
    ag_walk_map(ctx, root, NULL);
}

static struct ag_ynode *ag_env_scalar(struct ag_conf_ctx *ctx, const char *s, size_t len)
{
    struct ag_ynode *n = ag_ynode_new(ctx, AG_YNODE_SCALAR, 0);
    n->str = ag_arena_strndup(ctx->tmp, s, len);
    n->len = len;
    return n;
}

/* "a, b,c" -> [a, b, c]; empty items are skipped, so "" is the empty list. */
static struct ag_ynode *ag_env_list(struct ag_conf_ctx *ctx, const char *v, char sep)
{
    struct ag_ynode *seq = ag_ynode_new(ctx, AG_YNODE_SEQ, 0);
    const char *p = v;
    for (;;) {
        const char *end = strchr(p, sep);
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (n > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n > 0)
            ag_ynode_append(seq, ag_env_scalar(ctx, s, n));
        if (!end)
            break;
        p = end + 1;
    }
    return seq;
}

/* "idp_role=Role1|Role2,other=Role" -> {idp_role: [Role1, Role2], other: [Role]} */
static struct ag_ynode *ag_env_rolemap(struct ag_conf_ctx *ctx, const char *v, const char *env,
                                       const char *key)
{
    struct ag_ynode *map = ag_ynode_new(ctx, AG_YNODE_MAP, 0);
    struct ag_ynode *entries = ag_env_list(ctx, v, ',');
    char q[96];
    for (struct ag_ynode *e = entries->first; e; e = e->next) {
        char *eq = strchr(e->str, '=');
        if (!eq || eq == e->str) {
            ag_conf_error(ctx, (struct ag_conf_loc){0, env}, key,
                          "entry %s is not idp_role=AirflowRole[|AirflowRole...]",
                          ag_conf_quote(e->str, e->len, q, sizeof(q)));
            return NULL;
        }
        size_t klen = (size_t)(eq - e->str);
        while (klen > 0 && (e->str[klen - 1] == ' ' || e->str[klen - 1] == '\t'))
            klen--;
        ag_ynode_append(map, ag_env_scalar(ctx, e->str, klen));
        ag_ynode_append(map, ag_env_list(ctx, eq + 1, '|'));
    }
    return map;
}

static bool ag_env_is_list(const struct ag_conf_opt *o)
{
    return o->type == AG_OPT_STRLIST || o->type == AG_OPT_URLLIST || o->type == AG_OPT_CIDRLIST ||
           o->type == AG_OPT_SECRETLIST;
}

static long ag_env_find(const char *name, int *via_file)
{
    char buf[128];
    for (size_t i = 0; i < ag_conf_nopts; i++) {
        for (int f = 0; f <= (ag_conf_opt_is_secret(&ag_conf_opts[i]) ? 1 : 0); f++) {
            ag_conf_opt_env_name(&ag_conf_opts[i], f, buf, sizeof(buf));
            if (strcmp(buf, name) == 0) {
                *via_file = f;
                return (long)i;
            }
        }
    }
    return -1;
}

void ag_conf_overlay_env(struct ag_conf_ctx *ctx, char *const *envp)
{
    for (size_t e = 0; envp && envp[e]; e++) {
        const char *kv = envp[e];
        const char *eq = strchr(kv, '=');
        if (strncmp(kv, "AIRGATE_", 8) != 0 || !eq)
            continue;
        char *name = ag_arena_strndup(ctx->tmp, kv, (size_t)(eq - kv));
        const char *val = eq + 1;
        struct ag_conf_loc loc = {0, name};
        int via_file = 0;
        long idx = ag_env_find(name, &via_file);
        if (idx < 0) {
            char sug[128];
            const char *s = ag_conf_suggest_env(name, sug, sizeof(sug));
            if (s)
                ag_conf_error(ctx, loc, NULL, "unknown variable (did you mean %s?)", s);
            else
                ag_conf_error(ctx, loc, NULL, "unknown variable (no such airgate setting)");
            continue;
        }
        const struct ag_conf_opt *o = &ag_conf_opts[idx];
        const char *key = via_file ? ag_arena_printf(ctx->tmp, "%s_file", o->path) : o->path;
        struct ag_conf_slot *s = &ctx->slots[idx];
        if (s->origin.src == AG_SRC_ENV) {
            /* execve and some process managers allow the same name twice. */
            if (s->origin.via_file == (via_file != 0)) {
                ag_conf_error(ctx, loc, key, "%s is set more than once", name);
                continue;
            }
            char other[128];
            ag_conf_opt_env_name(o, !via_file, other, sizeof(other));
            ag_conf_error(ctx, loc, key, "both %s and %s are set; use one", other, name);
            continue;
        }
        struct ag_ynode *n;
        if (o->type == AG_OPT_ROLEMAP)
            n = ag_env_rolemap(ctx, val, name, key);
        else if (ag_env_is_list(o))
            n = ag_env_list(ctx, val, ',');
        else if (*val == '\0')
            n = ag_ynode_new(ctx, AG_YNODE_NULL, 0);
        else
            n = ag_env_scalar(ctx, val, strlen(val));
        if (!n)
            continue;
        s->origin.src = AG_SRC_ENV;
        s->origin.via_file = via_file != 0;
        s->origin.line = 0;
        s->origin.env = name;
        s->node = n;
    }
}
