/* Table-driven mapping tests: one row = roles config + claims -> expected outcome. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>
#include <jansson.h>

#include "helpers.h"

/* Recipe (a), the GKE setup: only the client role `viewer` gets in, as Admin. */
static const struct t_roles recipe_a = {
    .claims = {"resource_access.airflow.roles"}, .map = "viewer=Admin", .unmapped = NULL};

/* Recipe (b), the VM setup: five client roles, everyone else is Public. */
static const struct t_roles recipe_b = {
    .claims = {"resource_access.airflow.roles"},
    .map = "airflow_admin=Admin;airflow_op=Op;airflow_user=User;airflow_viewer=Viewer;"
           "airflow_public=Public",
    .unmapped = "Public"};

/* Several paths, Keycloak groups with leading slashes, custom team roles, one-to-many rules. */
static const struct t_roles multi = {
    .claims = {"resource_access.airflow.roles", "realm_access.roles", "groups"},
    .map = "viewer=Admin;ops=Op,User;/team-de=DataEng,Viewer;ml=MLEng;legacy=admin;"
           "\xc3\xbcn\xc3\xaf"
           "c\xc3\xb8"
           "d\xc3\xa9=Viewer;\xc3\xa9=Op",
    .unmapped = NULL};

/* A Keycloak client id containing a dot, addressed with a quoted segment. */
static const struct t_roles dotted = {
    .claims = {"resource_access.\"airflow.prod\".roles"}, .map = "viewer=Admin", .unmapped = NULL};

/* No roles.claims: the default path is derived from oidc.client_id. */
static const struct t_roles by_default = {
    .claims = {NULL}, .map = "viewer=Admin", .unmapped = NULL, .client_id = "airflow.prod"};

struct map_case {
    const char *name;
    const struct t_roles *cfg;
    const char *claims; /* JSON */
    enum ag_rc rc;
    const char *idp;     /* expected idp_roles, comma-joined */
    const char *airflow; /* expected airflow_roles, comma-joined */
    int allowed;
    const char *msg; /* substring of err.msg (errors) or of deny reason + explanation */
};

#define RA(roles)                                                                                  \
    "{\"preferred_username\":\"alice\",\"resource_access\":{\"airflow\":{\"roles\":" roles "}}}"
#define U "\"preferred_username\":\"bob\",\"sub\":\"s-1\""

