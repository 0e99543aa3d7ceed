/* The front: listening socket, TLS contexts, the loops' lifecycle; see front.h. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "proxy/stream/front.h"
#include "proxy/stream/peers.h"

#include <arpa/inet.h>
#include <sched.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/decide/authcache.h"
#include "proxy/event/loop.h"
#include "proxy/runtime.h"
#include "proxy/stream/conn.h"
#include "proxy/stream/request.h"
#include "proxy/stream/shard.h"
#include "proxy/stream/tls.h"
#include "proxy/stream/upconn.h"

uint64_t ag_front_now_ms(void)
{
    return ag_loop_now_ms();
}

static enum ag_rc ag_front_addr(const struct ag_config *cfg, struct sockaddr_storage *ss,
                                socklen_t *len, struct ag_err *err)
{
    memset(ss, 0, sizeof(*ss));
    const char *host = cfg->listen_host && cfg->listen_host[0] ? cfg->listen_host : "0.0.0.0";
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(cfg->listen_port);
        *len = sizeof(*in);
        return AG_OK;
    }
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(cfg->listen_port);
        *len = sizeof(*in6);
        return AG_OK;
    }
    return ag_err_set(err, AG_ECONF, "listen: '%s' is not an IPv4 or IPv6 address", host);
}

static int ag_front_socket(const struct sockaddr_storage *ss, socklen_t len, bool reuseport)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss->ss_family == AF_INET6) /* "::" serves IPv4 too, as most servers do */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The port fd is bound to (the kernel's choice for port 0), or fallback. */
static uint16_t ag_front_bound_port(int fd, uint16_t fallback)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } b;
    memset(&b, 0, sizeof(b));
    socklen_t bl = sizeof(b);
    if (getsockname(fd, &b.sa, &bl) != 0)
        return fallback;
    uint16_t net = b.sa.sa_family == AF_INET6 ? b.in6.sin6_port : b.in.sin_port;
    return ntohs(net);
}

/* n listening sockets on cfg->listen sharing the address with SO_REUSEPORT, one per loop: the
 * kernel spreads new connections evenly over the loops. *port gets the bound port. */
static enum ag_rc ag_front_listen(const struct ag_config *cfg, int n, int *fds, uint16_t *port,
                                  struct ag_err *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    enum ag_rc rc = ag_front_addr(cfg, &ss, &len, err);
    if (rc != AG_OK)
        return rc;
    for (int i = 0; i < n; i++)
        fds[i] = -1;
    if (cfg->listen_port != 0) {
        /* SO_REUSEPORT would also let us share a port another process listens on: make sure
         * nobody does, with a plain bind first */
        int probe = ag_front_socket(&ss, len, false);
        if (probe < 0)
            return ag_err_set(err, AG_EIO, "cannot serve on %s: %s", cfg->listen, strerror(errno));
        close(probe);
    }
    for (int i = 0; i < n; i++) {
        fds[i] = ag_front_socket(&ss, len, true);
        if (fds[i] < 0) {
            int e = errno;
            for (int k = 0; k < i; k++)
                close(fds[k]);
            return ag_err_set(err, AG_EIO, "cannot serve on %s: %s", cfg->listen, strerror(e));
        }
        if (i == 0) {
            *port = ag_front_bound_port(fds[0], cfg->listen_port);
            /* the others join the port the first one got (port 0: chosen now) */
            if (ss.ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&ss)->sin6_port = htons(*port);
            else
                ((struct sockaddr_in *)&ss)->sin_port = htons(*port);
        }
    }
    return AG_OK;
}

/* Gives each loop its new listening socket (fds[i] < 0: none) and closes the old ones. */
static void ag_front_attach(struct ag_front *f, const int *fds)
{
    for (int i = 0; i < f->n_loops; i++) {
        struct ag_shard *l = &f->shards[i];
        int fd = fds ? fds[i] : -1;
        if (fd >= 0) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->listen_ev};
            epoll_ctl(l->loop.epfd, EPOLL_CTL_ADD, fd, &ev);
        }
        int old = atomic_exchange(&l->listen_fd, fd);
        if (old >= 0) {
            epoll_ctl(l->loop.epfd, EPOLL_CTL_DEL, old, NULL);
            close(old);
        }
    }
}

static bool ag_front_any_https(const struct ag_config *cfg)
{
    for (size_t i = 0; i < cfg->upstreams.servers.n; i++) {
        if (strncmp(cfg->upstreams.servers.items[i], "https://", 8) == 0)
            return true;
    }
    return false;
}

/* The contexts cfg asks for; *tls and *up_tls are NULL when not needed. */
static enum ag_rc ag_front_contexts(const struct ag_config *cfg, struct ag_tls_ctx **tls,
                                    struct ag_tls_ctx **up_tls, struct ag_err *err)
{
    *tls = *up_tls = NULL;
    if (cfg->tls_enabled) {
        enum ag_rc rc = ag_tls_server_ctx_new(cfg->tls_cert_file, cfg->tls_key_file, tls, err);
        if (rc != AG_OK)
            return rc;
    }
    if (ag_front_any_https(cfg)) {
        enum ag_rc rc = ag_tls_client_ctx_new(cfg->upstreams.ca_file, up_tls, err);
        if (rc != AG_OK) {
            ag_tls_ctx_unref(*tls);
            *tls = NULL;
            return rc;
        }
    }
    return AG_OK;
}

/* The CPUs this process may run on (a container's cpuset), else the machine's. */
static long ag_front_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}

