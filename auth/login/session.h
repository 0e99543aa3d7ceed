/* The browser session: what airgate remembers about a signed-in user, kept entirely in an
 * AES-256-GCM sealed cookie (auth/session_seal.h) so any replica with the same secret can read it.
 *
 * Cookie layout (oauth2-proxy's): the sealed value goes into `<cookie_name>` when it fits in
 * AG_SESSION_CHUNK_LEN characters, otherwise into `<cookie_name>_0` .. `<cookie_name>_N-1`
 * (at most AG_SESSION_MAX_CHUNKS). Each chunk's cookie name is part of the whole value's AAD
 * through the layout name, so reordered, missing or mixed chunks fail authentication. Writing a
 * session also clears every airgate session cookie of the request that the new layout does not
 * overwrite (stale chunks of an earlier, larger session, or the other layout).
 *
 * Attributes: Path=/, HttpOnly, SameSite=Lax, Secure when public_url is https, Domain when
 * session.cookie_domain is set, Max-Age = what is left of the absolute lifetime. */
#ifndef AG_AUTH_SESSION_H
#define AG_AUTH_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/login/session_seal.h"
#include "conf/config.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/http_msg.h"

#define AG_SESSION_CHUNK_LEN 3800 /* characters of value per cookie (browsers allow ~4096) */
#define AG_SESSION_MAX_CHUNKS 8   /* a larger session is refused when sealing and opening */
#define AG_SESSION_MAX_SKEW_S 300 /* created_at / last_seen may be this far in the future */

/** Everything the proxy needs about a signed-in user. Strings may be NULL unless noted. */
struct ag_session {
    const char *session_id; /* random, base64url; what a sign-out revokes (NULL: older cookie) */
    const char *sid;        /* the IdP's session id (ID token sid): back-channel logout */
    const char *issuer;     /* iss of the ID token */
    const char *subject;    /* sub */
    const char *username;   /* preferred_username or sub; never NULL in a valid session */
    const char *email;
    const char *first_name;
    const char *last_name;
    struct ag_strlist idp_roles;     /* raw roles read from the tokens */
    struct ag_strlist airflow_roles; /* mapped roles */
    bool allowed;                    /* rolemap's decision (false: show the 403 page) */
    const char *id_token;            /* for id_token_hint at logout */
    const char *refresh_token;       /* NULL when the IdP gave none */
    long long access_expires_at;     /* exp of the access token; 0 unknown */
    long long refresh_expires_at;    /* refresh_expires_in from the IdP; 0 unknown */
    long long created_at;            /* login time: absolute lifetime counts from here */
    long long last_seen;             /* last request: idle timeout counts from here */
};

/** Seals s and adds the Set-Cookie headers to resp: the new chunks plus clears for stale ones
 * seen in req (req may be NULL). AG_EINVAL when the session exceeds AG_SESSION_MAX_CHUNKS. */
enum ag_rc ag_session_cookie_set(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                 const struct ag_session *s, const struct ag_http_request *req,
                                 long long now, struct ag_http_response *resp,
                                 struct ag_err *err) AG_WUR;

/** Reads the session cookie(s) of req. AG_OK with *out == NULL: no session cookie at all.
 * AG_OK with *out set: a valid session (in the arena). Any other code means "no session" and err
 * says why, for the log: AG_EPARSE (truncated, bad encoding, bad payload), AG_ECRYPTO (tampered,
 * reordered chunks, foreign secret), AG_EEXPIRED (lifetime or idle timeout passed), AG_EINVAL
 * (oversized). Never crashes on any input. */
enum ag_rc ag_session_cookie_open(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                                  const struct ag_http_request *req, long long now,
                                  struct ag_session **out, struct ag_err *err) AG_WUR;

/** The exact bytes ag_session_cookie_open would authenticate: "<AAD>\n<sealed value>", in the
 * arena. False when req has no session cookie (or only a malformed layout: a lone chunk 0, too
 * many chunks, oversized). */
bool ag_session_cookie_key(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                           const struct ag_http_request *req, const char **key, size_t *len);

/** Adds Set-Cookie headers to resp that clear every session cookie and chunk present in req
 * (and `<cookie_name>` itself even if absent). */
void ag_session_cookie_clear(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                             const struct ag_http_request *req, struct ag_http_response *resp);

/** True when req carries any session cookie or chunk (to tell "never signed in" from "bad"). */
bool ag_session_cookie_present(struct ag_arena *a, const struct ag_seal_ctx *ctx,
                               const struct ag_http_request *req);

/** Seconds until the session's absolute lifetime ends (may be <= 0). */
long long ag_session_remaining(const struct ag_seal_ctx *ctx, const struct ag_session *s,
                               long long now);

#endif
