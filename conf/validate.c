#include "conf/validate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/convert.h"
#include "conf/options.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/route.h"
#include "core/url.h"

static const char *const ag_known_algs[] = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512", NULL,
};

/* JWE alg and enc names cjose 0.6.2 gives us (auth/jose/jwe.h has the same table). */
static const char *const ag_known_enc_algs[] = {
    "RSA-OAEP", "ECDH-ES", "RSA1_5", "A128GCM", "A256GCM", "A128CBC-HS256", "A256CBC-HS512", NULL,
};

/* Where to point an error about key: its line or variable, else its section's line. */
static struct ag_conf_loc ag_loc_key(const struct ag_conf_ctx *ctx, const char *key)
{
    long idx = ag_conf_opt_find(key);
    const struct ag_conf_origin *o = idx >= 0 ? &ctx->slots[idx].origin : NULL;
    if (o && (o->src == AG_SRC_FILE || o->src == AG_SRC_ENV))
        return ag_conf_loc_of(ctx, (size_t)idx, NULL);
    return (struct ag_conf_loc){ag_conf_section_line(ctx, key), NULL};
}

static bool ag_host_is_loopback(const char *host)
{
    unsigned char a[16];
    if (strcasecmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char one[16] = {[15] = 1};
        return memcmp(a, one, 16) == 0;
    }
    return false;
}

/* RFC 6265 cookie-name = token. */
static bool ag_cookie_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr("!#$%&'*+-.^_`|~", c))
            return false;
    }
    return true;
}

static void ag_check_urls(struct ag_conf_ctx *ctx)
{
    struct ag_config *c = ctx->cfg;
    struct ag_url pub, iss;
    /* Both were checked on conversion; a failure here has been reported already. */
    if (c->public_url && ag_url_parse(c->public_url, AG_URL_HTTP, &pub, NULL) == AG_OK) {
        c->public_https = pub.tls;
        c->redirect_uri = ag_arena_printf(c->arena, "%s/oauth2/callback", c->public_url);
        if (c->oidc.issuer && ag_url_parse(c->oidc.issuer, AG_URL_HTTP, &iss, NULL) == AG_OK &&
            pub.tls && !iss.tls && !ag_host_is_loopback(iss.host))
            ag_conf_error(ctx, ag_loc_key(ctx, "oidc.issuer"), "oidc.issuer",
                          "is http:// while public_url is https://; use https (plain http is "
                          "accepted only for a loopback issuer)");
        if (c->session.cookie_domain) {
            const char *d = c->session.cookie_domain + (c->session.cookie_domain[0] == '.');
            size_t hl = strlen(pub.host), dl = strlen(d);
            int ok = dl > 0 && hl >= dl && strcasecmp(pub.host + hl - dl, d) == 0 &&
                     (hl == dl || pub.host[hl - dl - 1] == '.');
            if (!ok)
                ag_conf_error(ctx, ag_loc_key(ctx, "session.cookie_domain"),
                              "session.cookie_domain",
                              "the public_url host \"%s\" is not within \"%s\"", pub.host,
                              c->session.cookie_domain);
        }
    }
}

/* oidc.allowed_enc_algs names and the shape of oidc.decryption_key; the keys themselves are
 * read by auth/jose/jwe.c (check-config does it too). */
