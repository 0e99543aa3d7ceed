/* Compiling the `roles:` config and mapping claims to an identity. Pure: no I/O, no logging. */
#include "rolemap/rolemap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/json.h"
#include "rolemap/strset.h"

const char *const ag_rolemap_builtin_roles[5] = {"Admin", "Op", "User", "Viewer", "Public"};

struct ag_rolemap_rule {
    const char *idp_role;
    struct ag_strlist airflow_roles;
};

struct ag_rolemap {
    size_t n_paths;
    struct ag_rolemap_path **paths;
    size_t n_rules;
    struct ag_rolemap_rule *rules; /* sorted by idp_role (strcmp) for bsearch */
    char *unmapped;                /* NULL: deny */
};

/* Checks a role name from config or claims: non-empty, bounded, no NUL or control characters
 * (role names end up in HTTP headers and terminals). len is the real length (json strings may
 * hold NUL bytes). Returns NULL when valid, else what is wrong. */
static const char *ag_role_name_problem(const char *s, size_t len)
{
    if (len == 0)
        return "is empty";
    if (len > AG_ROLEMAP_MAX_NAME_LEN)
        return "is too long";
    if (strlen(s) != len)
        return "contains a NUL byte (\\u0000)";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return "contains a control character";
        /* C1 controls U+0080..U+009F are encoded as C2 80..C2 9F in UTF-8. */
        if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f)
            return "contains a control character";
    }
    return NULL;
}

static int ag_rule_cmp(const void *x, const void *y)
{
    const struct ag_rolemap_rule *a = x, *b = y;
    return strcmp(a->idp_role, b->idp_role);
}

static enum ag_rc ag_rolemap_compile_paths(struct ag_arena *a, const struct ag_config *cfg,
                                           struct ag_rolemap *m, struct ag_err *err)
{
    const struct ag_strlist *claims = &cfg->roles.claims;
    if (claims->n == 0) {
        /* Keycloak puts client roles under resource_access.<client_id>.roles. */
        const char *cid = cfg->oidc.client_id;
        if (!cid || !*cid)
            return ag_err_set(err, AG_ECONF,
                              "roles.claims: empty, and no oidc.client_id to derive the default "
                              "resource_access.<client_id>.roles from");
        char seg[AG_ROLEMAP_PATH_MAX_LEN];
        if (ag_rolemap_path_quote_segment(cid, seg, sizeof(seg)) != AG_OK)
            return ag_err_set(err, AG_ECONF, "oidc.client_id: too long for a claim path");
        m->n_paths = 1;
        m->paths = ag_arena_calloc(a, 1, sizeof(struct ag_rolemap_path *));
        const char *text = ag_arena_printf(a, "resource_access.%s.roles", seg);
        enum ag_rc rc = ag_rolemap_path_parse(a, text, &m->paths[0], err);
        if (rc != AG_OK) {
            ag_err_prefix(err, "roles.claims (default from oidc.client_id)");
            err->rc = AG_ECONF;
            return AG_ECONF;
        }
        return AG_OK;
    }
    m->n_paths = claims->n;
    m->paths = ag_arena_calloc(a, claims->n, sizeof(struct ag_rolemap_path *));
    for (size_t i = 0; i < claims->n; i++) {
        if (ag_rolemap_path_parse(a, claims->items[i], &m->paths[i], err) != AG_OK) {
            ag_err_prefix(err, "roles.claims[%zu]", i);
            err->rc = AG_ECONF;
            return AG_ECONF;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->paths[j]->text, m->paths[i]->text) == 0)
                return ag_err_set(err, AG_ECONF, "roles.claims[%zu]: '%s' is listed twice", i,
                                  claims->items[i]);
    }
    return AG_OK;
}

