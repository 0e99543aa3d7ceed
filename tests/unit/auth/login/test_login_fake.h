/* A fake OpenID provider for the login unit tests: RS256 keys made at run time, an authorization
 * step that records state/nonce/PKCE challenge, and a token endpoint (code and refresh grants with
 * rotation, invalid_grant on reuse, client authentication checks), plugged in via login hooks. */
#ifndef AG_TEST_LOGIN_FAKE_H
#define AG_TEST_LOGIN_FAKE_H

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>

#include "auth/idp/discovery.h"
#include "auth/jose/jwks.h"
#include "auth/login/login_int.h"
#include "conf/config.h"
#include "rolemap/rolemap.h"

#define FAKE_ISS "https://idp.test/realms/demo"
#define FAKE_NOW 1700000000LL

struct fake_idp {
    EVP_PKEY *key;
    struct ag_keyset *ks;
    struct ag_oidc_meta meta;
    bool reachable; /* /.well-known answers */
    bool down;      /* token endpoint unreachable */
    long long now;
    long access_ttl;
    char user[64];
    char roles[256]; /* comma-separated client roles */
    /* last authorization request */
    char state[128], nonce[128], challenge[128], redirect_uri[256], scope[128];
    char code[64];
    bool code_used;
    /* refresh token rotation */
    char refresh[128];
    int refresh_gen;
    bool revoked;
    /* misbehaviour switches */
    bool wrong_nonce, wrong_aud, wrong_sig, opaque_access;
    bool no_id_token_on_refresh; /* refresh answers without an id_token */
    int delay_ms;
    /* observations */
    int posts, refresh_posts;
    char last_authz[512], last_body[2048];
    pthread_mutex_t mu;
};

/* Test world: config, role map, login object wired to the fake. */
struct world {
    struct ag_arena *a;
    struct ag_config cfg;
    struct ag_rolemap *rm;
    struct ag_login *l;
    struct fake_idp idp;
};

struct world *world_new(enum ag_client_auth auth);
void world_free(struct world *w);

/** Connects the login object to the fake (done by world_new). */
void world_hook(struct world *w);

/** Re-creates the login object after w->cfg was changed. */
void world_reload(struct world *w);

/** Signs claims JSON with the fake's key (RS256, kid "k1"); malloc'ed. */
char *fake_sign(struct fake_idp *f, const char *claims_json);

/** Plays the browser at the IdP: takes the authorization Location, checks and records it, and
 * returns the callback query "code=..&state=.." (in a). */
const char *fake_authorize(struct world *w, const char *location);

/** First response header named name, or NULL. */
const char *resp_header(const struct ag_http_response *r, const char *name);

#endif