static void ag_check_jwe(struct ag_conf_ctx *ctx)
{
    struct ag_config *c = ctx->cfg;
    const struct ag_strlist *algs = &c->oidc.allowed_enc_algs;
    const char *key = "oidc.allowed_enc_algs";
    int has_alg = 0, has_enc = 0;
    for (size_t i = 0; algs->items && i < algs->n; i++) {
        const char *a = algs->items[i];
        size_t k = 0;
        while (ag_known_enc_algs[k] && strcmp(a, ag_known_enc_algs[k]) != 0)
            k++;
        if (ag_known_enc_algs[k]) {
            has_alg |= k < 3;
            has_enc |= k >= 3;
        } else if (strcmp(a, "RSA-OAEP-256") == 0) {
            ag_conf_error(ctx, ag_loc_key(ctx, key), key,
                          "RSA-OAEP-256 is not supported (Debian 12's cjose 0.6.2 lacks it): use "
                          "RSA-OAEP or ECDH-ES");
        } else {
            const char *sug = ag_conf_suggest_word(a, ag_known_enc_algs);
            ag_conf_error(ctx, ag_loc_key(ctx, key), key,
                          "unknown algorithm \"%s\"%s%s%s (known: RSA-OAEP, ECDH-ES, RSA1_5, "
                          "A128GCM, A256GCM, A128CBC-HS256, A256CBC-HS512)",
                          a, sug ? " (did you mean " : "", sug ? sug : "", sug ? "?)" : "");
        }
    }
    if (algs->items && algs->n > 0 && (!has_alg || !has_enc))
        ag_conf_error(ctx, ag_loc_key(ctx, key), key,
                      "must list at least one key management alg (RSA-OAEP, ECDH-ES) and one "
                      "enc (A128GCM, A256GCM, A128CBC-HS256, A256CBC-HS512)");
    const struct ag_secretlist *dk = &c->oidc.decryption_key;
    for (size_t i = 0; i < dk->n; i++)
        if (dk->items[i].len < 11 || memcmp(dk->items[i].data, "-----BEGIN ", 11) != 0)
            ag_conf_error(ctx, ag_loc_key(ctx, "oidc.decryption_key"), "oidc.decryption_key",
                          "key %zu is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)",
                          i + 1);
}

static void ag_check_oidc(struct ag_conf_ctx *ctx)
{
    struct ag_config *c = ctx->cfg;
    const struct ag_strlist *algs = &c->oidc.allowed_algs;
    if (algs->items && algs->n == 0)
        ag_conf_error(ctx, ag_loc_key(ctx, "oidc.allowed_algs"), "oidc.allowed_algs",
                      "must list at least one algorithm");
    for (size_t i = 0; algs->items && i < algs->n; i++) {
        const char *a = algs->items[i];
        int known = 0;
        for (size_t k = 0; ag_known_algs[k]; k++)
            known |= strcmp(a, ag_known_algs[k]) == 0;
        if (known)
            continue;
        if (strcasecmp(a, "none") == 0) {
            ag_conf_error(ctx, ag_loc_key(ctx, "oidc.allowed_algs"), "oidc.allowed_algs",
                          "\"none\" is never allowed (it means unsigned tokens)");
            continue;
        }
        const char *sug = ag_conf_suggest_word(a, ag_known_algs);
        ag_conf_error(ctx, ag_loc_key(ctx, "oidc.allowed_algs"), "oidc.allowed_algs",
                      "unknown algorithm \"%s\"%s%s%s (known: RS/PS/ES 256/384/512, EdDSA, "
                      "HS256/384/512)",
                      a, sug ? " (did you mean " : "", sug ? sug : "", sug ? "?)" : "");
    }
    ag_check_jwe(ctx);
    const struct ag_strlist *sc = &c->oidc.scopes;
    int openid = 0;
    for (size_t i = 0; i < sc->n; i++) {
        openid |= strcmp(sc->items[i], "openid") == 0;
        if (strpbrk(sc->items[i], " \t\""))
            ag_conf_error(ctx, ag_loc_key(ctx, "oidc.scopes"), "oidc.scopes",
                          "\"%s\": one scope per item, without spaces or quotes", sc->items[i]);
    }
    if (sc->items && !openid)
        ag_conf_error(ctx, ag_loc_key(ctx, "oidc.scopes"), "oidc.scopes",
                      "must include \"openid\"");
}

