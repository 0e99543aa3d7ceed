#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "auth/login/login.h"
#include "auth/login/login_int.h"
#include "auth/idp/oidc_client.h"
#include "test_login_fake.h"
#include "test_session_fixture.h"

static struct ag_http_request req_for(struct world *w, const struct ag_test_jar *jar,
                                      const char *path, bool xhr)
{
    struct ag_http_request r = ag_test_jar_request(w->a, jar);
    struct ag_http_header *h = ag_arena_calloc(w->a, 2, sizeof(*h));
    h[0] = r.headers[0];
    h[1].name = "Accept";
    h[1].value = xhr ? "application/json" : "text/html";
    r.headers = h;
    r.n_headers = 2;
    r.path = path;
    return r;
}

static struct ag_http_response step(struct world *w, struct ag_test_jar *jar, const char *path,
                                    const char *query, struct ag_login_result *res)
{
    struct ag_http_request req = req_for(w, jar, path, false);
    req.query = query;
    struct ag_http_response resp = {0};
    struct ag_login_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof(*res));
    if (!ag_login_handle(w->l, w->a, &req, &resp)) {
        ag_login_session_check(w->l, w->a, &req, &resp, res);
        if (res->verdict == AG_LOGIN_NONE)
            ag_login_challenge(w->l, w->a, &req, &resp);
    }
    ag_test_jar_apply(jar, &resp);
    return resp;
}

static void signed_in(struct world *w, struct ag_test_jar *jar)
{
    struct ag_http_response r = step(w, jar, "/", NULL, NULL);
    cr_assert_eq(r.status, 302);
    const char *cb = fake_authorize(w, resp_header(&r, "Location"));
    r = step(w, jar, "/oauth2/callback", cb, NULL);
    cr_assert_eq(r.status, 302);
    cr_assert_not_null(ag_test_jar_get(jar, "_airgate"));
}

Test(login_refresh, tokens_refresh_before_expiry_and_roles_are_remapped)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    struct ag_login_result res;
    /* Well before expiry: no refresh. */
    w->idp.now += 200;
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW);
    cr_assert_not(res.refreshed);
    cr_assert_eq(w->idp.refresh_posts, 0);
    /* Within refresh_before_s of exp (300): refresh, and the role change at the IdP shows. */
    snprintf(w->idp.roles, sizeof(w->idp.roles), "airflow_viewer");
    w->idp.now += 50;
    const char *old_cookie = ag_arena_strdup(w->a, ag_test_jar_get(&jar, "_airgate"));
    /* The due request is served at once with the current tokens; the refresh runs aside. */
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW, "%s", res.why);
    cr_assert_not(res.refreshed);
    cr_assert_str_eq(res.id->airflow_roles.items[0], "Admin");
    ag_login_refresh_idle(w->l);
    cr_assert_eq(w->idp.refresh_posts, 1);
    /* The next request picks up the renewed session and cookie. */
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW, "%s", res.why);
    cr_assert(res.refreshed);
    cr_assert_eq(w->idp.refresh_posts, 1);
    cr_assert_str_eq(res.id->airflow_roles.items[0], "Viewer");
    cr_assert_str_neq(ag_test_jar_get(&jar, "_airgate"), old_cookie);
    /* The renewed cookie is used from now on: no second refresh. */
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert_not(res.refreshed);
    cr_assert_eq(w->idp.refresh_posts, 1);
    /* A removed role denies at the next refresh. */
    w->idp.roles[0] = '\0';
    w->idp.now += 300;
    struct ag_http_response r = step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_DENY);
    cr_assert_eq(r.status, 403);
    world_free(w);
}

Test(login_refresh, refused_refresh_sends_the_browser_back_through_login)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    w->idp.revoked = true; /* e.g. the rotated token was used elsewhere */
    w->idp.now += 280;
    struct ag_login_result res;
    (void)step(w, &jar, "/dags", NULL, &res); /* still valid: served, refresh aside */
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW);
    ag_login_refresh_idle(w->l);
    struct ag_http_response r = step(w, &jar, "/dags", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_NONE);
    cr_assert_eq(r.status, 302, "%d", r.status);
    cr_assert(strstr(resp_header(&r, "Location"), "/protocol/openid-connect/auth?"));
    cr_assert_null(ag_test_jar_get(&jar, "_airgate"), "session cookie not cleared");
    world_free(w);
}

