/* Verification throughput on one core: the full ag_jwt_verify path (parse, key choice, signature,
 * claims) and the bare signature primitive for RS256, PS256, ES256 and EdDSA, plus the cached path
 * (a token-cache hit). Prints one line per measurement: "name value unit". Not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/jose/jwks.h"
#include "auth/jose/jws.h"
#include "auth/jose/jwt.h"
#include "auth/jose/token_cache.h"
#include "core/log.h"
#include "mint.h"

static double ag_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A Keycloak-shaped access token payload (about 1 KiB). */
static char *ag_payload(void)
{
    static char p[2048];
    snprintf(
        p, sizeof(p),
        "{\"exp\":%lld,\"iat\":%lld,\"auth_time\":%lld,\"jti\":\"0f8c6c1e-4d0b-4b59-9f4e-"
        "7c1d0b1c9a11\",\"iss\":\"https://sso.example.com/realms/data\",\"aud\":\"account\","
        "\"sub\":\"5b1e0f5e-2d7c-4f63-8a0e-3c1b2f9d7e21\",\"typ\":\"Bearer\",\"azp\":\"airflow\","
        "\"session_state\":\"1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d\",\"acr\":\"1\","
        "\"allowed-origins\":[\"https://airflow.example.com\"],\"realm_access\":{\"roles\":["
        "\"offline_access\",\"uma_authorization\",\"default-roles-data\"]},"
        "\"resource_access\":{\"airflow\":{\"roles\":[\"airflow_admin\",\"airflow_op\"]},"
        "\"account\":{\"roles\":[\"manage-account\",\"manage-account-links\",\"view-profile\"]}"
        "},\"scope\":\"openid email profile\",\"sid\":\"1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d\","
        "\"email_verified\":true,\"name\":\"Ada Lovelace\",\"preferred_username\":\"ada\","
        "\"given_name\":\"Ada\",\"family_name\":\"Lovelace\",\"email\":\"ada@example.com\"}",
        (long long)time(NULL) + 3600, (long long)time(NULL) - 5, (long long)time(NULL) - 5);
    return p;
}

static double ag_seconds = 2.0;

static void ag_bench_alg(enum ag_jws_alg alg)
{
    const char *name = ag_jws_alg_name((unsigned)alg);
    struct ag_mint_key k;
    ag_mint_key_new(&k, alg, "bench");
    char *jwk = ag_mint_jwk(&k, 1, "\"use\":\"sig\"");
    const char *one[] = {jwk};
    char *set = ag_mint_jwks(one, 1);
    struct ag_keyset *ks;
    struct ag_err err;
    if (ag_jwks_parse(set, strlen(set), &ks, &err) != AG_OK) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(1);
    }
    char *tok = ag_mint_token(&k, ag_payload());
    size_t len = strlen(tok);
    struct ag_jwt_policy p;
    ag_jwt_policy_init(&p);
    p.issuer = "https://sso.example.com/realms/data";
    p.audience = "airflow";
    p.azp = "airflow";
    struct ag_arena *a = ag_arena_new(16384);

    long n = 0;
    double t0 = ag_now(), t;
    do {
        for (int i = 0; i < 50; i++) {
            struct ag_jwt *jwt;
            if (ag_jwt_verify(a, ks, &p, tok, len, &jwt, &err) != AG_OK) {
                fprintf(stderr, "bench: %s: %s\n", name, err.msg);
                exit(1);
            }
            ag_arena_reset(a);
        }
        n += 50;
    } while ((t = ag_now()) - t0 < ag_seconds);
    printf("jwt_verify_%s %.0f verify/s\n", name, (double)n / (t - t0));

    struct ag_jws *jws;
    if (ag_jws_parse(a, tok, len, 0, &jws, &err) != AG_OK)
        exit(1);
    const struct ag_jwk *key = ag_jwks_key(ks, 0);
    n = 0;
    t0 = ag_now();
    do {
        for (int i = 0; i < 50; i++) {
            if (ag_jws_verify_raw(key, alg, jws->signing_input, jws->signing_input_len, jws->sig,
                                  jws->sig_len, &err) != AG_OK)
                exit(1);
        }
        n += 50;
    } while ((t = ag_now()) - t0 < ag_seconds);
    printf("sig_verify_%s %.0f verify/s\n", name, (double)n / (t - t0));

    if (alg == AG_JWS_RS256) {
        /* Cached path: a hit in the verified-token cache (hash + lookup + copy into the arena). */
        struct ag_token_cache *tc = ag_token_cache_new(10000);
        struct ag_jwt *jwt;
        ag_arena_reset(a);
        if (ag_jwt_verify(a, ks, &p, tok, len, &jwt, &err) != AG_OK)
            exit(1);
        ag_token_cache_put(tc, tok, len, jwt, 1);
        struct ag_arena *b = ag_arena_new(16384);
        int64_t now = (int64_t)time(NULL);
        n = 0;
        t0 = ag_now();
        do {
            for (int i = 0; i < 1000; i++) {
                struct ag_jwt *hit;
                if (!ag_token_cache_get(tc, b, tok, len, now, 1, &hit))
                    exit(1);
                ag_arena_reset(b);
            }
            n += 1000;
        } while ((t = ag_now()) - t0 < ag_seconds);
        printf("cached_hit_ns %.0f ns/op\n", (t - t0) * 1e9 / (double)n);
        printf("cached_token_bytes %zu bytes\n", len);
        ag_arena_free(b);
        ag_token_cache_free(tc);
    }
    ag_arena_free(a);
    free(tok);
    free(set);
    free(jwk);
    ag_jwks_unref(ks);
    ag_mint_key_free(&k);
}

int main(int argc, char **argv)
{
    ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
    if (argc > 1)
        ag_seconds = strtod(argv[1], NULL);
    if (ag_seconds <= 0 || ag_seconds > 60)
        ag_seconds = 2.0;
    enum ag_jws_alg algs[] = {AG_JWS_RS256, AG_JWS_PS256, AG_JWS_ES256, AG_JWS_EDDSA};
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        ag_bench_alg(algs[i]);
    return 0;
}
