/* libFuzzer target: role mapping. The first line of the input is a claim path (as an operator
 * writes it in roles.claims), the rest a JSON claims object (as a token carries it).
 *
 * Checked, for the path: parsing with and without an arena agrees; a parsed path has 1 to
 * AG_ROLEMAP_PATH_MAX_SEGMENTS non-empty segments; quoting every segment again
 * (ag_rolemap_path_quote_segment) and parsing the result gives the same segments.
 * For the claims, mapped with a fixed config (and again with the fuzzed path added and
 * `unmapped: Public`): every failure carries its code and a message; an accepted identity has a
 * username, `allowed` exactly when it has Airflow roles, only Airflow roles the config can give,
 * no duplicate roles, and no control character in anything that becomes an HTTP header. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "core/arena.h"
#include "rolemap/path.h"
#include "rolemap/rolemap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *ag_fz_airflow_admin[] = {"Admin"};
static char *ag_fz_airflow_op[] = {"Op", "User"};
static char *ag_fz_airflow_user[] = {"User"};
static char *ag_fz_airflow_viewer[] = {"Viewer"};
static char *ag_fz_airflow_custom[] = {"Data Team", "Viewer"};
static struct ag_role_rule ag_fz_rules[] = {
    {"airflow_admin", {1, ag_fz_airflow_admin}}, {"airflow_op", {2, ag_fz_airflow_op}},
    {"airflow_user", {1, ag_fz_airflow_user}},   {"airflow_viewer", {1, ag_fz_airflow_viewer}},
    {"data.team", {2, ag_fz_airflow_custom}},
};
static char *ag_fz_paths[] = {"resource_access.airflow.roles", "realm_access.roles", "groups",
                              NULL};

static struct ag_arena *ag_fz_arena;
static struct ag_rolemap *ag_fz_map;

static void ag_fz_config(struct ag_config *cfg, size_t n_paths, const char *unmapped)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->oidc.client_id = "airflow";
    cfg->roles.claims = (struct ag_strlist){n_paths, ag_fz_paths};
    cfg->roles.n_rules = sizeof(ag_fz_rules) / sizeof(ag_fz_rules[0]);
    cfg->roles.rules = ag_fz_rules;
    cfg->roles.unmapped = (char *)unmapped;
}

static void ag_fz_check_err(enum ag_rc rc, const struct ag_err *err)
{
    if (rc != AG_OK && (err->rc != rc || err->msg[0] == '\0'))
        abort();
}

static void ag_fz_check_text(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            abort();
}

static bool ag_fz_role_known(const char *role, const char *unmapped)
{
    if (unmapped && strcmp(role, unmapped) == 0)
        return true;
    for (size_t i = 0; i < sizeof(ag_fz_rules) / sizeof(ag_fz_rules[0]); i++)
        for (size_t j = 0; j < ag_fz_rules[i].airflow_roles.n; j++)
            if (strcmp(role, ag_fz_rules[i].airflow_roles.items[j]) == 0)
                return true;
    return false;
}

static void ag_fz_check_unique(const struct ag_strlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        ag_fz_check_text(l->items[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(l->items[i], l->items[j]) == 0)
                abort();
    }
}

static void ag_fz_apply(struct ag_arena *a, const struct ag_rolemap *m, const json_t *claims,
                        const char *unmapped)
{
    struct ag_identity *id = NULL;
    struct ag_err err = {0};
    enum ag_rc rc = ag_rolemap_apply(a, m, claims, &id, &err);
    ag_fz_check_err(rc, &err);
    if (rc != AG_OK) {
        if (id)
            abort();
        return;
    }
    if (!id || !id->username || !*id->username)
        abort();
    if (id->allowed != (id->airflow_roles.n > 0) || (!id->allowed && !id->deny_reason))
        abort();
    if (unmapped && !id->allowed)
        abort(); /* with an unmapped role nobody is denied */
    ag_fz_check_text(id->username);
    ag_fz_check_text(id->email);
    ag_fz_check_text(id->first_name);
    ag_fz_check_text(id->last_name);
    ag_fz_check_unique(&id->idp_roles);
    ag_fz_check_unique(&id->airflow_roles);
    for (size_t i = 0; i < id->airflow_roles.n; i++)
        if (!ag_fz_role_known(id->airflow_roles.items[i], unmapped))
            abort();
    for (size_t i = 0; i < id->n_explain; i++)
        if (!id->explain[i].text)
            abort();
}

static void ag_fz_path(struct ag_arena *a, const char *text)
{
    struct ag_rolemap_path *p = NULL;
    struct ag_err err = {0}, err2 = {0};
    enum ag_rc rc = ag_rolemap_path_parse(a, text, &p, &err);
    enum ag_rc rc2 = ag_rolemap_path_parse(NULL, text, NULL, &err2);
    ag_fz_check_err(rc, &err);
    if (rc != rc2)
        abort();
    if (rc != AG_OK)
        return;
    if (!p || p->n == 0 || p->n > AG_ROLEMAP_PATH_MAX_SEGMENTS || strcmp(p->text, text) != 0)
        abort();
    /* Round trip through the quoting helper (what the default path of a client id uses). */
    char *again = ag_arena_strndup(a, "", 0);
    for (size_t i = 0; i < p->n; i++) {
        char seg[2 * AG_ROLEMAP_PATH_MAX_LEN + 3];
        if (!p->segments[i][0])
            abort();
        if (ag_rolemap_path_quote_segment(p->segments[i], seg, sizeof(seg)) != AG_OK)
            abort();
        again = ag_arena_printf(a, "%s%s%s", again, i ? "." : "", seg);
    }
    struct ag_rolemap_path *q = NULL;
    if (strlen(again) > AG_ROLEMAP_PATH_MAX_LEN)
        return; /* quoting may lengthen a path beyond the limit: nothing to compare */
    if (ag_rolemap_path_parse(a, again, &q, &err) != AG_OK || q->n != p->n)
        abort();
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->segments[i], q->segments[i]) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ag_fz_map) {
        struct ag_config cfg;
        struct ag_err err;
        ag_fz_arena = ag_arena_new(0);
        ag_fz_config(&cfg, 3, NULL);
        if (ag_rolemap_compile(ag_fz_arena, &cfg, &ag_fz_map, &err) != AG_OK)
            abort();
    }
    if (size > 256 * 1024)
        return 0;
    struct ag_arena *a = ag_arena_new(0);
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *path = ag_arena_strndup(a, (const char *)data, plen);
    ag_fz_path(a, path);

    if (nl) {
        const char *json = (const char *)nl + 1;
        size_t jlen = size - plen - 1;
        json_error_t jerr;
        json_t *claims = json_loadb(json, jlen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (claims) {
            ag_fz_apply(a, ag_fz_map, claims, NULL);
            /* The fuzzed path as a fourth roles.claims entry, with `unmapped: Public`. */
            struct ag_config cfg;
            ag_fz_paths[3] = path;
            ag_fz_config(&cfg, 4, "Public");
            struct ag_rolemap *m = NULL;
            struct ag_err err = {0};
            enum ag_rc rc = ag_rolemap_compile(a, &cfg, &m, &err);
            ag_fz_check_err(rc, &err);
            if (rc == AG_OK)
                ag_fz_apply(a, m, claims, "Public");
            ag_fz_paths[3] = NULL;
            json_decref(claims);
        }
    }
    ag_arena_free(a);
    return 0;
}