Test(login_refresh, idp_down_keeps_sessions_until_the_tokens_expire)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    w->idp.down = true;
    w->idp.reachable = false;
    struct ag_login_result res;
    w->idp.now += 100; /* no refresh needed */
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW);
    cr_assert_eq(w->idp.posts, 1);
    w->idp.now += 150; /* refresh due, fails, token still valid */
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW, "%s", res.why);
    cr_assert_not_null(ag_test_jar_get(&jar, "_airgate"));
    w->idp.now += 100; /* now expired and still no IdP: session ends, new login gets 503 */
    struct ag_http_response r = step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_NONE);
    cr_assert_eq(r.status, 503);
    cr_assert_null(ag_test_jar_get(&jar, "_airgate"));
    world_free(w);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(login_refresh, a_due_refresh_never_delays_the_request)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    w->idp.delay_ms = 900; /* a slow token endpoint */
    w->idp.now += 280;     /* due (refresh_before_s 60), still valid */
    struct ag_login_result res;
    long long t0 = mono_ms();
    for (int i = 0; i < 3; i++) {
        (void)step(w, &jar, "/", NULL, &res);
        cr_assert_eq(res.verdict, AG_LOGIN_ALLOW, "%s", res.why);
    }
    long long took = mono_ms() - t0;
    cr_assert_lt(took, 300, "three due requests took %lld ms", took);
    ag_login_refresh_idle(w->l);
    cr_assert_eq(w->idp.refresh_posts, 1, "single-flight: %d refreshes", w->idp.refresh_posts);
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert(res.refreshed);
    world_free(w);
}

Test(login_refresh, an_expired_token_waits_in_place_or_parks)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    w->idp.delay_ms = 200;
    w->idp.now += 310; /* expired */
    struct ag_http_request req = req_for(w, &jar, "/", false);
    struct ag_http_response resp = {0};
    struct ag_login_result res;
    ag_login_session_check_ex(w->l, w->a, &req, &resp, true, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_WAIT, "%s", res.why);
    struct ag_login_waiter lw = {0};
    ag_login_refresh_idle(w->l);
    /* finished: no parking, the second check (may_park false) adopts the outcome */
    cr_assert_not(ag_login_when_refreshed(w->l, &res, &lw));
    memset(&resp, 0, sizeof(resp));
    ag_login_session_check_ex(w->l, w->a, &req, &resp, false, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW, "%s", res.why);
    cr_assert(res.refreshed);
    cr_assert_eq(w->idp.refresh_posts, 1);
    world_free(w);
}

static void waiter_cb(void *arg)
{
    int *n = arg;
    __atomic_add_fetch(n, 1, __ATOMIC_SEQ_CST);
}

Test(login_refresh, a_parked_request_is_called_back_when_the_refresh_ends)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    w->idp.delay_ms = 300;
    w->idp.now += 310;
    struct ag_http_request req = req_for(w, &jar, "/", false);
    struct ag_http_response resp = {0};
    struct ag_login_result res;
    ag_login_session_check_ex(w->l, w->a, &req, &resp, true, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_WAIT);
    int n = 0;
    struct ag_login_waiter lw = {.cb = waiter_cb, .arg = &n};
    cr_assert(ag_login_when_refreshed(w->l, &res, &lw));
    cr_assert_eq(__atomic_load_n(&n, __ATOMIC_SEQ_CST), 0);
    ag_login_refresh_idle(w->l);
    cr_assert_eq(__atomic_load_n(&n, __ATOMIC_SEQ_CST), 1);
    world_free(w);
}

