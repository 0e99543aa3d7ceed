#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "auth/login/login.h"
#include "auth/login/login_int.h"
#include "test_login_fake.h"
#include "test_session_fixture.h"

/* A browser: a jar, and requests with Accept: text/html (or XHR). */
static struct ag_http_request browse(struct world *w, struct ag_test_jar *jar, const char *path,
                                     const char *query, bool xhr)
{
    struct ag_http_request r = ag_test_jar_request(w->a, jar);
    struct ag_http_header *h = ag_arena_calloc(w->a, 3, sizeof(*h));
    h[0] = r.headers[0];
    h[1].name = "Accept";
    h[1].value = xhr ? "application/json" : "text/html,application/xhtml+xml";
    size_t n = 2;
    if (xhr) {
        h[2].name = "X-Requested-With";
        h[2].value = "XMLHttpRequest";
        n = 3;
    }
    r.headers = h;
    r.n_headers = n;
    r.path = path;
    r.query = query;
    r.https = true;
    return r;
}

/* Runs a request through handle/session-check/challenge like the proxy does. */
static struct ag_http_response run(struct world *w, struct ag_test_jar *jar, const char *path,
                                   const char *query, bool xhr, struct ag_login_result *res)
{
    struct ag_http_request req = browse(w, jar, path, query, xhr);
    struct ag_http_response resp = {0};
    struct ag_login_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof(*res));
    if (!ag_login_handle(w->l, w->a, &req, &resp)) {
        ag_login_session_check(w->l, w->a, &req, &resp, res);
        if (res->verdict == AG_LOGIN_NONE)
            ag_login_challenge(w->l, w->a, &req, &resp);
        else if (res->verdict == AG_LOGIN_ALLOW)
            resp.status = 200; /* stands for "forwarded" */
    }
    ag_test_jar_apply(jar, &resp);
    return resp;
}

/* Full sign-in starting at a protected path; returns the final redirect target. */
static const char *sign_in(struct world *w, struct ag_test_jar *jar, const char *path,
                           const char *query)
{
    struct ag_http_response r = run(w, jar, path, query, false, NULL);
    cr_assert_eq(r.status, 302);
    const char *cb = fake_authorize(w, resp_header(&r, "Location"));
    struct ag_http_response c = run(w, jar, "/oauth2/callback", cb, false, NULL);
    cr_assert_eq(c.status, 302, "callback status %d: %.300s", c.status, c.body ? c.body : "");
    return resp_header(&c, "Location");
}

Test(login, navigation_without_session_goes_straight_to_the_idp)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    struct ag_http_response r = run(w, &jar, "/dags/x/grid", "tab=graph", false, NULL);
    cr_assert_eq(r.status, 302);
    const char *loc = resp_header(&r, "Location");
    (void)fake_authorize(w, loc);
    cr_assert_str_eq(w->idp.redirect_uri, "https://airflow.example.com/oauth2/callback");
    cr_assert_str_eq(w->idp.scope, "openid profile email");
    cr_assert_eq(strlen(w->idp.state), 43);
    cr_assert_eq(strlen(w->idp.nonce), 43);
    cr_assert_eq(strlen(w->idp.challenge), 43);
    cr_assert_eq(jar.n, 1);
    cr_assert(strncmp(jar.name[0], "_airgate_login_", 15) == 0);
    world_free(w);
}

Test(login, full_flow_sets_a_session_and_returns_to_the_path)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    const char *back = sign_in(w, &jar, "/dags/x/grid", "tab=graph");
    cr_assert_str_eq(back, "/dags/x/grid?tab=graph");
    cr_assert_not_null(ag_test_jar_get(&jar, "_airgate"));
    cr_assert_eq(jar.n, 1, "login state cookie not cleared");
    /* client_secret_basic: the secret travels in Authorization, not in the body. */
    cr_assert(strncmp(w->idp.last_authz, "Basic ", 6) == 0);
    cr_assert_null(strstr(w->idp.last_body, "client_secret"));
    struct ag_login_result res;
    struct ag_http_response r = run(w, &jar, "/dags/x/grid", NULL, false, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW, "%s", res.why);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(res.id->username, "admin");
    cr_assert_str_eq(res.id->email, "admin@example.com");
    cr_assert_str_eq(res.id->first_name, "Given");
    cr_assert_str_eq(res.id->last_name, "Family"); /* from the ID token */
    cr_assert_eq(res.id->airflow_roles.n, 1);
    cr_assert_str_eq(res.id->airflow_roles.items[0], "Admin");
    cr_assert_str_eq(res.id->idp_roles.items[0], "airflow_admin");
    world_free(w);
}

