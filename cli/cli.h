/* The airgate command line: one entry point per subcommand, each in its own cmd_*.c.
 * Every command returns its process exit code (see the AG_EXIT_* values and docs/cli.md). */
#ifndef AG_CLI_CLI_H
#define AG_CLI_CLI_H

enum {
    AG_EXIT_OK = 0,
    AG_EXIT_FAIL = 1,  /* runtime failure; invalid token; denied by policy */
    AG_EXIT_USAGE = 2, /* bad usage, bad config, unreadable input */
};

/** `airgate serve -c FILE` */
int ag_cmd_serve(int argc, char **argv);

/** `airgate check-config -c FILE` */
int ag_cmd_check_config(int argc, char **argv);

/** `airgate rolemap -c FILE [--token JWT | --claims FILE | -] [--no-verify] [--json]` */
int ag_cmd_rolemap(int argc, char **argv);

/** `airgate token verify ...` */
int ag_cmd_token(int argc, char **argv);

/** True when argv (after the subcommand) asks for help. */
int ag_cli_wants_help(int argc, char **argv);

#endif
