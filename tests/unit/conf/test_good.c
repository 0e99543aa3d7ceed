/* Valid configs: defaults, environment overlay, *_file secrets, redaction, reference counting. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/options.h"
#include "conf_test_util.h"

static char *const no_env[] = {NULL};

#define WITH_LEEWAY_30 L_PUB L_OIDC "  leeway_s: 30\n" L_SESS L_ROLES L_UP

Test(good, defaults)
{
    struct ag_config *c = ct_load(BASE, no_env);
    cr_assert_str_eq(c->listen, "0.0.0.0:4180");
    cr_assert_str_eq(c->listen_host, "0.0.0.0");
    cr_assert_eq(c->listen_port, 4180);
    cr_assert_eq(c->tls_enabled, false);
    cr_assert_str_eq(c->public_url, "https://airflow.example.com");
    cr_assert(c->public_https);
    cr_assert_str_eq(c->redirect_uri, "https://airflow.example.com/oauth2/callback");
    cr_assert_eq(c->n_trusted_proxies, 0);
    cr_assert_eq(c->log.level, AG_CONF_LOG_INFO);
    cr_assert_eq(c->log.format, AG_CONF_LOG_JSON);
    cr_assert_null(c->log.gcp_project_id);
    cr_assert_eq(c->oidc.scopes.n, 3);
    cr_assert_str_eq(c->oidc.scopes.items[0], "openid");
    cr_assert_str_eq(c->oidc.scopes.items[2], "email");
    cr_assert_eq(c->oidc.allowed_algs.n, 3);
    cr_assert_str_eq(c->oidc.allowed_algs.items[1], "PS256");
    cr_assert_str_eq(c->oidc.audience, "airflow", "audience defaults to the client id");
    cr_assert_eq(c->oidc.audiences.n, 0, "no more audiences by default");
    cr_assert_eq(c->oidc.leeway_s, 60);
    cr_assert_null(c->oidc.ca_file);
    cr_assert_eq(c->oidc.token_endpoint_auth, AG_CLIENT_AUTH_BASIC);
    cr_assert_str_eq(c->session.cookie_name, "_airgate");
    cr_assert_eq(c->session.lifetime_s, 86400);
    cr_assert_eq(c->session.previous_cookie_secrets.n, 0);
    cr_assert_eq(c->roles.claims.n, 1);
    cr_assert_str_eq(c->roles.claims.items[0], "resource_access.airflow.roles");
    cr_assert_null(c->roles.unmapped, "unmapped defaults to deny (NULL)");
    cr_assert_eq(c->roles.n_rules, 1);
    cr_assert_str_eq(c->roles.rules[0].idp_role, "airflow_admin");
    cr_assert_str_eq(c->roles.rules[0].airflow_roles.items[0], "Admin");
    cr_assert_str_eq(c->upstreams.health_path, "/health");
    cr_assert_eq(c->upstreams.balance, AG_BALANCE_ROUND_ROBIN);
    cr_assert_eq(c->upstreams.rise, 2);
    cr_assert_eq(c->upstreams.fall, 3);
    cr_assert_eq(c->server.threads, 0);
    cr_assert_eq(c->assertion.key.len, 0);
    cr_assert_str_eq(c->assertion.audience, "airflow"); /* the Airflow side's default too */
    cr_assert_eq(c->assertion.ttl_s, 60);
    cr_assert_eq(c->session.cookie_secret.len, 32);
    cr_assert_eq(memcmp(c->oidc.client_secret.data, "s3cret", 6), 0);
    ag_config_unref(c);
}

Test(good, claims_default_follows_client_id)
{
    char *env[] = {"AIRGATE_OIDC_CLIENT_ID=airflow-prod", NULL};
    struct ag_config *c = ct_load(BASE, env);
    cr_assert_str_eq(c->roles.claims.items[0], "resource_access.airflow-prod.roles");
    cr_assert_str_eq(c->oidc.audience, "airflow-prod");
    ag_config_unref(c);
}

