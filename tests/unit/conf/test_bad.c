/* Broken configs: each case asserts the exact error output, one "CFG:LINE: key: reason" line. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_test_util.h"

static char *const no_env[] = {NULL};

#define EXPECT_ERR_ENV(yaml, env, expected)                                                        \
    do {                                                                                           \
        char *e_ = ct_errors((yaml), (env));                                                       \
        cr_assert_not_null(e_, "config unexpectedly valid");                                       \
        cr_assert_str_eq(e_, (expected));                                                          \
        free(e_);                                                                                  \
    } while (0)
#define EXPECT_ERR(yaml, expected) EXPECT_ERR_ENV(yaml, no_env, expected)

/* BASE with the oidc section replaced by L_OIDC_HEAD + these lines (line 5 onwards). */
#define WITH_OIDC(lines) L_PUB L_OIDC_HEAD lines L_SESS L_ROLES L_UP

Test(bad, base_is_valid)
{
    cr_assert_null(ct_errors(BASE, no_env), "the base config must be valid");
}

Test(bad, empty_file)
{
    EXPECT_ERR("", "CFG:1: the file is empty (no configuration keys)\n");
}

Test(bad, only_comments)
{
    EXPECT_ERR("# nothing here\n\n", "CFG:1: the file is empty (no configuration keys)\n");
}

Test(bad, missing_file)
{
    char *e = ct_errors_file("/nonexistent/airgate.yaml", no_env);
    cr_assert_str_eq(e, "CFG:1: cannot read the config: No such file or directory\n");
    free(e);
}

Test(bad, not_yaml)
{
    EXPECT_ERR("public_url: [\"https://a.example.com\"\noidc: {\n",
               "CFG:2: not valid YAML: did not find expected ',' or ']' while parsing a flow "
               "sequence\n");
}

Test(bad, top_level_list)
{
    EXPECT_ERR("- listen\n- public_url\n",
               "CFG:1: the top level must be a mapping of keys (got a list)\n");
}

Test(bad, top_level_scalar)
{
    EXPECT_ERR("hello\n", "CFG:1: the top level must be a mapping of keys (got a single value)\n");
}

Test(bad, unknown_key_did_you_mean)
{
    EXPECT_ERR(BASE "listne: \"0.0.0.0:80\"\n",
               "CFG:12: listne: unknown key (did you mean listen?)\n");
}

Test(bad, unknown_key_in_section_did_you_mean)
{
    EXPECT_ERR(WITH_OIDC("  client_secret: \"s3cret\"\n  leway_s: 30\n"),
               "CFG:6: oidc.leway_s: unknown key (did you mean oidc.leeway_s?)\n");
}

Test(bad, unknown_key_in_wrong_section)
{
    EXPECT_ERR(BASE "client_id: airflow\n",
               "CFG:12: client_id: unknown key (did you mean oidc.client_id?)\n");
}

Test(bad, unknown_key_without_suggestion)
{
    EXPECT_ERR(BASE "frobnicate: 1\n", "CFG:12: frobnicate: unknown key\n");
}

Test(bad, section_not_a_mapping)
{
    EXPECT_ERR(BASE "log: debug\n", "CFG:12: log: expected a mapping of keys (e.g. log: {key: "
                                    "value}), got a single value\n");
}

Test(bad, wrong_type_integer)
{
    EXPECT_ERR(WITH_OIDC("  client_secret: \"s3cret\"\n  leeway_s: sixty\n"),
               "CFG:6: oidc.leeway_s: expected an integer, got \"sixty\"\n");
}

Test(bad, wrong_type_list_for_string)
{
    EXPECT_ERR(WITH_OIDC("  client_secret: \"s3cret\"\n  audience: [a, b]\n"),
               "CFG:6: oidc.audience: expected a string, got a list\n");
}

Test(bad, wrong_type_string_for_list)
{
    EXPECT_ERR(WITH_OIDC("  client_secret: \"s3cret\"\n  scopes: openid\n"),
               "CFG:6: oidc.scopes: expected a list (e.g. [a, b]), got a single value\n");
}

