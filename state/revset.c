/* Open-addressing hash set of revocations; see revset.h. */
#include "state/revset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AG_REVSET_DEFAULT_MAX 1000000u

struct ag_revset_slot {
    bool used;
    struct ag_revocation r;
};

struct ag_revset {
    struct ag_revset_slot *slots;
    size_t cap; /* power of two, kept at most half full */
    size_t n, max;
};

static size_t ag_revset_hash(char kind, const uint8_t *d)
{
    /* the digest is already a keyed MAC: its first bytes are uniformly spread */
    uint64_t h;
    memcpy(&h, d, sizeof(h));
    return (size_t)(h ^ (uint64_t)(unsigned char)kind * 0x9E3779B97F4A7C15ull);
}

struct ag_revset *ag_revset_new(size_t max)
{
    struct ag_revset *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->max = max ? max : AG_REVSET_DEFAULT_MAX;
    s->cap = 64;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    if (!s->slots)
        abort();
    return s;
}

void ag_revset_free(struct ag_revset *s)
{
    if (!s)
        return;
    free(s->slots);
    free(s);
}

static struct ag_revset_slot *ag_revset_find(const struct ag_revset *s, char kind, const uint8_t *d,
                                             bool *found)
{
    size_t mask = s->cap - 1;
    for (size_t i = ag_revset_hash(kind, d) & mask;; i = (i + 1) & mask) {
        struct ag_revset_slot *sl = &s->slots[i];
        if (!sl->used) {
            *found = false;
            return sl;
        }
        if (sl->r.kind == kind && memcmp(sl->r.digest, d, AG_REVOKE_DIGEST_LEN) == 0) {
            *found = true;
            return sl;
        }
    }
}

static void ag_revset_rehash(struct ag_revset *s, size_t cap)
{
    struct ag_revset_slot *old = s->slots;
    size_t oldcap = s->cap;
    s->slots = calloc(cap, sizeof(*s->slots));
    if (!s->slots)
        abort();
    s->cap = cap;
    s->n = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].used)
            continue;
        bool found;
        struct ag_revset_slot *sl = ag_revset_find(s, old[i].r.kind, old[i].r.digest, &found);
        *sl = old[i];
        s->n++;
    }
    free(old);
}

enum ag_rc ag_revset_add(struct ag_revset *s, const struct ag_revocation *r)
{
    bool found;
    struct ag_revset_slot *sl = ag_revset_find(s, r->kind, r->digest, &found);
    if (found) {
        if (r->revoked_at > sl->r.revoked_at)
            sl->r.revoked_at = r->revoked_at;
        if (r->until > sl->r.until)
            sl->r.until = r->until;
        return AG_OK;
    }
    if (s->n >= s->max)
        return AG_ENOMEM;
    if ((s->n + 1) * 2 > s->cap) {
        ag_revset_rehash(s, s->cap * 2);
        sl = ag_revset_find(s, r->kind, r->digest, &found);
    }
    sl->used = true;
    sl->r = *r;
    s->n++;
    return AG_OK;
}

bool ag_revset_hit(const struct ag_revset *s, char kind, const uint8_t *digest,
                   long long created_at, long long now)
{
    bool found;
    const struct ag_revset_slot *sl = ag_revset_find(s, kind, digest, &found);
    return found && now < sl->r.until && created_at <= sl->r.revoked_at;
}

size_t ag_revset_expire(struct ag_revset *s, long long now)
{
    size_t live = 0;
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].used && s->slots[i].r.until <= now)
            s->slots[i].used = false;
        else if (s->slots[i].used)
            live++;
    }
    size_t cap = 64;
    while (cap < live * 2 + 2)
        cap *= 2;
    ag_revset_rehash(s, cap); /* also repairs probe chains broken by the removals */
    return s->n;
}

size_t ag_revset_count(const struct ag_revset *s)
{
    return s->n;
}

size_t ag_revocation_format(const struct ag_revocation *r, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    char d[AG_REVOKE_DIGEST_LEN * 2 + 1];
    for (size_t i = 0; i < AG_REVOKE_DIGEST_LEN; i++) {
        d[2 * i] = hex[r->digest[i] >> 4];
        d[2 * i + 1] = hex[r->digest[i] & 15];
    }
    d[sizeof(d) - 1] = '\0';
    int n = snprintf(out, outlen, "%c:%s:%lld:%lld", r->kind, d, r->revoked_at, r->until);
    return n < 0 ? 0 : (size_t)n;
}

static int ag_revset_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* A decimal number of 1..18 digits (no sign) ending at a ':' or the end; advances *p. */
static bool ag_revset_num(const char **p, const char *end, long long *out)
{
    long long v = 0;
    const char *q = *p;
    while (q < end && *q >= '0' && *q <= '9' && q - *p < 18)
        v = v * 10 + (*q++ - '0');
    if (q == *p || (q < end && *q != ':'))
        return false;
    *out = v;
    *p = q;
    return true;
}

enum ag_rc ag_revocation_parse(const char *s, size_t len, struct ag_revocation *out,
                               struct ag_err *err)
{
    const char *p = s, *end = s + len;
    memset(out, 0, sizeof(*out));
    if (len < 2 + AG_REVOKE_DIGEST_LEN * 2 + 4 || s[1] != ':' ||
        (s[0] != AG_REVOKE_SESSION && s[0] != AG_REVOKE_SID && s[0] != AG_REVOKE_SUB))
        return ag_err_set(err, AG_EPARSE, "revocation entry has a bad kind or length");
    out->kind = s[0];
    p += 2;
    for (size_t i = 0; i < AG_REVOKE_DIGEST_LEN; i++, p += 2) {
        int hi = ag_revset_hexval(p[0]), lo = ag_revset_hexval(p[1]);
        if (hi < 0 || lo < 0)
            return ag_err_set(err, AG_EPARSE, "revocation entry has a bad digest");
        out->digest[i] = (uint8_t)(hi << 4 | lo);
    }
    if (*p++ != ':' || !ag_revset_num(&p, end, &out->revoked_at) || p >= end || *p++ != ':' ||
        !ag_revset_num(&p, end, &out->until) || p != end)
        return ag_err_set(err, AG_EPARSE, "revocation entry has bad times");
    return AG_OK;
}