Test(good, claims_default_quotes_a_dotted_client_id)
{
    /* Keycloak client ids such as "airflow.prod" must stay one path segment. */
    char *env[] = {"AIRGATE_OIDC_CLIENT_ID=airflow.prod", NULL};
    struct ag_config *c = ct_load(BASE, env);
    cr_assert_eq(c->roles.claims.n, 1);
    cr_assert_str_eq(c->roles.claims.items[0], "resource_access.\"airflow.prod\".roles");
    ag_config_unref(c);
}

Test(good, claims_default_keeps_a_client_id_with_a_comma_as_one_path)
{
    char *env[] = {"AIRGATE_OIDC_CLIENT_ID=a,b", NULL};
    struct ag_config *c = ct_load(BASE, env);
    cr_assert_eq(c->roles.claims.n, 1);
    cr_assert_str_eq(c->roles.claims.items[0], "resource_access.\"a,b\".roles");
    ag_config_unref(c);
}

Test(good, quoted_claim_path_with_space_is_accepted)
{
    char *env[] = {"AIRGATE_ROLES_CLAIMS=resource_access.\"my client\".roles", NULL};
    struct ag_config *c = ct_load(BASE, env);
    cr_assert_str_eq(c->roles.claims.items[0], "resource_access.\"my client\".roles");
    ag_config_unref(c);
}

Test(good, full_config)
{
    struct ag_config *c =
        ct_load("listen: \"[::1]:8443\"\n"
                "tls: { cert_file: \"/etc/airgate/tls.crt\", key_file: \"/etc/airgate/tls.key\" }\n"
                "public_url: \"https://airflow.example.com/\"\n"
                "trusted_proxies: [\"35.191.0.0/16\", \"130.211.0.0/22\", \"2600:1901::/48\", "
                "\"10.1.2.3\"]\n"
                "log: { level: debug, format: text }\n" L_OIDC
                "  scopes: [openid, email]\n  allowed_algs: [RS256, EdDSA, HS256]\n"
                "  leeway_s: 0\n  token_endpoint_auth: client_secret_post\n" L_SESS
                "  idle_timeout_s: 3600\n"
                "roles:\n  claims: [realm_access.roles, resource_access.airflow.roles]\n"
                "  custom: [\"Team A\", DataEng]\n"
                "  map:\n    airflow_admin: [Admin, Op]\n    \"team a\": \"Team A\"\n"
                "  unmapped: Public\n"
                "upstreams:\n  servers: [\"http://a:8080\", \"https://b.internal:8443/\"]\n"
                "  balance: least_conn\n",
                no_env);
    cr_assert_str_eq(c->listen_host, "::1");
    cr_assert_eq(c->listen_port, 8443);
    cr_assert(c->tls_enabled);
    cr_assert_str_eq(c->public_url, "https://airflow.example.com");
    cr_assert_eq(c->n_trusted_proxies, 4);
    cr_assert_eq(c->trusted_proxies[1].family, AF_INET);
    cr_assert_eq(c->trusted_proxies[1].prefix, 22);
    cr_assert_eq(c->trusted_proxies[1].addr[0], 130);
    cr_assert_eq(c->trusted_proxies[2].family, AF_INET6);
    cr_assert_eq(c->trusted_proxies[2].prefix, 48);
    cr_assert_eq(c->trusted_proxies[3].prefix, 32, "a bare address is a host route");
    cr_assert_eq(c->log.level, AG_CONF_LOG_DEBUG);
    cr_assert_eq(c->log.format, AG_CONF_LOG_TEXT);
    cr_assert_eq(c->oidc.allowed_algs.n, 3);
    cr_assert_str_eq(c->oidc.allowed_algs.items[2], "HS256");
    cr_assert_eq(c->oidc.leeway_s, 0);
    cr_assert_eq(c->oidc.token_endpoint_auth, AG_CLIENT_AUTH_POST);
    cr_assert_eq(c->session.idle_timeout_s, 3600);
    cr_assert_eq(c->roles.claims.n, 2);
    cr_assert_eq(c->roles.n_rules, 2);
    cr_assert_eq(c->roles.rules[0].airflow_roles.n, 2);
    cr_assert_str_eq(c->roles.rules[0].airflow_roles.items[1], "Op");
    cr_assert_str_eq(c->roles.rules[1].idp_role, "team a");
    cr_assert_str_eq(c->roles.rules[1].airflow_roles.items[0], "Team A");
    cr_assert_str_eq(c->roles.unmapped, "Public");
    cr_assert_eq(c->roles.custom.n, 2);
    cr_assert_str_eq(c->roles.custom.items[1], "DataEng");
    cr_assert_str_eq(c->upstreams.servers.items[1], "https://b.internal:8443");
    cr_assert_eq(c->upstreams.balance, AG_BALANCE_LEAST_CONN);
    ag_config_unref(c);
}

