/* The option table: one row per config key (redis createIntConfig / nginx ngx_command_t style).
 * The table drives YAML parsing, the environment overlay, defaults, printing and the generated
 * reference (docs/config.md). Internal to conf/ and its tests. */
#ifndef AG_CONF_OPTIONS_H
#define AG_CONF_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

enum ag_conf_type {
    AG_OPT_STRING,     /* char * */
    AG_OPT_PATH,       /* char *, a file path; relative paths resolve against the config's dir */
    AG_OPT_URL,        /* char *, http(s) URL without userinfo/query/fragment, no trailing '/' */
    AG_OPT_INT,        /* long within [min, max] */
    AG_OPT_ENUM,       /* int (or bool: true when the first choice is picked) */
    AG_OPT_STRLIST,    /* struct ag_strlist */
    AG_OPT_URLLIST,    /* struct ag_strlist of URLs */
    AG_OPT_SECRET,     /* struct ag_secret; also settable as <key>_file */
    AG_OPT_SECRETLIST, /* struct ag_secretlist; <key>_file is a list of paths */
    AG_OPT_CIDRLIST,   /* size_t count at off, struct ag_cidr * at off2 */
    AG_OPT_ROLEMAP,    /* size_t count at off, struct ag_role_rule * at off2 */
    AG_OPT_LISTEN,     /* char * listen (+ listen_host, listen_port) */
};

enum {
    AG_OPTF_REQUIRED = 1u << 0,
    AG_OPTF_NO_SLASH = 1u << 1,   /* URL: trailing '/' removed (public_url + "/oauth2/...") */
    AG_OPTF_CLAIM_PATH = 1u << 2, /* a "${key}" in the default becomes one claim-path segment */
    AG_OPTF_ONE_OK = 1u << 3,     /* SECRETLIST: a single value is a list of one */
};

/* Field order follows the table rows' reading order; the padding is 8 bytes on ~55 rows. */
struct ag_conf_opt {  // NOLINT(clang-analyzer-optin.performance.Padding)
    const char *path; /* dotted key path, e.g. "oidc.client_secret" */
    enum ag_conf_type type;
    size_t off;  /* offset of the field in struct ag_config */
    size_t off2; /* second field (array pointer) for CIDRLIST and ROLEMAP */
    size_t size; /* sizeof the field at off (ENUM stores int or bool) */
    unsigned flags;
    const char *def; /* default as text (lists comma-separated); "${key}" expands another key */
    long min, max;   /* INT bounds; SECRET/SECRETLIST minimum byte length in min */
    const char *const *choices; /* ENUM names, NULL-terminated; index = stored value */
    const char *doc;            /* one line for the reference */
};

extern const struct ag_conf_opt ag_conf_opts[];
extern const size_t ag_conf_nopts;

/** Index of the option with this exact dotted path, or -1. */
long ag_conf_opt_find(const char *path);

/** True when path is a section (a proper prefix of some option path, e.g. "oidc"). */
bool ag_conf_section_exists(const char *path);

/** Non-zero for SECRET and SECRETLIST options. */
bool ag_conf_opt_is_secret(const struct ag_conf_opt *o);

/** Human name of a type for errors and the reference ("integer", "list of CIDRs", ...). */
const char *ag_conf_type_name(enum ag_conf_type t);

/** Environment variable of an option ("AIRGATE_OIDC_CLIENT_SECRET"), with "_FILE" appended when
 * file is non-zero. Writes into out (truncated to outlen). */
void ag_conf_opt_env_name(const struct ag_conf_opt *o, int file, char *out, size_t outlen);

/** Levenshtein distance between a and b (case-sensitive), capped at 100. */
size_t ag_conf_edit_distance(const char *a, const char *b);

/** The closest key path (options, their _file forms and sections) to an unknown key, or NULL
 * when nothing is close enough to suggest. */
const char *ag_conf_suggest_key(const char *unknown, char *buf, size_t buflen);

/** The closest AIRGATE_* variable name, written into buf, or NULL. */
const char *ag_conf_suggest_env(const char *unknown, char *buf, size_t buflen);

/** The closest of a NULL-terminated list of words, or NULL. */
const char *ag_conf_suggest_word(const char *unknown, const char *const *words);

#endif
