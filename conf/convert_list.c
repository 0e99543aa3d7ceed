#include "conf/convert_list.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf/convert.h"
#include "conf/options.h"
#include "core/arena.h"
#include "core/secret.h"
#include "core/url.h"

#define AG_CONF_MAX_ITEMS 256

static void *ag_field(struct ag_conf_ctx *ctx, size_t off)
{
    return (char *)ctx->cfg + off;
}

/* Stores an array pointer into a config field given by offset. */
static void ag_field_set_ptr(struct ag_conf_ctx *ctx, size_t off, void *p)
{
    memcpy(ag_field(ctx, off), &p, sizeof(void *));
}

/* The list node, or NULL after reporting (not a list, too long, an item not a single value). */
static const struct ag_ynode *ag_need_list(struct ag_conf_ctx *ctx, size_t idx,
                                           const struct ag_ynode *n, const char *key)
{
    struct ag_conf_loc loc = ag_conf_loc_of(ctx, idx, n);
    if (n->kind != AG_YNODE_SEQ) {
        ag_conf_error(ctx, loc, key, "expected a list (e.g. [a, b]), got %s", ag_conf_kind_name(n));
        return NULL;
    }
    if (n->n > AG_CONF_MAX_ITEMS) {
        ag_conf_error(ctx, loc, key, "has %zu items; at most %d are allowed", n->n,
                      AG_CONF_MAX_ITEMS);
        return NULL;
    }
    for (const struct ag_ynode *it = n->first; it; it = it->next) {
        if (it->kind != AG_YNODE_SCALAR) {
            ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, it), key,
                          "list items must be single values, got %s", ag_conf_kind_name(it));
            return NULL;
        }
    }
    return n;
}

void ag_conf_conv_strlist(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    if (!ag_need_list(ctx, idx, n, o->path))
        return;
    struct ag_strlist l = {0, ag_arena_calloc(ctx->cfg->arena, n->n + 1, sizeof(char *))};
    int bad = 0;
    char q[96];
    for (const struct ag_ynode *it = n->first; it; it = it->next) {
        if (ag_conf_check_text(ctx, idx, it, o->path) != 0) {
            bad = 1;
            continue;
        }
        if (o->type == AG_OPT_URLLIST) {
            struct ag_url u;
            struct ag_err err;
            if (ag_url_parse(it->str, AG_URL_HTTP, &u, &err) != AG_OK) {
                ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, it), o->path,
                              "%s is not a valid URL: %s",
                              ag_conf_quote(it->str, it->len, q, sizeof(q)), err.msg);
                bad = 1;
                continue;
            }
            if (u.path[0] && strcmp(u.path, "/") != 0) {
                ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, it), o->path,
                              "%s: a server is scheme://host:port, without a path",
                              ag_conf_quote(it->str, it->len, q, sizeof(q)));
                bad = 1;
                continue;
            }
            /* "http://h:8080/" -> "http://h:8080" */
            l.items[l.n++] =
                ag_arena_strndup(ctx->cfg->arena, it->str, it->len - (u.path[0] == '/' ? 1 : 0));
            continue;
        }
        l.items[l.n++] = ag_arena_strdup(ctx->cfg->arena, it->str);
    }
    if (!bad)
        memcpy(ag_field(ctx, o->off), &l, sizeof(l));
}

static void ag_secret_cleanup(void *p)
{
    struct ag_secret *s = p;
    ag_secret_wipe(s->data, s->len);
}

/* Fills *out from an inline value or a file; 0 or -1 after reporting. */
static enum ag_rc ag_secret_get(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *it,
                                struct ag_secret *out)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    struct ag_conf_slot *s = &ctx->slots[idx];
    struct ag_conf_loc loc = ag_conf_loc_of(ctx, idx, it);
    char key[128];
    snprintf(key, sizeof(key), "%s%s", o->path, s->origin.via_file ? "_file" : "");
    const char *data = it->str;
    size_t len = it->len, flen = 0;
    char *buf = NULL;
    if (s->origin.via_file) {
        struct ag_err why = {0};
        char q[512];
        if (ag_conf_check_text(ctx, idx, it, key) != 0)
            return AG_ECONF;
        char *path = ag_conf_resolve_path(ctx, it->str);
        /* Paths are the operator's own and long in practice: show them whole. */
        ag_conf_quote_max(path, strlen(path), q, sizeof(q), sizeof(q));
        buf = ag_conf_read_file(path, AG_CONF_MAX_SECRET_BYTES, &flen, &why);
        len = flen;
        if (!buf) {
            ag_conf_error(ctx, loc, key, "cannot read %s: %s", q, why.msg);
            return AG_ECONF;
        }
        /* Files written by editors and `echo` end in a newline that is not part of the secret. */
        if (len > 0 && buf[len - 1] == '\n')
            len--;
        if (len > 0 && buf[len - 1] == '\r')
            len--;
        if (len == 0) {
            ag_conf_error(ctx, loc, key, "the file %s is empty", q);
            free(buf);
            return AG_ECONF;
        }
        data = buf;
        s->origin.files = s->origin.files
                              ? ag_arena_printf(ctx->cfg->arena, "%s, %s", s->origin.files, path)
                              : path;
    }
    enum ag_rc rc = AG_OK;
    if (len == 0) {
        ag_conf_error(ctx, loc, key, "is empty");
        rc = AG_ECONF;
    } else if ((long)len < o->min) {
        ag_conf_error(ctx, loc, key,
                      "is too short: at least %ld bytes are required (generate one with: openssl "
                      "rand -base64 %ld)",
                      o->min, o->min);
        rc = AG_ECONF;
    } else {
        out->data = ag_arena_memdup(ctx->cfg->arena, data, len);
        out->len = len;
        ag_arena_cleanup_add(ctx->cfg->arena, ag_secret_cleanup, out);
    }
    if (buf) {
        ag_secret_wipe(buf, flen);
        free(buf);
    }
    return rc;
}

