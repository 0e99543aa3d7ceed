/* The gate (proxy/decide/gate.c) without a network: a runtime built from a real config and role
 * map, a key cache that was never started (its issuer refuses connections), and verified tokens
 * placed in the token cache the way a verification would leave them. Covers every decision and
 * the refusal each one is answered with. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../conf/conf_test_util.h"
#include "auth/jose/keycache.h"
#include "auth/jose/token_cache.h"
#include "core/arena.h"
#include "core/json.h"
#include "core/log.h"
#include "proxy/decide/gate.h"
#include "proxy/runtime.h"
#include "rolemap/rolemap.h"

/* the issuer listens nowhere: a fetch fails at once (connection refused) */
#define G_YAML                                                                                     \
    "public_url: \"https://airflow.example.com\"\n"                                                \
    "oidc:\n"                                                                                      \
    "  issuer: \"http://127.0.0.1:1/realms/data\"\n"                                               \
    "  client_id: \"airflow\"\n"                                                                   \
    "  client_secret: \"s3cret\"\n"                                                                \
    "  http_timeout_ms: 500\n" L_SESS                                                              \
    "roles:\n  map: { airflow_admin: Admin, <viewers>: [Viewer, User] }\n" L_UP

static struct ag_runtime rt;
static struct ag_kc_holder holder;
static struct ag_token_cache *tc;
static struct ag_arena *a;

static void setup(void)
{
    ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
    memset(&rt, 0, sizeof(rt));
    rt.cfg = ct_load(G_YAML, NULL);
    rt.arena = ag_arena_new(0);
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_compile(rt.arena, rt.cfg, &rt.rolemap, &err), AG_OK, "%s", err.msg);
    ag_jwt_policy_init(&rt.policy);
    struct ag_keycache_opts o = {.issuer = rt.cfg->oidc.issuer,
                                 .refresh_s = -1,
                                 .http = {.timeout_ms = 500, .connect_timeout_ms = 500}};
    cr_assert_eq(ag_keycache_new(&o, &holder.kc, &err), AG_OK, "%s", err.msg);
    rt.keys = &holder;
    tc = ag_token_cache_new(0);
    a = ag_arena_new(0);
}

static void teardown(void)
{
    ag_arena_free(a);
    ag_token_cache_free(tc);
    ag_keycache_free(holder.kc);
    ag_arena_free(rt.arena);
    ag_config_unref(rt.cfg);
}

TestSuite(gate, .init = setup, .fini = teardown, .timeout = 30);

/* Stores tok as verified with these claims, as ag_keycache_verify would have left it. */
static void verified(const char *tok, const char *claims_json, int64_t exp)
{
    struct ag_json_error je;
    struct ag_jwt jwt = {.alg_name = "ES256", .exp = exp};
    jwt.claims = ag_json_parse(claims_json, strlen(claims_json), 0, &je);
    cr_assert_not_null(jwt.claims, "%s", claims_json);
    jwt.header = ag_json_parse("{}", 2, 0, &je);
    ag_token_cache_put(tc, tok, strlen(tok), &jwt, ag_keycache_generation(holder.kc));
    ag_json_decref(jwt.claims);
    ag_json_decref(jwt.header);
}

static struct ag_http_request request(const char *authz, bool navigation)
{
    static struct ag_http_header h[3];
    size_t n = 0;
    if (navigation) {
        h[n++] = (struct ag_http_header){"Accept", "text/html"};
        h[n++] = (struct ag_http_header){"Sec-Fetch-Mode", "navigate"};
    }
    if (authz)
        h[n++] = (struct ag_http_header){"Authorization", authz};
    return (struct ag_http_request){.method = "GET", .path = "/home", .headers = h, .n_headers = n};
}

static void check(const char *authz, bool may_block, struct ag_gate_result *g)
{
    struct ag_http_request req = request(authz, false);
    struct ag_authz z;
    ag_authpath_authz(&req, &z);
    ag_gate_check(&rt, tc, a, &z, may_block, g);
}