static void ag_check_session(struct ag_conf_ctx *ctx)
{
    struct ag_config *c = ctx->cfg;
    if (c->session.cookie_name && !ag_cookie_name_ok(c->session.cookie_name))
        ag_conf_error(ctx, ag_loc_key(ctx, "session.cookie_name"), "session.cookie_name",
                      "\"%s\" is not a cookie name (letters, digits and !#$%%&'*+-.^_`|~; at "
                      "most 64)",
                      c->session.cookie_name);
    if (c->session.cookie_domain) {
        for (const char *p = c->session.cookie_domain; *p; p++) {
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-') {
                ag_conf_error(ctx, ag_loc_key(ctx, "session.cookie_domain"),
                              "session.cookie_domain", "\"%s\" is not a domain name",
                              c->session.cookie_domain);
                break;
            }
        }
    }
    if (c->session.lifetime_s > 0 && c->session.idle_timeout_s > c->session.lifetime_s)
        ag_conf_error(ctx, ag_loc_key(ctx, "session.idle_timeout_s"), "session.idle_timeout_s",
                      "%ld is longer than session.lifetime_s (%ld)", c->session.idle_timeout_s,
                      c->session.lifetime_s);
    if (c->session.lifetime_s > 0 && c->session.refresh_before_s >= c->session.lifetime_s)
        ag_conf_error(ctx, ag_loc_key(ctx, "session.refresh_before_s"), "session.refresh_before_s",
                      "%ld must be shorter than session.lifetime_s (%ld)",
                      c->session.refresh_before_s, c->session.lifetime_s);
}

static void ag_check_custom_roles(struct ag_conf_ctx *ctx)
{
    const struct ag_strlist *cu = &ctx->cfg->roles.custom;
    struct ag_conf_loc loc = ag_loc_key(ctx, "roles.custom");
    for (size_t i = 0; i < cu->n; i++) {
        const char *r = cu->items[i];
        if (!ag_conf_role_name_ok(r) || strcmp(r, "deny") == 0) {
            ag_conf_error(ctx, loc, "roles.custom",
                          "\"%s\" is not an Airflow role name (a letter, then letters, digits, "
                          "spaces, _ . -; at most 64; not deny)",
                          r);
            continue;
        }
        for (size_t k = 0; ag_conf_builtin_roles[k]; k++) {
            /* "admin" next to Admin is two roles in Airflow: almost always a typo. */
            if (strcasecmp(r, ag_conf_builtin_roles[k]) == 0)
                ag_conf_error(ctx, loc, "roles.custom",
                              "\"%s\" is the built-in role %s; list only roles beyond the "
                              "built-ins",
                              r, ag_conf_builtin_roles[k]);
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(r, cu->items[k]) == 0)
                ag_conf_error(ctx, loc, "roles.custom", "\"%s\" is listed twice", r);
        }
    }
}

static void ag_check_roles(struct ag_conf_ctx *ctx)
{
    struct ag_config *c = ctx->cfg;
    /* Path syntax (quoted segments, escapes) belongs to rolemap/path.c; check-config and serve
     * compile the role map and report it there. Only the obviously empty path is caught here. */
    for (size_t i = 0; i < c->roles.claims.n; i++) {
        if (c->roles.claims.items[i][0] == '\0')
            ag_conf_error(ctx, ag_loc_key(ctx, "roles.claims"), "roles.claims",
                          "an empty claim path (e.g. resource_access.airflow.roles)");
    }
    ag_check_custom_roles(ctx);
    if (c->roles.unmapped) {
        if (strcmp(c->roles.unmapped, "deny") == 0) {
            c->roles.unmapped = NULL;
        } else if (!ag_conf_role_name_ok(c->roles.unmapped)) {
            ag_conf_error(ctx, ag_loc_key(ctx, "roles.unmapped"), "roles.unmapped",
                          "must be deny or an Airflow role name (e.g. Public), got \"%s\"",
                          c->roles.unmapped);
            return;
        } else if (!ag_conf_role_known(c, c->roles.unmapped)) {
            /* "denny" taken as a role would give every signed-in user a role nobody meant. */
            const char *sug = ag_conf_role_suggest(ctx, c->roles.unmapped, 1);
            ag_conf_error(ctx, ag_loc_key(ctx, "roles.unmapped"), "roles.unmapped",
                          "\"%s\" is neither deny nor a built-in Airflow role (Admin, Op, User, "
                          "Viewer, Public) nor listed in roles.custom%s%s%s",
                          c->roles.unmapped, sug ? " (did you mean " : "", sug ? sug : "",
                          sug ? "?)" : "");
            return;
        }
    }
    long map = ag_conf_opt_find("roles.map");
    if (ctx->slots[map].node && ctx->slots[map].node->kind == AG_YNODE_MAP &&
        c->roles.n_rules == 0 && ctx->slots[map].node->n == 0 && !c->roles.unmapped)
        ag_conf_error(ctx, ag_loc_key(ctx, "roles.map"), "roles.map",
                      "is empty and roles.unmapped is deny, so nobody could sign in; map a "
                      "role or set roles.unmapped to a role");
}

