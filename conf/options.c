#include "conf/options.h"

#include <stdio.h>
#include <string.h>

#include "conf/types.h"

#define FLD(f) offsetof(struct ag_config, f), 0, sizeof(((struct ag_config *)0)->f)
#define FLD2(n, p) offsetof(struct ag_config, n), offsetof(struct ag_config, p), 0
#define REQ AG_OPTF_REQUIRED
/* A listen address: the text at off, the parsed host (char *) at off2, the port (uint16_t) at
 * the offset kept in size. */
#define LFLD(t, h, p)                                                                              \
    offsetof(struct ag_config, t), offsetof(struct ag_config, h), offsetof(struct ag_config, p)

static const char *const ag_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const ag_formats[] = {"json", "text", "gcp", NULL};
static const char *const ag_client_auths[] = {"client_secret_basic", "client_secret_post", NULL};
static const char *const ag_unavailable[] = {"serve", "deny", NULL};
static const char *const ag_balances[] = {"round_robin", "least_conn", NULL};
static const char *const ag_true_false[] = {"true", "false", NULL};

/* Order matters: it is the print and reference order, and a "${key}" default may only name a key
 * that comes earlier. */
const struct ag_conf_opt ag_conf_opts[] = {
    {"listen", AG_OPT_LISTEN, LFLD(listen, listen_host, listen_port), 0, "0.0.0.0:4180", 0, 0, NULL,
     "Address to serve on: `host:port` or `[v6]:port` (host an IP literal); port 0 picks a free "
     "port."},
    {"public_url", AG_OPT_URL, FLD(public_url), REQ | AG_OPTF_NO_SLASH, NULL, 0, 0, NULL,
     "External URL users reach Airflow at; `redirect_uri` is this + `/oauth2/callback`. https "
     "makes cookies `Secure`."},
    {"trusted_proxies", AG_OPT_CIDRLIST, FLD2(n_trusted_proxies, trusted_proxies), 0, "", 0, 0,
     NULL,
     "CIDRs whose `X-Forwarded-*` headers are believed (e.g. GCLB `35.191.0.0/16`, "
     "`130.211.0.0/22`)."},
    {"public_routes", AG_OPT_STRLIST, FLD(public_routes), 0, "", 0, 0, NULL,
     "`[METHOD=]regex` on the path (POSIX extended, not anchored for you: `^/health$`), e.g. "
     "`GET=^/health$`; a match is forwarded without sign-in and without identity headers (a "
     "client's own still stripped, Authorization dropped). A path with a `.`/`..` segment or "
     "a `%` escape never matches. Keep patterns narrow: `^/api` also opens `/api/v1/dags`."},
    {"tls.cert_file", AG_OPT_PATH, FLD(tls_cert_file), 0, NULL, 0, 0, NULL,
     "PEM certificate chain; with `tls.key_file`, airgate serves HTTPS."},
    {"tls.key_file", AG_OPT_PATH, FLD(tls_key_file), 0, NULL, 0, 0, NULL,
     "PEM private key for `tls.cert_file`."},
    {"log.level", AG_OPT_ENUM, FLD(log.level), 0, "info", 0, 0, ag_levels,
     "Minimum level logged: `debug`, `info`, `warn`, `error`."},
    {"log.format", AG_OPT_ENUM, FLD(log.format), 0, "json", 0, 0, ag_formats,
     "`json` (one object per line), `text`, or `gcp`: one JSON object per line with Cloud "
     "Logging's fields (`severity`, `message`, `time`, access lines with `httpRequest`)."},
    {"log.gcp_project_id", AG_OPT_STRING, FLD(log.gcp_project_id), 0, NULL, 0, 0, NULL,
     "Google Cloud project id (`log.format: gcp` only); when set, access lines carry "
     "`logging.googleapis.com/trace` = `projects/<id>/traces/<trace>` from the load balancer's "
     "`X-Cloud-Trace-Context` header."},
    {"management.listen", AG_OPT_LISTEN,
     LFLD(management.listen, management.listen_host, management.listen_port), 0, "127.0.0.1:9090",
     0, 0, NULL,
     "Management listener (libmicrohttpd): `/metrics`, `/statusz`, `/healthz`, `/readyz`; "
     "`host:port` as for `listen`, never the same port. Keep it off the internet (Kubernetes: "
     "`0.0.0.0:9090` for in-cluster scraping). Read at start."},
    {"oidc.issuer", AG_OPT_URL, FLD(oidc.issuer), REQ, NULL, 0, 0, NULL,
     "Issuer URL; discovery is issuer + `/.well-known/openid-configuration`."},
    {"oidc.client_id", AG_OPT_STRING, FLD(oidc.client_id), REQ, NULL, 0, 0, NULL,
     "OAuth client id of airgate in the realm."},
    {"oidc.client_secret", AG_OPT_SECRET, FLD(oidc.client_secret), REQ, NULL, 1, 0, NULL,
     "OAuth client secret."},
    {"oidc.scopes", AG_OPT_STRLIST, FLD(oidc.scopes), 0, "openid,profile,email", 0, 0, NULL,
     "Scopes requested at login; must include `openid`."},
    {"oidc.allowed_algs", AG_OPT_STRLIST, FLD(oidc.allowed_algs), 0, "RS256,PS256,ES256", 0, 0,
     NULL,
     "JWS algorithms accepted: RS/PS/ES 256/384/512, EdDSA; HS256/384/512 only if listed; "
     "`none` is always rejected."},
    {"oidc.audience", AG_OPT_STRING, FLD(oidc.audience), 0, "${oidc.client_id}", 0, 0, NULL,
     "Accepted `aud` of bearer tokens besides the client id: `aud` must contain one of the two."},
    {"oidc.audiences", AG_OPT_STRLIST, FLD(oidc.audiences), 0, "", 0, 0, NULL,
     "More accepted `aud` values of bearer tokens (other APIs' tokens Airflow may take): `aud` "
     "must contain the client id, `oidc.audience` or one of these. Default none."},
    {"oidc.accept_azp_as_audience", AG_OPT_ENUM, FLD(oidc.accept_azp_as_audience), 0, "false", 0, 0,
     ag_true_false,
     "`true`: a bearer token whose `aud` names neither is still accepted when `azp` is the client "
     "id. Off: add Keycloak's Audience mapper to the client instead (docs/keycloak.md)."},
    {"oidc.leeway_s", AG_OPT_INT, FLD(oidc.leeway_s), 0, "60", 0, 600, NULL,
     "Clock skew tolerated on `exp`/`nbf`/`iat`, in seconds."},
    {"oidc.ca_file", AG_OPT_PATH, FLD(oidc.ca_file), 0, NULL, 0, 0, NULL,
     "PEM CA bundle for the IdP's TLS; unset: the system bundle."},
    {"oidc.http_timeout_ms", AG_OPT_INT, FLD(oidc.http_timeout_ms), 0, "5000", 100, 60000, NULL,
     "Timeout of each request to the IdP (discovery, JWKS, token)."},
    {"oidc.jwks_refresh_s", AG_OPT_INT, FLD(oidc.jwks_refresh_s), 0, "3600", 60, 86400, NULL,
     "Periodic re-fetch of the key set."},
    {"oidc.jwks_min_refetch_s", AG_OPT_INT, FLD(oidc.jwks_min_refetch_s), 0, "30", 1, 3600, NULL,
     "At most one unknown-`kid` re-fetch per this many seconds."},
    {"oidc.max_token_bytes", AG_OPT_INT, FLD(oidc.max_token_bytes), 0, "65536", 1024, 1048576, NULL,
     "Longest token accepted from the token endpoint at login. Bearer tokens are bounded by "
     "`server.max_header_bytes` (431 above it); the CLI accepts up to 1 MiB."},
    {"oidc.token_endpoint_auth", AG_OPT_ENUM, FLD(oidc.token_endpoint_auth), 0,
     "client_secret_basic", 0, 0, ag_client_auths,
     "How the client authenticates at the token endpoint: `client_secret_basic` or "
     "`client_secret_post`."},
    {"oidc.decryption_key", AG_OPT_SECRETLIST, FLD(oidc.decryption_key), AG_OPTF_ONE_OK, "", 1, 0,
     NULL,
     "PEM private key(s) (RSA >= 2048 bits, EC P-256/P-384) that the IdP encrypts ID tokens to "
     "(JWE); use `oidc.decryption_key_file` (a path, or a list of paths to rotate). Public halves "
     "are served at `/.well-known/airgate/jwks.json` (`use: enc`). Unset: a JWE is refused."},
    {"oidc.allowed_enc_algs", AG_OPT_STRLIST, FLD(oidc.allowed_enc_algs), 0,
     "RSA-OAEP,ECDH-ES,A128GCM,A256GCM,A128CBC-HS256,A256CBC-HS512", 0, 0, NULL,
     "JWE `alg` and `enc` accepted: RSA-OAEP, ECDH-ES, RSA1_5 (only if listed); A128GCM, "
     "A256GCM, A128CBC-HS256, A256CBC-HS512. RSA-OAEP-256 is not supported (Debian 12's cjose)."},
    {"session.cookie_name", AG_OPT_STRING, FLD(session.cookie_name), 0, "_airgate", 0, 0, NULL,
     "Session cookie name (chunks get `_1`, `_2`, ... appended)."},
    {"session.cookie_secret", AG_OPT_SECRET, FLD(session.cookie_secret), REQ, NULL, 32, 0, NULL,
     "Key material for the AES-256-GCM session cookie; at least 32 bytes (`openssl rand "
     "-base64 32`); same on every replica."},
    {"session.previous_cookie_secrets", AG_OPT_SECRETLIST, FLD(session.previous_cookie_secrets), 0,
     "", 32, 0, NULL, "Old cookie secrets still accepted for reading (rotation)."},
    {"session.lifetime_s", AG_OPT_INT, FLD(session.lifetime_s), 0, "86400", 60, 31536000, NULL,
     "Absolute session lifetime (Airflow's `PERMANENT_SESSION_LIFETIME`)."},
    {"session.idle_timeout_s", AG_OPT_INT, FLD(session.idle_timeout_s), 0, "0", 0, 31536000, NULL,
     "Session ends after this long without requests; 0: no idle timeout."},
    {"session.refresh_before_s", AG_OPT_INT, FLD(session.refresh_before_s), 0, "60", 0, 3600, NULL,
     "Refresh the access token this long before it expires."},
    {"session.cookie_domain", AG_OPT_STRING, FLD(session.cookie_domain), 0, NULL, 0, 0, NULL,
     "Cookie `Domain`; unset: a host-only cookie (recommended)."},
    {"roles.claims", AG_OPT_STRLIST, FLD(roles.claims), AG_OPTF_CLAIM_PATH,
     "resource_access.${oidc.client_id}.roles", 0, 0, NULL,
     "Dotted paths into the verified token where IdP roles are read; a key containing dots "
     "is written in double quotes: `resource_access.\"airflow.prod\".roles`."},
    {"roles.custom", AG_OPT_STRLIST, FLD(roles.custom), 0, "", 0, 0, NULL,
     "Airflow roles created beyond the built-in `Admin`, `Op`, `User`, `Viewer`, `Public` (e.g. "
     "`[DataEng]`); `roles.map` and `roles.unmapped` may name only these and the built-ins."},
    {"roles.map", AG_OPT_ROLEMAP, FLD2(roles.n_rules, roles.rules), REQ, NULL, 0, 0, NULL,
     "IdP role -> Airflow role (or list of roles); may be empty only when `roles.unmapped` "
     "names a role."},
    {"roles.unmapped", AG_OPT_STRING, FLD(roles.unmapped), 0, "deny", 0, 0, NULL,
     "`deny` (403 for users with no mapped role) or the Airflow role they get, e.g. `Public` (a "
     "built-in role or one of `roles.custom`)."},
    {"upstreams.servers", AG_OPT_URLLIST, FLD(upstreams.servers), REQ, NULL, 0, 0, NULL,
     "Airflow webserver replicas, `http(s)://host:port` (a DNS name is re-resolved)."},
    {"upstreams.health_path", AG_OPT_STRING, FLD(upstreams.health_path), 0, "/health", 0, 0, NULL,
     "Path probed on each replica."},
    {"upstreams.health_interval_s", AG_OPT_INT, FLD(upstreams.health_interval_s), 0, "10", 1, 3600,
     NULL, "Seconds between health probes."},
    {"upstreams.health_timeout_ms", AG_OPT_INT, FLD(upstreams.health_timeout_ms), 0, "2000", 100,
     60000, NULL, "Timeout of one health probe."},
    {"upstreams.rise", AG_OPT_INT, FLD(upstreams.rise), 0, "2", 1, 100, NULL,
     "Consecutive good probes before a replica gets traffic."},
    {"upstreams.fall", AG_OPT_INT, FLD(upstreams.fall), 0, "3", 1, 100, NULL,
     "Consecutive failed probes before a replica is taken out."},
    {"upstreams.balance", AG_OPT_ENUM, FLD(upstreams.balance), 0, "round_robin", 0, 0, ag_balances,
     "`round_robin` or `least_conn`."},
    {"upstreams.resolve_interval_s", AG_OPT_INT, FLD(upstreams.resolve_interval_s), 0, "30", 0,
     86400, NULL, "Re-resolve DNS names of servers this often; 0: resolve once."},
    {"upstreams.ca_file", AG_OPT_PATH, FLD(upstreams.ca_file), 0, NULL, 0, 0, NULL,
     "PEM CA bundle for https upstreams; unset: the system bundle."},
    {"upstreams.connect_timeout_ms", AG_OPT_INT, FLD(upstreams.connect_timeout_ms), 0, "3000", 100,
     60000, NULL, "Timeout to connect to a replica."},
    {"upstreams.response_timeout_s", AG_OPT_INT, FLD(upstreams.response_timeout_s), 0, "60", 1,
     3600, NULL,
     "A replica making no progress (connecting aside) for this long gets 504, or its answer is "
     "cut."},
    {"server.max_header_bytes", AG_OPT_INT, FLD(server.max_header_bytes), 0, "65536", 4096, 1048576,
     NULL, "Largest request head accepted (431 above)."},
    {"server.max_body_bytes", AG_OPT_INT, FLD(server.max_body_bytes), 0, "10485760", 0, 1073741824,
     NULL, "Largest request body accepted (413 above)."},
    {"server.max_connections", AG_OPT_INT, FLD(server.max_connections), 0, "1024", 1, 100000, NULL,
     "Concurrent client connections. At the cap, the oldest connections that have not sent a "
     "whole request head yet are closed to make room before new ones are refused."},
    {"server.max_connections_per_ip", AG_OPT_INT, FLD(server.max_connections_per_ip), 0, "64", 0,
     100000, NULL,
     "Concurrent client connections from one address, except addresses in `trusted_proxies` "
     "(behind a load balancer every peer is one of its front ends); 0: no per-address cap."},
    {"server.client_header_timeout_s", AG_OPT_INT, FLD(server.client_header_timeout_s), 0, "10", 1,
     300, NULL, "Time a client has to send the request head (slowloris)."},
    {"server.client_body_timeout_s", AG_OPT_INT, FLD(server.client_body_timeout_s), 0, "60", 0,
     3600, NULL,
     "Time a request body has to arrive, extended by 1 s per `server.client_body_min_rate` bytes "
     "received (slow uploads); 0: no limit."},
    {"server.client_body_min_rate", AG_OPT_INT, FLD(server.client_body_min_rate), 0, "16384", 1,
     1073741824, NULL,
     "Bytes per second of request body that extend `server.client_body_timeout_s` by 1 s."},
    {"server.idle_timeout_s", AG_OPT_INT, FLD(server.idle_timeout_s), 0, "60", 1, 3600, NULL,
     "Keep-alive idle connection timeout."},
    {"server.drain_timeout_s", AG_OPT_INT, FLD(server.drain_timeout_s), 0, "25", 0, 3600, NULL,
     "On SIGTERM, how long in-flight requests may finish."},
    {"server.threads", AG_OPT_INT, FLD(server.threads), 0, "0", 0, 256, NULL,
     "Event loop threads (each serves its share of connections); 0: one per CPU the process may "
     "use. Read at start."},
    {"assertion.key", AG_OPT_SECRET, FLD(assertion.key), 0, NULL, 1, 0, NULL,
     "PEM private key signing `X-Airgate-Assertion`; unset: derived from the cookie secret."},
    {"assertion.audience", AG_OPT_STRING, FLD(assertion.audience), 0, "airflow", 0, 0, NULL,
     "`aud` of `X-Airgate-Assertion`; the Airflow side (`deploy/airflow/`, `AIRGATE_AUDIENCE`) "
     "defaults to the same `airflow`."},
    {"assertion.ttl_s", AG_OPT_INT, FLD(assertion.ttl_s), 0, "60", 10, 3600, NULL,
     "Lifetime of `X-Airgate-Assertion`."},
    {"state.redis_url", AG_OPT_STRING, FLD(state.redis_url), 0, NULL, 0, 0, NULL,
     "Shared state between replicas: `redis://[user@]host:port/db` (Memorystore, Redis >= 6); "
     "unset: each replica alone. No TLS (`rediss://` is refused): keep Redis inside the VPC."},
    {"state.password", AG_OPT_SECRET, FLD(state.password), 0, NULL, 1, 0, NULL,
     "Redis AUTH password (use `state.password_file`); never put it in the URL."},
    {"state.key_prefix", AG_OPT_STRING, FLD(state.key_prefix), 0, "airgate:", 0, 0, NULL,
     "Prefix of every Redis key and channel (one per Airflow behind the same Redis)."},
    {"state.on_unavailable", AG_OPT_ENUM, FLD(state.serve_when_down), 0, "serve", 0, 0,
     ag_unavailable,
     "Redis down: `serve` (sessions go on with the last known revocations) or `deny` (503 for "
     "session traffic)."},
    {"state.connect_timeout_ms", AG_OPT_INT, FLD(state.connect_timeout_ms), 0, "1000", 50, 60000,
     NULL, "Time to connect to Redis and finish AUTH before retrying."},
    {"state.command_timeout_ms", AG_OPT_INT, FLD(state.command_timeout_ms), 0, "500", 10, 60000,
     NULL, "Longest wait for one Redis answer (login state, refresh lock)."},
    {"state.resync_s", AG_OPT_INT, FLD(state.resync_s), 0, "30", 1, 3600, NULL,
     "Re-read every revocation from Redis this often (and after every reconnect)."},
};
const size_t ag_conf_nopts = sizeof(ag_conf_opts) / sizeof(ag_conf_opts[0]);