Test(bad, out_of_range)
{
    EXPECT_ERR(WITH_OIDC("  client_secret: \"s3cret\"\n  leeway_s: 601\n"),
               "CFG:6: oidc.leeway_s: must be between 0 and 600, got 601\n");
}

Test(bad, negative_out_of_range)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "  lifetime_s: -5\n" L_ROLES L_UP,
               "CFG:8: session.lifetime_s: must be between 60 and 31536000, got -5\n");
}

Test(bad, bad_enum_with_suggestion)
{
    EXPECT_ERR(
        BASE "log:\n  format: jsn\n",
        "CFG:13: log.format: must be one of json, text, gcp; got \"jsn\" (did you mean json?)\n");
}

Test(bad, missing_required_key)
{
    EXPECT_ERR(L_PUB
               "oidc:\n  client_id: \"airflow\"\n  client_secret: \"s3cret\"\n" L_SESS L_ROLES L_UP,
               "CFG:2: oidc.issuer: required key is missing (set it in the file or as "
               "AIRGATE_OIDC_ISSUER)\n");
}

Test(bad, missing_required_secret)
{
    EXPECT_ERR(L_PUB L_OIDC "session:\n  lifetime_s: 3600\n" L_ROLES L_UP,
               "CFG:6: session.cookie_secret: required key is missing (set session.cookie_secret "
               "or session.cookie_secret_file, or AIRGATE_SESSION_COOKIE_SECRET[_FILE])\n");
}

Test(bad, required_key_without_value)
{
    EXPECT_ERR(L_PUB "oidc:\n  issuer: \"https://sso.example.com/realms/data\"\n  client_id:\n"
                     "  client_secret: \"s3cret\"\n" L_SESS L_ROLES L_UP,
               "CFG:4: oidc.client_id: has no value, but is required\n");
}

Test(bad, empty_string)
{
    EXPECT_ERR(WITH_OIDC("  client_secret: \"s3cret\"\n  ca_file: \"\"\n"),
               "CFG:6: oidc.ca_file: must not be empty (leave the key out to use the default)\n");
}

Test(bad, url_bad_scheme)
{
    EXPECT_ERR("public_url: \"ftp://airflow.example.com\"\n" L_OIDC L_SESS L_ROLES L_UP,
               "CFG:1: public_url: \"ftp://airflow.example.com\" is not a valid URL: must start "
               "with http:// or https://\n");
}

Test(bad, url_userinfo)
{
    EXPECT_ERR("public_url: \"https://bob:pw@airflow.example.com\"\n" L_OIDC L_SESS L_ROLES L_UP,
               "CFG:1: public_url: \"https://bob:pw@airflow.example.com\" is not a valid URL: "
               "must not contain user:password@\n");
}

Test(bad, url_fragment)
{
    EXPECT_ERR(L_PUB "oidc:\n  issuer: \"https://sso.example.com/realms/data#x\"\n"
                     "  client_id: \"airflow\"\n  client_secret: \"s3cret\"\n" L_SESS L_ROLES L_UP,
               "CFG:3: oidc.issuer: \"https://sso.example.com/realms/data#x\" is not a valid URL: "
               "must not have a #fragment\n");
}

Test(bad, url_no_host)
{
    EXPECT_ERR("public_url: \"https:///airflow\"\n" L_OIDC L_SESS L_ROLES L_UP,
               "CFG:1: public_url: \"https:///airflow\" is not a valid URL: has no host\n");
}

Test(bad, url_bad_port)
{
    EXPECT_ERR("public_url: \"https://airflow.example.com:99999\"\n" L_OIDC L_SESS L_ROLES L_UP,
               "CFG:1: public_url: \"https://airflow.example.com:99999\" is not a valid URL: has "
               "a port outside 1..65535\n");
}

Test(bad, http_issuer_with_https_public_url)
{
    EXPECT_ERR(L_PUB "oidc:\n  issuer: \"http://sso.example.com/realms/data\"\n"
                     "  client_id: \"airflow\"\n  client_secret: \"s3cret\"\n" L_SESS L_ROLES L_UP,
               "CFG:3: oidc.issuer: is http:// while public_url is https://; use https (plain "
               "http is accepted only for a loopback issuer)\n");
}

