/* `airgate rolemap`: dry run of the role mapping for one token or one set of claims.
 * Exit 0 allowed, 1 denied by policy, 2 bad input (usage, config, unverifiable token, bad claims).
 * The output formats are documented in docs/rolemap.md; the goldens in
 * tests/integration/rolemap_cli/golden/ pin them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/idp/http_fetch.h"
#include "auth/jose/jwks.h"
#include "auth/jose/jwt.h"
#include "auth/jose/keycache.h"
#include "cli/cli.h"
#include "conf/config.h"
#include "core/arena.h"
#include "core/b64url.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "rolemap/render.h"
#include "rolemap/rolemap.h"

extern char **environ;

#define AG_RM_SCHEMA_VERSION 2
#define AG_RM_MAX_INPUT (1024u * 1024u) /* claims file or stdin */
#define AG_RM_BANNER                                                                               \
    "UNVERIFIED: signature NOT checked (--no-verify); anyone can forge these claims"

static const char ag_rm_usage[] =
    "Usage: airgate rolemap -c FILE (--token JWT | --claims FILE | -) [options]\n"
    "\n"
    "Dry run of the role mapping: which Airflow roles a token or a set of claims would get\n"
    "under the config's roles: section, which rule produced each, and allow/deny with the reason.\n"
    "\n"
    "Input (exactly one):\n"
    "  --token JWT        an access or ID token; its signature is verified first (issuer,\n"
    "                     audience, expiry and allowed_algs from the config). '--token -' reads\n"
    "                     it from stdin\n"
    "  --claims FILE      a JSON object of claims (a decoded token payload); nothing to verify\n"
    "  -                  read stdin: a JSON object (starts with '{') is claims, else a token\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE  airgate config (required)\n"
    "  --jwks FILE_OR_URL verify against this JWK Set (file, or http(s) URL) instead of the\n"
    "                     issuer's discovery + JWKS: for offline use\n"
    "  --no-verify        decode the token WITHOUT checking its signature or expiry; the output\n"
    "                     says so at the top. For debugging a token only\n"
    "  --json             machine-readable output (schema in docs/rolemap.md)\n"
    "  -h, --help         this help\n"
    "\n"
    "Exit codes: 0 allowed, 1 denied by policy, 2 bad input (usage, config, a token that fails\n"
    "verification, malformed claims).\n";

struct ag_rm_opts {
    const char *config;
    const char *token;  /* argument text, "-" for stdin */
    const char *claims; /* file */
    int from_stdin;     /* bare "-" */
    const char *jwks;
    int no_verify;
    int json;
};

/* What the input was and how it was checked, for both output formats. */
struct ag_rm_source {
    const char *kind; /* "token" or "claims" */
    const char *from; /* "argument", "stdin" or the file name */
    int verified;     /* signature and registered claims checked */
    const char *alg;  /* verified tokens only */
    const char *kid;  /* verified tokens only, may be NULL */
    const char *keys; /* where the keys came from */
    const char *note; /* one human sentence */
    int checked;      /* a signature check ran (so a failure means "token rejected") */
};

static void ag_rm_decref(void *j)
{
    ag_json_decref(j);
}

/* "airgate rolemap: <what> '<arg>'" (arg may be NULL) and a pointer to --help. */
static int ag_rm_usage_error(const char *what, const char *arg)
{
    if (arg)
        fprintf(stderr, "airgate rolemap: %s '%s'", what, arg);
    else
        fprintf(stderr, "airgate rolemap: %s", what);
    fputs("\nRun 'airgate rolemap --help' for usage.\n", stderr);
    return AG_EXIT_USAGE;
}

static int ag_rm_parse_args(int argc, char **argv, struct ag_rm_opts *o)
{
    int sources = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
            dst = &o->config;
        else if (strcmp(a, "--token") == 0)
            dst = &o->token;
        else if (strcmp(a, "--claims") == 0)
            dst = &o->claims;
        else if (strcmp(a, "--jwks") == 0)
            dst = &o->jwks;
        else if (strcmp(a, "--no-verify") == 0)
            o->no_verify = 1;
        else if (strcmp(a, "--json") == 0)
            o->json = 1;
        else if (strcmp(a, "-") == 0) {
            o->from_stdin = 1;
            sources++;
        } else
            return ag_rm_usage_error("unknown argument", a);
        if (dst) {
            if (i + 1 >= argc)
                return ag_rm_usage_error("a value is missing after", a);
            if (*dst)
                return ag_rm_usage_error("given twice:", a);
            *dst = argv[++i];
            if (dst == &o->token || dst == &o->claims)
                sources++;
        }
    }
    if (!o->config)
        return ag_rm_usage_error("-c FILE is required", NULL);
    if (sources != 1)
        return ag_rm_usage_error("give exactly one of --token JWT, --claims FILE or -", NULL);
    if (o->jwks && o->no_verify)
        return ag_rm_usage_error("--jwks and --no-verify contradict each other", NULL);
    if (o->jwks && o->claims)
        return ag_rm_usage_error("--jwks applies to tokens, not to --claims", NULL);
    return -1;
}

