/* Compiling the roles config: clear AG_ECONF errors naming the key, and the accessors. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "helpers.h"

struct compile_case {
    const char *name;
    struct t_roles cfg;
    const char *msg; /* NULL: must compile */
};

static struct compile_case compile_cases[] = {
    {"ok_recipe_a", {{"resource_access.airflow.roles"}, "viewer=Admin", NULL, NULL}, NULL},
    {"ok_no_rules_unmapped_public", {{"groups"}, "", "Public", NULL}, NULL},
    {"bad_path",
     {{"resource_access..roles"}, "viewer=Admin", NULL, NULL},
     "roles.claims[0]: claim path 'resource_access..roles': empty segment"},
    {"bad_second_path",
     {{"groups", "a[\"b\"]"}, "viewer=Admin", NULL, NULL},
     "roles.claims[1]: claim path 'a[\"b\"]': brackets are not path syntax"},
    {"duplicate_path",
     {{"groups", "groups"}, "viewer=Admin", NULL, NULL},
     "roles.claims[1]: 'groups' is listed twice"},
    {"no_claims_no_client_id",
     {{NULL}, "viewer=Admin", NULL, NULL},
     "roles.claims: empty, and no oidc.client_id"},
    {"rule_without_roles",
     {{"groups"}, "viewer=", NULL, NULL},
     "roles.map.viewer: no Airflow role given"},
    {"rule_empty_idp_role", {{"groups"}, "=Admin", NULL, NULL}, "roles.map: IdP role '' is empty"},
    {"rule_empty_airflow_role",
     {{"groups"}, "viewer=Admin,", NULL, NULL},
     "roles.map.viewer: Airflow role '' is empty"},
    {"rule_control_char",
     {{"groups"}, "viewer=Ad\nmin", NULL, NULL},
     "contains a control character"},
    {"duplicate_rule",
     {{"groups"}, "viewer=Admin;ops=Op;viewer=Viewer", NULL, NULL},
     "roles.map: IdP role 'viewer' is mapped twice"},
    {"unmapped_bad",
     {{"groups"}, "viewer=Admin", "Pub\tlic", NULL},
     "roles.unmapped: role 'Pub\tlic' contains a control character"},
};

/* Criterion re-executes the binary for each case, so the parameter is an index into the
 * table (pointers into static data would not survive). */
ParameterizedTestParameters(compile, table)
{
    static size_t idx[sizeof(compile_cases) / sizeof(compile_cases[0])];
    for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, sizeof(idx) / sizeof(idx[0]));
}

ParameterizedTest(size_t *ip, compile, table)
{
    const struct compile_case *c = &compile_cases[*ip];
    struct ag_arena *a = ag_arena_new(0);
    struct ag_rolemap *m = NULL;
    struct ag_err err = {0};
    enum ag_rc rc = ag_rolemap_compile(a, t_config(a, &c->cfg), &m, &err);
    if (!c->msg) {
        cr_assert_eq(rc, AG_OK, "[%s] %s", c->name, err.msg);
        cr_assert_not_null(m);
    } else {
        cr_assert_eq(rc, AG_ECONF, "[%s] rc %s", c->name, ag_rc_name(rc));
        cr_assert_null(m, "[%s] out set on failure", c->name);
        cr_assert(strstr(err.msg, c->msg), "[%s] '%s' lacks '%s'", c->name, err.msg, c->msg);
    }
    ag_arena_free(a);
}

Test(compile, accessors_sorted_rules_and_dedup)
{
    struct ag_arena *a = ag_arena_new(0);
    struct t_roles r = {
        {"realm_access.roles", "groups"}, "zeta=Op;alpha=Admin,Admin,Viewer", "Public", NULL};
    struct ag_rolemap *m = t_compile(a, &r);
    cr_assert_eq(ag_rolemap_path_count(m), 2u);
    cr_assert_str_eq(ag_rolemap_path_text(m, 0), "realm_access.roles");
    cr_assert_str_eq(ag_rolemap_path_text(m, 1), "groups");
    cr_assert_null(ag_rolemap_path_text(m, 2));
    cr_assert_str_eq(ag_rolemap_unmapped_role(m), "Public");
    cr_assert_eq(ag_rolemap_rule_count(m), 2u);
    cr_assert_str_eq(ag_rolemap_rule_idp_role(m, 0), "alpha");
    cr_assert_str_eq(ag_rolemap_rule_idp_role(m, 1), "zeta");
    cr_assert_str_eq(t_join(a, ag_rolemap_rule_airflow_roles(m, 0)), "Admin,Viewer");
    cr_assert_null(ag_rolemap_rule_idp_role(m, 2));
    ag_arena_free(a);
}

Test(compile, unmapped_deny_word_means_deny)
{
    struct ag_arena *a = ag_arena_new(0);
    struct t_roles r = {{"groups"}, "viewer=Admin", "deny", NULL};
    struct ag_rolemap *m = t_compile(a, &r);
    cr_assert_null(ag_rolemap_unmapped_role(m));
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_apply(a, m, t_json(a, "{\"sub\":\"x\"}"), &id, &err), AG_OK);
    cr_assert_not(id->allowed);
    ag_arena_free(a);
}

Test(compile, default_path_plain_client_id)
{
    struct ag_arena *a = ag_arena_new(0);
    struct t_roles r = {{NULL}, "viewer=Admin", NULL, "airflow"};
    struct ag_rolemap *m = t_compile(a, &r);
    cr_assert_eq(ag_rolemap_path_count(m), 1u);
    cr_assert_str_eq(ag_rolemap_path_text(m, 0), "resource_access.airflow.roles");
    ag_arena_free(a);
}

Test(compile, config_can_be_freed_after_compile)
{
    struct ag_arena *cfg_arena = ag_arena_new(0);
    struct ag_arena *a = ag_arena_new(0);
    struct t_roles r = {{"groups"}, "g1=Admin", NULL, NULL};
    struct ag_rolemap *m = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_compile(a, t_config(cfg_arena, &r), &m, &err), AG_OK);
    ag_arena_free(cfg_arena); /* the compiled map must own copies of everything */
    struct ag_identity *id = NULL;
    cr_assert_eq(
        ag_rolemap_apply(a, m, t_json(a, "{\"sub\":\"x\",\"groups\":[\"g1\"]}"), &id, &err), AG_OK);
    cr_assert_str_eq(t_join(a, &id->airflow_roles), "Admin");
    ag_arena_free(a);
}