Test(good, empty_role_map_with_unmapped_role)
{
    struct ag_config *c =
        ct_load(L_PUB L_OIDC L_SESS "roles:\n  map: {}\n  unmapped: Viewer\n" L_UP, no_env);
    cr_assert_eq(c->roles.n_rules, 0);
    cr_assert_str_eq(c->roles.unmapped, "Viewer");
    ag_config_unref(c);
}

Test(good, custom_role_as_unmapped_and_in_map)
{
    struct ag_config *c = ct_load(L_PUB L_OIDC L_SESS
                                  "roles:\n  custom: [DataEng]\n  map: { de: [DataEng, Viewer] }\n"
                                  "  unmapped: DataEng\n" L_UP,
                                  no_env);
    cr_assert_str_eq(c->roles.rules[0].airflow_roles.items[0], "DataEng");
    cr_assert_str_eq(c->roles.unmapped, "DataEng");
    ag_config_unref(c);
}

Test(good, custom_roles_default_to_none)
{
    struct ag_config *c = ct_load(BASE, no_env);
    cr_assert_eq(c->roles.custom.n, 0);
    ag_config_unref(c);
}

Test(good, loopback_http_issuer_allowed)
{
    struct ag_config *c =
        ct_load(L_PUB "oidc:\n  issuer: \"http://127.0.0.1:8081/realms/demo\"\n"
                      "  client_id: airflow\n  client_secret: x\n" L_SESS L_ROLES L_UP,
                no_env);
    cr_assert_str_eq(c->oidc.issuer, "http://127.0.0.1:8081/realms/demo");
    ag_config_unref(c);
}

Test(good, issuer_trailing_slash_kept)
{
    /* The issuer must equal the token's iss claim byte for byte, so it is never rewritten. */
    struct ag_config *c =
        ct_load(L_PUB "oidc:\n  issuer: \"https://tenant.example.com/\"\n"
                      "  client_id: airflow\n  client_secret: x\n" L_SESS L_ROLES L_UP,
                no_env);
    cr_assert_str_eq(c->oidc.issuer, "https://tenant.example.com/");
    ag_config_unref(c);
}

