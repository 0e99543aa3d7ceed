/* `airgate token verify` end to end: the real binary, real keys and tokens, exit codes 0/1/2. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "mint.h"

#define ISS "https://sso.example.com/realms/data"

static char dir[256];
static char jwks_path[300];
static struct ag_mint_key key;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ag-cli-token-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    ag_mint_key_new(&key, AG_JWS_RS256, "cli-1");
    char *j = ag_mint_jwk(&key, 1, "\"use\":\"sig\"");
    const char *one[] = {j};
    char *set = ag_mint_jwks(one, 1);
    snprintf(jwks_path, sizeof(jwks_path), "%s/jwks.json", dir);
    FILE *f = fopen(jwks_path, "w");
    cr_assert_not_null(f);
    fputs(set, f);
    fclose(f);
    free(set);
    free(j);
}

static void teardown(void)
{
    ag_mint_key_free(&key);
    char p[400];
    snprintf(p, sizeof(p), "%s/bad.json", dir);
    unlink(p);
    unlink(jwks_path);
    rmdir(dir);
}

TestSuite(cli_token, .init = setup, .fini = teardown, .timeout = 30);

struct run {
    int code;
    struct ag_buf out, err;
};

/* Runs airgate with args, feeding stdin_data; collects stdout and stderr. */
static void run(struct run *r, const char *stdin_data, const char *const *args)
{
    char bin[512];
    const char *bd = getenv("AG_BINARY_DIR");
    snprintf(bin, sizeof(bin), "%s/airgate", bd ? bd : ".");
    const char *argv[32] = {bin};
    size_t n = 1;
    while (args[n - 1] && n < 31) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    int in[2], out[2], err[2];
    cr_assert(pipe(in) == 0 && pipe(out) == 0 && pipe(err) == 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(in[1]);
        close(out[0]);
        close(err[0]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    signal(SIGPIPE, SIG_IGN);
    ag_buf_init(&r->out, 0);
    ag_buf_init(&r->err, 0);
    size_t left = stdin_data ? strlen(stdin_data) : 0;
    const char *p = stdin_data;
    if (!left)
        close(in[1]);
    struct pollfd fds[3] = {
        {out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {left ? in[1] : -1, POLLOUT, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        cr_assert(poll(fds, 3, 20000) > 0, "airgate hung");
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP))) {
                char buf[8192];
                ssize_t got = read(fds[i].fd, buf, sizeof(buf));
                if (got <= 0) {
                    close(fds[i].fd);
                    fds[i].fd = -1;
                    open_fds--;
                } else {
                    cr_assert_eq(ag_buf_append(i ? &r->err : &r->out, buf, (size_t)got), AG_OK);
                }
            }
        }
        if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(fds[2].fd, p, left > 65536 ? 65536 : left);
            if (w <= 0) {
                left = 0;
            } else {
                p += w;
                left -= (size_t)w;
            }
            if (!left) {
                close(fds[2].fd);
                fds[2].fd = -1;
            }
        }
    }
    int st;
    waitpid(pid, &st, 0);
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    if (!r->out.data)
        cr_assert_eq(ag_buf_puts(&r->out, ""), AG_OK);
    if (!r->err.data)
        cr_assert_eq(ag_buf_puts(&r->err, ""), AG_OK);
}

static void run_free(struct run *r)
{
    ag_buf_release(&r->out, 0);
    ag_buf_release(&r->err, 0);
}

static char *token_with(long exp_off, const char *aud, const char *azp)
{
    char p[512];
    snprintf(p, sizeof(p),
             "{\"iss\":\"" ISS "\",\"sub\":\"u1\",\"aud\":\"%s\",\"azp\":\"%s\",\"exp\":%lld}", aud,
             azp, (long long)time(NULL) + exp_off);
    return ag_mint_token(&key, p);
}