static enum ag_rc ag_rolemap_compile_rules(struct ag_arena *a, const struct ag_config *cfg,
                                           struct ag_rolemap *m, struct ag_err *err)
{
    size_t n = cfg->roles.n_rules;
    m->n_rules = n;
    m->rules = ag_arena_calloc(a, n ? n : 1, sizeof(*m->rules));
    for (size_t i = 0; i < n; i++) {
        const struct ag_role_rule *src = &cfg->roles.rules[i];
        const char *idp = src->idp_role ? src->idp_role : "";
        const char *why = ag_role_name_problem(idp, strlen(idp));
        if (why)
            return ag_err_set(err, AG_ECONF, "roles.map: IdP role '%s' %s", idp, why);
        if (src->airflow_roles.n == 0)
            return ag_err_set(err, AG_ECONF, "roles.map.%s: no Airflow role given", idp);
        struct ag_rolemap_rule *r = &m->rules[i];
        r->idp_role = ag_arena_strdup(a, idp);
        r->airflow_roles.items = ag_arena_calloc(a, src->airflow_roles.n, sizeof(char *));
        for (size_t j = 0; j < src->airflow_roles.n; j++) {
            const char *role = src->airflow_roles.items[j] ? src->airflow_roles.items[j] : "";
            why = ag_role_name_problem(role, strlen(role));
            if (why)
                return ag_err_set(err, AG_ECONF, "roles.map.%s: Airflow role '%s' %s", idp, role,
                                  why);
            int dup = 0;
            for (size_t k = 0; k < r->airflow_roles.n; k++)
                dup |= strcmp(r->airflow_roles.items[k], role) == 0;
            if (!dup)
                r->airflow_roles.items[r->airflow_roles.n++] = ag_arena_strdup(a, role);
        }
    }
    qsort(m->rules, n, sizeof(*m->rules), ag_rule_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(m->rules[i - 1].idp_role, m->rules[i].idp_role) == 0)
            return ag_err_set(err, AG_ECONF, "roles.map: IdP role '%s' is mapped twice",
                              m->rules[i].idp_role);
    return AG_OK;
}

enum ag_rc ag_rolemap_compile(struct ag_arena *a, const struct ag_config *cfg,
                              struct ag_rolemap **out, struct ag_err *err)
{
    struct ag_rolemap *m = ag_arena_calloc(a, 1, sizeof(*m));
    enum ag_rc rc = ag_rolemap_compile_paths(a, cfg, m, err);
    if (rc == AG_OK)
        rc = ag_rolemap_compile_rules(a, cfg, m, err);
    if (rc != AG_OK)
        return rc;
    const char *un = cfg->roles.unmapped;
    if (un && strcmp(un, "deny") != 0) {
        const char *why = ag_role_name_problem(un, strlen(un));
        if (why)
            return ag_err_set(err, AG_ECONF, "roles.unmapped: role '%s' %s", un, why);
        m->unmapped = ag_arena_strdup(a, un);
    }
    *out = m;
    return AG_OK;
}

size_t ag_rolemap_path_count(const struct ag_rolemap *m)
{
    return m->n_paths;
}

const char *ag_rolemap_path_text(const struct ag_rolemap *m, size_t i)
{
    return i < m->n_paths ? m->paths[i]->text : NULL;
}

const char *ag_rolemap_unmapped_role(const struct ag_rolemap *m)
{
    return m->unmapped;
}

size_t ag_rolemap_rule_count(const struct ag_rolemap *m)
{
    return m->n_rules;
}

const char *ag_rolemap_rule_idp_role(const struct ag_rolemap *m, size_t i)
{
    return i < m->n_rules ? m->rules[i].idp_role : NULL;
}

const struct ag_strlist *ag_rolemap_rule_airflow_roles(const struct ag_rolemap *m, size_t i)
{
    return i < m->n_rules ? &m->rules[i].airflow_roles : NULL;
}

static const struct ag_rolemap_rule *ag_rolemap_rule_find(const struct ag_rolemap *m,
                                                          const char *idp)
{
    struct ag_rolemap_rule key = {.idp_role = idp};
    if (m->n_rules == 0)
        return NULL;
    return bsearch(&key, m->rules, m->n_rules, sizeof(key), ag_rule_cmp);
}

