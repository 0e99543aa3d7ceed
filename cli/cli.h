/* The airgate command line: one entry point per subcommand, each in its own cmd_*.c.
 * Every command returns its process exit code (see the AG_EXIT_* values and docs/cli.md). */
#ifndef AG_CLI_CLI_H
#define AG_CLI_CLI_H

/* Largest token `token verify` and `rolemap --token` accept (argument or stdin): 1 MiB. The
 * proxy path is bounded by server.max_header_bytes instead (the token is inside the head). */
#define AG_CLI_MAX_TOKEN_BYTES (1024u * 1024u)

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
