/* core/http_client: the one HTTP client, against a one-shot loopback server on a thread. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/http_client.h"

struct one_shot {
    int lfd;
    unsigned port;
    const char *answer; /* the whole response, written after the request head (and body) */
    int answers;        /* connections to serve */
    char seen[4096];    /* the last request read */
    pthread_t t;
};

static void *one_shot_main(void *arg)
{
    struct one_shot *s = arg;
    for (int i = 0; i < s->answers; i++) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        size_t n = 0;
        memset(s->seen, 0, sizeof(s->seen));
        while (n < sizeof(s->seen) - 1) {
            ssize_t r = read(fd, s->seen + n, sizeof(s->seen) - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
            char *end = strstr(s->seen, "\r\n\r\n");
            const char *cl = strstr(s->seen, "Content-Length: ");
            if (end &&
                (!cl || n >= (size_t)(end + 4 - s->seen) + (size_t)strtoul(cl + 16, NULL, 10)))
                break;
        }
        ssize_t w = write(fd, s->answer, strlen(s->answer));
        (void)w;
        close(fd);
    }
    return NULL;
}

static void one_shot_start(struct one_shot *s, const char *answer, int answers)
{
    s->answer = answer;
    s->answers = answers;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(s->lfd, 4), 0);
    socklen_t al = sizeof(a);
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->t, NULL, one_shot_main, s);
}

static void one_shot_stop(struct one_shot *s)
{
    pthread_join(s->t, NULL);
    close(s->lfd);
}

Test(http_client, refuses_other_schemes_and_accepts_upper_case)
{
    struct ag_err err = {0};
    long status = 7;
    const char *bad[] = {"ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://h/", "", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ag_http_call call = {.url = bad[i]};
        cr_assert_eq(ag_http_client_call(NULL, &call, NULL, &status, NULL, &err), AG_EINVAL, "%s",
                     bad[i] ? bad[i] : "(null)");
        cr_assert_eq(status, 0);
    }
    /* scheme case does not matter (RFC 3986 3.1): refused here only because nothing listens */
    struct ag_http_call up = {.url = "HTTP://127.0.0.1:1/health"};
    struct ag_http_client_opts o = {.connect_timeout_ms = 1000, .timeout_ms = 1000};
    cr_assert_eq(ag_http_client_call(NULL, &up, &o, &status, NULL, &err), AG_EUPSTREAM);
    cr_assert_neq(err.msg[0], '\0');
}

Test(http_client, post_sends_headers_and_body_and_returns_any_status)
{
    struct one_shot s = {0};
    one_shot_start(&s, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                   1);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/token", s.port);
    const char *headers[] = {"X-Probe: 1", "Authorization: Basic c2VjcmV0", NULL};
    struct ag_http_call call = {.url = url, .post_body = "a=1&b=2", .headers = headers};
    struct ag_buf out;
    ag_buf_init(&out, 1 << 20);
    long status = 0;
    struct ag_err err = {0};
    cr_assert_eq(ag_http_client_call(NULL, &call, NULL, &status, &out, &err), AG_OK, "%s", err.msg);
    one_shot_stop(&s);
    cr_assert_eq(status, 201);
    cr_assert_eq(out.len, 2);
    cr_assert_eq(memcmp(out.data, "ok", 2), 0);
    cr_assert(strncmp(s.seen, "POST /token HTTP/1.1\r\n", 22) == 0, "%s", s.seen);
    cr_assert_not_null(strstr(s.seen, "\r\nX-Probe: 1\r\n"));
    cr_assert_not_null(strstr(s.seen, "\r\nAuthorization: Basic c2VjcmV0\r\n"));
    cr_assert_not_null(strstr(s.seen, "\r\n\r\na=1&b=2"));
    ag_buf_release(&out, 0);
}

Test(http_client, body_over_the_cap_is_refused)
{
    static char answer[4096];
    int n = snprintf(answer, sizeof(answer),
                     "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n");
    memset(answer + n, 'x', 2000);
    answer[n + 2000] = '\0';
    struct one_shot s = {0};
    one_shot_start(&s, answer, 1);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/jwks", s.port);
    struct ag_http_call call = {.url = url};
    struct ag_http_client_opts o = {.max_bytes = 100};
    struct ag_buf out;
    ag_buf_init(&out, 1 << 20);
    long status = 0;
    struct ag_err err = {0};
    cr_assert_eq(ag_http_client_call(NULL, &call, &o, &status, &out, &err), AG_ENOMEM);
    cr_assert_str_eq(err.msg, "response larger than 100 bytes");
    one_shot_stop(&s);
    ag_buf_release(&out, 0);
}

Test(http_client, a_reused_client_makes_two_gets_and_discards_bodies)
{
    struct one_shot s = {0};
    one_shot_start(&s, "HTTP/1.1 503 No\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndown", 2);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/health", s.port);
    struct ag_http_client *c = ag_http_client_new();
    cr_assert_not_null(c);
    struct ag_http_call call = {.url = url};
    struct ag_http_client_opts o = {.user_agent = "airgate-health/test"};
    for (int i = 0; i < 2; i++) {
        long status = 0;
        struct ag_err err = {0};
        cr_assert_eq(ag_http_client_call(c, &call, &o, &status, NULL, &err), AG_OK, "%s", err.msg);
        cr_assert_eq(status, 503);
    }
    one_shot_stop(&s);
    cr_assert(strncmp(s.seen, "GET /health HTTP/1.1\r\n", 22) == 0, "%s", s.seen);
    cr_assert_not_null(strstr(s.seen, "\r\nUser-Agent: airgate-health/test\r\n"));
    ag_http_client_free(c);
    ag_http_client_free(NULL);
}
