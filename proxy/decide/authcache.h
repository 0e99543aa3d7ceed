/* A per-loop cache of bearer (and session-cookie) decisions: token -> the identity header block
 * airgate sends upstream (X-Forwarded-*, X-Airflow-Roles, X-Airgate-Assertion), with the user and
 * roles for the log. A hit skips the verified-token cache, the role map and the assertion signer,
 * and takes no lock (each loop owns its cache). Entries compare the whole token in constant time,
 * are tied to the runtime and key-set generation they were made under, and expire before the
 * token or the assertion inside them would. Pure: no sockets, no clock. */
#ifndef AG_PROXY_AUTHCACHE_H
#define AG_PROXY_AUTHCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AG_AUTHCACHE_SLOTS 1024 /* direct-mapped; a power of two */
#define AG_AUTHCACHE_MAX_TOKEN 16384

struct ag_authcache_entry {
    char *token;
    size_t token_len;
    int64_t expires;   /* wall-clock seconds: unusable from then on */
    uint64_t owner;    /* the runtime generation the decision was made under */
    uint64_t keys_gen; /* the key-set generation it was verified against */
    char *headers;     /* identity header lines, "Name: value\r\n" each */
    size_t headers_len;
    char *user, *roles;
    void *aux; /* the caller's: e.g. the session pin a cookie entry is re-checked with */
    void (*aux_free)(void *);
};

struct ag_authcache {
    struct ag_authcache_entry slots[AG_AUTHCACHE_SLOTS];
};

/** The entry for token when it is valid at now for owner and keys_gen, else NULL. The pointer
 * stays valid until the next put or free on c. */
const struct ag_authcache_entry *ag_authcache_get(struct ag_authcache *c, const char *token,
                                                  size_t len, uint64_t owner, uint64_t keys_gen,
                                                  int64_t now);

/** Stores a decision (copies everything), replacing whatever shared its slot. Tokens over
 * AG_AUTHCACHE_MAX_TOKEN and entries already expired are not stored. */
void ag_authcache_put(struct ag_authcache *c, const char *token, size_t len, uint64_t owner,
                      uint64_t keys_gen, int64_t expires, const char *headers, size_t headers_len,
                      const char *user, const char *roles);

/** ag_authcache_put with an aux pointer the entry owns (aux_free(aux) when it is dropped; also
 * when it is not stored). */
void ag_authcache_put_aux(struct ag_authcache *c, const char *token, size_t len, uint64_t owner,
                          uint64_t keys_gen, int64_t expires, const char *headers,
                          size_t headers_len, const char *user, const char *roles, void *aux,
                          void (*aux_free)(void *));

/** Drops the entry for token, if any (e.g. when its aux no longer holds). */
void ag_authcache_forget(struct ag_authcache *c, const char *token, size_t len);

/** Frees every entry (c itself is the caller's). */
void ag_authcache_clear(struct ag_authcache *c);

#endif
