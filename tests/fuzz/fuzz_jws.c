/* libFuzzer target: compact JWS parsing, key selection, signature verification and claims checks
 * against a fixed key set (the Wycheproof ES256 and RS256 public keys). An input starting with
 * '!' is checked in signature-only mode (the rest is the token). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth/jose/jwks.h"
#include "auth/jose/jws.h"
#include "auth/jose/jwt.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ag_fuzz_jwks[] =
    "{\"keys\":[{\"alg\":\"ES256\",\"use\":\"sig\",\"x\":\"04N0xi21hshyvBp7I167sbE_"
    "bXqyqkAPfefdklMO7wY\","
    "\"y\":\"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw\",\"crv\":\"P-256\",\"kid\":\"kid-ec-"
    "sign\","
    "\"kty\":\"EC\"},{\"alg\":\"RS256\",\"use\":\"sig\",\"n\":\"kqGboBfAWttWPCA-0cGRgsY6SaYoIARt0B_"
    "Pk"
    "aEcIq9HPYNdu9n6UuWHuuTHrjF_ZoQW97r5HaAorNvrMEGTGdxCHZdEtkHvNVVmrtxTBLiQCbCozXhFoIrVcr3qUBrdGnN"
    "n_M3jJi7Wg7p_-x62nS5gNG875oyheRkutHsQXikFZwsN3q_TsPNOVlCiHy8mxzaFTUQGm-"
    "X8UYexFyAivlDSjgDJLAZSWf"
    "xd7k9Gxuwa3AUfQqQcVcegmgKGCaErQ3qQbh1x7WB6iopE3_-GZ8HMAVtR9AmrVscqYsnjhaCehfAI0iKKs8zXr8tISc0O"
    "Rbaalrkk03H1ZrsEnDKEWQ\",\"e\":\"AQAB\",\"kid\":\"kid-rsa-sign\",\"kty\":\"RSA\"}]}";

static struct ag_keyset *ag_fuzz_keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ag_fuzz_keys) {
        ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
        struct ag_err err;
        if (ag_jwks_parse(ag_fuzz_jwks, sizeof(ag_fuzz_jwks) - 1, &ag_fuzz_keys, &err) != AG_OK)
            __builtin_trap();
    }
    struct ag_jwt_policy p;
    ag_jwt_policy_init(&p);
    p.allowed_algs = AG_JWS_ALGS_ALL;
    p.now = 1700000000;
    p.issuer = "https://sso.example.com/realms/data";
    p.audience = "airflow";
    p.azp = "airflow";
    if (size > 0 && data[0] == '!') {
        p.check_claims = false;
        data++;
        size--;
    }
    struct ag_arena *a = ag_arena_new(0);
    struct ag_jwt *jwt;
    struct ag_err err = {0};
    enum ag_rc rc = ag_jwt_verify(a, ag_fuzz_keys, &p, (const char *)data, size, &jwt, &err);
    if (rc == AG_OK && (!jwt->alg_name || (p.check_claims && !jwt->claims)))
        __builtin_trap();
    /* Every failure carries its reason and never the token. */
    if (rc != AG_OK && (err.rc != rc || err.msg[0] == '\0'))
        __builtin_trap();
    ag_arena_free(a);
    return 0;
}