/* ---- apply ---------------------------------------------------------------------------------- */

struct ag_apply {
    bool quiet; /* no explanation steps (the request path): no sentence is formatted */
    struct ag_rolemap_step scratch;
    struct ag_arena *a;
    const struct ag_rolemap *m;
    struct ag_identity *id;
    struct ag_rolemap_step *steps;
    size_t n_steps, cap_steps;
    struct ag_strset idp_seen;
    size_t n_values; /* role values read so far, duplicates included */
};

static struct ag_rolemap_step *ag_apply_step(struct ag_apply *ap, enum ag_rolemap_step_kind kind)
{
    if (ap->quiet) {
        memset(&ap->scratch, 0, sizeof(ap->scratch));
        ap->scratch.kind = kind;
        return &ap->scratch;
    }
    if (ap->n_steps == ap->cap_steps) {
        size_t cap = ap->cap_steps ? ap->cap_steps * 2 : 16;
        struct ag_rolemap_step *s = ag_arena_calloc(ap->a, cap, sizeof(*s));
        if (ap->n_steps)
            memcpy(s, ap->steps, ap->n_steps * sizeof(*s));
        ap->steps = s;
        ap->cap_steps = cap;
    }
    struct ag_rolemap_step *s = &ap->steps[ap->n_steps++];
    s->kind = kind;
    return s;
}

/* Reads an optional string claim. Absent or JSON null gives NULL; other non-strings and strings
 * with NUL/control characters or beyond AG_ROLEMAP_MAX_CLAIM_LEN are bad input. */
static enum ag_rc ag_apply_string_claim(struct ag_apply *ap, const ag_json *claims,
                                        const char *name, const char **out, struct ag_err *err)
{
    *out = NULL;
    const ag_json *v = ag_json_get(claims, name);
    if (!v || ag_json_is_null(v))
        return AG_OK;
    if (!ag_json_is_string(v))
        return ag_err_set(err, AG_EPARSE, "claim '%s' is %s, expected a string", name,
                          ag_json_type_name(v));
    const char *s = ag_json_str(v);
    size_t len = ag_json_str_len(v);
    if (len > AG_ROLEMAP_MAX_CLAIM_LEN)
        return ag_err_set(err, AG_EINVAL, "claim '%s' is %zu bytes long (limit %d)", name, len,
                          AG_ROLEMAP_MAX_CLAIM_LEN);
    if (strlen(s) != len)
        return ag_err_set(err, AG_EINVAL, "claim '%s' contains a NUL byte (\\u0000)", name);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return ag_err_set(err, AG_EINVAL, "claim '%s' contains a control character", name);
    *out = len ? ag_arena_strndup(ap->a, s, len) : NULL;
    return AG_OK;
}

static enum ag_rc ag_apply_user(struct ag_apply *ap, const ag_json *claims, struct ag_err *err)
{
    struct ag_identity *id = ap->id;
    const char *pu = NULL;
    enum ag_rc rc = ag_apply_string_claim(ap, claims, "sub", &id->subject, err);
    if (rc == AG_OK)
        rc = ag_apply_string_claim(ap, claims, "preferred_username", &pu, err);
    if (rc == AG_OK)
        rc = ag_apply_string_claim(ap, claims, "email", &id->email, err);
    if (rc == AG_OK)
        rc = ag_apply_string_claim(ap, claims, "given_name", &id->first_name, err);
    if (rc == AG_OK)
        rc = ag_apply_string_claim(ap, claims, "family_name", &id->last_name, err);
    if (rc != AG_OK)
        return rc;
    struct ag_rolemap_step *s = ag_apply_step(ap, AG_ROLEMAP_STEP_USER);
    if (pu) {
        id->username = pu;
        id->username_claim = "preferred_username";
        if (!ap->quiet)
            s->text = ag_arena_printf(ap->a, "username '%s' from claim preferred_username", pu);
    } else if (id->subject) {
        id->username = id->subject;
        id->username_claim = "sub";
        if (!ap->quiet)
            s->text = ag_arena_printf(ap->a,
                                      "username '%s' from claim sub (no preferred_username in the "
                                      "token)",
                                      id->subject);
    } else {
        return ag_err_set(err, AG_EINVAL,
                          "claims have neither 'preferred_username' nor 'sub': cannot name the "
                          "user");
    }
    return AG_OK;
}

