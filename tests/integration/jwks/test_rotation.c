/* The live key cache against a real HTTP JWKS server (jwks_server.py, started per test on
 * 127.0.0.1 with a port chosen by the OS): rotation, outages, slow/malformed/giant responses,
 * and the unknown-kid flood rate limit, counted at the server. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/idp/http_fetch.h"
#include "auth/jose/keycache.h"
#include "auth/jose/token_cache.h"
#include "core/log.h"
#include "mint.h"

struct srv {
    pid_t pid;
    int port;
    char dir[64];
    char issuer[64];
};

static struct srv S;
static struct ag_mint_key k1, k2;
static char *j1, *j2;

static void put_file(const char *name, const char *content)
{
    char tmp[128], path[128];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", S.dir, name);
    snprintf(path, sizeof(path), "%s/%s", S.dir, name);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fputs(content, f);
    fclose(f);
    cr_assert_eq(rename(tmp, path), 0); /* atomic: the server never sees half a file */
}

static void serve_keys(const char *a, const char *b)
{
    const char *keys[] = {a, b};
    char *set = ag_mint_jwks(keys, b ? 2 : 1);
    put_file("jwks.json", set);
    free(set);
}

static void server_spawn(int tls)
{
    int out[2];
    cr_assert_eq(pipe(out), 0);
    S.pid = fork();
    cr_assert(S.pid >= 0);
    if (S.pid == 0) {
        char script[512];
        const char *src = getenv("AG_SOURCE_DIR");
        snprintf(script, sizeof(script), "%s/tests/integration/jwks/jwks_server.py",
                 src ? src : ".");
        dup2(out[1], 1);
        close(out[0]);
        execlp("python3", "python3", script, S.dir, tls ? "--tls" : (char *)NULL, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[256] = "";
    cr_assert_not_null(fgets(line, sizeof(line), f), "jwks server did not start");
    fclose(f);
    const char *p = strstr(line, "\"port\": ");
    cr_assert_not_null(p, "%s", line);
    S.port = (int)strtol(p + 8, NULL, 10);
    snprintf(S.issuer, sizeof(S.issuer), "%s://127.0.0.1:%d", tls ? "https" : "http", S.port);
}

static void server_start(void)
{
    snprintf(S.dir, sizeof(S.dir), "/tmp/ag-jwks-XXXXXX");
    cr_assert_not_null(mkdtemp(S.dir));
    put_file("mode", "ok");
    server_spawn(0);
}

static void server_kill(void)
{
    if (S.pid > 0) {
        kill(S.pid, SIGTERM);
        waitpid(S.pid, NULL, 0);
        S.pid = 0;
    }
}

static long server_count(void)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/_count", S.issuer);
    struct ag_buf b;
    ag_buf_init(&b, 0);
    struct ag_err err;
    cr_assert_eq(ag_http_fetch_get(url, NULL, &b, &err), AG_OK, "%s", err.msg);
    long n = strtol(b.data, NULL, 10);
    ag_buf_release(&b, 0);
    return n;
}

static void setup(void)
{
    ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
    cr_assert_eq(ag_http_fetch_global_init(), AG_OK);
    ag_mint_key_new(&k1, AG_JWS_ES256, "k1");
    ag_mint_key_new(&k2, AG_JWS_ES256, "k2");
    j1 = ag_mint_jwk(&k1, 1, "\"use\":\"sig\"");
    j2 = ag_mint_jwk(&k2, 1, "\"use\":\"sig\"");
    server_start();
    serve_keys(j1, NULL);
}

static void teardown(void)
{
    server_kill();
    const char *names[] = {"jwks.json", "mode", "issuer", "tls.crt", "tls.key"};
    for (size_t i = 0; i < 5; i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", S.dir, names[i]);
        unlink(p);
    }
    rmdir(S.dir);
    free(j1);
    free(j2);
    ag_mint_key_free(&k1);
    ag_mint_key_free(&k2);
}

TestSuite(rotation, .init = setup, .fini = teardown, .timeout = 60);

static struct ag_keycache *cache(long refresh_s, long min_refetch_s, long timeout_ms)
{
    struct ag_keycache_opts o = {.issuer = S.issuer,
                                 .refresh_s = refresh_s,
                                 .min_refetch_s = min_refetch_s,
                                 .http = {.timeout_ms = timeout_ms, .connect_timeout_ms = 1000}};
    struct ag_keycache *kc;
    struct ag_err err;
    cr_assert_eq(ag_keycache_new(&o, &kc, &err), AG_OK, "%s", err.msg);
    return kc;
}

static enum ag_rc verify_with(struct ag_keycache *kc, const struct ag_mint_key *k, const char *kid)
{
    char payload[256], hdr[128];
    snprintf(payload, sizeof(payload), "{\"iss\":\"%s\",\"exp\":%lld}", S.issuer,
             (long long)time(NULL) + 300);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid ? kid : k->kid);
    char *tok = ag_mint_sign(k, AG_JWS_ES256, hdr, payload, strlen(payload));
    struct ag_jwt_policy p;
    ag_jwt_policy_init(&p);
    p.issuer = S.issuer;
    struct ag_arena *a = ag_arena_new(0);
    struct ag_jwt *jwt;
    struct ag_err err;
    enum ag_rc rc = ag_keycache_verify(kc, a, &p, tok, strlen(tok), &jwt, &err);
    ag_arena_free(a);
    free(tok);
    return rc;
}

