#include "conf/convert.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/convert_list.h"
#include "conf/options.h"
#include "core/arena.h"
#include "core/url.h"

#define AG_CONF_MAX_STRING 4096

static void *ag_field(struct ag_conf_ctx *ctx, size_t off)
{
    return (char *)ctx->cfg + off;
}

bool ag_conf_role_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || !isalpha((unsigned char)s[0]) || s[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != ' ' && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

const char *const ag_conf_builtin_roles[] = {"Admin", "Op", "User", "Viewer", "Public", NULL};

bool ag_conf_role_known(const struct ag_config *c, const char *s)
{
    for (size_t i = 0; ag_conf_builtin_roles[i]; i++) {
        if (strcmp(s, ag_conf_builtin_roles[i]) == 0)
            return true;
    }
    for (size_t i = 0; i < c->roles.custom.n; i++) {
        if (strcmp(s, c->roles.custom.items[i]) == 0)
            return true;
    }
    return false;
}

const char *ag_conf_role_suggest(struct ag_conf_ctx *ctx, const char *s, int with_deny)
{
    const struct ag_strlist *cu = &ctx->cfg->roles.custom;
    size_t nb = sizeof(ag_conf_builtin_roles) / sizeof(ag_conf_builtin_roles[0]) - 1;
    const char **words = ag_arena_calloc(ctx->tmp, nb + cu->n + 2, sizeof(*words));
    size_t n = 0;
    if (with_deny)
        words[n++] = "deny";
    for (size_t i = 0; i < nb; i++)
        words[n++] = ag_conf_builtin_roles[i];
    for (size_t i = 0; i < cu->n; i++)
        words[n++] = cu->items[i];
    return ag_conf_suggest_word(s, words);
}

const char *ag_conf_need_scalar(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n,
                                const char *key, const char *what)
{
    if (n->kind == AG_YNODE_SCALAR)
        return n->str;
    ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, n), key, "expected %s, got %s", what,
                  ag_conf_kind_name(n));
    return NULL;
}

enum ag_rc ag_conf_check_text(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n,
                              const char *key)
{
    struct ag_conf_loc loc = ag_conf_loc_of(ctx, idx, n);
    if (n->len == 0) {
        ag_conf_error(ctx, loc, key, "must not be empty (leave the key out to use the default)");
        return AG_ECONF;
    }
    if (n->len > AG_CONF_MAX_STRING) {
        ag_conf_error(ctx, loc, key, "is longer than %d bytes", AG_CONF_MAX_STRING);
        return AG_ECONF;
    }
    for (size_t i = 0; i < n->len; i++) {
        unsigned char c = (unsigned char)n->str[i];
        if (c < 0x20 || c == 0x7f) {
            ag_conf_error(ctx, loc, key, "must not contain control characters");
            return AG_ECONF;
        }
    }
    return AG_OK;
}

static void ag_conv_string(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    const char *s = ag_conf_need_scalar(ctx, idx, n, o->path, "a string");
    if (!s || ag_conf_check_text(ctx, idx, n, o->path) != 0)
        return;
    char *v =
        o->type == AG_OPT_PATH ? ag_conf_resolve_path(ctx, s) : ag_arena_strdup(ctx->cfg->arena, s);
    memcpy(ag_field(ctx, o->off), &v, sizeof(v));
}

static void ag_conv_url(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    const char *s = ag_conf_need_scalar(ctx, idx, n, o->path, "a URL");
    if (!s || ag_conf_check_text(ctx, idx, n, o->path) != 0)
        return;
    struct ag_url u;
    struct ag_err err;
    char q[96];
    if (ag_url_parse(s, AG_URL_HTTP, &u, &err) != AG_OK) {
        ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, n), o->path, "%s is not a valid URL: %s",
                      ag_conf_quote(s, n->len, q, sizeof(q)), err.msg);
        return;
    }
    char *v = ag_arena_strdup(ctx->cfg->arena, s);
    if (o->flags & AG_OPTF_NO_SLASH) {
        size_t len = strlen(v), min = (size_t)(u.path - s);
        while (len > min && v[len - 1] == '/')
            v[--len] = '\0';
    }
    memcpy(ag_field(ctx, o->off), &v, sizeof(v));
}

static void ag_conv_int(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    const char *s = ag_conf_need_scalar(ctx, idx, n, o->path, "an integer");
    if (!s)
        return;
    char q[96];
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (n->len == 0 || end != s + n->len || isspace((unsigned char)s[0])) {
        ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, n), o->path, "expected an integer, got %s",
                      ag_conf_quote(s, n->len, q, sizeof(q)));
        return;
    }
    if (errno == ERANGE || v < o->min || v > o->max) {
        ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, n), o->path,
                      "must be between %ld and %ld, got %s", o->min, o->max, s);
        return;
    }
    memcpy(ag_field(ctx, o->off), &v, sizeof(v));
}

