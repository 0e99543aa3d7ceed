/* The upstream request head: the request line per replica, the header block sent to every
 * replica (header policy, X-Forwarded-*, identity headers and the assertion), and the per-loop
 * cache of bearer decisions that skips most of it. See request.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/assertion/assertion.h"
#include "auth/jose/keycache.h"
#include "auth/login/login.h"
#include "core/arena.h"
#include "core/log.h"
#include "proxy/decide/authcache.h"
#include "proxy/decide/authpath.h"
#include "proxy/http/headers.h"
#include "proxy/runtime.h"
#include "proxy/stream/request.h"
#include "proxy/stream/sb.h"
#include "proxy/stream/shard.h"
#include "proxy/upstream/pool.h"

/* ---- the upstream request head ---- */

void ag_req_upstream_line(struct ag_req *r, const struct ag_replica *rep, const char **out,
                          size_t *len)
{
    struct ag_sb b;
    size_t tl = strlen(r->fwd_target);
    ag_sb_init(&b, r->arena, 64 + tl + strlen(rep->prefix) + strlen(rep->hosthdr));
    ag_sb_str(&b, r->req.method);
    ag_sb_put(&b, " ", 1);
    ag_sb_str(&b, rep->prefix);
    ag_sb_put(&b, r->fwd_target, tl);
    ag_sb_str(&b, " HTTP/1.1\r\n");
    if (!ag_http_header_get(&r->req, "Host")) /* HTTP/1.0 clients may send none */
        ag_sb_hdr(&b, "Host", rep->hosthdr);
    *out = b.p;
    *len = b.len;
}

static bool ag_req_idempotent(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0 ||
           strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0;
}

const char *ag_req_join(struct ag_arena *a, const struct ag_strlist *l)
{
    return ag_hdr_identity_list(a, (const char *const *)l->items, l->n);
}

static void ag_req_identity(struct ag_req *r, struct ag_sb *b, const struct ag_identity *id)
{
    struct ag_arena *a = r->arena; /* values encoded as headers.h says */
    ag_sb_hdr(b, "X-Forwarded-User", ag_hdr_identity_value(a, id->username));
    ag_sb_hdr(b, "X-Forwarded-Preferred-Username", ag_hdr_identity_value(a, id->username));
    if (id->email)
        ag_sb_hdr(b, "X-Forwarded-Email", ag_hdr_identity_value(a, id->email));
    if (id->first_name)
        ag_sb_hdr(b, "X-Forwarded-First-Name", ag_hdr_identity_value(a, id->first_name));
    if (id->last_name)
        ag_sb_hdr(b, "X-Forwarded-Last-Name", ag_hdr_identity_value(a, id->last_name));
    ag_sb_hdr(b, "X-Forwarded-Groups", ag_req_join(r->arena, &id->idp_roles));
    ag_sb_hdr(b, "X-Airflow-Roles", r->roles ? r->roles : "");
    if (!r->rt->signer)
        return;
    struct ag_assertion_claims ac = {
        .sub = id->subject,
        .preferred_username = id->username,
        .email = id->email,
        .given_name = id->first_name,
        .family_name = id->last_name,
        .roles = (const char *const *)id->airflow_roles.items,
        .n_roles = id->airflow_roles.n,
        .groups = (const char *const *)id->idp_roles.items,
        .n_groups = id->idp_roles.n,
    };
    const char *jws = NULL;
    struct ag_err err = {0};
    if (ag_assertion_sign(r->rt->signer, r->arena, &ac, (int64_t)time(NULL), &jws, &err) == AG_OK)
        ag_sb_hdr(b, "X-Airgate-Assertion", jws);
    else
        ag_log(AG_LOG_WARN, &r->lctx, "no X-Airgate-Assertion for this request: %s", err.msg);
}

/* Remembers this request's bearer decision on its loop (see authcache.h). */
static void ag_req_cache_put(struct ag_req *r, const char *block, size_t len)
{
    const struct ag_authz *z = &r->ap.authz;
    if (!ag_authpath_bearer_only(z))
        return;
    struct ag_shard *l = r->sh;
    if (!l->authcache) {
        l->authcache = calloc(1, sizeof(*l->authcache));
        if (!l->authcache)
            abort();
    }
    ag_authcache_put(l->authcache, z->tok, z->len, r->rt_gen,
                     ag_keycache_generation(r->rt->keys->kc), r->cache_until, block, len, r->user,
                     r->roles);
}

/* Forwards r with a cached identity block. */
static void ag_req_forward_cached(struct ag_req *r, const struct ag_authcache_entry *e)
{
    /* copies: the entry may be replaced while this request still runs */
    r->vheaders = ag_arena_memdup(r->arena, e->headers, e->headers_len);
    r->vheaders_len = e->headers_len;
    r->user = ag_arena_strdup(r->arena, e->user);
    r->roles = ag_arena_strdup(r->arena, e->roles);
    r->lctx.user = r->user;
    r->vid = NULL;
    r->verdict = AG_V_FORWARD;
    ag_metrics_decision(AG_DECISION_ALLOW);
}

/* A bearer request this loop already decided: forwards with the cached identity block. Which
 * requests may be answered from the cache is the precedence's call (ag_authpath_where). */
