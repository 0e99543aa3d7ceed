/* Internals of auth/session.c exposed for tests: the JSON form of a session. */
#ifndef AG_AUTH_SESSION_INT_H
#define AG_AUTH_SESSION_INT_H

#include "auth/login/session.h"

/** Compact JSON of s, in the arena. */
char *ag_session_serialize(struct ag_arena *a, const struct ag_session *s);

/** Parses the JSON form back (strings copied into the arena). AG_EPARSE when malformed. */
enum ag_rc ag_session_parse(struct ag_arena *a, const char *json, size_t len,
                            struct ag_session **out, struct ag_err *err) AG_WUR;

#endif
