/* Bearer authentication and the allow/deny policy; see gate.h. */
#include "proxy/decide/gate.h"

#include <string.h>
#include <time.h>

#include "auth/jose/keycache.h"
#include "auth/jose/token_cache.h"
#include "core/arena.h"
#include "core/buf.h"
#include "proxy/runtime.h"

void ag_gate_check(struct ag_runtime *rt, struct ag_token_cache *tc, struct ag_arena *a,
                   const struct ag_authz *z, bool may_block, struct ag_gate_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!z->bearer) {
        out->decision = AG_DECISION_NO_CREDENTIALS;
        out->why = z->n > 0 ? "Authorization is not a Bearer token" : "no credentials";
        return;
    }
    const char *tok = z->tok;
    size_t len = z->len;
    if (len == 0) {
        out->decision = AG_DECISION_NO_CREDENTIALS;
        out->why = "empty Bearer token";
        return;
    }
    struct ag_keycache *kc = rt->keys->kc;
    uint64_t gen = ag_keycache_generation(kc);
    struct ag_jwt *jwt = NULL;
    if (!ag_token_cache_get(tc, a, tok, len, (int64_t)time(NULL), gen, &jwt)) {
        struct ag_err err = {0};
        enum ag_rc rc = may_block
                            ? ag_keycache_verify(kc, a, &rt->policy, tok, len, &jwt, &err)
                            : ag_keycache_verify_nowait(kc, a, &rt->policy, tok, len, &jwt, &err);
        if (rc == AG_EAGAIN) {
            out->again = true;
            out->why = "needs a key set re-fetch";
            return;
        }
        if (rc != AG_OK) {
            out->decision = rc == AG_EUPSTREAM ? AG_DECISION_ERROR : AG_DECISION_INVALID_TOKEN;
            out->why = ag_arena_printf(a, "token rejected (%s): %s", ag_rc_name(rc), err.msg);
            return;
        }
        ag_token_cache_put(tc, tok, len, jwt, gen);
    }
    struct ag_err err = {0};
    struct ag_identity *id = NULL;
    if (ag_rolemap_decide(a, rt->rolemap, jwt->claims, &id, &err) != AG_OK) {
        out->decision = AG_DECISION_INVALID_TOKEN;
        out->why = ag_arena_printf(a, "claims rejected: %s", err.msg);
        return;
    }
    out->id = id;
    if (!id->allowed) {
        out->decision = AG_DECISION_DENY;
        out->why = id->deny_reason ? id->deny_reason : "denied by policy";
        return;
    }
    out->decision = AG_DECISION_ALLOW;
    out->why = "bearer token";
    out->exp = jwt->exp;
}

static const char *ag_gate_json(struct ag_arena *a, const char *error, const char *desc,
                                const struct ag_identity *id)
{
    struct ag_buf b;
    ag_buf_init(&b, 64 * 1024);
    enum ag_rc rc = ag_buf_puts(&b, "{\"error\":");
    if (rc == AG_OK)
        rc = ag_buf_append_json_string(&b, error, strlen(error));
    if (rc == AG_OK)
        rc = ag_buf_puts(&b, ",\"error_description\":");
    if (rc == AG_OK)
        rc = ag_buf_append_json_string(&b, desc, strlen(desc));
    if (rc == AG_OK && id) {
        rc = ag_buf_puts(&b, ",\"user\":");
        if (rc == AG_OK)
            rc = ag_buf_append_json_string(&b, id->username, strlen(id->username));
    }
    if (rc == AG_OK)
        rc = ag_buf_puts(&b, "}\n");
    const char *s = rc == AG_OK ? ag_arena_strdup(a, b.data) : "{\"error\":\"internal\"}\n";
    ag_buf_release(&b, 0);
    return s;
}

