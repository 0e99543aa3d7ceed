/* Helpers for the conf tests: write a config to a temporary file, load it with a given
 * environment and return the error text with the file's path replaced by "CFG". */
#ifndef AG_TESTS_CONF_TEST_UTIL_H
#define AG_TESTS_CONF_TEST_UTIL_H

#include <stddef.h>

#include "conf/config.h"

/* A valid config, 11 lines; tests append keys at line 12 or build their own from the parts. */
#define L_PUB "public_url: \"https://airflow.example.com\"\n"
#define L_OIDC_HEAD                                                                                \
    "oidc:\n"                                                                                      \
    "  issuer: \"https://sso.example.com/realms/data\"\n"                                          \
    "  client_id: \"airflow\"\n"
#define L_OIDC L_OIDC_HEAD "  client_secret: \"s3cret\"\n"
#define L_SESS_HEAD "session:\n"
#define L_SESS L_SESS_HEAD "  cookie_secret: \"0123456789abcdef0123456789abcdef\"\n"
#define L_ROLES "roles:\n  map: { airflow_admin: Admin }\n"
#define L_UP "upstreams:\n  servers: [\"http://10.0.0.120:8080\"]\n"
#define BASE L_PUB L_OIDC L_SESS L_ROLES L_UP

/** A fresh temporary directory for this test process (created once). */
const char *ct_dir(void);

/** Writes data (len bytes) to ct_dir()/name and returns the full path (static storage per call
 * site is not needed: the result is malloc'd and never freed, tests are short-lived). */
char *ct_write(const char *name, const char *data, size_t len);

/** Loads yaml (written to a temp file) with envp; returns the error output with the path shown
 * as CFG, or NULL when the config loaded (the config is released). */
char *ct_errors(const char *yaml, char *const *envp);

/** Loads yaml that must be valid (the test fails with the errors otherwise). */
struct ag_config *ct_load(const char *yaml, char *const *envp);

/** Loads an existing file; returns the error output (path replaced by CFG) or NULL. */
char *ct_errors_file(const char *path, char *const *envp);

/** The printed form of a config (malloc'd). */
char *ct_print(const struct ag_config *c);

#endif