Test(rotation, discovery_then_new_kid_accepted_old_kid_kept_until_it_leaves)
{
    struct ag_keycache *kc = cache(-1, 1, 2000);
    struct ag_err err;
    cr_assert_not(ag_keycache_ready(kc));
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    cr_assert(ag_keycache_ready(kc));
    const struct ag_oidc_meta *m = ag_keycache_meta(kc);
    cr_assert_not_null(m);
    cr_assert_str_eq(m->issuer, S.issuer);
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK);
    long before = server_count();

    /* The IdP rotates: k2 appears. The first k2 token triggers one re-fetch and verifies. */
    serve_keys(j1, j2);
    cr_assert_eq(verify_with(kc, &k2, NULL), AG_OK);
    cr_assert_eq(server_count(), before + 1);
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK); /* old kid still in the set */
    struct ag_keycache_stats st;
    ag_keycache_stats(kc, &st);
    cr_assert_eq(st.refetch_unknown_kid, 1);
    cr_assert_eq(st.rotations, 1);
    cr_assert_eq(st.keys, 2);

    /* k1 leaves the set: after the next refresh its tokens fail. */
    serve_keys(j2, NULL);
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK); /* not refreshed yet: still known */
    cr_assert_eq(ag_keycache_refresh(kc, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_ECRYPTO);
    cr_assert_eq(verify_with(kc, &k2, NULL), AG_OK);
    ag_keycache_free(kc);
}

Test(rotation, server_down_keeps_old_keys)
{
    struct ag_keycache *kc = cache(-1, 1, 2000);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    uint64_t gen = ag_keycache_generation(kc);
    put_file("mode", "down"); /* 503 */
    cr_assert_eq(ag_keycache_refresh(kc, &err), AG_EUPSTREAM);
    cr_assert(strstr(err.msg, "503"), "%s", err.msg);
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK);
    server_kill(); /* connection refused */
    cr_assert_eq(ag_keycache_refresh(kc, &err), AG_EUPSTREAM);
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK);
    cr_assert(ag_keycache_ready(kc));
    cr_assert_eq(ag_keycache_generation(kc), gen);
    struct ag_keycache_stats st;
    ag_keycache_stats(kc, &st);
    cr_assert_eq(st.fetch_failed, 2);
    cr_assert_gt(st.last_failure, 0);
    cr_assert_eq(st.keys, 1);
    ag_keycache_free(kc);
}

Test(rotation, slow_server_times_out_keeping_old_keys)
{
    struct ag_keycache *kc = cache(-1, 1, 500);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    put_file("mode", "slow:3");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(ag_keycache_refresh(kc, &err), AG_ETIMEOUT, "%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_lt(secs, 2.0, "timeout took %.2f s", secs);
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK);
    ag_keycache_free(kc);
}

