/* Tokens -> session, the per-request session check and the single-flight refresh; see login.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "auth/login/login_int.h"
#include "auth/idp/oidc_client.h"
#include "auth/login/pages.h"
#include "auth/login/session_int.h"
#include "core/b64url.h"
#include "core/json.h"
#include "core/log.h"
#include "core/secret.h"

static void ag_login_json_decref(void *p)
{
    ag_json_decref(p);
}

static bool ag_login_is_jwt(const char *t)
{
    const char *d1 = strchr(t, '.');
    return d1 && strchr(d1 + 1, '.') != NULL;
}

static const char *ag_login_claim_str(const ag_json *claims, const char *key)
{
    const ag_json *v = ag_json_get(claims, key);
    return ag_json_is_string(v) ? ag_json_str(v) : NULL;
}

/* The ID token checks beyond ag_jwt_verify (OIDC Core 3.1.3.7): azp, nonce, iat, sub. */
static enum ag_rc ag_login_check_id_token(const struct ag_login *l, const struct ag_jwt *idt,
                                          const char *nonce, long long now, struct ag_err *err)
{
    const ag_json *c = idt->claims;
    const char *azp = ag_login_claim_str(c, "azp");
    if (ag_json_get(c, "azp") && (!azp || strcmp(azp, l->cfg->oidc.client_id) != 0))
        return ag_err_set(err, AG_EINVAL, "ID token azp is not this client");
    const ag_json *aud = ag_json_get(c, "aud");
    if (ag_json_is_array(aud) && ag_json_array_size(aud) > 1 && !azp)
        return ag_err_set(err, AG_EINVAL, "ID token with several audiences lacks azp");
    const ag_json *iat = ag_json_get(c, "iat");
    if (!ag_json_is_integer(iat) && !ag_json_is_real(iat))
        return ag_err_set(err, AG_EINVAL, "ID token has no iat");
    double iatv = ag_json_number(iat);
    if (iatv > (double)(now + l->cfg->oidc.leeway_s))
        return ag_err_set(err, AG_EEXPIRED, "ID token issued in the future");
    if (!ag_login_claim_str(c, "sub"))
        return ag_err_set(err, AG_EINVAL, "ID token has no sub");
    if (nonce) {
        const char *got = ag_login_claim_str(c, "nonce");
        if (!got || !ag_secret_equal(got, strlen(got), nonce, strlen(nonce)))
            return ag_err_set(err, AG_EDENIED, "ID token nonce does not match the login");
    }
    return AG_OK;
}

/* 128 random bits, base64url: names the session for revocation */
static const char *ag_login_new_session_id(struct ag_arena *a)
{
    uint8_t raw[16];
    struct ag_err err = {0};
    if (ag_random_bytes(raw, sizeof(raw), &err) != AG_OK)
        abort(); /* no randomness: nothing about sessions can be trusted */
    return ag_b64url_encode_arena(a, raw, sizeof(raw));
}

static void ag_login_strlist_copy(struct ag_arena *a, struct ag_strlist *dst,
                                  const struct ag_strlist *src)
{
    dst->n = src->n;
    dst->items = ag_arena_calloc(a, src->n + 1, sizeof(char *));
    for (size_t i = 0; i < src->n; i++)
        dst->items[i] = ag_arena_strdup(a, src->items[i]);
}