void ag_conf_conv_secret(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    const char *key =
        ctx->slots[idx].origin.via_file ? ag_arena_printf(ctx->tmp, "%s_file", o->path) : o->path;
    if (!ag_conf_need_scalar(ctx, idx, n, key,
                             ctx->slots[idx].origin.via_file ? "a file path" : "a string"))
        return;
    struct ag_secret *dst = ag_field(ctx, o->off);
    (void)ag_secret_get(ctx, idx, n, dst);
}

void ag_conf_conv_secretlist(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    const char *key =
        ctx->slots[idx].origin.via_file ? ag_arena_printf(ctx->tmp, "%s_file", o->path) : o->path;
    struct ag_secretlist *dst = ag_field(ctx, o->off);
    if ((o->flags & AG_OPTF_ONE_OK) && n->kind == AG_YNODE_SCALAR) {
        dst->items = ag_arena_calloc(ctx->cfg->arena, 2, sizeof(struct ag_secret));
        dst->n = ag_secret_get(ctx, idx, n, &dst->items[0]) == 0;
        return;
    }
    if (!ag_need_list(ctx, idx, n, key))
        return;
    dst->items = ag_arena_calloc(ctx->cfg->arena, n->n + 1, sizeof(struct ag_secret));
    dst->n = 0;
    for (const struct ag_ynode *it = n->first; it; it = it->next) {
        if (ag_secret_get(ctx, idx, it, &dst->items[dst->n]) == 0)
            dst->n++;
    }
}

enum ag_rc ag_conf_cidr_parse(const char *s, struct ag_cidr *out, struct ag_err *err)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(addr)) {
        return ag_err_set(err, AG_ECONF, "is not an address/prefix");
    }
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    memset(out, 0, sizeof(*out));
    unsigned max;
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return ag_err_set(err, AG_ECONF, "is not an IPv4 or IPv6 address/prefix");
    }
    out->prefix = max;
    if (slash) {
        char *end = NULL;
        errno = 0;
        long p = strtol(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || p < 0 || p > (long)max) {
            return ag_err_set(err, AG_ECONF, "has a prefix length outside 0..%u", max);
        }
        out->prefix = (unsigned)p;
    }
    /* 10.0.0.1/8 is almost always a typo for 10.0.0.0/8 or 10.0.0.1/32: refuse to guess. */
    unsigned nbytes = max / 8;
    int host_bits = 0;
    uint8_t net[16];
    memcpy(net, out->addr, sizeof(net));
    for (unsigned i = 0; i < nbytes; i++) {
        unsigned keep = out->prefix > i * 8 ? out->prefix - i * 8 : 0;
        uint8_t mask = keep >= 8 ? 0xff : (uint8_t)(0xff00u >> keep);
        if (net[i] & (uint8_t)~mask)
            host_bits = 1;
        net[i] &= mask;
    }
    if (host_bits) {
        char nb[INET6_ADDRSTRLEN];
        inet_ntop(out->family, net, nb, sizeof(nb));
        return ag_err_set(err, AG_ECONF, "has host bits set (did you mean %s/%u?)", nb,
                          out->prefix);
    }
    return AG_OK;
}

void ag_conf_conv_cidrlist(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    if (!ag_need_list(ctx, idx, n, o->path))
        return;
    struct ag_cidr *items = ag_arena_calloc(ctx->cfg->arena, n->n + 1, sizeof(*items));
    size_t count = 0;
    char q[96];
    for (const struct ag_ynode *it = n->first; it; it = it->next) {
        struct ag_err why = {0};
        if (ag_conf_check_text(ctx, idx, it, o->path) != 0)
            continue;
        if (ag_conf_cidr_parse(it->str, &items[count], &why) != AG_OK) {
            ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, it), o->path, "%s %s",
                          ag_conf_quote(it->str, it->len, q, sizeof(q)), why.msg);
            continue;
        }
        count++;
    }
    memcpy(ag_field(ctx, o->off), &count, sizeof(count));
    ag_field_set_ptr(ctx, o->off2, items);
}

