#include "test_login_fake.h"

#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/b64url.h"

static char *b64_bn(EVP_PKEY *k, const char *name)
{
    BIGNUM *bn = NULL;
    cr_assert(EVP_PKEY_get_bn_param(k, name, &bn) == 1);
    unsigned char buf[600];
    int n = BN_bn2bin(bn, buf);
    BN_free(bn);
    char *out = malloc(1000);
    ag_b64url_encode(buf, (size_t)n, out, 1000);
    return out;
}

char *fake_sign(struct fake_idp *f, const char *claims_json)
{
    const char *hdr = "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}";
    size_t cap = strlen(claims_json) * 2 + 1200;
    char *tok = malloc(cap);
    size_t o = ag_b64url_encode((const uint8_t *)hdr, strlen(hdr), tok, cap);
    tok[o++] = '.';
    o += ag_b64url_encode((const uint8_t *)claims_json, strlen(claims_json), tok + o, cap - o);
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cr_assert(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, f->key) == 1);
    cr_assert(EVP_DigestSign(md, sig, &siglen, (const unsigned char *)tok, o) == 1);
    EVP_MD_CTX_free(md);
    if (f->wrong_sig)
        sig[10] ^= 1;
    tok[o++] = '.';
    o += ag_b64url_encode(sig, siglen, tok + o, cap - o);
    return tok;
}

static enum ag_rc fake_verify(void *ctx, struct ag_arena *a, const struct ag_jwt_policy *p,
                              const char *token, size_t len, struct ag_jwt **out,
                              struct ag_err *err)
{
    struct world *w = ctx;
    return ag_jwt_verify(a, w->idp.ks, p, token, len, out, err);
}

static const struct ag_oidc_meta *fake_meta(void *ctx)
{
    struct world *w = ctx;
    return w->idp.meta.issuer ? &w->idp.meta : NULL;
}

static bool fake_reachable(void *ctx)
{
    struct world *w = ctx;
    return w->idp.reachable;
}

static long long fake_now(void *ctx)
{
    struct world *w = ctx;
    return w->idp.now;
}

static const char *form_get(char *buf, size_t cap, const char *body, const char *key)
{
    size_t kl = strlen(key);
    const char *p = body;
    while (p && *p) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            const char *v = p + kl + 1;
            size_t o = 0;
            while (*v && *v != '&' && o + 1 < cap) {
                if (*v == '%' && v[1] && v[2]) {
                    char hex[3] = {v[1], v[2], 0};
                    buf[o++] = (char)strtol(hex, NULL, 16);
                    v += 3;
                } else {
                    buf[o++] = *v == '+' ? ' ' : *v;
                    v++;
                }
            }
            buf[o] = '\0';
            return buf;
        }
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return NULL;
}

static char *fake_tokens(struct fake_idp *f, bool with_nonce)
{
    char roles_json[512] = "";
    size_t o = 0;
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", f->roles);
    for (char *r = tmp, *next; r && *r; r = next) {
        next = strchr(r, ',');
        if (next)
            *next++ = '\0';
        o += (size_t)snprintf(roles_json + o, sizeof(roles_json) - o, "%s\"%s\"", o ? "," : "", r);
    }
    char at_claims[2048], id_claims[2048];
    snprintf(at_claims, sizeof(at_claims),
             "{\"iss\":\"%s\",\"sub\":\"uuid-%s\",\"aud\":\"%s\",\"azp\":\"airflow\",\"exp\":%lld,"
             "\"iat\":%lld,\"typ\":\"Bearer\",\"preferred_username\":\"%s\",\"email\":\"%s@"
             "example.com\",\"given_name\":\"Given\",\"resource_access\":{\"airflow\":{\"roles\":["
             "%s]}}}",
             FAKE_ISS, f->user, "account", f->now + f->access_ttl, f->now, f->user, f->user,
             roles_json);
    snprintf(id_claims, sizeof(id_claims),
             "{\"iss\":\"%s\",\"sub\":\"uuid-%s\",\"aud\":\"%s\",\"azp\":\"airflow\","
             "\"exp\":%lld,\"iat\":%lld,\"typ\":\"ID\",%s%s%s\"preferred_username\":\"%s\","
             "\"family_name\":\"Family\"}",
             FAKE_ISS, f->user, f->wrong_aud ? "someone-else" : "airflow", f->now + f->access_ttl,
             f->now, with_nonce ? "\"nonce\":\"" : "",
             with_nonce ? (f->wrong_nonce ? "not-the-nonce" : f->nonce) : "",
             with_nonce ? "\"," : "", f->user);
    char *at = f->opaque_access ? strdup("opaque-access-token") : fake_sign(f, at_claims);
    char *idt = (!with_nonce && f->no_id_token_on_refresh) ? strdup("") : fake_sign(f, id_claims);
    f->refresh_gen++;
    snprintf(f->refresh, sizeof(f->refresh), "rt-%s-%d", f->user, f->refresh_gen);
    size_t cap = strlen(at) + strlen(idt) + 512;
    char *json = malloc(cap);
    snprintf(json, cap,
             "{\"access_token\":\"%s\",%s%s%s\"refresh_token\":\"%s\","
             "\"token_type\":\"Bearer\",\"expires_in\":%ld,\"refresh_expires_in\":1800}",
             at, *idt ? "\"id_token\":\"" : "", idt, *idt ? "\"," : "", f->refresh, f->access_ttl);
    free(at);
    free(idt);
    return json;
}