static void ag_check_state(struct ag_conf_ctx *ctx)
{
    struct ag_config *c = ctx->cfg;
    const char *url = c->state.redis_url;
    if (!url) {
        if (c->state.password.len > 0)
            ag_conf_error(ctx, ag_loc_key(ctx, "state.password"), "state.password",
                          "is set but state.redis_url is not");
        return;
    }
    struct ag_url u;
    struct ag_err err = {0};
    if (ag_url_parse(url, AG_URL_REDIS | AG_URL_USERINFO, &u, &err) != AG_OK) {
        ag_conf_error(ctx, ag_loc_key(ctx, "state.redis_url"), "state.redis_url",
                      "\"%s\" %s (expected redis://[user@]host:port/db)", url, err.msg);
        return;
    }
    if (u.tls) {
        ag_conf_error(ctx, ag_loc_key(ctx, "state.redis_url"), "state.redis_url",
                      "rediss:// (TLS) is not supported: Debian 12's hiredis is built without "
                      "TLS; use redis:// to a Redis inside the VPC with AUTH "
                      "(state.password_file)");
        return;
    }
    if (u.userinfo && memchr(u.userinfo, ':', u.userinfo_len))
        ag_conf_error(ctx, ag_loc_key(ctx, "state.redis_url"), "state.redis_url",
                      "holds a password: put it in state.password_file instead");
    const char *db = u.path;
    if (db[0] == '/' && db[1]) {
        char *end = NULL;
        long v = strtol(db + 1, &end, 10);
        if (!end || *end || v < 0 || v > 15 || db[1] == '+' || db[1] == '-')
            ag_conf_error(ctx, ag_loc_key(ctx, "state.redis_url"), "state.redis_url",
                          "database \"%s\" must be a number 0..15", db + 1);
    }
    const char *pf = c->state.key_prefix;
    if (pf && (strlen(pf) > 40 || strpbrk(pf, " \t\r\n")))
        ag_conf_error(ctx, ag_loc_key(ctx, "state.key_prefix"), "state.key_prefix",
                      "must be at most 40 characters without spaces");
}