Test(login_refresh, the_idp_circuit_opens_after_repeated_failures)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    cr_assert_eq(ag_login_idp_circuit(w->l), AG_BREAKER_CLOSED);
    w->idp.down = true;
    struct ag_login_result res;
    w->idp.now += 240; /* due */
    for (int i = 0; i < AG_BREAKER_FAILURES; i++) {
        (void)step(w, &jar, "/", NULL, &res);
        cr_assert_eq(res.verdict, AG_LOGIN_ALLOW, "%s", res.why);
        ag_login_refresh_idle(w->l);
        w->idp.now += 3; /* past the 2 s a network failure is remembered */
    }
    cr_assert_eq(ag_login_idp_circuit(w->l), AG_BREAKER_OPEN);
    int posts = w->idp.posts;
    /* open: sessions are served at once without calling the IdP ... */
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW, "%s", res.why);
    ag_login_refresh_idle(w->l);
    cr_assert_eq(w->idp.posts, posts, "the IdP was called while the circuit is open");
    /* ... a login start gets the 503 page even though the discovery probe would answer ... */
    struct ag_test_jar other = {0};
    struct ag_http_response r = step(w, &other, "/oauth2/start", "rd=/x", NULL);
    cr_assert_eq(r.status, 503, "%d", r.status);
    /* ... and an expired session ends at once (the documented rule), with no wait */
    w->idp.now += 60;
    long long t0 = mono_ms();
    r = step(w, &jar, "/", NULL, &res);
    cr_assert_lt(mono_ms() - t0, 200);
    cr_assert_eq(res.verdict, AG_LOGIN_NONE);
    cr_assert_eq(r.status, 503);
    cr_assert_eq(w->idp.posts, posts);
    world_free(w);
}

struct racer {
    struct world *w;
    struct ag_test_jar *jar;
    enum ag_login_verdict verdict;
    bool refreshed;
};

static void *race(void *p)
{
    struct racer *r = p;
    struct ag_arena *a = ag_arena_new(0);
    struct ag_http_request req = ag_test_jar_request(a, r->jar);
    req.path = "/";
    struct ag_http_response resp = {0};
    struct ag_login_result res;
    ag_login_session_check(r->w->l, a, &req, &resp, &res);
    r->verdict = res.verdict;
    r->refreshed = res.refreshed;
    ag_arena_free(a);
    return NULL;
}

Test(login_refresh, concurrent_requests_refresh_once)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    w->idp.now += 310; /* expired: every request waits for the one refresh */
    w->idp.delay_ms = 150;
    enum { N = 6 };
    pthread_t t[N];
    struct racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){.w = w, .jar = &jar};
        cr_assert_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(r[i].verdict, AG_LOGIN_ALLOW, "racer %d", i);
        cr_assert(r[i].refreshed, "racer %d", i);
    }
    cr_assert_eq(w->idp.refresh_posts, 1, "refresh token spent %d times", w->idp.refresh_posts);
    cr_assert_not(w->idp.revoked);
    /* A late request still carrying the old cookie reuses the outcome too. */
    struct racer late = {.w = w, .jar = &jar};
    (void)race(&late);
    cr_assert_eq(late.verdict, AG_LOGIN_ALLOW);
    cr_assert_eq(w->idp.refresh_posts, 1);
    world_free(w);
}

Test(login_refresh, logout_clears_everything_and_ends_the_idp_session)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    /* A pending login in another tab leaves a login-state cookie too. */
    struct ag_http_response r = step(w, &jar, "/oauth2/start", "rd=/x", NULL);
    cr_assert_eq(jar.n, 2);
    r = step(w, &jar, "/logout/", NULL, NULL);
    cr_assert_eq(r.status, 302);
    const char *loc = resp_header(&r, "Location");
    cr_assert(strncmp(loc, FAKE_ISS "/protocol/openid-connect/logout?", strlen(FAKE_ISS) + 32) == 0,
              "%s", loc);
    cr_assert(strstr(loc, "client_id=airflow"));
    cr_assert(strstr(loc, "&id_token_hint=ey"), "%s", loc);
    cr_assert(
        strstr(loc,
               "post_logout_redirect_uri=https%3A%2F%2Fairflow.example.com%2Foauth2%2Fsigned-out"),
        "%s", loc);
    cr_assert_eq(jar.n, 0, "%zu cookies left", jar.n);
    struct ag_login_result res;
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_NONE);
    /* Without end_session_endpoint: a local page. */
    signed_in(w, &jar);
    w->idp.meta.end_session_endpoint = NULL;
    r = step(w, &jar, "/oauth2/logout", NULL, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "signed out"));
    cr_assert_eq(jar.n, 0);
    r = step(w, &jar, "/oauth2/signed-out", NULL, NULL);
    cr_assert_eq(r.status, 200);
    world_free(w);
}

