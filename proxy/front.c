/* The libmicrohttpd daemon and the slow-head reaper; see front.h. */
#include "proxy/front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/cidr.h"
#include "proxy/proxy.h"

uint64_t ag_front_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void ag_front_conn_set(struct ag_conn *c, enum ag_conn_state s)
{
    atomic_store_explicit(&c->since_ms, ag_front_now_ms(), memory_order_relaxed);
    atomic_store_explicit(&c->state, (int)s, memory_order_release);
}

static void ag_front_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                                 enum MHD_ConnectionNotificationCode code)
{
    struct ag_front *f = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct ag_conn *c = calloc(1, sizeof(*c));
        if (!c)
            abort();
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
            socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                   : sizeof(struct sockaddr_in);
            memcpy(&c->peer, ci->client_addr, len);
        }
        ag_cidr_addr_text((const struct sockaddr *)&c->peer, c->peer_ip, sizeof(c->peer_ip));
        ag_front_conn_set(c, AG_CONN_NEW);
        pthread_mutex_lock(&f->conns_lock);
        c->next = f->conns;
        if (f->conns)
            f->conns->prev = c;
        f->conns = c;
        pthread_mutex_unlock(&f->conns_lock);
        atomic_fetch_add(&f->n_conns, 1);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct ag_conn *c = *socket_context;
        if (!c)
            return;
        /* the reaper holds conns_lock while it shuts a socket down, so the fd cannot be closed
         * and reused under it */
        pthread_mutex_lock(&f->conns_lock);
        if (c->prev)
            c->prev->next = c->next;
        else
            f->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&f->conns_lock);
        atomic_fetch_sub(&f->n_conns, 1);
        free(c->uri);
        free(c);
        *socket_context = NULL;
    }
}

static void *ag_front_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct ag_conn *c = ci ? ci->socket_context : NULL;
    if (c) {
        size_t n = strlen(uri) + 1;
        if (n > c->uri_cap) {
            free(c->uri);
            c->uri_cap = n < 256 ? 256 : n;
            c->uri = malloc(c->uri_cap);
            if (!c->uri)
                abort();
        }
        memcpy(c->uri, uri, n);
        ag_front_conn_set(c, AG_CONN_IN_HEAD);
    }
    return NULL;
}

/* Leaves the path as received: it is forwarded byte for byte, and decoding is the upstream's
 * business (MHD would otherwise decode %2F and friends before we see them). */
static size_t ag_front_no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static void ag_front_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (AG_LOG_DEBUG < ag_log_min_level)
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    ag_log(AG_LOG_DEBUG, NULL, "http: %s", msg);
}

static void *ag_front_reaper(void *arg)
{
    struct ag_front *f = arg;
    pthread_mutex_lock(&f->stop_lock);
    while (!atomic_load(&f->stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&f->stop_cond, &f->stop_lock, &ts);
        if (atomic_load(&f->stop))
            break;
        uint64_t now = ag_front_now_ms();
        int cut = 0;
        pthread_mutex_lock(&f->conns_lock);
        for (struct ag_conn *c = f->conns; c; c = c->next) {
            int st = atomic_load_explicit(&c->state, memory_order_acquire);
            uint64_t since = atomic_load_explicit(&c->since_ms, memory_order_relaxed);
            if (st == AG_CONN_IN_REQUEST || c->reaped || now < since)
                continue;
            if (st == AG_CONN_IN_BODY) {
                if (f->body_timeout_ms <= 0)
                    continue;
                /* mod_reqtimeout's MinRate: every body_min_rate bytes buy one more second */
                uint64_t got = atomic_load_explicit(&c->body_bytes, memory_order_relaxed);
                uint64_t limit =
                    (uint64_t)f->body_timeout_ms + got / (uint64_t)f->body_min_rate * 1000 +
                    got % (uint64_t)f->body_min_rate * 1000 / (uint64_t)f->body_min_rate;
                if (now - since <= limit)
                    continue;
                ag_log(AG_LOG_WARN, NULL,
                       "closing connection from %s: request body too slow: %llu bytes in %llu s",
                       c->peer_ip, (unsigned long long)got,
                       (unsigned long long)((now - since) / 1000));
            } else {
                long limit = st == AG_CONN_IDLE ? f->idle_timeout_ms : f->header_timeout_ms;
                if (now - since <= (uint64_t)limit)
                    continue;
                cut++;
            }
            /* MHD notices the shutdown in its own thread and closes the connection there; the
             * request's completion callback then aborts the upstream transfer and logs it */
            if (c->fd >= 0)
                shutdown(c->fd, SHUT_RDWR);
            c->reaped = true;
        }
        pthread_mutex_unlock(&f->conns_lock);
        if (cut)
            ag_log(AG_LOG_INFO, NULL, "closed %d connection(s) too slow to send a request head",
                   cut);
    }
    pthread_mutex_unlock(&f->stop_lock);
    return NULL;
}

static char *ag_front_read_file(const char *path, struct ag_err *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        ag_err_set(err, AG_ECONF, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, fp)) > 0) {
        len += n;
        if (len + 1 == cap) {
            if (cap >= (1u << 20))
                break;
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf)
                abort();
        }
    }
    fclose(fp);
    buf[len] = '\0';
    return buf;
}

bool ag_front_needs_restart(const struct ag_config *a, const struct ag_config *b)
{
    /* TLS files may have been rewritten in place: a TLS front is always re-created */
    if (a->tls_enabled || b->tls_enabled)
        return true;
    return strcmp(a->listen, b->listen) != 0 ||
           a->server.max_header_bytes != b->server.max_header_bytes ||
           a->server.max_connections != b->server.max_connections ||
           a->server.idle_timeout_s != b->server.idle_timeout_s ||
           a->server.client_body_timeout_s != b->server.client_body_timeout_s ||
           a->server.client_body_min_rate != b->server.client_body_min_rate ||
           a->server.threads != b->server.threads;
}