Test(bad, listen_without_port)
{
    EXPECT_ERR(BASE "listen: \"localhost\"\n",
               "CFG:12: listen: \"localhost\" is not host:port or [v6]:port (IPv6 needs "
               "brackets)\n");
}

Test(bad, listen_port_out_of_range)
{
    EXPECT_ERR(BASE "listen: \"0.0.0.0:70000\"\n",
               "CFG:12: listen: \"0.0.0.0:70000\": the port must be a number from 0 to 65535\n");
}

Test(bad, listen_host_not_ip)
{
    EXPECT_ERR(BASE "listen: \"example.com:4180\"\n",
               "CFG:12: listen: \"example.com:4180\": the host must be an IP address (0.0.0.0, "
               "127.0.0.1, [::], ...)\n");
}

Test(bad, listen_ipv6_without_brackets)
{
    EXPECT_ERR(BASE "listen: \"::1:4180\"\n",
               "CFG:12: listen: \"::1:4180\" is not host:port or [v6]:port (IPv6 needs "
               "brackets)\n");
}

Test(bad, duplicate_top_level_key)
{
    EXPECT_ERR(BASE "public_url: \"https://b.example.com\"\n",
               "CFG:12: public_url: duplicate key (first given at line 1)\n");
}

Test(bad, duplicate_key_in_section)
{
    EXPECT_ERR(WITH_OIDC("  client_secret: \"s3cret\"\n  client_id: \"other\"\n"),
               "CFG:6: oidc.client_id: duplicate key (first given at line 4)\n");
}

Test(bad, duplicate_role_in_map)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "roles:\n  map:\n    admin: Admin\n    admin: Op\n" L_UP,
               "CFG:11: roles.map.admin: duplicate key (first given at line 10)\n");
}

Test(bad, secret_file_unreadable)
{
    EXPECT_ERR(WITH_OIDC("  client_secret_file: \"/nonexistent/client-secret\"\n"),
               "CFG:5: oidc.client_secret_file: cannot read \"/nonexistent/client-secret\": No "
               "such file or directory\n");
}

Test(bad, secret_file_is_directory)
{
    EXPECT_ERR(WITH_OIDC("  client_secret_file: \"/\"\n"),
               "CFG:5: oidc.client_secret_file: cannot read \"/\": is a directory\n");
}

Test(bad, secret_file_empty)
{
    char *p = ct_write("empty-secret", "\n", 1);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), WITH_OIDC("  client_secret_file: \"%s\"\n"), p);
    char expected[512];
    snprintf(expected, sizeof(expected),
             "CFG:5: oidc.client_secret_file: the file \"%s\" is empty\n", p);
    EXPECT_ERR(yaml, expected);
    unlink(p);
    free(p);
}

Test(bad, secret_too_short)
{
    EXPECT_ERR(L_PUB L_OIDC "session:\n  cookie_secret: \"short\"\n" L_ROLES L_UP,
               "CFG:7: session.cookie_secret: is too short: at least 32 bytes are required "
               "(generate one with: openssl rand -base64 32)\n");
}

Test(bad, secret_file_too_short)
{
    /* 31 bytes plus the newline that is stripped */
    char *p = ct_write("cookie", "0123456789abcdef0123456789abcde\n", 32);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             L_PUB L_OIDC "session:\n  cookie_secret_file: \"%s\"\n" L_ROLES L_UP, p);
    EXPECT_ERR(yaml, "CFG:7: session.cookie_secret_file: is too short: at least 32 bytes are "
                     "required (generate one with: openssl rand -base64 32)\n");
    unlink(p);
    free(p);
}

Test(bad, secret_and_secret_file)
{
    EXPECT_ERR(WITH_OIDC("  client_secret: \"s3cret\"\n  client_secret_file: \"/x\"\n"),
               "CFG:6: oidc.client_secret_file: both oidc.client_secret (line 5) and "
               "oidc.client_secret_file are given; use one\n");
}

Test(bad, env_bad_integer)
{
    char *env[] = {"AIRGATE_OIDC_LEEWAY_S=abc", NULL};
    EXPECT_ERR_ENV(BASE, env,
                   "env AIRGATE_OIDC_LEEWAY_S: oidc.leeway_s: expected an integer, "
                   "got \"abc\"\n");
}