Test(login_refresh, userinfo_reports_user_roles_and_expiry)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    struct ag_http_response r = step(w, &jar, "/oauth2/userinfo", NULL, NULL);
    cr_assert_eq(r.status, 401);
    signed_in(w, &jar);
    r = step(w, &jar, "/oauth2/userinfo", NULL, NULL);
    cr_assert_eq(r.status, 200);
    json_error_t je;
    json_t *j = json_loadb(r.body, r.body_len, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "user"), "username")),
                     "admin");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "airflow_roles"), 0)),
                     "Admin");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "idp_roles"), 0)),
                     "airflow_admin");
    cr_assert_eq(json_integer_value(json_object_get(j, "session_expires_at")), FAKE_NOW + 86400);
    cr_assert_null(strstr(r.body, "ey"), "a token leaked into userinfo");
    json_decref(j);
    world_free(w);
}

Test(login_refresh, bad_cookie_is_cleared_and_leads_to_login)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    char *v = (char *)ag_test_jar_get(&jar, "_airgate");
    v[20] = v[20] == 'A' ? 'B' : 'A';
    struct ag_login_result res;
    struct ag_http_response r = step(w, &jar, "/home", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_NONE);
    cr_assert_eq(r.status, 302);
    cr_assert_null(ag_test_jar_get(&jar, "_airgate"));
    world_free(w);
}

Test(login_refresh, refresh_without_id_token_keeps_the_hint_or_ends_the_session)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    struct ag_login_result res;
    (void)step(w, &jar, "/", NULL, &res);
    const char *hint = ag_arena_strdup(w->a, res.session->id_token);
    /* JWT access token, no new ID token: roles from the access token, the old hint kept. */
    w->idp.no_id_token_on_refresh = true;
    w->idp.now += 280;
    (void)step(w, &jar, "/", NULL, &res);
    ag_login_refresh_idle(w->l);
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert(res.refreshed);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW, "%s", res.why);
    cr_assert_str_eq(res.session->id_token, hint);
    /* Opaque access token and no ID token: nothing verifiable, so the session ends. */
    w->idp.opaque_access = true;
    w->idp.now += 300;
    struct ag_http_response r = step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_NONE);
    cr_assert_eq(r.status, 302);
    cr_assert_null(ag_test_jar_get(&jar, "_airgate"));
    world_free(w);
}

Test(login_refresh, idle_timeout_renews_last_seen_and_expires)
{
    struct world *w = world_new(AG_CLIENT_AUTH_BASIC);
    w->cfg.session.idle_timeout_s = 600;
    w->idp.access_ttl = 100000; /* keep refresh out of the picture */
    world_reload(w);
    struct ag_test_jar jar = {0};
    signed_in(w, &jar);
    const char *first = ag_arena_strdup(w->a, ag_test_jar_get(&jar, "_airgate"));
    struct ag_login_result res;
    w->idp.now += 100; /* less than idle/4: the cookie is not rewritten */
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW);
    cr_assert_str_eq(ag_test_jar_get(&jar, "_airgate"), first);
    w->idp.now += 100; /* 200 s idle: last_seen renewed */
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW);
    cr_assert_str_neq(ag_test_jar_get(&jar, "_airgate"), first);
    w->idp.now += 599; /* counted from the renewal: still fine */
    (void)step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_ALLOW, "%s", res.why);
    w->idp.now += 600; /* idle too long */
    struct ag_http_response r = step(w, &jar, "/", NULL, &res);
    cr_assert_eq(res.verdict, AG_LOGIN_NONE);
    cr_assert_eq(r.status, 302);
    world_free(w);
}

