/* airgate: OIDC authentication reverse proxy for Apache Airflow. Dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "conf/options.h"

static const char ag_usage[] =
    "airgate " AG_VERSION " - Keycloak single sign-on in front of Apache Airflow\n"
    "\n"
    "Usage: airgate COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  serve -c FILE            run the proxy (SIGTERM drains, SIGHUP reloads)\n"
    "  check-config -c FILE     validate a config and print it with secrets redacted\n"
    "  rolemap -c FILE ...      dry run: which Airflow roles a token or claims get, and why\n"
    "  token verify ...         verify one JWS/JWT against a JWK Set\n"
    "  version                  print the version\n"
    "\n"
    "Run 'airgate COMMAND --help' for a command's options.\n"
    "Exit codes: 0 success/valid/allowed, 1 failure/invalid/denied, 2 bad usage or config.\n";

struct ag_command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static int ag_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("airgate %s\n", AG_VERSION);
    return AG_EXIT_OK;
}

static const struct ag_command ag_commands[] = {
    {"serve", ag_cmd_serve}, {"check-config", ag_cmd_check_config}, {"rolemap", ag_cmd_rolemap},
    {"token", ag_cmd_token}, {"version", ag_cmd_version},
};

int ag_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(ag_usage, stderr);
        return AG_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        fputs(ag_usage, stdout);
        return AG_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
        return ag_cmd_version(0, NULL);
    for (size_t i = 0; i < sizeof(ag_commands) / sizeof(ag_commands[0]); i++) {
        if (strcmp(name, ag_commands[i].name) == 0)
            return ag_commands[i].run(argc - 1, argv + 1);
    }
    static const char *const names[] = {"serve", "check-config", "rolemap",
                                        "token", "version",      NULL};
    const char *sug = ag_conf_suggest_word(name, names);
    if (sug)
        fprintf(stderr, "airgate: unknown command '%s' (did you mean %s?)\n\n%s", name, sug,
                ag_usage);
    else
        fprintf(stderr, "airgate: unknown command '%s'\n\n%s", name, ag_usage);
    return AG_EXIT_USAGE;
}