static enum ag_rc ag_front_addr(const struct ag_config *cfg, struct sockaddr_storage *ss, bool *v6,
                                struct ag_err *err)
{
    memset(ss, 0, sizeof(*ss));
    const char *host = cfg->listen_host && cfg->listen_host[0] ? cfg->listen_host : "0.0.0.0";
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(cfg->listen_port);
        *v6 = false;
        return AG_OK;
    }
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(cfg->listen_port);
        *v6 = true;
        return AG_OK;
    }
    return ag_err_set(err, AG_ECONF, "listen: '%s' is not an IPv4 or IPv6 address", host);
}

enum ag_rc ag_front_start(struct ag_proxy *px, const struct ag_config *cfg, int listen_fd,
                          struct ag_front **out, struct ag_err *err)
{
    struct ag_front *f = calloc(1, sizeof(*f));
    if (!f)
        abort();
    f->px = px;
    f->tls = cfg->tls_enabled;
    f->header_timeout_ms =
        (cfg->server.client_header_timeout_s > 0 ? cfg->server.client_header_timeout_s : 10) * 1000;
    f->idle_timeout_ms = (cfg->server.idle_timeout_s > 0 ? cfg->server.idle_timeout_s : 75) * 1000;
    f->body_timeout_ms = cfg->server.client_body_timeout_s * 1000;
    f->body_min_rate =
        cfg->server.client_body_min_rate > 0 ? cfg->server.client_body_min_rate : 16384;
    f->max_header = cfg->server.max_header_bytes > 0 ? (size_t)cfg->server.max_header_bytes : 32768;
    f->max_body = cfg->server.max_body_bytes;
    pthread_mutex_init(&f->conns_lock, NULL);
    pthread_mutex_init(&f->stop_lock, NULL);
    pthread_cond_init(&f->stop_cond, NULL);

    struct sockaddr_storage ss;
    bool v6 = false, handed = false;
    enum ag_rc rc = listen_fd < 0 ? ag_front_addr(cfg, &ss, &v6, err) : AG_OK;
    if (rc != AG_OK)
        goto fail;
    if (f->tls) {
        f->cert_pem = ag_front_read_file(cfg->tls_cert_file, err);
        f->key_pem = f->cert_pem ? ag_front_read_file(cfg->tls_key_file, err) : NULL;
        if (!f->key_pem) {
            rc = AG_ECONF;
            goto fail;
        }
    }
    long threads = cfg->server.threads > 0 ? cfg->server.threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (f->tls)
        flags |= MHD_USE_TLS;
    if (v6)
        flags |= MHD_USE_IPv6;
    /* the connection memory pool holds the read buffer and the parsed head: size it from the
     * header limit so a larger head gets 431 */
    size_t mem = f->max_header + 4096;
    struct MHD_OptionItem opts[24];
    int n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)mem, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                        (intptr_t)(f->idle_timeout_ms / 1000), NULL};
    if (cfg->server.max_connections > 0)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                            (intptr_t)cfg->server.max_connections, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL};
    if (listen_fd >= 0)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
    else
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    if (f->tls) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, f->cert_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, f->key_pem};
        static char priorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE";
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, priorities};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    handed = true; /* from here on libmicrohttpd owns listen_fd, also when it fails */
    f->d = MHD_start_daemon(flags, 0, NULL, NULL, ag_handler_access, f, MHD_OPTION_ARRAY, opts,
                            MHD_OPTION_NOTIFY_CONNECTION, ag_front_notify_conn, f,
                            MHD_OPTION_NOTIFY_COMPLETED, ag_handler_completed, f,
                            MHD_OPTION_URI_LOG_CALLBACK, ag_front_uri_log, f,
                            MHD_OPTION_UNESCAPE_CALLBACK, ag_front_no_unescape, NULL,
                            MHD_OPTION_EXTERNAL_LOGGER, ag_front_mhd_log, NULL, MHD_OPTION_END);
    if (!f->d) {
        rc = ag_err_set(err, AG_EIO, "cannot serve on %s%s (address in use, or bad TLS files?)",
                        cfg->listen, f->tls ? " with TLS" : "");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
    f->port = di ? di->port : cfg->listen_port;
    if (pthread_create(&f->reaper, NULL, ag_front_reaper, f) != 0) {
        MHD_stop_daemon(f->d);
        f->d = NULL;
        rc = ag_err_set(err, AG_EIO, "cannot start the connection reaper thread");
        goto fail;
    }
    *out = f;
    return AG_OK;
fail:
    if (!handed && listen_fd >= 0)
        close(listen_fd);
    ag_front_free(f);
    return rc;
}

int ag_front_quiesce(struct ag_front *f)
{
    return f && f->d ? (int)MHD_quiesce_daemon(f->d) : -1;
}

int ag_front_connections(struct ag_front *f)
{
    return f ? atomic_load(&f->n_conns) : 0;
}

void ag_front_free(struct ag_front *f)
{
    if (!f)
        return;
    if (f->d) {
        pthread_mutex_lock(&f->stop_lock);
        atomic_store(&f->stop, true);
        pthread_cond_signal(&f->stop_cond);
        pthread_mutex_unlock(&f->stop_lock);
        pthread_join(f->reaper, NULL);
        MHD_stop_daemon(f->d);
    }
    if (f->key_pem) {
        memset(f->key_pem, 0, strlen(f->key_pem));
        free(f->key_pem);
    }
    free(f->cert_pem);
    pthread_mutex_destroy(&f->conns_lock);
    pthread_mutex_destroy(&f->stop_lock);
    pthread_cond_destroy(&f->stop_cond);
    free(f);
}
