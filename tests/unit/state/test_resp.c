/* RESP formatting and the bounded reader over hiredis. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "state/resp.h"

Test(resp, formats_binary_safe_commands)
{
    const char *argv[3] = {"SET", "k", "a\0b"};
    size_t lens[3] = {3, 1, 3};
    char *out = NULL;
    size_t n = 0;
    struct ag_err err = {0};
    cr_assert_eq(ag_resp_format(3, argv, lens, &out, &n, &err), AG_OK);
    static const char want[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\0b\r\n";
    cr_assert_eq(n, sizeof(want) - 1);
    cr_assert_eq(memcmp(out, want, n), 0);
    free(out);
}

Test(resp, reads_replies_split_anywhere)
{
    static const char wire[] =
        "+OK\r\n:42\r\n$-1\r\n*2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n-ERR no\r\n";
    struct ag_resp_reader *r = ag_resp_reader_new(1024);
    struct ag_err err = {0};
    struct ag_resp *got[5] = {0};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(wire) - 1; i++) { /* one byte at a time */
        cr_assert_eq(ag_resp_reader_feed(r, wire + i, 1, &err), AG_OK);
        struct ag_resp *x = NULL;
        cr_assert_eq(ag_resp_reader_next(r, &x, &err), AG_OK);
        if (x)
            got[n++] = x;
    }
    cr_assert_eq(n, 5);
    cr_assert(ag_resp_is(got[0], "OK"));
    cr_assert_eq(got[1]->type, AG_RESP_INTEGER);
    cr_assert_eq(got[1]->integer, 42);
    cr_assert_eq(got[2]->type, AG_RESP_NIL);
    cr_assert_eq(got[3]->type, AG_RESP_ARRAY);
    cr_assert_eq(got[3]->n, 2);
    cr_assert(ag_resp_is(got[3]->elem[1], "hi"));
    cr_assert_eq(got[4]->type, AG_RESP_ERROR);
    cr_assert_str_eq(got[4]->str, "ERR no");
    for (size_t i = 0; i < n; i++)
        ag_resp_free(got[i]);
    ag_resp_reader_free(r);
}

Test(resp, not_redis_is_a_clear_error_and_stays_broken)
{
    struct ag_resp_reader *r = ag_resp_reader_new(1024);
    struct ag_err err = {0};
    static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    enum ag_rc rc = ag_resp_reader_feed(r, http, sizeof(http) - 1, &err);
    struct ag_resp *x = NULL;
    if (rc == AG_OK)
        rc = ag_resp_reader_next(r, &x, &err);
    cr_assert_eq(rc, AG_EPARSE);
    cr_assert(strstr(err.msg, "not a Redis answer"), "%s", err.msg);
    cr_assert_null(x);
    cr_assert_eq(ag_resp_reader_feed(r, "+OK\r\n", 5, &err), AG_EPARSE);
    ag_resp_reader_free(r);
}

Test(resp, oversized_answer_refused)
{
    struct ag_resp_reader *r = ag_resp_reader_new(64);
    struct ag_err err = {0};
    char big[200];
    memset(big, 'a', sizeof(big));
    memcpy(big, "$1000000\r\n", 10);
    cr_assert_eq(ag_resp_reader_feed(r, big, sizeof(big), &err), AG_EPARSE);
    ag_resp_reader_free(r);
}
