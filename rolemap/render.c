/* JSON and human renderings of an identity. */
#include "rolemap/render.h"

#include <stdio.h>
#include <string.h>

#include "core/arena.h"

static void ag_render_decref(void *p)
{
    ag_json_decref(p);
}

static ag_json *ag_render_str(const char *s)
{
    return s ? ag_json_new_str(s) : ag_json_new_null();
}

static ag_json *ag_render_list(const struct ag_strlist *l)
{
    ag_json *arr = ag_json_new_array();
    for (size_t i = 0; i < l->n; i++)
        ag_json_append(arr, ag_json_new_str(l->items[i]));
    return arr;
}

static const char *ag_render_step_name(enum ag_rolemap_step_kind k)
{
    switch (k) {
    case AG_ROLEMAP_STEP_USER:
        return "user";
    case AG_ROLEMAP_STEP_PATH:
        return "path";
    case AG_ROLEMAP_STEP_RULE:
        return "rule";
    case AG_ROLEMAP_STEP_NO_RULE:
        return "no_rule";
    case AG_ROLEMAP_STEP_UNMAPPED:
        return "unmapped";
    case AG_ROLEMAP_STEP_DENY:
        return "deny";
    }
    return "unknown";
}

static ag_json *ag_render_step(const struct ag_rolemap_step *s)
{
    ag_json *o = ag_json_new_object();
    ag_json_set(o, "step", ag_json_new_str(ag_render_step_name(s->kind)));
    switch (s->kind) {
    case AG_ROLEMAP_STEP_PATH:
        ag_json_set(o, "path", ag_json_new_str(s->path));
        ag_json_set(o, "found", ag_json_new_bool(s->found));
        ag_json_set(o, "values", ag_render_list(&s->values));
        break;
    case AG_ROLEMAP_STEP_RULE:
        ag_json_set(o, "idp_role", ag_json_new_str(s->idp_role));
        ag_json_set(o, "airflow_roles", ag_render_list(&s->airflow_roles));
        break;
    case AG_ROLEMAP_STEP_NO_RULE:
        ag_json_set(o, "idp_role", ag_json_new_str(s->idp_role));
        break;
    case AG_ROLEMAP_STEP_UNMAPPED:
        ag_json_set(o, "airflow_roles", ag_render_list(&s->airflow_roles));
        break;
    case AG_ROLEMAP_STEP_USER:
    case AG_ROLEMAP_STEP_DENY:
        break;
    }
    ag_json_set(o, "text", ag_json_new_str(s->text));
    return o;
}

ag_json *ag_rolemap_identity_to_json(struct ag_arena *a, const struct ag_identity *id,
                                     unsigned flags)
{
    ag_json *o = ag_json_new_object();
    ag_arena_cleanup_add(a, ag_render_decref, o);
    ag_json *user = ag_json_new_object();
    ag_json_set(user, "username", ag_render_str(id->username));
    ag_json_set(user, "username_claim", ag_render_str(id->username_claim));
    ag_json_set(user, "subject", ag_render_str(id->subject));
    ag_json_set(user, "email", ag_render_str(id->email));
    ag_json_set(user, "first_name", ag_render_str(id->first_name));
    ag_json_set(user, "last_name", ag_render_str(id->last_name));
    ag_json_set(o, "user", user);
    ag_json_set(o, "idp_roles", ag_render_list(&id->idp_roles));
    ag_json_set(o, "airflow_roles", ag_render_list(&id->airflow_roles));
    ag_json_set(o, "allowed", ag_json_new_bool(id->allowed));
    ag_json_set(o, "decision", ag_json_new_str(id->allowed ? "allow" : "deny"));
    ag_json_set(o, "deny_reason", ag_render_str(id->deny_reason));
    if (flags & AG_ROLEMAP_JSON_EXPLAIN) {
        ag_json *ex = ag_json_new_array();
        for (size_t i = 0; i < id->n_explain; i++)
            ag_json_append(ex, ag_render_step(&id->explain[i]));
        ag_json_set(o, "explain", ex);
    }
    return o;
}

/* Decodes the UTF-8 sequence at s; returns its length. Anything that is not well-formed UTF-8
 * (stray continuation, truncated or overlong sequence, surrogate, beyond U+10FFFF) gives
 * U+FFFD for one byte, so raw invalid bytes never reach the terminal. */
