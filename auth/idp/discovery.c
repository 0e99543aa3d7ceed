#include "auth/idp/discovery.h"

#include <stdbool.h>
#include <string.h>

static void ag_discovery_json_cleanup(void *p)
{
    ag_json_decref(p);
}

static enum ag_rc ag_discovery_url(struct ag_arena *a, const ag_json *doc, const char *name,
                                   bool required, bool allow_http, const char **out,
                                   struct ag_err *err)
{
    const ag_json *v = ag_json_get(doc, name);
    *out = NULL;
    if (!v)
        return required ? ag_err_set(err, AG_EPARSE, "discovery: missing \"%s\"", name) : AG_OK;
    const char *s = ag_json_str(v);
    if (!s)
        return ag_err_set(err, AG_EPARSE, "discovery: \"%s\" is not a string", name);
    if (strncmp(s, "https://", 8) != 0 && !(allow_http && strncmp(s, "http://", 7) == 0))
        return ag_err_set(err, AG_EPARSE, "discovery: \"%s\" is not an https URL", name);
    *out = ag_arena_strdup(a, s);
    return AG_OK;
}

enum ag_rc ag_discovery_parse(struct ag_arena *a, const char *issuer, const char *json, size_t len,
                              struct ag_oidc_meta **out, struct ag_err *err)
{
    struct ag_json_error jerr;
    ag_json *doc = ag_json_parse(json, len, 0, &jerr);
    if (!doc)
        return ag_err_set(err, AG_EPARSE, "discovery document is not valid JSON: %s", jerr.text);
    ag_arena_cleanup_add(a, ag_discovery_json_cleanup, doc);
    if (!ag_json_is_object(doc))
        return ag_err_set(err, AG_EPARSE, "discovery document is not a JSON object");
    const char *iss = ag_json_str(ag_json_get(doc, "issuer"));
    if (!iss)
        return ag_err_set(err, AG_EPARSE, "discovery: missing \"issuer\"");
    /* Exact match, byte for byte (a trailing slash matters): OIDC Discovery 4.3. */
    if (strcmp(iss, issuer) != 0)
        return ag_err_set(err, AG_EINVAL,
                          "discovery: issuer \"%.100s\" does not equal the configured \"%.100s\"",
                          iss, issuer);
    bool http = strncmp(issuer, "http://", 7) == 0;
    struct ag_oidc_meta *m = ag_arena_calloc(a, 1, sizeof(*m));
    m->issuer = ag_arena_strdup(a, iss);
    m->doc = doc;
    enum ag_rc rc;
    if ((rc = ag_discovery_url(a, doc, "jwks_uri", true, http, &m->jwks_uri, err)) != AG_OK ||
        (rc = ag_discovery_url(a, doc, "authorization_endpoint", true, http,
                               &m->authorization_endpoint, err)) != AG_OK ||
        (rc = ag_discovery_url(a, doc, "token_endpoint", true, http, &m->token_endpoint, err)) !=
            AG_OK ||
        (rc = ag_discovery_url(a, doc, "userinfo_endpoint", false, http, &m->userinfo_endpoint,
                               err)) != AG_OK ||
        (rc = ag_discovery_url(a, doc, "end_session_endpoint", false, http,
                               &m->end_session_endpoint, err)) != AG_OK ||
        (rc = ag_discovery_url(a, doc, "introspection_endpoint", false, http,
                               &m->introspection_endpoint, err)) != AG_OK)
        return rc;
    *out = m;
    return AG_OK;
}

enum ag_rc ag_discovery_fetch(struct ag_arena *a, const char *issuer,
                              const struct ag_http_fetch_opts *opts, struct ag_oidc_meta **out,
                              struct ag_err *err)
{
    size_t n = strlen(issuer);
    /* An issuer with a trailing slash must not give "//.well-known". */
    const char *url = ag_arena_printf(a, "%.*s/.well-known/openid-configuration",
                                      (int)(n && issuer[n - 1] == '/' ? n - 1 : n), issuer);
    struct ag_buf b;
    ag_buf_init(&b, opts && opts->max_bytes ? opts->max_bytes : 1024 * 1024);
    enum ag_rc rc = ag_http_fetch_get(url, opts, &b, err);
    if (rc == AG_OK)
        rc = ag_discovery_parse(a, issuer, b.data ? b.data : "", b.len, out, err);
    ag_buf_release(&b, 0);
    return rc;
}