Test(bad, env_out_of_range)
{
    char *env[] = {"AIRGATE_SERVER_THREADS=1000", NULL};
    EXPECT_ERR_ENV(BASE, env,
                   "env AIRGATE_SERVER_THREADS: server.threads: must be between 0 and "
                   "256, got 1000\n");
}

Test(bad, env_body_timeout_bounds)
{
    char *env[] = {"AIRGATE_SERVER_CLIENT_BODY_TIMEOUT_S=3601", NULL};
    EXPECT_ERR_ENV(
        BASE, env,
        "env AIRGATE_SERVER_CLIENT_BODY_TIMEOUT_S: server.client_body_timeout_s: must be "
        "between 0 and 3600, got 3601\n");
    char *env2[] = {"AIRGATE_SERVER_CLIENT_BODY_MIN_RATE=0", NULL};
    EXPECT_ERR_ENV(BASE, env2,
                   "env AIRGATE_SERVER_CLIENT_BODY_MIN_RATE: server.client_body_min_rate: must be "
                   "between 1 and 1073741824, got 0\n");
}

Test(bad, env_unknown_variable_did_you_mean)
{
    char *env[] = {"PATH=/usr/bin", "AIRGATE_OIDC_CLIENT_SECRT=x", NULL};
    EXPECT_ERR_ENV(BASE, env,
                   "env AIRGATE_OIDC_CLIENT_SECRT: unknown variable (did you mean "
                   "AIRGATE_OIDC_CLIENT_SECRET?)\n");
}

Test(bad, env_unknown_variable)
{
    char *env[] = {"AIRGATE_WHATEVER_THIS_IS=1", NULL};
    EXPECT_ERR_ENV(BASE, env,
                   "env AIRGATE_WHATEVER_THIS_IS: unknown variable (no such airgate setting)\n");
}

Test(bad, env_secret_and_secret_file)
{
    char *env[] = {"AIRGATE_OIDC_CLIENT_SECRET=x", "AIRGATE_OIDC_CLIENT_SECRET_FILE=/x", NULL};
    EXPECT_ERR_ENV(BASE, env,
                   "env AIRGATE_OIDC_CLIENT_SECRET_FILE: oidc.client_secret_file: both "
                   "AIRGATE_OIDC_CLIENT_SECRET and AIRGATE_OIDC_CLIENT_SECRET_FILE are set; use "
                   "one\n");
}

Test(bad, env_same_variable_twice)
{
    char *env[] = {"AIRGATE_OIDC_SCOPES=openid", "AIRGATE_OIDC_SCOPES=openid,email", NULL};
    EXPECT_ERR_ENV(BASE, env,
                   "env AIRGATE_OIDC_SCOPES: oidc.scopes: AIRGATE_OIDC_SCOPES is set "
                   "more than once\n");
}

Test(bad, env_bad_role_map)
{
    char *env[] = {"AIRGATE_ROLES_MAP=airflow_admin=Admin,viewer", NULL};
    EXPECT_ERR_ENV(BASE, env,
                   "env AIRGATE_ROLES_MAP: roles.map: entry \"viewer\" is not "
                   "idp_role=AirflowRole[|AirflowRole...]\n");
}

Test(bad, env_bad_url)
{
    char *env[] = {"AIRGATE_PUBLIC_URL=airflow.example.com", NULL};
    EXPECT_ERR_ENV(BASE, env,
                   "env AIRGATE_PUBLIC_URL: public_url: \"airflow.example.com\" is "
                   "not a valid URL: must start with http:// or https://\n");
}

Test(bad, non_utf8_byte)
{
    EXPECT_ERR(BASE "listen: \"\xff\"\n", "CFG:12: invalid UTF-8 byte 0xff at column 10 (the "
                                          "config must be UTF-8 text)\n");
}

Test(bad, overlong_utf8)
{
    EXPECT_ERR(L_PUB "oidc:\n  client_id: \"a\xc0\xaf\"\n",
               "CFG:3: invalid UTF-8 byte 0xc0 at column 16 (the config must be UTF-8 text)\n");
}