Test(good, env_wins_over_file)
{
    char *env[] = {"HOME=/root",
                   "AIRGATE_OIDC_LEEWAY_S=5",
                   "AIRGATE_LISTEN=127.0.0.1:0",
                   "AIRGATE_OIDC_SCOPES=openid, groups ,email",
                   "AIRGATE_ROLES_MAP=kc_admin=Admin|Op, kc_view=Viewer",
                   "AIRGATE_TRUSTED_PROXIES=10.0.0.0/8",
                   "AIRGATE_LOG_LEVEL=warn",
                   "AIRGATE_OIDC_CLIENT_SECRET=from-env",
                   NULL};
    struct ag_config *c = ct_load(WITH_LEEWAY_30, env);
    cr_assert_eq(c->oidc.leeway_s, 5);
    cr_assert_str_eq(c->listen_host, "127.0.0.1");
    cr_assert_eq(c->listen_port, 0);
    cr_assert_eq(c->oidc.scopes.n, 3);
    cr_assert_str_eq(c->oidc.scopes.items[1], "groups");
    cr_assert_eq(c->roles.n_rules, 2);
    cr_assert_str_eq(c->roles.rules[0].idp_role, "kc_admin");
    cr_assert_eq(c->roles.rules[0].airflow_roles.n, 2);
    cr_assert_str_eq(c->roles.rules[0].airflow_roles.items[1], "Op");
    cr_assert_str_eq(c->roles.rules[1].airflow_roles.items[0], "Viewer");
    cr_assert_eq(c->n_trusted_proxies, 1);
    cr_assert_eq(c->log.level, AG_CONF_LOG_WARN);
    cr_assert_eq(c->oidc.client_secret.len, 8);
    cr_assert_eq(memcmp(c->oidc.client_secret.data, "from-env", 8), 0);
    char *out = ct_print(c);
    cr_assert(strstr(out, "  leeway_s: 5  # env AIRGATE_OIDC_LEEWAY_S\n"), "%s", out);
    cr_assert(strstr(out, "  client_secret: \"<redacted>\"  # env AIRGATE_OIDC_CLIENT_SECRET\n"));
    cr_assert(strstr(out, "  client_id: \"airflow\"  # line 4\n"));
    cr_assert(strstr(out, "  jwks_refresh_s: 3600  # default\n"));
    free(out);
    ag_config_unref(c);
}

Test(good, env_file_secret_replaces_inline_file_secret)
{
    char *p = ct_write("client-secret", "from-file\n", 10);
    char var[512];
    snprintf(var, sizeof(var), "AIRGATE_OIDC_CLIENT_SECRET_FILE=%s", p);
    char *env[] = {var, NULL};
    struct ag_config *c = ct_load(BASE, env);
    cr_assert_eq(c->oidc.client_secret.len, 9, "trailing newline stripped");
    cr_assert_eq(memcmp(c->oidc.client_secret.data, "from-file", 9), 0);
    ag_config_unref(c);
    unlink(p);
    free(p);
}

Test(good, file_secrets_relative_to_config_dir)
{
    char *a = ct_write("cookie-a", "A123456789abcdef0123456789abcdefXYZ\r\n", 37);
    char *b = ct_write("cookie-b", "B123456789abcdef0123456789abcdef", 32);
    char *cs = ct_write("client", "clientsecret", 12);
    struct ag_config *c = ct_load(L_PUB L_OIDC_HEAD "  client_secret_file: client\n"
                                                    "session:\n  cookie_secret_file: cookie-a\n"
                                                    "  previous_cookie_secrets_file: [cookie-b, "
                                                    "cookie-a]\n" L_ROLES L_UP,
                                  no_env);
    cr_assert_eq(c->session.cookie_secret.len, 35, "CRLF stripped");
    cr_assert_eq(memcmp(c->session.cookie_secret.data, "A123", 4), 0);
    cr_assert_eq(c->session.previous_cookie_secrets.n, 2);
    cr_assert_eq(c->session.previous_cookie_secrets.items[0].len, 32);
    cr_assert_eq(memcmp(c->session.previous_cookie_secrets.items[0].data, "B123", 4), 0);
    cr_assert_eq(c->oidc.client_secret.len, 12);
    char *out = ct_print(c);
    cr_assert(strstr(out, "previous_cookie_secrets: [\"<redacted>\", \"<redacted>\"]"), "%s", out);
    cr_assert(strstr(out, ", read from "), "%s", out);
    free(out);
    ag_config_unref(c);
    unlink(a);
    unlink(b);
    unlink(cs);
    free(a);
    free(b);
    free(cs);
}

