/* A bounded set of strings in arena memory (open addressing, FNV-1a), so that deduplicating
 * up to AG_ROLEMAP_MAX_ROLES roles stays linear. Internal to rolemap/. */
#ifndef AG_ROLEMAP_STRSET_H
#define AG_ROLEMAP_STRSET_H

#include <stdbool.h>
#include <stddef.h>

struct ag_arena;

struct ag_strset {
    size_t cap; /* power of two, at least twice the most entries ever added */
    const char **slots;
};

/** Prepares a set that can hold max_entries strings. */
void ag_strset_init(struct ag_strset *s, struct ag_arena *a, size_t max_entries);

/** Adds s (the pointer is kept, not copied); returns true if it was not there yet. */
bool ag_strset_add(struct ag_strset *s, const char *str);

/** True if str is in the set. */
bool ag_strset_has(const struct ag_strset *s, const char *str);

#endif
