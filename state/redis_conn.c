/* A Redis connection on our own non-blocking socket; see redis_conn.h. */
#include "state/redis_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/secret.h"

#define AG_REDIS_MAX_PENDING 4096
#define AG_REDIS_MAX_REPLY (8u << 20) /* a larger answer means a server we do not understand */
#define AG_REDIS_BACKOFF_MIN_MS 100
#define AG_REDIS_BACKOFF_MAX_MS 5000

enum ag_redis_phase {
    AG_RC_IDLE,       /* waiting for the back-off to end */
    AG_RC_CONNECTING, /* TCP connect in progress */
    AG_RC_HANDSHAKE,  /* AUTH / SELECT / PING sent, not all answered */
    AG_RC_UP,
};

struct ag_redis_pending {
    ag_redis_reply_fn cb; /* NULL: a handshake step */
    void *arg;
    uint64_t deadline_ms;
};

struct ag_redis_conn {
    struct ag_redis_conn_opts o;
    char *host, *user, *password, *name;
    int epfd, fd;
    struct ag_fd_handler h;
    enum ag_redis_phase phase;
    bool subscriber, want_write;
    uint64_t phase_since_ms, retry_at_ms;
    long backoff_ms;
    char *out; /* bytes not yet written */
    size_t out_len, out_cap, out_off;
    struct ag_resp_reader *rd;
    struct ag_redis_pending pend[AG_REDIS_MAX_PENDING]; /* ring */
    size_t pend_head, pend_n;
    int handshake_left; /* handshake replies still expected */
    char last_why[512]; /* last failure logged, to log a repeat only once */
};

static uint64_t ag_redis_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *ag_redis_dup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = malloc(n + 1);
    if (!d)
        abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void ag_redis_on_event(void *arg, uint32_t events);

struct ag_redis_conn *ag_redis_conn_new(const struct ag_redis_conn_opts *o, int epfd)
{
    struct ag_redis_conn *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->o = *o;
    c->name = ag_redis_dup(o->name ? o->name : "redis", strlen(o->name ? o->name : "redis"));
    c->host = ag_redis_dup(o->host, strlen(o->host));
    c->user = o->user ? ag_redis_dup(o->user, strlen(o->user)) : NULL;
    c->password = o->password ? ag_redis_dup(o->password, o->password_len) : NULL;
    c->o.name = c->name;
    c->o.host = c->host;
    c->o.user = c->user;
    c->o.password = c->password;
    c->epfd = epfd;
    c->fd = -1;
    c->h.on_event = ag_redis_on_event;
    c->h.arg = c;
    c->phase = AG_RC_IDLE;
    c->backoff_ms = AG_REDIS_BACKOFF_MIN_MS;
    return c;
}

static void ag_redis_fail_pending(struct ag_redis_conn *c)
{
    /* callbacks may queue new commands: they are refused (not up), so this ends */
    while (c->pend_n > 0) {
        struct ag_redis_pending p = c->pend[c->pend_head];
        c->pend_head = (c->pend_head + 1) % AG_REDIS_MAX_PENDING;
        c->pend_n--;
        if (p.cb)
            p.cb(p.arg, NULL);
    }
}

static void ag_redis_close(struct ag_redis_conn *c, const char *why, bool retry)
{
    bool was_up = c->phase == AG_RC_UP;
    if (c->fd >= 0) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    ag_resp_reader_free(c->rd);
    c->rd = NULL;
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_cap = c->out_off = 0;
    c->phase = AG_RC_IDLE;
    c->subscriber = false;
    uint64_t now = ag_redis_now_ms();
    long jitter = c->backoff_ms / 4 > 0
                      ? (long)((unsigned long)rand() % (unsigned long)(c->backoff_ms / 4))
                      : 0;
    c->retry_at_ms = retry ? now + (uint64_t)(c->backoff_ms + jitter) : UINT64_MAX;
    c->backoff_ms =
        c->backoff_ms * 2 > AG_REDIS_BACKOFF_MAX_MS ? AG_REDIS_BACKOFF_MAX_MS : c->backoff_ms * 2;
    ag_redis_fail_pending(c);
    if (c->o.on_state && (was_up || strcmp(c->last_why, why) != 0))
        c->o.on_state(c->o.arg, false, why);
    snprintf(c->last_why, sizeof(c->last_why), "%s", why);
}

