/* A string builder in a request's arena, for the heads airgate writes (own answers, forwarded
 * response heads, upstream request heads): grows by doubling, never fails (the arena aborts on
 * allocation failure). Internal to proxy/stream/ (respond.c, uphead.c). */
#ifndef AG_PROXY_SB_H
#define AG_PROXY_SB_H

#include <stddef.h>
#include <string.h>

#include "core/arena.h"

struct ag_sb {
    struct ag_arena *a;
    char *p;
    size_t len, cap;
};

static inline void ag_sb_init(struct ag_sb *b, struct ag_arena *a, size_t cap)
{
    b->a = a;
    b->p = ag_arena_alloc(a, cap);
    b->len = 0;
    b->cap = cap;
}

static inline void ag_sb_put(struct ag_sb *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap * 2 > b->len + n + 256 ? b->cap * 2 : b->len + n + 256;
        char *p = ag_arena_alloc(b->a, cap);
        memcpy(p, b->p, b->len);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static inline void ag_sb_str(struct ag_sb *b, const char *s)
{
    ag_sb_put(b, s, strlen(s));
}

static inline void ag_sb_hdr(struct ag_sb *b, const char *name, const char *value)
{
    ag_sb_str(b, name);
    ag_sb_put(b, ": ", 2);
    ag_sb_str(b, value ? value : "");
    ag_sb_put(b, "\r\n", 2);
}

static inline void ag_sb_num(struct ag_sb *b, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ag_sb_put(b, tmp + i, sizeof(tmp) - i);
}

#endif
