/* `airgate check-config -c FILE [--quiet] [--reference]`: validates a config, prints the effective
 * configuration with secrets redacted (or every error), or prints the generated reference. */
#include <stdio.h>
#include <string.h>

#include "auth/assertion/assertion.h"
#include "auth/jose/jwe.h"
#include "core/arena.h"
#include "rolemap/rolemap.h"
#include "cli/cli.h"
#include "conf/config.h"
#include "conf/reference.h"

extern char **environ;

static const char ag_check_config_usage[] =
    "Usage: airgate check-config -c FILE [--quiet]\n"
    "       airgate check-config --reference\n"
    "\n"
    "Validates FILE with the AIRGATE_* environment overlaid (the environment wins) and prints\n"
    "the effective configuration as YAML, secrets redacted, each value commented with where it\n"
    "came from. Every problem is printed to stderr as FILE:LINE: key: what is wrong.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   the config file to check\n"
    "  -q, --quiet         print nothing when the config is valid\n"
    "      --reference     print the Markdown reference of every key (docs/config.md)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit codes: 0 valid, 2 invalid config or bad usage.\n";

int ag_cmd_check_config(int argc, char **argv)
{
    const char *path = NULL;
    int quiet = 0, reference = 0;
    if (ag_cli_wants_help(argc, argv)) {
        fputs(ag_check_config_usage, stdout);
        return AG_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "airgate check-config: %s needs a file\n\n%s", a,
                        ag_check_config_usage);
                return AG_EXIT_USAGE;
            }
            path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            path = a + 9;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--reference") == 0) {
            reference = 1;
        } else {
            fprintf(stderr, "airgate check-config: unknown argument '%s'\n\n%s", a,
                    ag_check_config_usage);
            return AG_EXIT_USAGE;
        }
    }
    if (reference) {
        ag_config_reference_print(stdout);
        return AG_EXIT_OK;
    }
    if (!path || !*path) {
        fprintf(stderr, "airgate check-config: -c FILE is required\n\n%s", ag_check_config_usage);
        return AG_EXIT_USAGE;
    }
    struct ag_config *cfg = NULL;
    if (ag_config_load(path, environ, &cfg, stderr) != AG_OK) {
        fprintf(stderr, "airgate check-config: %s is not valid\n", path);
        return AG_EXIT_USAGE;
    }
    /* The assertion key must also be usable (an EC P-256 key), as `serve` will require. */
    struct ag_assertion_signer *signer = NULL;
    struct ag_err err = {0};
    if (ag_assertion_signer_new(cfg, &signer, &err) != AG_OK) {
        char where[512];
        ag_config_locate(cfg, "assertion.key", where, sizeof(where));
        const char *msg = err.msg;
        if (strncmp(msg, "assertion.key: ", 15) == 0)
            msg += 15;
        fprintf(stderr, "%s: assertion.key: %s\nairgate check-config: %s is not valid\n", where,
                msg, path);
        ag_config_unref(cfg);
        return AG_EXIT_USAGE;
    }
    ag_assertion_signer_free(signer);
    /* The JWE decryption keys must load too (type, size, curve, an allowed alg for each). */
    unsigned enc_algs = 0;
    struct ag_jwe_keys *dec = NULL;
    if (ag_jwe_algs_from_names(cfg->oidc.allowed_enc_algs.items, cfg->oidc.allowed_enc_algs.n,
                               &enc_algs, &err) != AG_OK ||
        ag_jwe_keys_new(&cfg->oidc.decryption_key, enc_algs, &dec, &err) != AG_OK) {
        char where[512];
        ag_config_locate(cfg, "oidc.decryption_key", where, sizeof(where));
        fprintf(stderr, "%s: %s\nairgate check-config: %s is not valid\n", where, err.msg, path);
        ag_config_unref(cfg);
        return AG_EXIT_USAGE;
    }
    ag_jwe_keys_free(dec);
    /* Claim paths and role names are rolemap's grammar: compile it, as `serve` will. */
    struct ag_arena *arena = ag_arena_new(0);
    struct ag_rolemap *rolemap = NULL;
    if (ag_rolemap_compile(arena, cfg, &rolemap, &err) != AG_OK) {
        char where[512];
        ag_config_locate(cfg, "roles.claims", where, sizeof(where));
        fprintf(stderr, "%s: roles: %s\nairgate check-config: %s is not valid\n", where, err.msg,
                path);
        ag_arena_free(arena);
        ag_config_unref(cfg);
        return AG_EXIT_USAGE;
    }
    ag_arena_free(arena);
    if (!quiet)
        ag_config_print(cfg, stdout);
    ag_config_unref(cfg);
    return AG_EXIT_OK;
}
