/* Validation of the post-login redirect (`rd` of /oauth2/start and the remembered path): only a
 * same-site relative path is ever used as a Location; everything else becomes "/". */
#ifndef AG_AUTH_REDIRECT_H
#define AG_AUTH_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

struct ag_arena;

#define AG_REDIRECT_MAX_LEN 2048

/** Writes the normal form of rd into out (cap >= AG_REDIRECT_MAX_LEN + 1) and returns true when
 * rd is a same-site relative path: starts with exactly one "/" (not "//", not "/\"), at most
 * AG_REDIRECT_MAX_LEN bytes of printable ASCII URL characters, well-formed %XX escapes, no
 * backslash, control character or leading "//" even after percent-decoding (repeated, so
 * "/%252F%252Fevil" is caught too), and no path segment that decodes to something holding '/'
 * or '\' ("/a%2Fb"). The normal form resolves dot segments ("/a/./b/../c" -> "/a/c", "%2e"
 * counts as '.') and collapses repeated slashes ("/a//b" -> "/a/b"); a path that would start
 * with "//" after resolving ("/x/..//host") is refused. Query and fragment are kept as given. */
bool ag_redirect_normalize(const char *rd, char *out, size_t cap);

/** True when rd is safe and already in normal form (ag_redirect_normalize gives rd back). */
bool ag_redirect_is_safe(const char *rd);

/** rd when ag_redirect_is_safe(rd), else "/". Never allocates; NULL gives "/". */
const char *ag_redirect_sanitize(const char *rd);

/** The redirect target to use for rd: its normal form (in a when it differs from rd), or "/"
 * when rd is refused. NULL gives "/". */
const char *ag_redirect_target(struct ag_arena *a, const char *rd);

#endif