static void ag_check_rest(struct ag_conf_ctx *ctx)
{
    struct ag_config *c = ctx->cfg;
    c->tls_enabled = c->tls_cert_file && c->tls_key_file;
    /* the default above a small server.max_connections is no cap; a value set above it is a
     * mistake */
    enum ag_conf_src per_ip_src =
        ctx->slots[ag_conf_opt_find("server.max_connections_per_ip")].origin.src;
    if (c->server.max_connections_per_ip > c->server.max_connections &&
        (per_ip_src == AG_SRC_FILE || per_ip_src == AG_SRC_ENV))
        ag_conf_error(ctx, ag_loc_key(ctx, "server.max_connections_per_ip"),
                      "server.max_connections_per_ip",
                      "%ld is more than server.max_connections (%ld)",
                      c->server.max_connections_per_ip, c->server.max_connections);
    if (!c->tls_cert_file != !c->tls_key_file) {
        const char *set = c->tls_cert_file ? "tls.cert_file" : "tls.key_file";
        const char *unset = c->tls_cert_file ? "tls.key_file" : "tls.cert_file";
        ag_conf_error(ctx, ag_loc_key(ctx, set), set, "is set but %s is not (HTTPS needs both)",
                      unset);
    }
    long srv = ag_conf_opt_find("upstreams.servers");
    if (c->upstreams.servers.items && c->upstreams.servers.n == 0 && ctx->slots[srv].node)
        ag_conf_error(ctx, ag_loc_key(ctx, "upstreams.servers"), "upstreams.servers",
                      "must list at least one server");
    const char *hp = c->upstreams.health_path;
    if (hp && (hp[0] != '/' || strpbrk(hp, " \t?#")))
        ag_conf_error(ctx, ag_loc_key(ctx, "upstreams.health_path"), "upstreams.health_path",
                      "\"%s\" must be a path starting with / (no spaces, query or fragment)", hp);
    if (c->assertion.key.len > 0 &&
        (c->assertion.key.len < 11 || memcmp(c->assertion.key.data, "-----BEGIN ", 11) != 0))
        ag_conf_error(ctx, ag_loc_key(ctx, "assertion.key"), "assertion.key",
                      "must be a PEM private key (-----BEGIN ... PRIVATE KEY-----)");
    ag_check_state(ctx);
}

static void ag_check_public_routes(struct ag_conf_ctx *ctx)
{
    const struct ag_strlist *pr = &ctx->cfg->public_routes;
    struct ag_arena *a = ag_arena_new(0);
    for (size_t i = 0; i < pr->n; i++) {
        struct ag_routes one;
        struct ag_err err = {0};
        if (ag_routes_compile(a, (const char *const *)&pr->items[i], 1, &one, &err) != AG_OK)
            ag_conf_error(ctx, ag_loc_key(ctx, "public_routes"), "public_routes", "%s", err.msg);
    }
    ag_arena_free(a);
}

/* The management listener names every upstream and key: it must never share the public port. */
static void ag_check_management(struct ag_conf_ctx *ctx)
{
    const struct ag_config *c = ctx->cfg;
    if (c->management.listen && c->listen && c->management.listen_port != 0 &&
        c->management.listen_port == c->listen_port)
        ag_conf_error(ctx, ag_loc_key(ctx, "management.listen"), "management.listen",
                      "\"%s\" uses the port of listen (\"%s\"); the management listener "
                      "(/metrics, /statusz) must never be the public port: pick another",
                      c->management.listen, c->listen);
}

static void ag_check_log(struct ag_conf_ctx *ctx)
{
    const char *id = ctx->cfg->log.gcp_project_id;
    if (!id)
        return;
    if (ctx->cfg->log.format != AG_CONF_LOG_GCP)
        ag_conf_error(ctx, ag_loc_key(ctx, "log.gcp_project_id"), "log.gcp_project_id",
                      "is only used with log.format: gcp (log.format is %s)",
                      ctx->cfg->log.format == AG_CONF_LOG_TEXT ? "text" : "json");
    else if (!ag_log_gcp_project_valid(id))
        ag_conf_error(ctx, ag_loc_key(ctx, "log.gcp_project_id"), "log.gcp_project_id",
                      "must be a Google Cloud project id (6-30 of a-z, 0-9, '-', starting with a "
                      "letter, e.g. my-project-123); got \"%.64s\"",
                      id);
}

void ag_conf_validate(struct ag_conf_ctx *ctx)
{
    ag_check_log(ctx);
    ag_check_public_routes(ctx);
    ag_check_management(ctx);
    ag_check_urls(ctx);
    ag_check_oidc(ctx);
    ag_check_session(ctx);
    ag_check_roles(ctx);
    ag_check_rest(ctx);
}