static struct map_case cases[] = {
    /* recipe (a) */
    {"a_viewer_is_admin", &recipe_a, RA("[\"viewer\"]"), AG_OK, "viewer", "Admin", 1,
     "IdP role 'viewer' -> Admin (rule roles.map.viewer)"},
    {"a_other_role_denied", &recipe_a, RA("[\"editor\"]"), AG_OK, "editor", "", 0,
     "none of the IdP roles (editor) matches roles.map and roles.unmapped is deny"},
    {"a_no_resource_access_denied", &recipe_a, "{\"preferred_username\":\"alice\"}", AG_OK, "", "",
     0, "no roles found at resource_access.airflow.roles and roles.unmapped is deny"},
    {"a_empty_array_denied", &recipe_a, RA("[]"), AG_OK, "", "", 0, "no roles found"},
    {"a_case_sensitive_Viewer_denied", &recipe_a, RA("[\"Viewer\"]"), AG_OK, "Viewer", "", 0,
     "matches no rule"},
    {"a_upper_VIEWER_denied", &recipe_a, RA("[\"VIEWER\"]"), AG_OK, "VIEWER", "", 0, "deny"},
    {"a_trailing_space_denied", &recipe_a, RA("[\"viewer \"]"), AG_OK, "viewer ", "", 0, "deny"},
    {"a_viewer_among_others", &recipe_a,
     RA("[\"offline_access\",\"viewer\",\"uma_authorization\"]"), AG_OK,
     "offline_access,viewer,uma_authorization", "Admin", 1,
     "IdP role 'offline_access' matches no rule in roles.map (ignored)"},
    {"a_duplicate_viewer_once", &recipe_a, RA("[\"viewer\",\"viewer\"]"), AG_OK, "viewer", "Admin",
     1, "resource_access.airflow.roles: 2 roles"},
    {"a_other_client_denied", &recipe_a,
     "{\"sub\":\"x\",\"resource_access\":{\"other\":{\"roles\":[\"viewer\"]}}}", AG_OK, "", "", 0,
     "resource_access.airflow.roles: not in the token"},
    {"a_realm_role_not_read", &recipe_a,
     "{\"sub\":\"x\",\"realm_access\":{\"roles\":[\"viewer\"]}}", AG_OK, "", "", 0,
     "no roles found"},
    /* recipe (b) */
    {"b_admin", &recipe_b, RA("[\"airflow_admin\"]"), AG_OK, "airflow_admin", "Admin", 1, NULL},
    {"b_op", &recipe_b, RA("[\"airflow_op\"]"), AG_OK, "airflow_op", "Op", 1, NULL},
    {"b_user", &recipe_b, RA("[\"airflow_user\"]"), AG_OK, "airflow_user", "User", 1, NULL},
    {"b_viewer", &recipe_b, RA("[\"airflow_viewer\"]"), AG_OK, "airflow_viewer", "Viewer", 1, NULL},
    {"b_public", &recipe_b, RA("[\"airflow_public\"]"), AG_OK, "airflow_public", "Public", 1,
     "rule roles.map.airflow_public"},
    {"b_all_five_in_airflow_order", &recipe_b,
     RA("[\"airflow_public\",\"airflow_viewer\",\"airflow_user\",\"airflow_op\",\"airflow_"
        "admin\"]"),
     AG_OK, "airflow_public,airflow_viewer,airflow_user,airflow_op,airflow_admin",
     "Admin,Op,User,Viewer,Public", 1, NULL},
    {"b_none_is_public", &recipe_b, RA("[]"), AG_OK, "", "Public", 1,
     "no IdP role maps to an Airflow role: roles.unmapped gives Public"},
    {"b_unknown_is_public", &recipe_b, RA("[\"foo\"]"), AG_OK, "foo", "Public", 1,
     "roles.unmapped gives Public"},
    {"b_missing_path_is_public", &recipe_b, "{\"sub\":\"s\"}", AG_OK, "", "Public", 1,
     "not in the token"},
    {"b_uppercase_is_public", &recipe_b, RA("[\"AIRFLOW_ADMIN\"]"), AG_OK, "AIRFLOW_ADMIN",
     "Public", 1, NULL},
    {"b_mapped_role_suppresses_unmapped", &recipe_b, RA("[\"foo\",\"airflow_op\"]"), AG_OK,
     "foo,airflow_op", "Op", 1, NULL},
    /* several paths, groups, custom roles */
    {"m_collects_all_paths", &multi,
     "{" U ",\"resource_access\":{\"airflow\":{\"roles\":[\"viewer\"]}},"
     "\"realm_access\":{\"roles\":[\"ops\"]},\"groups\":[\"/team-de\"]}",
     AG_OK, "viewer,ops,/team-de", "Admin,Op,User,Viewer,DataEng", 1,
     "IdP role '/team-de' -> DataEng, Viewer"},
    {"m_dedup_across_paths", &multi,
     "{" U ",\"resource_access\":{\"airflow\":{\"roles\":[\"ops\"]}},"
     "\"realm_access\":{\"roles\":[\"ops\"]}}",
     AG_OK, "ops", "Op,User", 1, "realm_access.roles: 1 role"},
    {"m_one_role_to_several", &multi, "{" U ",\"realm_access\":{\"roles\":[\"ops\"]}}", AG_OK,
     "ops", "Op,User", 1, "IdP role 'ops' -> Op, User (rule roles.map.ops)"},
    {"m_group_needs_leading_slash", &multi, "{" U ",\"groups\":[\"team-de\"]}", AG_OK, "team-de",
     "", 0, "none of the IdP roles (team-de)"},
    {"m_group_with_slash", &multi, "{" U ",\"groups\":[\"/team-de\"]}", AG_OK, "/team-de",
     "Viewer,DataEng", 1, NULL},
    {"m_custom_roles_in_grant_order", &multi, "{" U ",\"groups\":[\"ml\",\"/team-de\"]}", AG_OK,
     "ml,/team-de", "Viewer,MLEng,DataEng", 1, NULL},
    {"m_lowercase_admin_is_custom", &multi, "{" U ",\"groups\":[\"legacy\",\"viewer\"]}", AG_OK,
     "legacy,viewer", "Admin,admin", 1, NULL},
    {"m_single_string_is_one_role", &multi, "{" U ",\"groups\":\"/team-de\"}", AG_OK, "/team-de",
     "Viewer,DataEng", 1, "groups: one role given as a string"},
    {"m_unicode_role_matches_exactly", &multi,
     "{" U ",\"groups\":[\"\\u00fcn\\u00efc\\u00f8d\\u00e9\",\"\\ud83d\\ude00\",\"\\u202eevil\"]}",
     AG_OK,
     "\xc3\xbcn\xc3\xaf"
     "c\xc3\xb8"
     "d\xc3\xa9,\xf0\x9f\x98\x80,\xe2\x80\xae"
     "evil",
     "Viewer", 1, NULL},
    {"m_no_unicode_normalisation", &multi, "{" U ",\"groups\":[\"e\\u0301\"]}", AG_OK, "e\xcc\x81",
     "", 0, "matches no rule"},
    {"m_precomposed_matches", &multi, "{" U ",\"groups\":[\"\\u00e9\"]}", AG_OK, "\xc3\xa9", "Op",
     1, NULL},
    /* keys containing dots; the default path */
    {"d_quoted_key_with_dot", &dotted,
     "{" U ",\"resource_access\":{\"airflow.prod\":{\"roles\":[\"viewer\"]}}}", AG_OK, "viewer",
     "Admin", 1, "resource_access.\"airflow.prod\".roles: 1 role"},
    {"d_nested_keys_are_not_the_dotted_key", &dotted,
     "{" U ",\"resource_access\":{\"airflow\":{\"prod\":{\"roles\":[\"viewer\"]}}}}", AG_OK, "", "",
     0, "not in the token"},
    {"e_default_path_from_client_id", &by_default,
     "{" U ",\"resource_access\":{\"airflow.prod\":{\"roles\":[\"viewer\"]}}}", AG_OK, "viewer",
     "Admin", 1, "resource_access.\"airflow.prod\".roles: 1 role"},
    /* username */
    {"u_preferred_username", &recipe_a, RA("[\"viewer\"]"), AG_OK, "viewer", "Admin", 1,
     "username 'alice' from claim preferred_username"},
    {"u_falls_back_to_sub", &recipe_a, "{\"sub\":\"f2a1\"}", AG_OK, "", "", 0,
     "username 'f2a1' from claim sub"},
    {"u_empty_preferred_username_uses_sub", &recipe_a,
     "{\"sub\":\"f2a1\",\"preferred_username\":\"\"}", AG_OK, "", "", 0, "from claim sub"},
    {"u_null_preferred_username_uses_sub", &recipe_a,
     "{\"sub\":\"f2a1\",\"preferred_username\":null}", AG_OK, "", "", 0, "from claim sub"},
    {"u_neither_is_bad_input", &recipe_a, "{\"email\":\"a@b\"}", AG_EINVAL, NULL, NULL, 0,
     "neither 'preferred_username' nor 'sub'"},
    {"u_username_number", &recipe_a, "{\"preferred_username\":5}", AG_EPARSE, NULL, NULL, 0,
     "claim 'preferred_username' is a number, expected a string"},
    {"u_email_object", &recipe_a, "{\"sub\":\"x\",\"email\":{}}", AG_EPARSE, NULL, NULL, 0,
     "claim 'email' is an object"},
    {"u_sub_with_nul", &recipe_a, "{\"sub\":\"a\\u0000b\"}", AG_EINVAL, NULL, NULL, 0,
     "claim 'sub' contains a NUL byte"},
    {"u_name_with_newline", &recipe_a, "{\"sub\":\"x\",\"given_name\":\"A\\nB\"}", AG_EINVAL, NULL,
     NULL, 0, "claim 'given_name' contains a control character"},
    /* bad claims */
    {"bad_claims_array", &recipe_a, "[1,2]", AG_EPARSE, NULL, NULL, 0,
     "claims are an array, not a JSON object"},
    {"bad_claims_string", &recipe_a, "\"eyJ\"", AG_EPARSE, NULL, NULL, 0,
     "claims are a string, not a JSON object"},
    {"bad_claims_null", &recipe_a, "null", AG_EPARSE, NULL, NULL, 0, "claims are null"},
    {"bad_path_hits_string", &recipe_a, "{\"sub\":\"x\",\"resource_access\":\"airflow\"}",
     AG_EPARSE, NULL, NULL, 0,
     "'resource_access' is a string, expected an object holding 'airflow'"},
    {"bad_path_hits_number", &recipe_a, "{\"sub\":\"x\",\"resource_access\":{\"airflow\":5}}",
     AG_EPARSE, NULL, NULL, 0, "'airflow' is a number, expected an object holding 'roles'"},
    {"bad_path_hits_null", &recipe_a, "{\"sub\":\"x\",\"resource_access\":null}", AG_EPARSE, NULL,
     NULL, 0, "'resource_access' is null"},
    {"bad_path_hits_array", &recipe_a, "{\"sub\":\"x\",\"resource_access\":[{}]}", AG_EPARSE, NULL,
     NULL, 0, "'resource_access' is an array"},
    {"bad_roles_number", &recipe_a, RA("7"), AG_EPARSE, NULL, NULL, 0,
     "claim path 'resource_access.airflow.roles' holds a number; expected an array of role names"},
    {"bad_roles_null", &recipe_a, RA("null"), AG_EPARSE, NULL, NULL, 0, "holds null"},
    {"bad_roles_object", &recipe_a, RA("{\"viewer\":true}"), AG_EPARSE, NULL, NULL, 0,
     "holds an object"},
    {"bad_roles_boolean", &recipe_a, RA("true"), AG_EPARSE, NULL, NULL, 0, "holds a boolean"},
    {"bad_element_number", &recipe_a, RA("[\"viewer\",3]"), AG_EPARSE, NULL, NULL, 0,
     "element 1 is a number, expected a role name (string)"},
    {"bad_element_null", &recipe_a, RA("[null]"), AG_EPARSE, NULL, NULL, 0, "element 0 is null"},
    {"bad_element_array", &recipe_a, RA("[[\"viewer\"]]"), AG_EPARSE, NULL, NULL, 0,
     "element 0 is an array"},
    {"bad_element_object", &recipe_a, RA("[{\"name\":\"viewer\"}]"), AG_EPARSE, NULL, NULL, 0,
     "element 0 is an object"},
    {"bad_role_nul_byte", &recipe_a, RA("[\"viewer\\u0000admin\"]"), AG_EINVAL, NULL, NULL, 0,
     "role name at element 0 contains a NUL byte (\\u0000)"},
    {"bad_role_newline", &recipe_a, RA("[\"viewer\\r\\nX-Evil: 1\"]"), AG_EINVAL, NULL, NULL, 0,
     "contains a control character"},
    {"bad_role_c1_control", &recipe_a, RA("[\"a\\u0085b\"]"), AG_EINVAL, NULL, NULL, 0,
     "contains a control character"},
    {"bad_role_delete_char", &recipe_a, RA("[\"a\\u007fb\"]"), AG_EINVAL, NULL, NULL, 0,
     "contains a control character"},
    {"bad_role_empty", &recipe_a, RA("[\"viewer\",\"\"]"), AG_EINVAL, NULL, NULL, 0,
     "role name at element 1 is empty"},
    {"bad_second_path_fails_whole_mapping", &multi,
     "{" U ",\"resource_access\":{\"airflow\":{\"roles\":[\"viewer\"]}},\"groups\":5}", AG_EPARSE,
     NULL, NULL, 0, "claim path 'groups' holds a number"},
};

