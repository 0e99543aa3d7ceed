/* The validated, immutable configuration. Loaded once per start or reload; shared read-only
 * between threads and reference-counted so a reload never frees it under a running request. */
#ifndef AG_CONF_CONFIG_H
#define AG_CONF_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "conf/types.h"
#include "core/err.h"

/** Reads, overlays the environment (envp, NULL-terminated "K=V" strings), validates and returns
 * a config with one reference. On failure returns AG_ECONF with every problem written to errs
 * (one "file:line: key: what is wrong" line each) and *out untouched. */
enum ag_rc ag_config_load(const char *path, char *const *envp, struct ag_config **out,
                          FILE *errs) AG_WUR;

/** Takes another reference (thread-safe). */
struct ag_config *ag_config_ref(struct ag_config *c);

/** Drops a reference; the last one wipes secrets and frees everything. NULL is a no-op. */
void ag_config_unref(struct ag_config *c);

/** Writes where key (a dotted path, e.g. "assertion.key") was set, in the form errors use:
 * "FILE:LINE", "env AIRGATE_X" or just "FILE" for defaults; for reporting a problem that is
 * found after loading (a key that does not parse, an unreachable issuer) against its source. */
void ag_config_locate(const struct ag_config *c, const char *key, char *out, size_t outlen);

/** Prints the effective config as YAML with every secret redacted. */
void ag_config_print(const struct ag_config *c, FILE *out);

#endif
