/* Every bad-token class, one named test each, with the exact error code ag_jwt_verify returns. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "auth/jose/jwks.h"
#include "auth/jose/jws.h"
#include "auth/jose/jwt.h"
#include "core/b64url.h"
#include "core/log.h"
#include "mint.h"

#define NOW 1700000000LL
#define ISS "https://sso.example.com/realms/data"

static struct ag_mint_key key;      /* RS256, kid "k1", published with alg */
static struct ag_mint_key attacker; /* RS256, kid "evil", not in the set */
static struct ag_keyset *ks;
static struct ag_jwt_policy pol;
static struct ag_arena *arena;
static char *jwk_text;

static void setup(void)
{
    ag_log_setup(AG_LOG_OFF, AG_LOG_TEXT, 2);
    ag_mint_key_new(&key, AG_JWS_RS256, "k1");
    ag_mint_key_new(&attacker, AG_JWS_RS256, "evil");
    jwk_text = ag_mint_jwk(&key, 1, "\"use\":\"sig\"");
    const char *one[] = {jwk_text};
    char *set = ag_mint_jwks(one, 1);
    struct ag_err err;
    cr_assert_eq(ag_jwks_parse(set, strlen(set), &ks, &err), AG_OK, "%s", err.msg);
    free(set);
    ag_jwt_policy_init(&pol);
    pol.issuer = ISS;
    pol.audience = "airflow";
    pol.azp = "airflow";
    pol.now = NOW;
    pol.leeway_s = 60;
    arena = ag_arena_new(0);
}

static void teardown(void)
{
    ag_arena_free(arena);
    ag_jwks_unref(ks);
    ag_mint_key_free(&key);
    ag_mint_key_free(&attacker);
    free(jwk_text);
}

TestSuite(bad_token, .init = setup, .fini = teardown);

static char payload_buf[2048];

/* Claims with exp = NOW + exp_off and extra members spliced in. */
static const char *claims(long exp_off, const char *extra)
{
    snprintf(payload_buf, sizeof(payload_buf),
             "{\"iss\":\"" ISS "\",\"aud\":\"airflow\",\"sub\":\"u1\",\"exp\":%lld,"
             "\"iat\":%lld%s%s}",
             NOW + exp_off, NOW - 10, extra ? "," : "", extra ? extra : "");
    return payload_buf;
}

static enum ag_rc verify(const char *tok, struct ag_err *err)
{
    struct ag_jwt *jwt;
    enum ag_rc rc = ag_jwt_verify(arena, ks, &pol, tok, strlen(tok), &jwt, err);
    /* No message may ever contain the token or its signature. */
    const char *sig = strrchr(tok, '.');
    if (sig && strlen(sig) > 8)
        cr_assert_null(strstr(err->msg, sig + 1), "error message leaks the token: %s", err->msg);
    return rc;
}

static enum ag_rc verify_signed(const char *hdr, const char *payload, struct ag_err *err)
{
    char *tok = ag_mint_sign(&key, AG_JWS_RS256, hdr, payload, strlen(payload));
    enum ag_rc rc = verify(tok, err);
    free(tok);
    return rc;
}

Test(bad_token, good_token_is_accepted)
{
    struct ag_err err = {0};
    char *tok = ag_mint_token(&key, claims(300, NULL));
    struct ag_jwt *jwt;
    cr_assert_eq(ag_jwt_verify(arena, ks, &pol, tok, strlen(tok), &jwt, &err), AG_OK, "%s",
                 err.msg);
    cr_assert_str_eq(jwt->sub, "u1");
    cr_assert_str_eq(jwt->kid, "k1");
    cr_assert_eq(jwt->alg, AG_JWS_RS256);
    cr_assert_eq(jwt->exp, NOW + 300);
    cr_assert(json_is_object(jwt->claims));
    cr_assert_str_eq(json_string_value(json_object_get(jwt->header, "typ")), "JWT");
    free(tok);
}

