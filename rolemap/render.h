/* Renderers of a mapped identity: JSON (for /oauth2/userinfo and `airgate rolemap --json`) and
 * an aligned human summary (for `airgate rolemap`). Pure: they build values, they print nothing. */
#ifndef AG_ROLEMAP_RENDER_H
#define AG_ROLEMAP_RENDER_H

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "rolemap/rolemap.h"

struct ag_arena;

enum {
    AG_ROLEMAP_JSON_EXPLAIN = 1 << 0, /* add "explain": the steps, one object each */
};

/** The identity as a JSON object (schema in docs/rolemap.md): user, idp_roles, airflow_roles,
 * allowed, decision, deny_reason and, with AG_ROLEMAP_JSON_EXPLAIN, explain. The object is owned
 * by the arena (decref'd when it is freed); ag_json_set_ref on it takes an extra reference. */
ag_json *ag_rolemap_identity_to_json(struct ag_arena *a, const struct ag_identity *id,
                                     unsigned flags);

/** Appends the aligned human summary (User, Email, Name, IdP roles, Airflow roles, Decision,
 * Why) to b. Characters that could disguise text on a terminal (bidi overrides, zero-width
 * characters) are shown as \u{XXXX}. Fails only if b is full. */
enum ag_rc ag_rolemap_identity_format_human(struct ag_buf *b, const struct ag_identity *id) AG_WUR;

/** Appends s to b for a terminal: like the text itself, with invisible or direction-changing
 * code points (U+200B..U+200F, U+202A..U+202E, U+2060..U+2069, U+FEFF) written as \u{XXXX}. */
enum ag_rc ag_rolemap_append_display(struct ag_buf *b, const char *s) AG_WUR;

#endif