static const char *header(const struct ag_http_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

#define ADMIN                                                                                      \
    "{\"sub\":\"u-1\",\"preferred_username\":\"alice\",\"resource_access\":{\"airflow\":"          \
    "{\"roles\":[\"airflow_admin\"]}}}"
#define NOBODY                                                                                     \
    "{\"sub\":\"u-2\",\"preferred_username\":\"bob\",\"resource_access\":{\"airflow\":"            \
    "{\"roles\":[\"intern\"]}}}"

Test(gate, decisions_table)
{
    int64_t exp = (int64_t)time(NULL) + 300;
    verified("admin.token.sig", ADMIN, exp);
    verified("nobody.token.sig", NOBODY, exp);
    static const struct {
        const char *authz;
        enum ag_decision want;
        const char *why; /* a part of the reason */
        const char *user;
    } t[] = {
        {NULL, AG_DECISION_NO_CREDENTIALS, "no credentials", NULL},
        {"Basic dXNlcjpwYXNz", AG_DECISION_NO_CREDENTIALS, "not a Bearer token", NULL},
        {"Bearer ", AG_DECISION_NO_CREDENTIALS, "empty Bearer token", NULL},
        {"Bearer    \t", AG_DECISION_NO_CREDENTIALS, "empty Bearer token", NULL},
        {"Bearer admin.token.sig", AG_DECISION_ALLOW, "bearer token", "alice"},
        {"bearer   admin.token.sig  ", AG_DECISION_ALLOW, "bearer token", "alice"},
        {"Bearer nobody.token.sig", AG_DECISION_DENY, "", "bob"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct ag_gate_result g;
        check(t[i].authz, true, &g);
        cr_assert_not(g.again, "row %zu", i);
        cr_assert_eq(g.decision, t[i].want, "row %zu: got %d (%s)", i, g.decision, g.why);
        cr_assert_not_null(g.why, "row %zu", i);
        cr_assert_not_null(strstr(g.why, t[i].why), "row %zu: %s", i, g.why);
        if (t[i].user) {
            cr_assert_not_null(g.id, "row %zu", i);
            cr_assert_str_eq(g.id->username, t[i].user, "row %zu", i);
        } else {
            cr_assert_null(g.id, "row %zu", i);
        }
        cr_assert_eq(g.exp, t[i].want == AG_DECISION_ALLOW ? exp : 0, "row %zu", i);
    }
}

Test(gate, an_allowed_token_names_the_mapped_roles)
{
    verified("admin.token.sig", ADMIN, (int64_t)time(NULL) + 300);
    struct ag_gate_result g;
    check("Bearer admin.token.sig", false, &g);
    cr_assert_eq(g.decision, AG_DECISION_ALLOW);
    cr_assert(g.id->allowed);
    cr_assert_eq(g.id->airflow_roles.n, 1);
    cr_assert_str_eq(g.id->airflow_roles.items[0], "Admin");
}

Test(gate, an_expired_cached_token_is_verified_again)
{
    /* the cache forgets it at exp: the token then needs the keys, which are not there */
    verified("admin.token.sig", ADMIN, (int64_t)time(NULL) - 1);
    struct ag_gate_result g;
    check("Bearer admin.token.sig", true, &g);
    cr_assert_neq(g.decision, AG_DECISION_ALLOW, "%s", g.why);
    cr_assert_null(g.id);
}

Test(gate, without_keys_a_token_is_answered_unavailable_on_the_loop_and_on_a_worker)
{
    /* a well-formed JWS: its keys were never loaded (the issuer is unreachable), which is the
     * IdP's outage (503), not the client's fault (401) */
    const char *tok = "Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1In0.c2ln";
    for (int may_block = 0; may_block < 2; may_block++) {
        struct ag_gate_result g;
        check(tok, may_block, &g);
        cr_assert_not(g.again, "may_block %d", may_block);
        cr_assert_eq(g.decision, AG_DECISION_ERROR, "%d %s", g.decision, g.why);
        cr_assert_not_null(strstr(g.why, "upstream"), "%s", g.why);
        cr_assert_null(g.id);
    }
}

Test(gate, a_cached_token_from_another_key_generation_is_not_trusted)
{
    struct ag_json_error je;
    struct ag_jwt jwt = {.alg_name = "ES256", .exp = (int64_t)time(NULL) + 300};
    jwt.claims = ag_json_parse(ADMIN, strlen(ADMIN), 0, &je);
    jwt.header = ag_json_parse("{}", 2, 0, &je);
    ag_token_cache_put(tc, "admin.token.sig", 15, &jwt, ag_keycache_generation(holder.kc) + 1);
    ag_json_decref(jwt.claims);
    ag_json_decref(jwt.header);
    struct ag_gate_result g;
    check("Bearer admin.token.sig", true, &g);
    cr_assert_neq(g.decision, AG_DECISION_ALLOW, "%s", g.why);
}

static struct ag_http_response refusal(enum ag_decision d, bool navigation)
{
    struct ag_gate_result g = {.decision = d};
    if (d == AG_DECISION_DENY) {
        verified("nobody.token.sig", NOBODY, (int64_t)time(NULL) + 300);
        check("Bearer nobody.token.sig", true, &g);
        cr_assert_eq(g.decision, AG_DECISION_DENY);
    }
    struct ag_http_request req = request("Bearer x", navigation);
    struct ag_http_response resp = {0};
    ag_gate_refusal(&rt, a, &req, &g, &resp);
    return resp;
}

Test(gate, refusals_table)
{
    static const struct {
        enum ag_decision d;
        bool navigation;
        int status;
        const char *type;
        const char *body;   /* a part of the body */
        const char *hname;  /* a header it must carry */
        const char *hvalue; /* a part of its value */
    } t[] = {
        {AG_DECISION_NO_CREDENTIALS, false, 401, "application/json", "\"unauthorized\"",
         "WWW-Authenticate", "Bearer realm=\"airgate\""},
        {AG_DECISION_NO_CREDENTIALS, true, 401, "application/json", "\"unauthorized\"",
         "WWW-Authenticate", "Bearer realm=\"airgate\""},
        {AG_DECISION_INVALID_TOKEN, false, 401, "application/json", "\"invalid_token\"",
         "WWW-Authenticate", "error=\"invalid_token\""},
        {AG_DECISION_ERROR, false, 503, "application/json", "\"temporarily_unavailable\"",
         "Retry-After", "5"},
        {AG_DECISION_DENY, false, 403, "application/json", "\"user\":\"bob\"", NULL, NULL},
        {AG_DECISION_DENY, true, 403, "text/html; charset=utf-8", "<code>intern</code>",
         "Content-Security-Policy", "default-src 'none'"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct ag_http_response r = refusal(t[i].d, t[i].navigation);
        cr_assert_eq(r.status, t[i].status, "row %zu", i);
        cr_assert_str_eq(r.content_type, t[i].type, "row %zu", i);
        char *body = strndup(r.body, r.body_len);
        cr_assert_not_null(strstr(body, t[i].body), "row %zu: %s", i, body);
        free(body);
        if (t[i].hname) {
            const char *v = header(&r, t[i].hname);
            cr_assert_not_null(v, "row %zu: no %s", i, t[i].hname);
            cr_assert_not_null(strstr(v, t[i].hvalue), "row %zu: %s", i, v);
        }
    }
}

Test(gate, the_forbidden_page_lists_the_granting_roles_escaped)
{
    struct ag_http_response r = refusal(AG_DECISION_DENY, true);
    char *body = strndup(r.body, r.body_len);
    cr_assert_not_null(strstr(body, "<code>airflow_admin</code> (Airflow Admin)"), "%s", body);
    cr_assert_not_null(strstr(body, "<code>&lt;viewers&gt;</code> (Airflow Viewer, User)"), "%s",
                       body);
    cr_assert_not_null(strstr(body, "<strong>bob</strong>"), "%s", body);
    free(body);
}
