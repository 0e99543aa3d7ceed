/* RESP through hiredis' reader and formatter; see resp.h. */
#include "state/resp.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

struct ag_resp_reader {
    redisReader *rd;
    size_t max_buffered;
    int broken;
};

void ag_resp_free(struct ag_resp *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        ag_resp_free(r->elem[i]);
    free(r->elem);
    free(r->str);
    free(r);
}

int ag_resp_is(const struct ag_resp *r, const char *s)
{
    return r && (r->type == AG_RESP_STATUS || r->type == AG_RESP_STRING) && r->str &&
           r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

static struct ag_resp *ag_resp_from_hiredis(const redisReply *h)
{
    struct ag_resp *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    switch (h->type) {
    case REDIS_REPLY_STRING:
        r->type = AG_RESP_STRING;
        break;
    case REDIS_REPLY_ARRAY:
        r->type = AG_RESP_ARRAY;
        break;
    case REDIS_REPLY_INTEGER:
        r->type = AG_RESP_INTEGER;
        break;
    case REDIS_REPLY_STATUS:
        r->type = AG_RESP_STATUS;
        break;
    case REDIS_REPLY_ERROR:
        r->type = AG_RESP_ERROR;
        break;
    default:
        r->type = AG_RESP_NIL;
        break;
    }
    r->integer = h->integer;
    if (h->str) {
        r->str = malloc(h->len + 1);
        if (!r->str)
            abort();
        memcpy(r->str, h->str, h->len);
        r->str[h->len] = '\0';
        r->len = h->len;
    }
    if (h->type == REDIS_REPLY_ARRAY && h->elements > 0) {
        r->elem = calloc(h->elements, sizeof(*r->elem));
        if (!r->elem)
            abort();
        for (size_t i = 0; i < h->elements; i++)
            r->elem[r->n++] = ag_resp_from_hiredis(h->element[i]);
    }
    return r;
}

enum ag_rc ag_resp_format(int argc, const char *const *argv, const size_t *lens, char **out,
                          size_t *outlen, struct ag_err *err)
{
    char *cmd = NULL;
    int n = redisFormatCommandArgv(&cmd, argc, (const char **)argv, lens);
    if (n < 0 || !cmd)
        return ag_err_set(err, AG_EINVAL, "cannot format a Redis command");
    /* hand out a buffer the caller frees with free(), whatever allocator hiredis uses */
    char *copy = malloc((size_t)n);
    if (!copy)
        abort();
    memcpy(copy, cmd, (size_t)n);
    redisFreeCommand(cmd);
    *out = copy;
    *outlen = (size_t)n;
    return AG_OK;
}

struct ag_resp_reader *ag_resp_reader_new(size_t max_buffered)
{
    struct ag_resp_reader *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->rd = redisReaderCreate();
    if (!r->rd)
        abort();
    r->max_buffered = max_buffered;
    return r;
}

void ag_resp_reader_free(struct ag_resp_reader *r)
{
    if (!r)
        return;
    redisReaderFree(r->rd);
    free(r);
}

static enum ag_rc ag_resp_reader_fail(struct ag_resp_reader *r, struct ag_err *err)
{
    r->broken = 1;
    const char *why = r->rd->errstr[0] ? r->rd->errstr : "unreadable answer";
    return ag_err_set(err, AG_EPARSE, "not a Redis answer: %.120s", why);
}

enum ag_rc ag_resp_reader_feed(struct ag_resp_reader *r, const char *buf, size_t len,
                               struct ag_err *err)
{
    if (r->broken)
        return ag_err_set(err, AG_EPARSE, "the Redis answer stream is broken");
    if (redisReaderFeed(r->rd, buf, len) != REDIS_OK)
        return ag_resp_reader_fail(r, err);
    if (r->max_buffered && r->rd->len - r->rd->pos > r->max_buffered) {
        r->broken = 1;
        return ag_err_set(err, AG_EPARSE, "Redis answer larger than %zu bytes", r->max_buffered);
    }
    return AG_OK;
}

enum ag_rc ag_resp_reader_next(struct ag_resp_reader *r, struct ag_resp **out, struct ag_err *err)
{
    *out = NULL;
    if (r->broken)
        return ag_err_set(err, AG_EPARSE, "the Redis answer stream is broken");
    void *reply = NULL;
    if (redisReaderGetReply(r->rd, &reply) != REDIS_OK)
        return ag_resp_reader_fail(r, err);
    if (!reply)
        return AG_OK;
    *out = ag_resp_from_hiredis(reply);
    freeReplyObject(reply);
    return AG_OK;
}
