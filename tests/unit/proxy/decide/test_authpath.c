/* The auth precedence (proxy/decide/authpath.h), table-driven: which path a request takes from
 * what is known about it, where it is decided, and how the Authorization headers are read. */
#include <criterion/criterion.h>
#include <string.h>

#include "proxy/decide/authpath.h"

/* ---- reading Authorization ---- */

static struct ag_authz authz_of(const char *const *values, size_t n)
{
    struct ag_http_header h[4];
    for (size_t i = 0; i < n; i++)
        h[i] = (struct ag_http_header){.name = i % 2 ? "authorization" : "Authorization",
                                       .value = values[i]};
    struct ag_http_header other = {.name = "Accept", .value = "*/*"};
    struct ag_http_header all[5] = {other};
    memcpy(all + 1, h, n * sizeof(h[0]));
    struct ag_http_request req = {.method = "GET", .path = "/", .headers = all, .n_headers = n + 1};
    struct ag_authz z;
    ag_authpath_authz(&req, &z);
    return z;
}

Test(authpath, authz_is_read_once_for_everyone)
{
    static const struct {
        const char *v[2];
        size_t n;
        int count;
        bool bearer;
        const char *tok; /* NULL: no bearer */
        bool bearer_only;
    } t[] = {
        {{NULL}, 0, 0, false, NULL, false},
        {{"Bearer abc.def.ghi"}, 1, 1, true, "abc.def.ghi", true},
        {{"bearer abc"}, 1, 1, true, "abc", true},
        {{"BEARER   abc \t"}, 1, 1, true, "abc", true},
        {{"Bearer "}, 1, 1, true, "", false},
        {{"Bearer    "}, 1, 1, true, "", false},
        {{"Basic dXNlcjpwYXNz"}, 1, 1, false, NULL, false},
        {{"Bearerabc"}, 1, 1, false, NULL, false},
        {{"Bearer abc", "Bearer def"}, 2, 2, true, "abc", false},
        {{"Basic x", "Bearer def"}, 2, 2, false, NULL, false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct ag_authz z = authz_of(t[i].v, t[i].n);
        cr_assert_eq(z.n, t[i].count, "row %zu", i);
        cr_assert_eq(z.bearer, t[i].bearer, "row %zu", i);
        if (t[i].tok) {
            cr_assert_eq(z.len, strlen(t[i].tok), "row %zu", i);
            cr_assert(memcmp(z.tok, t[i].tok, z.len) == 0, "row %zu", i);
        }
        cr_assert_eq(ag_authpath_bearer_only(&z), t[i].bearer_only, "row %zu", i);
    }
}

/* ---- the facts ---- */

enum {
    LOGIN = 1 << 0,
    SERVED = 1 << 1,
    OAUTH2 = 1 << 2,
    LOGOUT = 1 << 3,
    BIG = 1 << 4,
    PUBLIC = 1 << 5,
    COOKIE = 1 << 6,
    NAV = 1 << 7,
};

/* authz: 0 none, 1 one bearer, 2 two headers, 3 one non-bearer, 4 an empty bearer */
static struct ag_authpath_in facts(unsigned f, int authz)
{
    struct ag_authpath_in in = {
        .login = f & LOGIN,
        .login_served = f & SERVED,
        .oauth2 = f & OAUTH2,
        .logout = f & LOGOUT,
        .body_too_large = f & BIG,
        .public_route = f & PUBLIC,
        .session_cookie = f & COOKIE,
        .navigation = f & NAV,
    };
    switch (authz) {
    case 1:
        in.authz = (struct ag_authz){.n = 1, .bearer = true, .tok = "t.o.k", .len = 5};
        break;
    case 2:
        in.authz = (struct ag_authz){.n = 2, .bearer = true, .tok = "t.o.k", .len = 5};
        break;
    case 3:
        in.authz = (struct ag_authz){.n = 1};
        break;
    case 4:
        in.authz = (struct ag_authz){.n = 1, .bearer = true, .tok = "", .len = 0};
        break;
    default:
        break;
    }
    return in;
}

Test(authpath, first_steps_in_order)
{
    static const struct {
        unsigned f;
        int authz;
        enum ag_authpath_first want;
    } t[] = {
        {0, 0, AG_AP_CREDENTIALS},
        {0, 1, AG_AP_CREDENTIALS},
        {LOGIN | COOKIE | NAV, 0, AG_AP_CREDENTIALS},
        /* 1. a login endpoint answers before anything else, even with a body too large */
        {LOGIN | SERVED | OAUTH2 | BIG, 2, AG_AP_LOGIN},
        {LOGIN | SERVED | LOGOUT, 1, AG_AP_LOGIN},
        /* ... but only with a login: without one, an /oauth2/ path is not found */
        {SERVED | OAUTH2, 0, AG_AP_NOT_FOUND},
        /* 2. other /oauth2/ paths, with or without a login, before the header checks */
        {LOGIN | OAUTH2, 2, AG_AP_NOT_FOUND},
        {OAUTH2 | BIG | PUBLIC, 0, AG_AP_NOT_FOUND},
        /* 3. several Authorization headers, before the body limit and public routes */
        {BIG | PUBLIC, 2, AG_AP_BAD_AUTHZ},
        {LOGIN | COOKIE, 2, AG_AP_BAD_AUTHZ},
        /* 4. the body limit applies to public routes too */
        {BIG | PUBLIC, 1, AG_AP_TOO_LARGE},
        {BIG, 0, AG_AP_TOO_LARGE},
        /* 5. public routes: no credentials looked at */
        {PUBLIC, 1, AG_AP_PUBLIC},
        {LOGIN | PUBLIC | COOKIE, 3, AG_AP_PUBLIC},
        /* Airflow's /logout without a login is an ordinary protected path */
        {LOGOUT, 0, AG_AP_CREDENTIALS},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct ag_authpath_in in = facts(t[i].f, t[i].authz);
        cr_assert_eq(ag_authpath_first(&in), t[i].want, "row %zu: got %d, want %d", i,
                     ag_authpath_first(&in), t[i].want);
    }
}

Test(authpath, where_it_is_decided)
{
    static const struct {
        unsigned f;
        int authz;
        bool workers;
        enum ag_authpath_where want;
    } t[] = {
        /* login endpoints and Airflow's logout may wait on the IdP */
        {LOGIN | OAUTH2, 0, true, AG_AP_ON_WORKER},
        {LOGIN | OAUTH2, 1, true, AG_AP_ON_WORKER},
        {LOGIN | LOGOUT, 1, true, AG_AP_ON_WORKER},
        /* a session cookie may need a refresh, even beside a bearer token */
        {LOGIN | COOKIE, 0, true, AG_AP_ON_WORKER},
        {LOGIN | COOKIE, 1, true, AG_AP_ON_WORKER},
        /* a navigation without credentials: the IdP reachability probe */
        {LOGIN | NAV, 0, true, AG_AP_ON_WORKER},
        {LOGIN | NAV, 3, true, AG_AP_ON_LOOP},
        {LOGIN, 0, true, AG_AP_ON_LOOP},
        /* public routes never wait, whatever they carry */
        {LOGIN | PUBLIC | COOKIE | NAV, 0, true, AG_AP_ON_LOOP},
        /* without a login nothing waits on the IdP */
        {OAUTH2 | COOKIE | NAV, 0, true, AG_AP_ON_LOOP},
        /* without workers everything is decided on the loop */
        {LOGIN | OAUTH2, 0, false, AG_AP_ON_LOOP},
        {LOGIN | COOKIE, 0, false, AG_AP_ON_LOOP},
        /* a bearer token alone: the loop's decision cache first */
        {0, 1, true, AG_AP_TRY_CACHE},
        {LOGIN | NAV, 1, true, AG_AP_TRY_CACHE},
        {LOGIN | COOKIE, 1, false, AG_AP_TRY_CACHE},
        /* ... never for what comes before the token in the order */
        {OAUTH2, 1, true, AG_AP_ON_LOOP},
        {PUBLIC, 1, true, AG_AP_ON_LOOP},
        {BIG, 1, true, AG_AP_ON_LOOP},
        {0, 2, true, AG_AP_ON_LOOP},
        {0, 4, true, AG_AP_ON_LOOP},
        {0, 3, true, AG_AP_ON_LOOP},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct ag_authpath_in in = facts(t[i].f, t[i].authz);
        enum ag_authpath_where got = ag_authpath_where(&in, t[i].workers);
        cr_assert_eq(got, t[i].want, "row %zu: got %d, want %d", i, got, t[i].want);
    }
}

Test(authpath, the_session_decides_alone_unless_a_bearer_token_comes_with_it)
{
    static const struct {
        enum ag_login_verdict s;
        int authz;
        bool want;
    } t[] = {
        {AG_LOGIN_ALLOW, 0, true},
        {AG_LOGIN_ALLOW, 3, true}, /* a non-Bearer Authorization is not verified by airgate */
        {AG_LOGIN_ALLOW, 1, false},
        {AG_LOGIN_ALLOW, 4, false}, /* even an empty Bearer: the gate refuses it */
        {AG_LOGIN_DENY, 0, true},
        {AG_LOGIN_DENY, 1, true}, /* a refused session is not rescued by a token */
        {AG_LOGIN_NONE, 0, false},
        {AG_LOGIN_NONE, 1, false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct ag_authpath_in in = facts(LOGIN, t[i].authz);
        cr_assert_eq(ag_authpath_session_decides(&in, t[i].s), t[i].want, "row %zu", i);
    }
}

Test(authpath, the_end_of_the_precedence)
{
    static const struct {
        unsigned f;
        enum ag_login_verdict s;
        enum ag_decision d;
        bool has_id;
        enum ag_authpath_end want;
    } t[] = {
        {LOGIN, AG_LOGIN_ALLOW, AG_DECISION_ALLOW, true, AG_AP_FORWARD},
        {0, AG_LOGIN_NONE, AG_DECISION_ALLOW, true, AG_AP_FORWARD},
        {0, AG_LOGIN_NONE, AG_DECISION_ALLOW, false, AG_AP_INTERNAL},
        {LOGIN, AG_LOGIN_DENY, AG_DECISION_DENY, true, AG_AP_SESSION_REFUSAL},
        /* the session's 403 wins over whatever the decision says */
        {LOGIN, AG_LOGIN_DENY, AG_DECISION_NO_CREDENTIALS, false, AG_AP_SESSION_REFUSAL},
        /* no credentials: the login challenge when there is a login, else the gate's 401 */
        {LOGIN, AG_LOGIN_NONE, AG_DECISION_NO_CREDENTIALS, false, AG_AP_CHALLENGE},
        {0, AG_LOGIN_NONE, AG_DECISION_NO_CREDENTIALS, false, AG_AP_GATE_REFUSAL},
        /* an allowed session with a bad bearer token: the gate's refusal */
        {LOGIN, AG_LOGIN_ALLOW, AG_DECISION_INVALID_TOKEN, false, AG_AP_GATE_REFUSAL},
        {LOGIN, AG_LOGIN_ALLOW, AG_DECISION_NO_CREDENTIALS, false, AG_AP_CHALLENGE},
        {LOGIN, AG_LOGIN_NONE, AG_DECISION_DENY, true, AG_AP_GATE_REFUSAL},
        {LOGIN, AG_LOGIN_NONE, AG_DECISION_ERROR, false, AG_AP_GATE_REFUSAL},
        {0, AG_LOGIN_NONE, AG_DECISION_INVALID_TOKEN, false, AG_AP_GATE_REFUSAL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct ag_authpath_in in = facts(t[i].f, 1);
        enum ag_authpath_end got = ag_authpath_end(&in, t[i].s, t[i].d, t[i].has_id);
        cr_assert_eq(got, t[i].want, "row %zu: got %d, want %d", i, got, t[i].want);
    }
}

Test(authpath, only_a_bearer_decision_alone_is_cacheable)
{
    static const struct {
        int authz;
        enum ag_login_verdict s;
        bool session_headers;
        bool want;
    } t[] = {
        {1, AG_LOGIN_NONE, false, true},
        {1, AG_LOGIN_NONE, true, false}, /* cookie clears must reach the browser each time */
        {1, AG_LOGIN_ALLOW, false, false},
        {0, AG_LOGIN_NONE, false, false},
        {3, AG_LOGIN_NONE, false, false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct ag_authpath_in in = facts(LOGIN, t[i].authz);
        cr_assert_eq(ag_authpath_cacheable(&in, t[i].s, t[i].session_headers), t[i].want, "row %zu",
                     i);
    }
}
