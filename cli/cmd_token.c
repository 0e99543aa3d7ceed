/* `airgate token verify`: verifies one compact JWS against a JWK Set (file or URL), prints the
 * payload on success and the reason on failure. Exit 0 valid, 1 invalid, 2 usage or key set. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/idp/discovery.h"
#include "auth/idp/http_fetch.h"
#include "auth/jose/jwks.h"
#include "auth/jose/jws.h"
#include "auth/jose/jwt.h"
#include "cli/cli.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"

static const char ag_token_usage[] =
    "Usage: airgate token verify (--jwks FILE_OR_URL | --issuer ISS) [OPTIONS] TOKEN|-\n"
    "\n"
    "Verifies one compact JWS/JWT against a JWK Set. Prints the payload (pretty JSON) on\n"
    "success, the reason on failure. TOKEN '-' reads the token from standard input.\n"
    "\n"
    "Options:\n"
    "  --jwks FILE_OR_URL   the JWK Set: a file, or an http(s):// URL\n"
    "  --issuer ISS         require iss == ISS exactly; without --jwks, the key set is found\n"
    "                       by OIDC discovery (ISS/.well-known/openid-configuration)\n"
    "  --audience AUD       require aud to contain AUD (azp is not a substitute)\n"
    "  --accept-azp-as-audience\n"
    "                       with --audience: also accept azp == AUD when aud lacks it\n"
    "  --alg LIST           allowed algorithms, e.g. RS256,PS256,ES256 (default: every\n"
    "                       asymmetric one; HS* only when listed; never none)\n"
    "  --no-claims          check the signature only (the payload need not be JSON)\n"
    "  --leeway S           clock skew allowed on exp/nbf/iat, seconds (default 60)\n"
    "  --ca-file F          CA bundle for an https key set URL\n"
    "  --max-bytes N        largest token accepted, 16..1048576 (default 1048576, 1 MiB)\n"
    "  -h, --help           this help\n"
    "\n"
    "Exit codes: 0 valid, 1 invalid (reason on stderr), 2 usage error or unreadable key set.\n";

static int ag_token_usage_error(const char *fmt, ...) AG_PRINTF(1, 2);

static int ag_token_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("airgate token verify: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    fputs(ag_token_usage, stderr);
    return AG_EXIT_USAGE;
}

static enum ag_rc ag_token_read_stdin(struct ag_buf *b, size_t max, struct ag_err *err)
{
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (b->len + n > max + 2) /* room for a trailing newline */
            return ag_err_set(err, AG_EINVAL, "token on stdin is over the %zu-byte limit", max);
        if (ag_buf_append(b, chunk, n) != AG_OK)
            return ag_err_set(err, AG_ENOMEM, "token on stdin is too large");
    }
    if (ferror(stdin))
        return ag_err_set(err, AG_EIO, "cannot read the token from stdin: %s", strerror(errno));
    /* Trailing whitespace (echo, heredoc) is not part of the token. */
    while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r' ||
                      b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\t'))
        b->data[--b->len] = '\0';
    return AG_OK;
}

static enum ag_rc ag_token_load_keys(const char *src, const char *ca_file, struct ag_keyset **ks,
                                     struct ag_err *err)
{
    if (strncmp(src, "https://", 8) != 0 && strncmp(src, "http://", 7) != 0)
        return ag_jwks_load_file(src, ks, err);
    if (ag_http_fetch_global_init() != AG_OK)
        return ag_err_set(err, AG_EUPSTREAM, "cannot initialise libcurl");
    struct ag_http_fetch_opts o = {.ca_file = ca_file, .max_bytes = AG_JWKS_MAX_BYTES};
    struct ag_buf b;
    ag_buf_init(&b, AG_JWKS_MAX_BYTES + 1);
    enum ag_rc rc = ag_http_fetch_get(src, &o, &b, err);
    if (rc == AG_OK)
        rc = ag_jwks_parse(b.data ? b.data : "", b.len, ks, err);
    ag_buf_release(&b, 0);
    return rc;
}

