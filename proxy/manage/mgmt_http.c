/* libmicrohttpd serving the management listener; see mgmt_http.h. */
#include "proxy/manage/mgmt_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/log.h"

struct ag_mgmt_http {
    struct MHD_Daemon *d;
    uint16_t port;
    ag_mgmt_http_fn handler;
    void *ctx;
};

struct ag_mgmt_hdrs {
    struct ag_arena *a;
    struct ag_http_header *v;
    size_t n, cap;
};

static enum MHD_Result ag_mgmt_hdr_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    (void)kind;
    struct ag_mgmt_hdrs *h = cls;
    if (h->n < h->cap && key) {
        h->v[h->n].name = ag_arena_strdup(h->a, key);
        h->v[h->n].value = ag_arena_strdup(h->a, value ? value : "");
        h->n++;
    }
    return MHD_YES;
}

static const char *ag_mgmt_peer(struct ag_arena *a, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char buf[INET6_ADDRSTRLEN] = "";
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                      sizeof(buf));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                      sizeof(buf));
    }
    return ag_arena_strdup(a, buf);
}

static enum MHD_Result ag_mgmt_queue(struct MHD_Connection *c, const struct ag_http_response *r)
{
    /* MUST_COPY: MHD copies the body, so the arena may go at once (the API is not const) */
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(r->body_len, (void *)r->body, MHD_RESPMEM_MUST_COPY);
    if (!mr)
        return MHD_NO;
    if (r->content_type)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < r->n_headers; i++)
        MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)(r->status ? r->status : 500), mr);
    MHD_destroy_response(mr);
    return ok;
}

/* Answers on the first call, before any body is read: the management endpoints read none, and
 * MHD closes the connection when a body it was sent stays unread. */
static enum MHD_Result ag_mgmt_access(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    struct ag_mgmt_http *m = cls;
    struct ag_arena *a = ag_arena_new(0);
    struct ag_http_response resp = {0};
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        static const char body[] = "{\"error\":\"method_not_allowed\"}\n";
        ag_http_response_set(a, &resp, 405, "application/json", body, sizeof(body) - 1);
        ag_http_response_add_header(a, &resp, "Allow", "GET, HEAD");
    } else {
        struct ag_mgmt_hdrs h = {.a = a};
        int n = MHD_get_connection_values(c, MHD_HEADER_KIND, NULL, NULL);
        h.cap = n > 0 ? (size_t)n : 0;
        h.v = ag_arena_calloc(a, h.cap + 1, sizeof(*h.v));
        MHD_get_connection_values(c, MHD_HEADER_KIND, ag_mgmt_hdr_collect, &h);
        struct ag_http_request req = {
            .method = ag_arena_strdup(a, method),
            .path = ag_arena_strdup(a, url ? url : "/"),
            .client_ip = ag_mgmt_peer(a, c),
            .host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
            .n_headers = h.n,
            .headers = h.v,
        };
        m->handler(m->ctx, a, &req, &resp);
    }
    enum MHD_Result ok = ag_mgmt_queue(c, &resp);
    ag_arena_free(a);
    return ok;
}

/* MHD's own messages (failed accepts, the connection limit, broken requests): not errors of
 * airgate, so at info level; they never contain request data beyond what MHD chose to print. */
static void ag_mgmt_log(void *cls, const char *fmt, va_list ap) AG_PRINTF(2, 0);

static void ag_mgmt_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (AG_LOG_INFO < ag_log_min_level)
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    ag_log(AG_LOG_INFO, NULL, "management: libmicrohttpd: %s", msg);
}

static int ag_mgmt_bind(const struct ag_mgmt_http_opts *o, uint16_t *port, struct ag_err *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    const char *host = o->host && o->host[0] ? o->host : "127.0.0.1";
    struct sockaddr_in *in4 = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(o->port);
        sl = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(o->port);
        sl = sizeof(*in6);
    } else {
        ag_err_set(err, AG_EINVAL, "cannot serve management on %s:%u: not an IP address", host,
                   (unsigned)o->port);
        return -1;
    }
    char addr[INET6_ADDRSTRLEN + 16];
    snprintf(addr, sizeof(addr), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
             (unsigned)o->port);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ag_err_set(err, AG_EIO, "cannot serve management on %s: socket: %s", addr, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
        ag_err_set(err, AG_EIO, "cannot serve management on %s: %s (management.listen)", addr,
                   strerror(errno));
        close(fd);
        return -1;
    }
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *port = ntohs(ss.ss_family == AF_INET6 ? in6->sin6_port : in4->sin_port);
    return fd;
}

enum ag_rc ag_mgmt_http_start(const struct ag_mgmt_http_opts *o, struct ag_mgmt_http **out,
                              struct ag_err *err)
{
    uint16_t port = o->port;
    int fd = ag_mgmt_bind(o, &port, err);
    if (fd < 0)
        return err ? err->rc : AG_EIO;
    struct ag_mgmt_http *m = calloc(1, sizeof(*m));
    if (!m)
        abort();
    m->port = port;
    m->handler = o->handler;
    m->ctx = o->ctx;
    /* The socket is ours (bound above, so the error names the address); MHD listens on it from
     * its internal epoll thread and closes it on stop. No port: MHD would bind its own. */
    m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0,
                            NULL, NULL, ag_mgmt_access, m, MHD_OPTION_EXTERNAL_LOGGER, ag_mgmt_log,
                            NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)AG_MGMT_HTTP_MAX_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)AG_MGMT_HTTP_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)AG_MGMT_HTTP_MEMORY_LIMIT,
                            MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_END);
    if (!m->d) {
        close(fd);
        free(m);
        return ag_err_set(err, AG_EIO, "cannot start the management listener (libmicrohttpd)");
    }
    *out = m;
    return AG_OK;
}

uint16_t ag_mgmt_http_port(const struct ag_mgmt_http *m)
{
    return m ? m->port : 0;
}

void ag_mgmt_http_stop(struct ag_mgmt_http *m)
{
    if (!m)
        return;
    MHD_stop_daemon(m->d);
    free(m);
}
