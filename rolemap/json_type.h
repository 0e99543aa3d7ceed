/* Small jansson helpers shared by the rolemap files. */
#ifndef AG_ROLEMAP_JSON_TYPE_H
#define AG_ROLEMAP_JSON_TYPE_H

#include <jansson.h>

/** "an object", "a string", "null", ... for error messages. */
const char *ag_rolemap_json_type_name(const json_t *v);

#endif