void ag_redis_conn_free(struct ag_redis_conn *c)
{
    if (!c)
        return;
    c->o.on_state = NULL;
    ag_redis_close(c, "closing", false);
    if (c->password) {
        ag_secret_wipe(c->password, strlen(c->password));
        free(c->password);
    }
    free(c->user);
    free(c->host);
    free(c->name);
    free(c);
}

void ag_redis_conn_reset(struct ag_redis_conn *c, const char *why)
{
    if (c->phase != AG_RC_IDLE)
        ag_redis_close(c, why, true);
}

bool ag_redis_conn_up(const struct ag_redis_conn *c)
{
    return c->phase == AG_RC_UP;
}

static void ag_redis_watch(struct ag_redis_conn *c, bool write)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (write ? EPOLLOUT : 0u),
                             .data.ptr = &c->h};
    if (c->want_write != write || write) {
        epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_write = write;
    }
}

static void ag_redis_append(struct ag_redis_conn *c, const char *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        char *np = realloc(c->out, cap);
        if (!np)
            abort();
        c->out = np;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static bool ag_redis_flush(struct ag_redis_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ag_redis_watch(c, true);
            return true;
        }
        if (k <= 0) {
            char why[160];
            snprintf(why, sizeof(why), "%s connection to %s:%u: write failed: %s", c->name, c->host,
                     c->o.port, strerror(errno));
            ag_redis_close(c, why, true);
            return false;
        }
        c->out_off += (size_t)k;
    }
    c->out_off = c->out_len = 0;
    if (c->want_write)
        ag_redis_watch(c, false);
    return true;
}

static bool ag_redis_push_pending(struct ag_redis_conn *c, ag_redis_reply_fn cb, void *arg)
{
    if (c->pend_n >= AG_REDIS_MAX_PENDING)
        return false;
    size_t i = (c->pend_head + c->pend_n) % AG_REDIS_MAX_PENDING;
    c->pend[i] =
        (struct ag_redis_pending){cb, arg, ag_redis_now_ms() + (uint64_t)c->o.command_timeout_ms};
    c->pend_n++;
    return true;
}

static void ag_redis_queue(struct ag_redis_conn *c, int argc, const char *const *argv,
                           const size_t *lens)
{
    char *buf = NULL;
    size_t n = 0;
    struct ag_err err = {0};
    if (ag_resp_format(argc, argv, lens, &buf, &n, &err) != AG_OK)
        abort(); /* only fails on allocation */
    ag_redis_append(c, buf, n);
    ag_secret_wipe(buf, n); /* AUTH carries the password */
    free(buf);
}

enum ag_rc ag_redis_conn_send(struct ag_redis_conn *c, int argc, const char *const *argv,
                              const size_t *lens, ag_redis_reply_fn cb, void *arg,
                              struct ag_err *err)
{
    if (c->phase != AG_RC_UP)
        return ag_err_set(err, AG_EUPSTREAM, "Redis is not connected");
    if (!ag_redis_push_pending(c, cb, arg))
        return ag_err_set(err, AG_ENOMEM, "too many Redis commands in flight");
    ag_redis_queue(c, argc, argv, lens);
    ag_redis_flush(c); /* a failed write closes: cb then already ran with NULL */
    return AG_OK;
}

void ag_redis_conn_set_subscriber(struct ag_redis_conn *c)
{
    c->subscriber = true;
}

