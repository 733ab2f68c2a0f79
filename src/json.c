/* Strict JSON (RFC 8259) parser into a small DOM.
 *
 * Input is any byte string with a length (NUL bytes are just invalid
 * characters). Recursion is bounded by JSON_MAX_DEPTH; every allocation is
 * size-checked; arrays and objects grow geometrically so a JSONL line with
 * 100k integers parses in linear time. Numbers that are plain integers are
 * converted exactly by hand; the rest go through strtod_l in the "C" locale
 * (created only when needed), so a caller's setlocale() cannot change how
 * "0.5" reads. */
#include "json.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
    locale_t c_locale; /* (locale_t)0 until the first non-integer number */
} parser;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail_at(parser *p, size_t off, const char *fmt, ...)
{
    if (p->err && p->errlen > 0) {
        int n = snprintf(p->err, p->errlen, "offset %zu: ", off);
        if (n >= 0 && (size_t)n < p->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* Length (1..4) of the well-formed UTF-8 sequence at s[0..n), 0 if none
 * (overlong forms, surrogates and code points above U+10FFFF are not). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return (n >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
        if (c == 0xe0 && s[1] < 0xa0) return 0; /* overlong */
        if (c == 0xed && s[1] > 0x9f) return 0; /* UTF-16 surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80) return 0;
        if (c == 0xf0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xf4 && s[1] > 0x8f) return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

static size_t utf8_put(char *dst, unsigned long cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xc0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xe0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        dst[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    dst[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static void free_contents(json_value *v)
{
    switch (v->type) {
    case JSON_STRING:
        free(v->str);
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->n_items; i++) free_contents(&v->items[i]);
        free(v->items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->n_keys; i++) {
            free(v->keys[i]);
            free_contents(&v->vals[i]);
        }
        free(v->keys);
        free(v->vals);
        break;
    default:
        break;
    }
}

void json_free(json_value *v)
{
    if (!v) return;
    free_contents(v);
    free(v);
}

const json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || !key || obj->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n_keys; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->vals[i];
    return NULL;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int describe_char(parser *p, const char *expected)
{
    if (p->pos >= p->len) return fail_at(p, p->pos, "unexpected end of input, expected %s", expected);
    unsigned char c = p->s[p->pos];
    if (c >= 0x21 && c < 0x7f) return fail_at(p, p->pos, "unexpected character '%c', expected %s", c, expected);
    return fail_at(p, p->pos, "unexpected byte 0x%02x, expected %s", c, expected);
}

/* Returns arr grown (geometrically) to hold more than n elements of size
 * elem, or NULL with arr untouched when that cannot be allocated. */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return arr;
    size_t nc = *cap ? *cap * 2 : 8;
    if (nc < *cap || nc > SIZE_MAX / elem) return NULL;
    void *q = realloc(arr, nc * elem);
    if (!q) return NULL;
    *cap = nc;
    return q;
}

static int hex4(const unsigned char *s, unsigned long *out)
{
    unsigned long v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

/* p->pos is at the opening quote. */
static int parse_string(parser *p, char **out, size_t *out_len)
{
    size_t start = p->pos;
    size_t i = start + 1;
    /* Find the closing quote first: the decoded text is never longer than
     * the raw text, so one allocation suffices. */
    while (i < p->len && p->s[i] != '"') i += (p->s[i] == '\\') ? 2 : 1;
    if (i >= p->len) return fail_at(p, start, "unterminated string");
    size_t end = i;
    char *buf = malloc(end - start);
    if (!buf) return fail_at(p, start, "out of memory");
    size_t n = 0;
    i = start + 1;
    while (i < end) {
        unsigned char c = p->s[i];
        if (c < 0x20) {
            free(buf);
            return fail_at(p, i, "control character 0x%02x in string", c);
        }
        if (c != '\\') {
            size_t k = utf8_seq_len(p->s + i, end - i);
            if (k == 0) {
                free(buf);
                return fail_at(p, i, "invalid UTF-8 byte 0x%02x in string", c);
            }
            memcpy(buf + n, p->s + i, k);
            n += k;
            i += k;
            continue;
        }
        /* i + 1 < end holds: the scan above skipped the escaped byte. */
        unsigned char e = p->s[i + 1];
        switch (e) {
        case '"': buf[n++] = '"'; i += 2; continue;
        case '\\': buf[n++] = '\\'; i += 2; continue;
        case '/': buf[n++] = '/'; i += 2; continue;
        case 'b': buf[n++] = '\b'; i += 2; continue;
        case 'f': buf[n++] = '\f'; i += 2; continue;
        case 'n': buf[n++] = '\n'; i += 2; continue;
        case 'r': buf[n++] = '\r'; i += 2; continue;
        case 't': buf[n++] = '\t'; i += 2; continue;
        case 'u': break;
        default:
            free(buf);
            if (e >= 0x21 && e < 0x7f) return fail_at(p, i, "invalid escape '\\%c'", e);
            return fail_at(p, i, "invalid escape byte 0x%02x", e);
        }
        unsigned long cp;
        if (end - i < 6 || hex4(p->s + i + 2, &cp) != 0) {
            free(buf);
            return fail_at(p, i, "invalid \\u escape");
        }
        if (cp >= 0xdc00 && cp <= 0xdfff) {
            free(buf);
            return fail_at(p, i, "lone low surrogate \\u%04lx", cp);
        }
        if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned long lo;
            if (end - i < 12 || p->s[i + 6] != '\\' || p->s[i + 7] != 'u' || hex4(p->s + i + 8, &lo) != 0 ||
                lo < 0xdc00 || lo > 0xdfff) {
                free(buf);
                return fail_at(p, i, "lone high surrogate \\u%04lx", cp);
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            i += 12;
        } else {
            i += 6;
        }
        n += utf8_put(buf + n, cp);
    }
    buf[n] = '\0';
    p->pos = end + 1;
    *out = buf;
    *out_len = n;
    return 0;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int parse_number(parser *p, json_value *v)
{
    size_t start = p->pos, i = p->pos;
    int neg = 0, plain = 1;
    if (i < p->len && p->s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i < p->len && p->s[i] == '0') {
        i++;
    } else if (i < p->len && p->s[i] >= '1' && p->s[i] <= '9') {
        while (i < p->len && is_digit(p->s[i])) i++;
    } else {
        return fail_at(p, start, "invalid number");
    }
    if (i < p->len && p->s[i] == '.') {
        plain = 0;
        i++;
        if (i >= p->len || !is_digit(p->s[i])) return fail_at(p, start, "invalid number: no digit after '.'");
        while (i < p->len && is_digit(p->s[i])) i++;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        plain = 0;
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        if (i >= p->len || !is_digit(p->s[i])) return fail_at(p, start, "invalid number: no digit in exponent");
        while (i < p->len && is_digit(p->s[i])) i++;
    }
    v->type = JSON_NUMBER;
    if (plain) {
        /* Exact integer path: magnitude up to 2^63 for negatives. */
        uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        int fits = 1;
        for (size_t k = start + (size_t)neg; k < i; k++) {
            uint64_t d = (uint64_t)(p->s[k] - '0');
            if (mag > (limit - d) / 10) {
                fits = 0;
                break;
            }
            mag = mag * 10 + d;
        }
        if (fits) {
            v->is_int = 1;
            v->integer = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
            v->number = (neg && mag == 0) ? -0.0 : (double)v->integer;
            p->pos = i;
            return 0;
        }
    }
    if (p->c_locale == (locale_t)0) {
        p->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        if (p->c_locale == (locale_t)0) return fail_at(p, start, "cannot create the C locale");
    }
    size_t n = i - start;
    char small[64];
    char *tmp = n < sizeof small ? small : malloc(n + 1);
    if (!tmp) return fail_at(p, start, "out of memory");
    memcpy(tmp, p->s + start, n);
    tmp[n] = '\0';
    double d = strtod_l(tmp, NULL, p->c_locale);
    if (tmp != small) free(tmp);
    if (!isfinite(d)) return fail_at(p, start, "number out of range");
    v->number = d;
    p->pos = i;
    return 0;
}

static int parse_value(parser *p, json_value *v, int depth);

static int parse_array(parser *p, json_value *v, int depth)
{
    size_t cap = 0;
    v->type = JSON_ARRAY;
    p->pos++; /* '[' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return 0;
    }
    for (;;) {
        json_value *items = grow(v->items, &cap, v->n_items, sizeof *v->items);
        if (!items) return fail_at(p, p->pos, "out of memory");
        v->items = items;
        json_value *item = &v->items[v->n_items];
        memset(item, 0, sizeof *item);
        if (parse_value(p, item, depth + 1) != 0) {
            free_contents(item);
            return -1;
        }
        v->n_items++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            return 0;
        }
        return describe_char(p, "',' or ']'");
    }
}

static int parse_object(parser *p, json_value *v, int depth)
{
    size_t cap_k = 0, cap_v = 0;
    v->type = JSON_OBJECT;
    p->pos++; /* '{' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"') return describe_char(p, "a string key");
        char **keys = grow(v->keys, &cap_k, v->n_keys, sizeof *v->keys);
        if (!keys) return fail_at(p, p->pos, "out of memory");
        v->keys = keys;
        json_value *vals = grow(v->vals, &cap_v, v->n_keys, sizeof *v->vals);
        if (!vals) return fail_at(p, p->pos, "out of memory");
        v->vals = vals;
        size_t key_off = p->pos, key_len;
        char *key;
        if (parse_string(p, &key, &key_len) != 0) return -1;
        if (strlen(key) != key_len) {
            free(key);
            return fail_at(p, key_off, "object key contains U+0000");
        }
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            free(key);
            return describe_char(p, "':'");
        }
        p->pos++;
        json_value *val = &v->vals[v->n_keys];
        memset(val, 0, sizeof *val);
        if (parse_value(p, val, depth + 1) != 0) {
            free(key);
            free_contents(val);
            return -1;
        }
        v->keys[v->n_keys] = key;
        v->n_keys++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            return 0;
        }
        return describe_char(p, "',' or '}'");
    }
}

static int literal(parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return describe_char(p, "a value");
    p->pos += n;
    return 0;
}

static int parse_value(parser *p, json_value *v, int depth)
{
    if (depth > JSON_MAX_DEPTH) return fail_at(p, p->pos, "nesting deeper than %d", JSON_MAX_DEPTH);
    skip_ws(p);
    if (p->pos >= p->len) return fail_at(p, p->pos, "unexpected end of input, expected a value");
    switch (p->s[p->pos]) {
    case '{': return parse_object(p, v, depth);
    case '[': return parse_array(p, v, depth);
    case '"':
        v->type = JSON_STRING;
        return parse_string(p, &v->str, &v->str_len);
    case 't':
        v->type = JSON_BOOL;
        v->boolean = 1;
        return literal(p, "true");
    case 'f':
        v->type = JSON_BOOL;
        return literal(p, "false");
    case 'n':
        v->type = JSON_NULL;
        return literal(p, "null");
    default:
        if (p->s[p->pos] == '-' || is_digit(p->s[p->pos])) return parse_number(p, v);
        return describe_char(p, "a value");
    }
}

int json_parse(const char *text, size_t len, json_value **out, char *err, size_t errlen)
{
    parser p = {(const unsigned char *)text, len, 0, err, errlen, (locale_t)0};
    if (err && errlen) err[0] = '\0';
    if (!out) return -1;
    *out = NULL;
    if (!text && len) return fail_at(&p, 0, "no input");
    json_value *v = calloc(1, sizeof *v);
    if (!v) return fail_at(&p, 0, "out of memory");
    int rc = parse_value(&p, v, 1);
    if (rc == 0) {
        skip_ws(&p);
        if (p.pos != p.len) rc = describe_char(&p, "end of input");
    }
    if (p.c_locale != (locale_t)0) freelocale(p.c_locale);
    if (rc != 0) {
        json_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

size_t json_write_string(char *buf, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t n = 0, len = strlen((const char *)u);
#define PUT(ch)                                  \
    do {                                         \
        if (n + 1 < cap) buf[n] = (char)(ch);    \
        n++;                                     \
    } while (0)
    PUT('"');
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT(c);
            i++;
        } else if (c < 0x20) {
            PUT('\\');
            switch (c) {
            case '\b': PUT('b'); break;
            case '\f': PUT('f'); break;
            case '\n': PUT('n'); break;
            case '\r': PUT('r'); break;
            case '\t': PUT('t'); break;
            default:
                PUT('u');
                PUT('0');
                PUT('0');
                PUT(hex[c >> 4]);
                PUT(hex[c & 15]);
            }
            i++;
        } else if (c < 0x80) {
            PUT(c);
            i++;
        } else {
            size_t k = utf8_seq_len(u + i, len - i);
            if (k == 0) {
                const char *rep = "\\ufffd";
                for (const char *r = rep; *r; r++) PUT(*r);
                i++;
            } else {
                for (size_t j = 0; j < k; j++) PUT(u[i + j]);
                i += k;
            }
        }
    }
    PUT('"');
#undef PUT
    if (cap > 0) buf[n < cap ? n : cap - 1] = '\0';
    return n;
}

void json_write_float(char *buf, size_t cap, float v)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}