Test(login, client_secret_post_puts_the_secret_in_the_body)
{
    struct world *w = world_new(AG_CLIENT_AUTH_POST);
    struct ag_test_jar jar = {0};
    (void)sign_in(w, &jar, "/", NULL);
    cr_assert_str_eq(w->idp.last_authz, "");
    cr_assert(strstr(w->idp.last_body, "client_secret=s3cret%2F%2B"), "%s", w->idp.last_body);
    world_free(w);
}

Test(login, start_endpoint_validates_rd)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    const char *back = sign_in(w, &jar, "/oauth2/start", "rd=%2F%2Fevil.example");
    cr_assert_str_eq(back, "/");
    struct ag_test_jar jar2 = {0};
    back = sign_in(w, &jar2, "/oauth2/start", "rd=%2Fhome%3Fa%3D1");
    cr_assert_str_eq(back, "/home?a=1");
    world_free(w);
}

Test(login, xhr_without_session_gets_401_json)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    struct ag_http_response r = run(w, &jar, "/api/v1/dags", NULL, true, NULL);
    cr_assert_eq(r.status, 401);
    cr_assert_str_eq(r.content_type, "application/json");
    cr_assert(strncmp(resp_header(&r, "WWW-Authenticate"), "Bearer", 6) == 0);
    cr_assert_eq(jar.n, 0);
    world_free(w);
}

Test(login, unreachable_idp_gives_the_503_page_for_new_logins)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    w->idp.reachable = false;
    struct ag_test_jar jar = {0};
    struct ag_http_response r = run(w, &jar, "/home", NULL, false, NULL);
    cr_assert_eq(r.status, 503);
    cr_assert(strstr(r.body, "cannot be reached"));
    cr_assert_eq(jar.n, 0);
    /* Discovery never succeeded: same. */
    w->idp.reachable = true;
    w->idp.meta.issuer = NULL;
    r = run(w, &jar, "/oauth2/start", "rd=/x", false, NULL);
    cr_assert_eq(r.status, 503);
    world_free(w);
}

Test(login, state_tampering_and_replay_are_rejected)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    struct ag_http_response r = run(w, &jar, "/", NULL, false, NULL);
    const char *cb = fake_authorize(w, resp_header(&r, "Location"));
    /* Another state of the same shape. */
    char forged[256];
    snprintf(forged, sizeof(forged), "code=%s&state=%.16sXXXXXXXXXXXXXXXXXXXXXXXXXXX", w->idp.code,
             w->idp.state);
    struct ag_http_response c = run(w, &jar, "/oauth2/callback", forged, false, NULL);
    cr_assert_eq(c.status, 400);
    cr_assert_null(ag_test_jar_get(&jar, "_airgate"));
    cr_assert_eq(w->idp.posts, 0, "code exchanged despite a bad state");
    /* The attempt's cookie is gone (single use): even the right state now fails. */
    c = run(w, &jar, "/oauth2/callback", cb, false, NULL);
    cr_assert_eq(c.status, 400);
    /* A proper login, then the same callback replayed. */
    struct ag_test_jar jar2 = {0};
    r = run(w, &jar2, "/", NULL, false, NULL);
    cb = fake_authorize(w, resp_header(&r, "Location"));
    struct ag_test_jar before = jar2;
    c = run(w, &jar2, "/oauth2/callback", cb, false, NULL);
    cr_assert_eq(c.status, 302);
    /* Replay with the cookies the browser had before (an attacker holding both). */
    c = run(w, &before, "/oauth2/callback", cb, false, NULL);
    cr_assert_eq(c.status, 400, "replayed code accepted");
    cr_assert_null(ag_test_jar_get(&before, "_airgate"));
    world_free(w);
}

