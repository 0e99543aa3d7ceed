/* The few pages and JSON bodies airgate itself answers with: small, self-contained HTML (inline
 * style, no external assets, every dynamic value HTML-escaped) for browser navigations, and JSON
 * for XHR/API callers so Airflow's UI never receives a login page in an API response.
 * Every response gets Cache-Control: no-store, a restrictive Content-Security-Policy,
 * X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer. Bodies are NUL-terminated
 * (body_len excludes the NUL). */
#ifndef AG_AUTH_PAGES_H
#define AG_AUTH_PAGES_H

#include "conf/config.h"
#include "core/arena.h"
#include "core/http_msg.h"

/** 403 HTML for a signed-in user without an Airflow role: names the user, the IdP roles they
 * have, the IdP roles that would grant access (granting; may be empty) and links to sign out. */
void ag_page_forbidden(struct ag_arena *a, struct ag_http_response *resp, const char *username,
                       const struct ag_strlist *have, const struct ag_strlist *granting,
                       const char *logout_path);

/** Error returned by the IdP at the callback (error=access_denied, ...): 403 for access_denied,
 * login_required, consent_required, interaction_required; 503 for temporarily_unavailable; 400
 * otherwise. error and description are shown escaped (description truncated to 300 bytes). */
void ag_page_idp_error(struct ag_arena *a, struct ag_http_response *resp, const char *error,
                       const char *description, const char *retry_path);

/** 503 (Retry-After: 30) when the IdP cannot be reached to start or finish a new login. */
void ag_page_idp_unavailable(struct ag_arena *a, struct ag_http_response *resp,
                             const char *retry_path);

/** 400 when a callback cannot be completed (no or bad login state, token checks failed). The
 * detail is a short fixed phrase chosen by the caller, never attacker-controlled text. */
void ag_page_login_failed(struct ag_arena *a, struct ag_http_response *resp, const char *detail,
                          const char *retry_path);

/** 200 "You have signed out" with a link to sign in again. */
void ag_page_signed_out(struct ag_arena *a, struct ag_http_response *resp, const char *signin_path);

/** JSON error body {"error": code, "message": message[, "user": user]} with the given status;
 * 401 also gets `WWW-Authenticate: Bearer realm="airgate"`. */
void ag_page_json_error(struct ag_arena *a, struct ag_http_response *resp, int status,
                        const char *code, const char *message, const char *user);

#endif