Test(rotation, malformed_and_giant_jwks_rejected_keeping_old_keys)
{
    struct ag_keycache *kc = cache(-1, 1, 2000);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    put_file("mode", "malformed");
    cr_assert_eq(ag_keycache_refresh(kc, &err), AG_EPARSE, "%s", err.msg);
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK);
    put_file("mode", "giant");
    cr_assert_eq(ag_keycache_refresh(kc, &err), AG_ENOMEM, "%s", err.msg);
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK);
    /* Well-formed but nothing usable (an encryption key only): refused too. */
    put_file("mode", "ok");
    char *enc = ag_mint_jwk(&k2, 0, "\"use\":\"enc\"");
    serve_keys(enc, NULL);
    free(enc);
    cr_assert_eq(ag_keycache_refresh(kc, &err), AG_EINVAL, "%s", err.msg);
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK);
    struct ag_keycache_stats st;
    ag_keycache_stats(kc, &st);
    cr_assert_eq(st.fetch_failed, 3);
    cr_assert_eq(st.keys, 1);
    ag_keycache_free(kc);
}

Test(rotation, random_kid_flood_fetches_at_most_once_per_window)
{
    struct ag_keycache *kc = cache(-1, 2, 2000);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    long before = server_count();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int n = 0;
    for (; n < 300; n++) {
        char kid[32];
        snprintf(kid, sizeof(kid), "rnd-%d-%ld", n, random());
        cr_assert_eq(verify_with(kc, &k1, kid), AG_ECRYPTO);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec >= 1) /* stay well inside one 2 s window */
            break;
    }
    long fetched = server_count() - before;
    cr_assert_leq(fetched, 1, "%ld fetches for %d random kids in one window", fetched, n);
    cr_assert_eq(fetched, 1);
    struct ag_keycache_stats st;
    ag_keycache_stats(kc, &st);
    cr_assert_eq(st.refetch_unknown_kid, 1);
    cr_assert_geq(st.refetch_limited, (uint64_t)n - 1);
    /* The next window allows exactly one more. */
    sleep(2);
    cr_assert_eq(verify_with(kc, &k1, "another-random"), AG_ECRYPTO);
    cr_assert_eq(verify_with(kc, &k1, "and-another"), AG_ECRYPTO);
    cr_assert_eq(server_count() - before, 2);
    ag_keycache_free(kc);
}

Test(rotation, periodic_refresh_picks_up_new_keys)
{
    struct ag_keycache *kc = cache(1, 1, 2000);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    serve_keys(j1, j2);
    struct ag_keycache_stats st = {0};
    for (int i = 0; i < 40 && st.keys < 2; i++) {
        usleep(100 * 1000);
        ag_keycache_stats(kc, &st);
    }
    cr_assert_eq(st.keys, 2, "refresh thread did not pick up the new key");
    cr_assert_eq(st.refetch_unknown_kid, 0);
    cr_assert_eq(verify_with(kc, &k2, NULL), AG_OK);
    ag_keycache_free(kc); /* joins the refresh thread */
}

Test(rotation, failed_periodic_refresh_retries_before_the_next_interval)
{
    /* refresh every 3 s, re-fetch window 1 s: a refresh that fails at ~3 s is retried at ~4 s
     * and ~6 s, so a new key served from ~3.5 s is loaded well before the next interval (6 s
     * after the failure). */
    struct ag_keycache *kc = cache(3, 1, 1000);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    put_file("mode", "down");
    struct ag_keycache_stats st = {0};
    for (int i = 0; i < 60 && st.fetch_failed == 0; i++) {
        usleep(100 * 1000);
        ag_keycache_stats(kc, &st);
    }
    cr_assert_geq(st.fetch_failed, 1, "the periodic refresh did not run");
    serve_keys(j1, j2);
    put_file("mode", "ok");
    for (int i = 0; i < 25 && st.keys < 2; i++) {
        usleep(100 * 1000);
        ag_keycache_stats(kc, &st);
    }
    cr_assert_eq(st.keys, 2, "no retry within 2.5 s of the failure");
    ag_keycache_free(kc);
}

Test(rotation, start_while_idp_down_becomes_ready_later)
{
    put_file("mode", "down");
    struct ag_keycache *kc = cache(30, 1, 1000);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_EUPSTREAM);
    cr_assert_not(ag_keycache_ready(kc));
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_EUPSTREAM);
    put_file("mode", "ok");
    for (int i = 0; i < 40 && !ag_keycache_ready(kc); i++)
        usleep(100 * 1000);
    cr_assert(ag_keycache_ready(kc), "retry did not load the keys");
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK);
    ag_keycache_free(kc);
}