enum ag_rc ag_login_session_from_tokens(struct ag_login *l, struct ag_arena *a,
                                        const char *id_token, const char *access_token,
                                        const char *refresh_token, long long expires_in,
                                        long long refresh_expires_in, const char *nonce,
                                        const struct ag_session *prev, long long now,
                                        struct ag_session **out, struct ag_err *err)
{
    struct ag_jwt_policy idp = l->id_policy, atp = l->access_policy;
    idp.now = atp.now = now;
    struct ag_jwt *idt = NULL, *at = NULL;
    enum ag_rc rc;
    if (!id_token && !prev)
        return ag_err_set(err, AG_EINVAL, "token answer has no id_token");
    if (id_token) {
        /* An encrypted ID token is unwrapped, then its nested JWS verified as any other. The
         * session keeps the signed token: it is what id_token_hint must carry (RP-Initiated
         * Logout 1.0, section 2). Without a key, a JWE fails verification as it always has. */
        size_t n = strlen(id_token);
        if (l->dec && ag_jwe_is_compact(id_token, n)) {
            rc = ag_jwe_decrypt(a, l->dec, id_token, n, idp.max_token_bytes, &id_token, &n, err);
            if (rc != AG_OK) {
                ag_err_prefix(err, "ID token");
                return rc;
            }
        }
        rc = l->hooks.verify(l->hooks.ctx, a, &idp, id_token, n, &idt, err);
        if (rc != AG_OK) {
            ag_err_prefix(err, "ID token");
            return rc;
        }
        rc = ag_login_check_id_token(l, idt, prev ? NULL : nonce, now, err);
        if (rc != AG_OK)
            return rc;
    }
    /* Keycloak puts resource_access in the access token: verify it too when it is a JWT. */
    if (access_token && ag_login_is_jwt(access_token)) {
        rc = l->hooks.verify(l->hooks.ctx, a, &atp, access_token, strlen(access_token), &at, err);
        if (rc != AG_OK) {
            ag_err_prefix(err, "access token");
            return rc;
        }
    }
    const ag_json *primary = at ? at->claims : (idt ? idt->claims : NULL);
    if (!primary)
        return ag_err_set(err, AG_EINVAL, "token answer has neither an ID token nor a JWT");
    ag_json *claims = ag_json_deep_copy(primary);
    if (!claims)
        abort();
    ag_arena_cleanup_add(a, ag_login_json_decref, claims);
    if (at && idt) {
        const char *s1 = ag_login_claim_str(at->claims, "sub");
        const char *s2 = ag_login_claim_str(idt->claims, "sub");
        if (s1 && s2 && strcmp(s1, s2) != 0)
            return ag_err_set(err, AG_EINVAL, "access and ID token are about different subjects");
        ag_json_update(claims, idt->claims, true);
    }
    const char *sub = ag_login_claim_str(claims, "sub");
    if (prev && prev->subject && (!sub || strcmp(sub, prev->subject) != 0))
        return ag_err_set(err, AG_EINVAL, "refreshed tokens name another subject");
    struct ag_identity *id = NULL;
    rc = ag_rolemap_decide(a, l->rm, claims, &id, err);
    if (rc != AG_OK)
        return rc;
    struct ag_session *s = ag_arena_calloc(a, 1, sizeof(*s));
    s->session_id = prev && prev->session_id ? prev->session_id : ag_login_new_session_id(a);
    s->sid = idt && ag_login_claim_str(idt->claims, "sid")
                 ? ag_arena_strdup(a, ag_login_claim_str(idt->claims, "sid"))
                 : (prev ? prev->sid : NULL);
    s->issuer = ag_arena_strdup(a, ag_login_claim_str(claims, "iss"));
    s->subject = id->subject;
    s->username = id->username;
    s->email = id->email;
    s->first_name = id->first_name;
    s->last_name = id->last_name;
    ag_login_strlist_copy(a, &s->idp_roles, &id->idp_roles);
    ag_login_strlist_copy(a, &s->airflow_roles, &id->airflow_roles);
    s->allowed = id->allowed;
    s->id_token = id_token ? id_token : (prev ? prev->id_token : NULL);
    s->refresh_token = refresh_token ? refresh_token : (prev ? prev->refresh_token : NULL);
    if (at && at->exp)
        s->access_expires_at = at->exp;
    else if (expires_in > 0)
        s->access_expires_at = now + expires_in;
    else
        s->access_expires_at = idt ? idt->exp : now + 300;
    s->refresh_expires_at = refresh_expires_in > 0 ? now + refresh_expires_in : 0;
    s->created_at = prev ? prev->created_at : now;
    s->last_seen = now;
    *out = s;
    return AG_OK;
}

struct ag_identity *ag_login_identity(struct ag_arena *a, const struct ag_session *s)
{
    struct ag_identity *id = ag_arena_calloc(a, 1, sizeof(*id));
    id->subject = s->subject;
    id->username = s->username;
    id->username_claim = "preferred_username";
    id->email = s->email;
    id->first_name = s->first_name;
    id->last_name = s->last_name;
    id->idp_roles = s->idp_roles;
    id->airflow_roles = s->airflow_roles;
    id->allowed = s->allowed;
    id->deny_reason = s->allowed ? NULL : "no Airflow role is granted to this user";
    return id;
}

