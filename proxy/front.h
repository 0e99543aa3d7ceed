/* The HTTP front: one libmicrohttpd daemon (epoll thread pool, suspend/resume), its per-connection
 * state, and the reaper that cuts connections whose request head is too slow (slowloris) without
 * touching requests that are already being served (slow downloads). */
#ifndef AG_PROXY_FRONT_H
#define AG_PROXY_FRONT_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "core/err.h"

struct ag_proxy;

enum ag_conn_state {
    AG_CONN_NEW = 0,    /* accepted, no request line yet: head deadline applies */
    AG_CONN_IN_HEAD,    /* request line seen, head incomplete: head deadline applies */
    AG_CONN_IN_BODY,    /* request body incomplete: body deadline (time + bytes / min rate) */
    AG_CONN_IN_REQUEST, /* handler running or response streaming: no reaper deadline */
    AG_CONN_IDLE,       /* keep-alive between requests: idle deadline applies */
};

/** Per-connection state (libmicrohttpd's socket context). */
struct ag_conn {
    int fd;
    atomic_int state;
    atomic_uint_fast64_t since_ms; /* when the state was entered (monotonic ms) */
    struct sockaddr_storage peer;
    char peer_ip[64];
    char *uri; /* raw request-target of the current request (URI log callback) */
    size_t uri_cap;
    atomic_uint_fast64_t body_bytes; /* request body bytes consumed in AG_CONN_IN_BODY */
    bool reaped;
    struct ag_conn *prev, *next;
};

struct ag_front {
    struct MHD_Daemon *d;
    struct ag_proxy *px;
    bool tls;
    long header_timeout_ms, idle_timeout_ms;
    long body_timeout_ms, body_min_rate; /* 0 ms: no body deadline */
    long long max_body;
    size_t max_header;
    uint16_t port;
    pthread_mutex_t conns_lock;
    struct ag_conn *conns;
    atomic_int n_conns;
    atomic_int inflight;  /* requests of this daemon between head and completion */
    atomic_bool retiring; /* replaced by a reload: answers carry Connection: close */
    pthread_t reaper;
    atomic_bool stop;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    char *cert_pem, *key_pem;
};

/** Starts a daemon for cfg: binds cfg->listen, or serves listen_fd when >= 0 (a reload hands the
 * socket over). TLS from cfg->tls_* files (TLS 1.2+). */
enum ag_rc ag_front_start(struct ag_proxy *px, const struct ag_config *cfg, int listen_fd,
                          struct ag_front **out, struct ag_err *err) AG_WUR;

/** Stops accepting; returns the listening socket (now owned by the caller) or -1. */
int ag_front_quiesce(struct ag_front *f);

/** Open connections. */
int ag_front_connections(struct ag_front *f);

/** Stops the daemon (closing what is left) and frees f. NULL is a no-op. */
void ag_front_free(struct ag_front *f);

/** True when the two configs need a new daemon (TLS files, listen address, server limits). */
bool ag_front_needs_restart(const struct ag_config *a, const struct ag_config *b);

/** Monotonic milliseconds. */
uint64_t ag_front_now_ms(void);

/* handler.c */
enum MHD_Result ag_handler_access(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls);
void ag_handler_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe);

#endif