static size_t ag_render_utf8(const unsigned char *s, unsigned *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t n = (s[0] & 0xe0) == 0xc0   ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    unsigned v = n == 2 ? s[0] & 0x1fu : n == 3 ? s[0] & 0x0fu : s[0] & 0x07u;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            n = 0; /* also stops at the NUL terminator */
            break;
        }
        v = (v << 6) | (s[i] & 0x3fu);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (n == 0 || v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        *cp = 0xfffd;
        return 1;
    }
    *cp = v;
    return n;
}

static int ag_render_invisible(unsigned cp)
{
    return (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff || cp < 0x20 || cp == 0x7f ||
           (cp >= 0x80 && cp <= 0x9f) || cp == 0xfffd; /* U+FFFD: shown as an escape, not a glyph */
}

enum ag_rc ag_rolemap_append_display(struct ag_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned cp;
        size_t n = ag_render_utf8(p, &cp);
        enum ag_rc rc =
            ag_render_invisible(cp) ? ag_buf_printf(b, "\\u{%04X}", cp) : ag_buf_append(b, p, n);
        if (rc != AG_OK)
            return rc;
        p += n;
    }
    return AG_OK;
}

#define AG_LABEL_FMT "%-15s"

static enum ag_rc ag_render_line(struct ag_buf *b, const char *label, const char *value,
                                 const char *suffix)
{
    enum ag_rc rc = ag_buf_printf(b, AG_LABEL_FMT, label);
    if (rc == AG_OK)
        rc = ag_rolemap_append_display(b, value ? value : "(none)");
    if (rc == AG_OK && suffix)
        rc = ag_buf_puts(b, suffix);
    if (rc == AG_OK)
        rc = ag_buf_puts(b, "\n");
    return rc;
}

static enum ag_rc ag_render_list_line(struct ag_buf *b, const char *label,
                                      const struct ag_strlist *l)
{
    enum ag_rc rc = ag_buf_printf(b, AG_LABEL_FMT, label);
    if (rc == AG_OK && l->n == 0)
        rc = ag_buf_puts(b, "(none)");
    for (size_t i = 0; rc == AG_OK && i < l->n; i++) {
        if (i)
            rc = ag_buf_puts(b, ", ");
        if (rc == AG_OK)
            rc = ag_rolemap_append_display(b, l->items[i]);
    }
    if (rc == AG_OK)
        rc = ag_buf_puts(b, "\n");
    return rc;
}

enum ag_rc ag_rolemap_identity_format_human(struct ag_buf *b, const struct ag_identity *id)
{
    char suffix[64];
    snprintf(suffix, sizeof(suffix), " (from %s)", id->username_claim);
    enum ag_rc rc = ag_render_line(b, "User:", id->username, suffix);
    if (rc == AG_OK && id->subject && strcmp(id->username_claim, "sub") != 0)
        rc = ag_render_line(b, "Subject:", id->subject, NULL);
    if (rc == AG_OK)
        rc = ag_render_line(b, "Email:", id->email, NULL);
    if (rc == AG_OK && (id->first_name || id->last_name)) {
        rc = ag_buf_printf(b, AG_LABEL_FMT, "Name:");
        if (rc == AG_OK && id->first_name)
            rc = ag_rolemap_append_display(b, id->first_name);
        if (rc == AG_OK && id->first_name && id->last_name)
            rc = ag_buf_puts(b, " ");
        if (rc == AG_OK && id->last_name)
            rc = ag_rolemap_append_display(b, id->last_name);
        if (rc == AG_OK)
            rc = ag_buf_puts(b, "\n");
    }
    if (rc == AG_OK)
        rc = ag_render_list_line(b, "IdP roles:", &id->idp_roles);
    if (rc == AG_OK)
        rc = ag_render_list_line(b, "Airflow roles:", &id->airflow_roles);
    if (rc == AG_OK)
        rc = id->allowed ? ag_render_line(b, "Decision:", "ALLOW", NULL)
                         : ag_render_line(b, "Decision:", "DENY", NULL);
    if (rc == AG_OK && !id->allowed)
        rc = ag_render_line(b, "Reason:", id->deny_reason, NULL);
    if (rc == AG_OK)
        rc = ag_buf_puts(b, "Why:\n");
    for (size_t i = 0; rc == AG_OK && i < id->n_explain; i++) {
        if (id->explain[i].kind == AG_ROLEMAP_STEP_DENY)
            continue; /* already on the Reason line */
        rc = ag_buf_puts(b, "  - ");
        if (rc == AG_OK)
            rc = ag_rolemap_append_display(b, id->explain[i].text);
        if (rc == AG_OK)
            rc = ag_buf_puts(b, "\n");
    }
    return rc;
}
