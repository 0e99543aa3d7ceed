/* Claim path syntax and lookup. Paths are parsed once at compile time; lookups are a walk of
 * ag_json_get calls, so their cost is bounded by AG_ROLEMAP_PATH_MAX_SEGMENTS. */
#include "rolemap/path.h"

#include <string.h>

#include "core/arena.h"
#include "core/json.h"

#define AG_PATH_HINT                                                                               \
    "write a key containing dots or spaces in double quotes, e.g. "                                \
    "resource_access.\"airflow.prod\".roles"

static int ag_path_plain_char(unsigned char c)
{
    /* Bytes that end or confuse an unquoted segment; non-ASCII (UTF-8) bytes are allowed. */
    if (c < 0x20 || c == 0x7f || c == ' ' || c == '.' || c == '"' || c == '\\' || c == '[' ||
        c == ']')
        return 0;
    return 1;
}

enum ag_rc ag_rolemap_path_parse(struct ag_arena *a, const char *text, struct ag_rolemap_path **out,
                                 struct ag_err *err)
{
    if (!text || !*text)
        return ag_err_set(err, AG_EINVAL, "claim path is empty");
    size_t len = strlen(text);
    if (len > AG_ROLEMAP_PATH_MAX_LEN)
        return ag_err_set(err, AG_EINVAL, "claim path is %zu bytes long (limit %d)", len,
                          AG_ROLEMAP_PATH_MAX_LEN);

    const char *segs[AG_ROLEMAP_PATH_MAX_SEGMENTS];
    size_t nseg = 0;
    char scratch[AG_ROLEMAP_PATH_MAX_LEN + 1];
    size_t i = 0;
    for (;;) {
        if (nseg == AG_ROLEMAP_PATH_MAX_SEGMENTS)
            return ag_err_set(err, AG_EINVAL, "claim path '%s' has more than %d segments", text,
                              AG_ROLEMAP_PATH_MAX_SEGMENTS);
        size_t start = i, n = 0;
        if (text[i] == '"') {
            i++;
            for (;;) {
                unsigned char c = (unsigned char)text[i];
                if (c == '\0')
                    return ag_err_set(err, AG_EINVAL,
                                      "claim path '%s': quote opened at byte %zu is never closed",
                                      text, start + 1);
                if (c == '"')
                    break;
                if (c < 0x20 || c == 0x7f)
                    return ag_err_set(err, AG_EINVAL,
                                      "claim path '%s': control character at byte %zu", text,
                                      i + 1);
                if (c == '\\') {
                    unsigned char e = (unsigned char)text[i + 1];
                    if (e != '"' && e != '\\')
                        return ag_err_set(err, AG_EINVAL,
                                          "claim path '%s': unknown escape at byte %zu (only \\\" "
                                          "and \\\\ are allowed inside quotes)",
                                          text, i + 1);
                    c = e;
                    i++;
                }
                scratch[n++] = (char)c;
                i++;
            }
            i++; /* closing quote */
            if (n == 0)
                return ag_err_set(err, AG_EINVAL,
                                  "claim path '%s': empty quoted segment at byte %zu", text,
                                  start + 1);
            if (text[i] != '\0' && text[i] != '.')
                return ag_err_set(
                    err, AG_EINVAL,
                    "claim path '%s': expected '.' or the end after the closing quote "
                    "at byte %zu",
                    text, i);
        } else {
            while (text[i] != '\0' && text[i] != '.') {
                unsigned char c = (unsigned char)text[i];
                if (!ag_path_plain_char(c)) {
                    if (c == '[' || c == ']')
                        return ag_err_set(err, AG_EINVAL,
                                          "claim path '%s': brackets are not path syntax (byte "
                                          "%zu); " AG_PATH_HINT,
                                          text, i + 1);
                    return ag_err_set(err, AG_EINVAL,
                                      "claim path '%s': character not allowed outside quotes at "
                                      "byte %zu; " AG_PATH_HINT,
                                      text, i + 1);
                }
                scratch[n++] = (char)c;
                i++;
            }
            if (n == 0)
                return ag_err_set(err, AG_EINVAL, "claim path '%s': empty segment at byte %zu; %s",
                                  text, start + 1,
                                  "segments are separated by single dots; " AG_PATH_HINT);
        }
        if (a)
            segs[nseg] = ag_arena_strndup(a, scratch, n);
        nseg++;
        if (text[i] == '\0')
            break;
        i++; /* the dot */
        if (text[i] == '\0')
            return ag_err_set(err, AG_EINVAL, "claim path '%s' ends with a dot", text);
    }

    if (a && out) {
        struct ag_rolemap_path *p = ag_arena_calloc(a, 1, sizeof(*p));
        p->text = ag_arena_strdup(a, text);
        p->n = nseg;
        const char **copy = ag_arena_calloc(a, nseg, sizeof(*copy));
        memcpy(copy, segs, nseg * sizeof(*copy));
        p->segments = copy;
        *out = p;
    }
    return AG_OK;
}

enum ag_rc ag_rolemap_path_quote_segment(const char *key, char *buf, size_t bufsz)
{
    size_t klen = strlen(key);
    int plain = klen > 0;
    for (size_t i = 0; i < klen; i++)
        if (!ag_path_plain_char((unsigned char)key[i]))
            plain = 0;
    size_t o = 0;
    if (plain) {
        if (klen + 1 > bufsz)
            return AG_EINVAL;
        memcpy(buf, key, klen + 1);
        return AG_OK;
    }
    if (bufsz < 3)
        return AG_EINVAL;
    buf[o++] = '"';
    for (size_t i = 0; i < klen; i++) {
        if (key[i] == '"' || key[i] == '\\') {
            if (o + 1 >= bufsz)
                return AG_EINVAL;
            buf[o++] = '\\';
        }
        if (o + 1 >= bufsz)
            return AG_EINVAL;
        buf[o++] = key[i];
    }
    if (o + 2 > bufsz)
        return AG_EINVAL;
    buf[o++] = '"';
    buf[o] = '\0';
    return AG_OK;
}

enum ag_rolemap_lookup ag_rolemap_path_lookup(const struct ag_rolemap_path *p, const ag_json *root,
                                              const ag_json **value, struct ag_err *err)
{
    const ag_json *cur = root;
    for (size_t i = 0; i < p->n; i++) {
        if (!ag_json_is_object(cur)) {
            if (i == 0)
                ag_err_set(err, AG_EPARSE, "claims are %s, not a JSON object",
                           ag_json_type_name(cur));
            else
                ag_err_set(err, AG_EPARSE,
                           "claim path '%s': '%s' is %s, expected an object holding '%s'", p->text,
                           p->segments[i - 1], ag_json_type_name(cur), p->segments[i]);
            return AG_ROLEMAP_BAD;
        }
        const ag_json *next = ag_json_get(cur, p->segments[i]);
        if (!next)
            return AG_ROLEMAP_MISSING;
        cur = next;
    }
    *value = cur;
    return AG_ROLEMAP_FOUND;
}