/* Reads a whole stream (at most AG_RM_MAX_INPUT bytes) into b. */
static enum ag_rc ag_rm_read_stream(FILE *f, const char *name, struct ag_buf *b, struct ag_err *err)
{
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (ag_buf_append(b, chunk, n) != AG_OK)
            return ag_err_set(err, AG_EINVAL, "%s: larger than %u bytes", name, AG_RM_MAX_INPUT);
    if (ferror(f))
        return ag_err_set(err, AG_EIO, "%s: read failed: %s", name, strerror(errno));
    if (!b->data && ag_buf_puts(b, "") != AG_OK)
        return AG_ENOMEM;
    return AG_OK;
}

static enum ag_rc ag_rm_read_file(const char *path, struct ag_buf *b, struct ag_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ag_err_set(err, AG_EIO, "cannot open claims file '%s': %s", path, strerror(errno));
    enum ag_rc rc = ag_rm_read_stream(f, path, b, err);
    fclose(f);
    return rc;
}

/* Trims ASCII whitespace (a token pasted with a newline) in place; returns the start. */
static char *ag_rm_trim(char *s, size_t *len)
{
    size_t n = *len;
    while (n && strchr(" \t\r\n", s[n - 1]))
        n--;
    while (n && strchr(" \t\r\n", *s)) {
        s++;
        n--;
    }
    s[n] = '\0';
    *len = n;
    return s;
}

static enum ag_rc ag_rm_parse_claims(struct ag_arena *a, const char *text, size_t len,
                                     const char *name, ag_json **out, struct ag_err *err)
{
    struct ag_json_error je;
    /* NUL inside strings is let through so that rolemap can name the claim that holds it. */
    ag_json *j = ag_json_parse(text, len, AG_JSON_ANY | AG_JSON_ALLOW_NUL, &je);
    if (!j)
        return ag_err_set(err, AG_EPARSE, "%s: not valid JSON: line %d column %d: %s", name,
                          je.line, je.column, je.text);
    ag_arena_cleanup_add(a, ag_rm_decref, j);
    *out = j;
    return AG_OK;
}

/* --no-verify: the payload of a compact JWS, decoded without any check. */
static enum ag_rc ag_rm_decode_unverified(struct ag_arena *a, const char *tok, size_t len,
                                          ag_json **out, struct ag_err *err)
{
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(tok + len - d1 - 1)) : NULL;
    if (!d1 || !d2)
        return ag_err_set(err, AG_EPARSE,
                          "token is not a compact JWS (expected three dot-separated parts)");
    if (memchr(d2 + 1, '.', (size_t)(tok + len - d2 - 1)))
        return ag_err_set(err, AG_EPARSE,
                          "token has more than three parts (an encrypted JWE is not supported)");
    uint8_t *payload;
    size_t plen;
    if (ag_b64url_decode_arena(a, d1 + 1, (size_t)(d2 - d1 - 1), &payload, &plen, err) != AG_OK) {
        ag_err_prefix(err, "token payload");
        return AG_EPARSE;
    }
    return ag_rm_parse_claims(a, (const char *)payload, plen, "token payload", out, err);
}

static enum ag_rc ag_rm_policy(const struct ag_config *cfg, struct ag_jwt_policy *p,
                               struct ag_err *err)
{
    ag_jwt_policy_init(p);
    p->issuer = cfg->oidc.issuer;
    p->audience = cfg->oidc.audience ? cfg->oidc.audience : cfg->oidc.client_id;
    p->azp = cfg->oidc.client_id;
    p->audiences = (const char *const *)cfg->oidc.audiences.items;
    p->n_audiences = cfg->oidc.audiences.n;
    p->accept_azp = cfg->oidc.accept_azp_as_audience;
    p->leeway_s = cfg->oidc.leeway_s;
    /* The same limit as `token verify`, not oidc.max_token_bytes: a token pasted here to
     * explain a decision may be larger than what the token endpoint limit allows. */
    p->max_token_bytes = AG_CLI_MAX_TOKEN_BYTES;
    return ag_jws_algs_from_names(cfg->oidc.allowed_algs.items, cfg->oidc.allowed_algs.n,
                                  &p->allowed_algs, err);
}