/* A loop stops: every connection closes, the pools and caches go. */
static void ag_front_shard_stop(struct ag_loop *loop)
{
    struct ag_shard *l = (struct ag_shard *)(void *)loop;
    ag_cconn_close_all(l);
    ag_uconn_close_all(l);
    ag_req_pool_free(l);
    ag_runtime_unref(l->rt);
    l->rt = NULL;
    if (l->sesscache) {
        ag_authcache_clear(l->sesscache);
        free(l->sesscache);
        l->sesscache = NULL;
    }
    if (l->authcache) {
        ag_authcache_clear(l->authcache);
        free(l->authcache);
        l->authcache = NULL;
    }
}

enum ag_rc ag_front_start(const struct ag_services *svc, const struct ag_config *cfg,
                          struct ag_front **out, struct ag_err *err)
{
    struct ag_front *f = calloc(1, sizeof(*f));
    if (!f)
        abort();
    pthread_mutex_init(&f->common.tls_lock, NULL);
    f->common.peers = ag_peers_new();
    long n = cfg->server.threads > 0 ? cfg->server.threads : ag_front_cpus();
    f->n_loops = n < 1 ? 1 : (int)n;
    f->shards = calloc((size_t)f->n_loops, sizeof(*f->shards));
    if (!f->shards)
        abort();
    for (int i = 0; i < f->n_loops; i++) {
        f->shards[i].loop.epfd = f->shards[i].loop.evfd = -1;
        atomic_store(&f->shards[i].listen_fd, -1);
    }
    int *fds = calloc((size_t)f->n_loops, sizeof(int));
    if (!fds)
        abort();
    enum ag_rc rc = ag_front_contexts(cfg, &f->common.tls, &f->common.up_tls, err);
    if (rc == AG_OK)
        rc = ag_front_listen(cfg, f->n_loops, fds, &f->port, err);
    if (rc != AG_OK) {
        free(fds);
        goto fail;
    }
    for (int i = 0; i < f->n_loops; i++) {
        struct ag_shard *sh = &f->shards[i];
        sh->listen_ev.handler = ag_cconn_listen_ready;
        sh->loop.on_stop = ag_front_shard_stop;
        if (ag_shard_init(sh, &f->common, svc, i) != 0) {
            rc = ag_err_set(err, AG_EIO, "cannot set up an event loop: %s", strerror(errno));
            for (int k = 0; k < f->n_loops; k++)
                close(fds[k]);
            free(fds);
            goto fail;
        }
    }
    ag_front_attach(f, fds);
    free(fds);
    for (int i = 0; i < f->n_loops; i++) {
        if (ag_loop_start(&f->shards[i].loop) != 0) {
            rc = ag_err_set(err, AG_EIO, "cannot start an event loop thread");
            goto fail;
        }
    }
    *out = f;
    return AG_OK;
fail:
    ag_front_free(f);
    return rc;
}

static bool ag_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

enum ag_rc ag_front_reconfigure(struct ag_front *f, const struct ag_config *old,
                                const struct ag_config *cfg, struct ag_err *err)
{
    if (old->tls_enabled != cfg->tls_enabled)
        return ag_err_set(err, AG_ECONF,
                          "switching TLS on or off needs a restart (tls.cert_file changed)");
    /* TLS files may have been rewritten in place: always re-read them */
    struct ag_tls_ctx *tls = NULL, *up_tls = NULL;
    enum ag_rc rc = ag_front_contexts(cfg, &tls, &up_tls, err);
    if (rc != AG_OK)
        return rc;
    if (!ag_same(old->listen, cfg->listen)) {
        int *fds = calloc((size_t)f->n_loops, sizeof(int));
        if (!fds)
            abort();
        uint16_t port = 0;
        rc = ag_front_listen(cfg, f->n_loops, fds, &port, err);
        if (rc != AG_OK) {
            free(fds);
            ag_tls_ctx_unref(tls);
            ag_tls_ctx_unref(up_tls);
            return rc;
        }
        ag_front_attach(f, fds);
        free(fds);
        f->port = port;
        ag_log(AG_LOG_INFO, NULL, "now listening on %s", cfg->listen);
    }
    if (old->server.threads != cfg->server.threads)
        ag_log(AG_LOG_WARN, NULL, "server.threads changes apply at the next start");
    pthread_mutex_lock(&f->common.tls_lock);
    struct ag_tls_ctx *o1 = f->common.tls, *o2 = f->common.up_tls;
    f->common.tls = tls;
    f->common.up_tls = up_tls;
    pthread_mutex_unlock(&f->common.tls_lock);
    ag_tls_ctx_unref(o1); /* connections made with them keep their own references */
    ag_tls_ctx_unref(o2);
    return AG_OK;
}

void ag_front_stop_accepting(struct ag_front *f)
{
    if (f && f->shards)
        ag_front_attach(f, NULL);
}

int ag_front_inflight(struct ag_front *f)
{
    int n = 0;
    for (int i = 0; f && f->shards && i < f->n_loops; i++)
        n += atomic_load_explicit(&f->shards[i].inflight, memory_order_relaxed);
    return n;
}

int ag_front_connections(struct ag_front *f)
{
    return f ? atomic_load(&f->common.n_conns) : 0;
}

void ag_front_free(struct ag_front *f)
{
    if (!f)
        return;
    ag_front_stop_accepting(f);
    for (int i = 0; f->shards && i < f->n_loops; i++) {
        ag_loop_stop(&f->shards[i].loop);
    }
    for (int i = 0; f->shards && i < f->n_loops; i++)
        ag_loop_destroy(&f->shards[i].loop);
    free(f->shards);
    ag_tls_ctx_unref(f->common.tls);
    ag_tls_ctx_unref(f->common.up_tls);
    pthread_mutex_destroy(&f->common.tls_lock);
    ag_peers_free(f->common.peers);
    free(f);
}
