#include <criterion/criterion.h>
#include <string.h>

#include "core/buf.h"
#include "core/secret.h"

Test(buf, append_and_printf)
{
    struct ag_buf b;
    ag_buf_init(&b, 0);
    cr_assert_eq(ag_buf_puts(&b, "abc"), AG_OK);
    cr_assert_eq(ag_buf_printf(&b, "-%d", 12), AG_OK);
    cr_assert_str_eq(b.data, "abc-12");
    cr_assert_eq(b.len, 6u);
    ag_buf_clear(&b);
    cr_assert_eq(b.len, 0u);
    ag_buf_release(&b, 1);
    cr_assert_null(b.data);
}

Test(buf, ceiling_is_enforced_and_buffer_unchanged)
{
    struct ag_buf b;
    ag_buf_init(&b, 8);
    cr_assert_eq(ag_buf_puts(&b, "12345678"), AG_OK);
    cr_assert_eq(ag_buf_puts(&b, "9"), AG_ENOMEM);
    cr_assert_str_eq(b.data, "12345678");
    cr_assert_eq(ag_buf_printf(&b, "%s", "x"), AG_ENOMEM);
    cr_assert_eq(b.len, 8u);
    ag_buf_release(&b, 0);
}

Test(buf, json_string_escapes_controls_quotes_and_bad_utf8)
{
    struct ag_buf b;
    ag_buf_init(&b, 0);
    const char in[] = "a\"b\\c\n\x01\xc3\xa9\xff\xed\xa0\x80z";
    cr_assert_eq(ag_buf_append_json_string(&b, in, sizeof(in) - 1), AG_OK);
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\\ufffd\\ufffd\\ufffd\\ufffdz\"");
    ag_buf_release(&b, 0);
}

Test(buf, json_string_failure_leaves_buffer_intact)
{
    struct ag_buf b;
    ag_buf_init(&b, 10);
    cr_assert_eq(ag_buf_puts(&b, "ab"), AG_OK);
    cr_assert_eq(ag_buf_append_json_string(&b, "0123456789", 10), AG_ENOMEM);
    cr_assert_str_eq(b.data, "ab");
    ag_buf_release(&b, 0);
}

Test(buf, html_escaping)
{
    struct ag_buf b;
    ag_buf_init(&b, 0);
    cr_assert_eq(ag_buf_append_html(&b, "<script>alert('x\")&</script>"), AG_OK);
    cr_assert_str_eq(b.data, "&lt;script&gt;alert(&#39;x&quot;)&amp;&lt;/script&gt;");
    ag_buf_release(&b, 0);
}

Test(secret, equal_is_length_aware)
{
    cr_assert(ag_secret_equal("abc", 3, "abc", 3));
    cr_assert_not(ag_secret_equal("abc", 3, "abd", 3));
    cr_assert_not(ag_secret_equal("abc", 3, "abcd", 4));
    cr_assert(ag_secret_equal("", 0, "", 0));
}

Test(secret, random_bytes_differ)
{
    unsigned char a[32], b[32];
    struct ag_err err;
    cr_assert_eq(ag_random_bytes(a, sizeof(a), &err), AG_OK);
    cr_assert_eq(ag_random_bytes(b, sizeof(b), &err), AG_OK);
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
    ag_secret_wipe(a, sizeof(a));
    for (size_t i = 0; i < sizeof(a); i++)
        cr_assert_eq(a[i], 0);
}
