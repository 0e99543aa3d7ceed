/* The only jansson user besides log.c; see json.h. */
#include "core/json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

ag_json *ag_json_parse(const char *buf, size_t len, unsigned flags, struct ag_json_error *e)
{
    size_t jf = JSON_REJECT_DUPLICATES;
    if (flags & AG_JSON_ANY)
        jf |= JSON_DECODE_ANY;
    if (flags & AG_JSON_ALLOW_NUL)
        jf |= JSON_ALLOW_NUL;
    json_error_t je;
    json_t *v = json_loadb(buf, len, jf, &je);
    if (!v && e) {
        e->line = je.line;
        e->column = je.column;
        snprintf(e->text, sizeof(e->text), "%s", je.text);
    }
    return v;
}

char *ag_json_dump(const ag_json *v, unsigned flags)
{
    size_t jf = 0;
    if (flags & AG_JSON_COMPACT)
        jf |= JSON_COMPACT;
    if (flags & AG_JSON_PRETTY)
        jf |= JSON_INDENT(2);
    if (flags & AG_JSON_ASCII)
        jf |= JSON_ENSURE_ASCII;
    if (flags & AG_JSON_SORTED)
        jf |= JSON_SORT_KEYS;
    return json_dumps(v, jf);
}

ag_json *ag_json_get(const ag_json *obj, const char *key)
{
    return json_object_get(obj, key);
}

ag_json *ag_json_getn(const ag_json *obj, const char *key, size_t key_len)
{
    return json_object_getn(obj, key, key_len);
}

size_t ag_json_size(const ag_json *obj)
{
    return json_object_size(obj);
}

size_t ag_json_array_size(const ag_json *arr)
{
    return json_array_size(arr);
}

ag_json *ag_json_at(const ag_json *arr, size_t i)
{
    return json_array_get(arr, i);
}

const char *ag_json_str(const ag_json *v)
{
    return json_string_value(v);
}

size_t ag_json_str_len(const ag_json *v)
{
    return json_string_length(v);
}

long long ag_json_int(const ag_json *v)
{
    return (long long)json_integer_value(v);
}

double ag_json_real(const ag_json *v)
{
    return json_real_value(v);
}

double ag_json_number(const ag_json *v)
{
    return json_number_value(v);
}

bool ag_json_is_object(const ag_json *v)
{
    return json_is_object(v);
}

bool ag_json_is_array(const ag_json *v)
{
    return json_is_array(v);
}

bool ag_json_is_string(const ag_json *v)
{
    return json_is_string(v);
}

bool ag_json_is_integer(const ag_json *v)
{
    return json_is_integer(v);
}

bool ag_json_is_real(const ag_json *v)
{
    return json_is_real(v);
}

bool ag_json_is_true(const ag_json *v)
{
    return json_is_true(v);
}

bool ag_json_is_bool(const ag_json *v)
{
    return json_is_boolean(v);
}

bool ag_json_is_null(const ag_json *v)
{
    return json_is_null(v);
}

bool ag_json_equal(const ag_json *a, const ag_json *b)
{
    return json_equal(a, b) != 0;
}

const char *ag_json_type_name(const ag_json *v)
{
    if (!v)
        return "missing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown JSON value";
}

static ag_json *ag_json_must(json_t *v)
{
    if (!v)
        abort();
    return v;
}

ag_json *ag_json_new_object(void)
{
    return ag_json_must(json_object());
}

ag_json *ag_json_new_array(void)
{
    return ag_json_must(json_array());
}

ag_json *ag_json_new_str(const char *s)
{
    return s ? json_string(s) : NULL;
}

ag_json *ag_json_new_strn(const char *s, size_t len)
{
    return s ? json_stringn(s, len) : NULL;
}

ag_json *ag_json_new_int(long long v)
{
    return ag_json_must(json_integer((json_int_t)v));
}

ag_json *ag_json_new_bool(bool v)
{
    return json_boolean(v);
}

ag_json *ag_json_new_null(void)
{
    return json_null();
}

int ag_json_set(ag_json *obj, const char *key, ag_json *v)
{
    return json_object_set_new(obj, key, v);
}

int ag_json_set_ref(ag_json *obj, const char *key, ag_json *v)
{
    return json_object_set(obj, key, v);
}

int ag_json_append(ag_json *arr, ag_json *v)
{
    return json_array_append_new(arr, v);
}

int ag_json_update(ag_json *obj, const ag_json *src, bool missing_only)
{
    /* jansson's update takes a non-const source but only reads it */
    return missing_only ? json_object_update_missing(obj, (json_t *)src)
                        : json_object_update(obj, (json_t *)src);
}

ag_json *ag_json_deep_copy(const ag_json *v)
{
    return json_deep_copy(v);
}

ag_json *ag_json_incref(ag_json *v)
{
    return json_incref(v);
}

void ag_json_decref(ag_json *v)
{
    json_decref(v);
}
