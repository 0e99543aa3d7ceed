/* JSON and human renderings of an identity. */
#include <criterion/criterion.h>
#include <string.h>
#include <jansson.h>

#include "core/buf.h"
#include "helpers.h"
#include "rolemap/render.h"

static const struct t_roles cfg = {{"resource_access.airflow.roles", "groups"},
                                   "viewer=Admin;/team-de=DataEng,Viewer",
                                   NULL,
                                   NULL};

static struct ag_identity *t_apply(struct ag_arena *a, const char *claims)
{
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_apply(a, t_compile(a, &cfg), t_json(a, claims), &id, &err), AG_OK, "%s",
                 err.msg);
    return id;
}

Test(render, json_allowed_with_explain)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_identity *id =
        t_apply(a, "{\"preferred_username\":\"alice\",\"sub\":\"s1\",\"email\":\"a@x\","
                   "\"resource_access\":{\"airflow\":{\"roles\":[\"viewer\"]}},"
                   "\"groups\":[\"/team-de\",\"/other\"]}");
    json_t *j = ag_rolemap_identity_to_json(a, id, AG_ROLEMAP_JSON_EXPLAIN);
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    cr_assert_str_eq(
        s,
        "{\"airflow_roles\":[\"Admin\",\"Viewer\",\"DataEng\"],\"allowed\":true,"
        "\"decision\":\"allow\",\"deny_reason\":null,\"explain\":["
        "{\"step\":\"user\",\"text\":\"username 'alice' from claim preferred_username\"},"
        "{\"found\":true,\"path\":\"resource_access.airflow.roles\",\"step\":\"path\","
        "\"text\":\"resource_access.airflow.roles: 1 role\",\"values\":[\"viewer\"]},"
        "{\"found\":true,\"path\":\"groups\",\"step\":\"path\",\"text\":\"groups: 2 roles\","
        "\"values\":[\"/team-de\",\"/other\"]},"
        "{\"airflow_roles\":[\"Admin\"],\"idp_role\":\"viewer\",\"step\":\"rule\","
        "\"text\":\"IdP role 'viewer' -> Admin (rule roles.map.viewer)\"},"
        "{\"airflow_roles\":[\"DataEng\",\"Viewer\"],\"idp_role\":\"/team-de\",\"step\":\"rule\","
        "\"text\":\"IdP role '/team-de' -> DataEng, Viewer (rule roles.map./team-de)\"},"
        "{\"idp_role\":\"/other\",\"step\":\"no_rule\","
        "\"text\":\"IdP role '/other' matches no rule in roles.map (ignored)\"}],"
        "\"idp_roles\":[\"viewer\",\"/team-de\",\"/other\"],"
        "\"user\":{\"email\":\"a@x\",\"first_name\":null,\"last_name\":null,\"subject\":\"s1\","
        "\"username\":\"alice\",\"username_claim\":\"preferred_username\"}}");
    free(s);
    ag_arena_free(a);
}

Test(render, json_denied_without_explain)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_identity *id = t_apply(a, "{\"sub\":\"s2\"}");
    json_t *j = ag_rolemap_identity_to_json(a, id, 0);
    cr_assert_null(json_object_get(j, "explain"));
    cr_assert_str_eq(json_string_value(json_object_get(j, "decision")), "deny");
    cr_assert(json_is_false(json_object_get(j, "allowed")));
    cr_assert_str_eq(json_string_value(json_object_get(j, "deny_reason")),
                     "no roles found at any roles.claims path and roles.unmapped is deny");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(j, "user"), "username_claim")), "sub");
    cr_assert_eq(json_array_size(json_object_get(j, "airflow_roles")), 0u);
    ag_arena_free(a);
}

Test(render, human_allowed)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_identity *id = t_apply(
        a,
        "{\"preferred_username\":\"alice\",\"sub\":\"s1\",\"given_name\":\"Alice\","
        "\"family_name\":\"Liddell\",\"resource_access\":{\"airflow\":{\"roles\":[\"viewer\"]}}}");
    struct ag_buf b;
    ag_buf_init(&b, 0);
    cr_assert_eq(ag_rolemap_identity_format_human(&b, id), AG_OK);
    cr_assert_str_eq(b.data, "User:          alice (from preferred_username)\n"
                             "Subject:       s1\n"
                             "Email:         (none)\n"
                             "Name:          Alice Liddell\n"
                             "IdP roles:     viewer\n"
                             "Airflow roles: Admin\n"
                             "Decision:      ALLOW\n"
                             "Why:\n"
                             "  - username 'alice' from claim preferred_username\n"
                             "  - resource_access.airflow.roles: 1 role\n"
                             "  - groups: not in the token (no roles from this path)\n"
                             "  - IdP role 'viewer' -> Admin (rule roles.map.viewer)\n");
    ag_buf_release(&b, 0);
    ag_arena_free(a);
}

Test(render, human_denied_and_invisible_characters_shown)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_identity *id =
        t_apply(a, "{\"sub\":\"s9\",\"groups\":[\"\\u202eevil\",\"a\\u200bb\",\"caf\\u00e9\"]}");
    struct ag_buf b;
    ag_buf_init(&b, 0);
    cr_assert_eq(ag_rolemap_identity_format_human(&b, id), AG_OK);
    cr_assert(strstr(b.data, "User:          s9 (from sub)\n"), "%s", b.data);
    cr_assert(strstr(b.data, "IdP roles:     \\u{202E}evil, a\\u{200B}b, caf\xc3\xa9\n"), "%s",
              b.data);
    cr_assert(strstr(b.data, "Airflow roles: (none)\nDecision:      DENY\nReason:        none of "
                             "the IdP roles (\\u{202E}evil, a\\u{200B}b, caf\xc3\xa9) matches"),
              "%s", b.data);
    cr_assert_null(strstr(b.data, "\xe2\x80\xae"), "raw U+202E must not reach the terminal");
    ag_buf_release(&b, 0);
    ag_arena_free(a);
}

Test(render, human_output_bounded_by_buffer)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_identity *id = t_apply(a, "{\"sub\":\"s9\",\"groups\":[\"/team-de\"]}");
    struct ag_buf b;
    ag_buf_init(&b, 40);
    cr_assert_eq(ag_rolemap_identity_format_human(&b, id), AG_ENOMEM);
    ag_buf_release(&b, 0);
    ag_arena_free(a);
}

Test(render, display_escapes_invisible_and_invalid_bytes)
{
    struct ag_buf b;
    ag_buf_init(&b, 0);
    /* BOM, zero-width joiner, LRI, a C1 control, a truncated sequence and an invalid lead byte;
     * ordinary non-ASCII passes through. */
    cr_assert_eq(ag_rolemap_append_display(&b, "\xef\xbb\xbf"
                                               "a\xe2\x80\x8d"
                                               "b\xe2\x81\xa6"
                                               "c\xc2\x85"
                                               "d\xe2\x82"
                                               "\xff"
                                               "\xc3\xa9\xf0\x9f\x9a\x80"),
                 AG_OK);
    cr_assert_str_eq(b.data, "\\u{FEFF}a\\u{200D}b\\u{2066}c\\u{0085}d\\u{FFFD}\\u{FFFD}\\u{FFFD}"
                             "\xc3\xa9\xf0\x9f\x9a\x80");
    ag_buf_release(&b, 0);
}
