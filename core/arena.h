/* Request- or object-lifetime arena. Everything allocated from it, and every library object
 * registered with ag_arena_cleanup_add, is released together by ag_arena_free.
 * Allocation failure aborts the process (see style guide: we do not limp on after ENOMEM). */
#ifndef AG_CORE_ARENA_H
#define AG_CORE_ARENA_H

#include <stddef.h>

#include "core/err.h"

struct ag_arena;

/** Creates an arena whose blocks are at least block_size bytes (0 picks a default). Caller frees.
 */
struct ag_arena *ag_arena_new(size_t block_size);

/** Runs the cleanups (newest first), then releases every block and the arena itself. NULL is a
 * no-op. */
void ag_arena_free(struct ag_arena *a);

/** Runs the cleanups and forgets all allocations, keeping the first block for reuse. */
void ag_arena_reset(struct ag_arena *a);

/** 16-byte aligned memory owned by the arena; never returns NULL. */
void *ag_arena_alloc(struct ag_arena *a, size_t n);

/** Zeroed ag_arena_alloc of n * size, aborting on overflow. */
void *ag_arena_calloc(struct ag_arena *a, size_t n, size_t size);

/** Copies n bytes into the arena. */
void *ag_arena_memdup(struct ag_arena *a, const void *p, size_t n);

/** NUL-terminated copy of s (NULL gives NULL). */
char *ag_arena_strdup(struct ag_arena *a, const char *s);

/** NUL-terminated copy of the first n bytes of s. */
char *ag_arena_strndup(struct ag_arena *a, const char *s, size_t n);

/** printf into arena memory. */
char *ag_arena_printf(struct ag_arena *a, const char *fmt, ...) AG_PRINTF(2, 3);

/** Registers fn(data) to run when the arena is reset or freed (newest first). */
void ag_arena_cleanup_add(struct ag_arena *a, void (*fn)(void *), void *data);

/** Bytes handed out since creation or the last reset (for limits and tests). */
size_t ag_arena_used(const struct ag_arena *a);

#endif
