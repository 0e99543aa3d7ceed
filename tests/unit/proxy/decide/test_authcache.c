/* The per-loop bearer decision cache: a hit only for the very same token, runtime generation
 * and key-set generation, before its expiry; never another token's identity. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/decide/authcache.h"

static struct ag_authcache *cache;

static void setup(void)
{
    cache = calloc(1, sizeof(*cache));
    cr_assert_not_null(cache);
}

static void teardown(void)
{
    ag_authcache_clear(cache);
    free(cache);
}

TestSuite(authcache, .init = setup, .fini = teardown);

static void put(const char *tok, uint64_t owner, uint64_t gen, int64_t until, const char *user)
{
    char block[128];
    int n = snprintf(block, sizeof(block), "X-Forwarded-User: %s\r\n", user);
    ag_authcache_put(cache, tok, strlen(tok), owner, gen, until, block, (size_t)n, user, "Op");
}

Test(authcache, hit_gives_back_what_was_stored)
{
    put("aaa.bbb.ccc", 1, 7, 1000, "alice");
    const struct ag_authcache_entry *e = ag_authcache_get(cache, "aaa.bbb.ccc", 11, 1, 7, 999);
    cr_assert_not_null(e);
    cr_assert_str_eq(e->user, "alice");
    cr_assert_str_eq(e->roles, "Op");
    cr_assert_eq(e->headers_len, strlen("X-Forwarded-User: alice\r\n"));
    cr_assert(memcmp(e->headers, "X-Forwarded-User: alice\r\n", e->headers_len) == 0);
}

Test(authcache, expiry_runtime_and_key_generation_all_invalidate)
{
    put("aaa.bbb.ccc", 1, 7, 1000, "alice");
    cr_assert_null(ag_authcache_get(cache, "aaa.bbb.ccc", 11, 2, 7, 10), "after a reload");
    cr_assert_null(ag_authcache_get(cache, "aaa.bbb.ccc", 11, 1, 8, 10), "after a key change");
    cr_assert_not_null(ag_authcache_get(cache, "aaa.bbb.ccc", 11, 1, 7, 999));
    cr_assert_null(ag_authcache_get(cache, "aaa.bbb.ccc", 11, 1, 7, 1000), "at expiry");
    cr_assert_null(ag_authcache_get(cache, "aaa.bbb.ccc", 11, 1, 7, 10), "dropped at expiry");
}

Test(authcache, a_token_sharing_the_slot_never_gets_the_identity)
{
    /* same length and same last 32 bytes: the same slot, a different token */
    const char *tail = ".0123456789abcdef0123456789abcdef";
    char a[64], b[64];
    snprintf(a, sizeof(a), "AAAA%s", tail);
    snprintf(b, sizeof(b), "BAAA%s", tail);
    put(a, 1, 1, 1000, "alice");
    cr_assert_null(ag_authcache_get(cache, b, strlen(b), 1, 1, 10));
    put(b, 1, 1, 1000, "mallory");
    cr_assert_null(ag_authcache_get(cache, a, strlen(a), 1, 1, 10), "replaced, not shared");
    const struct ag_authcache_entry *e = ag_authcache_get(cache, b, strlen(b), 1, 1, 10);
    cr_assert_not_null(e);
    cr_assert_str_eq(e->user, "mallory");
    /* a prefix or an extension of a cached token is another token */
    cr_assert_null(ag_authcache_get(cache, b, strlen(b) - 1, 1, 1, 10));
}

Test(authcache, oversized_and_empty_tokens_are_not_stored)
{
    size_t n = AG_AUTHCACHE_MAX_TOKEN + 1;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    put(big, 1, 1, 1000, "big");
    cr_assert_null(ag_authcache_get(cache, big, n, 1, 1, 10));
    free(big);
    ag_authcache_put(cache, "", 0, 1, 1, 1000, "h", 1, "u", "r");
    cr_assert_null(ag_authcache_get(cache, "", 0, 1, 1, 10));
}

Test(authcache, five_thousand_tokens_never_cross)
{
    char tok[64], user[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(tok, sizeof(tok), "hdr.payload%d.sig%08x", i, (unsigned)i * 2654435761u);
        snprintf(user, sizeof(user), "user%d", i);
        put(tok, 3, 3, 1000, user);
    }
    int hits = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(tok, sizeof(tok), "hdr.payload%d.sig%08x", i, (unsigned)i * 2654435761u);
        snprintf(user, sizeof(user), "user%d", i);
        const struct ag_authcache_entry *e = ag_authcache_get(cache, tok, strlen(tok), 3, 3, 10);
        if (!e)
            continue;
        hits++;
        cr_assert_str_eq(e->user, user, "token %d got another identity", i);
    }
    /* direct-mapped: later tokens replaced earlier ones in shared slots, but many survive */
    cr_assert_gt(hits, AG_AUTHCACHE_SLOTS / 4);
    cr_assert_leq(hits, AG_AUTHCACHE_SLOTS);
}

/* ---- aux (the session pin of a cookie entry): owned by the entry ---- */

static int aux_freed;

static void aux_free(void *p)
{
    aux_freed++;
    free(p);
}

static void put_aux(const char *key, int64_t until)
{
    int *aux = malloc(sizeof(*aux));
    cr_assert_not_null(aux);
    *aux = 42;
    ag_authcache_put_aux(cache, key, strlen(key), 1, 0, until, "X: y\r\n", 6, "bob", "Admin", aux,
                         aux_free);
}

Test(authcache, aux_is_kept_and_freed_on_replace_forget_and_clear)
{
    aux_freed = 0;
    put_aux("airgate#1\nsealed-value-one", 1000);
    const struct ag_authcache_entry *e =
        ag_authcache_get(cache, "airgate#1\nsealed-value-one", 26, 1, 0, 10);
    cr_assert_not_null(e);
    cr_assert_eq(*(int *)e->aux, 42);
    put_aux("airgate#1\nsealed-value-one", 1000); /* replaces: the old aux goes */
    cr_assert_eq(aux_freed, 1);
    /* forgetting another key that may share the slot leaves the entry alone */
    ag_authcache_forget(cache, "airgate#1\nsealed-value-two", 26);
    cr_assert_not_null(ag_authcache_get(cache, "airgate#1\nsealed-value-one", 26, 1, 0, 10));
    ag_authcache_forget(cache, "airgate#1\nsealed-value-one", 26);
    cr_assert_eq(aux_freed, 2);
    cr_assert_null(ag_authcache_get(cache, "airgate#1\nsealed-value-one", 26, 1, 0, 10));
    put_aux("airgate#1\nsealed-value-three", 1000);
    ag_authcache_clear(cache);
    cr_assert_eq(aux_freed, 3);
}

Test(authcache, aux_of_an_entry_not_stored_is_freed)
{
    aux_freed = 0;
    size_t n = AG_AUTHCACHE_MAX_TOKEN + 1;
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    put_aux(big, 1000);
    cr_assert_eq(aux_freed, 1);
    cr_assert_null(ag_authcache_get(cache, big, n, 1, 0, 10));
    free(big);
    /* an expired entry is dropped (with its aux) when looked up */
    put_aux("k", 5);
    cr_assert_null(ag_authcache_get(cache, "k", 1, 1, 0, 5));
    cr_assert_eq(aux_freed, 2);
}
