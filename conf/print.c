/* ag_config_print: the effective configuration as YAML, secrets redacted, each value commented
 * with where it came from. Walks the option table, so a new key is printed without changes here. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "conf/ctx.h"
#include "conf/options.h"

static void ag_print_str(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void ag_print_strlist(FILE *out, const struct ag_strlist *l)
{
    fputc('[', out);
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            fputs(", ", out);
        ag_print_str(out, l->items[i]);
    }
    fputc(']', out);
}

static void ag_print_origin(FILE *out, const struct ag_conf_origin *o)
{
    switch (o->src) {
    case AG_SRC_NONE:
        fputs("  # not set", out);
        break;
    case AG_SRC_DEFAULT:
        fputs("  # default", out);
        break;
    case AG_SRC_FILE:
        fprintf(out, "  # line %d", o->line);
        break;
    case AG_SRC_ENV:
        fprintf(out, "  # env %s", o->env);
        break;
    }
    if (o->via_file && o->files)
        fprintf(out, ", read from %s", o->files);
}

static void ag_print_value(FILE *out, const struct ag_config *c, const struct ag_conf_opt *o)
{
    const char *base = (const char *)c;
    switch (o->type) {
    case AG_OPT_STRING:
    case AG_OPT_PATH:
    case AG_OPT_URL:
    case AG_OPT_LISTEN: {
        const char *s;
        memcpy(&s, base + o->off, sizeof(s));
        if (!s && strcmp(o->path, "roles.unmapped") == 0)
            s = "deny";
        ag_print_str(out, s);
        break;
    }
    case AG_OPT_INT: {
        long v;
        memcpy(&v, base + o->off, sizeof(v));
        fprintf(out, "%ld", v);
        break;
    }
    case AG_OPT_ENUM: {
        int idx = 0;
        if (o->size == sizeof(int)) {
            memcpy(&idx, base + o->off, sizeof(idx));
        } else {
            bool b;
            memcpy(&b, base + o->off, sizeof(b));
            idx = b ? 0 : 1;
        }
        fputs(idx >= 0 && o->choices[idx] ? o->choices[idx] : "?", out);
        break;
    }
    case AG_OPT_STRLIST:
    case AG_OPT_URLLIST:
        ag_print_strlist(out, (const struct ag_strlist *)(const void *)(base + o->off));
        break;
    case AG_OPT_SECRET: {
        const struct ag_secret *s = (const struct ag_secret *)(const void *)(base + o->off);
        fputs(s->len ? "\"<redacted>\"" : "null", out);
        break;
    }
    case AG_OPT_SECRETLIST: {
        const struct ag_secretlist *l = (const struct ag_secretlist *)(const void *)(base + o->off);
        fputc('[', out);
        for (size_t i = 0; i < l->n; i++)
            fputs(i ? ", \"<redacted>\"" : "\"<redacted>\"", out);
        fputc(']', out);
        break;
    }
    case AG_OPT_CIDRLIST: {
        /* trusted_proxies is the only CIDR list */
        size_t n = c->n_trusted_proxies;
        const struct ag_cidr *v = c->trusted_proxies;
        fputc('[', out);
        for (size_t i = 0; i < n; i++) {
            char a[INET6_ADDRSTRLEN];
            inet_ntop(v[i].family, v[i].addr, a, sizeof(a));
            fprintf(out, "%s\"%s/%u\"", i ? ", " : "", a, v[i].prefix);
        }
        fputc(']', out);
        break;
    }
    case AG_OPT_ROLEMAP:
        if (c->roles.n_rules == 0)
            fputs("{}", out);
        break;
    }
}

void ag_config_print(const struct ag_config *c, FILE *out)
{
    fputs("# airgate effective configuration", out);
    if (c->source)
        fprintf(out, " of %s", c->source);
    fputs("\n# secrets are shown as <redacted>; comments say where each value came from\n", out);
    const char *section = NULL;
    size_t section_len = 0;
    for (size_t i = 0; i < ag_conf_nopts; i++) {
        const struct ag_conf_opt *o = &ag_conf_opts[i];
        const char *dot = strchr(o->path, '.');
        const char *key = o->path;
        const char *indent = "";
        if (dot) {
            size_t sl = (size_t)(dot - o->path);
            if (!section || sl != section_len || strncmp(section, o->path, sl) != 0) {
                fprintf(out, "%.*s:\n", (int)sl, o->path);
                section = o->path;
                section_len = sl;
            }
            key = dot + 1;
            indent = "  ";
        }
        fprintf(out, "%s%s: ", indent, key);
        ag_print_value(out, c, o);
        if (c->origins)
            ag_print_origin(out, &c->origins[i]);
        fputc('\n', out);
        if (o->type == AG_OPT_ROLEMAP) {
            for (size_t r = 0; r < c->roles.n_rules; r++) {
                fprintf(out, "%s  ", indent);
                ag_print_str(out, c->roles.rules[r].idp_role);
                fputs(": ", out);
                ag_print_strlist(out, &c->roles.rules[r].airflow_roles);
                fputc('\n', out);
            }
        }
    }
}
