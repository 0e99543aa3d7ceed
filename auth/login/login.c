/* Login endpoints and the challenge; see login.h. Session check and refresh: login_session.c. */
#include "auth/login/login.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/jose/keycache.h"
#include "auth/login/login_int.h"
#include "auth/login/login_state.h"
#include "auth/idp/oidc_client.h"
#include "auth/login/pages.h"
#include "auth/login/redirect.h"
#include "core/log.h"
#include "core/secret.h"
#include "rolemap/render.h"

/* ---- default hooks: the real IdP ---- */

static enum ag_rc ag_login_default_post(void *ctx, const char *url, const char *authorization,
                                        const char *body, struct ag_buf *out, long *status,
                                        struct ag_err *err)
{
    const struct ag_login *l = ctx;
    struct ag_http_fetch_opts o = {.ca_file = l->cfg->oidc.ca_file,
                                   .timeout_ms = l->cfg->oidc.http_timeout_ms};
    return ag_oidc_http_post(url, authorization, body, &o, out, status, err);
}

static enum ag_rc ag_login_default_verify(void *ctx, struct ag_arena *a,
                                          const struct ag_jwt_policy *p, const char *token,
                                          size_t len, struct ag_jwt **out, struct ag_err *err)
{
    const struct ag_login *l = ctx;
    if (!l->kc)
        return ag_err_set(err, AG_EUPSTREAM, "no key cache");
    return ag_keycache_verify(l->kc, a, p, token, len, out, err);
}

static const struct ag_oidc_meta *ag_login_default_meta(void *ctx)
{
    const struct ag_login *l = ctx;
    return l->kc ? ag_keycache_meta(l->kc) : NULL;
}

/* Probes the discovery document, at most once per AG_REACH_CACHE_S; concurrent callers use the
 * last answer instead of piling up on a dead IdP. */
static bool ag_login_default_reachable(void *ctx)
{
    struct ag_login *l = ctx;
    long long now = (long long)time(NULL);
    if (ag_breaker_refusing(&l->breaker, ag_breaker_now_ms()))
        return false; /* the circuit is open: the IdP is not called, nor sent browsers to */
    pthread_mutex_lock(&l->lock);
    if (l->reach_probing || (l->reach_at && now - l->reach_at < AG_REACH_CACHE_S)) {
        bool ok = l->reach_at ? l->reach_ok : true;
        pthread_mutex_unlock(&l->lock);
        return ok;
    }
    l->reach_probing = true;
    pthread_mutex_unlock(&l->lock);
    if (!ag_breaker_allow(&l->breaker, ag_breaker_now_ms())) {
        pthread_mutex_lock(&l->lock);
        l->reach_probing = false;
        pthread_mutex_unlock(&l->lock);
        return false;
    }
    long t = l->cfg->oidc.http_timeout_ms > 0 && l->cfg->oidc.http_timeout_ms < 2000
                 ? l->cfg->oidc.http_timeout_ms
                 : 2000;
    struct ag_http_fetch_opts o = {
        .ca_file = l->cfg->oidc.ca_file, .connect_timeout_ms = t, .timeout_ms = t};
    char url[2048];
    snprintf(url, sizeof(url), "%s/.well-known/openid-configuration", l->cfg->oidc.issuer);
    struct ag_buf b;
    ag_buf_init(&b, 1024 * 1024);
    struct ag_err err;
    bool ok = ag_http_fetch_get(url, &o, &b, &err) == AG_OK;
    ag_buf_release(&b, 0);
    ag_breaker_report(&l->breaker, ok, ag_breaker_now_ms());
    if (!ok)
        ag_log(AG_LOG_WARN, NULL, "login: identity provider unreachable: %s", err.msg);
    pthread_mutex_lock(&l->lock);
    l->reach_probing = false;
    l->reach_ok = ok;
    l->reach_at = now;
    pthread_mutex_unlock(&l->lock);
    return ok;
}

