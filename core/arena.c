#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AG_ARENA_ALIGN 16u
#define AG_ARENA_DEFAULT_BLOCK 4096u

struct ag_arena_block {
    struct ag_arena_block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct ag_arena_cleanup {
    struct ag_arena_cleanup *next;
    void (*fn)(void *);
    void *data;
};

struct ag_arena {
    struct ag_arena_block *head; /* current block first */
    struct ag_arena_cleanup *cleanups;
    size_t block_size;
    size_t used;
};

static void *ag_xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fputs("airgate: out of memory\n", stderr);
        abort();
    }
    return p;
}

static struct ag_arena_block *ag_arena_block_new(size_t size)
{
    struct ag_arena_block *b = ag_xmalloc(sizeof(*b) + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

struct ag_arena *ag_arena_new(size_t block_size)
{
    struct ag_arena *a = ag_xmalloc(sizeof(*a));
    a->block_size = block_size ? block_size : AG_ARENA_DEFAULT_BLOCK;
    a->head = ag_arena_block_new(a->block_size);
    a->cleanups = NULL;
    a->used = 0;
    return a;
}

static void ag_arena_run_cleanups(struct ag_arena *a)
{
    /* A cleanup may not allocate from this arena, so detach the list first. */
    struct ag_arena_cleanup *c = a->cleanups;
    a->cleanups = NULL;
    while (c) {
        struct ag_arena_cleanup *next = c->next;
        c->fn(c->data);
        c = next;
    }
}

void ag_arena_reset(struct ag_arena *a)
{
    if (!a)
        return;
    ag_arena_run_cleanups(a);
    /* Keep the oldest block (the one made with the arena), drop the rest. */
    struct ag_arena_block *b = a->head;
    while (b->next) {
        struct ag_arena_block *next = b->next;
        free(b);
        b = next;
    }
    b->used = 0;
    a->head = b;
    a->used = 0;
}

void ag_arena_free(struct ag_arena *a)
{
    if (!a)
        return;
    ag_arena_run_cleanups(a);
    struct ag_arena_block *b = a->head;
    while (b) {
        struct ag_arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *ag_arena_alloc(struct ag_arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - AG_ARENA_ALIGN) {
        fputs("airgate: arena allocation overflow\n", stderr);
        abort();
    }
    size_t need = (n + AG_ARENA_ALIGN - 1) & ~(size_t)(AG_ARENA_ALIGN - 1);
    struct ag_arena_block *b = a->head;
    if (b->size - b->used < need) {
        size_t size = need > a->block_size ? need : a->block_size;
        struct ag_arena_block *nb = ag_arena_block_new(size);
        if (need > a->block_size) {
            /* An oversized allocation gets its own block behind the current one, so the
             * current block keeps serving small allocations. */
            nb->next = b->next;
            b->next = nb;
            nb->used = need;
            a->used += need;
            return nb->data;
        }
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used += need;
    return p;
}

void *ag_arena_calloc(struct ag_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        fputs("airgate: arena allocation overflow\n", stderr);
        abort();
    }
    void *p = ag_arena_alloc(a, n * size);
    memset(p, 0, n * size);
    return p;
}

void *ag_arena_memdup(struct ag_arena *a, const void *p, size_t n)
{
    void *q = ag_arena_alloc(a, n);
    if (n)
        memcpy(q, p, n);
    return q;
}

char *ag_arena_strndup(struct ag_arena *a, const char *s, size_t n)
{
    char *q = ag_arena_alloc(a, n + 1);
    if (n)
        memcpy(q, s, n);
    q[n] = '\0';
    return q;
}

char *ag_arena_strdup(struct ag_arena *a, const char *s)
{
    return s ? ag_arena_strndup(a, s, strlen(s)) : NULL;
}

char *ag_arena_printf(struct ag_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ag_arena_strdup(a, "");
    char *out = ag_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}

void ag_arena_cleanup_add(struct ag_arena *a, void (*fn)(void *), void *data)
{
    struct ag_arena_cleanup *c = ag_arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
}

size_t ag_arena_used(const struct ag_arena *a)
{
    return a->used;
}