Test(bad_token, alg_none)
{
    struct ag_err err = {0};
    char *h = ag_b64url_encode_arena(arena, (const uint8_t *)"{\"alg\":\"none\"}", 14);
    const char *p = claims(300, NULL);
    char *pb = ag_b64url_encode_arena(arena, (const uint8_t *)p, strlen(p));
    char tok[4096];
    snprintf(tok, sizeof(tok), "%s.%s.", h, pb);
    cr_assert_eq(verify(tok, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "none"), "%s", err.msg);
    snprintf(tok, sizeof(tok), "%s.%s.AAAA", h, pb);
    cr_assert_eq(verify(tok, &err), AG_ECRYPTO);
}

Test(bad_token, alg_none_in_other_case)
{
    struct ag_err err = {0};
    cr_assert_eq(verify_signed("{\"alg\":\"NONE\",\"kid\":\"k1\"}", claims(300, NULL), &err),
                 AG_ECRYPTO);
}

/* The classic: the RSA public key (as its JWK text) used as an HMAC secret. */
Test(bad_token, alg_confusion_rs256_to_hs256)
{
    struct ag_err err = {0};
    char *tok = ag_mint_sign_hmac((const unsigned char *)jwk_text, strlen(jwk_text), AG_JWS_HS256,
                                  "{\"alg\":\"HS256\",\"kid\":\"k1\"}", claims(300, NULL));
    cr_assert_eq(verify(tok, &err), AG_ECRYPTO); /* HS256 not allowed */
    pol.allowed_algs = AG_JWS_ALGS_ALL;          /* even when HS* is allowed: the key is RSA */
    cr_assert_eq(verify(tok, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "does not allow alg HS256"), "%s", err.msg);
    free(tok);
}

Test(bad_token, jwk_header_injection)
{
    struct ag_err err = {0};
    char *evil = ag_mint_jwk(&attacker, 1, NULL);
    char hdr[4096];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"k1\",\"jwk\":%s}", evil);
    char *tok =
        ag_mint_sign(&attacker, AG_JWS_RS256, hdr, claims(300, NULL), strlen(claims(300, NULL)));
    cr_assert_eq(verify(tok, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "does not verify with key kid=k1"), "%s", err.msg);
    free(tok);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"evil\",\"jwk\":%s}", evil);
    tok = ag_mint_sign(&attacker, AG_JWS_RS256, hdr, claims(300, NULL), strlen(claims(300, NULL)));
    cr_assert_eq(verify(tok, &err), AG_ECRYPTO);
    free(tok);
    free(evil);
}

Test(bad_token, jku_x5u_x5c_headers_ignored)
{
    struct ag_err err = {0};
    /* A jku pointing at a port nobody listens on: we must neither fetch nor trust it. */
    const char *hdrs[] = {
        "{\"alg\":\"RS256\",\"kid\":\"evil\",\"jku\":\"http://127.0.0.1:9/jwks.json\"}",
        "{\"alg\":\"RS256\",\"kid\":\"evil\",\"x5u\":\"http://127.0.0.1:9/cert.pem\"}",
        "{\"alg\":\"RS256\",\"kid\":\"evil\",\"x5c\":[\"MIIB\"]}",
    };
    for (size_t i = 0; i < 3; i++) {
        char *tok = ag_mint_sign(&attacker, AG_JWS_RS256, hdrs[i], claims(300, NULL),
                                 strlen(claims(300, NULL)));
        cr_assert_eq(verify(tok, &err), AG_ECRYPTO);
        cr_assert(strstr(err.msg, "no key with kid=evil"), "%s", err.msg);
        free(tok);
    }
    /* The same headers on a token really signed by the set's key change nothing. */
    char *tok = ag_mint_sign(&key, AG_JWS_RS256,
                             "{\"alg\":\"RS256\",\"kid\":\"k1\",\"jku\":\"http://127.0.0.1:9/\"}",
                             claims(300, NULL), strlen(claims(300, NULL)));
    cr_assert_eq(verify(tok, &err), AG_OK, "%s", err.msg);
    free(tok);
}