long ag_conf_opt_find(const char *path)
{
    for (size_t i = 0; i < ag_conf_nopts; i++) {
        if (strcmp(ag_conf_opts[i].path, path) == 0)
            return (long)i;
    }
    return -1;
}

bool ag_conf_section_exists(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < ag_conf_nopts; i++) {
        if (strncmp(ag_conf_opts[i].path, path, n) == 0 && ag_conf_opts[i].path[n] == '.')
            return true;
    }
    return false;
}

bool ag_conf_opt_is_secret(const struct ag_conf_opt *o)
{
    return o->type == AG_OPT_SECRET || o->type == AG_OPT_SECRETLIST;
}

const char *ag_conf_type_name(enum ag_conf_type t)
{
    switch (t) {
    case AG_OPT_STRING:
        return "string";
    case AG_OPT_PATH:
        return "file path";
    case AG_OPT_URL:
        return "URL";
    case AG_OPT_INT:
        return "integer";
    case AG_OPT_ENUM:
        return "one of";
    case AG_OPT_STRLIST:
        return "list of strings";
    case AG_OPT_URLLIST:
        return "list of URLs";
    case AG_OPT_SECRET:
        return "secret";
    case AG_OPT_SECRETLIST:
        return "list of secrets";
    case AG_OPT_CIDRLIST:
        return "list of CIDRs";
    case AG_OPT_ROLEMAP:
        return "role map";
    case AG_OPT_LISTEN:
        return "listen address";
    }
    return "value";
}

