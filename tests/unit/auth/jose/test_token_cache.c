/* Verified-token cache: hits skip verification, entries die at exp or on a key set change, the
 * size bound holds, and concurrent use is safe. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "auth/jose/jwks.h"
#include "auth/jose/jwt.h"
#include "auth/jose/token_cache.h"
#include "mint.h"

#define NOW 1700000000LL

static struct ag_jwt *verified(struct ag_arena *a, const struct ag_mint_key *k,
                               const struct ag_keyset *ks, const char *tok)
{
    struct ag_jwt_policy p;
    ag_jwt_policy_init(&p);
    p.now = NOW;
    struct ag_jwt *jwt;
    struct ag_err err;
    (void)k;
    cr_assert_eq(ag_jwt_verify(a, ks, &p, tok, strlen(tok), &jwt, &err), AG_OK, "%s", err.msg);
    return jwt;
}

static struct ag_keyset *set_of(const struct ag_mint_key *k)
{
    char *j = ag_mint_jwk(k, 1, NULL);
    const char *one[] = {j};
    char *s = ag_mint_jwks(one, 1);
    struct ag_keyset *ks;
    struct ag_err err;
    cr_assert_eq(ag_jwks_parse(s, strlen(s), &ks, &err), AG_OK);
    free(s);
    free(j);
    return ks;
}

static char *token(const struct ag_mint_key *k, long exp_off, int n)
{
    char p[256];
    snprintf(p, sizeof(p), "{\"sub\":\"user-%d\",\"exp\":%lld,\"roles\":[\"a\",\"b\"]}", n,
             NOW + exp_off);
    return ag_mint_token(k, p);
}

Test(token_cache, hit_miss_expiry_and_generation)
{
    struct ag_mint_key k;
    ag_mint_key_new(&k, AG_JWS_ES256, "c");
    struct ag_keyset *ks = set_of(&k);
    struct ag_token_cache *tc = ag_token_cache_new(16);
    struct ag_arena *a = ag_arena_new(0);
    char *tok = token(&k, 300, 1);
    struct ag_jwt *out;
    cr_assert_not(ag_token_cache_get(tc, a, tok, strlen(tok), NOW, 1, &out));
    ag_token_cache_put(tc, tok, strlen(tok), verified(a, &k, ks, tok), 1);
    cr_assert(ag_token_cache_get(tc, a, tok, strlen(tok), NOW, 1, &out));
    cr_assert_str_eq(out->sub, "user-1");
    cr_assert_str_eq(out->kid, "c");
    cr_assert_eq(out->exp, NOW + 300);
    cr_assert_eq(out->alg, AG_JWS_ES256);
    cr_assert_eq(json_array_size(json_object_get(out->claims, "roles")), 2);
    /* A different token (one byte changed) is a miss. */
    char *other = strdup(tok);
    other[strlen(other) - 1] ^= 1;
    cr_assert_not(ag_token_cache_get(tc, a, other, strlen(other), NOW, 1, &out));
    /* The key set changed: miss, and the entry is gone. */
    cr_assert_not(ag_token_cache_get(tc, a, tok, strlen(tok), NOW, 2, &out));
    ag_token_cache_put(tc, tok, strlen(tok), verified(a, &k, ks, tok), 2);
    /* At exp the entry dies. */
    cr_assert(ag_token_cache_get(tc, a, tok, strlen(tok), NOW + 299, 2, &out));
    cr_assert_not(ag_token_cache_get(tc, a, tok, strlen(tok), NOW + 300, 2, &out));
    struct ag_token_cache_stats st;
    ag_token_cache_stats(tc, &st);
    cr_assert_eq(st.hits, 2);
    cr_assert_eq(st.misses, 4);
    cr_assert_eq(st.expired, 2);
    cr_assert_eq(st.entries, 0);
    ag_arena_free(a); /* claims outlive the arena only through the cache's own references */
    free(other);
    free(tok);
    ag_token_cache_free(tc);
    ag_jwks_unref(ks);
    ag_mint_key_free(&k);
}

