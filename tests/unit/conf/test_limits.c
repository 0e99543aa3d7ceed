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
    /* 5000 keys: one line refuses the oversized mapping instead of 5000 (and O(n^2) work). */
    size_t n = 5000;
    char *y = malloc(n * 16 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(y + o, 16, "k%zu: 1\n", i);
    char *e = ct_errors(y, no_env);
    size_t lines = 0;
    for (char *p = e; (p = strchr(p, '\n')); p++)
        lines++;
    /* the mapping refused + the 7 required keys missing */
    cr_assert_eq(lines, 1 + 7, "%zu lines", lines);
    cr_assert(strstr(e, "CFG:1: 5000 keys in one mapping; at most 256 are allowed"), "%s", e);
    free(e);
    free(y);
}

Test(limits, sixty_thousand_keys_load_quickly)
{
    /* Found by fuzz_config: a quadratic duplicate check made this take 16 s (ctest's timeout
     * catches a regression; the assertion checks the answer). */
    size_t n = 60000;
    char *y = malloc(n * 16 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(y + o, 16, "k%zu: %zu\n", i, i);
    char *e = ct_errors(y, no_env);
    cr_assert(strstr(e, "60000 keys in one mapping"), "%.200s", e);
    free(e);
    free(y);
}

Test(limits, a_section_with_too_many_keys_is_refused)
{
    size_t n = 300;
    char *y = malloc(n * 24 + 16);
    size_t o = (size_t)snprintf(y, 16, "oidc:\n");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(y + o, 24, "  k%zu: 1\n", i);
    char *e = ct_errors(y, no_env);
    cr_assert(strstr(e, "CFG:2: oidc: 300 keys in one mapping; at most 256 are allowed"), "%s", e);
    free(e);
    free(y);
}

/* Deterministic mutations of a valid config (bounded: 1500 rounds): every result is either a
 * valid config or errors that are all "CFG:LINE: ..." lines; nothing crashes (ASan build too). */
Test(limits, mutated_configs_never_crash)
{
    static const char base[] = BASE "trusted_proxies: [\"10.0.0.0/8\", \"::1\"]\n"
                                    "log: { level: debug, format: text }\n";
    static const char junk[] = "{}[]:,-&*!|>'\"#%@`\n \t\\\xc3\xa9\xff";
    unsigned long long seed = 0x9e3779b97f4a7c15ull;
    size_t valid = 0, invalid = 0;
    for (int round = 0; round < 1500; round++) {
        char buf[sizeof(base) + 64];
        size_t len = sizeof(base) - 1;
        memcpy(buf, base, len);
        int edits = 1 + round % 4;
        for (int e = 0; e < edits; e++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(seed >> 33) % len;
            unsigned op = (unsigned)(seed >> 20) % 3;
            char c = junk[(seed >> 40) % (sizeof(junk) - 1)];
            if (op == 0) {
                buf[pos] = c; /* replace */
            } else if (op == 1 && len + 1 < sizeof(buf)) {
                memmove(buf + pos + 1, buf + pos, len - pos); /* insert */
                buf[pos] = c;
                len++;
            } else if (len > 1) {
                memmove(buf + pos, buf + pos + 1, len - pos - 1); /* delete */
                len--;
            }
        }
        char *p = ct_write("mutant.yaml", buf, len);
        char *err = ct_errors_file(p, no_env);
        if (!err) {
            valid++;
        } else {
            invalid++;
            cr_assert(err[0] != '\0', "failure without a message");
            for (char *line = err; *line;) {
                char *nl = strchr(line, '\n');
                cr_assert_not_null(nl, "error output must end in a newline: %s", err);
                cr_assert(strncmp(line, "CFG:", 4) == 0, "bad error line: %.*s", (int)(nl - line),
                          line);
                line = nl + 1;
            }
            free(err);
        }
        free(p);
    }
    /* the mix must exercise both outcomes, or the mutations are not doing anything */
    cr_assert(valid > 0 && invalid > 0, "valid %zu invalid %zu", valid, invalid);
}
