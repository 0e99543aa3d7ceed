/* The login state of one sign-in attempt (OAuth 2.0 state, OIDC nonce, PKCE verifier and where
 * to go afterwards), kept in a short-lived sealed cookie so that whichever replica receives the
 * callback can finish a login another replica began.
 *
 * One cookie per attempt, so several login tabs each complete:
 *   name   `<cookie_name>_login_<first 16 characters of state>`  (96 bits: distinct per tab)
 *   value  sealed with the login-state key (HKDF info differs from the session's), the cookie
 *          name in the AAD; the full state inside is compared in constant time at the callback
 *   attrs  Path=/, Max-Age=AG_LOGIN_STATE_TTL_S, HttpOnly, SameSite=Lax (sent on the IdP's
 *          top-level redirect back to us), Secure with https
 * The set is bounded: starting a login when AG_LOGIN_STATE_MAX cookies are already present clears
 * unreadable or expired ones first, then the oldest, so at most AG_LOGIN_STATE_MAX remain. The
 * callback clears the cookie it used, so a replayed callback finds no state. */
#ifndef AG_AUTH_LOGIN_STATE_H
#define AG_AUTH_LOGIN_STATE_H

#include <stddef.h>

#include "auth/login/session_seal.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/http_msg.h"

#define AG_LOGIN_STATE_TTL_S 600
#define AG_LOGIN_STATE_MAX 4         /* concurrent login attempts kept per browser */
#define AG_LOGIN_STATE_RAND_BYTES 32 /* state, nonce and PKCE verifier: 256 bits each */
#define AG_LOGIN_STATE_PREFIX_LEN 16 /* characters of state in the cookie name */
#define AG_LOGIN_STATE_MAX_VALUE 2048

struct ag_login_state {
    const char *state;    /* base64url, 43 characters */
    const char *nonce;    /* base64url, 43 characters */
    const char *verifier; /* PKCE code_verifier, base64url, 43 characters (RFC 7636 minimum) */
    const char *rd;       /* sanitized same-site path to return to */
    long long created_at;
};

/** Fresh random state, nonce and verifier; rd is sanitized (anything unsafe becomes "/"). */
enum ag_rc ag_login_state_new(struct ag_arena *a, const char *rd, long long now,
                              struct ag_login_state **out, struct ag_err *err) AG_WUR;

/** The PKCE S256 code_challenge for a verifier: base64url(SHA-256(verifier)). */
char *ag_login_state_challenge(struct ag_arena *a, const char *verifier);

/** Cookie name for a state value (NULL when state is too short or not base64url). */
const char *ag_login_state_cookie_name(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                       const char *state);

/** Seals st into its cookie and adds the Set-Cookie to resp, after adding clears that keep the
 * set of login cookies seen in req (may be NULL) below AG_LOGIN_STATE_MAX. */
enum ag_rc ag_login_state_cookie_set(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                     const struct ag_login_state *st,
                                     const struct ag_http_request *req, long long now,
                                     struct ag_http_response *resp, struct ag_err *err) AG_WUR;

/** At the callback: finds the cookie for the state parameter, opens it, compares the whole state
 * in constant time and checks its age. Always adds a Set-Cookie clearing that cookie to resp (it
 * is single-use). AG_EINVAL: no/malformed state or no such cookie; AG_ECRYPTO: tampered or
 * foreign; AG_EDENIED: state mismatch; AG_EEXPIRED: older than AG_LOGIN_STATE_TTL_S. */
enum ag_rc ag_login_state_cookie_take(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                      const struct ag_http_request *req, const char *state,
                                      long long now, struct ag_http_response *resp,
                                      struct ag_login_state **out, struct ag_err *err) AG_WUR;

/** Adds clears for every login-state cookie in req (used at logout). */
void ag_login_state_cookie_clear_all(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                     const struct ag_http_request *req,
                                     struct ag_http_response *resp);

#endif
