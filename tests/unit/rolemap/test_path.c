/* Claim path syntax: what parses, into which segments, and the errors for what does not. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>
#include <jansson.h>
#include <stdio.h>

#include "core/arena.h"
#include "rolemap/path.h"

struct path_case {
    const char *text;
    const char *segments; /* joined with '|'; NULL: must fail */
    const char *msg;      /* substring of the error */
};

static struct path_case path_cases[] = {
    {"groups", "groups", NULL},
    {"realm_access.roles", "realm_access|roles", NULL},
    {"resource_access.airflow.roles", "resource_access|airflow|roles", NULL},
    {"resource_access.\"airflow.prod\".roles", "resource_access|airflow.prod|roles", NULL},
    {"\"a.b\"", "a.b", NULL},
    {"\"with space\".x", "with space|x", NULL},
    {"\"q\\\"uote\".\"back\\\\slash\"", "q\"uote|back\\slash", NULL},
    {"https://example.com/roles", "https://example|com/roles", NULL},
    {"\"https://example.com/roles\"", "https://example.com/roles", NULL},
    {"r\xc3\xb4les", "r\xc3\xb4les", NULL},
    {"team-de:x_1.a$b@c", "team-de:x_1|a$b@c", NULL},
    {"", NULL, "claim path is empty"},
    {".roles", NULL, "empty segment at byte 1"},
    {"realm_access..roles", NULL, "empty segment at byte 14"},
    {"realm_access.", NULL, "ends with a dot"},
    {"resource_access[\"airflow.prod\"].roles", NULL, "brackets are not path syntax"},
    {"resource_access.\"airflow.prod.roles", NULL, "quote opened at byte 17 is never closed"},
    {"resource_access.\"airflow\"x.roles", NULL, "expected '.' or the end after the closing quote"},
    {"a.\"\".b", NULL, "empty quoted segment"},
    {"a.\"b\\n\"", NULL, "unknown escape"},
    {"realm access.roles", NULL, "character not allowed outside quotes at byte 6"},
    {"a.\"tab\there\"", NULL, "control character"},
    {"a\"b", NULL, "character not allowed outside quotes"},
    {"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", NULL, "more than 16 segments"},
};

/* Criterion re-executes the binary for each case, so the parameter is an index into the
 * table (pointers into static data would not survive). */
ParameterizedTestParameters(path, parse_table)
{
    static size_t idx[sizeof(path_cases) / sizeof(path_cases[0])];
    for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, sizeof(idx) / sizeof(idx[0]));
}

ParameterizedTest(size_t *ip, path, parse_table)
{
    const struct path_case *c = &path_cases[*ip];
    struct ag_arena *a = ag_arena_new(0);
    struct ag_rolemap_path *p = NULL;
    struct ag_err err = {0};
    enum ag_rc rc = ag_rolemap_path_parse(a, c->text, &p, &err);
    struct ag_err verr = {0};
    enum ag_rc vrc = ag_rolemap_path_parse(NULL, c->text, NULL, &verr);
    cr_assert_eq(vrc, rc, "validate-only disagrees for '%s'", c->text);
    if (!c->segments) {
        cr_assert_eq(rc, AG_EINVAL, "'%s' should fail", c->text);
        cr_assert(strstr(err.msg, c->msg), "'%s': message '%s' lacks '%s'", c->text, err.msg,
                  c->msg);
        cr_assert_str_eq(verr.msg, err.msg);
        ag_arena_free(a);
        return;
    }
    cr_assert_eq(rc, AG_OK, "'%s': %s", c->text, err.msg);
    char joined[600] = "";
    size_t o = 0;
    for (size_t i = 0; i < p->n; i++)
        o += (size_t)snprintf(joined + o, sizeof(joined) - o, "%s%s", i ? "|" : "", p->segments[i]);
    cr_assert_str_eq(joined, c->segments, "'%s'", c->text);
    cr_assert_str_eq(p->text, c->text);
    ag_arena_free(a);
}

Test(path, too_long)
{
    char text[AG_ROLEMAP_PATH_MAX_LEN + 2];
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_path_parse(NULL, text, NULL, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "513 bytes long (limit 512)"), "%s", err.msg);
    cr_assert_eq(ag_rolemap_path_parse(NULL, NULL, NULL, &err), AG_EINVAL);
}

Test(path, quote_segment_round_trips)
{
    const char *keys[] = {"airflow", "airflow.prod", "a \"b\" \\c", "r\xc3\xb4le", "x[0]"};
    const char *want[] = {"airflow", "\"airflow.prod\"", "\"a \\\"b\\\" \\\\c\"", "r\xc3\xb4le",
                          "\"x[0]\""};
    struct ag_arena *a = ag_arena_new(0);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char buf[64];
        cr_assert_eq(ag_rolemap_path_quote_segment(keys[i], buf, sizeof(buf)), AG_OK);
        cr_assert_str_eq(buf, want[i]);
        struct ag_rolemap_path *p = NULL;
        struct ag_err err = {0};
        cr_assert_eq(ag_rolemap_path_parse(a, buf, &p, &err), AG_OK, "%s: %s", buf, err.msg);
        cr_assert_eq(p->n, 1u);
        cr_assert_str_eq(p->segments[0], keys[i]);
    }
    char small[6];
    cr_assert_eq(ag_rolemap_path_quote_segment("airflow", small, sizeof(small)), AG_EINVAL);
    cr_assert_eq(ag_rolemap_path_quote_segment("a.b.c", small, sizeof(small)), AG_EINVAL);
    ag_arena_free(a);
}

Test(path, lookup_found_missing_bad)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_rolemap_path *p = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_path_parse(a, "a.\"b.c\".d", &p, &err), AG_OK);
    json_t *j = json_loads("{\"a\":{\"b.c\":{\"d\":[1]}}}", 0, NULL);
    const json_t *v = NULL;
    cr_assert_eq(ag_rolemap_path_lookup(p, j, &v, &err), AG_ROLEMAP_FOUND);
    cr_assert(json_is_array(v));
    json_decref(j);
    j = json_loads("{\"a\":{\"b\":{\"c\":{\"d\":[1]}}}}", 0, NULL);
    cr_assert_eq(ag_rolemap_path_lookup(p, j, &v, &err), AG_ROLEMAP_MISSING);
    json_decref(j);
    j = json_loads("{\"a\":{\"b.c\":\"x\"}}", 0, NULL);
    cr_assert_eq(ag_rolemap_path_lookup(p, j, &v, &err), AG_ROLEMAP_BAD);
    cr_assert_eq(err.rc, AG_EPARSE);
    cr_assert(strstr(err.msg, "'b.c' is a string, expected an object holding 'd'"), "%s", err.msg);
    json_decref(j);
    ag_arena_free(a);
}
