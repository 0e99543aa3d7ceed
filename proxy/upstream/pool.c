/* Upstream pool; see pool.h. */
#include "proxy/upstream/pool.h"

#include <stdio.h>
#include <string.h>

#include "conf/config.h"

void ag_pool_init(struct ag_pool *p, int balance, long rise, long fall)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    for (int i = 0; i < AG_POOL_MAX; i++) {
        p->slots[i].index = i;
        pthread_mutex_init(&p->slots[i].hlock, NULL);
    }
    atomic_store(&p->balance, balance);
    atomic_store(&p->rise, rise > 0 ? rise : 1);
    atomic_store(&p->fall, fall > 0 ? fall : 1);
}

void ag_pool_destroy(struct ag_pool *p)
{
    for (int i = 0; i < AG_POOL_MAX; i++)
        pthread_mutex_destroy(&p->slots[i].hlock);
    pthread_mutex_destroy(&p->lock);
}

static bool ag_pool_same(const struct ag_replica *r, const struct ag_pool_member *m)
{
    return strcmp(r->base, m->base) == 0 &&
           strcmp(r->connect_to, m->connect_to ? m->connect_to : "") == 0;
}

int ag_pool_sync(struct ag_pool *p, const struct ag_pool_member *members, size_t n)
{
    int changed = 0;
    pthread_mutex_lock(&p->lock);
    int ns = atomic_load(&p->n_slots);
    /* retire what is no longer wanted */
    for (int i = 0; i < ns; i++) {
        struct ag_replica *r = &p->slots[i];
        if (!atomic_load(&r->in_use))
            continue;
        bool keep = false;
        for (size_t k = 0; k < n && !keep; k++)
            keep = ag_pool_same(r, &members[k]);
        if (!keep) {
            atomic_store(&r->in_use, false);
            changed++;
        }
    }
    /* add what is new: reuse an idle retired slot, else take a fresh one */
    for (size_t k = 0; k < n; k++) {
        bool have = false;
        for (int i = 0; i < ns && !have; i++)
            have = atomic_load(&p->slots[i].in_use) && ag_pool_same(&p->slots[i], &members[k]);
        if (have)
            continue;
        struct ag_replica *r = NULL;
        for (int i = 0; i < ns && !r; i++) {
            if (!atomic_load(&p->slots[i].in_use) && atomic_load(&p->slots[i].active) == 0)
                r = &p->slots[i];
        }
        if (!r && ns < AG_POOL_MAX)
            r = &p->slots[ns++];
        if (!r)
            break; /* more than AG_POOL_MAX members: the rest are ignored */
        snprintf(r->base, sizeof(r->base), "%s", members[k].base);
        snprintf(r->connect_to, sizeof(r->connect_to), "%s",
                 members[k].connect_to ? members[k].connect_to : "");
        snprintf(r->label, sizeof(r->label), "%s", members[k].label);
        const struct ag_pool_member *m = &members[k];
        memset(&r->sa, 0, sizeof(r->sa));
        r->sa_len = 0;
        if (m->sa && m->sa_len <= sizeof(r->sa)) {
            memcpy(&r->sa, m->sa, m->sa_len);
            r->sa_len = m->sa_len;
        }
        r->tls = m->tls;
        snprintf(r->host, sizeof(r->host), "%s", m->host ? m->host : "");
        snprintf(r->hosthdr, sizeof(r->hosthdr), "%s", m->hosthdr ? m->hosthdr : "");
        snprintf(r->prefix, sizeof(r->prefix), "%s", m->prefix ? m->prefix : "");
        atomic_fetch_add(&r->gen, 1);
        pthread_mutex_lock(&r->hlock);
        r->ok_streak = r->fail_streak = 0;
        pthread_mutex_unlock(&r->hlock);
        atomic_store(&r->healthy, true);
        atomic_store(&r->in_use, true);
        changed++;
    }
    atomic_store(&p->n_slots, ns);
    pthread_mutex_unlock(&p->lock);
    return changed;
}

static bool ag_pool_usable(const struct ag_replica *r, const struct ag_replica *avoid)
{
    return r != avoid && atomic_load(&r->in_use) && atomic_load(&r->healthy);
}

struct ag_replica *ag_pool_pick(struct ag_pool *p, const struct ag_replica *avoid)
{
    int ns = atomic_load(&p->n_slots);
    if (ns == 0)
        return NULL;
    unsigned start = atomic_fetch_add(&p->rr, 1u);
    struct ag_replica *best = NULL;
    if (atomic_load(&p->balance) == AG_BALANCE_LEAST_CONN) {
        int best_active = 0;
        for (int k = 0; k < ns; k++) {
            struct ag_replica *r = &p->slots[(start + (unsigned)k) % (unsigned)ns];
            if (!ag_pool_usable(r, avoid))
                continue;
            int a = atomic_load(&r->active);
            if (!best || a < best_active) {
                best = r;
                best_active = a;
            }
        }
    } else {
        for (int k = 0; k < ns && !best; k++) {
            struct ag_replica *r = &p->slots[(start + (unsigned)k) % (unsigned)ns];
            if (ag_pool_usable(r, avoid))
                best = r;
        }
    }
    if (best) {
        atomic_fetch_add(&best->active, 1);
        atomic_fetch_add(&best->requests, 1);
    }
    return best;
}

void ag_pool_release(struct ag_replica *r)
{
    if (r)
        atomic_fetch_sub(&r->active, 1);
}

bool ag_pool_observe(struct ag_pool *p, struct ag_replica *r, bool ok)
{
    bool changed = false;
    pthread_mutex_lock(&r->hlock);
    bool healthy = atomic_load(&r->healthy);
    if (ok) {
        r->fail_streak = 0;
        r->ok_streak++;
        if (!healthy && r->ok_streak >= atomic_load(&p->rise)) {
            atomic_store(&r->healthy, true);
            changed = true;
        }
    } else {
        r->ok_streak = 0;
        r->fail_streak++;
        if (healthy && r->fail_streak >= atomic_load(&p->fall)) {
            atomic_store(&r->healthy, false);
            changed = true;
        }
    }
    pthread_mutex_unlock(&r->hlock);
    return changed;
}

bool ag_pool_eject(struct ag_pool *p, struct ag_replica *r)
{
    (void)p;
    pthread_mutex_lock(&r->hlock);
    bool was = atomic_exchange(&r->healthy, false);
    r->ok_streak = 0;
    atomic_fetch_add(&r->failures, 1);
    pthread_mutex_unlock(&r->hlock);
    return was;
}

int ag_pool_healthy_count(struct ag_pool *p)
{
    int ns = atomic_load(&p->n_slots), n = 0;
    for (int i = 0; i < ns; i++) {
        if (atomic_load(&p->slots[i].in_use) && atomic_load(&p->slots[i].healthy))
            n++;
    }
    return n;
}