static int ag_rm_is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Verifies the token: against --jwks (file or URL) or the issuer's discovery + JWKS. */
static enum ag_rc ag_rm_verify(struct ag_arena *a, const struct ag_config *cfg,
                               const struct ag_rm_opts *o, const char *tok, size_t len,
                               struct ag_rm_source *src, ag_json **out, struct ag_err *err)
{
    struct ag_jwt_policy pol;
    if (ag_rm_policy(cfg, &pol, err) != AG_OK) {
        ag_err_prefix(err, "oidc.allowed_algs");
        return AG_ECONF;
    }
    struct ag_http_fetch_opts http = {.ca_file = cfg->oidc.ca_file,
                                      .timeout_ms = cfg->oidc.http_timeout_ms};
    struct ag_jwt *jwt = NULL;
    enum ag_rc rc;
    if (o->jwks) {
        struct ag_keyset *ks = NULL;
        if (ag_rm_is_url(o->jwks)) {
            struct ag_buf body;
            ag_buf_init(&body, AG_JWKS_MAX_BYTES);
            rc = ag_http_fetch_global_init();
            if (rc == AG_OK)
                rc = ag_http_fetch_get(o->jwks, &http, &body, err);
            if (rc == AG_OK)
                rc = ag_jwks_parse(body.data ? body.data : "", body.len, &ks, err);
            ag_buf_release(&body, 0);
        } else {
            rc = ag_jwks_load_file(o->jwks, &ks, err);
        }
        if (rc != AG_OK) {
            ag_err_prefix(err, "key set '%s'", o->jwks);
            return rc;
        }
        rc = ag_jwt_verify(a, ks, &pol, tok, len, &jwt, err);
        ag_jwks_unref(ks);
        src->keys = ag_arena_printf(a, "JWK Set %s", o->jwks);
    } else {
        struct ag_keycache_opts ko = {
            .issuer = cfg->oidc.issuer, .http = http, .refresh_s = -1, .min_refetch_s = 1};
        struct ag_keycache *kc = NULL;
        rc = ag_http_fetch_global_init();
        if (rc == AG_OK)
            rc = ag_keycache_new(&ko, &kc, err);
        if (rc == AG_OK)
            rc = ag_keycache_start(kc, err);
        if (rc != AG_OK) {
            ag_keycache_free(kc);
            ag_err_prefix(err, "cannot load the keys of issuer %s (use --jwks FILE offline)",
                          cfg->oidc.issuer);
            return rc;
        }
        rc = ag_keycache_verify(kc, a, &pol, tok, len, &jwt, err);
        ag_keycache_free(kc);
        src->keys = ag_arena_printf(a, "JWKS of issuer %s", cfg->oidc.issuer);
    }
    if (rc != AG_OK)
        return rc;
    src->verified = 1;
    src->alg = jwt->alg_name;
    src->kid = jwt->kid;
    *out = jwt->claims;
    return AG_OK;
}

