/* Per-address connection counts; see peers.h. A chained hash table: one node per address with
 * open connections, freed when its count drops to zero. */
#include "proxy/stream/peers.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AG_PEERS_BUCKETS 4096

struct ag_peer {
    struct ag_peer *next;
    uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
    long n;
};

struct ag_peers {
    pthread_mutex_t lock;
    struct ag_peer *buckets[AG_PEERS_BUCKETS];
};

struct ag_peers *ag_peers_new(void)
{
    struct ag_peers *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void ag_peers_free(struct ag_peers *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < AG_PEERS_BUCKETS; i++) {
        for (struct ag_peer *e = p->buckets[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static void ag_peers_key(const struct sockaddr *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else if (sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    }
}

static size_t ag_peers_hash(const uint8_t key[16])
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)(h % AG_PEERS_BUCKETS);
}

bool ag_peers_take(struct ag_peers *p, const struct sockaddr *sa, long max)
{
    uint8_t key[16];
    ag_peers_key(sa, key);
    size_t b = ag_peers_hash(key);
    bool ok = true;
    pthread_mutex_lock(&p->lock);
    struct ag_peer *e = p->buckets[b];
    while (e && memcmp(e->addr, key, 16) != 0)
        e = e->next;
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e)
            abort();
        memcpy(e->addr, key, 16);
        e->next = p->buckets[b];
        p->buckets[b] = e;
    }
    if (max > 0 && e->n >= max)
        ok = false;
    else
        e->n++;
    pthread_mutex_unlock(&p->lock);
    return ok; /* refused: n >= max >= 1, so the node was not just made */
}

void ag_peers_put(struct ag_peers *p, const struct sockaddr *sa)
{
    uint8_t key[16];
    ag_peers_key(sa, key);
    size_t b = ag_peers_hash(key);
    pthread_mutex_lock(&p->lock);
    struct ag_peer **pp = &p->buckets[b];
    while (*pp && memcmp((*pp)->addr, key, 16) != 0)
        pp = &(*pp)->next;
    struct ag_peer *e = *pp;
    if (e && e->n > 0)
        e->n--;
    if (e && e->n == 0) {
        *pp = e->next;
        free(e);
    }
    pthread_mutex_unlock(&p->lock);
}
