/* An event loop thread: one epoll set whose registrations each carry the handlers to call, as
 * nginx's events do (ev->handler): readiness, a periodic timer (the sweep, every 250 ms) and a
 * release after the round the event was retired in. Tasks posted from other threads (offload.h)
 * come back to their loop through its eventfd. The loop knows no protocol: whoever registers an
 * event gives it its handlers (proxy/stream/). Internal to proxy/. */
#ifndef AG_PROXY_LOOP_H
#define AG_PROXY_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define AG_IOBUF 16384 /* pooled I/O buffer: request heads start here, bodies stream here */

struct ag_loop;
struct ag_free_buf;

/* What every epoll registration points at. */
struct ag_ev {
    /* the epoll events that fired; EPOLLIN for an event made ready (ag_loop_ready) */
    void (*handler)(struct ag_ev *ev, uint32_t events);
    /* each sweep, while on the timer list (ag_loop_timer_add until ag_loop_retire) */
    void (*on_timer)(struct ag_ev *ev, uint64_t now_ms);
    /* after the round it was retired in (NULL: nothing to free) */
    void (*on_free)(struct ag_ev *ev);
    uint32_t events; /* the interest currently registered */
    bool in_ready;
    struct ag_ev *ready_next;
    struct ag_ev *tprev, *tnext; /* the timer list; the retired list after ag_loop_retire */
};

/* Work handed to another thread that comes back to its loop. */
struct ag_task {
    void (*run)(struct ag_task *t, bool stopping); /* on the other thread (offload.h) */
    void (*done)(struct ag_task *t);               /* then on the loop, in posting order */
    struct ag_loop *loop;
    struct ag_task *next;
};

struct ag_loop {
    struct ag_ev wake_ev;
    int epfd, evfd;
    pthread_t thread;
    bool thread_started, inited;
    atomic_bool stop;
    uint64_t now_ms, next_sweep_ms;
    struct ag_free_buf *free_bufs; /* pooled AG_IOBUF buffers, linked through their first bytes */
    int n_free_bufs;
    struct ag_ev *ready;   /* events with work that no epoll event will announce */
    struct ag_ev *timers;  /* swept every round of the sweep */
    struct ag_ev *tcursor; /* the next one the running sweep visits */
    struct ag_ev *retired; /* freed after this round (epoll may still name them) */
    pthread_mutex_t done_lock;
    struct ag_task *done; /* posted back, waiting for the loop */
    /* on the loop thread once it stops, after the last posted task: closes what is open */
    void (*on_stop)(struct ag_loop *l);
};

uint64_t ag_loop_now_ms(void);
uint64_t ag_loop_now_us(void);

/** Creates the epoll set and the wakeup eventfd (epfd, evfd -1 before). -1 (errno) on error. */
int ag_loop_init(struct ag_loop *l);
/** Starts the loop's thread. 0 or an errno. */
int ag_loop_start(struct ag_loop *l);
/** Asks the loop to stop (any thread); it runs on_stop and ends. */
void ag_loop_stop(struct ag_loop *l);
/** Joins the thread (after ag_loop_stop) and closes the loop's descriptors. */
void ag_loop_destroy(struct ag_loop *l);

char *ag_loop_buf_get(struct ag_loop *l);
void ag_loop_buf_put(struct ag_loop *l, char *b);
/** Registers or changes the epoll interest of fd (events 0: none, still registered). */
void ag_loop_watch(struct ag_loop *l, int fd, struct ag_ev *ev, uint32_t events);
/** Runs ev->handler(ev, EPOLLIN) after this round of events. Loop thread. */
void ag_loop_ready(struct ag_loop *l, struct ag_ev *ev);
/** Puts ev on the timer list: ev->on_timer runs at every sweep. Loop thread. */
void ag_loop_timer_add(struct ag_loop *l, struct ag_ev *ev);
/** Takes ev off the timer list and frees it (on_free) after this round. Loop thread. */
void ag_loop_retire(struct ag_loop *l, struct ag_ev *ev);
/** Hands t back to its loop, which runs t->done. Any thread. */
void ag_loop_post(struct ag_loop *l, struct ag_task *t);

#endif