Test(rotation, discovery_issuer_must_match_exactly)
{
    char wrong[128];
    snprintf(wrong, sizeof(wrong), "%s/", S.issuer); /* trailing slash: a different issuer */
    put_file("issuer", wrong);
    struct ag_keycache *kc = cache(-1, 1, 1000);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "does not equal"), "%s", err.msg);
    cr_assert_not(ag_keycache_ready(kc));
    ag_keycache_free(kc);
}

Test(rotation, cli_fetches_key_set_by_url)
{
    char url[128], bin[512];
    snprintf(url, sizeof(url), "%s/jwks.json", S.issuer);
    const char *bd = getenv("AG_BINARY_DIR");
    snprintf(bin, sizeof(bin), "%s/airgate", bd ? bd : ".");
    char payload[128];
    snprintf(payload, sizeof(payload), "{\"exp\":%lld}", (long long)time(NULL) + 300);
    char *tok = ag_mint_token(&k1, payload);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(bin, bin, "token", "verify", "--jwks", url, tok, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    put_file("mode", "down");
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execl(bin, bin, "token", "verify", "--jwks", url, tok, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
    free(tok);
}

/* The bearer path: the second presentation of a token is a cache hit; a rotation (new key set
 * generation) makes the next one verify again. */
Test(rotation, token_cache_in_front_of_key_cache)
{
    struct ag_keycache *kc = cache(-1, 1, 2000);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    struct ag_token_cache *tc = ag_token_cache_new(100);
    char payload[256];
    snprintf(payload, sizeof(payload), "{\"iss\":\"%s\",\"sub\":\"s\",\"exp\":%lld}", S.issuer,
             (long long)time(NULL) + 300);
    char *tok = ag_mint_token(&k1, payload);
    struct ag_jwt_policy p;
    ag_jwt_policy_init(&p);
    p.issuer = S.issuer;
    struct ag_arena *a = ag_arena_new(0);
    struct ag_jwt *jwt;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ag_token_cache_verify(tc, kc, a, &p, tok, strlen(tok), &jwt, &err), AG_OK,
                     "%s", err.msg);
        cr_assert_str_eq(jwt->sub, "s");
    }
    struct ag_token_cache_stats st;
    ag_token_cache_stats(tc, &st);
    cr_assert_eq(st.hits, 2);
    cr_assert_eq(st.misses, 1);
    serve_keys(j1, j2);
    cr_assert_eq(ag_keycache_refresh(kc, &err), AG_OK);
    cr_assert_eq(ag_token_cache_verify(tc, kc, a, &p, tok, strlen(tok), &jwt, &err), AG_OK);
    ag_token_cache_stats(tc, &st);
    cr_assert_eq(st.misses, 2);
    /* A bad token is never cached. */
    char bad[4096];
    snprintf(bad, sizeof(bad), "%s", tok);
    bad[strlen(bad) - 3] ^= 1;
    for (int i = 0; i < 2; i++)
        cr_assert_neq(ag_token_cache_verify(tc, kc, a, &p, bad, strlen(bad), &jwt, &err), AG_OK);
    ag_token_cache_stats(tc, &st);
    cr_assert_eq(st.entries, 1);
    ag_arena_free(a);
    free(tok);
    ag_token_cache_free(tc);
    ag_keycache_free(kc);
}

/* TLS verification is always on: a self-signed server is refused unless its CA is configured. */
Test(rotation, https_requires_a_trusted_certificate)
{
    server_kill();
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s/tls.key "
             "-out %s/tls.crt >/dev/null 2>&1",
             S.dir, S.dir);
    if (system(cmd) != 0)
        cr_skip_test("openssl CLI cannot make a test certificate");
    server_spawn(1);
    char ca[128];
    snprintf(ca, sizeof(ca), "%s/tls.crt", S.dir);
    struct ag_keycache *kc = cache(-1, 1, 2000);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_EUPSTREAM); /* system CAs: untrusted */
    cr_assert_not(ag_keycache_ready(kc));
    ag_keycache_free(kc);
    struct ag_keycache_opts o = {
        .issuer = S.issuer, .refresh_s = -1, .http = {.ca_file = ca, .timeout_ms = 2000}};
    cr_assert_eq(ag_keycache_new(&o, &kc, &err), AG_OK);
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK);
    ag_keycache_free(kc);
}

struct ag_reader {
    struct ag_keycache *kc;
    char *tok;
    int ok, bad;
    volatile int *stop;
};

