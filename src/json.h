/* A strict, small JSON (RFC 8259) DOM parser for config files, JSONL
 * import and safetensors headers. Internal. */
#ifndef MOM_JSON_H
#define MOM_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Nesting deeper than this is rejected (bounds the recursion). */
#define JSON_MAX_DEPTH 64

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    int boolean;
    double number; int is_int; int64_t integer;   /* is_int: the literal had no fraction/exponent and fits int64 */
    char *str; size_t str_len;                    /* decoded UTF-8 (\uXXXX incl. surrogate pairs), NUL-terminated */
    json_value *items; size_t n_items;            /* array */
    char **keys; json_value *vals; size_t n_keys; /* object, in file order */
};

/* Parses exactly one JSON value from text[0..len) (surrounding whitespace
 * allowed, nothing else). text need not be NUL-terminated.
 * Beyond the grammar it rejects: invalid UTF-8, lone surrogates, numbers
 * that overflow a double, nesting deeper than JSON_MAX_DEPTH, and object
 * keys containing U+0000 (keys are C strings). Duplicate keys are kept.
 * 0 on success; on failure -1, *out = NULL and err gets "offset N: what". */
int json_parse(const char *text, size_t len, json_value **out, char *err, size_t errlen);

/* Frees a tree returned by json_parse; accepts NULL. */
void json_free(json_value *v);

/* The first value under key, or NULL if absent or obj is not an object. */
const json_value *json_get(const json_value *obj, const char *key);

/* Writes s as a quoted, escaped JSON string into buf (NUL-terminated,
 * truncated to cap); returns the needed length excluding the NUL, like
 * snprintf. Bytes that are not valid UTF-8 are written as \ufffd, so the
 * output is always valid JSON. */
size_t json_write_string(char *buf, size_t cap, const char *s);

/* The shortest %g form of v that reads back as the same float (1e-05, not
 * 9.99999975e-06), as snprintf into buf. */
void json_write_float(char *buf, size_t cap, float v);

#endif