Test(bad, nul_byte)
{
    static const char data[] = "public_url: \"https://a\0.example.com\"\n";
    char *p = ct_write("nul.yaml", data, sizeof(data) - 1);
    char *e = ct_errors_file(p, no_env);
    cr_assert_str_eq(e, "CFG:1: NUL byte at column 23 (the config must be UTF-8 text)\n");
    free(e);
    unlink(p);
    free(p);
}

Test(bad, multiple_documents)
{
    EXPECT_ERR(BASE "---\nlisten: \"0.0.0.0:80\"\n",
               "CFG:12: more than one YAML document ('---'); a config is one document\n");
}

Test(bad, anchor_rejected)
{
    EXPECT_ERR(BASE "trusted_proxies: &nets [\"10.0.0.0/8\"]\n",
               "CFG:12: YAML anchors (&name) are not allowed in the config (aliases to them can "
               "expand without bound)\n");
}

Test(bad, alias_rejected)
{
    EXPECT_ERR(BASE "listen: *somewhere\n", "CFG:12: YAML aliases (*name) are not allowed in the "
                                            "config (they can expand without bound)\n");
}

Test(bad, tag_rejected)
{
    EXPECT_ERR(BASE "listen: !!str \"0.0.0.0:80\"\n",
               "CFG:12: YAML tags (tag:yaml.org,2002:str) are not allowed in the config\n");
}

Test(bad, tls_cert_without_key)
{
    EXPECT_ERR(BASE "tls:\n  cert_file: \"/etc/airgate/tls.crt\"\n",
               "CFG:13: tls.cert_file: is set but tls.key_file is not (HTTPS needs both)\n");
}

Test(bad, cidr_prefix_too_long)
{
    EXPECT_ERR(BASE "trusted_proxies: [\"35.191.0.0/16\", \"10.0.0.0/33\"]\n",
               "CFG:12: trusted_proxies: \"10.0.0.0/33\" has a prefix length outside 0..32\n");
}

Test(bad, cidr_host_bits)
{
    EXPECT_ERR(BASE "trusted_proxies: [\"130.211.1.0/22\"]\n",
               "CFG:12: trusted_proxies: \"130.211.1.0/22\" has host bits set (did you mean "
               "130.211.0.0/22?)\n");
}

Test(bad, cidr_not_an_address)
{
    EXPECT_ERR(BASE "trusted_proxies:\n  - \"gclb\"\n",
               "CFG:13: trusted_proxies: \"gclb\" is not an IPv4 or IPv6 address/prefix\n");
}

Test(bad, role_not_airflow_like)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "roles:\n  map: { airflow_admin: \"Admin,Op\" }\n" L_UP,
               "CFG:9: roles.map.airflow_admin: \"Admin,Op\" is not an Airflow role name (a "
               "letter, then letters, digits, spaces, _ . -; at most 64)\n");
}

Test(bad, empty_role_map_with_deny)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "roles:\n  map: {}\n" L_UP,
               "CFG:9: roles.map: is empty and roles.unmapped is deny, so nobody could sign in; "
               "map a role or set roles.unmapped to a role\n");
}

Test(bad, unmapped_not_a_role)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "roles:\n  map: {a: Admin}\n  unmapped: \"<none>\"\n" L_UP,
               "CFG:10: roles.unmapped: must be deny or an Airflow role name (e.g. Public), got "
               "\"<none>\"\n");
}

Test(bad, unmapped_typo_of_deny)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "roles:\n  map: {a: Admin}\n  unmapped: denny\n" L_UP,
               "CFG:10: roles.unmapped: \"denny\" is neither deny nor a built-in Airflow role "
               "(Admin, Op, User, Viewer, Public) nor listed in roles.custom (did you mean "
               "deny?)\n");
}

Test(bad, unmapped_unknown_role_without_suggestion)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "roles:\n  map: {a: Admin}\n  unmapped: Everybody\n" L_UP,
               "CFG:10: roles.unmapped: \"Everybody\" is neither deny nor a built-in Airflow role "
               "(Admin, Op, User, Viewer, Public) nor listed in roles.custom\n");
}