static long long ag_login_default_now(void *ctx)
{
    (void)ctx;
    return (long long)time(NULL);
}

void ag_login_set_hooks(struct ag_login *l, const struct ag_login_hooks *h)
{
    if (h->ctx)
        l->hooks.ctx = h->ctx;
    if (h->post)
        l->hooks.post = h->post;
    if (h->verify)
        l->hooks.verify = h->verify;
    if (h->meta)
        l->hooks.meta = h->meta;
    if (h->reachable)
        l->hooks.reachable = h->reachable;
    if (h->now)
        l->hooks.now = h->now;
}

long long ag_login_now(struct ag_login *l)
{
    return l->hooks.now(l->hooks.ctx);
}

enum ag_rc ag_login_new(const struct ag_config *cfg, struct ag_keycache *kc,
                        const struct ag_rolemap *rm, struct ag_login **out, struct ag_err *err)
{
    struct ag_login *l = calloc(1, sizeof(*l));
    if (!l)
        abort();
    l->cfg = cfg;
    l->kc = kc;
    l->rm = rm;
    l->arena = ag_arena_new(0);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    ag_breaker_init(&l->breaker);
    l->hooks = (struct ag_login_hooks){.ctx = l,
                                       .post = ag_login_default_post,
                                       .verify = ag_login_default_verify,
                                       .meta = ag_login_default_meta,
                                       .reachable = ag_login_default_reachable,
                                       .now = ag_login_default_now};
    enum ag_rc rc = ag_seal_ctx_init(&l->session_ctx, cfg, AG_SEAL_SESSION, err);
    if (rc == AG_OK) {
        struct ag_state_opts so = {.hash_key = l->session_ctx.keys[0].key,
                                   .hash_key_len = sizeof(l->session_ctx.keys[0].key)};
        rc = ag_state_new(&so, &l->own_state, err);
        l->state = l->own_state;
    }
    if (rc == AG_OK)
        rc = ag_seal_ctx_init(&l->state_ctx, cfg, AG_SEAL_LOGIN_STATE, err);
    if (rc == AG_OK && (!cfg->oidc.issuer || !cfg->oidc.client_id || !cfg->redirect_uri))
        rc = ag_err_set(err, AG_ECONF, "login needs oidc.issuer, oidc.client_id and public_url");
    if (rc != AG_OK) {
        ag_login_free(l);
        return rc;
    }
    unsigned algs = 0, enc_algs = 0;
    rc = ag_jws_algs_from_names(cfg->oidc.allowed_algs.items, cfg->oidc.allowed_algs.n, &algs, err);
    if (rc == AG_OK)
        rc = ag_jwe_algs_from_names(cfg->oidc.allowed_enc_algs.items, cfg->oidc.allowed_enc_algs.n,
                                    &enc_algs, err);
    if (rc == AG_OK)
        rc = ag_jwe_keys_new(&cfg->oidc.decryption_key, enc_algs, &l->dec, err);
    if (rc != AG_OK) {
        ag_login_free(l);
        return rc;
    }
    ag_jwt_policy_init(&l->access_policy);
    l->access_policy.issuer = cfg->oidc.issuer;
    l->access_policy.audience = cfg->oidc.audience ? cfg->oidc.audience : cfg->oidc.client_id;
    l->access_policy.azp = cfg->oidc.client_id;
    l->access_policy.audiences = (const char *const *)cfg->oidc.audiences.items;
    l->access_policy.n_audiences = cfg->oidc.audiences.n;
    /* This access token comes from the token endpoint in answer to our own authenticated code
     * exchange, so azp == client id is enough here (Keycloak's default aud is "account"). The
     * strict aud rule is for bearer tokens a client presents (runtime.c). */
    l->access_policy.accept_azp = true;
    l->access_policy.allowed_algs = algs;
    l->access_policy.leeway_s = cfg->oidc.leeway_s;
    l->access_policy.max_token_bytes =
        cfg->oidc.max_token_bytes > 0 ? (size_t)cfg->oidc.max_token_bytes : 0;
    /* The ID token's audience is the client itself (OIDC Core 3.1.3.7 step 3). */
    l->id_policy = l->access_policy;
    l->id_policy.audience = cfg->oidc.client_id;
    l->id_policy.azp = NULL;
    l->id_policy.accept_azp = false;
    l->granting.items = ag_arena_calloc(l->arena, cfg->roles.n_rules + 1, sizeof(char *));
    for (size_t i = 0; i < cfg->roles.n_rules; i++)
        l->granting.items[l->granting.n++] = cfg->roles.rules[i].idp_role;
    rc = ag_login_refresh_start(l, err);
    if (rc != AG_OK) {
        ag_login_free(l);
        return rc;
    }
    *out = l;
    return AG_OK;
}