/* Reads the input named by the options into claims, verifying a token unless --no-verify. */
static enum ag_rc ag_rm_input(struct ag_arena *a, const struct ag_config *cfg,
                              const struct ag_rm_opts *o, struct ag_rm_source *src,
                              ag_json **claims, struct ag_err *err)
{
    struct ag_buf in;
    ag_buf_init(&in, AG_RM_MAX_INPUT);
    enum ag_rc rc = AG_OK;
    const char *name;
    if (o->claims) {
        rc = ag_rm_read_file(o->claims, &in, err);
        name = o->claims;
    } else if (o->from_stdin || !o->token || strcmp(o->token, "-") == 0) {
        rc = ag_rm_read_stream(stdin, "stdin", &in, err);
        name = "stdin";
    } else {
        name = "argument";
        if (ag_buf_puts(&in, o->token) != AG_OK)
            rc = ag_err_set(err, AG_EINVAL, "token larger than %u bytes", AG_RM_MAX_INPUT);
    }
    if (rc != AG_OK) {
        ag_buf_release(&in, 0);
        return rc;
    }
    size_t len = in.len;
    char *text = ag_arena_strndup(a, in.data, in.len);
    ag_buf_release(&in, 1);
    text = ag_rm_trim(text, &len);
    src->from = o->claims ? o->claims : name;
    int is_claims = o->claims || (o->from_stdin && text[0] == '{');
    if (is_claims) {
        src->kind = "claims";
        src->note = ag_arena_printf(a, "claims from %s (no token: nothing verified)", src->from);
        if (len == 0)
            return ag_err_set(err, AG_EPARSE, "%s: empty; expected a JSON object of claims",
                              src->from);
        return ag_rm_parse_claims(a, text, len, src->from, claims, err);
    }
    src->kind = "token";
    if (len == 0)
        return ag_err_set(err, AG_EINVAL, "empty token (from %s)", name);
    if (o->no_verify) {
        src->keys = NULL;
        src->note = ag_arena_printf(a, "token from %s, signature NOT checked", name);
        return ag_rm_decode_unverified(a, text, len, claims, err);
    }
    src->checked = 1;
    rc = ag_rm_verify(a, cfg, o, text, len, src, claims, err);
    if (rc == AG_OK)
        src->note =
            ag_arena_printf(a, "token from %s, verified (%s%s%s) against the %s", name, src->alg,
                            src->kid ? ", kid " : "", src->kid ? src->kid : "", src->keys);
    return rc;
}

static ag_json *ag_rm_strlist_json(const struct ag_rolemap *m)
{
    ag_json *arr = ag_json_new_array();
    for (size_t i = 0; i < ag_rolemap_path_count(m); i++)
        ag_json_append(arr, ag_json_new_str(ag_rolemap_path_text(m, i)));
    return arr;
}

static ag_json *ag_rm_nullable(const char *s)
{
    return s ? ag_json_new_str(s) : ag_json_new_null();
}

/* The --json document: header fields, then the identity's own fields (same names as
 * /oauth2/userinfo), then the explanation. */
static ag_json *ag_rm_json_doc(struct ag_arena *a, const struct ag_rm_opts *o,
                               const struct ag_rm_source *src, const struct ag_rolemap *m)
{
    ag_json *doc = ag_json_new_object();
    ag_arena_cleanup_add(a, ag_rm_decref, doc);
    ag_json_set(doc, "schema_version", ag_json_new_int(AG_RM_SCHEMA_VERSION));
    ag_json_set(doc, "verified", ag_json_new_bool(src->verified));
    ag_json_set(doc, "warning", o->no_verify ? ag_json_new_str(AG_RM_BANNER) : ag_json_new_null());
    ag_json *s = ag_json_new_object();
    ag_json_set(s, "kind", ag_json_new_str(src->kind));
    ag_json_set(s, "from", ag_json_new_str(src->from));
    ag_json_set(s, "alg", ag_rm_nullable(src->alg));
    ag_json_set(s, "kid", ag_rm_nullable(src->kid));
    ag_json_set(s, "keys", ag_rm_nullable(src->keys));
    ag_json_set(doc, "source", s);
    ag_json *c = ag_json_new_object();
    ag_json_set(c, "claims", ag_rm_strlist_json(m));
    /* "deny" as the human output says it; roles.custom may not be named deny, so it is
     * never a role (schema 1 wrote null here). */
    const char *unmapped = ag_rolemap_unmapped_role(m);
    ag_json_set(c, "unmapped", ag_json_new_str(unmapped ? unmapped : "deny"));
    ag_json_set(doc, "roles_config", c);
    return doc;
}

