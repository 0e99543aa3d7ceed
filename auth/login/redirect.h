/* Validation of the post-login redirect (`rd` of /oauth2/start and the remembered path): only a
 * same-site relative path is ever used as a Location; everything else becomes "/". */
#ifndef AG_AUTH_REDIRECT_H
#define AG_AUTH_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

#define AG_REDIRECT_MAX_LEN 2048

/** True when rd is a same-site relative path: starts with exactly one "/" (not "//", not "/\"),
 * at most AG_REDIRECT_MAX_LEN bytes of printable ASCII URL characters, well-formed %XX escapes,
 * and no backslash, control character or leading "//" even after percent-decoding (repeated, so
 * "/%252F%252Fevil" is caught too). */
bool ag_redirect_is_safe(const char *rd);

/** rd when ag_redirect_is_safe(rd), else "/". Never allocates; NULL gives "/". */
const char *ag_redirect_sanitize(const char *rd);

#endif
