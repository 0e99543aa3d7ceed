/* The configuration's data: struct ag_config and the value types it holds. A leaf header (it
 * includes nothing from conf/), so the loader's internal headers can name the config without
 * including the loader's API (conf/config.h). */
#ifndef AG_CONF_TYPES_H
#define AG_CONF_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ag_arena;
struct ag_conf_origin;

struct ag_strlist {
    size_t n;
    char **items;
};

/** Secret bytes (not necessarily text); wiped when the config is released. */
struct ag_secret {
    unsigned char *data;
    size_t len;
};

struct ag_secretlist {
    size_t n;
    struct ag_secret *items;
};

struct ag_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

/** One entry of roles.map: an IdP role and the Airflow roles it grants (one or more). */
struct ag_role_rule {
    char *idp_role;
    struct ag_strlist airflow_roles;
};

enum ag_balance { AG_BALANCE_ROUND_ROBIN = 0, AG_BALANCE_LEAST_CONN };
enum ag_client_auth { AG_CLIENT_AUTH_BASIC = 0, AG_CLIENT_AUTH_POST };

struct ag_config {
    char *source; /* the file it was loaded from */

    char *listen;      /* "host:port", "[v6]:port" */
    char *listen_host; /* parsed; "0.0.0.0", "::", "127.0.0.1", ... */
    uint16_t listen_port;

    bool tls_enabled;
    char *tls_cert_file;
    char *tls_key_file;

    char *public_url; /* no trailing slash */
    bool public_https;
    char *redirect_uri; /* public_url + "/oauth2/callback" */

    size_t n_trusted_proxies;
    struct ag_cidr *trusted_proxies;
    struct ag_strlist public_routes; /* [METHOD=]regex, forwarded without sign-in */

    struct {
        enum { AG_CONF_LOG_DEBUG, AG_CONF_LOG_INFO, AG_CONF_LOG_WARN, AG_CONF_LOG_ERROR } level;
        enum { AG_CONF_LOG_JSON, AG_CONF_LOG_TEXT, AG_CONF_LOG_GCP } format;
        char *gcp_project_id; /* NULL: gcp lines carry no trace field */
    } log;

    struct {
        char *listen;      /* libmicrohttpd: /metrics, /healthz, /readyz, /statusz */
        char *listen_host; /* parsed, like the top-level listen */
        uint16_t listen_port;
    } management;

    struct {
        char *issuer;
        char *client_id;
        struct ag_secret client_secret;
        struct ag_strlist scopes;
        struct ag_strlist allowed_algs;
        char *audience;              /* accepted `aud` besides client_id; defaults to client_id */
        struct ag_strlist audiences; /* more accepted `aud` values */
        bool accept_azp_as_audience; /* azp == client_id stands in for aud (off by default) */
        long leeway_s;
        char *ca_file; /* NULL: system CA bundle */
        long http_timeout_ms;
        long jwks_refresh_s;     /* periodic refresh of the key set */
        long jwks_min_refetch_s; /* at most one unknown-kid re-fetch per window */
        long max_token_bytes;
        enum ag_client_auth token_endpoint_auth;
        struct ag_secretlist decryption_key; /* PEM private keys for JWE; empty: JWE refused */
        struct ag_strlist allowed_enc_algs;  /* JWE alg and enc names */
    } oidc;

    struct {
        char *cookie_name;
        struct ag_secret cookie_secret;
        struct ag_secretlist previous_cookie_secrets; /* still accepted for decryption */
        long lifetime_s;
        long idle_timeout_s; /* 0: no idle timeout */
        long refresh_before_s;
        char *cookie_domain; /* NULL: host-only cookie */
    } session;

    struct {
        struct ag_strlist claims; /* paths into the verified token */
        struct ag_strlist custom; /* Airflow roles beyond the built-ins that roles.map may name */
        size_t n_rules;
        struct ag_role_rule *rules;
        char *unmapped; /* NULL means deny; otherwise the Airflow role given to users with none */
    } roles;

    struct {
        struct ag_strlist servers;
        char *health_path;
        long health_interval_s;
        long health_timeout_ms;
        long rise;
        long fall;
        enum ag_balance balance;
        long resolve_interval_s;
        char *ca_file;
        long connect_timeout_ms;
        long response_timeout_s;
    } upstreams;

    struct {
        long max_header_bytes;
        long max_body_bytes;
        long max_connections;
        long max_connections_per_ip;  /* peers outside trusted_proxies; 0: no cap */
        long client_header_timeout_s; /* time allowed to send the request head (slowloris) */
        long idle_timeout_s;          /* keep-alive idle connections */
        long client_body_timeout_s;   /* time for the body, + 1 s per client_body_min_rate bytes */
        long client_body_min_rate;    /* bytes/s; 0 timeout: no body deadline */
        long drain_timeout_s;         /* SIGTERM: how long in-flight requests may finish */
        long threads;                 /* 0: one per core */
    } server;

    struct {
        struct ag_secret key; /* PEM private key; empty: derived from the cookie secret */
        char *audience;
        long ttl_s;
    } assertion;

    struct {
        char *redis_url; /* NULL: no shared state */
        struct ag_secret password;
        char *key_prefix;
        bool serve_when_down; /* on_unavailable: serve */
        long connect_timeout_ms;
        long command_timeout_ms;
        long resync_s;
    } state;

    /* private */
    struct ag_arena *arena;
    atomic_int refs;
    struct ag_conf_origin *origins; /* where each option came from, indexed like the option table */
};

#endif
