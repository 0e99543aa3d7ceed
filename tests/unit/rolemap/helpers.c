#include "helpers.h"

#include <criterion/criterion.h>
#include <string.h>
#include <jansson.h>

static void t_split(struct ag_arena *a, const char *s, char sep, struct ag_strlist *out)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == sep;
    out->items = ag_arena_calloc(a, n, sizeof(char *));
    out->n = 0;
    const char *start = s;
    for (;;) {
        const char *end = strchr(start, sep);
        size_t len = end ? (size_t)(end - start) : strlen(start);
        out->items[out->n++] = ag_arena_strndup(a, start, len);
        if (!end)
            break;
        start = end + 1;
    }
}

struct ag_config *t_config(struct ag_arena *a, const struct t_roles *r)
{
    struct ag_config *c = ag_arena_calloc(a, 1, sizeof(*c));
    c->oidc.client_id = r->client_id ? ag_arena_strdup(a, r->client_id) : NULL;
    size_t n = 0;
    while (n < 4 && r->claims[n])
        n++;
    c->roles.claims.n = n;
    c->roles.claims.items = ag_arena_calloc(a, n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c->roles.claims.items[i] = ag_arena_strdup(a, r->claims[i]);
    if (r->map && *r->map) {
        struct ag_strlist entries;
        t_split(a, r->map, ';', &entries);
        c->roles.n_rules = entries.n;
        c->roles.rules = ag_arena_calloc(a, entries.n, sizeof(*c->roles.rules));
        for (size_t i = 0; i < entries.n; i++) {
            char *eq = strchr(entries.items[i], '=');
            cr_assert_not_null(eq, "bad map spec '%s'", entries.items[i]);
            *eq = '\0';
            c->roles.rules[i].idp_role = entries.items[i];
            if (eq[1])
                t_split(a, eq + 1, ',', &c->roles.rules[i].airflow_roles);
        }
    }
    c->roles.unmapped = r->unmapped ? ag_arena_strdup(a, r->unmapped) : NULL;
    return c;
}

struct ag_rolemap *t_compile(struct ag_arena *a, const struct t_roles *r)
{
    struct ag_rolemap *m = NULL;
    struct ag_err err = {0};
    enum ag_rc rc = ag_rolemap_compile(a, t_config(a, r), &m, &err);
    cr_assert_eq(rc, AG_OK, "compile failed: %s", err.msg);
    cr_assert_not_null(m);
    return m;
}

static void t_decref(void *p)
{
    json_decref(p);
}

json_t *t_json(struct ag_arena *a, const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    cr_assert_not_null(j, "test JSON does not parse: %s: %s", je.text, text);
    ag_arena_cleanup_add(a, t_decref, j);
    return j;
}

const char *t_join(struct ag_arena *a, const struct ag_strlist *l)
{
    size_t len = 1;
    for (size_t i = 0; i < l->n; i++)
        len += strlen(l->items[i]) + 1;
    char *out = ag_arena_alloc(a, len), *p = out;
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            *p++ = ',';
        size_t k = strlen(l->items[i]);
        memcpy(p, l->items[i], k);
        p += k;
    }
    *p = '\0';
    return out;
}

const char *t_explain(struct ag_arena *a, const struct ag_identity *id)
{
    size_t len = 1;
    for (size_t i = 0; i < id->n_explain; i++)
        len += strlen(id->explain[i].text) + 1;
    char *out = ag_arena_alloc(a, len), *p = out;
    for (size_t i = 0; i < id->n_explain; i++) {
        size_t k = strlen(id->explain[i].text);
        memcpy(p, id->explain[i].text, k);
        p += k;
        *p++ = '\n';
    }
    *p = '\0';
    return out;
}
