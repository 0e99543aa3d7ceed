/* Everything a request needs that a reload may replace: the config, the compiled role map, the
 * JWT policy, the key cache and the assertion signer. Reference-counted: each request holds one
 * reference, so SIGHUP swaps in a new runtime without freeing anything under a request. */
#ifndef AG_PROXY_RUNTIME_H
#define AG_PROXY_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>

#include "auth/jose/jwt.h"
#include "conf/config.h"
#include "core/err.h"
#include "core/route.h"

struct ag_keycache;
struct ag_rolemap;
struct ag_assertion_signer;
struct ag_login;
struct ag_arena;

/** The key cache, shared between runtimes while the issuer stays the same. */
struct ag_kc_holder {
    struct ag_keycache *kc;
    atomic_int refs;
    struct ag_runtime *reap_next; /* on the reaper's queue (runtime.c) */
};

struct ag_runtime {
    struct ag_config *cfg;
    struct ag_arena *arena;
    struct ag_rolemap *rolemap;
    struct ag_jwt_policy policy;
    struct ag_kc_holder *keys;
    struct ag_assertion_signer *signer; /* NULL when the signer is not built in */
    struct ag_login *login;             /* browser login and sessions (auth/login.h) */
    struct ag_routes public_routes;     /* forwarded without sign-in */
    const char *jwks; /* /.well-known/airgate/jwks.json: assertion + decryption keys; NULL: none */
    atomic_int refs;
    struct ag_runtime *reap_next; /* on the reaper's queue (runtime.c) */
};

/** Builds a runtime from cfg (takes a reference to it). prev (may be NULL) lends its key cache
 * when the issuer and its fetch options are unchanged; otherwise a new one is created and started
 * (a failed first fetch is logged, not fatal: /readyz stays 503 until keys load). */
enum ag_rc ag_runtime_new(struct ag_config *cfg, const struct ag_runtime *prev,
                          struct ag_runtime **out, struct ag_err *err) AG_WUR;

struct ag_runtime *ag_runtime_ref(struct ag_runtime *rt);

/** Drops a reference. The last hands the runtime to a reaper thread, which frees it (stopping
 * and joining a key cache no other runtime uses): never blocks, so any thread may call it. */
void ag_runtime_unref(struct ag_runtime *rt);

/** Waits until every runtime whose last reference was dropped is freed. Blocks: call it from
 * the thread that stops the proxy, never from an event loop. */
void ag_runtime_reap_wait(void);

/** True when the key cache holds keys. */
bool ag_runtime_keys_ready(const struct ag_runtime *rt);

#endif
