/* State shared by the steps of ag_config_load (read, overlay, convert, validate) and the error
 * reporter that prints "FILE:LINE: key: what is wrong" lines. Internal to conf/. */
#ifndef AG_CONF_CTX_H
#define AG_CONF_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "conf/types.h"
#include "core/err.h"

#define AG_CONF_MAX_FILE_BYTES (1024L * 1024L) /* the config file */
#define AG_CONF_MAX_SECRET_BYTES (64L * 1024L) /* one *_file secret */
#define AG_CONF_MAX_DEPTH 16                   /* YAML nesting */

enum ag_ynode_kind { AG_YNODE_NULL, AG_YNODE_SCALAR, AG_YNODE_SEQ, AG_YNODE_MAP };

/** One YAML node. A map's children alternate key, value. */
struct ag_ynode {
    enum ag_ynode_kind kind;
    int line; /* 1-based; 0 for values from the environment */
    char *str;
    size_t len;
    struct ag_ynode *first, *last, *next;
    size_t n; /* children */
};

enum ag_conf_src { AG_SRC_NONE = 0, AG_SRC_DEFAULT, AG_SRC_FILE, AG_SRC_ENV };

/** Where one option's value came from; kept in the config for printing. */
struct ag_conf_origin {
    enum ag_conf_src src;
    bool via_file; /* given as <key>_file */
    int line;      /* AG_SRC_FILE */
    char *env;     /* AG_SRC_ENV: the variable */
    char *files;   /* via_file: the path(s) read, comma-separated */
};

struct ag_conf_slot {
    struct ag_conf_origin origin;
    const struct ag_ynode *node; /* the raw value (NULL: not given) */
};

/** An error location: the file and a line, or an environment variable. */
struct ag_conf_loc {
    int line;
    const char *env;
};

struct ag_conf_ctx {
    const char *path;
    char *dir; /* directory of path, for relative file paths */
    FILE *errs;
    unsigned nerr;
    struct ag_arena *tmp;       /* parse tree, environment nodes */
    struct ag_config *cfg;      /* being built */
    struct ag_conf_slot *slots; /* one per option */
    int section_line[16];       /* line of each section key; see ag_conf_section_line */
};

/** Reports one error (a trailing newline is added). key may be NULL. */
void ag_conf_error(struct ag_conf_ctx *ctx, struct ag_conf_loc loc, const char *key,
                   const char *fmt, ...) AG_PRINTF(4, 5);

/** Location of a node belonging to option slot idx (an env var or the node's line). */
struct ag_conf_loc ag_conf_loc_of(const struct ag_conf_ctx *ctx, size_t idx,
                                  const struct ag_ynode *n);

/** Writes a short, printable, quoted rendering of s for error messages (never for secrets). */
const char *ag_conf_quote(const char *s, size_t len, char *out, size_t outlen);

/** Like ag_conf_quote, showing at most max characters of s. */
const char *ag_conf_quote_max(const char *s, size_t len, char *out, size_t outlen, size_t max);

/** Name of a node's kind for "expected X, got Y" messages. */
const char *ag_conf_kind_name(const struct ag_ynode *n);

/** Line of the section ("oidc") containing path, or 1 when it is a top-level key or absent. */
int ag_conf_section_line(const struct ag_conf_ctx *ctx, const char *path);

/** Records the line where a section's key appears. */
void ag_conf_section_line_set(struct ag_conf_ctx *ctx, const char *section, int line);

/** New node allocated in ctx->tmp. */
struct ag_ynode *ag_ynode_new(struct ag_conf_ctx *ctx, enum ag_ynode_kind kind, int line);

/** Appends child to parent. */
void ag_ynode_append(struct ag_ynode *parent, struct ag_ynode *child);

/** Overwrites every scalar in the tree (inline secrets must not linger in freed memory). */
void ag_ynode_wipe(struct ag_ynode *n);

/** Reads a whole file of at most max bytes into a malloc'd, NUL-terminated buffer. On failure
 * returns NULL and writes a reason (strerror or "larger than ...") into why. */
char *ag_conf_read_file(const char *path, long max, size_t *len, struct ag_err *err);

/** Resolves a relative path against the config file's directory (in the config arena). */
char *ag_conf_resolve_path(struct ag_conf_ctx *ctx, const char *p);

#endif