void ag_conf_opt_env_name(const struct ag_conf_opt *o, int file, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    int n = snprintf(out, outlen, "AIRGATE_%s%s", o->path, file ? "_FILE" : "");
    if (n < 0)
        return;
    for (char *p = out; *p; p++) {
        if (*p == '.')
            *p = '_';
        else if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    }
}

size_t ag_conf_edit_distance(const char *a, const char *b)
{
    enum { CAP = 100 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= CAP || lb >= CAP)
        return CAP;
    size_t row[CAP + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Close enough to suggest: a typo or two, or a third of the word for long keys. */
static bool ag_conf_close(size_t dist, const char *word)
{
    size_t len = strlen(word);
    return dist > 0 && (dist <= 2 || dist <= len / 3);
}

static void ag_conf_consider(const char *unknown, const char *cand, size_t *best,
                             const char **best_s, char *buf, size_t buflen)
{
    size_t d = ag_conf_edit_distance(unknown, cand);
    if (d < *best && ag_conf_close(d, unknown)) {
        *best = d;
        snprintf(buf, buflen, "%s", cand);
        *best_s = buf;
    }
}

const char *ag_conf_suggest_key(const char *unknown, char *buf, size_t buflen)
{
    size_t best = (size_t)-1;
    const char *best_s = NULL;
    char cand[128];
    for (size_t i = 0; i < ag_conf_nopts; i++) {
        const struct ag_conf_opt *o = &ag_conf_opts[i];
        ag_conf_consider(unknown, o->path, &best, &best_s, buf, buflen);
        if (ag_conf_opt_is_secret(o)) {
            snprintf(cand, sizeof(cand), "%s_file", o->path);
            ag_conf_consider(unknown, cand, &best, &best_s, buf, buflen);
        }
        const char *dot = strrchr(o->path, '.');
        if (dot) {
            /* the section alone ("oidc") */
            snprintf(cand, sizeof(cand), "%.*s", (int)(dot - o->path), o->path);
            ag_conf_consider(unknown, cand, &best, &best_s, buf, buflen);
        }
    }
    if (best_s)
        return best_s;
    /* A known key in the wrong section: "client_id" at the top level -> "oidc.client_id". */
    const char *last = strrchr(unknown, '.');
    last = last ? last + 1 : unknown;
    for (size_t i = 0; i < ag_conf_nopts; i++) {
        const char *dot = strrchr(ag_conf_opts[i].path, '.');
        if (dot && strcmp(dot + 1, last) == 0) {
            snprintf(buf, buflen, "%s", ag_conf_opts[i].path);
            return buf;
        }
    }
    return NULL;
}

const char *ag_conf_suggest_env(const char *unknown, char *buf, size_t buflen)
{
    size_t best = (size_t)-1;
    const char *best_s = NULL;
    char cand[128];
    for (size_t i = 0; i < ag_conf_nopts; i++) {
        for (int file = 0; file <= (ag_conf_opt_is_secret(&ag_conf_opts[i]) ? 1 : 0); file++) {
            ag_conf_opt_env_name(&ag_conf_opts[i], file, cand, sizeof(cand));
            ag_conf_consider(unknown, cand, &best, &best_s, buf, buflen);
        }
    }
    return best_s;
}

const char *ag_conf_suggest_word(const char *unknown, const char *const *words)
{
    size_t best = (size_t)-1;
    const char *best_s = NULL;
    for (size_t i = 0; words[i]; i++) {
        size_t d = ag_conf_edit_distance(unknown, words[i]);
        if (d < best && ag_conf_close(d, unknown)) {
            best = d;
            best_s = words[i];
        }
    }
    return best_s;
}
