#include "auth/jose/token_cache.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Chained hash table plus an insertion-order list: eviction drops the oldest entry, which for
 * tokens of one issuer (same lifetime) is also the one closest to expiry. */
struct ag_tc_entry {
    unsigned char key[SHA256_DIGEST_LENGTH];
    struct ag_tc_entry *hnext;         /* bucket chain */
    struct ag_tc_entry *older, *newer; /* insertion order */
    int64_t exp;
    uint64_t generation;
    enum ag_jws_alg alg;
    char *kid;
    ag_json *header;
    ag_json *claims;
    uint8_t *payload;
    size_t payload_len;
};

struct ag_token_cache {
    pthread_mutex_t mu;
    size_t max;
    size_t nbuckets; /* power of two */
    struct ag_tc_entry **buckets;
    struct ag_tc_entry *oldest, *newest;
    struct ag_token_cache_stats st;
};

struct ag_token_cache *ag_token_cache_new(size_t max_entries)
{
    struct ag_token_cache *tc = calloc(1, sizeof(*tc));
    if (!tc)
        abort();
    tc->max = max_entries ? max_entries : 10000;
    tc->nbuckets = 16;
    while (tc->nbuckets < tc->max)
        tc->nbuckets <<= 1;
    tc->buckets = calloc(tc->nbuckets, sizeof(struct ag_tc_entry *));
    if (!tc->buckets)
        abort();
    pthread_mutex_init(&tc->mu, NULL);
    return tc;
}

static size_t ag_tc_bucket(const struct ag_token_cache *tc, const unsigned char *key)
{
    size_t h;
    memcpy(&h, key, sizeof(h));
    return h & (tc->nbuckets - 1);
}

static void ag_tc_entry_free(struct ag_tc_entry *e)
{
    ag_json_decref(e->header);
    ag_json_decref(e->claims);
    free(e->kid);
    free(e->payload);
    free(e);
}