/* ---- the per-request check ---- */

static void ag_login_deny(struct ag_login *l, struct ag_arena *a, const struct ag_http_request *req,
                          const struct ag_session *s, struct ag_http_response *resp)
{
    if (ag_http_is_navigation(req))
        ag_page_forbidden(a, resp, s->username, &s->idp_roles, &l->granting, "/oauth2/logout");
    else
        ag_page_json_error(a, resp, 403, "forbidden", "no Airflow role is granted to this user",
                           s->username);
}

void ag_login_session_check(struct ag_login *l, struct ag_arena *a,
                            const struct ag_http_request *req, struct ag_http_response *resp,
                            struct ag_login_result *out)
{
    ag_login_session_check_ex(l, a, req, resp, false, out);
}

void ag_login_session_check_ex(struct ag_login *l, struct ag_arena *a,
                               const struct ag_http_request *req, struct ag_http_response *resp,
                               bool may_park, struct ag_login_result *out)
{
    memset(out, 0, sizeof(*out));
    long long now = ag_login_now(l);
    struct ag_session *s = NULL;
    struct ag_err err = {0};
    enum ag_rc rc = ag_session_cookie_open(a, &l->session_ctx, req, now, &s, &err);
    if (rc != AG_OK) {
        ag_log(AG_LOG_INFO, NULL, "session: cookie rejected (%s): %s", ag_rc_name(rc), err.msg);
        ag_session_cookie_clear(a, &l->session_ctx, req, resp);
        out->why = "session cookie rejected";
        return;
    }
    if (!s) {
        out->why = "no session";
        return;
    }
    struct ag_log_ctx lc = {.user = s->username};
    if (ag_state_deny_when_down(l->state) && !ag_state_up(l->state)) {
        out->verdict = AG_LOGIN_DENY;
        out->why = "shared state unavailable (state.on_unavailable: deny)";
        ag_page_json_error(a, resp, 503, "unavailable",
                           "sign-in state is unavailable; try again shortly", s->username);
        return;
    }
    if (ag_state_revoked(l->state, s->session_id, s->sid, s->subject, s->created_at, now)) {
        ag_log(AG_LOG_INFO, &lc, "session: refused: signed out");
        ag_session_cookie_clear(a, &l->session_ctx, req, resp);
        out->why = "session ended: signed out";
        return;
    }
    long before = l->cfg->session.refresh_before_s > 0 ? l->cfg->session.refresh_before_s : 0;
    bool due = s->access_expires_at > 0 && now >= s->access_expires_at - before;
    bool expired = s->access_expires_at > 0 && now >= s->access_expires_at;
    bool dirty = false;
    if (due && s->refresh_token) {
        struct ag_session *fresh = NULL;
        /* still valid: never wait (the refresh runs in the background); expired: wait */
        enum ag_refresh_how how =
            !expired ? AG_REFRESH_BACKGROUND : (may_park ? AG_REFRESH_PARK : AG_REFRESH_WAIT);
        rc = ag_login_refresh(l, a, s, now, how, out->wait_key, &fresh, &err);
        if (rc == AG_EAGAIN && expired) {
            out->verdict = AG_LOGIN_WAIT;
            out->why = "waiting for the refresh of an expired access token";
            return;
        }
        if (rc == AG_EAGAIN) {
            /* refreshing in the background: this request goes on with the current tokens */
        } else if (rc == AG_OK && fresh) {
            s = fresh;
            dirty = true;
            out->refreshed = true;
            ag_log(AG_LOG_INFO, &lc, "session: tokens refreshed (%zu Airflow roles)",
                   s->airflow_roles.n);
        } else if ((rc == AG_EUPSTREAM || rc == AG_ETIMEOUT) && !expired) {
            /* the IdP is unreachable: keep serving while the access token is valid (the
             * refresh thread logged it once) */
            ag_log(AG_LOG_DEBUG, &lc, "session: refresh postponed: %s", err.msg);
        } else {
            ag_log(AG_LOG_INFO, &lc, "session: refresh failed (%s): %s", ag_rc_name(rc), err.msg);
            ag_session_cookie_clear(a, &l->session_ctx, req, resp);
            out->why = "session ended: refresh failed";
            return;
        }
    } else if (expired) {
        ag_session_cookie_clear(a, &l->session_ctx, req, resp);
        out->why = "session ended: tokens expired and no refresh token";
        return;
    }
    if (!s->session_id) { /* a cookie from before session ids: give it one */
        s->session_id = ag_login_new_session_id(a);
        dirty = true;
    }
    long idle = l->session_ctx.idle_timeout_s;
    if (!dirty && idle > 0 && now - s->last_seen >= (idle / 4 > 30 ? idle / 4 : 30)) {
        s->last_seen = now;
        dirty = true;
    }
    if (dirty && ag_session_cookie_set(a, &l->session_ctx, s, req, now, resp, &err) != AG_OK)
        ag_log(AG_LOG_WARN, &lc, "session: cannot renew cookie: %s", err.msg);
    out->session = s;
    out->id = ag_login_identity(a, s);
    if (!s->allowed) {
        out->verdict = AG_LOGIN_DENY;
        out->why = "signed in without an Airflow role";
        ag_login_deny(l, a, req, s, resp);
        return;
    }
    out->verdict = AG_LOGIN_ALLOW;
    out->why = out->refreshed ? "session (refreshed)" : "session";
}