Test(bad_token, kid_not_found)
{
    struct ag_err err = {0};
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"nope\"}", claims(300, NULL), &err),
                 AG_ECRYPTO);
    cr_assert_str_eq(err.msg, "no key with kid=nope in the key set");
}

Test(bad_token, wrong_kty_for_alg)
{
    struct ag_err err = {0};
    struct ag_mint_key ec;
    ag_mint_key_new(&ec, AG_JWS_ES256, "k1");
    char *tok = ag_mint_sign(&ec, AG_JWS_ES256, "{\"alg\":\"ES256\",\"kid\":\"k1\"}",
                             claims(300, NULL), strlen(claims(300, NULL)));
    cr_assert_eq(verify(tok, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "does not allow alg ES256"), "%s", err.msg);
    free(tok);
    ag_mint_key_free(&ec);
}

Test(bad_token, truncated)
{
    struct ag_err err = {0};
    char *tok = ag_mint_token(&key, claims(300, NULL));
    /* Signature re-encoded without its last 3 bytes. */
    char *sig = strrchr(tok, '.') + 1;
    uint8_t raw[512];
    size_t rl;
    cr_assert_eq(ag_b64url_decode(sig, strlen(sig), raw, sizeof(raw), &rl, &err), AG_OK);
    ag_b64url_encode(raw, rl - 3, sig, strlen(sig) + 1);
    cr_assert_eq(verify(tok, &err), AG_ECRYPTO);
    cr_assert(strstr(err.msg, "RSA signature is 253 bytes, expected 256"), "%s", err.msg);
    /* Cut in the middle of a base64url quantum. */
    sig[5] = '\0';
    cr_assert_eq(verify(tok, &err), AG_EPARSE);
    *strchr(tok, '.') = '\0'; /* header only */
    cr_assert_eq(verify(tok, &err), AG_EPARSE);
    free(tok);
}

Test(bad_token, extra_dots)
{
    struct ag_err err = {0};
    char *tok = ag_mint_token(&key, claims(300, NULL));
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s.", tok);
    cr_assert_eq(verify(buf, &err), AG_EPARSE);
    snprintf(buf, sizeof(buf), "%s.e30.e30", tok); /* JWE-like 5 parts */
    cr_assert_eq(verify(buf, &err), AG_EPARSE);
    free(tok);
}

Test(bad_token, empty_segments)
{
    struct ag_err err = {0};
    cr_assert_eq(verify("..", &err), AG_EPARSE);
    cr_assert_eq(verify("", &err), AG_EPARSE);
    cr_assert_eq(verify(".e30.AAAA", &err), AG_EPARSE);
    char *tok = ag_mint_token(&key, claims(300, NULL));
    *(strrchr(tok, '.') + 1) = '\0'; /* signature removed */
    cr_assert_eq(verify(tok, &err), AG_EPARSE);
    free(tok);
    /* A valid signature over an empty payload: not a JWT. */
    char *e = ag_mint_sign(&key, AG_JWS_RS256, "{\"alg\":\"RS256\",\"kid\":\"k1\"}", "", 0);
    cr_assert_eq(verify(e, &err), AG_EPARSE);
    free(e);
}

Test(bad_token, huge_token)
{
    struct ag_err err = {0};
    size_t n = AG_JWS_DEFAULT_MAX_BYTES + 1;
    char *big = malloc(n + 1);
    memset(big, 'A', n);
    big[10] = '.';
    big[20] = '.';
    big[n] = '\0';
    cr_assert_eq(verify(big, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "over the"), "%s", err.msg);
    pol.max_token_bytes = 100;
    char *tok = ag_mint_token(&key, claims(300, NULL));
    cr_assert_eq(verify(tok, &err), AG_EINVAL);
    free(tok);
    free(big);
}

Test(bad_token, duplicate_members_in_header)
{
    struct ag_err err = {0};
    cr_assert_eq(
        verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\",\"kid\":\"k1\"}", claims(300, NULL), &err),
        AG_EPARSE);
}

