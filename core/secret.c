#include "core/secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

int ag_secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return 0;
    if (alen == 0)
        return 1;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

void ag_secret_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

enum ag_rc ag_random_bytes(void *out, size_t n, struct ag_err *err)
{
    if (n > (size_t)0x7fffffff || RAND_bytes(out, (int)n) != 1)
        return ag_err_set(err, AG_ECRYPTO, "random generator failed");
    return AG_OK;
}