Test(token_cache, bounded)
{
    struct ag_mint_key k;
    ag_mint_key_new(&k, AG_JWS_HS256, "h");
    struct ag_keyset *ks = set_of(&k);
    struct ag_token_cache *tc = ag_token_cache_new(8);
    struct ag_arena *a = ag_arena_new(0);
    struct ag_jwt_policy p;
    ag_jwt_policy_init(&p);
    p.now = NOW;
    p.allowed_algs = AG_JWS_HS256;
    char *toks[20];
    for (int i = 0; i < 20; i++) {
        toks[i] = token(&k, 300, i);
        struct ag_jwt *jwt;
        struct ag_err err;
        cr_assert_eq(ag_jwt_verify(a, ks, &p, toks[i], strlen(toks[i]), &jwt, &err), AG_OK, "%s",
                     err.msg);
        ag_token_cache_put(tc, toks[i], strlen(toks[i]), jwt, 0);
    }
    struct ag_token_cache_stats st;
    ag_token_cache_stats(tc, &st);
    cr_assert_eq(st.entries, 8);
    cr_assert_eq(st.evictions, 12);
    struct ag_jwt *out;
    cr_assert_not(ag_token_cache_get(tc, a, toks[0], strlen(toks[0]), NOW, 0, &out));
    cr_assert(ag_token_cache_get(tc, a, toks[19], strlen(toks[19]), NOW, 0, &out));
    ag_token_cache_clear(tc);
    cr_assert_not(ag_token_cache_get(tc, a, toks[19], strlen(toks[19]), NOW, 0, &out));
    for (int i = 0; i < 20; i++)
        free(toks[i]);
    ag_arena_free(a);
    ag_token_cache_free(tc);
    ag_jwks_unref(ks);
    ag_mint_key_free(&k);
}

struct worker {
    struct ag_token_cache *tc;
    char **toks;
    int n;
    int hits;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int round = 0; round < 200; round++) {
        struct ag_arena *a = ag_arena_new(0);
        for (int i = 0; i < w->n; i++) {
            struct ag_jwt *out;
            if (ag_token_cache_get(w->tc, a, w->toks[i], strlen(w->toks[i]), NOW, 0, &out) &&
                out->sub && strncmp(out->sub, "user-", 5) == 0)
                w->hits++;
        }
        ag_arena_free(a);
    }
    return NULL;
}

Test(token_cache, concurrent_readers_and_writers)
{
    struct ag_mint_key k;
    ag_mint_key_new(&k, AG_JWS_HS256, "h");
    struct ag_keyset *ks = set_of(&k);
    struct ag_token_cache *tc = ag_token_cache_new(4); /* small: constant eviction */
    struct ag_jwt_policy p;
    ag_jwt_policy_init(&p);
    p.now = NOW;
    p.allowed_algs = AG_JWS_HS256;
    char *toks[8];
    struct ag_arena *a = ag_arena_new(0);
    struct ag_jwt *jwts[8];
    for (int i = 0; i < 8; i++) {
        toks[i] = token(&k, 300, i);
        struct ag_err err;
        cr_assert_eq(ag_jwt_verify(a, ks, &p, toks[i], strlen(toks[i]), &jwts[i], &err), AG_OK);
    }
    struct worker w[3] = {{tc, toks, 8, 0}, {tc, toks, 8, 0}, {tc, toks, 8, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, work, &w[i]);
    for (int round = 0; round < 200; round++)
        for (int i = 0; i < 8; i++)
            ag_token_cache_put(tc, toks[i], strlen(toks[i]), jwts[i], 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    struct ag_token_cache_stats st;
    ag_token_cache_stats(tc, &st);
    cr_assert_leq(st.entries, 4);
    cr_assert_eq(st.hits, (uint64_t)(w[0].hits + w[1].hits + w[2].hits));
    ag_arena_free(a);
    for (int i = 0; i < 8; i++)
        free(toks[i]);
    ag_token_cache_free(tc);
    ag_jwks_unref(ks);
    ag_mint_key_free(&k);
}
