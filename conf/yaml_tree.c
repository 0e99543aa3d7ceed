#include "conf/yaml_tree.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/arena.h"
#include "core/secret.h"

/* Length of the valid UTF-8 sequence at s (max bytes available), or 0 when invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t ag_utf8_seq(const unsigned char *s, size_t max)
{
    unsigned char c = s[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n > max)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* libyaml rejects bad UTF-8 too, but with a byte offset; we want a line and a plain message. */
static enum ag_rc ag_yaml_check_bytes(struct ag_conf_ctx *ctx, const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    int line = 1;
    size_t i = 0, col = 1;
    while (i < len) {
        if (s[i] == '\0') {
            ag_conf_error(ctx, (struct ag_conf_loc){line, NULL}, NULL,
                          "NUL byte at column %zu (the config must be UTF-8 text)", col);
            return AG_ECONF;
        }
        size_t n = ag_utf8_seq(s + i, len - i);
        if (n == 0) {
            ag_conf_error(ctx, (struct ag_conf_loc){line, NULL}, NULL,
                          "invalid UTF-8 byte 0x%02x at column %zu (the config must be UTF-8 "
                          "text)",
                          s[i], col);
            return AG_ECONF;
        }
        if (s[i] == '\n') {
            line++;
            col = 0;
        }
        i += n;
        col++;
    }
    return AG_OK;
}

static bool ag_yaml_is_null(const yaml_event_t *ev)
{
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)ev->data.scalar.value;
    return strcmp(v, "") == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

struct ag_yaml_state {
    struct ag_conf_ctx *ctx;
    struct ag_ynode *stack[AG_CONF_MAX_DEPTH + 1];
    int depth;
    struct ag_ynode *root;
    int docs;
};

/* Returns 0 to go on, 1 at the end of the stream, -1 after reporting an error. */
static int ag_yaml_event(struct ag_yaml_state *st, yaml_event_t *ev)
{
    struct ag_conf_ctx *ctx = st->ctx;
    struct ag_conf_loc loc = {(int)ev->start_mark.line + 1, NULL};
    const yaml_char_t *anchor = NULL, *tag = NULL;
    struct ag_ynode *n = NULL;

    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_NO_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return 0;
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (st->docs++ > 0) {
            ag_conf_error(ctx, loc, NULL,
                          "more than one YAML document ('---'); a config is one document");
            return -1;
        }
        return 0;
    case YAML_ALIAS_EVENT:
        ag_conf_error(ctx, loc, NULL,
                      "YAML aliases (*name) are not allowed in the config (they can expand "
                      "without bound)");
        return -1;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        st->depth--;
        return 0;
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    }
    if (anchor) {
        ag_conf_error(ctx, loc, NULL,
                      "YAML anchors (&name) are not allowed in the config (aliases to them can "
                      "expand without bound)");
        return -1;
    }
    if (tag) {
        ag_conf_error(ctx, loc, NULL, "YAML tags (%s) are not allowed in the config",
                      (const char *)tag);
        return -1;
    }
    if (ev->type == YAML_SCALAR_EVENT) {
        if (ag_yaml_is_null(ev)) {
            n = ag_ynode_new(ctx, AG_YNODE_NULL, loc.line);
        } else {
            n = ag_ynode_new(ctx, AG_YNODE_SCALAR, loc.line);
            n->len = ev->data.scalar.length;
            if (memchr(ev->data.scalar.value, 0, n->len)) {
                ag_conf_error(ctx, loc, NULL, "a value contains a NUL character");
                return -1;
            }
            n->str = ag_arena_strndup(ctx->tmp, (const char *)ev->data.scalar.value, n->len);
        }
    } else {
        if (st->depth >= AG_CONF_MAX_DEPTH) {
            ag_conf_error(ctx, loc, NULL, "YAML nested deeper than %d levels", AG_CONF_MAX_DEPTH);
            return -1;
        }
        n = ag_ynode_new(ctx, ev->type == YAML_MAPPING_START_EVENT ? AG_YNODE_MAP : AG_YNODE_SEQ,
                         loc.line);
    }
    if (st->depth > 0)
        ag_ynode_append(st->stack[st->depth - 1], n);
    else
        st->root = n;
    if (n->kind == AG_YNODE_MAP || n->kind == AG_YNODE_SEQ)
        st->stack[st->depth++] = n;
    return 0;
}

enum ag_rc ag_yaml_tree_parse(struct ag_conf_ctx *ctx, const char *buf, size_t len,
                              struct ag_ynode **root)
{
    if (ag_yaml_check_bytes(ctx, buf, len) != 0)
        return AG_ECONF;

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        abort();
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    struct ag_yaml_state st = {.ctx = ctx};
    int r = 0;
    while (r == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            struct ag_conf_loc loc = {(int)parser.problem_mark.line + 1, NULL};
            if (parser.context)
                ag_conf_error(ctx, loc, NULL, "not valid YAML: %s %s",
                              parser.problem ? parser.problem : "error", parser.context);
            else
                ag_conf_error(ctx, loc, NULL, "not valid YAML: %s",
                              parser.problem ? parser.problem : "error");
            r = -1;
            break;
        }
        r = ag_yaml_event(&st, &ev);
        if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.value)
            ag_secret_wipe(ev.data.scalar.value, ev.data.scalar.length);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (r < 0)
        return AG_ECONF;

    if (!st.root || st.root->kind == AG_YNODE_NULL) {
        ag_conf_error(ctx, (struct ag_conf_loc){1, NULL}, NULL,
                      "the file is empty (no configuration keys)");
        return AG_ECONF;
    }
    if (st.root->kind != AG_YNODE_MAP) {
        ag_conf_error(ctx, (struct ag_conf_loc){st.root->line, NULL}, NULL,
                      "the top level must be a mapping of keys (got %s)",
                      ag_conf_kind_name(st.root));
        return AG_ECONF;
    }
    *root = st.root;
    return AG_OK;
}

enum ag_rc ag_yaml_tree_load(struct ag_conf_ctx *ctx, struct ag_ynode **root)
{
    struct ag_err why = {0};
    size_t len = 0;
    char *buf = ag_conf_read_file(ctx->path, AG_CONF_MAX_FILE_BYTES, &len, &why);
    if (!buf) {
        ag_conf_error(ctx, (struct ag_conf_loc){1, NULL}, NULL, "cannot read the config: %s%s",
                      why.msg, strstr(why.msg, "larger") ? " (1 MiB)" : "");
        return AG_ECONF;
    }
    enum ag_rc rc = ag_yaml_tree_parse(ctx, buf, len, root);
    /* Inline secrets may be in there. */
    ag_secret_wipe(buf, len);
    free(buf);
    return rc;
}
