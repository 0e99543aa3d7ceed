/* Discovery document checks (no network: the integration tests fetch a real one). */
#include <criterion/criterion.h>
#include <string.h>
#include <jansson.h>

#include "auth/idp/discovery.h"
#include "auth/jose/jwt.h"

static enum ag_rc parse(const char *issuer, const char *doc, struct ag_oidc_meta **m,
                        struct ag_err *err)
{
    static struct ag_arena *a;
    if (!a)
        a = ag_arena_new(0);
    return ag_discovery_parse(a, issuer, doc, strlen(doc), m, err);
}

#define ISS "https://sso.example.com/realms/data"
#define EP                                                                                         \
    "\"jwks_uri\":\"" ISS "/certs\",\"authorization_endpoint\":\"" ISS                             \
    "/auth\",\"token_endpoint\":\"" ISS "/token\""

Test(discovery, good_document)
{
    struct ag_oidc_meta *m;
    struct ag_err err;
    cr_assert_eq(
        parse(ISS, "{\"issuer\":\"" ISS "\"," EP ",\"end_session_endpoint\":\"" ISS "/logout\"}",
              &m, &err),
        AG_OK, "%s", err.msg);
    cr_assert_str_eq(m->jwks_uri, ISS "/certs");
    cr_assert_str_eq(m->end_session_endpoint, ISS "/logout");
    cr_assert_null(m->userinfo_endpoint);
}

Test(discovery, issuer_must_match_exactly)
{
    struct ag_oidc_meta *m;
    struct ag_err err;
    cr_assert_eq(parse(ISS, "{\"issuer\":\"" ISS "/\"," EP "}", &m, &err), AG_EINVAL);
    cr_assert_eq(parse(ISS, "{\"issuer\":\"https://evil.example.com\"," EP "}", &m, &err),
                 AG_EINVAL);
    cr_assert_eq(parse(ISS, "{" EP "}", &m, &err), AG_EPARSE);
}

Test(discovery, malformed_documents)
{
    struct ag_oidc_meta *m;
    struct ag_err err;
    cr_assert_eq(parse(ISS, "", &m, &err), AG_EPARSE);
    cr_assert_eq(parse(ISS, "[]", &m, &err), AG_EPARSE);
    cr_assert_eq(parse(ISS, "{\"issuer\":\"" ISS "\",\"issuer\":\"" ISS "\"," EP "}", &m, &err),
                 AG_EPARSE);
    cr_assert_eq(parse(ISS, "{\"issuer\":\"" ISS "\",\"jwks_uri\":\"http://x/certs\"}", &m, &err),
                 AG_EPARSE); /* http jwks_uri for an https issuer */
    cr_assert_eq(parse(ISS, "{\"issuer\":\"" ISS "\",\"jwks_uri\":5}", &m, &err), AG_EPARSE);
}

Test(discovery, claim_path)
{
    json_t *c = json_loads("{\"resource_access\":{\"airflow\":{\"roles\":[\"x\"]}}}", 0, NULL);
    cr_assert(json_is_array(ag_jwt_claim_path(c, "resource_access.airflow.roles")));
    cr_assert_null(ag_jwt_claim_path(c, "resource_access.other.roles"));
    cr_assert_null(ag_jwt_claim_path(c, "resource_access.airflow.roles.x"));
    json_decref(c);
}

Test(discovery, fetch_refuses_other_schemes_and_unreachable_hosts)
{
    struct ag_buf b;
    ag_buf_init(&b, 0);
    struct ag_err err;
    cr_assert_eq(ag_http_fetch_global_init(), AG_OK);
    cr_assert_eq(ag_http_fetch_global_init(), AG_OK); /* idempotent */
    cr_assert_eq(ag_http_fetch_get("file:///etc/passwd", NULL, &b, &err), AG_EINVAL);
    cr_assert_eq(ag_http_fetch_get("ftp://127.0.0.1/x", NULL, &b, &err), AG_EINVAL);
    cr_assert_eq(ag_http_fetch_get("gopher://127.0.0.1/x", NULL, &b, &err), AG_EINVAL);
    cr_assert_eq(ag_http_fetch_get(NULL, NULL, &b, &err), AG_EINVAL);
    /* Port 1 on loopback: nobody listens; refused quickly, not a hang. */
    struct ag_http_fetch_opts o = {.connect_timeout_ms = 1000, .timeout_ms = 2000};
    cr_assert_eq(ag_http_fetch_get("http://127.0.0.1:1/jwks", &o, &b, &err), AG_EUPSTREAM);
    struct ag_arena *a = ag_arena_new(0);
    struct ag_oidc_meta *m;
    cr_assert_eq(ag_discovery_fetch(a, "http://127.0.0.1:1/realms/x", &o, &m, &err), AG_EUPSTREAM);
    cr_assert(strstr(err.msg, "/realms/x/.well-known/openid-configuration"), "%s", err.msg);
    ag_arena_free(a);
    ag_buf_release(&b, 0);
}
