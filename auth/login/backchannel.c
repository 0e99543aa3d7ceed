/* OIDC Back-Channel Logout 1.0: the IdP POSTs a logout_token (a JWT signed like an ID token)
 * when a user's IdP session ends; every airgate session of that sid (or sub) ends, on every
 * replica when shared state is configured. */
#include <string.h>
#include <strings.h>

#include "auth/login/login_int.h"
#include "auth/login/pages.h"
#include "core/json.h"
#include "core/log.h"

#define AG_BCL_EVENT "http://schemas.openid.net/event/backchannel-logout"
#define AG_BCL_JTI_TTL_S 3600 /* a jti is remembered this long (Keycloak's tokens live minutes) */

static const char *ag_bcl_str(const ag_json *c, const char *k)
{
    const ag_json *v = ag_json_get(c, k);
    return ag_json_is_string(v) ? ag_json_str(v) : NULL;
}

static void ag_bcl_error(struct ag_arena *a, struct ag_http_response *resp, const char *why)
{
    ag_log(AG_LOG_WARN, NULL, "backchannel logout refused: %s", why);
    const char *body =
        ag_arena_printf(a, "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}\n", why);
    ag_http_response_set(a, resp, 400, "application/json", body, strlen(body));
    ag_http_response_add_header(a, resp, "Cache-Control", "no-store");
}

/* The checks beyond signature, iss, aud and exp (spec section 2.6). */
static const char *ag_bcl_check_claims(const struct ag_login *l, const ag_json *c, long long now)
{
    const ag_json *events = ag_json_get(c, "events");
    if (!ag_json_is_object(events) || !ag_json_is_object(ag_json_get(events, AG_BCL_EVENT)))
        return "logout_token has no back-channel logout event";
    if (ag_json_get(c, "nonce"))
        return "logout_token must not carry a nonce";
    const ag_json *iat = ag_json_get(c, "iat");
    if (!ag_json_is_integer(iat) && !ag_json_is_real(iat))
        return "logout_token has no iat";
    if (ag_json_number(iat) > (double)(now + l->cfg->oidc.leeway_s))
        return "logout_token issued in the future";
    if (!ag_bcl_str(c, "jti"))
        return "logout_token has no jti";
    if (!ag_bcl_str(c, "sid") && !ag_bcl_str(c, "sub"))
        return "logout_token names neither sid nor sub";
    return NULL;
}

void ag_login_backchannel_logout(struct ag_login *l, struct ag_arena *a,
                                 const struct ag_http_request *req, struct ag_http_response *resp)
{
    if (strcmp(req->method, "POST") != 0) {
        ag_http_response_set(
            a, resp, 405, "application/json",
            "{\"error\":\"invalid_request\",\"error_description\":\"POST only\"}\n", 59);
        ag_http_response_add_header(a, resp, "Allow", "POST");
        return;
    }
    const char *ct = ag_http_header_get(req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        ag_bcl_error(a, resp, "the body must be application/x-www-form-urlencoded");
        return;
    }
    /* the form body has the query string's syntax */
    struct ag_http_request form = {.query = req->body ? req->body : ""};
    const char *token = ag_http_query_get(a, &form, "logout_token");
    if (!token || !*token) {
        ag_bcl_error(a, resp, "no logout_token");
        return;
    }
    long long now = ag_login_now(l);
    struct ag_jwt_policy p = l->id_policy;
    p.now = now;
    struct ag_jwt *t = NULL;
    struct ag_err err = {0};
    if (l->hooks.verify(l->hooks.ctx, a, &p, token, strlen(token), &t, &err) != AG_OK) {
        ag_log(AG_LOG_WARN, NULL, "backchannel logout: %s", err.msg);
        ag_bcl_error(a, resp, "logout_token could not be verified");
        return;
    }
    const char *why = ag_bcl_check_claims(l, t->claims, now);
    if (why) {
        ag_bcl_error(a, resp, why);
        return;
    }
    enum ag_rc rc =
        ag_state_claim_once(l->state, "jti", ag_bcl_str(t->claims, "jti"), AG_BCL_JTI_TTL_S, &err);
    if (rc == AG_EDENIED) {
        ag_bcl_error(a, resp, "logout_token was used before (jti)");
        return;
    }
    if (rc != AG_OK) {
        ag_log(AG_LOG_WARN, NULL, "backchannel logout: shared state unavailable: %s", err.msg);
        ag_page_json_error(a, resp, 503, "unavailable", "shared state is unavailable", NULL);
        return;
    }
    const char *sid = ag_bcl_str(t->claims, "sid");
    const char *sub = ag_bcl_str(t->claims, "sub");
    long long until = now + l->session_ctx.lifetime_s + AG_SESSION_MAX_SKEW_S;
    /* sessions created after this moment (a new sign-in) are not affected */
    if (sid)
        ag_state_revoke(l->state, AG_REVOKE_SID, sid, now, until);
    else
        ag_state_revoke(l->state, AG_REVOKE_SUB, sub, now, until);
    ag_log(AG_LOG_INFO, NULL, "backchannel logout: sessions of this %s ended%s",
           sid ? "IdP session" : "user",
           ag_state_shared(l->state) ? " on every replica" : " (this replica)");
    ag_http_response_set(a, resp, 200, NULL, NULL, 0);
    ag_http_response_add_header(a, resp, "Cache-Control", "no-store");
}