static void *ag_reader_run(void *arg)
{
    struct ag_reader *r = arg;
    struct ag_jwt_policy p;
    ag_jwt_policy_init(&p);
    p.issuer = S.issuer;
    struct ag_arena *a = ag_arena_new(0);
    for (int i = 0; i < 5000 && !*r->stop; i++) {
        struct ag_jwt *jwt;
        struct ag_err err;
        if (ag_keycache_verify(r->kc, a, &p, r->tok, strlen(r->tok), &jwt, &err) == AG_OK)
            r->ok++;
        else
            r->bad++;
        ag_arena_reset(a);
    }
    ag_arena_free(a);
    return NULL;
}

/* Readers never see a half-updated set: verifications keep succeeding while the set is swapped
 * again and again under them (ASan checks that no swapped-out key is used after free). */
Test(rotation, concurrent_verification_during_swaps)
{
    struct ag_keycache *kc = cache(-1, 1, 2000);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    char payload[256];
    snprintf(payload, sizeof(payload), "{\"iss\":\"%s\",\"exp\":%lld}", S.issuer,
             (long long)time(NULL) + 300);
    char *tok = ag_mint_token(&k1, payload);
    volatile int stop = 0;
    struct ag_reader r[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (struct ag_reader){.kc = kc, .tok = tok, .stop = &stop};
        pthread_create(&th[i], NULL, ag_reader_run, &r[i]);
    }
    for (int i = 0; i < 20; i++) {
        if (i % 2)
            serve_keys(j1, NULL);
        else
            serve_keys(j2, j1);
        cr_assert_eq(ag_keycache_refresh(kc, &err), AG_OK, "%s", err.msg);
    }
    stop = 1;
    int ok = 0, bad = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ok += r[i].ok;
        bad += r[i].bad;
    }
    cr_assert_eq(bad, 0);
    cr_assert_gt(ok, 0);
    struct ag_keycache_stats st;
    ag_keycache_stats(kc, &st);
    cr_assert_eq(st.rotations, 20);
    free(tok);
    ag_keycache_free(kc);
}

struct ag_bg_verify {
    struct ag_keycache *kc;
    enum ag_rc rc;
};

static void *ag_bg_verify_run(void *arg)
{
    struct ag_bg_verify *b = arg;
    b->rc = verify_with(b->kc, &k2, NULL);
    return NULL;
}

/* A request with the new kid that arrives while another request's re-fetch is in flight waits
 * for that fetch instead of failing, and no second fetch is made. */
Test(rotation, new_kid_during_an_in_flight_refetch_waits_for_it)
{
    struct ag_keycache *kc = cache(-1, 30, 3000);
    struct ag_err err;
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    long before = server_count();
    serve_keys(j1, j2);
    put_file("mode", "slow:1");
    struct ag_bg_verify b = {.kc = kc};
    pthread_t th;
    pthread_create(&th, NULL, ag_bg_verify_run, &b);
    usleep(300 * 1000); /* the background request is now inside its slow fetch */
    cr_assert_eq(verify_with(kc, &k2, NULL), AG_OK);
    pthread_join(th, NULL);
    cr_assert_eq(b.rc, AG_OK);
    cr_assert_eq(server_count() - before, 1);
    struct ag_keycache_stats st;
    ag_keycache_stats(kc, &st);
    cr_assert_eq(st.refetch_unknown_kid, 1);
    cr_assert_eq(st.refetch_limited, 1);
    ag_keycache_free(kc);
}

/* A configured jwks_uri skips discovery; bad options are refused up front. */
Test(rotation, direct_jwks_uri_without_discovery)
{
    char uri[128];
    snprintf(uri, sizeof(uri), "%s/jwks.json", S.issuer);
    struct ag_keycache_opts o = {.jwks_uri = uri, .refresh_s = -1};
    struct ag_keycache *kc;
    struct ag_err err;
    cr_assert_eq(ag_keycache_new(&o, &kc, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(ag_keycache_start(kc, &err), AG_OK, "%s", err.msg);
    cr_assert_null(ag_keycache_meta(kc));
    cr_assert_eq(verify_with(kc, &k1, NULL), AG_OK);
    ag_keycache_free(kc);
    struct ag_keycache_opts none = {.refresh_s = -1};
    cr_assert_eq(ag_keycache_new(&none, &kc, &err), AG_EINVAL);
    cr_assert_eq(ag_keycache_new(NULL, &kc, &err), AG_EINVAL);
    ag_keycache_free(NULL);
}