static void ag_conv_enum(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    const char *s = ag_conf_need_scalar(ctx, idx, n, o->path, "a single word");
    if (!s)
        return;
    for (int i = 0; o->choices[i]; i++) {
        if (strcmp(o->choices[i], s) == 0) {
            if (o->size == sizeof(int)) {
                memcpy(ag_field(ctx, o->off), &i, sizeof(i));
            } else {
                bool b = i == 0;
                memcpy(ag_field(ctx, o->off), &b, sizeof(b));
            }
            return;
        }
    }
    char list[160] = "", q[96];
    size_t used = 0;
    for (int i = 0; o->choices[i] && used < sizeof(list); i++) {
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", o->choices[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    const char *sug = ag_conf_suggest_word(s, o->choices);
    ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, n), o->path, "must be one of %s; got %s%s%s%s",
                  list, ag_conf_quote(s, n->len, q, sizeof(q)), sug ? " (did you mean " : "",
                  sug ? sug : "", sug ? "?)" : "");
}

static void ag_conv_listen(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    const char *s = ag_conf_need_scalar(ctx, idx, n, o->path, "host:port");
    if (!s)
        return;
    struct ag_conf_loc loc = ag_conf_loc_of(ctx, idx, n);
    char q[96], host[64];
    const char *port;
    ag_conf_quote(s, n->len, q, sizeof(q));
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        size_t hl = rb ? (size_t)(rb - s - 1) : 0;
        if (!rb || rb[1] != ':' || hl == 0 || hl >= sizeof(host)) {
            ag_conf_error(ctx, loc, o->path, "%s is not host:port or [v6]:port", q);
            return;
        }
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        port = rb + 2;
    } else {
        const char *colon = strrchr(s, ':');
        size_t hl = colon ? (size_t)(colon - s) : 0;
        if (!colon || hl >= sizeof(host) || memchr(s, ':', hl)) {
            ag_conf_error(ctx, loc, o->path,
                          "%s is not host:port or [v6]:port (IPv6 needs brackets)", q);
            return;
        }
        memcpy(host, s, hl);
        host[hl] = '\0';
        if (hl == 0)
            memcpy(host, "0.0.0.0", sizeof("0.0.0.0"));
        port = colon + 1;
    }
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) != 1 && inet_pton(AF_INET6, host, a) != 1) {
        ag_conf_error(ctx, loc, o->path,
                      "%s: the host must be an IP address (0.0.0.0, 127.0.0.1, [::], ...)", q);
        return;
    }
    char *end = NULL;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (!isdigit((unsigned char)port[0]) || *end != '\0' || errno == ERANGE || p > 65535) {
        ag_conf_error(ctx, loc, o->path, "%s: the port must be a number from 0 to 65535", q);
        return;
    }
    ctx->cfg->listen = ag_arena_strdup(ctx->cfg->arena, s);
    ctx->cfg->listen_host = ag_arena_strdup(ctx->cfg->arena, host);
    ctx->cfg->listen_port = (uint16_t)p;
}

static void ag_conv_one(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n)
{
    switch (ag_conf_opts[idx].type) {
    case AG_OPT_STRING:
    case AG_OPT_PATH:
        ag_conv_string(ctx, idx, n);
        break;
    case AG_OPT_URL:
        ag_conv_url(ctx, idx, n);
        break;
    case AG_OPT_INT:
        ag_conv_int(ctx, idx, n);
        break;
    case AG_OPT_ENUM:
        ag_conv_enum(ctx, idx, n);
        break;
    case AG_OPT_LISTEN:
        ag_conv_listen(ctx, idx, n);
        break;
    case AG_OPT_STRLIST:
    case AG_OPT_URLLIST:
        ag_conf_conv_strlist(ctx, idx, n);
        break;
    case AG_OPT_SECRET:
        ag_conf_conv_secret(ctx, idx, n);
        break;
    case AG_OPT_SECRETLIST:
        ag_conf_conv_secretlist(ctx, idx, n);
        break;
    case AG_OPT_CIDRLIST:
        ag_conf_conv_cidrlist(ctx, idx, n);
        break;
    case AG_OPT_ROLEMAP:
        ag_conf_conv_rolemap(ctx, idx, n);
        break;
    }
}

