/* Hostile inputs generated at test time: a 10 MB file, an alias bomb ("billion laughs") and
 * deep nesting. Each must be refused with one clear line; ctest's TIMEOUT catches a hang. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_test_util.h"

static char *const no_env[] = {NULL};

Test(limits, ten_megabyte_file)
{
    size_t n = 10u * 1024u * 1024u;
    char *big = malloc(n);
    /* valid YAML all the way (comment lines), so only the size cap can stop it */
    for (size_t i = 0; i < n; i += 64) {
        memset(big + i, 'x', 64);
        big[i] = '#';
        big[i + 63] = '\n';
    }
    char *p = ct_write("big.yaml", big, n);
    free(big);
    char *e = ct_errors_file(p, no_env);
    cr_assert_str_eq(e, "CFG:1: cannot read the config: file is 10485760 bytes, larger than the "
                        "limit of 1048576 (1 MiB)\n");
    free(e);
    unlink(p);
    free(p);
}

Test(limits, billion_laughs)
{
    /* The classic: 9 levels of 9 aliases each to the level below. */
    char buf[8192];
    size_t o = (size_t)snprintf(buf, sizeof(buf), "a0: &a0 [\"lol\"]\n");
    for (int lvl = 1; lvl < 10; lvl++) {
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "a%d: &a%d [", lvl, lvl);
        for (int k = 0; k < 9; k++)
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s*a%d", k ? ", " : "", lvl - 1);
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "]\n");
    }
    char *e = ct_errors(buf, no_env);
    cr_assert_str_eq(e, "CFG:1: YAML anchors (&name) are not allowed in the config (aliases to "
                        "them can expand without bound)\n");
    free(e);
}

Test(limits, deep_flow_nesting)
{
    size_t depth = 100000;
    char *y = malloc(2 * depth + 16);
    size_t o = 0;
    memcpy(y, "listen: ", 8);
    o = 8;
    for (size_t i = 0; i < depth; i++)
        y[o++] = '[';
    for (size_t i = 0; i < depth; i++)
        y[o++] = ']';
    y[o++] = '\n';
    y[o] = '\0';
    char *e = ct_errors(y, no_env);
    cr_assert_str_eq(e, "CFG:1: YAML nested deeper than 16 levels\n");
    free(e);
    free(y);
}

Test(limits, deep_block_nesting)
{
    char y[8192];
    size_t o = 0;
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(y + o, sizeof(y) - o, "%*sk%d:\n", 2 * i, "", i);
    /* the root mapping is level 1, so the map starting on line 17 is level 17 */
    char *e = ct_errors(y, no_env);
    cr_assert_str_eq(e, "CFG:17: YAML nested deeper than 16 levels\n");
    free(e);
}

Test(limits, many_errors_stay_bounded)
{
    /* 5000 unknown keys: every one is reported, none crashes. */
    size_t n = 5000;
    char *y = malloc(n * 16 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(y + o, 16, "k%zu: 1\n", i);
    char *e = ct_errors(y, no_env);
    size_t lines = 0;
    for (char *p = e; (p = strchr(p, '\n')); p++)
        lines++;
    /* n unknown keys + the 7 required keys missing */
    cr_assert_eq(lines, n + 7, "%zu lines", lines);
    free(e);
    free(y);
}
