#include "auth/jose/jwt.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "auth/jose/jws.h"

void ag_jwt_policy_init(struct ag_jwt_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->allowed_algs = AG_JWS_ALGS_ASYMMETRIC;
    p->leeway_s = 60;
    p->check_claims = true;
}

/* A short, printable rendering of an attacker-chosen string for error messages. */
static const char *ag_jwt_quote(const char *s, char *buf, size_t cap)
{
    size_t o = 0;
    for (; s[o] && o + 4 < cap; o++) {
        unsigned char c = (unsigned char)s[o];
        buf[o] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
    }
    if (s[o]) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* NumericDate (RFC 7519 2): a JSON number, possibly non-integer. */
static enum ag_rc ag_jwt_numeric_date(const ag_json *claims, const char *name, bool required,
                                      bool *present, int64_t *out, struct ag_err *err)
{
    const ag_json *v = ag_json_get(claims, name);
    *present = v != NULL;
    if (!v)
        return required ? ag_err_set(err, AG_EINVAL, "token has no \"%s\" claim", name) : AG_OK;
    double d;
    if (ag_json_is_integer(v))
        d = (double)ag_json_int(v);
    else if (ag_json_is_real(v))
        d = ag_json_real(v);
    else
        return ag_err_set(err, AG_EINVAL, "claim \"%s\" is not a number", name);
    if (!isfinite(d) || d < 0 || d > 253402300799.0) /* year 9999 */
        return ag_err_set(err, AG_EINVAL, "claim \"%s\" is out of range", name);
    *out = ag_json_is_integer(v) ? (int64_t)ag_json_int(v) : (int64_t)floor(d);
    return AG_OK;
}

static enum ag_rc ag_jwt_string_claim(const ag_json *claims, const char *name, const char **out,
                                      struct ag_err *err)
{
    const ag_json *v = ag_json_get(claims, name);
    *out = NULL;
    if (!v)
        return AG_OK;
    if (!ag_json_is_string(v))
        return ag_err_set(err, AG_EINVAL, "claim \"%s\" is not a string", name);
    *out = ag_json_str(v);
    return AG_OK;
}

/* True when one aud value names this recipient: the configured audience or the client id. */
static bool ag_jwt_names_us(const char *aud, const struct ag_jwt_policy *p)
{
    if ((p->audience && strcmp(aud, p->audience) == 0) || (p->azp && strcmp(aud, p->azp) == 0))
        return true;
    for (size_t i = 0; i < p->n_audiences; i++) {
        if (p->audiences[i] && strcmp(aud, p->audiences[i]) == 0)
            return true;
    }
    return false;
}

static enum ag_rc ag_jwt_check_audience(const ag_json *claims, const struct ag_jwt_policy *p,
                                        struct ag_err *err)
{
    const ag_json *aud = ag_json_get(claims, "aud");
    const char *azp;
    enum ag_rc rc = ag_jwt_string_claim(claims, "azp", &azp, err);
    if (rc != AG_OK)
        return rc;
    bool match = false;
    if (ag_json_is_string(aud)) {
        match = ag_jwt_names_us(ag_json_str(aud), p);
    } else if (ag_json_is_array(aud)) {
        size_t i;
        const ag_json *v;
        AG_JSON_ARRAY_FOREACH(aud, i, v)
        {
            if (!ag_json_is_string(v))
                return ag_err_set(err, AG_EINVAL, "claim \"aud\" has a non-string member");
            if (ag_jwt_names_us(ag_json_str(v), p))
                match = true;
        }
    } else if (aud) {
        return ag_err_set(err, AG_EINVAL, "claim \"aud\" is neither a string nor an array");
    }
    if (match)
        return AG_OK;
    /* A resource server is named by aud (RFC 9068 section 4, OIDC Core 3.1.3.7): azp says who
     * asked for the token, not who may accept it, so it only stands in when configured to. */
    if (p->accept_azp && p->azp && azp && strcmp(azp, p->azp) == 0)
        return AG_OK;
    char q1[64], q2[64];
    bool azp_counts = p->accept_azp && p->azp;
    const char *first = ag_json_is_string(aud)    ? ag_json_str(aud)
                        : ag_json_array_size(aud) ? ag_json_str(ag_json_at(aud, 0))
                                                  : "";
    const char *want = p->audience ? p->audience : p->azp;
    bool two = p->audience && p->azp && strcmp(p->audience, p->azp) != 0;
    return ag_err_set(
        err, AG_EINVAL, "audience mismatch: aud %s\"%s\"%s does not contain \"%s\"%s%s%s%s%s%s",
        aud ? "" : "(absent) ", ag_jwt_quote(first, q1, sizeof(q1)),
        ag_json_array_size(aud) > 1 ? " (and others)" : "", want ? want : "", two ? " or \"" : "",
        two ? p->azp : "", two ? "\"" : "", azp_counts ? " and azp \"" : "",
        azp_counts ? ag_jwt_quote(azp ? azp : "(absent)", q2, sizeof(q2)) : "",
        azp_counts ? "\" is not the client id" : "");
}

enum ag_rc ag_jwt_claims_check(const ag_json *claims, const struct ag_jwt_policy *p, int64_t *exp,
                               struct ag_err *err)
{
    if (!ag_json_is_object(claims))
        return ag_err_set(err, AG_EPARSE, "token payload is not a JSON object");
    int64_t now = p->now ? p->now : (int64_t)time(NULL);
    long leeway = p->leeway_s < 0 ? 0 : p->leeway_s;
    int64_t e = 0, nbf = 0, iat = 0;
    bool has_exp, has_nbf, has_iat;
    enum ag_rc rc;
    /* Types first, so a malformed token is reported as such rather than as expired. */
    if ((rc = ag_jwt_numeric_date(claims, "exp", true, &has_exp, &e, err)) != AG_OK ||
        (rc = ag_jwt_numeric_date(claims, "nbf", false, &has_nbf, &nbf, err)) != AG_OK ||
        (rc = ag_jwt_numeric_date(claims, "iat", false, &has_iat, &iat, err)) != AG_OK)
        return rc;
    const char *iss, *sub;
    if ((rc = ag_jwt_string_claim(claims, "iss", &iss, err)) != AG_OK ||
        (rc = ag_jwt_string_claim(claims, "sub", &sub, err)) != AG_OK)
        return rc;
    if (p->issuer) {
        char q[96];
        if (!iss)
            return ag_err_set(err, AG_EINVAL, "token has no \"iss\" claim");
        if (strcmp(iss, p->issuer) != 0)
            return ag_err_set(err, AG_EINVAL, "issuer mismatch: iss \"%s\" is not \"%s\"",
                              ag_jwt_quote(iss, q, sizeof(q)), p->issuer);
    }
    if (p->audience || p->azp) {
        if ((rc = ag_jwt_check_audience(claims, p, err)) != AG_OK)
            return rc;
    }
    if (now >= e + leeway)
        return ag_err_set(err, AG_EEXPIRED, "token expired %lld s ago (leeway %ld s)",
                          (long long)(now - e), leeway);
    if (has_nbf && nbf > now + leeway)
        return ag_err_set(err, AG_EEXPIRED,
                          "token not valid for another %lld s (nbf, leeway %ld s)",
                          (long long)(nbf - now), leeway);
    if (has_iat && iat > now + leeway)
        return ag_err_set(err, AG_EEXPIRED, "token issued %lld s in the future (iat, leeway %ld s)",
                          (long long)(iat - now), leeway);
    if (exp)
        *exp = e;
    return AG_OK;
}

static void ag_jwt_json_cleanup(void *p)
{
    ag_json_decref(p);
}

enum ag_rc ag_jwt_verify(struct ag_arena *a, const struct ag_keyset *keys,
                         const struct ag_jwt_policy *p, const char *token, size_t len,
                         struct ag_jwt **out, struct ag_err *err)
{
    struct ag_jws *jws;
    enum ag_rc rc = ag_jws_parse(a, token, len, p->max_token_bytes, &jws, err);
    if (rc != AG_OK)
        return rc;
    unsigned allowed = p->allowed_algs ? p->allowed_algs : AG_JWS_ALGS_ASYMMETRIC;
    if ((rc = ag_jws_verify(jws, keys, allowed, NULL, err)) != AG_OK)
        return rc;
    struct ag_jwt *j = ag_arena_calloc(a, 1, sizeof(*j));
    j->alg = jws->alg;
    j->alg_name = jws->alg_name;
    j->kid = jws->kid;
    j->header = jws->header;
    j->payload = jws->payload;
    j->payload_len = jws->payload_len;
    struct ag_json_error jerr;
    ag_json *claims = ag_json_parse((const char *)jws->payload, jws->payload_len, 0, &jerr);
    if (claims)
        ag_arena_cleanup_add(a, ag_jwt_json_cleanup, claims);
    if (p->check_claims) {
        if (!claims)
            return ag_err_set(err, AG_EPARSE, "token payload is not valid JSON: %s", jerr.text);
        if ((rc = ag_jwt_claims_check(claims, p, &j->exp, err)) != AG_OK)
            return rc;
    }
    if (ag_json_is_object(claims)) {
        j->claims = claims;
        j->sub = ag_json_str(ag_json_get(claims, "sub"));
        j->iss = ag_json_str(ag_json_get(claims, "iss"));
    }
    *out = j;
    return AG_OK;
}

const ag_json *ag_jwt_claim_path(const ag_json *claims, const char *path)
{
    const ag_json *cur = claims;
    const char *p = path;
    while (cur && p && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!ag_json_is_object(cur))
            return NULL;
        cur = ag_json_getn(cur, p, n);
        p = dot ? dot + 1 : NULL;
    }
    return cur;
}
