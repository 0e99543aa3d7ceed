/* libFuzzer target: the config loader (ag_config_load) on an arbitrary file, as a careless
 * operator (or a broken templating step) might write it. The input is written to config.yaml in
 * a private temporary directory that also holds secrets/cookie-secret and
 * secrets/client-secret, so relative `*_file` keys resolve. Leading lines of the form
 * "#!NAME=VALUE" (YAML comments) become the environment overlay, e.g.
 * "#!AIRGATE_OIDC_CLIENT_ID=x".
 *
 * Checked: no crash, hang or leak on any input (billion laughs, deep nesting, huge scalars,
 * bad UTF-8 are all refused with errors); a refused config reports at least one error line and
 * hands out no config; an accepted one prints (secrets redacted) and is released cleanly.
 * With AG_FUZZ_VERBOSE set in the environment, the verdict and the errors go to stderr. */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/config.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AG_FZ_MAX_ENV 16

static char ag_fz_dir[256];
static char ag_fz_path[300];

static void ag_fz_write(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            abort();
        p += w;
        n -= (size_t)w;
    }
    close(fd);
}

static void ag_fz_cleanup(void)
{
    char p[320];
    snprintf(p, sizeof(p), "%s/secrets/cookie-secret", ag_fz_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/secrets/client-secret", ag_fz_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/secrets", ag_fz_dir);
    rmdir(p);
    unlink(ag_fz_path);
    rmdir(ag_fz_dir);
}

static void ag_fz_init(void)
{
    ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
    /* A `*_file: /dev/stdin` must not wait for a terminal or the fuzzer's pipe. */
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0)
        abort();
    close(null);
    const char *tmp = getenv("TMPDIR");
    snprintf(ag_fz_dir, sizeof(ag_fz_dir), "%s/ag-fuzz-config-XXXXXX",
             tmp && *tmp && strlen(tmp) < 200 ? tmp : "/tmp");
    if (!mkdtemp(ag_fz_dir))
        abort();
    char p[320];
    snprintf(p, sizeof(p), "%s/secrets", ag_fz_dir);
    if (mkdir(p, 0700) != 0)
        abort();
    static const char cookie[] = "fuzz-cookie-secret-0123456789abcdef-0123456789\n";
    static const char client[] = "fuzz-client-secret\n";
    snprintf(p, sizeof(p), "%s/secrets/cookie-secret", ag_fz_dir);
    ag_fz_write(p, cookie, sizeof(cookie) - 1);
    snprintf(p, sizeof(p), "%s/secrets/client-secret", ag_fz_dir);
    ag_fz_write(p, client, sizeof(client) - 1);
    snprintf(ag_fz_path, sizeof(ag_fz_path), "%s/config.yaml", ag_fz_dir);
    atexit(ag_fz_cleanup);
}

/* Collects the leading "#!NAME=VALUE" lines as environment entries (copies in *store). */
static size_t ag_fz_env(const uint8_t *data, size_t size, char **envp, char **store)
{
    size_t n = 0, i = 0;
    char *buf = malloc(size + 1);
    if (!buf)
        abort();
    *store = buf;
    while (n < AG_FZ_MAX_ENV && i + 2 <= size && data[i] == '#' && data[i + 1] == '!') {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t end = nl ? (size_t)(nl - data) : size;
        size_t len = end - i - 2;
        memcpy(buf, data + i + 2, len);
        buf[len] = '\0';
        if (strlen(buf) == len && strchr(buf, '=')) /* no NUL inside: a real variable */
            envp[n++] = buf;
        buf += len + 1;
        i = end + 1;
    }
    envp[n] = NULL;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ag_fz_path[0])
        ag_fz_init();
    if (size > 2 * 1024 * 1024)
        return 0;
    ag_fz_write(ag_fz_path, data, size);
    char *envp[AG_FZ_MAX_ENV + 1];
    char *store = NULL;
    ag_fz_env(data, size, envp, &store);

    char *errtext = NULL;
    size_t errlen = 0;
    FILE *errs = open_memstream(&errtext, &errlen);
    if (!errs)
        abort();
    struct ag_config *cfg = NULL;
    enum ag_rc rc = ag_config_load(ag_fz_path, envp, &cfg, errs);
    fclose(errs);
    if (getenv("AG_FUZZ_VERBOSE")) /* for looking at one input by hand */
        fprintf(stderr, "config: %s\n%s", rc == AG_OK ? "accepted" : "refused", errtext);
    if (rc != AG_OK && (cfg || errlen == 0))
        abort(); /* a refused config says why and hands nothing out */
    if (rc == AG_OK) {
        if (!cfg || !cfg->listen || !cfg->public_url || !cfg->oidc.issuer ||
            cfg->session.cookie_secret.len == 0)
            abort();
        char *printed = NULL;
        size_t plen = 0;
        FILE *out = open_memstream(&printed, &plen);
        if (!out)
            abort();
        ag_config_print(cfg, out);
        fclose(out);
        if (plen == 0)
            abort();
        free(printed);
        ag_config_unref(ag_config_ref(cfg));
        ag_config_unref(cfg);
    }
    free(errtext);
    free(store);
    return 0;
}
