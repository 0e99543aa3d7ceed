/* The JSON access layer: every folder reads and writes JSON through these calls, and only
 * core/json.c (and the JSON log lines of core/log.c) include jansson. A value is jansson's
 * reference-counted json_t under our name; the type is incomplete here on purpose.
 * Ownership: ag_json_parse and ag_json_new_* return a new reference (ag_json_decref it);
 * ag_json_get/ag_json_at borrow; ag_json_set and ag_json_append steal the value they are given. */
#ifndef AG_CORE_JSON_H
#define AG_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef struct json_t ag_json;

/* Parsing: duplicate object keys are always refused (a signed token with two "sub" must not
 * mean whichever one the reader happens to take). */
enum ag_json_parse_flags {
    AG_JSON_ANY = 1,       /* any value at the top, not only an object or array */
    AG_JSON_ALLOW_NUL = 2, /* "\u0000" inside strings */
};

struct ag_json_error {
    int line, column;
    char text[160];
};

/** A new reference, or NULL with e (may be NULL) filled. */
ag_json *ag_json_parse(const char *buf, size_t len, unsigned flags, struct ag_json_error *e);

enum ag_json_dump_flags {
    AG_JSON_COMPACT = 1, /* no spaces */
    AG_JSON_PRETTY = 2,  /* indented by 2 */
    AG_JSON_ASCII = 4,   /* \uXXXX for everything outside ASCII */
    AG_JSON_SORTED = 8,  /* object keys sorted */
};

/** malloc'ed text (free() it), or NULL. */
char *ag_json_dump(const ag_json *v, unsigned flags);

/* Reading (NULL-safe: a NULL or mistyped value reads as absent). */
ag_json *ag_json_get(const ag_json *obj, const char *key);
ag_json *ag_json_getn(const ag_json *obj, const char *key, size_t key_len);
size_t ag_json_size(const ag_json *obj); /* members of an object */
size_t ag_json_array_size(const ag_json *arr);
ag_json *ag_json_at(const ag_json *arr, size_t i);
const char *ag_json_str(const ag_json *v); /* NULL unless a string */
size_t ag_json_str_len(const ag_json *v);
long long ag_json_int(const ag_json *v); /* 0 unless an integer */
double ag_json_real(const ag_json *v);
double ag_json_number(const ag_json *v); /* integer or real */
bool ag_json_is_object(const ag_json *v);
bool ag_json_is_array(const ag_json *v);
bool ag_json_is_string(const ag_json *v);
bool ag_json_is_integer(const ag_json *v);
bool ag_json_is_real(const ag_json *v);
bool ag_json_is_true(const ag_json *v);
bool ag_json_is_bool(const ag_json *v);
bool ag_json_is_null(const ag_json *v);
bool ag_json_equal(const ag_json *a, const ag_json *b);
/** "an object", "a string", "a number", "null", ..., "missing" for NULL: for error messages. */
const char *ag_json_type_name(const ag_json *v);

#define AG_JSON_ARRAY_FOREACH(arr, i, v)                                                           \
    for ((i) = 0; (i) < ag_json_array_size(arr) && ((v) = ag_json_at((arr), (i))) != NULL; (i)++)

/* Building (allocation failure aborts, as everywhere in airgate). */
ag_json *ag_json_new_object(void);
ag_json *ag_json_new_array(void);
ag_json *ag_json_new_str(const char *s); /* NULL when s is not UTF-8 */
ag_json *ag_json_new_strn(const char *s, size_t len);
ag_json *ag_json_new_int(long long v);
ag_json *ag_json_new_bool(bool v);
ag_json *ag_json_new_null(void);
/** Sets obj[key] = v, stealing v (also on failure); non-zero on failure (v NULL, bad key). */
int ag_json_set(ag_json *obj, const char *key, ag_json *v);
/** Sets obj[key] = v, taking a new reference (v stays the caller's). */
int ag_json_set_ref(ag_json *obj, const char *key, ag_json *v);
/** Appends v to arr, stealing it. */
int ag_json_append(ag_json *arr, ag_json *v);
/** Copies members of src into obj: all of them, or (missing_only) those obj lacks. */
int ag_json_update(ag_json *obj, const ag_json *src, bool missing_only);
ag_json *ag_json_deep_copy(const ag_json *v);
ag_json *ag_json_incref(ag_json *v);
void ag_json_decref(ag_json *v);

#endif
