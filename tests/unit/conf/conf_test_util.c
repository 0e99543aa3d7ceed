#include "conf_test_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *ct_dir(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/ag_conf_XXXXXX", t && *t ? t : "/tmp");
        cr_assert_not_null(mkdtemp(dir));
    }
    return dir;
}

char *ct_write(const char *name, const char *data, size_t len)
{
    size_t n = strlen(ct_dir()) + strlen(name) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", ct_dir(), name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    return path;
}

/* Replaces every occurrence of path in s by "CFG". */
static char *ct_replace_path(char *s, const char *path)
{
    size_t pl = strlen(path);
    char *out = malloc(strlen(s) + 1);
    size_t o = 0;
    for (const char *p = s; *p;) {
        if (strncmp(p, path, pl) == 0) {
            memcpy(out + o, "CFG", 3);
            o += 3;
            p += pl;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    free(s);
    return out;
}

char *ct_errors_file(const char *path, char *const *envp)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *errs = open_memstream(&buf, &len);
    struct ag_config *c = NULL;
    enum ag_rc rc = ag_config_load(path, envp, &c, errs);
    fclose(errs);
    if (rc == AG_OK) {
        cr_assert_not_null(c);
        ag_config_unref(c);
        free(buf);
        return NULL;
    }
    cr_assert_eq(rc, AG_ECONF);
    cr_assert_null(c, "out must stay untouched on failure");
    return ct_replace_path(buf, path);
}

char *ct_errors(const char *yaml, char *const *envp)
{
    char *path = ct_write("airgate.yaml", yaml, strlen(yaml));
    char *e = ct_errors_file(path, envp);
    unlink(path);
    free(path);
    return e;
}

struct ag_config *ct_load(const char *yaml, char *const *envp)
{
    char *path = ct_write("airgate.yaml", yaml, strlen(yaml));
    char *buf = NULL;
    size_t len = 0;
    FILE *errs = open_memstream(&buf, &len);
    struct ag_config *c = NULL;
    enum ag_rc rc = ag_config_load(path, envp, &c, errs);
    fclose(errs);
    cr_assert_eq(rc, AG_OK, "config should load, got:\n%s", buf);
    cr_assert_not_null(c);
    free(buf);
    unlink(path);
    free(path);
    return c;
}

char *ct_print(const struct ag_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ag_config_print(c, f);
    fclose(f);
    return buf;
}