/* Validates one role value and adds it to idp_roles unless already there. */
static enum ag_rc ag_apply_role_value(struct ag_apply *ap, const struct ag_rolemap_path *p,
                                      const ag_json *v, size_t index, struct ag_strlist *values,
                                      struct ag_err *err)
{
    if (!ag_json_is_string(v))
        return ag_err_set(err, AG_EPARSE,
                          "claim path '%s': element %zu is %s, expected a role name (string)",
                          p->text, index, ag_json_type_name(v));
    const char *s = ag_json_str(v);
    size_t len = ag_json_str_len(v);
    const char *why = ag_role_name_problem(s, len);
    if (why) {
        if (len > AG_ROLEMAP_MAX_NAME_LEN)
            return ag_err_set(err, AG_EINVAL,
                              "claim path '%s': role name at element %zu is %zu bytes long "
                              "(limit %d)",
                              p->text, index, len, AG_ROLEMAP_MAX_NAME_LEN);
        return ag_err_set(err, AG_EINVAL, "claim path '%s': role name at element %zu %s", p->text,
                          index, why);
    }
    char *copy = ag_arena_strndup(ap->a, s, len);
    values->items[values->n++] = copy;
    if (ag_strset_add(&ap->idp_seen, copy))
        ap->id->idp_roles.items[ap->id->idp_roles.n++] = copy;
    return AG_OK;
}

static enum ag_rc ag_apply_path(struct ag_apply *ap, const struct ag_rolemap_path *p,
                                const ag_json *claims, struct ag_err *err)
{
    const ag_json *v = NULL;
    enum ag_rolemap_lookup lk = ag_rolemap_path_lookup(p, claims, &v, err);
    if (lk == AG_ROLEMAP_BAD)
        return AG_EPARSE;
    struct ag_rolemap_step *s = ag_apply_step(ap, AG_ROLEMAP_STEP_PATH);
    s->path = p->text;
    if (lk == AG_ROLEMAP_MISSING) {
        if (!ap->quiet)
            s->text =
                ag_arena_printf(ap->a, "%s: not in the token (no roles from this path)", p->text);
        return AG_OK;
    }
    size_t n = ag_json_is_array(v) ? ag_json_array_size(v) : 1;
    if (!ag_json_is_array(v) && !ag_json_is_string(v))
        return ag_err_set(err, AG_EPARSE,
                          "claim path '%s' holds %s; expected an array of role names (or a "
                          "single role name)",
                          p->text, ag_json_type_name(v));
    if (n > AG_ROLEMAP_MAX_ROLES - ap->n_values)
        return ag_err_set(err, AG_EINVAL,
                          "too many roles: claim path '%s' brings the total to %zu values "
                          "(limit %d across all roles.claims paths)",
                          p->text, n + ap->n_values, AG_ROLEMAP_MAX_ROLES);
    ap->n_values += n;
    s->found = true;
    s->values.items = ag_arena_calloc(ap->a, n ? n : 1, sizeof(char *));
    if (ag_json_is_string(v)) {
        enum ag_rc rc = ag_apply_role_value(ap, p, v, 0, &s->values, err);
        if (rc != AG_OK)
            return rc;
        if (!ap->quiet)
            s->text = ag_arena_printf(ap->a, "%s: one role given as a string", p->text);
        return AG_OK;
    }
    for (size_t i = 0; i < n; i++) {
        enum ag_rc rc = ag_apply_role_value(ap, p, ag_json_at(v, i), i, &s->values, err);
        if (rc != AG_OK)
            return rc;
    }
    if (!ap->quiet)
        s->text = ag_arena_printf(ap->a, "%s: %zu role%s", p->text, n, n == 1 ? "" : "s");
    return AG_OK;
}

