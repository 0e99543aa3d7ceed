/* OpenID Connect discovery: issuer + "/.well-known/openid-configuration", whose `issuer` must
 * equal the configured issuer exactly (OpenID Connect Discovery 1.0 section 4.3). */
#ifndef AG_AUTH_DISCOVERY_H
#define AG_AUTH_DISCOVERY_H

#include "auth/idp/http_fetch.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/json.h"

/** The provider metadata airgate uses. Strings live in the arena; absent optional endpoints are
 * NULL. doc is the whole document (arena-owned reference). */
struct ag_oidc_meta {
    const char *issuer;
    const char *jwks_uri;
    const char *authorization_endpoint;
    const char *token_endpoint;
    const char *userinfo_endpoint;      /* optional */
    const char *end_session_endpoint;   /* optional */
    const char *introspection_endpoint; /* optional */
    ag_json *doc;
};

/** Parses and checks a discovery document: JSON object without duplicate members, issuer equal
 * to `issuer`, jwks_uri, authorization_endpoint and token_endpoint present as https URLs (http
 * allowed only when the issuer itself is http, for tests and local IdPs). */
enum ag_rc ag_discovery_parse(struct ag_arena *a, const char *issuer, const char *json, size_t len,
                              struct ag_oidc_meta **out, struct ag_err *err) AG_WUR;

/** Fetches issuer + "/.well-known/openid-configuration" and parses it. */
enum ag_rc ag_discovery_fetch(struct ag_arena *a, const char *issuer,
                              const struct ag_http_fetch_opts *opts, struct ag_oidc_meta **out,
                              struct ag_err *err) AG_WUR;

#endif
