#include "rolemap/strset.h"

#include <stdint.h>
#include <string.h>

#include "core/arena.h"

static uint64_t ag_strset_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void ag_strset_init(struct ag_strset *s, struct ag_arena *a, size_t max_entries)
{
    size_t cap = 16;
    while (cap < max_entries * 2)
        cap *= 2;
    s->cap = cap;
    s->slots = ag_arena_calloc(a, cap, sizeof(*s->slots));
}

static size_t ag_strset_find(const struct ag_strset *s, const char *str)
{
    size_t mask = s->cap - 1;
    size_t i = (size_t)ag_strset_hash(str) & mask;
    /* cap >= 2 * entries, so an empty slot always exists and the probe ends. */
    while (s->slots[i] && strcmp(s->slots[i], str) != 0)
        i = (i + 1) & mask;
    return i;
}

bool ag_strset_add(struct ag_strset *s, const char *str)
{
    size_t i = ag_strset_find(s, str);
    if (s->slots[i])
        return false;
    s->slots[i] = str;
    return true;
}

bool ag_strset_has(const struct ag_strset *s, const char *str)
{
    return s->slots[ag_strset_find(s, str)] != NULL;
}