Test(bad, unmapped_typo_of_custom_role)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS
               "roles:\n  custom: [DataEng]\n  map: {a: Admin}\n  unmapped: DataEgn\n" L_UP,
               "CFG:11: roles.unmapped: \"DataEgn\" is neither deny nor a built-in Airflow role "
               "(Admin, Op, User, Viewer, Public) nor listed in roles.custom (did you mean "
               "DataEng?)\n");
}

Test(bad, map_value_typo)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "roles:\n  map:\n    viewer: Viewer\n    admins: Admn\n" L_UP,
               "CFG:11: roles.map.admins: \"Admn\" is not a built-in Airflow role (Admin, Op, "
               "User, Viewer, Public) nor listed in roles.custom (did you mean Admin?)\n");
}

Test(bad, map_value_in_list_lowercase)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "roles:\n  map:\n    ops: [Op, user]\n" L_UP,
               "CFG:10: roles.map.ops: \"user\" is not a built-in Airflow role (Admin, Op, "
               "User, Viewer, Public) nor listed in roles.custom (did you mean User?)\n");
}

Test(bad, map_value_undeclared_custom_role)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "roles:\n  map:\n    /team-de: [DataEng, Viewer]\n" L_UP,
               "CFG:10: roles.map./team-de: \"DataEng\" is not a built-in Airflow role (Admin, "
               "Op, User, Viewer, Public) nor listed in roles.custom\n");
}

Test(bad, env_map_value_typo)
{
    char *const env[] = {"AIRGATE_ROLES_MAP=admins=Admin|Veiwer", NULL};
    char *e = ct_errors(BASE, env);
    cr_assert_not_null(e);
    cr_assert(strstr(e, "env AIRGATE_ROLES_MAP: roles.map.admins: \"Veiwer\" is not a built-in "
                        "Airflow role") != NULL,
              "got: %s", e);
    cr_assert(strstr(e, "(did you mean Viewer?)") != NULL, "got: %s", e);
    free(e);
}

Test(bad, custom_role_shadows_builtin)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "roles:\n  custom: [admin]\n  map: {a: Admin}\n" L_UP,
               "CFG:9: roles.custom: \"admin\" is the built-in role Admin; list only roles "
               "beyond the built-ins\n");
}

Test(bad, custom_role_bad_name)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "roles:\n  custom: [\"Data,Eng\"]\n  map: {a: Admin}\n" L_UP,
               "CFG:9: roles.custom: \"Data,Eng\" is not an Airflow role name (a letter, then "
               "letters, digits, spaces, _ . -; at most 64; not deny)\n");
}

Test(bad, alg_none)
{
    EXPECT_ERR(WITH_OIDC("  client_secret: \"s3cret\"\n  allowed_algs: [RS256, none]\n"),
               "CFG:6: oidc.allowed_algs: \"none\" is never allowed (it means unsigned tokens)\n");
}

Test(bad, alg_unknown_with_suggestion)
{
    EXPECT_ERR(WITH_OIDC("  client_secret: \"s3cret\"\n  allowed_algs: [RS265]\n"),
               "CFG:6: oidc.allowed_algs: unknown algorithm \"RS265\" (did you mean RS256?) "
               "(known: RS/PS/ES 256/384/512, EdDSA, HS256/384/512)\n");
}

Test(bad, scopes_without_openid)
{
    EXPECT_ERR(WITH_OIDC("  client_secret: \"s3cret\"\n  scopes: [profile, email]\n"),
               "CFG:6: oidc.scopes: must include \"openid\"\n");
}

Test(bad, upstream_with_path)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS L_ROLES "upstreams:\n  servers: [\"http://10.0.0.1:8080/x\"]\n",
               "CFG:11: upstreams.servers: \"http://10.0.0.1:8080/x\": a server is "
               "scheme://host:port, without a path\n");
}

Test(bad, upstreams_empty)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS L_ROLES "upstreams:\n  servers: []\n",
               "CFG:11: upstreams.servers: must list at least one server\n");
}

Test(bad, idle_timeout_longer_than_lifetime)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "  lifetime_s: 3600\n  idle_timeout_s: 7200\n" L_ROLES L_UP,
               "CFG:9: session.idle_timeout_s: 7200 is longer than session.lifetime_s (3600)\n");
}