bool ag_req_cached_bearer(struct ag_req *r)
{
    struct ag_shard *l = r->sh;
    const struct ag_authz *z = &r->ap.authz;
    if (!l->authcache || !ag_authpath_bearer_only(z))
        return false;
    const struct ag_authcache_entry *e =
        ag_authcache_get(l->authcache, z->tok, z->len, r->rt_gen,
                         ag_keycache_generation(r->rt->keys->kc), (int64_t)time(NULL));
    if (!e)
        return false;
    ag_req_forward_cached(r, e);
    return true;
}

/* Remembers this request's session decision on its loop, keyed by the sealed cookie. */
static void ag_req_session_put(struct ag_req *r, const char *block, size_t len)
{
    struct ag_login *lg = r->rt->login;
    const char *key;
    size_t kl;
    if (!lg || !ag_login_session_key(lg, r->arena, &r->req, &key, &kl))
        return;
    struct ag_login_pin *pin = ag_login_pin_new(lg, r->vsession);
    if (!pin)
        return;
    struct ag_shard *l = r->sh;
    if (!l->sesscache) {
        l->sesscache = calloc(1, sizeof(*l->sesscache));
        if (!l->sesscache)
            abort();
    }
    ag_authcache_put_aux(l->sesscache, key, kl, r->rt_gen, 0, r->cache_until, block, len, r->user,
                         r->roles, pin, ag_login_pin_free);
}

bool ag_req_cached_session(struct ag_req *r)
{
    struct ag_shard *l = r->sh;
    struct ag_login *lg = r->rt->login;
    const struct ag_http_request *req = &r->req;
    /* what the precedence decides before the session check (decide/authpath.h) stays there */
    const struct ag_authpath_in *ap = &r->ap;
    if (!lg || !l->sesscache || ap->oauth2 || ap->logout || ap->public_route ||
        ap->body_too_large || ap->authz.n > 0 || !ap->session_cookie)
        return false;
    const char *key;
    size_t kl;
    if (!ag_login_session_key(lg, r->arena, req, &key, &kl))
        return false;
    const struct ag_authcache_entry *e =
        ag_authcache_get(l->sesscache, key, kl, r->rt_gen, 0, (int64_t)time(NULL));
    if (!e)
        return false;
    if (!ag_login_pin_valid(lg, e->aux)) { /* revoked, idle, refresh or renewal due: decide */
        ag_authcache_forget(l->sesscache, key, kl);
        return false;
    }
    ag_req_forward_cached(r, e);
    return true;
}

/* The header block sent to every replica (the request line is per replica). */
void ag_req_prepare(struct ag_req *r, const struct ag_identity *id)
{
    const struct ag_config *cfg = r->rt->cfg;
    const struct ag_http_request *req = &r->req;
    const char *conn_vals[16];
    size_t n_conn = 0;
    const char *client_xff = NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name;
        if (strcasecmp(name, "Connection") == 0 && n_conn < 16)
            conn_vals[n_conn++] = req->headers[i].value;
        else if (r->trusted && ag_hdr_name_eq(name, "X-Forwarded-For"))
            client_xff =
                client_xff ? ag_arena_printf(r->arena, "%s, %s", client_xff, req->headers[i].value)
                           : req->headers[i].value;
    }
    struct ag_sb b;
    ag_sb_init(&b, r->arena, 2048);
    const char *cookie_name = cfg->session.cookie_name ? cfg->session.cookie_name : "_airgate";
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name, *value = req->headers[i].value;
        if (ag_hdr_drop_request(name, conn_vals, n_conn) || strcasecmp(name, "X-Request-Id") == 0)
            continue;
        if (r->public_route && strcasecmp(name, "Authorization") == 0)
            continue;
        if (strcasecmp(name, "Cookie") == 0) {
            value = ag_hdr_cookie_filter(r->arena, value, cookie_name);
            if (!value)
                continue;
        }
        ag_sb_hdr(&b, name, value);
    }
    ag_sb_hdr(&b, "X-Forwarded-For",
              ag_hdr_xff_build(r->arena, client_xff, r->trusted, req->client_ip));
    ag_sb_hdr(&b, "X-Forwarded-Proto", req->https ? "https" : "http");
    if (req->host)
        ag_sb_hdr(&b, "X-Forwarded-Host", req->host);
    ag_sb_hdr(&b, "X-Request-Id", r->rid);
    size_t id_from = b.len;
    if (id)
        ag_req_identity(r, &b, id);
    else if (r->vheaders)
        ag_sb_put(&b, r->vheaders, r->vheaders_len);
    size_t id_to = b.len;
    bool head = strcmp(req->method, "HEAD") == 0;
    if (r->head.chunked && !head) {
        r->up_chunked = true;
        ag_sb_str(&b, "Transfer-Encoding: chunked\r\n");
    } else if (r->head.content_length >= 0 && !head) {
        ag_sb_str(&b, "Content-Length: ");
        ag_sb_num(&b, (unsigned long long)r->head.content_length);
        ag_sb_put(&b, "\r\n", 2);
    }
    ag_sb_put(&b, "\r\n", 2);
    r->up_head = b.p;
    r->up_head_len = b.len;
    if (id && r->cache_until > 0) {
        if (r->vsession)
            ag_req_session_put(r, b.p + id_from, id_to - id_from);
        else
            ag_req_cache_put(r, b.p + id_from, id_to - id_from);
    }
    r->retry_ok = ag_req_idempotent(req->method) && !r->head.chunked && r->head.content_length <= 0;
}
