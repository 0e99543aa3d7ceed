/* `airgate check-config -c FILE`: not built yet; its owner replaces this file. */
#include <stdio.h>

#include "cli/cli.h"

int ag_cmd_check_config(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("airgate check-config: not available in this build yet\n", stderr);
    return AG_EXIT_USAGE;
}