Test(bad_token, duplicate_members_in_payload)
{
    struct ag_err err = {0};
    cr_assert_eq(
        verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims(300, "\"sub\":\"admin\""), &err),
        AG_EPARSE);
}

Test(bad_token, string_exp)
{
    struct ag_err err = {0};
    char p[512];
    snprintf(p, sizeof(p), "{\"iss\":\"" ISS "\",\"aud\":\"airflow\",\"exp\":\"%lld\"}", NOW + 300);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_EINVAL);
    cr_assert_str_eq(err.msg, "claim \"exp\" is not a number");
}

Test(bad_token, missing_exp)
{
    struct ag_err err = {0};
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}",
                               "{\"iss\":\"" ISS "\",\"aud\":\"airflow\"}", &err),
                 AG_EINVAL);
}

Test(bad_token, expired)
{
    struct ag_err err = {0};
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims(-93, NULL), &err),
                 AG_EEXPIRED);
    cr_assert_str_eq(err.msg, "token expired 93 s ago (leeway 60 s)");
    /* Inside the leeway: accepted. */
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims(-30, NULL), &err),
                 AG_OK, "%s", err.msg);
}

Test(bad_token, nbf_in_future)
{
    struct ag_err err = {0};
    char extra[64];
    snprintf(extra, sizeof(extra), "\"nbf\":%lld", NOW + 120);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims(300, extra), &err),
                 AG_EEXPIRED);
    cr_assert(strstr(err.msg, "nbf"), "%s", err.msg);
    snprintf(extra, sizeof(extra), "\"nbf\":%lld", NOW + 30);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims(300, extra), &err),
                 AG_OK);
}

Test(bad_token, iat_in_future)
{
    struct ag_err err = {0};
    char p[512];
    snprintf(p, sizeof(p), "{\"iss\":\"" ISS "\",\"aud\":\"airflow\",\"exp\":%lld,\"iat\":%lld}",
             NOW + 900, NOW + 600);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_EEXPIRED);
    cr_assert(strstr(err.msg, "iat"), "%s", err.msg);
}

Test(bad_token, wrong_iss)
{
    struct ag_err err = {0};
    char p[512];
    snprintf(p, sizeof(p), "{\"iss\":\"" ISS "/\",\"aud\":\"airflow\",\"exp\":%lld}", NOW + 300);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "issuer mismatch"), "%s", err.msg);
    snprintf(p, sizeof(p), "{\"iss\":42,\"aud\":\"airflow\",\"exp\":%lld}", NOW + 300);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_EINVAL);
}

Test(bad_token, wrong_aud)
{
    struct ag_err err = {0};
    char p[512];
    snprintf(p, sizeof(p), "{\"iss\":\"" ISS "\",\"aud\":[\"account\",\"x\"],\"exp\":%lld}",
             NOW + 300);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_EINVAL);
    cr_assert(strstr(err.msg, "audience mismatch"), "%s", err.msg);
    snprintf(p, sizeof(p), "{\"iss\":\"" ISS "\",\"aud\":[\"x\",\"airflow\"],\"exp\":%lld}",
             NOW + 300);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_OK);
    snprintf(p, sizeof(p), "{\"iss\":\"" ISS "\",\"aud\":[\"airflow\",7],\"exp\":%lld}", NOW + 300);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_EINVAL);
}

/* The hostile-token corpus of the outside review: aud naming someone else, a prefix or an
 * extension of the client id, or no aud at all, each with azp == the client id. None names us,
 * so each is refused unless accept_azp is set; the ones naming us pass either way. */