void ag_login_set_state(struct ag_login *l, struct ag_state *st)
{
    l->state = st ? st : l->own_state;
}

const struct ag_jwe_keys *ag_login_jwe_keys(const struct ag_login *l)
{
    return l->dec;
}

void ag_login_free(struct ag_login *l)
{
    if (!l)
        return;
    if (l->q_n > 0)
        ag_login_refresh_stop(l);
    ag_jwe_keys_free(l->dec);
    ag_state_free(l->own_state);
    for (size_t i = 0; i < AG_REFRESH_SLOTS; i++)
        ag_login_slot_reset(&l->slots[i]);
    ag_breaker_destroy(&l->breaker);
    ag_seal_ctx_wipe(&l->session_ctx);
    ag_seal_ctx_wipe(&l->state_ctx);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->cond);
    ag_arena_free(l->arena);
    free(l);
}

/* ---- /oauth2/start and the challenge ---- */

static const char *ag_login_start_path(struct ag_arena *a, const char *rd)
{
    return ag_arena_printf(a, "/oauth2/start?rd=%s",
                           ag_http_url_encode(a, ag_redirect_target(a, rd)));
}

static void ag_login_unavailable(struct ag_arena *a, const struct ag_http_request *req,
                                 const char *rd, struct ag_http_response *resp)
{
    if (ag_http_is_navigation(req) || strcmp(req->path, "/oauth2/start") == 0)
        ag_page_idp_unavailable(a, resp, ag_login_start_path(a, rd));
    else
        ag_page_json_error(a, resp, 503, "temporarily_unavailable",
                           "the identity provider cannot be reached", NULL);
}

/* 302 to the authorization endpoint with a fresh login state cookie. */
static void ag_login_begin(struct ag_login *l, struct ag_arena *a,
                           const struct ag_http_request *req, const char *rd,
                           struct ag_http_response *resp)
{
    const struct ag_oidc_meta *m = l->hooks.meta(l->hooks.ctx);
    if (!m || !m->authorization_endpoint || ag_breaker_refusing(&l->breaker, ag_breaker_now_ms()) ||
        !l->hooks.reachable(l->hooks.ctx)) {
        ag_log(AG_LOG_WARN, NULL, "login: cannot start, identity provider unavailable");
        ag_login_unavailable(a, req, rd, resp);
        return;
    }
    long long now = ag_login_now(l);
    struct ag_login_state *st = NULL;
    struct ag_err err = {0};
    if (ag_login_state_new(a, rd, now, &st, &err) != AG_OK ||
        ag_login_state_cookie_set(a, &l->state_ctx, st, req, now, resp, &err) != AG_OK) {
        ag_log(AG_LOG_ERROR, NULL, "login: cannot create login state: %s", err.msg);
        ag_page_json_error(a, resp, 500, "internal", "cannot start the login", NULL);
        return;
    }
    struct ag_buf scopes;
    ag_buf_init(&scopes, 4096);
    bool has_openid = false;
    for (size_t i = 0; i < l->cfg->oidc.scopes.n; i++) {
        if (strcmp(l->cfg->oidc.scopes.items[i], "openid") == 0)
            has_openid = true;
        if (ag_buf_printf(&scopes, "%s%s", scopes.len ? " " : "", l->cfg->oidc.scopes.items[i]) !=
            AG_OK)
            break;
    }
    const char *scope = has_openid ? ag_arena_strdup(a, scopes.data)
                                   : ag_arena_printf(a, "openid%s%s", scopes.len ? " " : "",
                                                     scopes.data ? scopes.data : "");
    ag_buf_release(&scopes, 0);
    const char *ep = m->authorization_endpoint;
    const char *loc = ag_arena_printf(
        a,
        "%s%sresponse_type=code&client_id=%s&redirect_uri=%s&scope=%s&state=%s&nonce=%s"
        "&code_challenge=%s&code_challenge_method=S256",
        ep, strchr(ep, '?') ? "&" : "?", ag_http_url_encode(a, l->cfg->oidc.client_id),
        ag_http_url_encode(a, l->cfg->redirect_uri), ag_http_url_encode(a, scope), st->state,
        st->nonce, ag_login_state_challenge(a, st->verifier));
    ag_http_response_set(a, resp, 302, NULL, NULL, 0);
    ag_http_response_add_header(a, resp, "Location", loc);
    ag_http_response_add_header(a, resp, "Cache-Control", "no-store");
}

