/* Bounds: many roles, long names, long claims, and results that outlive the claims. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <stdio.h>

#include "core/buf.h"
#include "helpers.h"

static const struct t_roles groups_cfg = {{"groups", "realm_access.roles"}, "g7=Admin", NULL, NULL};

/* {"sub":"x","groups":["g0","g1",...]} with n distinct (or all equal) roles. */
static json_t *t_many(struct ag_arena *a, size_t n, int same)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "g%zu", same ? (size_t)7 : i);
        json_array_append_new(arr, json_string(name));
    }
    json_t *j = t_json(a, "{\"sub\":\"x\"}");
    json_object_set_new(j, "groups", arr);
    return j;
}

static double t_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(limits, ten_thousand_roles_rejected_quickly)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_rolemap *m = t_compile(a, &groups_cfg);
    json_t *claims = t_many(a, 10000, 0);
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    double t0 = t_now();
    cr_assert_eq(ag_rolemap_apply(a, m, claims, &id, &err), AG_EINVAL);
    cr_assert_lt(t_now() - t0, 0.5);
    cr_assert_null(id);
    cr_assert(strstr(err.msg, "too many roles: claim path 'groups' brings the total to 10000 "
                              "values (limit 1024 across all roles.claims paths)"),
              "%s", err.msg);
    ag_arena_free(a);
}

Test(limits, limit_counts_across_paths)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_rolemap *m = t_compile(a, &groups_cfg);
    json_t *claims = t_many(a, 1000, 0);
    json_t *realm =
        json_pack("{s:[s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s]}", "roles", "r1", "r2",
                  "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
                  "r15", "r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23", "r24", "r25");
    cr_assert_not_null(realm);
    json_object_set_new(claims, "realm_access", realm);
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_apply(a, m, claims, &id, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "claim path 'realm_access.roles' brings the total to 1025"), "%s",
              err.msg);
    ag_arena_free(a);
}

Test(limits, limit_exactly_is_fine_and_linear)
{
    struct ag_arena *a = ag_arena_new(0);
    /* A big map too: 1024 rules, every role matching one. */
    struct ag_buf spec;
    ag_buf_init(&spec, 0);
    for (int i = 0; i < AG_ROLEMAP_MAX_ROLES; i++)
        cr_assert_eq(ag_buf_printf(&spec, "%sg%d=Team%d", i ? ";" : "", i, i % 50), AG_OK);
    struct t_roles r = {{"groups"}, spec.data, NULL, NULL};
    struct ag_rolemap *m = t_compile(a, &r);
    ag_buf_release(&spec, 0);
    json_t *claims = t_many(a, AG_ROLEMAP_MAX_ROLES, 0);
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    double t0 = t_now();
    cr_assert_eq(ag_rolemap_apply(a, m, claims, &id, &err), AG_OK, "%s", err.msg);
    cr_assert_lt(t_now() - t0, 0.5);
    cr_assert_eq(id->idp_roles.n, (size_t)AG_ROLEMAP_MAX_ROLES);
    cr_assert_eq(id->airflow_roles.n, 50u);
    cr_assert_str_eq(id->airflow_roles.items[0], "Team0");
    cr_assert_str_eq(id->airflow_roles.items[49], "Team49");
    cr_assert(id->allowed);
    ag_arena_free(a);
}

Test(limits, duplicates_count_towards_limit_but_dedup)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_rolemap *m = t_compile(a, &groups_cfg);
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_apply(a, m, t_many(a, 1000, 1), &id, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(id->idp_roles.n, 1u);
    cr_assert_str_eq(id->airflow_roles.items[0], "Admin");
    ag_arena_free(a);
}

static json_t *t_role_of_len(struct ag_arena *a, size_t len)
{
    char *name = ag_arena_alloc(a, len + 1);
    memset(name, 'r', len);
    name[len] = '\0';
    json_t *j = t_json(a, "{\"sub\":\"x\",\"groups\":[]}");
    json_array_append_new(json_object_get(j, "groups"), json_string(name));
    return j;
}

Test(limits, long_role_names)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_rolemap *m = t_compile(a, &groups_cfg);
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_apply(a, m, t_role_of_len(a, AG_ROLEMAP_MAX_NAME_LEN), &id, &err),
                 AG_OK, "%s", err.msg);
    cr_assert_eq(strlen(id->idp_roles.items[0]), (size_t)AG_ROLEMAP_MAX_NAME_LEN);
    id = NULL;
    cr_assert_eq(ag_rolemap_apply(a, m, t_role_of_len(a, 100000), &id, &err), AG_EINVAL);
    cr_assert_null(id);
    cr_assert(strstr(err.msg, "claim path 'groups': role name at element 0 is 100000 bytes long "
                              "(limit 255)"),
              "%s", err.msg);
    ag_arena_free(a);
}

Test(limits, long_username)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_rolemap *m = t_compile(a, &groups_cfg);
    char big[AG_ROLEMAP_MAX_CLAIM_LEN + 2];
    memset(big, 'u', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_t *claims = t_json(a, "{\"sub\":\"x\"}");
    json_object_set_new(claims, "preferred_username", json_string(big));
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_apply(a, m, claims, &id, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "claim 'preferred_username' is 1025 bytes long (limit 1024)"), "%s",
              err.msg);
    ag_arena_free(a);
}

Test(limits, identity_outlives_claims)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_rolemap *m = t_compile(a, &groups_cfg);
    json_t *claims =
        json_loads("{\"preferred_username\":\"carol\",\"sub\":\"s\",\"email\":\"c@x\","
                   "\"given_name\":\"Carol\",\"family_name\":\"Day\",\"groups\":[\"g7\"]}",
                   0, NULL);
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_apply(a, m, claims, &id, &err), AG_OK);
    json_decref(claims); /* everything in id must be arena copies */
    cr_assert_str_eq(id->username, "carol");
    cr_assert_str_eq(id->username_claim, "preferred_username");
    cr_assert_str_eq(id->subject, "s");
    cr_assert_str_eq(id->email, "c@x");
    cr_assert_str_eq(id->first_name, "Carol");
    cr_assert_str_eq(id->last_name, "Day");
    cr_assert_str_eq(id->idp_roles.items[0], "g7");
    cr_assert_str_eq(id->explain[1].values.items[0], "g7");
    ag_arena_free(a);
}

Test(limits, null_claims_pointer)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_rolemap *m = t_compile(a, &groups_cfg);
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_apply(a, m, NULL, &id, &err), AG_EPARSE);
    cr_assert(strstr(err.msg, "claims are missing, not a JSON object"), "%s", err.msg);
    ag_arena_free(a);
}