/* Unlinks e from its chain and the order list. Caller holds mu. */
static void ag_tc_remove(struct ag_token_cache *tc, struct ag_tc_entry *e)
{
    struct ag_tc_entry **pp = &tc->buckets[ag_tc_bucket(tc, e->key)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    if (e->older)
        e->older->newer = e->newer;
    else
        tc->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        tc->newest = e->older;
    tc->st.entries--;
    ag_tc_entry_free(e);
}

void ag_token_cache_clear(struct ag_token_cache *tc)
{
    pthread_mutex_lock(&tc->mu);
    while (tc->oldest)
        ag_tc_remove(tc, tc->oldest);
    pthread_mutex_unlock(&tc->mu);
}

void ag_token_cache_free(struct ag_token_cache *tc)
{
    if (!tc)
        return;
    ag_token_cache_clear(tc);
    pthread_mutex_destroy(&tc->mu);
    free(tc->buckets);
    free(tc);
}

static struct ag_tc_entry *ag_tc_find(struct ag_token_cache *tc, const unsigned char *key)
{
    for (struct ag_tc_entry *e = tc->buckets[ag_tc_bucket(tc, key)]; e; e = e->hnext) {
        if (memcmp(e->key, key, sizeof(e->key)) == 0)
            return e;
    }
    return NULL;
}

static void ag_tc_json_cleanup(void *p)
{
    ag_json_decref(p);
}

bool ag_token_cache_get(struct ag_token_cache *tc, struct ag_arena *a, const char *token,
                        size_t len, int64_t now, uint64_t generation, struct ag_jwt **out)
{
    unsigned char key[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, len, key);
    pthread_mutex_lock(&tc->mu);
    struct ag_tc_entry *e = ag_tc_find(tc, key);
    if (e && (now >= e->exp || e->generation != generation)) {
        tc->st.expired++;
        ag_tc_remove(tc, e);
        e = NULL;
    }
    if (!e) {
        tc->st.misses++;
        pthread_mutex_unlock(&tc->mu);
        return false;
    }
    tc->st.hits++;
    struct ag_jwt *j = ag_arena_calloc(a, 1, sizeof(*j));
    j->alg = e->alg;
    j->alg_name = ag_jws_alg_name((unsigned)e->alg);
    j->kid = e->kid ? ag_arena_strdup(a, e->kid) : NULL;
    j->exp = e->exp;
    j->payload = ag_arena_memdup(a, e->payload, e->payload_len + 1);
    j->payload_len = e->payload_len;
    /* Shared, read-only: jansson's reference counts are atomic. */
    j->header = ag_json_incref(e->header);
    j->claims = ag_json_incref(e->claims);
    pthread_mutex_unlock(&tc->mu);
    if (j->header)
        ag_arena_cleanup_add(a, ag_tc_json_cleanup, j->header);
    if (j->claims) {
        ag_arena_cleanup_add(a, ag_tc_json_cleanup, j->claims);
        j->sub = ag_json_str(ag_json_get(j->claims, "sub"));
        j->iss = ag_json_str(ag_json_get(j->claims, "iss"));
    }
    *out = j;
    return true;
}

void ag_token_cache_put(struct ag_token_cache *tc, const char *token, size_t len,
                        const struct ag_jwt *jwt, uint64_t generation)
{
    if (!jwt || jwt->exp <= 0)
        return;
    struct ag_tc_entry *e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    SHA256((const unsigned char *)token, len, e->key);
    e->exp = jwt->exp;
    e->generation = generation;
    e->alg = jwt->alg;
    e->kid = jwt->kid ? strdup(jwt->kid) : NULL;
    e->header = ag_json_incref(jwt->header);
    e->claims = ag_json_incref(jwt->claims);
    e->payload = malloc(jwt->payload_len + 1);
    if (!e->payload || (jwt->kid && !e->kid))
        abort();
    if (jwt->payload_len)
        memcpy(e->payload, jwt->payload, jwt->payload_len);
    e->payload[jwt->payload_len] = '\0';
    e->payload_len = jwt->payload_len;
    pthread_mutex_lock(&tc->mu);
    struct ag_tc_entry *old = ag_tc_find(tc, e->key);
    if (old)
        ag_tc_remove(tc, old);
    while (tc->st.entries >= tc->max && tc->oldest) {
        /* The analyzer cannot see that oldest->older is always NULL (list invariant). */
        ag_tc_remove(tc, tc->oldest); // NOLINT(clang-analyzer-unix.Malloc)
        tc->st.evictions++;
    }
    size_t b = ag_tc_bucket(tc, e->key);
    e->hnext = tc->buckets[b];
    tc->buckets[b] = e;
    e->older = tc->newest;
    if (tc->newest)
        tc->newest->newer = e;
    else
        tc->oldest = e;
    tc->newest = e;
    tc->st.entries++;
    tc->st.inserts++;
    pthread_mutex_unlock(&tc->mu);
}

void ag_token_cache_stats(struct ag_token_cache *tc, struct ag_token_cache_stats *out)
{
    pthread_mutex_lock(&tc->mu);
    *out = tc->st;
    pthread_mutex_unlock(&tc->mu);
}

enum ag_rc ag_token_cache_verify(struct ag_token_cache *tc, struct ag_keycache *kc,
                                 struct ag_arena *a, const struct ag_jwt_policy *p,
                                 const char *token, size_t len, struct ag_jwt **out,
                                 struct ag_err *err)
{
    int64_t now = p->now ? p->now : (int64_t)time(NULL);
    uint64_t gen = ag_keycache_generation(kc);
    if (ag_token_cache_get(tc, a, token, len, now, gen, out))
        return AG_OK;
    enum ag_rc rc = ag_keycache_verify(kc, a, p, token, len, out, err);
    if (rc == AG_OK && p->check_claims)
        ag_token_cache_put(tc, token, len, *out, gen);
    return rc;
}