Test(bad_token, azp_never_substitutes_for_aud)
{
    static const char *not_us[] = {
        "\"aud\":\"account\",",
        "\"aud\":\"airflo\",",
        "\"aud\":\"airflow2\",",
        "\"aud\":\"AIRFLOW\",",
        "\"aud\":[\"account\",\"x\"],",
        "\"aud\":[],",
        "",
        "\"aud\":\"\",",
    };
    static const char *us[] = {
        "\"aud\":\"airflow\",", "\"aud\":[\"account\",\"airflow\"],",
        "\"aud\":\"airflow-api\",", /* the configured oidc.audience */
    };
    pol.audience = "airflow-api";
    for (int accept = 0; accept < 2; accept++) {
        pol.accept_azp = accept;
        for (size_t i = 0; i < sizeof(not_us) / sizeof(not_us[0]); i++) {
            struct ag_err err = {0};
            char p[512];
            snprintf(p, sizeof(p), "{\"iss\":\"" ISS "\",%s\"azp\":\"airflow\",\"exp\":%lld}",
                     not_us[i], NOW + 300);
            enum ag_rc rc = verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err);
            cr_assert_eq(rc, accept ? AG_OK : AG_EINVAL, "%s (accept_azp %d): %s", not_us[i],
                         accept, err.msg);
            if (!accept)
                cr_assert(strstr(err.msg, "does not contain \"airflow-api\" or \"airflow\""), "%s",
                          err.msg);
            /* azp of someone else never helps */
            snprintf(p, sizeof(p), "{\"iss\":\"" ISS "\",%s\"azp\":\"other\",\"exp\":%lld}",
                     not_us[i], NOW + 300);
            cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_EINVAL,
                         "%s", not_us[i]);
        }
        for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
            struct ag_err err = {0};
            char p[512];
            snprintf(p, sizeof(p), "{\"iss\":\"" ISS "\",%s\"azp\":\"other\",\"exp\":%lld}", us[i],
                     NOW + 300);
            cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_OK,
                         "%s: %s", us[i], err.msg);
        }
    }
    /* azp set but accept_azp without a client id: nothing to compare with */
    pol.azp = NULL;
    pol.accept_azp = true;
    struct ag_err err = {0};
    char p[512];
    snprintf(p, sizeof(p),
             "{\"iss\":\"" ISS "\",\"aud\":\"account\",\"azp\":\"airflow\",\"exp\":%lld}",
             NOW + 300);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_EINVAL);
}

Test(bad_token, crit_unknown)
{
    struct ag_err err = {0};
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"exp\"],\"exp\":1}",
                               claims(300, NULL), &err),
                 AG_EPARSE);
    cr_assert(strstr(err.msg, "crit"), "%s", err.msg);
    cr_assert_eq(
        verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[]}", claims(300, NULL), &err),
        AG_EPARSE);
}

Test(bad_token, b64_false)
{
    struct ag_err err = {0};
    cr_assert_eq(
        verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\",\"b64\":false,\"crit\":[\"b64\"]}",
                      claims(300, NULL), &err),
        AG_EPARSE);
    cr_assert_eq(
        verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\",\"b64\":false}", claims(300, NULL), &err),
        AG_EPARSE);
}

Test(bad_token, non_canonical_base64)
{
    struct ag_err err = {0};
    char *tok = ag_mint_token(&key, claims(300, NULL));
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s=", tok); /* padding */
    cr_assert_eq(verify(buf, &err), AG_EPARSE);
    snprintf(buf, sizeof(buf), "%s", tok);
    *strchr(buf, '.') = '+';
    cr_assert_eq(verify(buf, &err), AG_EPARSE);
    free(tok);
}

Test(bad_token, modified_payload)
{
    struct ag_err err = {0};
    char *tok = ag_mint_token(&key, claims(300, NULL));
    char *other = ag_mint_token(&key, claims(300, "\"admin\":true"));
    /* Splice other's payload into tok's header and signature. */
    char buf[4096];
    const char *p1 = strchr(other, '.'), *p2 = strrchr(other, '.');
    snprintf(buf, sizeof(buf), "%.*s%.*s%s", (int)(strchr(tok, '.') - tok), tok, (int)(p2 - p1), p1,
             strrchr(tok, '.'));
    cr_assert_eq(verify(buf, &err), AG_ECRYPTO);
    cr_assert_str_eq(
        err.msg, "signature does not verify with key kid=k1 (RS256): signature does not verify");
    free(tok);
    free(other);
}