static enum ag_rc fake_post(void *ctx, const char *url, const char *authorization, const char *body,
                            struct ag_buf *out, long *status, struct ag_err *err)
{
    struct world *w = ctx;
    struct fake_idp *f = &w->idp;
    pthread_mutex_lock(&f->mu);
    f->posts++;
    snprintf(f->last_authz, sizeof(f->last_authz), "%s", authorization ? authorization : "");
    snprintf(f->last_body, sizeof(f->last_body), "%s", body);
    if (f->delay_ms) {
        struct timespec ts = {0, f->delay_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    char *answer = NULL;
    *status = 400;
    cr_assert_str_eq(url, "https://idp.test/realms/demo/protocol/openid-connect/token");
    if (f->down) {
        pthread_mutex_unlock(&f->mu);
        return ag_err_set(err, AG_EUPSTREAM, "connection refused (fake)");
    }
    char v1[1024], v2[1024];
    const char *grant = form_get(v1, sizeof(v1), body, "grant_type");
    /* Client authentication as configured. */
    bool client_ok =
        (authorization && strcmp(authorization, "Basic YWlyZmxvdzpzM2NyZXQlMkYlMkI=") == 0) ||
        (!authorization && form_get(v2, sizeof(v2), body, "client_secret") &&
         strcmp(v2, "s3cret/+") == 0);
    if (!client_ok) {
        answer = strdup("{\"error\":\"invalid_client\"}");
        *status = 401;
    } else if (grant && strcmp(grant, "authorization_code") == 0) {
        const char *code = form_get(v1, sizeof(v1), body, "code");
        bool ok = code && f->code[0] && strcmp(code, f->code) == 0 && !f->code_used;
        const char *ver = form_get(v2, sizeof(v2), body, "code_verifier");
        if (ok && ver) {
            unsigned char d[32];
            char chal[64];
            SHA256((const unsigned char *)ver, strlen(ver), d);
            ag_b64url_encode(d, 32, chal, sizeof(chal));
            ok = strcmp(chal, f->challenge) == 0;
        } else {
            ok = false;
        }
        const char *ru = form_get(v2, sizeof(v2), body, "redirect_uri");
        ok = ok && ru && strcmp(ru, f->redirect_uri) == 0;
        if (ok) {
            f->code_used = true;
            answer = fake_tokens(f, true);
            *status = 200;
        } else {
            answer = strdup("{\"error\":\"invalid_grant\",\"error_description\":\"bad code\"}");
        }
    } else if (grant && strcmp(grant, "refresh_token") == 0) {
        f->refresh_posts++;
        const char *rt = form_get(v1, sizeof(v1), body, "refresh_token");
        if (!f->revoked && rt && strcmp(rt, f->refresh) == 0) {
            answer = fake_tokens(f, false);
            *status = 200;
        } else {
            f->revoked = true; /* reuse revokes the grant, as the OAuth BCP says */
            answer = strdup("{\"error\":\"invalid_grant\"}");
        }
    } else {
        answer = strdup("{\"error\":\"unsupported_grant_type\"}");
    }
    pthread_mutex_unlock(&f->mu);
    enum ag_rc rc = ag_buf_puts(out, answer);
    free(answer);
    return rc;
}

const char *resp_header(const struct ag_http_response *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static char *qparam(struct ag_arena *a, const char *url, const char *key)
{
    const char *q = strchr(url, '?');
    cr_assert_not_null(q);
    char buf[2048];
    const char *v = form_get(buf, sizeof(buf), q + 1, key);
    return v ? ag_arena_strdup(a, v) : NULL;
}

const char *fake_authorize(struct world *w, const char *location)
{
    struct fake_idp *f = &w->idp;
    cr_assert(strncmp(location, FAKE_ISS "/protocol/openid-connect/auth?", strlen(FAKE_ISS) + 30) ==
                  0,
              "%s", location);
    cr_assert_str_eq(qparam(w->a, location, "response_type"), "code");
    cr_assert_str_eq(qparam(w->a, location, "client_id"), "airflow");
    cr_assert_str_eq(qparam(w->a, location, "code_challenge_method"), "S256");
    snprintf(f->state, sizeof(f->state), "%s", qparam(w->a, location, "state"));
    snprintf(f->nonce, sizeof(f->nonce), "%s", qparam(w->a, location, "nonce"));
    snprintf(f->challenge, sizeof(f->challenge), "%s", qparam(w->a, location, "code_challenge"));
    snprintf(f->redirect_uri, sizeof(f->redirect_uri), "%s",
             qparam(w->a, location, "redirect_uri"));
    snprintf(f->scope, sizeof(f->scope), "%s", qparam(w->a, location, "scope"));
    static int counter;
    snprintf(f->code, sizeof(f->code), "code-%d", ++counter);
    f->code_used = false;
    return ag_arena_printf(w->a, "code=%s&state=%s", f->code, f->state);
}

static char *rules_roles_admin[] = {"Admin"};
static char *rules_roles_viewer[] = {"Viewer"};
static char *scopes[] = {"openid", "profile", "email"};
static char *claims[] = {"resource_access.airflow.roles"};
static char *algs[] = {"RS256"};

struct world *world_new(enum ag_client_auth auth)
{
    struct world *w = calloc(1, sizeof(*w));
    w->a = ag_arena_new(0);
    struct ag_config *c = &w->cfg;
    c->public_url = "https://airflow.example.com";
    c->public_https = true;
    c->redirect_uri = "https://airflow.example.com/oauth2/callback";
    c->oidc.issuer = FAKE_ISS;
    c->oidc.client_id = "airflow";
    c->oidc.client_secret.data = (unsigned char *)"s3cret/+";
    c->oidc.client_secret.len = 8;
    c->oidc.scopes = (struct ag_strlist){3, scopes};
    c->oidc.allowed_algs = (struct ag_strlist){1, algs};
    c->oidc.leeway_s = 60;
    c->oidc.http_timeout_ms = 2000;
    c->oidc.token_endpoint_auth = auth;
    c->session.cookie_name = "_airgate";
    c->session.cookie_secret.data = (unsigned char *)"0123456789abcdef0123456789abcdef-login";
    c->session.cookie_secret.len = strlen((const char *)c->session.cookie_secret.data);
    c->session.lifetime_s = 86400;
    c->session.refresh_before_s = 60;
    c->roles.claims = (struct ag_strlist){1, claims};
    static struct ag_role_rule rules[2];
    rules[0] = (struct ag_role_rule){"airflow_admin", {1, rules_roles_admin}};
    rules[1] = (struct ag_role_rule){"airflow_viewer", {1, rules_roles_viewer}};
    c->roles.n_rules = 2;
    c->roles.rules = rules;
    struct ag_err err = {0};
    cr_assert_eq(ag_rolemap_compile(w->a, c, &w->rm, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(ag_login_new(c, NULL, w->rm, &w->l, &err), AG_OK, "%s", err.msg);

    struct fake_idp *f = &w->idp;
    pthread_mutex_init(&f->mu, NULL);
    f->key = EVP_RSA_gen(2048);
    cr_assert_not_null(f->key);
    char *n = b64_bn(f->key, OSSL_PKEY_PARAM_RSA_N), *e = b64_bn(f->key, OSSL_PKEY_PARAM_RSA_E);
    char jwks[2048];
    snprintf(jwks, sizeof(jwks),
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"use\":\"sig\",\"alg\":\"RS256\","
             "\"n\":\"%s\",\"e\":\"%s\"}]}",
             n, e);
    free(n);
    free(e);
    cr_assert_eq(ag_jwks_parse(jwks, strlen(jwks), &f->ks, &err), AG_OK, "%s", err.msg);
    f->meta.issuer = FAKE_ISS;
    f->meta.authorization_endpoint = FAKE_ISS "/protocol/openid-connect/auth";
    f->meta.token_endpoint = FAKE_ISS "/protocol/openid-connect/token";
    f->meta.end_session_endpoint = FAKE_ISS "/protocol/openid-connect/logout";
    f->reachable = true;
    f->now = FAKE_NOW;
    f->access_ttl = 300;
    snprintf(f->user, sizeof(f->user), "admin");
    snprintf(f->roles, sizeof(f->roles), "airflow_admin");
    world_hook(w);
    return w;
}

void world_hook(struct world *w)
{
    struct ag_login_hooks h = {.ctx = w,
                               .post = fake_post,
                               .verify = fake_verify,
                               .meta = fake_meta,
                               .reachable = fake_reachable,
                               .now = fake_now};
    ag_login_set_hooks(w->l, &h);
}

void world_reload(struct world *w)
{
    ag_login_free(w->l);
    struct ag_err err = {0};
    cr_assert_eq(ag_login_new(&w->cfg, NULL, w->rm, &w->l, &err), AG_OK, "%s", err.msg);
    world_hook(w);
}

void world_free(struct world *w)
{
    ag_login_free(w->l);
    ag_jwks_unref(w->idp.ks);
    EVP_PKEY_free(w->idp.key);
    ag_arena_free(w->a);
    free(w);
}