/* IdP role names end up comma-separated in X-Forwarded-Groups, hence no commas. */
static bool ag_idp_role_ok(const struct ag_ynode *k)
{
    if (k->len == 0 || k->len > 256 || memchr(k->str, ',', k->len))
        return false;
    for (size_t i = 0; i < k->len; i++) {
        unsigned char c = (unsigned char)k->str[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static enum ag_rc ag_rule_roles(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *v,
                                const char *key, struct ag_strlist *out)
{
    struct ag_conf_loc loc = ag_conf_loc_of(ctx, idx, v);
    char q[96];
    const struct ag_ynode *list = v;
    if (v->kind == AG_YNODE_SCALAR) {
        list = NULL;
    } else if (v->kind != AG_YNODE_SEQ || v->n == 0) {
        ag_conf_error(ctx, loc, key, "expected an Airflow role or a list of them, got %s",
                      v->kind == AG_YNODE_SEQ ? "an empty list" : ag_conf_kind_name(v));
        return AG_ECONF;
    }
    size_t count = list ? list->n : 1;
    out->items = ag_arena_calloc(ctx->cfg->arena, count + 1, sizeof(char *));
    out->n = 0;
    for (const struct ag_ynode *r = list ? list->first : v; r; r = list ? r->next : NULL) {
        if (r->kind != AG_YNODE_SCALAR) {
            ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, r), key,
                          "expected an Airflow role name, got %s", ag_conf_kind_name(r));
            return AG_ECONF;
        }
        if (!ag_conf_role_name_ok(r->str)) {
            ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, r), key,
                          "%s is not an Airflow role name (a letter, then letters, digits, "
                          "spaces, _ . -; at most 64)",
                          ag_conf_quote(r->str, r->len, q, sizeof(q)));
            return AG_ECONF;
        }
        if (!ag_conf_role_known(ctx->cfg, r->str)) {
            /* A typo here would silently grant nothing, or a role nobody created. */
            const char *sug = ag_conf_role_suggest(ctx, r->str, 0);
            ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, r), key,
                          "%s is not a built-in Airflow role (Admin, Op, User, Viewer, Public) "
                          "nor listed in roles.custom%s%s%s",
                          ag_conf_quote(r->str, r->len, q, sizeof(q)), sug ? " (did you mean " : "",
                          sug ? sug : "", sug ? "?)" : "");
            return AG_ECONF;
        }
        out->items[out->n++] = ag_arena_strdup(ctx->cfg->arena, r->str);
    }
    return AG_OK;
}

void ag_conf_conv_rolemap(struct ag_conf_ctx *ctx, size_t idx, const struct ag_ynode *n)
{
    const struct ag_conf_opt *o = &ag_conf_opts[idx];
    struct ag_conf_loc loc = ag_conf_loc_of(ctx, idx, n);
    if (n->kind != AG_YNODE_MAP) {
        ag_conf_error(ctx, loc, o->path,
                      "expected a mapping of IdP role to Airflow role(s), got %s",
                      ag_conf_kind_name(n));
        return;
    }
    size_t nrules = n->n / 2;
    if (nrules > AG_CONF_MAX_ITEMS) {
        ag_conf_error(ctx, loc, o->path, "has %zu entries; at most %d are allowed", nrules,
                      AG_CONF_MAX_ITEMS);
        return;
    }
    struct ag_role_rule *rules = ag_arena_calloc(ctx->cfg->arena, nrules + 1, sizeof(*rules));
    size_t count = 0;
    char q[96];
    for (const struct ag_ynode *k = n->first; k && k->next; k = k->next->next) {
        const char *key = k->kind == AG_YNODE_SCALAR
                              ? ag_arena_printf(ctx->tmp, "%s.%s", o->path, k->str)
                              : o->path;
        if (k->kind != AG_YNODE_SCALAR || !ag_idp_role_ok(k)) {
            ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, k), key,
                          "IdP role names must be non-empty text without commas");
            continue;
        }
        int dup = 0;
        for (const struct ag_ynode *p = n->first; p != k; p = p->next->next) {
            if (p->kind == AG_YNODE_SCALAR && p->len == k->len &&
                memcmp(p->str, k->str, k->len) == 0) {
                if (p->line > 0)
                    ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, k), key,
                                  "duplicate key (first given at line %d)", p->line);
                else
                    ag_conf_error(ctx, ag_conf_loc_of(ctx, idx, k), key,
                                  "IdP role %s is mapped twice",
                                  ag_conf_quote(k->str, k->len, q, sizeof(q)));
                dup = 1;
                break;
            }
        }
        if (dup)
            continue;
        if (ag_rule_roles(ctx, idx, k->next, key, &rules[count].airflow_roles) != 0)
            continue;
        rules[count++].idp_role = ag_arena_strdup(ctx->cfg->arena, k->str);
    }
    memcpy(ag_field(ctx, o->off), &count, sizeof(count));
    ag_field_set_ptr(ctx, o->off2, rules);
}