Test(bad, cookie_name_invalid)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "  cookie_name: \"my cookie\"\n" L_ROLES L_UP,
               "CFG:8: session.cookie_name: \"my cookie\" is not a cookie name (letters, digits "
               "and !#$%&'*+-.^_`|~; at most 64)\n");
}

Test(bad, cookie_domain_mismatch)
{
    EXPECT_ERR(L_PUB L_OIDC L_SESS "  cookie_domain: \"other.com\"\n" L_ROLES L_UP,
               "CFG:8: session.cookie_domain: the public_url host \"airflow.example.com\" is not "
               "within \"other.com\"\n");
}

Test(bad, health_path_relative)
{
    EXPECT_ERR(BASE "  health_path: health\n",
               "CFG:12: upstreams.health_path: \"health\" must be a path starting with / (no "
               "spaces, query or fragment)\n");
}

Test(bad, assertion_key_not_pem)
{
    EXPECT_ERR(BASE "assertion:\n  key: \"not a key\"\n",
               "CFG:13: assertion.key: must be a PEM private key (-----BEGIN ... PRIVATE "
               "KEY-----)\n");
}

Test(bad, dotted_key)
{
    EXPECT_ERR(BASE "oidc.leeway_s: 5\n",
               "CFG:12: oidc.leeway_s: unknown key (dotted keys are not supported: nest them)\n");
}

Test(bad, every_error_is_reported)
{
    EXPECT_ERR("public_url: \"https://airflow.example.com\"\n"
               "listne: 1\n"
               "oidc:\n"
               "  issuer: \"ftp://sso\"\n"
               "  client_id: \"airflow\"\n"
               "  leeway_s: 9999\n"
               "session:\n"
               "  cookie_secret: \"short\"\n"
               "roles:\n"
               "  map: {a: Admin}\n"
               "upstreams:\n"
               "  servers: [\"http://10.0.0.1:8080\"]\n",
               "CFG:2: listne: unknown key (did you mean listen?)\n"
               "CFG:4: oidc.issuer: \"ftp://sso\" is not a valid URL: must start with http:// or "
               "https://\n"
               "CFG:3: oidc.client_secret: required key is missing (set oidc.client_secret or "
               "oidc.client_secret_file, or AIRGATE_OIDC_CLIENT_SECRET[_FILE])\n"
               "CFG:6: oidc.leeway_s: must be between 0 and 600, got 9999\n"
               "CFG:8: session.cookie_secret: is too short: at least 32 bytes are required "
               "(generate one with: openssl rand -base64 32)\n");
}

Test(bad, control_bytes_in_key_are_not_echoed)
{
    EXPECT_ERR(BASE "\"evil\\e[31m\": 1\n", "CFG:12: evil?[31m: unknown key\n");
}

Test(bad, no_path)
{
    struct ag_config *c = NULL;
    cr_assert_eq(ag_config_load(NULL, no_env, &c, NULL), AG_ECONF);
    cr_assert_null(c);
}

/* ---- state: (shared state on Redis) ---- */

Test(bad, state_rediss_refused_with_the_reason)
{
    EXPECT_ERR(BASE "state:\n  redis_url: rediss://10.0.0.3:6378/0\n",
               "CFG:13: state.redis_url: rediss:// (TLS) is not supported: Debian 12's hiredis "
               "is built without TLS; use redis:// to a Redis inside the VPC with AUTH "
               "(state.password_file)\n");
}

Test(bad, state_url_problems)
{
    EXPECT_ERR(BASE "state:\n  redis_url: http://10.0.0.3:6379/0\n",
               "CFG:13: state.redis_url: \"http://10.0.0.3:6379/0\" must start with redis:// or "
               "rediss:// (expected redis://[user@]host:port/db)\n");
    EXPECT_ERR(BASE "state:\n  redis_url: redis://u:pw@10.0.0.3:6379/0\n",
               "CFG:13: state.redis_url: holds a password: put it in state.password_file "
               "instead\n");
    EXPECT_ERR(BASE "state:\n  redis_url: redis://10.0.0.3:6379/16\n",
               "CFG:13: state.redis_url: database \"16\" must be a number 0..15\n");
    EXPECT_ERR(BASE "state:\n  on_unavailable: deni\n  redis_url: redis://10.0.0.3\n",
               "CFG:13: state.on_unavailable: must be one of serve, deny; got \"deni\" (did you "
               "mean deny?)\n");
}

