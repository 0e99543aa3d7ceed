/* The output queue of one direction of a request (to the client, to the upstream): up to six
 * slices that point into buffers someone else owns, sent in order; and the chunk-size line of
 * chunked transfer coding. Internal to proxy/stream/. */
#ifndef AG_PROXY_OUTQ_H
#define AG_PROXY_OUTQ_H

#include <stddef.h>
#include <string.h>
#include <sys/uio.h>

struct ag_outq {
    struct iovec v[6];
    int n, i;     /* slices queued, first unsent */
    size_t total; /* unsent bytes */
};

static inline void ag_outq_reset(struct ag_outq *q)
{
    q->n = q->i = 0;
    q->total = 0;
}
static inline void ag_outq_add(struct ag_outq *q, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(&q->v[q->n].iov_base, &p, sizeof(p)); /* iovec wants void *; nothing writes through it */
    q->v[q->n].iov_len = n;
    q->n++;
    q->total += n;
}
/** Marks k bytes as sent. */
static inline void ag_outq_advance(struct ag_outq *q, size_t k)
{
    q->total -= k;
    while (k > 0 && q->i < q->n) {
        struct iovec *v = &q->v[q->i];
        if (k < v->iov_len) {
            v->iov_base = (char *)v->iov_base + k;
            v->iov_len -= k;
            return;
        }
        k -= v->iov_len;
        q->i++;
    }
    if (q->total == 0)
        q->n = q->i = 0;
}

/** Writes "<hex n>\r\n" (a chunk-size line) into out (at least 20 bytes); returns its length. */
static inline size_t ag_chunk_line(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t k = 0;
    do {
        tmp[k++] = hex[n & 15];
        n >>= 4;
    } while (n);
    for (size_t i = 0; i < k; i++)
        out[i] = tmp[k - 1 - i];
    out[k] = '\r';
    out[k + 1] = '\n';
    return k + 2;
}

#endif
