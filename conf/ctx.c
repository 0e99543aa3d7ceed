#include "conf/ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/secret.h"

static const char *const ag_conf_sections[] = {"tls",   "log",       "oidc",   "session",
                                               "roles", "upstreams", "server", "assertion"};
#define AG_NSECTIONS (sizeof(ag_conf_sections) / sizeof(ag_conf_sections[0]))

void ag_conf_error(struct ag_conf_ctx *ctx, struct ag_conf_loc loc, const char *key,
                   const char *fmt, ...)
{
    ctx->nerr++;
    if (!ctx->errs)
        return;
    if (loc.env)
        fprintf(ctx->errs, "env %s: ", loc.env);
    else
        fprintf(ctx->errs, "%s:%d: ", ctx->path, loc.line > 0 ? loc.line : 1);
    if (key) {
        /* Keys come from the file: keep terminal control bytes out, and long keys short. */
        size_t i = 0;
        for (; i < 100 && key[i]; i++) {
            unsigned char c = (unsigned char)key[i];
            fputc(c < 0x20 || c == 0x7f ? '?' : c, ctx->errs);
        }
        fputs(i == 100 && key[i] ? "...: " : ": ", ctx->errs);
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(ctx->errs, fmt, ap);
    va_end(ap);
    fputc('\n', ctx->errs);
}

struct ag_conf_loc ag_conf_loc_of(const struct ag_conf_ctx *ctx, size_t idx,
                                  const struct ag_ynode *n)
{
    const struct ag_conf_origin *o = &ctx->slots[idx].origin;
    struct ag_conf_loc loc = {0, NULL};
    if (o->src == AG_SRC_ENV)
        loc.env = o->env;
    else if (n && n->line > 0)
        loc.line = n->line;
    else
        loc.line = o->line;
    return loc;
}

const char *ag_conf_quote(const char *s, size_t len, char *out, size_t outlen)
{
    return ag_conf_quote_max(s, len, out, outlen, 60);
}

const char *ag_conf_quote_max(const char *s, size_t len, char *out, size_t outlen, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (outlen < 16) {
        if (outlen)
            out[0] = '\0';
        return out;
    }
    out[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= outlen || i >= max) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            out[o++] = '\\';
            if (c == '"' || c == '\\') {
                out[o++] = (char)c;
            } else {
                out[o++] = 'x';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
            }
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

const char *ag_conf_kind_name(const struct ag_ynode *n)
{
    switch (n ? n->kind : AG_YNODE_NULL) {
    case AG_YNODE_NULL:
        return "nothing (null)";
    case AG_YNODE_SCALAR:
        return "a single value";
    case AG_YNODE_SEQ:
        return "a list";
    case AG_YNODE_MAP:
        return "a mapping";
    }
    return "something else";
}

static long ag_conf_section_index(const char *path)
{
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    for (size_t i = 0; i < AG_NSECTIONS; i++) {
        if (strlen(ag_conf_sections[i]) == n && strncmp(ag_conf_sections[i], path, n) == 0)
            return (long)i;
    }
    return -1;
}

int ag_conf_section_line(const struct ag_conf_ctx *ctx, const char *path)
{
    if (!strchr(path, '.'))
        return 1;
    long i = ag_conf_section_index(path);
    return i >= 0 && ctx->section_line[i] > 0 ? ctx->section_line[i] : 1;
}

void ag_conf_section_line_set(struct ag_conf_ctx *ctx, const char *section, int line)
{
    long i = ag_conf_section_index(section);
    if (i >= 0 && ctx->section_line[i] == 0)
        ctx->section_line[i] = line;
}

struct ag_ynode *ag_ynode_new(struct ag_conf_ctx *ctx, enum ag_ynode_kind kind, int line)
{
    struct ag_ynode *n = ag_arena_calloc(ctx->tmp, 1, sizeof(*n));
    n->kind = kind;
    n->line = line;
    return n;
}

void ag_ynode_append(struct ag_ynode *parent, struct ag_ynode *child)
{
    if (parent->last)
        parent->last->next = child;
    else
        parent->first = child;
    parent->last = child;
    parent->n++;
}

void ag_ynode_wipe(struct ag_ynode *n)
{
    /* Iterative over siblings, recursive only in depth (bounded by AG_CONF_MAX_DEPTH). */
    for (; n; n = n->next) {
        if (n->str)
            ag_secret_wipe(n->str, n->len);
        ag_ynode_wipe(n->first);
    }
}

char *ag_conf_read_file(const char *path, long max, size_t *len, struct ag_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        ag_err_set(err, AG_EIO, "%s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        ag_err_set(err, AG_EIO, "%s", S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISREG(st.st_mode) && st.st_size > max) {
        ag_err_set(err, AG_EIO, "file is %lld bytes, larger than the limit of %ld",
                   (long long)st.st_size, max);
        close(fd);
        return NULL;
    }
    /* Not trusting st_size (pipes, /proc, files growing): read at most max + 1 bytes. */
    size_t cap = (size_t)max + 1, used = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        abort();
    for (;;) {
        ssize_t r = read(fd, buf + used, cap - used);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ag_err_set(err, AG_EIO, "%s", strerror(errno));
            ag_secret_wipe(buf, used);
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0)
            break;
        used += (size_t)r;
        if (used == cap) {
            ag_err_set(err, AG_EIO, "file is larger than the limit of %ld bytes", max);
            ag_secret_wipe(buf, used);
            free(buf);
            close(fd);
            return NULL;
        }
    }
    close(fd);
    buf[used] = '\0';
    *len = used;
    return buf;
}

char *ag_conf_resolve_path(struct ag_conf_ctx *ctx, const char *p)
{
    if (p[0] == '/' || !ctx->dir)
        return ag_arena_strdup(ctx->cfg->arena, p);
    return ag_arena_printf(ctx->cfg->arena, "%s/%s", ctx->dir, p);
}