Test(bad, state_password_without_url)
{
    EXPECT_ERR(BASE "state:\n  password: hunter2\n",
               "CFG:13: state.password: is set but state.redis_url is not\n");
}

Test(bad, public_route_bad_regex)
{
    EXPECT_ERR(BASE "public_routes: [\"GET=^/health$\", \"GET=^/(health\"]\n",
               "CFG:12: public_routes: \"GET=^/(health\" is not a POSIX extended regex: "
               "Unmatched ( or \\(\n");
}

Test(bad, public_route_empty_regex)
{
    EXPECT_ERR(BASE "public_routes:\n  - \"GET=\"\n",
               "CFG:12: public_routes: \"GET=\": the regex is empty (it would match every "
               "path)\n");
}

Test(bad, management_listen_malformed)
{
    EXPECT_ERR(BASE "management:\n  listen: \"off\"\n",
               "CFG:13: management.listen: \"off\" is not host:port or [v6]:port (IPv6 needs "
               "brackets)\n");
    EXPECT_ERR(BASE "management:\n  listen: \"metrics.local:9090\"\n",
               "CFG:13: management.listen: \"metrics.local:9090\": the host must be an IP "
               "address (0.0.0.0, 127.0.0.1, [::], ...)\n");
}

Test(bad, management_listen_on_the_public_port)
{
    EXPECT_ERR(BASE "listen: \"0.0.0.0:4180\"\nmanagement: { listen: \"127.0.0.1:4180\" }\n",
               "CFG:13: management.listen: \"127.0.0.1:4180\" uses the port of listen "
               "(\"0.0.0.0:4180\"); the management listener (/metrics, /statusz) must never be "
               "the public port: pick another\n");
    /* port 0 on both picks two different free ports */
    cr_assert_null(ct_errors(BASE "listen: \"127.0.0.1:0\"\nmanagement: { listen: "
                                  "\"127.0.0.1:0\" }\n",
                             no_env));
}

Test(bad, log_gcp_project_id_needs_gcp_format)
{
    EXPECT_ERR(BASE "log:\n  gcp_project_id: my-project-1\n",
               "CFG:13: log.gcp_project_id: is only used with log.format: gcp (log.format is "
               "json)\n");
    EXPECT_ERR(BASE "log:\n  format: text\n  gcp_project_id: my-project-1\n",
               "CFG:14: log.gcp_project_id: is only used with log.format: gcp (log.format is "
               "text)\n");
}

Test(bad, log_gcp_project_id_malformed)
{
    const char *bad[] = {"My-Project",
                         "short",
                         "1project",
                         "my-project-",
                         "my project x",
                         "projects/my-project",
                         "a-project-id-that-is-far-too-long-x",
                         "nodot:my-project"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[512], want[512];
        snprintf(yaml, sizeof(yaml), BASE "log:\n  format: gcp\n  gcp_project_id: \"%s\"\n",
                 bad[i]);
        snprintf(want, sizeof(want),
                 "CFG:14: log.gcp_project_id: must be a Google Cloud project id (6-30 of a-z, "
                 "0-9, '-', starting with a letter, e.g. my-project-123); got \"%s\"\n",
                 bad[i]);
        EXPECT_ERR(yaml, want);
    }
}

Test(bad, max_connections_per_ip_above_max_connections)
{
    char *out =
        ct_errors(BASE "server:\n  max_connections: 100\n  max_connections_per_ip: 200\n", no_env);
    cr_assert_not_null(out, "a per-address cap above the global one must be refused");
    cr_assert(strstr(out, "server.max_connections_per_ip: 200 is more than server.max_connections "
                          "(100)"),
              "%s", out);
    free(out);
    /* the default (64) above a small global cap only means no per-address cap */
    cr_assert_null(ct_errors(BASE "server:\n  max_connections: 32\n", no_env));
}