void ag_login_challenge(struct ag_login *l, struct ag_arena *a, const struct ag_http_request *req,
                        struct ag_http_response *resp)
{
    if (!ag_http_is_navigation(req)) {
        ag_page_json_error(a, resp, 401, "unauthorized", "authentication required", NULL);
        return;
    }
    const char *rd =
        req->query && *req->query ? ag_arena_printf(a, "%s?%s", req->path, req->query) : req->path;
    ag_login_begin(l, a, req, rd, resp);
}

/* ---- /oauth2/callback ---- */

static const char *ag_login_failure_phrase(enum ag_rc rc)
{
    switch (rc) {
    case AG_EEXPIRED:
        return "the sign-in took too long";
    case AG_EDENIED:
    case AG_ECRYPTO:
        return "the sign-in answer did not match this browser's sign-in";
    default:
        return "no sign-in was in progress in this browser";
    }
}

static void ag_login_callback(struct ag_login *l, struct ag_arena *a,
                              const struct ag_http_request *req, struct ag_http_response *resp)
{
    long long now = ag_login_now(l);
    const char *error = ag_http_query_get(a, req, "error");
    const char *state = ag_http_query_get(a, req, "state");
    const char *code = ag_http_query_get(a, req, "code");
    struct ag_login_state *st = NULL;
    struct ag_err err = {0};
    if (error) {
        if (state &&
            ag_login_state_cookie_take(a, &l->state_ctx, req, state, now, resp, &st, &err) != AG_OK)
            st = NULL;
        ag_log(AG_LOG_WARN, NULL, "login: identity provider returned error %.64s", error);
        ag_page_idp_error(a, resp, error, ag_http_query_get(a, req, "error_description"),
                          ag_login_start_path(a, st ? st->rd : "/"));
        return;
    }
    if (!state || !code || !*code) {
        ag_page_login_failed(a, resp, "the answer from the identity provider had no code or state",
                             ag_login_start_path(a, "/"));
        return;
    }
    enum ag_rc rc = ag_login_state_cookie_take(a, &l->state_ctx, req, state, now, resp, &st, &err);
    if (rc != AG_OK) {
        ag_log(AG_LOG_WARN, NULL, "login: callback rejected: %s", err.msg);
        ag_page_login_failed(a, resp, ag_login_failure_phrase(rc), ag_login_start_path(a, "/"));
        return;
    }
    rc = ag_state_claim_once(l->state, "state", st->state, AG_LOGIN_STATE_TTL_S, &err);
    if (rc == AG_EDENIED) {
        ag_log(AG_LOG_WARN, NULL, "login: callback rejected: %s (a replayed sign-in answer)",
               err.msg);
        ag_page_login_failed(a, resp, "this sign-in answer was already used",
                             ag_login_start_path(a, st->rd));
        return;
    }
    if (rc != AG_OK) {
        ag_log(AG_LOG_WARN, NULL, "login: shared state unavailable: %s", err.msg);
        ag_login_unavailable(a, req, st->rd, resp);
        return;
    }
    const struct ag_oidc_meta *m = l->hooks.meta(l->hooks.ctx);
    if (!m || !m->token_endpoint) {
        ag_login_unavailable(a, req, st->rd, resp);
        return;
    }
    struct ag_token_request treq;
    ag_oidc_code_request(a, l->cfg, code, st->verifier, &treq);
    struct ag_buf body;
    ag_buf_init(&body, AG_OIDC_TOKEN_MAX_BYTES);
    long status = 0;
    rc = ag_login_idp_post(l, m->token_endpoint, treq.authorization, treq.body, &body, &status,
                           &err);
    struct ag_token_response tr;
    if (rc == AG_OK)
        rc = ag_oidc_token_response_parse(a, status, body.data, body.len, &tr, &err);
    ag_buf_release(&body, 1);
    if (rc == AG_EUPSTREAM || rc == AG_ETIMEOUT) {
        ag_log(AG_LOG_WARN, NULL, "login: code exchange failed: %s", err.msg);
        ag_login_unavailable(a, req, st->rd, resp);
        return;
    }
    if (rc != AG_OK) {
        ag_log(AG_LOG_WARN, NULL, "login: code exchange refused: %s", err.msg);
        ag_page_login_failed(a, resp, "the identity provider did not accept the sign-in code",
                             ag_login_start_path(a, st->rd));
        return;
    }
    struct ag_session *s = NULL;
    rc = ag_login_session_from_tokens(l, a, tr.id_token, tr.access_token, tr.refresh_token,
                                      tr.expires_in, tr.refresh_expires_in, st->nonce, NULL, now,
                                      &s, &err);
    if (rc == AG_OK)
        rc = ag_session_cookie_set(a, &l->session_ctx, s, req, now, resp, &err);
    if (rc != AG_OK) {
        ag_log(AG_LOG_WARN, NULL, "login: tokens rejected: %s", err.msg);
        ag_page_login_failed(a, resp, "the identity provider's tokens could not be verified",
                             ag_login_start_path(a, st->rd));
        return;
    }
    struct ag_log_ctx lc = {.user = s->username};
    ag_log(AG_LOG_INFO, &lc, "login: signed in (%zu Airflow roles%s)", s->airflow_roles.n,
           s->allowed ? "" : ", denied");
    ag_http_response_set(a, resp, 302, NULL, NULL, 0);
    ag_http_response_add_header(a, resp, "Location", st->rd);
    ag_http_response_add_header(a, resp, "Cache-Control", "no-store");
}