static void ag_token_print_payload(const struct ag_jwt *jwt)
{
    if (jwt->claims) {
        char *s = ag_json_dump(jwt->claims, AG_JSON_PRETTY);
        if (s) {
            puts(s);
            free(s);
            return;
        }
    }
    fwrite(jwt->payload, 1, jwt->payload_len, stdout);
    if (jwt->payload_len == 0 || jwt->payload[jwt->payload_len - 1] != '\n')
        putchar('\n');
}

/* The parsed command line of `token verify`. */
struct ag_token_args {
    const char *jwks, *ca_file, *token;
    struct ag_jwt_policy pol;
};

/* Parses argv into out: -1 when the command goes on, else the exit code (usage, --help). */
static int ag_token_parse_args(int argc, char **argv, struct ag_token_args *out)
{
    static const struct option opts[] = {
        {"jwks", required_argument, NULL, 'j'},
        {"issuer", required_argument, NULL, 'i'},
        {"audience", required_argument, NULL, 'a'},
        {"alg", required_argument, NULL, 'g'},
        {"no-claims", no_argument, NULL, 'n'},
        {"leeway", required_argument, NULL, 'l'},
        {"ca-file", required_argument, NULL, 'c'},
        {"max-bytes", required_argument, NULL, 'm'},
        {"accept-azp-as-audience", no_argument, NULL, 'z'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ag_jwt_policy *pol = &out->pol;
    struct ag_err err = {0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'j':
            out->jwks = optarg;
            break;
        case 'i':
            pol->issuer = optarg;
            break;
        case 'a':
            pol->audience = optarg;
            pol->azp = optarg;
            break;
        case 'g':
            if (ag_jws_algs_parse(optarg, &pol->allowed_algs, &err) != AG_OK)
                return ag_token_usage_error("--alg: %s", err.msg);
            break;
        case 'z':
            pol->accept_azp = true;
            break;
        case 'n':
            pol->check_claims = false;
            break;
        case 'l':
            errno = 0;
            pol->leeway_s = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || pol->leeway_s < 0 || pol->leeway_s > 86400)
                return ag_token_usage_error("--leeway must be 0..86400 seconds, not '%s'", optarg);
            break;
        case 'c':
            out->ca_file = optarg;
            break;
        case 'm': {
            errno = 0;
            long long m = strtoll(optarg, &end, 10);
            if (errno || *end || end == optarg || m < 16 || m > AG_CLI_MAX_TOKEN_BYTES)
                return ag_token_usage_error("--max-bytes must be 16..%u, not '%s'",
                                            AG_CLI_MAX_TOKEN_BYTES, optarg);
            pol->max_token_bytes = (size_t)m;
            break;
        }
        case 'h':
            fputs(ag_token_usage, stdout);
            return AG_EXIT_OK;
        default:
            return ag_token_usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (!out->jwks && !pol->issuer)
        return ag_token_usage_error("%s", "--jwks FILE_OR_URL or --issuer ISS is required");
    if (optind != argc - 1)
        return ag_token_usage_error("%s", "exactly one TOKEN (or '-') is required");
    out->token = argv[optind];
    if (!pol->max_token_bytes)
        pol->max_token_bytes = AG_CLI_MAX_TOKEN_BYTES;
    return -1;
}

/* The key set named by --jwks, or found by OIDC discovery from --issuer. An exit code on
 * failure (after saying why), -1 when *ks is loaded. */
static int ag_token_key_set(const struct ag_token_args *args, struct ag_keyset **ks)
{
    struct ag_err err = {0};
    const char *jwks = args->jwks;
    struct ag_arena *da = ag_arena_new(0); /* the discovery document, while jwks points into it */
    if (!jwks) {
        if (ag_http_fetch_global_init() != AG_OK) {
            fprintf(stderr, "airgate token verify: cannot initialise libcurl\n");
            ag_arena_free(da);
            return AG_EXIT_USAGE;
        }
        struct ag_http_fetch_opts o = {.ca_file = args->ca_file};
        struct ag_oidc_meta *m = NULL;
        if (ag_discovery_fetch(da, args->pol.issuer, &o, &m, &err) != AG_OK) {
            fprintf(stderr, "airgate token verify: cannot discover the key set of %s: %s\n",
                    args->pol.issuer, err.msg);
            ag_arena_free(da);
            return AG_EXIT_USAGE;
        }
        jwks = m->jwks_uri;
    }
    enum ag_rc rc = ag_token_load_keys(jwks, args->ca_file, ks, &err);
    if (rc != AG_OK)
        fprintf(stderr, "airgate token verify: cannot use key set %s: %s\n", jwks, err.msg);
    ag_arena_free(da);
    return rc == AG_OK ? -1 : AG_EXIT_USAGE;
}

/* Verifies the token against ks and says the verdict: the exit code. */
static int ag_token_check(struct ag_keyset *ks, const struct ag_jwt_policy *pol, const char *token,
                          size_t len)
{
    struct ag_err err = {0};
    struct ag_arena *a = ag_arena_new(0);
    struct ag_jwt *jwt;
    int code;
    enum ag_rc rc = ag_jwt_verify(a, ks, pol, token, len, &jwt, &err);
    if (rc == AG_OK) {
        ag_token_print_payload(jwt);
        fprintf(stderr, "airgate token verify: valid (alg %s, kid %s)\n", jwt->alg_name,
                jwt->kid ? jwt->kid : "(none)");
        code = AG_EXIT_OK;
    } else {
        /* "invalid (invalid)" says nothing: a refused claim or limit is a policy failure */
        fprintf(stderr, "airgate token verify: invalid (%s): %s\n",
                rc == AG_EINVAL ? "policy" : ag_rc_name(rc), err.msg);
        code = AG_EXIT_FAIL;
    }
    ag_arena_free(a);
    return code;
}

static int ag_token_verify(int argc, char **argv)
{
    struct ag_token_args args = {0};
    ag_jwt_policy_init(&args.pol);
    int code = ag_token_parse_args(argc, argv, &args);
    if (code >= 0)
        return code;
    const char *token = args.token;
    size_t max = args.pol.max_token_bytes;
    struct ag_buf in;
    ag_buf_init(&in, max + 16);
    if (strcmp(token, "-") == 0) {
        struct ag_err err = {0};
        enum ag_rc rc = ag_token_read_stdin(&in, max, &err);
        if (rc != AG_OK) {
            fprintf(stderr, "airgate token verify: %s%s\n",
                    rc == AG_EIO ? "" : "invalid: ", err.msg);
            ag_buf_release(&in, 1);
            return rc == AG_EIO ? AG_EXIT_USAGE : AG_EXIT_FAIL;
        }
        token = in.data ? in.data : "";
    }
    struct ag_keyset *ks = NULL;
    code = ag_token_key_set(&args, &ks);
    if (code < 0) {
        code = ag_token_check(ks, &args.pol, token, token == in.data ? in.len : strlen(token));
        ag_jwks_unref(ks);
    }
    ag_buf_release(&in, 1);
    return code;
}

int ag_cmd_token(int argc, char **argv)
{
    /* Skipped keys are worth seeing here, as plain text rather than JSON log lines. */
    ag_log_setup(AG_LOG_WARN, AG_LOG_TEXT, 2);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(ag_token_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? AG_EXIT_USAGE : AG_EXIT_OK;
    }
    if (strcmp(argv[1], "verify") != 0) {
        fprintf(stderr, "airgate token: unknown subcommand '%s'\n\n%s", argv[1], ag_token_usage);
        return AG_EXIT_USAGE;
    }
    return ag_token_verify(argc - 1, argv + 1);
}