Test(cli_token, valid_token_exit_0_prints_pretty_payload)
{
    char *tok = token_with(300, "airflow", "airflow");
    struct run r;
    run(&r, NULL,
        (const char *[]){"token", "verify", "--jwks", jwks_path, "--issuer", ISS, "--audience",
                         "airflow", "--alg", "RS256", tok, NULL});
    cr_assert_eq(r.code, 0, "stderr: %s", r.err.data);
    cr_assert(strstr(r.out.data, "\n  \"sub\": \"u1\""), "stdout: %s", r.out.data);
    cr_assert(strstr(r.err.data, "valid (alg RS256, kid cli-1)"), "%s", r.err.data);
    run_free(&r);
    free(tok);
}

/* aud "account" + azp "airflow" (Keycloak without the Audience mapper): refused by default, the
 * reason naming both; --accept-azp-as-audience lets azp stand in, and only for AUD. */
Test(cli_token, azp_is_not_an_audience_unless_asked)
{
    char *tok = token_with(300, "account", "airflow");
    struct run r;
    run(&r, NULL,
        (const char *[]){"token", "verify", "--jwks", jwks_path, "--audience", "airflow", tok,
                         NULL});
    cr_assert_eq(r.code, 1, "stderr: %s", r.err.data);
    cr_assert(strstr(r.err.data, "audience mismatch: aud \"account\" does not contain "
                                 "\"airflow\""),
              "%s", r.err.data);
    cr_assert(strstr(r.err.data, "invalid (policy): "), "%s", r.err.data);
    run_free(&r);
    run(&r, NULL,
        (const char *[]){"token", "verify", "--jwks", jwks_path, "--audience", "airflow",
                         "--accept-azp-as-audience", tok, NULL});
    cr_assert_eq(r.code, 0, "stderr: %s", r.err.data);
    run_free(&r);
    run(&r, NULL,
        (const char *[]){"token", "verify", "--jwks", jwks_path, "--audience", "other",
                         "--accept-azp-as-audience", tok, NULL});
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err.data, "audience mismatch"), "%s", r.err.data);
    cr_assert(strstr(r.err.data, "and azp \"airflow\" is not the client id"), "%s", r.err.data);
    cr_assert_null(strstr(r.err.data, "invalid (invalid)"), "%s", r.err.data);
    run_free(&r);
    free(tok);
}

Test(cli_token, invalid_tokens_exit_1_with_reason)
{
    char *expired = token_with(-500, "airflow", "airflow");
    struct run r;
    run(&r, NULL, (const char *[]){"token", "verify", "--jwks", jwks_path, expired, NULL});
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err.data, "invalid (expired): token expired 500 s ago (leeway 60 s)") ||
                  strstr(r.err.data, "invalid (expired): token expired 501 s ago"),
              "%s", r.err.data);
    cr_assert_null(strstr(r.err.data, strrchr(expired, '.') + 1), "token leaked");
    run_free(&r);

    char *tok = token_with(300, "airflow", "airflow");
    tok[strlen(tok) - 5] ^= 1; /* corrupt the signature */
    run(&r, NULL, (const char *[]){"token", "verify", "--jwks", jwks_path, tok, NULL});
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err.data, "invalid ("), "%s", r.err.data);
    cr_assert_eq(r.out.len, 0);
    run_free(&r);

    run(&r, NULL,
        (const char *[]){"token", "verify", "--jwks", jwks_path, "--issuer", "https://other",
                         expired, NULL});
    cr_assert_eq(r.code, 1);
    run_free(&r);
    run(&r, NULL,
        (const char *[]){"token", "verify", "--jwks", jwks_path, "--alg", "ES256", expired, NULL});
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err.data, "alg RS256 is not allowed (allowed: ES256)"), "%s", r.err.data);
    run_free(&r);
    run(&r, NULL, (const char *[]){"token", "verify", "--jwks", jwks_path, "not-a-token", NULL});
    cr_assert_eq(r.code, 1);
    run_free(&r);
    free(tok);
    free(expired);
}

