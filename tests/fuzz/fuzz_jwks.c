/* libFuzzer target: JWK Set parsing and every key check (RSA size/exponent/ROCA, EC point on
 * curve, OKP, oct, use/key_ops/alg rules, duplicate kids, limits). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth/jose/jwks.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
        quiet = 1;
    }
    struct ag_keyset *ks = NULL;
    struct ag_err err;
    if (ag_jwks_parse((const char *)data, size, &ks, &err) == AG_OK) {
        size_t n = ag_jwks_count(ks);
        if (n == 0)
            __builtin_trap();
        for (size_t i = 0; i < n; i++) {
            const struct ag_jwk *k = ag_jwks_key(ks, i);
            if (!k->algs || (k->kid && ag_jwks_find_kid(ks, k->kid) != k))
                __builtin_trap();
        }
        ag_jwks_unref(ks);
    }
    return 0;
}