/* Joins a list as "a, b, c" in arena memory, for explanation sentences. */
static const char *ag_apply_join(struct ag_arena *a, const struct ag_strlist *l, size_t max)
{
    size_t len = 1, shown = l->n < max ? l->n : max;
    for (size_t i = 0; i < shown; i++)
        len += strlen(l->items[i]) + 2;
    len += 32;
    char *out = ag_arena_alloc(a, len), *p = out;
    for (size_t i = 0; i < shown; i++) {
        size_t k = strlen(l->items[i]);
        if (i) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, l->items[i], k);
        p += k;
    }
    *p = '\0';
    if (shown < l->n)
        snprintf(p, (size_t)(out + len - p), ", ... (%zu more)", l->n - shown);
    return out;
}

/* Puts the granted roles in Airflow's order: built-ins first, then custom roles as produced. */
static void ag_apply_order(struct ag_apply *ap, const struct ag_strlist *granted)
{
    struct ag_strlist *out = &ap->id->airflow_roles;
    out->items = ag_arena_calloc(ap->a, granted->n ? granted->n : 1, sizeof(char *));
    for (size_t b = 0; b < 5; b++)
        for (size_t i = 0; i < granted->n; i++)
            if (strcmp(granted->items[i], ag_rolemap_builtin_roles[b]) == 0)
                out->items[out->n++] = granted->items[i];
    for (size_t i = 0; i < granted->n; i++) {
        int builtin = 0;
        for (size_t b = 0; b < 5; b++)
            builtin |= strcmp(granted->items[i], ag_rolemap_builtin_roles[b]) == 0;
        if (!builtin)
            out->items[out->n++] = granted->items[i];
    }
}

/* Upper bound of the role values the paths hold, capped at the limit (ag_apply_path reports
 * anything beyond it, and bad values, on the real pass). */
static size_t ag_apply_count_values(const struct ag_rolemap *m, const ag_json *claims)
{
    size_t total = 0;
    for (size_t i = 0; i < m->n_paths; i++) {
        const ag_json *v = NULL;
        struct ag_err ignored;
        if (ag_rolemap_path_lookup(m->paths[i], claims, &v, &ignored) != AG_ROLEMAP_FOUND)
            continue;
        total += ag_json_is_array(v) ? ag_json_array_size(v) : 1;
        if (total >= AG_ROLEMAP_MAX_ROLES)
            return AG_ROLEMAP_MAX_ROLES;
    }
    return total;
}

static enum ag_rc ag_rolemap_run(struct ag_arena *a, const struct ag_rolemap *m,
                                 const ag_json *claims, bool explain, struct ag_identity **out,
                                 struct ag_err *err)
{
    if (!ag_json_is_object(claims))
        return ag_err_set(err, AG_EPARSE, "claims are %s, not a JSON object",
                          ag_json_type_name(claims));
    struct ag_apply ap = {.a = a, .m = m, .quiet = !explain};
    ap.id = ag_arena_calloc(a, 1, sizeof(*ap.id));
    struct ag_identity *id = ap.id;
    enum ag_rc rc = ag_apply_user(&ap, claims, err);
    if (rc != AG_OK)
        return rc;

    /* Sized from what the token holds (this runs per request), never above the limit. */
    size_t max_values = ag_apply_count_values(m, claims);
    ag_strset_init(&ap.idp_seen, a, max_values);
    id->idp_roles.items = ag_arena_calloc(a, max_values ? max_values : 1, sizeof(char *));
    for (size_t i = 0; i < m->n_paths; i++) {
        rc = ag_apply_path(&ap, m->paths[i], claims, err);
        if (rc != AG_OK)
            return rc;
    }