Test(cli_token, usage_and_key_set_errors_exit_2)
{
    char *tok = token_with(300, "airflow", "airflow");
    struct run r;
    run(&r, NULL, (const char *[]){"token", "verify", tok, NULL});
    cr_assert_eq(r.code, 2);
    run_free(&r);
    run(&r, NULL,
        (const char *[]){"token", "verify", "--jwks", "/nonexistent/jwks.json", tok, NULL});
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err.data, "cannot use key set"), "%s", r.err.data);
    run_free(&r);
    char bad[400];
    snprintf(bad, sizeof(bad), "%s/bad.json", dir);
    FILE *f = fopen(bad, "w");
    fputs("{\"keys\":[{\"kty\":\"RSA\"", f);
    fclose(f);
    run(&r, NULL, (const char *[]){"token", "verify", "--jwks", bad, tok, NULL});
    cr_assert_eq(r.code, 2);
    run_free(&r);
    run(&r, NULL,
        (const char *[]){"token", "verify", "--jwks", jwks_path, "--alg", "none", tok, NULL});
    cr_assert_eq(r.code, 2);
    run_free(&r);
    run(&r, NULL, (const char *[]){"token", "verify", "--jwks", jwks_path, "--bogus", tok, NULL});
    cr_assert_eq(r.code, 2);
    run_free(&r);
    run(&r, NULL, (const char *[]){"token", "verify", "--jwks", jwks_path, tok, tok, NULL});
    cr_assert_eq(r.code, 2);
    run_free(&r);
    run(&r, NULL,
        (const char *[]){"token", "verify", "--jwks", jwks_path, "--leeway", "x", tok, NULL});
    cr_assert_eq(r.code, 2);
    run_free(&r);
    run(&r, NULL, (const char *[]){"token", "frobnicate", NULL});
    cr_assert_eq(r.code, 2);
    run_free(&r);
    run(&r, NULL, (const char *[]){"token", "verify", "--help", NULL});
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out.data, "Usage: airgate token verify"));
    run_free(&r);
    free(tok);
}

/* Tokens beyond the 128 KiB argument limit come through stdin, up to 1 MiB: the review's valid
 * 267 KB token (over the old 262,144 cap) passes; over 1 MiB, or over --max-bytes, is refused. */
Test(cli_token, large_token_from_stdin)
{
    size_t n = 200 * 1024; /* about 273 KB once base64url-encoded */
    char *p = malloc(n + 256);
    int o = snprintf(p, n + 256, "{\"iss\":\"" ISS "\",\"aud\":\"airflow\",\"exp\":%lld,\"pad\":\"",
                     (long long)time(NULL) + 300);
    memset(p + o, 'x', n);
    snprintf(p + o + n, 256, "\"}");
    char *tok = ag_mint_token(&key, p);
    cr_assert_gt(strlen(tok), 262144);
    size_t tl = strlen(tok);
    char *in = malloc(tl + 2);
    memcpy(in, tok, tl);
    memcpy(in + tl, "\n", 2);
    struct run r;
    run(&r, in, (const char *[]){"token", "verify", "--jwks", jwks_path, "-", NULL});
    cr_assert_eq(r.code, 0, "stderr: %s", r.err.data);
    cr_assert_gt(r.out.len, n);
    run_free(&r);
    /* Over the cap set with --max-bytes: invalid, not a crash. */
    run(&r, in,
        (const char *[]){"token", "verify", "--jwks", jwks_path, "--max-bytes", "1000", "-", NULL});
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err.data, "limit"), "%s", r.err.data);
    run_free(&r);
    run(&r, in,
        (const char *[]){"token", "verify", "--jwks", jwks_path, "--max-bytes", "1048577", "-",
                         NULL});
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err.data, "16..1048576"), "%s", r.err.data);
    run_free(&r);
    free(in);
    free(tok);
    free(p);
}

Test(cli_token, no_claims_checks_signature_only)
{
    char *tok =
        ag_mint_sign(&key, AG_JWS_RS256, "{\"alg\":\"RS256\",\"kid\":\"cli-1\"}", "hello", 5);
    struct run r;
    run(&r, NULL,
        (const char *[]){"token", "verify", "--jwks", jwks_path, "--no-claims", tok, NULL});
    cr_assert_eq(r.code, 0, "stderr: %s", r.err.data);
    cr_assert_str_eq(r.out.data, "hello\n");
    run_free(&r);
    run(&r, NULL, (const char *[]){"token", "verify", "--jwks", jwks_path, tok, NULL});
    cr_assert_eq(r.code, 1);
    run_free(&r);
    free(tok);
}