static void ag_rm_print_json(ag_json *doc)
{
    char *s = ag_json_dump(doc, AG_JSON_PRETTY | AG_JSON_ASCII);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

/* Bad input after the arguments were understood: the reason on stderr and, with --json, a
 * small document on stdout so scripts always get JSON. */
static int ag_rm_fail(struct ag_arena *a, const struct ag_rm_opts *o, const char *what,
                      const struct ag_err *err)
{
    fprintf(stderr, "airgate rolemap: %s: %s\n", what, err->msg);
    if (o->json) {
        ag_json *doc = ag_json_new_object();
        ag_arena_cleanup_add(a, ag_rm_decref, doc);
        ag_json_set(doc, "schema_version", ag_json_new_int(AG_RM_SCHEMA_VERSION));
        ag_json_set(doc, "error", ag_json_new_str(what));
        ag_json_set(doc, "error_code", ag_json_new_str(ag_rc_name(err->rc)));
        ag_json_set(doc, "message", ag_json_new_str(err->msg));
        ag_rm_print_json(doc);
    }
    return AG_EXIT_USAGE;
}

static int ag_rm_print_human(const struct ag_rm_opts *o, const struct ag_rm_source *src,
                             const struct ag_rolemap *m, const struct ag_identity *id)
{
    struct ag_buf b;
    ag_buf_init(&b, 0);
    enum ag_rc rc = AG_OK;
    if (o->no_verify)
        rc = ag_buf_printf(&b, "!!! %s !!!\n\n", AG_RM_BANNER);
    if (rc == AG_OK)
        rc = ag_buf_puts(&b, "Source:        ");
    if (rc == AG_OK)
        rc = ag_rolemap_append_display(&b, src->note);
    if (rc == AG_OK)
        rc = ag_buf_puts(&b, "\nClaim paths:   ");
    for (size_t i = 0; rc == AG_OK && i < ag_rolemap_path_count(m); i++) {
        if (i)
            rc = ag_buf_puts(&b, ", ");
        if (rc == AG_OK)
            rc = ag_rolemap_append_display(&b, ag_rolemap_path_text(m, i));
    }
    if (rc == AG_OK)
        rc = ag_buf_printf(&b, "\nUnmapped:      %s\n",
                           ag_rolemap_unmapped_role(m) ? ag_rolemap_unmapped_role(m) : "deny");
    if (rc == AG_OK)
        rc = ag_rolemap_identity_format_human(&b, id);
    if (rc == AG_OK)
        fwrite(b.data, 1, b.len, stdout);
    ag_buf_release(&b, 0);
    return rc == AG_OK ? 0 : -1;
}

int ag_cmd_rolemap(int argc, char **argv)
{
    if (ag_cli_wants_help(argc, argv)) {
        fputs(ag_rm_usage, stdout);
        return AG_EXIT_OK;
    }
    struct ag_rm_opts o = {0};
    int ec = ag_rm_parse_args(argc, argv, &o);
    if (ec >= 0)
        return ec;
    /* Failures are reported once, below; the engine's own warnings would only repeat them. */
    ag_log_setup(AG_LOG_ERROR, AG_LOG_TEXT, 2);

    struct ag_config *cfg = NULL;
    if (ag_config_load(o.config, environ, &cfg, stderr) != AG_OK) {
        fprintf(stderr, "airgate rolemap: invalid config '%s' (see above)\n", o.config);
        return AG_EXIT_USAGE;
    }
    struct ag_arena *a = ag_arena_new(0);
    struct ag_err err = {0};
    struct ag_rolemap *m = NULL;
    struct ag_rm_source src = {0};
    ag_json *claims = NULL;
    struct ag_identity *id = NULL;
    if (ag_rolemap_compile(a, cfg, &m, &err) != AG_OK) {
        ec = ag_rm_fail(a, &o, "invalid roles config", &err);
        goto out;
    }
    enum ag_rc rc = ag_rm_input(a, cfg, &o, &src, &claims, &err);
    if (rc != AG_OK) {
        ec = ag_rm_fail(a, &o, src.checked ? "token rejected" : "cannot read the input", &err);
        goto out;
    }
    if (ag_rolemap_apply(a, m, claims, &id, &err) != AG_OK) {
        ec = ag_rm_fail(a, &o, "bad claims", &err);
        goto out;
    }
    if (o.json) {
        ag_json *doc = ag_rm_json_doc(a, &o, &src, m);
        ag_json_update(doc, ag_rolemap_identity_to_json(a, id, AG_ROLEMAP_JSON_EXPLAIN), false);
        ag_rm_print_json(doc);
    } else if (ag_rm_print_human(&o, &src, m, id) != 0) {
        fputs("airgate rolemap: output too large\n", stderr);
        ec = AG_EXIT_USAGE;
        goto out;
    }
    if (o.no_verify)
        fprintf(stderr, "airgate rolemap: %s\n", AG_RM_BANNER);
    ec = id->allowed ? AG_EXIT_OK : AG_EXIT_FAIL;
out:
    ag_arena_free(a);
    ag_config_unref(cfg);
    return ec;
}