Test(login, nonce_audience_and_signature_are_checked)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    bool *switches[] = {&w->idp.wrong_nonce, &w->idp.wrong_aud, &w->idp.wrong_sig};
    for (size_t i = 0; i < 3; i++) {
        *switches[i] = true;
        struct ag_test_jar jar = {0};
        struct ag_http_response r = run(w, &jar, "/", NULL, false, NULL);
        const char *cb = fake_authorize(w, resp_header(&r, "Location"));
        struct ag_http_response c = run(w, &jar, "/oauth2/callback", cb, false, NULL);
        cr_assert_eq(c.status, 400, "switch %zu", i);
        cr_assert(strstr(c.body, "could not be verified"), "%s", c.body);
        cr_assert_null(ag_test_jar_get(&jar, "_airgate"));
        *switches[i] = false;
    }
    world_free(w);
}

Test(login, pkce_verifier_must_match)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    struct ag_http_response r = run(w, &jar, "/", NULL, false, NULL);
    const char *cb = fake_authorize(w, resp_header(&r, "Location"));
    /* The IdP saw another challenge (e.g. an attacker's login): the verifier no longer fits. */
    snprintf(w->idp.challenge, sizeof(w->idp.challenge),
             "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    struct ag_http_response c = run(w, &jar, "/oauth2/callback", cb, false, NULL);
    cr_assert_eq(c.status, 400);
    cr_assert(strstr(c.body, "did not accept"), "%s", c.body);
    world_free(w);
}

Test(login, idp_errors_are_readable_pages)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    struct ag_http_response r = run(w, &jar, "/home", NULL, false, NULL);
    (void)fake_authorize(w, resp_header(&r, "Location"));
    char q[512];
    snprintf(q, sizeof(q), "error=access_denied&error_description=User+%%3Cb%%3Ecancelled&state=%s",
             w->idp.state);
    struct ag_http_response c = run(w, &jar, "/oauth2/callback", q, false, NULL);
    cr_assert_eq(c.status, 403);
    cr_assert(strstr(c.body, "access_denied"));
    cr_assert(strstr(c.body, "User &lt;b&gt;cancelled"));
    cr_assert(strstr(c.body, "/oauth2/start?rd=%2Fhome"), "%s", c.body);
    cr_assert_eq(jar.n, 0, "login state cookie kept after an IdP error");
    c = run(w, &jar, "/oauth2/callback", "error=server_error", false, NULL);
    cr_assert_eq(c.status, 400);
    c = run(w, &jar, "/oauth2/callback", NULL, false, NULL);
    cr_assert_eq(c.status, 400);
    world_free(w);
}

Test(login, token_endpoint_down_at_callback_gives_503)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    struct ag_http_response r = run(w, &jar, "/", NULL, false, NULL);
    const char *cb = fake_authorize(w, resp_header(&r, "Location"));
    w->idp.down = true;
    struct ag_http_response c = run(w, &jar, "/oauth2/callback", cb, false, NULL);
    cr_assert_eq(c.status, 503);
    world_free(w);
}

Test(login, user_without_role_gets_the_403_page_and_json_for_xhr)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    snprintf(w->idp.user, sizeof(w->idp.user), "norole");
    w->idp.roles[0] = '\0';
    struct ag_test_jar jar = {0};
    (void)sign_in(w, &jar, "/", NULL);
    struct ag_login_result res;
    struct ag_http_response r = run(w, &jar, "/", NULL, false, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_DENY);
    cr_assert_eq(r.status, 403);
    cr_assert(strstr(r.body, "norole"));
    cr_assert(strstr(r.body, "airflow_admin"));
    cr_assert(strstr(r.body, "href=\"/oauth2/logout\""));
    r = run(w, &jar, "/api/v1/dags", NULL, true, &res);
    cr_assert_eq(r.status, 403);
    cr_assert_str_eq(r.content_type, "application/json");
    world_free(w);
}

Test(login, opaque_access_token_uses_id_token_claims)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    w->idp.opaque_access = true;
    struct ag_test_jar jar = {0};
    (void)sign_in(w, &jar, "/", NULL);
    struct ag_login_result res;
    (void)run(w, &jar, "/", NULL, false, &res);
    /* The ID token has no resource_access: no roles, denied. */
    cr_assert_eq(res.verdict, AG_LOGIN_DENY);
    cr_assert_str_eq(res.id->username, "admin");
    world_free(w);
}