/* ---- reusing a session decision ---- */

struct ag_login_pin {
    char *session_id, *sid, *subject;
    long long created_at, last_seen, access_expires_at;
};

bool ag_login_session_key(struct ag_login *l, struct ag_arena *a, const struct ag_http_request *req,
                          const char **key, size_t *len)
{
    return ag_session_cookie_key(a, &l->session_ctx, req, key, len);
}

static char *ag_login_pin_dup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* The checks of ag_login_session_check (and of ag_session_cookie_open's times) that depend on
 * the clock or on revocations, all of which must pass for the same ALLOW without side effects. */
static bool ag_login_pin_check(struct ag_login *l, const struct ag_login_pin *p, long long now)
{
    const struct ag_seal_ctx *ctx = &l->session_ctx;
    if (p->created_at <= 0 || p->created_at > now + AG_SESSION_MAX_SKEW_S ||
        p->created_at + ctx->lifetime_s - now <= 0)
        return false;
    long idle = ctx->idle_timeout_s;
    if (idle > 0 &&
        (p->last_seen + idle <= now || now - p->last_seen >= (idle / 4 > 30 ? idle / 4 : 30)))
        return false; /* idle timeout, or the cookie's last_seen is due for renewal */
    long before = l->cfg->session.refresh_before_s > 0 ? l->cfg->session.refresh_before_s : 0;
    if (p->access_expires_at > 0 && now >= p->access_expires_at - before)
        return false; /* refresh due (or expired) */
    if (ag_state_deny_when_down(l->state) && !ag_state_up(l->state))
        return false;
    return !ag_state_revoked(l->state, p->session_id, p->sid, p->subject, p->created_at, now);
}

struct ag_login_pin *ag_login_pin_new(struct ag_login *l, const struct ag_session *s)
{
    if (!s || !s->allowed || !s->session_id)
        return NULL;
    struct ag_login_pin *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    p->session_id = ag_login_pin_dup(s->session_id);
    p->sid = ag_login_pin_dup(s->sid);
    p->subject = ag_login_pin_dup(s->subject);
    p->created_at = s->created_at;
    p->last_seen = s->last_seen;
    p->access_expires_at = s->access_expires_at;
    if (!ag_login_pin_check(l, p, ag_login_now(l))) {
        ag_login_pin_free(p);
        return NULL;
    }
    return p;
}

void ag_login_pin_free(void *pin)
{
    struct ag_login_pin *p = pin;
    if (!p)
        return;
    free(p->session_id);
    free(p->sid);
    free(p->subject);
    free(p);
}

bool ag_login_pin_valid(struct ag_login *l, const struct ag_login_pin *pin)
{
    return pin && ag_login_pin_check(l, pin, ag_login_now(l));
}