Test(oidc_client, token_requests_and_answers)
{
    struct ag_arena *a = ag_arena_new(0);
    struct ag_config c;
    memset(&c, 0, sizeof(c));
    c.oidc.client_id = "my client";
    c.oidc.client_secret.data = (unsigned char *)"p@ss:word";
    c.oidc.client_secret.len = 9;
    c.redirect_uri = "https://a.example/oauth2/callback";
    struct ag_token_request tr;
    ag_oidc_code_request(a, &c, "c&d", "ver", &tr);
    cr_assert_str_eq(tr.body,
                     "grant_type=authorization_code&code=c%26d&redirect_uri=https%3A%2F%2F"
                     "a.example%2Foauth2%2Fcallback&code_verifier=ver&client_id=my%20client");
    /* base64("my%20client:p%40ss%3Aword") */
    cr_assert_str_eq(tr.authorization, "Basic bXklMjBjbGllbnQ6cCU0MHNzJTNBd29yZA==");
    c.oidc.token_endpoint_auth = AG_CLIENT_AUTH_POST;
    ag_oidc_refresh_request(a, &c, "r+t", &tr);
    cr_assert_null(tr.authorization);
    cr_assert_str_eq(tr.body, "grant_type=refresh_token&refresh_token=r%2Bt&client_id=my%20client"
                              "&client_secret=p%40ss%3Aword");

    struct ag_token_response t;
    struct ag_err err;
    const char *ok = "{\"access_token\":\"a\",\"token_type\":\"bearer\",\"expires_in\":300,"
                     "\"refresh_token\":\"r\",\"id_token\":\"i\"}";
    cr_assert_eq(ag_oidc_token_response_parse(a, 200, ok, strlen(ok), &t, &err), AG_OK);
    cr_assert_str_eq(t.refresh_token, "r");
    cr_assert_eq(t.expires_in, 300);
    const char *refused = "{\"error\":\"invalid_grant\",\"error_description\":\"used\"}";
    cr_assert_eq(ag_oidc_token_response_parse(a, 400, refused, strlen(refused), &t, &err),
                 AG_EDENIED);
    cr_assert_str_eq(t.error, "invalid_grant");
    cr_assert_eq(ag_oidc_token_response_parse(a, 502, "bad gateway", 11, &t, &err), AG_EUPSTREAM);
    cr_assert_eq(ag_oidc_token_response_parse(a, 400, "<html>", 6, &t, &err), AG_EUPSTREAM);
    static const char *bad200[] = {"",
                                   "[]",
                                   "{}",
                                   "{\"access_token\":5}",
                                   "{\"access_token\":\"a\",\"token_type\":\"mac\"}",
                                   "{\"access_token\":\"a\",\"expires_in\":-5}",
                                   "{\"access_token\":\"a\",\"access_token\":\"b\"}"};
    for (size_t i = 0; i < sizeof(bad200) / sizeof(bad200[0]); i++)
        cr_assert_eq(ag_oidc_token_response_parse(a, 200, bad200[i], strlen(bad200[i]), &t, &err),
                     AG_EPARSE, "%s", bad200[i]);
    /* The real transport refuses non-http URLs and reports a closed port. */
    struct ag_buf b;
    ag_buf_init(&b, 1024);
    long status;
    cr_assert_eq(ag_oidc_http_post("file:///etc/passwd", NULL, "", NULL, &b, &status, &err),
                 AG_EINVAL);
    struct ag_http_fetch_opts o = {.connect_timeout_ms = 500, .timeout_ms = 500};
    enum ag_rc rc =
        ag_oidc_http_post("http://127.0.0.1:1/token", NULL, "x=1", &o, &b, &status, &err);
    cr_assert(rc == AG_EUPSTREAM || rc == AG_ETIMEOUT, "%d", rc);
    ag_buf_release(&b, 0);
    ag_arena_free(a);
}