static void ag_redis_start(struct ag_redis_conn *c, uint64_t now)
{
    char why[512], port[8];
    snprintf(port, sizeof(port), "%u", c->o.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    /* the state thread may wait on DNS: it serves no request itself */
    int g = getaddrinfo(c->host, port, &hints, &ai);
    if (g != 0 || !ai) {
        snprintf(why, sizeof(why), "%s connection: cannot resolve %s: %s", c->name, c->host,
                 gai_strerror(g));
        ag_redis_close(c, why, true);
        return;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        snprintf(why, sizeof(why), "%s connection: socket: %s", c->name, strerror(errno));
        ag_redis_close(c, why, true);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    int idle = 15;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (r < 0 && errno != EINPROGRESS) {
        snprintf(why, sizeof(why), "%s connection to %s:%u: %s", c->name, c->host, c->o.port,
                 strerror(errno));
        close(fd);
        ag_redis_close(c, why, true);
        return;
    }
    c->fd = fd;
    c->phase = AG_RC_CONNECTING;
    c->phase_since_ms = now;
    c->want_write = true;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = &c->h};
    epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* TCP is up: the handshake goes first; commands are refused until it is answered. */
static void ag_redis_handshake(struct ag_redis_conn *c, uint64_t now)
{
    c->rd = ag_resp_reader_new(AG_REDIS_MAX_REPLY);
    c->phase = AG_RC_HANDSHAKE;
    c->phase_since_ms = now;
    c->handshake_left = 0;
    if (c->password) {
        const char *argv[3] = {"AUTH", c->user ? c->user : c->password, c->password};
        size_t lens[3] = {4, strlen(argv[1]), strlen(c->password)};
        ag_redis_queue(c, c->user ? 3 : 2, argv, lens);
        ag_redis_push_pending(c, NULL, NULL);
        c->handshake_left++;
    }
    if (c->o.db > 0) {
        char db[24];
        snprintf(db, sizeof(db), "%ld", c->o.db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        ag_redis_queue(c, 2, argv, lens);
        ag_redis_push_pending(c, NULL, NULL);
        c->handshake_left++;
    }
    const char *argv[1] = {"PING"};
    size_t lens[1] = {4};
    ag_redis_queue(c, 1, argv, lens);
    ag_redis_push_pending(c, NULL, NULL);
    c->handshake_left++;
    ag_redis_flush(c);
}

/* One answer to a handshake step; false when the connection was closed. */
static bool ag_redis_handshake_reply(struct ag_redis_conn *c, struct ag_resp *r)
{
    char why[512];
    if (r->type == AG_RESP_ERROR) {
        bool auth = strncmp(r->str, "WRONGPASS", 9) == 0 || strncmp(r->str, "NOAUTH", 6) == 0 ||
                    strstr(r->str, "password") != NULL || strstr(r->str, "AUTH") != NULL;
        snprintf(why, sizeof(why), "%s connection to %s:%u: %s: %.120s", c->name, c->host,
                 c->o.port,
                 auth ? (c->password ? "Redis refused the password (state.password_file)"
                                     : "Redis wants a password (set state.password_file)")
                      : "Redis refused the connection set-up",
                 r->str);
        ag_resp_free(r);
        ag_redis_close(c, why, true);
        return false;
    }
    bool ok = r->type == AG_RESP_STATUS;
    ag_resp_free(r);
    if (!ok) {
        snprintf(why, sizeof(why), "%s connection to %s:%u: unexpected answer during set-up",
                 c->name, c->host, c->o.port);
        ag_redis_close(c, why, true);
        return false;
    }
    if (--c->handshake_left == 0) {
        c->phase = AG_RC_UP;
        c->backoff_ms = AG_REDIS_BACKOFF_MIN_MS;
        c->last_why[0] = '\0';
        if (c->o.on_state)
            c->o.on_state(c->o.arg, true, "connected");
    }
    return true;
}

static bool ag_redis_is_message(const struct ag_resp *r)
{
    return r->type == AG_RESP_ARRAY && r->n == 3 && ag_resp_is(r->elem[0], "message");
}

static void ag_redis_read(struct ag_redis_conn *c)
{
    char buf[16384], why[512];
    for (;;) {
        ssize_t k = recv(c->fd, buf, sizeof(buf), 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (k <= 0) {
            snprintf(why, sizeof(why), "%s connection to %s:%u: %s", c->name, c->host, c->o.port,
                     k == 0 ? "closed by the server" : strerror(errno));
            ag_redis_close(c, why, true);
            return;
        }
        struct ag_err err = {0};
        if (ag_resp_reader_feed(c->rd, buf, (size_t)k, &err) != AG_OK) {
            snprintf(why, sizeof(why), "%s connection to %s:%u: %s", c->name, c->host, c->o.port,
                     err.msg);
            ag_redis_close(c, why, true);
            return;
        }
        for (;;) {
            struct ag_resp *r = NULL;
            if (ag_resp_reader_next(c->rd, &r, &err) != AG_OK) {
                snprintf(why, sizeof(why), "%s connection to %s:%u: %s", c->name, c->host,
                         c->o.port, err.msg);
                ag_redis_close(c, why, true);
                return;
            }
            if (!r)
                break;
            if (c->subscriber && ag_redis_is_message(r)) {
                if (c->o.on_push)
                    c->o.on_push(c->o.arg, r);
                else
                    ag_resp_free(r);
                continue;
            }
            if (c->pend_n == 0) {
                ag_resp_free(r);
                snprintf(why, sizeof(why), "%s connection to %s:%u: an answer nobody asked for",
                         c->name, c->host, c->o.port);
                ag_redis_close(c, why, true);
                return;
            }
            struct ag_redis_pending p = c->pend[c->pend_head];
            c->pend_head = (c->pend_head + 1) % AG_REDIS_MAX_PENDING;
            c->pend_n--;
            if (!p.cb) {
                if (!ag_redis_handshake_reply(c, r))
                    return;
            } else {
                p.cb(p.arg, r);
            }
            if (c->fd < 0)
                return; /* a callback reset the connection */
        }
    }
}

static void ag_redis_on_event(void *arg, uint32_t events)
{
    struct ag_redis_conn *c = arg;
    uint64_t now = ag_redis_now_ms();
    if (c->phase == AG_RC_CONNECTING) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            char why[512];
            snprintf(why, sizeof(why), "%s connection to %s:%u: %s", c->name, c->host, c->o.port,
                     strerror(soerr ? soerr : ECONNREFUSED));
            ag_redis_close(c, why, true);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        ag_redis_handshake(c, now);
        if (c->fd < 0)
            return;
    }
    if (events & EPOLLOUT) {
        if (!ag_redis_flush(c))
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        ag_redis_read(c);
}

void ag_redis_conn_tick(struct ag_redis_conn *c, uint64_t now)
{
    char why[512];
    switch (c->phase) {
    case AG_RC_IDLE:
        if (now >= c->retry_at_ms)
            ag_redis_start(c, now);
        return;
    case AG_RC_CONNECTING:
    case AG_RC_HANDSHAKE:
        if (now - c->phase_since_ms > (uint64_t)c->o.connect_timeout_ms) {
            snprintf(why, sizeof(why), "%s connection to %s:%u: no answer within %ld ms", c->name,
                     c->host, c->o.port, c->o.connect_timeout_ms);
            ag_redis_close(c, why, true);
        }
        return;
    case AG_RC_UP:
        if (c->pend_n > 0 && now > c->pend[c->pend_head].deadline_ms) {
            snprintf(why, sizeof(why),
                     "%s connection to %s:%u: a command got no answer within %ld ms", c->name,
                     c->host, c->o.port, c->o.command_timeout_ms);
            ag_redis_close(c, why, true);
        }
        return;
    }
}
