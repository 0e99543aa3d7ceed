/* Test driver for the Airflow-side checks: prints an X-Airgate-Assertion made by airgate's signer,
 * or its JWK Set, so that deploy/airflow/airgate_assertion.py can be tested against the real
 * thing. Not installed.
 *   ag_assertion_tool jwks|sign --secret-file F [--key-file PEM] [--iss URL] [--aud A] [--ttl S]
 *                     [--now T] [--sub S] [--user U] [--email E] [--given G] [--family F]
 *                     [--role R]... [--group G]... */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/assertion/assertion.h"
#include "conf/config.h"
#include "core/arena.h"

#define AG_TOOL_MAX_LIST 32

static int ag_tool_read(const char *path, struct ag_secret *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "ag_assertion_tool: %s: %s\n", path, strerror(errno));
        return -1;
    }
    static unsigned char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = 0;
    out->data = malloc(n + 1);
    if (!out->data)
        abort();
    memcpy(out->data, buf, n + 1);
    out->len = n;
    return 0;
}

static int ag_tool_long(const char *s, long long *out)
{
    char *end = NULL;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno || !end || *end || end == s ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "jwks") != 0 && strcmp(argv[1], "sign") != 0)) {
        fprintf(stderr, "usage: ag_assertion_tool jwks|sign --secret-file F [options]\n");
        return 2;
    }
    struct ag_config c;
    memset(&c, 0, sizeof c);
    c.public_url = "https://airflow.example.com";
    c.assertion.audience = "airflow";
    c.assertion.ttl_s = 120;
    struct ag_assertion_claims id = {0};
    const char *roles[AG_TOOL_MAX_LIST], *groups[AG_TOOL_MAX_LIST];
    size_t nr = 0, ng = 0;
    long long now = (long long)time(NULL), v = 0;
    struct ag_assertion_signer *s = NULL;
    struct ag_err err = {0};
    int rc = 2;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *a = i + 1 < argc ? argv[i + 1] : NULL;
        if (!a) {
            fprintf(stderr, "ag_assertion_tool: %s needs a value\n", o);
            goto out;
        }
        i++;
        if (strcmp(o, "--secret-file") == 0 && !c.session.cookie_secret.data &&
            ag_tool_read(a, &c.session.cookie_secret) == 0)
            continue;
        if (strcmp(o, "--key-file") == 0 && !c.assertion.key.data &&
            ag_tool_read(a, &c.assertion.key) == 0)
            continue;
        if (strcmp(o, "--iss") == 0)
            c.public_url = (char *)a;
        else if (strcmp(o, "--aud") == 0)
            c.assertion.audience = (char *)a;
        else if (strcmp(o, "--ttl") == 0 && ag_tool_long(a, &v) == 0)
            c.assertion.ttl_s = (long)v;
        else if (strcmp(o, "--now") == 0 && ag_tool_long(a, &v) == 0)
            now = v;
        else if (strcmp(o, "--sub") == 0)
            id.sub = a;
        else if (strcmp(o, "--user") == 0)
            id.preferred_username = a;
        else if (strcmp(o, "--email") == 0)
            id.email = a;
        else if (strcmp(o, "--given") == 0)
            id.given_name = a;
        else if (strcmp(o, "--family") == 0)
            id.family_name = a;
        else if (strcmp(o, "--role") == 0 && nr < AG_TOOL_MAX_LIST)
            roles[nr++] = a;
        else if (strcmp(o, "--group") == 0 && ng < AG_TOOL_MAX_LIST)
            groups[ng++] = a;
        else {
            fprintf(stderr, "ag_assertion_tool: bad option or value: %s %s\n", o, a);
            goto out;
        }
    }
    id.roles = roles;
    id.n_roles = nr;
    id.groups = groups;
    id.n_groups = ng;

    rc = 1;
    if (ag_assertion_signer_new(&c, &s, &err) != AG_OK) {
        fprintf(stderr, "ag_assertion_tool: %s\n", err.msg);
        goto out;
    }
    if (strcmp(argv[1], "jwks") == 0) {
        puts(ag_assertion_jwks_json(s));
        rc = 0;
        goto out;
    }
    struct ag_arena *a = ag_arena_new(0);
    const char *jws = NULL;
    if (ag_assertion_sign(s, a, &id, now, &jws, &err) != AG_OK)
        fprintf(stderr, "ag_assertion_tool: %s\n", err.msg);
    else {
        puts(jws);
        rc = 0;
    }
    ag_arena_free(a);
out:
    ag_assertion_signer_free(s);
    free(c.session.cookie_secret.data);
    free(c.assertion.key.data);
    return rc;
}
