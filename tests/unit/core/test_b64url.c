#include <criterion/criterion.h>
#include <string.h>

#include "core/b64url.h"

struct ag_b64_case {
    const char *plain;
    const char *encoded;
};

/* RFC 4648 test vectors, url alphabet, no padding. */
static const struct ag_b64_case ag_b64_cases[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

Test(b64url, rfc4648_vectors_roundtrip)
{
    for (size_t i = 0; i < sizeof(ag_b64_cases) / sizeof(ag_b64_cases[0]); i++) {
        char out[32];
        size_t n = ag_b64url_encode((const uint8_t *)ag_b64_cases[i].plain,
                                    strlen(ag_b64_cases[i].plain), out, sizeof(out));
        cr_assert_str_eq(out, ag_b64_cases[i].encoded);
        cr_assert_eq(n, strlen(ag_b64_cases[i].encoded));
        uint8_t dec[32];
        size_t dlen = 0;
        struct ag_err err;
        cr_assert_eq(ag_b64url_decode(out, n, dec, sizeof(dec), &dlen, &err), AG_OK);
        cr_assert_eq(dlen, strlen(ag_b64_cases[i].plain));
        cr_assert_eq(memcmp(dec, ag_b64_cases[i].plain, dlen), 0);
    }
}

Test(b64url, url_alphabet_used)
{
    const uint8_t in[] = {0xfb, 0xff, 0xbf};
    char out[8];
    ag_b64url_encode(in, sizeof(in), out, sizeof(out));
    cr_assert_str_eq(out, "-_-_");
}

static enum ag_rc ag_b64_try(const char *s, struct ag_err *err)
{
    uint8_t dec[64];
    size_t dlen;
    return ag_b64url_decode(s, strlen(s), dec, sizeof(dec), &dlen, err);
}

Test(b64url, rejects_padding_foreign_chars_bad_length_noncanonical)
{
    struct ag_err err;
    cr_assert_eq(ag_b64_try("Zg==", &err), AG_EPARSE);
    cr_assert(strstr(err.msg, "padding"));
    cr_assert_eq(ag_b64_try("Zm+v", &err), AG_EPARSE);
    cr_assert_eq(ag_b64_try("Zm/v", &err), AG_EPARSE);
    cr_assert_eq(ag_b64_try("Zm9 v", &err), AG_EPARSE);
    cr_assert_eq(ag_b64_try("Zm9\nv", &err), AG_EPARSE);
    cr_assert_eq(ag_b64_try("Zm9vY", &err), AG_EPARSE);
    cr_assert(strstr(err.msg, "length"));
    /* "Zh" decodes to "f" with non-zero trailing bits: a second spelling of "Zg" */
    cr_assert_eq(ag_b64_try("Zh", &err), AG_EPARSE);
    cr_assert(strstr(err.msg, "non-canonical"));
    cr_assert_eq(ag_b64_try("Zm9", &err), AG_EPARSE);
}

Test(b64url, embedded_nul_rejected)
{
    uint8_t dec[8];
    size_t dlen;
    struct ag_err err;
    cr_assert_eq(ag_b64url_decode("Zm\0v", 4, dec, sizeof(dec), &dlen, &err), AG_EPARSE);
}

Test(b64url, small_output_buffer_rejected)
{
    uint8_t dec[2];
    size_t dlen;
    struct ag_err err;
    cr_assert_eq(ag_b64url_decode("Zm9vYmFy", 8, dec, sizeof(dec), &dlen, &err), AG_EINVAL);
}

Test(b64url, arena_decode_nul_terminates)
{
    struct ag_arena *a = ag_arena_new(0);
    uint8_t *out;
    size_t n;
    struct ag_err err;
    cr_assert_eq(ag_b64url_decode_arena(a, "eyJhIjoxfQ", 10, &out, &n, &err), AG_OK);
    cr_assert_str_eq((char *)out, "{\"a\":1}");
    cr_assert_str_eq(ag_b64url_encode_arena(a, out, n), "eyJhIjoxfQ");
    ag_arena_free(a);
}
