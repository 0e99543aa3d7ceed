/* The token endpoint (RFC 6749 sections 4.1.3 and 6): request bodies for the authorization-code
 * and refresh grants with client_secret_basic or client_secret_post, the parse of the answer,
 * and the one HTTP POST (on core/http_client.h) that carries them. Building and parsing are pure.
 */
#ifndef AG_AUTH_OIDC_CLIENT_H
#define AG_AUTH_OIDC_CLIENT_H

#include <stddef.h>

#include "auth/idp/http_fetch.h"
#include "conf/config.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

#define AG_OIDC_TOKEN_MAX_BYTES (256 * 1024)

/** A token request ready to send: form body and, for client_secret_basic, the Authorization
 * header value. Both hold the client secret: the arena wipes them when released. */
struct ag_token_request {
    const char *body;
    const char *authorization; /* NULL with client_secret_post */
};

/** The authorization-code grant (with the PKCE verifier and the redirect_uri of the login). */
void ag_oidc_code_request(struct ag_arena *a, const struct ag_config *cfg, const char *code,
                          const char *verifier, struct ag_token_request *out);

/** The refresh grant. */
void ag_oidc_refresh_request(struct ag_arena *a, const struct ag_config *cfg,
                             const char *refresh_token, struct ag_token_request *out);

/** The useful members of a token endpoint answer. Strings live in the arena. */
struct ag_token_response {
    const char *id_token;
    const char *access_token;
    const char *refresh_token;
    long long expires_in;         /* 0: absent */
    long long refresh_expires_in; /* Keycloak's extension; 0: absent */
    const char *error;            /* OAuth error code of a refusal (invalid_grant, ...) */
    const char *error_description;
};

/** Parses an answer given its HTTP status. 200 with an access_token: AG_OK. 400/401 with an OAuth
 * error: AG_EDENIED (error filled). 5xx or anything unparseable: AG_EUPSTREAM / AG_EPARSE. */
enum ag_rc ag_oidc_token_response_parse(struct ag_arena *a, long status, const char *body,
                                        size_t len, struct ag_token_response *out,
                                        struct ag_err *err) AG_WUR;

/** POSTs body (application/x-www-form-urlencoded) to url with an optional Authorization header;
 * the answer goes to out (caller-initialised) and its status to *status. AG_EUPSTREAM for
 * connection and TLS failures, AG_ETIMEOUT, AG_ENOMEM above AG_OIDC_TOKEN_MAX_BYTES. Any HTTP
 * status counts as success of the transport. */
enum ag_rc ag_oidc_http_post(const char *url, const char *authorization, const char *body,
                             const struct ag_http_fetch_opts *opts, struct ag_buf *out,
                             long *status, struct ag_err *err) AG_WUR;

#endif