/* Criterion re-executes the binary for each case, so the parameter is an index into the
 * table (pointers into static data would not survive). */
ParameterizedTestParameters(map, table)
{
    static size_t idx[sizeof(cases) / sizeof(cases[0])];
    for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, sizeof(idx) / sizeof(idx[0]));
}

ParameterizedTest(size_t *ip, map, table)
{
    const struct map_case *c = &cases[*ip];
    struct ag_arena *a = ag_arena_new(0);
    struct ag_rolemap *m = t_compile(a, c->cfg);
    json_t *claims = t_json(a, c->claims);
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    enum ag_rc rc = ag_rolemap_apply(a, m, claims, &id, &err);
    cr_assert_eq(rc, c->rc, "[%s] rc %s, want %s (%s)", c->name, ag_rc_name(rc), ag_rc_name(c->rc),
                 err.msg);
    /* the request path's variant decides the same, without an explanation */
    struct ag_identity *quick = NULL;
    struct ag_err qerr = {0};
    cr_assert_eq(ag_rolemap_decide(a, m, claims, &quick, &qerr), rc, "[%s] decide rc", c->name);
    if (rc == AG_OK) {
        cr_assert_str_eq(t_join(a, &quick->idp_roles), c->idp, "[%s] decide idp roles", c->name);
        cr_assert_str_eq(t_join(a, &quick->airflow_roles), c->airflow, "[%s] decide roles",
                         c->name);
        cr_assert_eq(quick->allowed, c->allowed != 0, "[%s] decide decision", c->name);
        cr_assert_str_eq(quick->username, id->username, "[%s] decide username", c->name);
        cr_assert_eq(quick->n_explain, 0, "[%s] decide explains nothing", c->name);
        cr_assert_eq(quick->deny_reason == NULL, quick->allowed, "[%s] decide reason", c->name);
    } else {
        cr_assert_str_eq(qerr.msg, err.msg, "[%s] decide error", c->name);
    }
    if (rc != AG_OK) {
        cr_assert_null(id, "[%s] identity set on failure", c->name);
        cr_assert(strstr(err.msg, c->msg), "[%s] message '%s' lacks '%s'", c->name, err.msg,
                  c->msg);
        ag_arena_free(a);
        return;
    }
    cr_assert_str_eq(t_join(a, &id->idp_roles), c->idp, "[%s] idp roles", c->name);
    cr_assert_str_eq(t_join(a, &id->airflow_roles), c->airflow, "[%s] airflow roles", c->name);
    cr_assert_eq(id->allowed, c->allowed != 0, "[%s] decision", c->name);
    cr_assert_eq(id->deny_reason == NULL, id->allowed, "[%s] deny_reason iff denied", c->name);
    cr_assert_not_null(id->username, "[%s] username", c->name);
    if (c->msg) {
        const char *all =
            ag_arena_printf(a, "%s\n%s", id->deny_reason ? id->deny_reason : "", t_explain(a, id));
        cr_assert(strstr(all, c->msg), "[%s] explanation lacks '%s':\n%s", c->name, c->msg, all);
    }
    ag_arena_free(a);
}