Test(bad_token, no_kid_tries_compatible_keys)
{
    struct ag_err err = {0};
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\"}", claims(300, NULL), &err), AG_OK, "%s",
                 err.msg);
    char *tok = ag_mint_sign(&attacker, AG_JWS_RS256, "{\"alg\":\"RS256\"}", claims(300, NULL),
                             strlen(claims(300, NULL)));
    cr_assert_eq(verify(tok, &err), AG_ECRYPTO);
    free(tok);
}

Test(bad_token, alg_not_in_allow_list)
{
    struct ag_err err = {0};
    pol.allowed_algs = AG_JWS_ES256;
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims(300, NULL), &err),
                 AG_ECRYPTO);
    cr_assert_str_eq(err.msg, "alg RS256 is not allowed (allowed: ES256)");
}

Test(bad_token, header_not_object_or_bad_json)
{
    struct ag_err err = {0};
    cr_assert_eq(verify_signed("[\"RS256\"]", claims(300, NULL), &err), AG_EPARSE);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",", claims(300, NULL), &err), AG_EPARSE);
    cr_assert_eq(verify_signed("{\"alg\":1}", claims(300, NULL), &err), AG_EPARSE);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":5}", claims(300, NULL), &err),
                 AG_EPARSE);
}

Test(bad_token, payload_not_object)
{
    struct ag_err err = {0};
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", "[1,2]", &err), AG_EPARSE);
}

Test(bad_token, signature_only_mode_accepts_non_json_payload)
{
    struct ag_err err = {0};
    pol.check_claims = false;
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", "hello", &err), AG_OK, "%s",
                 err.msg);
    cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims(-1000, NULL), &err),
                 AG_OK, "%s", err.msg);
}

Test(bad_token, kid_is_sanitised_in_messages)
{
    struct ag_err err = {0};
    cr_assert_eq(
        verify_signed("{\"alg\":\"RS256\",\"kid\":\"\\u001b[31mred\"}", claims(300, NULL), &err),
        AG_ECRYPTO);
    cr_assert_str_eq(err.msg, "no key with kid=?[31mred in the key set");
    char hdr[512];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%0200d\"}", 7);
    cr_assert_eq(verify_signed(hdr, claims(300, NULL), &err), AG_ECRYPTO);
    cr_assert_lt(strlen(err.msg), 120);
    cr_assert(strstr(err.msg, "..."), "%s", err.msg);
}

Test(bad_token, oidc_audiences_are_accepted_and_nothing_else)
{
    static const char *const extra[] = {"reports-api", "airflow-cli"};
    pol.audience = "airflow-api";
    pol.audiences = extra;
    pol.n_audiences = 2;
    static const char *us[] = {"\"aud\":\"reports-api\",", "\"aud\":[\"x\",\"airflow-cli\"],",
                               "\"aud\":\"airflow\",", "\"aud\":\"airflow-api\","};
    static const char *not_us[] = {"\"aud\":\"reports\",", "\"aud\":\"reports-api2\",",
                                   "\"aud\":[\"airflow-cl\"],", "\"aud\":\"REPORTS-API\","};
    for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
        struct ag_err err = {0};
        char p[512];
        snprintf(p, sizeof(p), "{\"iss\":\"" ISS "\",%s\"azp\":\"other\",\"exp\":%lld}", us[i],
                 NOW + 300);
        cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_OK, "%s: %s",
                     us[i], err.msg);
    }
    for (size_t i = 0; i < sizeof(not_us) / sizeof(not_us[0]); i++) {
        struct ag_err err = {0};
        char p[512];
        snprintf(p, sizeof(p), "{\"iss\":\"" ISS "\",%s\"azp\":\"airflow\",\"exp\":%lld}",
                 not_us[i], NOW + 300);
        cr_assert_eq(verify_signed("{\"alg\":\"RS256\",\"kid\":\"k1\"}", p, &err), AG_EINVAL, "%s",
                     not_us[i]);
    }
}