/* ---- logout, userinfo ---- */

static void ag_login_logout(struct ag_login *l, struct ag_arena *a,
                            const struct ag_http_request *req, struct ag_http_response *resp)
{
    long long now = ag_login_now(l);
    struct ag_session *s = NULL;
    struct ag_err err = {0};
    if (ag_session_cookie_open(a, &l->session_ctx, req, now, &s, &err) != AG_OK)
        s = NULL;
    ag_session_cookie_clear(a, &l->session_ctx, req, resp);
    ag_login_state_cookie_clear_all(a, &l->state_ctx, req, resp);
    const struct ag_oidc_meta *m = l->hooks.meta(l->hooks.ctx);
    if (s) {
        struct ag_log_ctx lc = {.user = s->username};
        /* copies of the cookie (another tab, another replica) must not outlive the sign-out */
        if (s->session_id)
            ag_state_revoke(l->state, AG_REVOKE_SESSION, s->session_id, now,
                            s->created_at + l->session_ctx.lifetime_s + AG_SESSION_MAX_SKEW_S);
        else /* a cookie from before session ids: end this user's sessions up to this one */
            ag_state_revoke(l->state, AG_REVOKE_SUB, s->subject, s->created_at,
                            s->created_at + l->session_ctx.lifetime_s + AG_SESSION_MAX_SKEW_S);
        ag_log(AG_LOG_INFO, &lc, "login: signed out%s",
               ag_state_shared(l->state) ? " (revoked on every replica)" : "");
    }
    if (!m || !m->end_session_endpoint) {
        ag_page_signed_out(a, resp, "/oauth2/start");
        return;
    }
    const char *ep = m->end_session_endpoint;
    const char *post = ag_arena_printf(a, "%s/oauth2/signed-out", l->cfg->public_url);
    const char *loc =
        ag_arena_printf(a, "%s%sclient_id=%s&post_logout_redirect_uri=%s%s%s", ep,
                        strchr(ep, '?') ? "&" : "?", ag_http_url_encode(a, l->cfg->oidc.client_id),
                        ag_http_url_encode(a, post), s && s->id_token ? "&id_token_hint=" : "",
                        s && s->id_token ? ag_http_url_encode(a, s->id_token) : "");
    ag_http_response_set(a, resp, 302, NULL, NULL, 0);
    ag_http_response_add_header(a, resp, "Location", loc);
    ag_http_response_add_header(a, resp, "Cache-Control", "no-store");
}