    /* Each distinct IdP role grants at most its rule's roles; the set keeps them unique. */
    size_t n_idp = id->idp_roles.n, max_granted = 1;
    const struct ag_rolemap_rule **found =
        ag_arena_calloc(a, n_idp ? n_idp : 1, sizeof(const struct ag_rolemap_rule *));
    for (size_t i = 0; i < n_idp; i++) {
        found[i] = ag_rolemap_rule_find(m, id->idp_roles.items[i]);
        max_granted += found[i] ? found[i]->airflow_roles.n : 0;
    }
    struct ag_strset granted_seen;
    ag_strset_init(&granted_seen, a, max_granted);
    struct ag_strlist granted = {0};
    granted.items = ag_arena_calloc(a, max_granted, sizeof(char *));
    for (size_t i = 0; i < n_idp; i++) {
        const char *role = id->idp_roles.items[i];
        const struct ag_rolemap_rule *r = found[i];
        struct ag_rolemap_step *s =
            ag_apply_step(&ap, r ? AG_ROLEMAP_STEP_RULE : AG_ROLEMAP_STEP_NO_RULE);
        s->idp_role = role;
        if (!r) {
            if (!ap.quiet)
                s->text = ag_arena_printf(a, "IdP role '%s' matches no rule in roles.map (ignored)",
                                          role);
            continue;
        }
        s->airflow_roles = r->airflow_roles;
        if (!ap.quiet)
            s->text = ag_arena_printf(a, "IdP role '%s' -> %s (rule roles.map.%s)", role,
                                      ag_apply_join(a, &r->airflow_roles, 16), r->idp_role);
        for (size_t j = 0; j < r->airflow_roles.n; j++)
            if (ag_strset_add(&granted_seen, r->airflow_roles.items[j]))
                granted.items[granted.n++] = r->airflow_roles.items[j];
    }

    if (granted.n == 0 && m->unmapped) {
        granted.items[granted.n++] = m->unmapped;
        struct ag_rolemap_step *s = ag_apply_step(&ap, AG_ROLEMAP_STEP_UNMAPPED);
        s->airflow_roles.n = 1;
        s->airflow_roles.items = ag_arena_calloc(a, 1, sizeof(char *));
        s->airflow_roles.items[0] = m->unmapped;
        if (!ap.quiet)
            s->text = ag_arena_printf(
                a, "no IdP role maps to an Airflow role: roles.unmapped gives %s", m->unmapped);
    }
    ag_apply_order(&ap, &granted);
    id->allowed = id->airflow_roles.n > 0;
    if (!id->allowed) {
        if (id->idp_roles.n == 0)
            id->deny_reason =
                ag_arena_printf(a, "no roles found at %s and roles.unmapped is deny",
                                m->n_paths == 1 ? m->paths[0]->text : "any roles.claims path");
        else
            id->deny_reason = ag_arena_printf(
                a, "none of the IdP roles (%s) matches roles.map and roles.unmapped is deny",
                ag_apply_join(a, &id->idp_roles, 16));
        struct ag_rolemap_step *s = ag_apply_step(&ap, AG_ROLEMAP_STEP_DENY);
        s->text = id->deny_reason;
    }
    id->n_explain = ap.n_steps;
    id->explain = ap.steps;
    *out = id;
    return AG_OK;
}

enum ag_rc ag_rolemap_apply(struct ag_arena *a, const struct ag_rolemap *m, const ag_json *claims,
                            struct ag_identity **out, struct ag_err *err)
{
    return ag_rolemap_run(a, m, claims, true, out, err);
}

enum ag_rc ag_rolemap_decide(struct ag_arena *a, const struct ag_rolemap *m, const ag_json *claims,
                             struct ag_identity **out, struct ag_err *err)
{
    return ag_rolemap_run(a, m, claims, false, out, err);
}
