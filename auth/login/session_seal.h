/* Authenticated encryption for airgate's cookies (session and login state), shared by
 * auth/session.c and auth/login_state.c.
 *
 * Keys: HKDF-SHA256 of session.cookie_secret with a distinct `info` per purpose, so a login-state
 * cookie can never be opened as a session and vice versa; the same derivation for every entry of
 * session.previous_cookie_secrets, which are accepted for opening only (secret rotation).
 *
 * Sealed value (then base64url, no padding):
 *   byte 0     version (1)
 *   byte 1     key id: first byte of SHA-256(derived key), a hint to pick the key
 *   bytes 2-13 random 96-bit nonce
 *   ...        AES-256-GCM ciphertext, then the 16-byte tag
 * The AAD is the two header bytes plus the cookie name, so a value moved to another cookie name
 * (another chunk layout, another login state) fails authentication.
 *
 * Also: Set-Cookie header construction and walking the request's cookies. */
#ifndef AG_AUTH_SESSION_SEAL_H
#define AG_AUTH_SESSION_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/http_msg.h"

#define AG_SEAL_VERSION 1
#define AG_SEAL_MAX_KEYS 8 /* the current secret and up to 7 previous ones */
#define AG_SEAL_KEY_LEN 32
#define AG_SEAL_NONCE_LEN 12
#define AG_SEAL_TAG_LEN 16
#define AG_SEAL_OVERHEAD (2 + AG_SEAL_NONCE_LEN + AG_SEAL_TAG_LEN)
#define AG_SEAL_MIN_SECRET 32 /* bytes of session.cookie_secret */

enum ag_seal_purpose { AG_SEAL_SESSION = 1, AG_SEAL_LOGIN_STATE };

struct ag_seal_key {
    uint8_t id;
    uint8_t key[AG_SEAL_KEY_LEN];
};

/** Derived keys plus the cookie attributes read from the config; process lifetime, built once per
 * config load. keys[0] seals; every key opens. Strings point into the config. */
struct ag_seal_ctx {
    enum ag_seal_purpose purpose;
    size_t n_keys;
    struct ag_seal_key keys[AG_SEAL_MAX_KEYS];
    const char *cookie_name; /* session.cookie_name, e.g. "_airgate" */
    const char *domain;      /* NULL: host-only */
    bool secure;             /* public_url is https */
    long lifetime_s;         /* session.lifetime_s */
    long idle_timeout_s;     /* 0: none */
};

/** Derives the keys for purpose from cfg's cookie secrets and copies the cookie attributes.
 * AG_ECONF when a secret is shorter than AG_SEAL_MIN_SECRET or there are too many. */
enum ag_rc ag_seal_ctx_init(struct ag_seal_ctx *ctx, const struct ag_config *cfg,
                            enum ag_seal_purpose purpose, struct ag_err *err) AG_WUR;

/** Wipes the keys. */
void ag_seal_ctx_wipe(struct ag_seal_ctx *ctx);

/** Encrypts pt under the current key with aad = header || name; returns base64url in the arena. */
enum ag_rc ag_seal_seal(struct ag_arena *a, const struct ag_seal_ctx *ctx, const char *name,
                        const uint8_t *pt, size_t ptlen, char **out, struct ag_err *err) AG_WUR;

/** Decodes and decrypts a value produced by ag_seal_seal for the same name under any known key.
 * The plaintext (NUL-terminated, in the arena) goes to *pt. AG_EPARSE for bad encoding or length,
 * AG_ECRYPTO for a wrong version, unknown key or failed authentication. */
enum ag_rc ag_seal_open(struct ag_arena *a, const struct ag_seal_ctx *ctx, const char *name,
                        const char *b64, size_t b64len, uint8_t **pt, size_t *ptlen,
                        struct ag_err *err) AG_WUR;

/** A Set-Cookie value: name=value; Path=path; [Domain;] Max-Age; HttpOnly; [Secure;]
 * SameSite=Lax. max_age <= 0 with an empty value clears the cookie (Max-Age=0 and an Expires in
 * the past for old clients). */
char *ag_seal_cookie_header(struct ag_arena *a, const struct ag_seal_ctx *ctx, const char *name,
                            const char *value, long max_age, const char *path);

/** One cookie of the request. */
struct ag_cookie {
    const char *name;
    const char *value;
};

/** Every cookie of the request (all Cookie headers) whose name starts with prefix, copied into
 * the arena, in order, at most max of them; returns the count. */
size_t ag_seal_cookies_with_prefix(struct ag_arena *a, const struct ag_http_request *req,
                                   const char *prefix, struct ag_cookie *out, size_t max);

#endif
