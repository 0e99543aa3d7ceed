/* Request and response header policy for forwarding: which client headers never reach the
 * upstream (identity headers in any spelling, hop-by-hop, Connection-named), which upstream
 * headers never reach the client, airgate's own cookies, and X-Forwarded-For building. Pure. */
#ifndef AG_PROXY_HEADERS_H
#define AG_PROXY_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

struct ag_arena;

/** ASCII case-insensitive equality of two header names where '_' and '-' are the same
 * character (gunicorn maps both to the same CGI variable). */
bool ag_hdr_name_eq(const char *a, const char *b);

/** True for a header a client may never supply because airgate sets it (identity and
 * X-Forwarded-*, Forwarded, X-Real-IP, X-Airflow-Roles, X-Airgate-*), in any spelling. */
bool ag_hdr_is_identity(const char *name);

/** True for hop-by-hop request/response headers (RFC 9110 7.6.1 and the usual extras). */
bool ag_hdr_is_hop_by_hop(const char *name);

/** True when name appears as a token in any of the Connection header values given. */
bool ag_hdr_named_in_connection(const char *name, const char *const *conn_values, size_t n);

/** True when the client header must not be forwarded (a name that is not an RFC 9110 token,
 * identity, hop-by-hop, Connection-named, or one airgate sets itself: Host is kept,
 * Content-Length/Expect are regenerated). */
bool ag_hdr_drop_request(const char *name, const char *const *conn_values, size_t n_conn);

/** True when the upstream response header must not be passed to the client (hop-by-hop,
 * Connection-named, Content-Length and Date, which the front sets itself). */
bool ag_hdr_drop_response(const char *name, const char *const *conn_values, size_t n_conn);

/** Removes airgate's own cookies (cookie_name, and every `<cookie_name>_*` chunk or login-state
 * cookie) from one Cookie header value. Returns the remaining "a=b; c=d" in the arena, or NULL
 * when nothing is left. */
const char *ag_hdr_cookie_filter(struct ag_arena *a, const char *cookie, const char *cookie_name);

/** X-Forwarded-For to send: the client's own chain (only when the peer is trusted and it is
 * non-empty) followed by the peer address. */
const char *ag_hdr_xff_build(struct ag_arena *a, const char *client_xff, bool peer_trusted,
                             const char *peer_ip);

/** The one encoding of identity header values (X-Forwarded-User/-Email/-Preferred-Username/
 * -First-Name/-Last-Name): '%', ',' and every byte that is a control character (C0, DEL, and the
 * UTF-8 of C1) or not part of well-formed UTF-8 become %XX (upper-case hex); everything else,
 * including valid non-ASCII UTF-8, is kept. Percent-decoding gives the value back. NULL gives "".
 * The result lives in a. */
const char *ag_hdr_identity_value(struct ag_arena *a, const char *v);

/** A list identity header (X-Forwarded-Groups, X-Airflow-Roles): each item encoded as
 * ag_hdr_identity_value does, joined by ','. A name holding a comma ("team_x,airflow_admin")
 * stays one item ("team_x%2Cairflow_admin"): split on ',', then percent-decode each item. */
const char *ag_hdr_identity_list(struct ag_arena *a, const char *const *items, size_t n);

#endif
