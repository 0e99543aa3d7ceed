/* The decision pool; see offload.h. */
#include "proxy/event/offload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "proxy/event/loop.h"

struct ag_offload {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct ag_task *head, *tail; /* linked through next while queued */
    bool stop;
    atomic_int pending;
    int n;
    pthread_t *threads;
};

static void *ag_offload_main(void *arg)
{
    struct ag_offload *o = arg;
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (!o->head && !o->stop)
            pthread_cond_wait(&o->cond, &o->lock);
        if (!o->head)
            break; /* stopping and nothing left */
        struct ag_task *t = o->head;
        o->head = t->next;
        if (!o->head)
            o->tail = NULL;
        t->next = NULL;
        bool stopping = o->stop;
        pthread_mutex_unlock(&o->lock);
        t->run(t, stopping);
        atomic_fetch_sub(&o->pending, 1);
        ag_loop_post(t->loop, t);
        pthread_mutex_lock(&o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

enum ag_rc ag_offload_start(int n, struct ag_offload **out, struct ag_err *err)
{
    struct ag_offload *o = calloc(1, sizeof(*o));
    if (!o)
        abort();
    o->n = n < 1 ? 4 : n;
    o->threads = calloc((size_t)o->n, sizeof(*o->threads));
    if (!o->threads)
        abort();
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->cond, NULL);
    for (int i = 0; i < o->n; i++) {
        if (pthread_create(&o->threads[i], NULL, ag_offload_main, o) != 0) {
            o->n = i;
            ag_offload_stop(o);
            return ag_err_set(err, AG_EIO, "cannot start the decision threads");
        }
    }
    *out = o;
    return AG_OK;
}

void ag_offload_submit(struct ag_offload *o, struct ag_task *t)
{
    pthread_mutex_lock(&o->lock);
    if (o->stop) {
        pthread_mutex_unlock(&o->lock);
        t->run(t, true);
        ag_loop_post(t->loop, t);
        return;
    }
    atomic_fetch_add(&o->pending, 1);
    t->next = NULL;
    if (o->tail)
        o->tail->next = t;
    else
        o->head = t;
    o->tail = t;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
}

void ag_offload_stop(struct ag_offload *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->lock);
    o->stop = true;
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->lock);
    for (int i = 0; i < o->n; i++)
        pthread_join(o->threads[i], NULL);
    pthread_cond_destroy(&o->cond);
    pthread_mutex_destroy(&o->lock);
    free(o->threads);
    free(o);
}

int ag_offload_pending(struct ag_offload *o)
{
    return o ? atomic_load(&o->pending) : 0;
}