static void ag_login_userinfo(struct ag_login *l, struct ag_arena *a,
                              const struct ag_http_request *req, struct ag_http_response *resp)
{
    struct ag_login_result r;
    struct ag_http_response scratch = {0};
    ag_login_session_check(l, a, req, &scratch, &r);
    for (size_t i = 0; i < scratch.n_headers; i++) /* keep renewed or cleared cookies */
        if (strcmp(scratch.headers[i].name, "Set-Cookie") == 0)
            ag_http_response_add_header(a, resp, "Set-Cookie", scratch.headers[i].value);
    if (r.verdict == AG_LOGIN_NONE) {
        ag_page_json_error(a, resp, 401, "unauthorized", "no session", NULL);
        return;
    }
    const struct ag_session *s = r.session;
    ag_json *o = ag_rolemap_identity_to_json(a, r.id, 0);
    if (s) {
        ag_json_set(o, "session_expires_at",
                    ag_json_new_int(s->created_at + l->session_ctx.lifetime_s));
        ag_json_set(o, "access_expires_at", ag_json_new_int(s->access_expires_at));
    }
    char *txt = ag_json_dump(o, AG_JSON_COMPACT);
    if (!txt)
        abort();
    ag_http_response_set(a, resp, 200, "application/json", txt, strlen(txt));
    free(txt);
    ag_http_response_add_header(a, resp, "Cache-Control", "no-store");
}

bool ag_login_handle(struct ag_login *l, struct ag_arena *a, const struct ag_http_request *req,
                     struct ag_http_response *resp)
{
    const char *p = req->path;
    if (!p)
        return false;
    if (strcmp(p, "/oauth2/start") == 0) {
        ag_login_begin(l, a, req, ag_http_query_get(a, req, "rd"), resp);
    } else if (strcmp(p, "/oauth2/callback") == 0) {
        ag_login_callback(l, a, req, resp);
    } else if (strcmp(p, "/oauth2/logout") == 0 || strcmp(p, "/logout") == 0 ||
               strcmp(p, "/logout/") == 0) {
        ag_login_logout(l, a, req, resp);
    } else if (strcmp(p, "/oauth2/signed-out") == 0) {
        ag_page_signed_out(a, resp, "/oauth2/start");
    } else if (strcmp(p, "/oauth2/backchannel-logout") == 0) {
        ag_login_backchannel_logout(l, a, req, resp);
    } else if (strcmp(p, "/oauth2/userinfo") == 0) {
        ag_login_userinfo(l, a, req, resp);
    } else {
        return false;
    }
    return true;
}