static const char *ag_gate_forbidden_html(struct ag_arena *a, const struct ag_runtime *rt,
                                          const struct ag_identity *id)
{
    struct ag_buf b;
    ag_buf_init(&b, 256 * 1024);
    enum ag_rc rc =
        ag_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                        "<title>Access denied</title></head><body>\n"
                        "<h1>Access denied</h1>\n<p>You are signed in as <strong>");
    if (rc == AG_OK)
        rc = ag_buf_append_html(&b, id->username);
    if (rc == AG_OK)
        rc = ag_buf_puts(&b, "</strong>, but none of your roles grants access to Airflow.</p>\n"
                             "<p>Your roles: ");
    for (size_t i = 0; rc == AG_OK && i < id->idp_roles.n; i++) {
        rc = ag_buf_puts(&b, i ? ", <code>" : "<code>");
        if (rc == AG_OK)
            rc = ag_buf_append_html(&b, id->idp_roles.items[i]);
        if (rc == AG_OK)
            rc = ag_buf_puts(&b, "</code>");
    }
    if (rc == AG_OK && id->idp_roles.n == 0)
        rc = ag_buf_puts(&b, "<em>none</em>");
    if (rc == AG_OK)
        rc = ag_buf_puts(&b, ".</p>\n<p>Any of these roles would grant access:</p>\n<ul>\n");
    const struct ag_config *c = rt->cfg;
    for (size_t i = 0; rc == AG_OK && i < c->roles.n_rules; i++) {
        rc = ag_buf_puts(&b, "<li><code>");
        if (rc == AG_OK)
            rc = ag_buf_append_html(&b, c->roles.rules[i].idp_role);
        if (rc == AG_OK)
            rc = ag_buf_puts(&b, "</code> (Airflow ");
        for (size_t k = 0; rc == AG_OK && k < c->roles.rules[i].airflow_roles.n; k++) {
            if (k)
                rc = ag_buf_puts(&b, ", ");
            if (rc == AG_OK)
                rc = ag_buf_append_html(&b, c->roles.rules[i].airflow_roles.items[k]);
        }
        if (rc == AG_OK)
            rc = ag_buf_puts(&b, ")</li>\n");
    }
    if (rc == AG_OK)
        rc = ag_buf_puts(&b, "</ul>\n<p>Ask your Keycloak administrator for one of them.</p>\n"
                             "</body></html>\n");
    const char *s = rc == AG_OK ? ag_arena_strdup(a, b.data) : "<h1>Access denied</h1>\n";
    ag_buf_release(&b, 0);
    return s;
}

void ag_gate_refusal(struct ag_runtime *rt, struct ag_arena *a, const struct ag_http_request *req,
                     const struct ag_gate_result *g, struct ag_http_response *resp)
{
    const char *body;
    switch (g->decision) {
    case AG_DECISION_DENY:
        if (ag_http_is_navigation(req)) {
            body = ag_gate_forbidden_html(a, rt, g->id);
            ag_http_response_set(a, resp, 403, "text/html; charset=utf-8", body, strlen(body));
            /* as on the login pages: the page shows IdP-supplied names, never runs anything */
            ag_http_response_add_header(a, resp, "Content-Security-Policy",
                                        "default-src 'none'; style-src 'unsafe-inline'; "
                                        "frame-ancestors 'none'; form-action 'none'");
        } else {
            body = ag_gate_json(a, "forbidden", "no Airflow role is granted to this user", g->id);
            ag_http_response_set(a, resp, 403, "application/json", body, strlen(body));
        }
        return;
    case AG_DECISION_ERROR:
        body = ag_gate_json(a, "temporarily_unavailable",
                            "the identity provider's signing keys are not available", NULL);
        ag_http_response_set(a, resp, 503, "application/json", body, strlen(body));
        ag_http_response_add_header(a, resp, "Retry-After", "5");
        return;
    case AG_DECISION_INVALID_TOKEN:
        body = ag_gate_json(a, "invalid_token", "the access token is not valid", NULL);
        ag_http_response_set(a, resp, 401, "application/json", body, strlen(body));
        ag_http_response_add_header(a, resp, "WWW-Authenticate",
                                    "Bearer realm=\"airgate\", error=\"invalid_token\", "
                                    "error_description=\"the access token is not valid\"");
        return;
    default:
        body = ag_gate_json(a, "unauthorized", "authentication required", NULL);
        ag_http_response_set(a, resp, 401, "application/json", body, strlen(body));
        ag_http_response_add_header(a, resp, "WWW-Authenticate", "Bearer realm=\"airgate\"");
        return;
    }
}
