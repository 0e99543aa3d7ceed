/* Shared by the session / login-state tests: a config with cookie secrets and a tiny cookie jar
 * that applies Set-Cookie headers the way a browser does (Max-Age=0 deletes). */
#ifndef AG_TEST_SESSION_FIXTURE_H
#define AG_TEST_SESSION_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "auth/login/session_seal.h"
#include "conf/config.h"
#include "core/arena.h"
#include "core/http_msg.h"

#define AG_JAR_MAX 64

struct ag_test_jar {
    size_t n;
    char name[AG_JAR_MAX][128];
    char value[AG_JAR_MAX][8192];
};

static inline struct ag_config ag_test_config(const char *secret, const char *prev)
{
    static struct ag_secret prev_items[1];
    struct ag_config c;
    memset(&c, 0, sizeof(c));
    c.public_url = (char *)"https://airflow.example.com";
    c.public_https = true;
    c.session.cookie_name = (char *)"_airgate";
    c.session.cookie_secret.data = (unsigned char *)secret;
    c.session.cookie_secret.len = strlen(secret);
    c.session.lifetime_s = 86400;
    if (prev) {
        prev_items[0].data = (unsigned char *)prev;
        prev_items[0].len = strlen(prev);
        c.session.previous_cookie_secrets.n = 1;
        c.session.previous_cookie_secrets.items = prev_items;
    }
    return c;
}

#define AG_TEST_SECRET_A "0123456789abcdef0123456789abcdef-A"
#define AG_TEST_SECRET_B "fedcba9876543210fedcba9876543210-B"

static inline void ag_test_jar_apply(struct ag_test_jar *j, const struct ag_http_response *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        if (strcmp(r->headers[i].name, "Set-Cookie") != 0)
            continue;
        const char *v = r->headers[i].value;
        const char *eq = strchr(v, '=');
        const char *semi = strchr(v, ';');
        cr_assert(eq && semi && eq < semi, "malformed Set-Cookie %s", v);
        char name[128], val[8192];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - v), v);
        snprintf(val, sizeof(val), "%.*s", (int)(semi - eq - 1), eq + 1);
        bool del = strstr(v, "Max-Age=0;") != NULL || strstr(v, "Max-Age=0\0") != NULL;
        size_t k = 0;
        while (k < j->n && strcmp(j->name[k], name) != 0)
            k++;
        if (del) {
            if (k < j->n) {
                j->n--;
                memmove(j->name[k], j->name[j->n], sizeof(j->name[0]));
                memmove(j->value[k], j->value[j->n], sizeof(j->value[0]));
            }
            continue;
        }
        cr_assert(k < AG_JAR_MAX);
        if (k == j->n)
            j->n++;
        memcpy(j->name[k], name, sizeof(name));
        memcpy(j->value[k], val, sizeof(val));
    }
}

/* A GET request carrying the jar as one Cookie header (allocated in a). */
static inline struct ag_http_request ag_test_jar_request(struct ag_arena *a,
                                                         const struct ag_test_jar *j)
{
    struct ag_http_header *h = ag_arena_calloc(a, 1, sizeof(*h));
    size_t cap = 1;
    for (size_t i = 0; i < j->n; i++)
        cap += strlen(j->name[i]) + strlen(j->value[i]) + 3;
    char *c = ag_arena_alloc(a, cap);
    c[0] = '\0';
    size_t off = 0;
    for (size_t i = 0; i < j->n; i++)
        off +=
            (size_t)snprintf(c + off, cap - off, "%s%s=%s", i ? "; " : "", j->name[i], j->value[i]);
    h[0].name = "Cookie";
    h[0].value = c;
    struct ag_http_request r = {.method = "GET", .path = "/", .headers = h, .n_headers = 1};
    return r;
}

static inline const char *ag_test_jar_get(const struct ag_test_jar *j, const char *name)
{
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->name[i], name) == 0)
            return j->value[i];
    return NULL;
}

#endif