Test(good, print_never_contains_secret_bytes)
{
    char *env[] = {"AIRGATE_ASSERTION_KEY=-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYBYTES\n", NULL};
    struct ag_config *c =
        ct_load(L_PUB L_OIDC_HEAD
                "  client_secret: \"Cl13nt-S3cr3t-Val\"\n"
                "session:\n  cookie_secret: \"C00kie-S3cret-0123456789abcdefgh\"\n"
                "  previous_cookie_secrets: [\"Prev-S3cret-0123456789abcdefghij\"]\n" L_ROLES L_UP,
                env);
    char *out = ct_print(c);
    cr_assert_null(strstr(out, "Cl13nt"), "%s", out);
    cr_assert_null(strstr(out, "C00kie"));
    cr_assert_null(strstr(out, "Prev-S3cret"));
    cr_assert_null(strstr(out, "TOPSECRET"));
    cr_assert_null(strstr(out, "BEGIN"));
    cr_assert(strstr(out, "  client_secret: \"<redacted>\"  # line 5\n"), "%s", out);
    cr_assert(strstr(out, "  key: \"<redacted>\"  # env AIRGATE_ASSERTION_KEY\n"), "%s", out);
    free(out);
    ag_config_unref(c);
}

Test(good, printed_config_is_yaml_that_loads_back)
{
    /* Printing the effective config and loading it again gives the same values: the printout
     * is real YAML, not just for reading. Secrets are redacted, so give them by environment. */
    char *env[] = {"AIRGATE_SESSION_COOKIE_SECRET=0123456789abcdef0123456789abcdef",
                   "AIRGATE_OIDC_CLIENT_SECRET=s3cret", NULL};
    struct ag_config *c = ct_load(BASE "trusted_proxies: [\"10.0.0.0/8\"]\n", no_env);
    char *out = ct_print(c);
    /* The redacted secrets would fail validation: drop those lines, the environment sets them. */
    char *clean = calloc(1, strlen(out) + 1);
    size_t used = 0;
    for (char *line = out, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line + 1) : strlen(line);
        char one[512];
        snprintf(one, sizeof(one), "%.*s", (int)n, line);
        if (!strstr(one, "<redacted>")) {
            memcpy(clean + used, line, n);
            used += n;
        }
    }
    struct ag_config *c2 = ct_load(clean, env);
    char *out2 = ct_print(c2);
    cr_assert_eq(c2->n_trusted_proxies, 1);
    cr_assert_eq(c2->roles.n_rules, c->roles.n_rules);
    cr_assert_str_eq(c2->redirect_uri, c->redirect_uri);
    cr_assert_eq(c2->upstreams.servers.n, 1);
    free(out);
    free(out2);
    free(clean);
    ag_config_unref(c);
    ag_config_unref(c2);
}

static void *ag_ref_worker(void *arg)
{
    struct ag_config *c = arg;
    for (int i = 0; i < 10000; i++) {
        struct ag_config *r = ag_config_ref(c);
        cr_assert_eq(r, c);
        ag_config_unref(r);
    }
    return NULL;
}

Test(good, refcount_across_threads)
{
    struct ag_config *c = ct_load(BASE, no_env);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, ag_ref_worker, c), 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_join(t[i], NULL), 0);
    cr_assert_eq(atomic_load(&c->refs), 1);
    cr_assert_eq(ag_config_ref(c), c);
    cr_assert_eq(atomic_load(&c->refs), 2);
    ag_config_unref(c);
    cr_assert_str_eq(c->oidc.client_id, "airflow", "still alive with one reference");
    ag_config_unref(c); /* freed here; ASan would report a leak or double free otherwise */
    ag_config_unref(NULL);
}

Test(good, option_table_is_consistent)
{
    /* Every key has a doc line, a unique path and an env name; every ${ref} default names an
     * earlier key. */
    for (size_t i = 0; i < ag_conf_nopts; i++) {
        const struct ag_conf_opt *o = &ag_conf_opts[i];
        cr_assert(o->doc && *o->doc, "%s has no doc", o->path);
        cr_assert_eq(ag_conf_opt_find(o->path), (long)i, "%s is not unique", o->path);
        cr_assert(!((o->flags & AG_OPTF_REQUIRED) && o->def), "%s: required with default", o->path);
        if (o->def && strstr(o->def, "${")) {
            char name[64];
            const char *s = strstr(o->def, "${") + 2;
            size_t n = strcspn(s, "}");
            snprintf(name, sizeof(name), "%.*s", (int)n, s);
            long r = ag_conf_opt_find(name);
            cr_assert(r >= 0 && r < (long)i, "%s refers to %s", o->path, name);
        }
    }
    char env[128];
    ag_conf_opt_env_name(&ag_conf_opts[ag_conf_opt_find("oidc.client_secret")], 1, env,
                         sizeof(env));
    cr_assert_str_eq(env, "AIRGATE_OIDC_CLIENT_SECRET_FILE");
    cr_assert_eq(ag_conf_edit_distance("kitten", "sitting"), 3);
}