/* A client id such as "airflow.prod" must stay one segment of resource_access.<id>.roles: quote
 * it the way rolemap/path.h reads quoted segments when it holds anything but [A-Za-z0-9_-]. */
static char *ag_conf_quote_path_segment(struct ag_conf_ctx *ctx, const char *key)
{
    size_t n = strlen(key);
    int plain = n > 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (!(isalnum(c) || c == '_' || c == '-'))
            plain = 0;
    }
    if (plain)
        return (char *)key;
    char *out = ag_arena_alloc(ctx->tmp, 2 * n + 3);
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (key[i] == '"' || key[i] == '\\')
            out[o++] = '\\';
        out[o++] = key[i];
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

/* The default as a node: "${key}" is replaced by that (earlier) key's string value; list types
 * split on commas. NULL when there is no default or what it refers to is unset. */
static const struct ag_ynode *ag_default_node(struct ag_conf_ctx *ctx, size_t idx)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    if (!o->def)
        return NULL;
    const char *def = o->def;
    const char *ref = strstr(def, "${");
    if (ref) {
        const char *close = strchr(ref, '}');
        char *name = ag_arena_strndup(ctx->tmp, ref + 2, (size_t)(close - ref - 2));
        long r = ag_conf_opt_find(name);
        char *val = NULL;
        if (r >= 0)
            memcpy(&val, ag_field(ctx, ag_conf_opts[r].off), sizeof(val));
        if (!val)
            return NULL;
        if (o->flags & AG_OPTF_CLAIM_PATH)
            val = ag_conf_quote_path_segment(ctx, val);
        def = ag_arena_printf(ctx->tmp, "%.*s%s%s", (int)(ref - def), def, val, close + 1);
        if (o->flags & AG_OPTF_CLAIM_PATH) {
            /* One path, even when the substituted key contains a comma. */
            struct ag_ynode *seq = ag_ynode_new(ctx, AG_YNODE_SEQ, 0);
            struct ag_ynode *item = ag_ynode_new(ctx, AG_YNODE_SCALAR, 0);
            item->str = (char *)def;
            item->len = strlen(def);
            ag_ynode_append(seq, item);
            return seq;
        }
    }
    int list = o->type == AG_OPT_STRLIST || o->type == AG_OPT_URLLIST ||
               o->type == AG_OPT_CIDRLIST || o->type == AG_OPT_SECRETLIST;
    struct ag_ynode *n = ag_ynode_new(ctx, list ? AG_YNODE_SEQ : AG_YNODE_SCALAR, 0);
    if (!list) {
        n->str = ag_arena_strdup(ctx->tmp, def);
        n->len = strlen(def);
        return n;
    }
    const char *p = def;
    while (*p) {
        size_t len = strcspn(p, ",");
        struct ag_ynode *item = ag_ynode_new(ctx, AG_YNODE_SCALAR, 0);
        item->str = ag_arena_strndup(ctx->tmp, p, len);
        item->len = len;
        ag_ynode_append(n, item);
        p += len + (p[len] == ',');
    }
    return n;
}

void ag_conf_convert_all(struct ag_conf_ctx *ctx)
{
    for (size_t i = 0; i < ag_conf_nopts; i++) {
        const struct ag_conf_opt *o = &ag_conf_opts[i];
        struct ag_conf_slot *s = &ctx->slots[i];
        const struct ag_ynode *n = s->node;
        if (n && n->kind != AG_YNODE_NULL) {
            ag_conv_one(ctx, i, n);
            continue;
        }
        if (o->flags & AG_OPTF_REQUIRED) {
            char env[128];
            ag_conf_opt_env_name(o, 0, env, sizeof(env));
            if (n)
                ag_conf_error(ctx, ag_conf_loc_of(ctx, i, n), o->path,
                              "has no value, but is required");
            else if (ag_conf_opt_is_secret(o))
                ag_conf_error(ctx, (struct ag_conf_loc){ag_conf_section_line(ctx, o->path), NULL},
                              o->path, "required key is missing (set %s or %s_file, or %s[_FILE])",
                              o->path, o->path, env);
            else
                ag_conf_error(ctx, (struct ag_conf_loc){ag_conf_section_line(ctx, o->path), NULL},
                              o->path, "required key is missing (set it in the file or as %s)",
                              env);
            continue;
        }
        s->origin.src = o->def ? AG_SRC_DEFAULT : AG_SRC_NONE;
        s->origin.via_file = false;
        n = ag_default_node(ctx, i);
        if (n)
            ag_conv_one(ctx, i, n);
    }
}