Test(good, locate_reports_the_source_of_a_key)
{
    char *env[] = {"AIRGATE_OIDC_LEEWAY_S=5", NULL};
    struct ag_config *c = ct_load(BASE, env);
    char where[512], expected[512];
    ag_config_locate(c, "oidc.client_id", where, sizeof(where));
    snprintf(expected, sizeof(expected), "%s:4", c->source);
    cr_assert_str_eq(where, expected);
    ag_config_locate(c, "oidc.leeway_s", where, sizeof(where));
    cr_assert_str_eq(where, "env AIRGATE_OIDC_LEEWAY_S");
    ag_config_locate(c, "server.threads", where, sizeof(where));
    cr_assert_str_eq(where, c->source, "a default points at the file");
    ag_config_unref(c);
}

Test(good, public_routes_default_none_and_list)
{
    struct ag_config *c = ct_load(BASE, no_env);
    cr_assert_eq(c->public_routes.n, 0, "no route is public by default");
    ag_config_unref(c);
    c = ct_load(BASE "public_routes: [\"GET=^/health$\", \"^/static/\"]\n", no_env);
    cr_assert_eq(c->public_routes.n, 2);
    cr_assert_str_eq(c->public_routes.items[0], "GET=^/health$");
    cr_assert_str_eq(c->public_routes.items[1], "^/static/");
    ag_config_unref(c);
}

Test(good, management_listen_default_and_override)
{
    struct ag_config *c = ct_load(BASE, no_env);
    cr_assert_str_eq(c->management.listen, "127.0.0.1:9090");
    cr_assert_str_eq(c->management.listen_host, "127.0.0.1");
    cr_assert_eq(c->management.listen_port, 9090);
    /* the public listen address is parsed into its own fields, untouched */
    cr_assert_str_eq(c->listen_host, "0.0.0.0");
    cr_assert_eq(c->listen_port, 4180);
    ag_config_unref(c);
    c = ct_load(BASE "management: { listen: \"[::]:9191\" }\n", no_env);
    cr_assert_str_eq(c->management.listen_host, "::");
    cr_assert_eq(c->management.listen_port, 9191);
    ag_config_unref(c);
    char *env[] = {"AIRGATE_MANAGEMENT_LISTEN=0.0.0.0:0", NULL};
    c = ct_load(BASE, env);
    cr_assert_str_eq(c->management.listen_host, "0.0.0.0");
    cr_assert_eq(c->management.listen_port, 0);
    ag_config_unref(c);
}

Test(good, log_format_gcp_with_project)
{
    struct ag_config *c =
        ct_load(BASE "log:\n  format: gcp\n  gcp_project_id: example.com:my-project\n", no_env);
    cr_assert_eq(c->log.format, AG_CONF_LOG_GCP);
    cr_assert_str_eq(c->log.gcp_project_id, "example.com:my-project");
    ag_config_unref(c);
    c = ct_load(BASE "log:\n  format: gcp\n", no_env);
    cr_assert_eq(c->log.format, AG_CONF_LOG_GCP);
    cr_assert_null(c->log.gcp_project_id);
    ag_config_unref(c);
}

Test(good, oidc_audiences_list)
{
    struct ag_config *c = ct_load(
        L_PUB L_OIDC "  audiences: [reports-api, airflow-cli]\n" L_SESS L_ROLES L_UP, no_env);
    cr_assert_eq(c->oidc.audiences.n, 2);
    cr_assert_str_eq(c->oidc.audiences.items[0], "reports-api");
    cr_assert_str_eq(c->oidc.audiences.items[1], "airflow-cli");
    ag_config_unref(c);
}
