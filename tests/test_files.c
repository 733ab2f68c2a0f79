/* Files users hand us: JSON, safetensors, dataset files and JSONL import.
 * Every reader is fed good files, every truncation, single corrupted bytes
 * and headers that lie; every writer is made to fail and must leave no
 * temporary file behind. */
#include "ctx.h"
#include "json.h"
#include "safetensors.h"
#include "test_util.h"

/* ---- fixture: a fresh temporary directory and a context per test ------- */

#define FIXTURE_TAG "files"
#include "test_dir_fixture.h"

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ---- JSON ------------------------------------------------------------- */

static json_value *parse_ok(const char *s)
{
    json_value *v = NULL;
    char err[128];
    int rc = json_parse(s, strlen(s), &v, err, sizeof err);
    if (rc != 0) fail_msg("rejected %s: %s", s, err);
    assert_non_null(v);
    return v;
}

static void test_json_accept(void **state)
{
    (void)state;
    json_value *v = parse_ok(" {\"a\": [1, -2, 3.5, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\\/\"],"
                             " \"b\": {}, \"c\": [], \"k\": 1, \"k\": 2, \"z\": \"a\\u0000b\"} \r\n\t");
    assert_int_equal(v->type, JSON_OBJECT);
    assert_int_equal(v->n_keys, 6);
    assert_string_equal(v->keys[0], "a");
    assert_string_equal(v->keys[5], "z");
    const json_value *a = json_get(v, "a");
    assert_non_null(a);
    assert_int_equal(a->type, JSON_ARRAY);
    assert_int_equal(a->n_items, 7);
    assert_true(a->items[0].is_int && a->items[0].integer == 1);
    assert_true(a->items[1].is_int && a->items[1].integer == -2 && a->items[1].number == -2.0);
    assert_false(a->items[2].is_int);
    assert_true(a->items[2].number == 3.5);
    assert_true(a->items[3].type == JSON_BOOL && a->items[3].boolean == 1);
    assert_true(a->items[4].type == JSON_BOOL && a->items[4].boolean == 0);
    assert_int_equal(a->items[5].type, JSON_NULL);
    assert_int_equal(a->items[6].type, JSON_STRING);
    assert_int_equal(a->items[6].str_len, 9);
    assert_memory_equal(a->items[6].str, "x\xc3\xa9\xf0\x9f\x98\x80\n/", 10); /* incl. NUL */
    assert_int_equal(json_get(v, "b")->type, JSON_OBJECT);
    assert_int_equal(json_get(v, "c")->n_items, 0);
    assert_int_equal(json_get(v, "k")->integer, 1); /* the first of duplicates */
    assert_int_equal(json_get(v, "z")->str_len, 3);
    assert_memory_equal(json_get(v, "z")->str, "a\0b", 4);
    assert_null(json_get(v, "missing"));
    assert_null(json_get(a, "a")); /* not an object */
    json_free(v);

    /* Number edge cases. */
    v = parse_ok("[9223372036854775807, -9223372036854775808, 9223372036854775808, -0, 0, 1e2, "
                 "-1.5E-3, 2.5e+1, 1e-400, 123456789012345678901234567890]");
    assert_true(v->items[0].is_int && v->items[0].integer == INT64_MAX);
    assert_true(v->items[1].is_int && v->items[1].integer == INT64_MIN);
    assert_false(v->items[2].is_int);
    assert_true(v->items[2].number == 9223372036854775808.0);
    assert_true(v->items[3].is_int && v->items[3].integer == 0 && signbit(v->items[3].number));
    assert_true(v->items[4].is_int && !signbit(v->items[4].number));
    assert_false(v->items[5].is_int);
    assert_true(v->items[5].number == 100.0);
    assert_true(v->items[6].number == -1.5e-3);
    assert_true(v->items[7].number == 25.0);
    assert_true(v->items[8].number == 0.0);
    assert_true(v->items[9].number == 1.2345678901234568e29);
    json_free(v);

    /* Scalars at top level, raw UTF-8, DEL is not a control character. */
    v = parse_ok("\"\xe2\x82\xac\x7f\"");
    assert_int_equal(v->str_len, 4);
    json_free(v);
    v = parse_ok("  42  ");
    assert_true(v->is_int && v->integer == 42);
    json_free(v);

    /* Exactly JSON_MAX_DEPTH levels are fine. */
    char deep[2 * JSON_MAX_DEPTH + 1];
    for (int i = 0; i < JSON_MAX_DEPTH; i++) {
        deep[i] = '[';
        deep[2 * JSON_MAX_DEPTH - 1 - i] = ']';
    }
    deep[2 * JSON_MAX_DEPTH] = '\0';
    v = parse_ok(deep);
    json_free(v);

    json_free(NULL); /* accepted */
}

static void test_json_big_array(void **state)
{
    (void)state;
    const size_t n = 100000;
    char *s = malloc(n * 8 + 16);
    assert_non_null(s);
    size_t k = 0;
    s[k++] = '[';
    for (size_t i = 0; i < n; i++) k += (size_t)sprintf(s + k, "%s%zu", i ? "," : "", (i * 7919) % 65536);
    s[k++] = ']';
    json_value *v = NULL;
    char err[128];
    assert_int_equal(json_parse(s, k, &v, err, sizeof err), 0); /* no NUL: len is exact */
    assert_int_equal(v->n_items, n);
    for (size_t i = 0; i < n; i += 997) assert_int_equal(v->items[i].integer, (int64_t)((i * 7919) % 65536));
    assert_int_equal(v->items[n - 1].integer, (int64_t)(((n - 1) * 7919) % 65536));
    json_free(v);
    free(s);
}

static void test_json_reject(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", " ", "[", "]", "{", "}", "[1,]", "[,1]", "[1 2]", "{\"a\"}", "{\"a\":}", "{a:1}", "{\"a\":1,}",
        "{\"a\":1 \"b\":2}", "{,}", "{\"a\":1}}", "01", "-01", "1.", ".5", "-", "+1", "1e", "1e+", "1.e5", "0x10",
        "NaN", "nan", "Infinity", "-Infinity", "inf", "1e400", "-1e400", "tru", "nul", "fals", "True", "[1] x",
        "1 2", "'a'", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\uzzzz\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"", "\"\\ud800\\\"", "\"a\tb\"", "\"a\nb\"", "\"\x01\"", "\"\x1f\"", "\"\xff\"",
        "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xc3\"", "\"\xe2\x82\"",
        "\"\x80\"", "{\"a\\u0000b\":1}", "[1]\x01", "\xef\xbb\xbf{}", "/* c */ 1", "[\"a\" : 1]", "{\"a\" 1}",
        "\"\\", "\"\\u", "[-]", "[--1]", "1e5e5", "[true false]", "nulll",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_value *v = (json_value *)(uintptr_t)1;
        char err[128] = "";
        int rc = json_parse(bad[i], strlen(bad[i]), &v, err, sizeof err);
        if (rc != -1) fail_msg("accepted bad JSON #%zu: %s", i, bad[i]);
        assert_null(v);
        if (strncmp(err, "offset ", 7) != 0) fail_msg("bad message for #%zu: %s", i, err);
    }
    /* An embedded NUL byte is just an invalid character. */
    static const char nul[] = "[1,\0 2]";
    json_value *v = NULL;
    char err[128];
    assert_int_equal(json_parse(nul, sizeof nul - 1, &v, err, sizeof err), -1);
    assert_contains(err, "offset 3");
    /* Only len bytes are read: "12" with len 1 is the number 1. */
    assert_int_equal(json_parse("12", 1, &v, err, sizeof err), 0);
    assert_int_equal(v->integer, 1);
    json_free(v);
    /* Specific messages name the problem. */
    assert_int_equal(json_parse("[1, 2,", 6, &v, err, sizeof err), -1);
    assert_contains(err, "end of input");
    assert_int_equal(json_parse("\"\\q\"", 4, &v, err, sizeof err), -1);
    assert_contains(err, "invalid escape");
    /* A tiny error buffer is truncated, not overrun. */
    char tiny[4] = {'x', 'x', 'x', 'x'};
    assert_int_equal(json_parse("[", 1, &v, tiny, 3), -1);
    assert_int_equal(tiny[2], '\0');
    assert_int_equal(tiny[3], 'x');
}

/* xorshift: deterministic noise for the fuzz tests. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_json_hostile(void **state)
{
    (void)state;
    char err[128];
    json_value *v = NULL;
    /* Nesting bombs are stopped by the depth limit, not by the stack. */
    const size_t n = 200000;
    char *bomb = malloc(n * 5);
    assert_non_null(bomb);
    memset(bomb, '[', n);
    assert_int_equal(json_parse(bomb, n, &v, err, sizeof err), -1);
    assert_contains(err, "nesting");
    for (size_t i = 0; i < n; i++) memcpy(bomb + 5 * i, "{\"a\":", 5);
    assert_int_equal(json_parse(bomb, n * 5, &v, err, sizeof err), -1);
    assert_contains(err, "nesting");
    /* One level too deep. */
    char deep[2 * JSON_MAX_DEPTH + 3];
    memset(deep, '[', JSON_MAX_DEPTH + 1);
    memset(deep + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
    assert_int_equal(json_parse(deep, 2 * JSON_MAX_DEPTH + 2, &v, err, sizeof err), -1);
    assert_contains(err, "nesting");
    free(bomb);

    /* Every proper prefix of a document is rejected; each is parsed from an
     * exact-size heap copy, so reading one byte too far would be caught by
     * a sanitizer. */
    const char *doc = "{\"a\":[1,-2.5e3,\"s\\u00e9\\ud83d\\ude00\",{\"b\":null,\"c\":[true,false]}],\"d\":\"x\"}";
    size_t dl = strlen(doc);
    for (size_t len = 0; len < dl; len++) {
        char *cp = malloc(len ? len : 1);
        assert_non_null(cp);
        memcpy(cp, doc, len);
        if (json_parse(cp, len, &v, err, sizeof err) != -1) fail_msg("accepted prefix of length %zu", len);
        free(cp);
    }
    assert_int_equal(json_parse(doc, dl, &v, err, sizeof err), 0);
    json_free(v);

    /* Random mutations of the document and random strings over a JSON-ish
     * alphabet: never a crash, and a result is consistent with the return. */
    static const char alphabet[] = "{}[]\",:\\u0123456789abcdefeE+-.tnrl \t\n\x01\x80\xc3\xed\xff";
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int accepted = 0, rejected = 0;
    char buf[96];
    for (int iter = 0; iter < 20000; iter++) {
        size_t len;
        if (iter % 2) {
            memcpy(buf, doc, dl);
            len = dl;
            for (int k = 0; k < 1 + (int)(next_rand(&seed) % 3); k++)
                buf[next_rand(&seed) % dl] = alphabet[next_rand(&seed) % (sizeof alphabet - 1)];
        } else {
            len = next_rand(&seed) % sizeof buf;
            for (size_t k = 0; k < len; k++) buf[k] = alphabet[next_rand(&seed) % (sizeof alphabet - 1)];
        }
        int rc = json_parse(buf, len, &v, err, sizeof err);
        if (rc == 0) {
            assert_non_null(v);
            accepted++;
            json_free(v);
        } else {
            assert_int_equal(rc, -1);
            assert_null(v);
            assert_true(strncmp(err, "offset ", 7) == 0);
            rejected++;
        }
    }
    assert_true(rejected > 0);
    assert_true(accepted + rejected == 20000);
}

static void test_json_write_string(void **state)
{
    (void)state;
    char buf[128];
    const char *s = "a\"b\\c\n\t\x01\x1f/\xc3\xa9\xf0\x9f\x98\x80\x7f";
    size_t n = json_write_string(buf, sizeof buf, s);
    const char *want = "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f/\xc3\xa9\xf0\x9f\x98\x80\x7f\"";
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
    /* Round trip through the parser gives the original bytes. */
    json_value *v = NULL;
    char err[128];
    assert_int_equal(json_parse(buf, n, &v, err, sizeof err), 0);
    assert_string_equal(v->str, s);
    json_free(v);
    /* Invalid UTF-8 becomes U+FFFD so the output always parses. */
    n = json_write_string(buf, sizeof buf, "x\xff\xc3y\xed\xa0\x80");
    assert_string_equal(buf, "\"x\\ufffd\\ufffdy\\ufffd\\ufffd\\ufffd\"");
    assert_int_equal(json_parse(buf, n, &v, err, sizeof err), 0);
    assert_string_equal(v->str, "x\xef\xbf\xbd\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_free(v);
    /* Truncation works like snprintf. */
    char small[5] = "zzzz";
    assert_int_equal(json_write_string(small, 4, "hello"), 7);
    assert_string_equal(small, "\"he");
    assert_int_equal(json_write_string(NULL, 0, "ab"), 4);
    assert_int_equal(json_write_string(buf, sizeof buf, ""), 2);
    assert_string_equal(buf, "\"\"");
}

/* ---- safetensors -------------------------------------------------------- */

/* Writes LE length + header + data as a raw safetensors file. */
static void write_raw_st(const char *path, const char *header, const void *data, size_t data_len)
{
    size_t hl = strlen(header);
    uint8_t *buf = malloc(8 + hl + data_len + 1);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (data_len) memcpy(buf + 8 + hl, data, data_len);
    tu_write_file(path, buf, 8 + hl + data_len);
    free(buf);
}

static void test_st_roundtrip(void **state)
{
    fixture *f = *state;
    double scalar = -3.25;
    int64_t i64[4] = {INT64_MIN, -1, 0, INT64_MAX};
    uint64_t u64[2] = {UINT64_MAX, 12345};
    float f32[6] = {1.0f, -0.0f, 3.4028235e38f, 1e-45f, NAN, -INFINITY};
    int32_t i32[3] = {7, -7, INT32_MIN};
    uint8_t u8[5] = {0, 1, 127, 128, 255};
    st_write_tensor t[] = {
        {"scalar", ST_F64, 0, {0}, &scalar},
        {"layers.0.mixer.A_log", ST_I64, 1, {4}, i64},
        {"u64", ST_U64, 4, {1, 1, 1, 2}, u64},
        {"embedding.weight", ST_F32, 2, {2, 3}, f32},
        {"empty", ST_I32, 2, {0, 3}, NULL},
        {"i32", ST_I32, 1, {3}, i32},
        {"bytes \"quoted\" \xc3\xa9", ST_U8, 1, {5}, u8},
    };
    const size_t nt = sizeof t / sizeof t[0];
    st_meta meta[] = {{"config", "{\"d_model\": 256, \"name\": \"a\\\"b\"}"}, {"format", "pt"}, {"empty", ""}};
    char err[256];
    const char *path = in_dir(f, "model.safetensors");
    assert_int_equal(st_write(path, t, nt, meta, 3, err, sizeof err), 0);
    assert_int_equal(tu_count_entries(f->dir, NULL), 1); /* no temporary file left */

    st_file sf;
    assert_int_equal(st_open(path, &sf, err, sizeof err), 0);
    assert_int_equal(sf.n_tensors, nt);
    assert_int_equal((sf.data - sf.base) % 8, 0); /* data start is aligned */
    for (size_t i = 0; i < nt; i++) {
        const st_tensor_info *ti = st_find(&sf, t[i].name);
        assert_non_null(ti);
        assert_ptr_equal(ti, &sf.tensors[i]); /* file order is write order */
        assert_int_equal(ti->dtype, t[i].dtype);
        assert_int_equal(ti->ndim, t[i].ndim);
        for (int d = 0; d < ti->ndim; d++) assert_int_equal(ti->shape[d], t[i].shape[d]);
        size_t nbytes = (size_t)(ti->end - ti->begin);
        if (nbytes) assert_memory_equal(sf.data + ti->begin, t[i].data, nbytes); /* bit-exact, NaN included */
        /* Wider dtypes first keeps every tensor aligned to its element size. */
        assert_int_equal((uintptr_t)(sf.data + ti->begin) % st_dtype_size(ti->dtype), 0);
        if (i) assert_int_equal(ti->begin, sf.tensors[i - 1].end); /* contiguous, as the format requires */
    }
    assert_int_equal(sf.tensors[nt - 1].end, sf.size - (size_t)(sf.data - sf.base));
    assert_int_equal(st_find(&sf, "empty")->end - st_find(&sf, "empty")->begin, 0);
    assert_null(st_find(&sf, "nope"));
    assert_null(st_find(&sf, "__metadata__"));
    assert_int_equal(sf.n_meta, 3);
    assert_string_equal(st_meta_get(&sf, "config"), meta[0].value);
    assert_string_equal(st_meta_get(&sf, "format"), "pt");
    assert_string_equal(st_meta_get(&sf, "empty"), "");
    assert_null(st_meta_get(&sf, "missing"));
    st_close(&sf);
    assert_null(sf.base);
    st_close(&sf); /* twice is harmless */

    /* The bytes are exactly what Python's safetensors writes for one tensor:
     * compact JSON, metadata first, header padded with spaces to 8 bytes. */
    float two[2] = {1.5f, -2.0f};
    st_write_tensor one = {"a", ST_F32, 1, {2}, two};
    st_meta fmt = {"format", "pt"};
    assert_int_equal(st_write(path, &one, 1, &fmt, 1, err, sizeof err), 0);
    size_t n;
    uint8_t *bytes = tu_read_file(path, &n);
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    assert_int_equal(n, 8 + padded + 8);
    assert_int_equal(bytes[0], (uint8_t)padded);
    for (int i = 1; i < 8; i++) assert_int_equal(bytes[i], 0);
    assert_memory_equal(bytes + 8, hdr, hl);
    for (size_t i = hl; i < padded; i++) assert_int_equal(bytes[8 + i], ' ');
    assert_memory_equal(bytes + 8 + padded, two, 8);
    free(bytes);

    /* No tensors, no metadata: still a valid file. */
    assert_int_equal(st_write(path, NULL, 0, NULL, 0, err, sizeof err), 0);
    assert_int_equal(st_open(path, &sf, err, sizeof err), 0);
    assert_int_equal(sf.n_tensors, 0);
    assert_int_equal(sf.n_meta, 0);
    st_close(&sf);

    /* A file from another writer: whitespace, keys in any order, extra keys. */
    float d3[3] = {1, 2, 3};
    write_raw_st(path, " { \"x\" : { \"shape\" : [ 3 ] , \"data_offsets\":[0,12], \"dtype\":\"F32\" } } ", d3, 12);
    assert_int_equal(st_open(path, &sf, err, sizeof err), 0);
    assert_int_equal(sf.n_tensors, 1);
    assert_memory_equal(sf.data, d3, 12);
    st_close(&sf);
}

static void test_st_truncations(void **state)
{
    fixture *f = *state;
    float w[6] = {1, 2, 3, 4, 5, 6};
    int64_t steps[1] = {42};
    st_write_tensor t[] = {{"steps", ST_I64, 1, {1}, steps}, {"w", ST_F32, 2, {3, 2}, w}};
    st_meta meta = {"k", "v"};
    char err[256];
    const char *good = in_dir(f, "good.safetensors");
    assert_int_equal(st_write(good, t, 2, &meta, 1, err, sizeof err), 0);
    size_t n;
    uint8_t *bytes = tu_read_file(good, &n);
    char cut[256];
    snprintf(cut, sizeof cut, "%s/cut.safetensors", f->dir);
    for (size_t len = 0; len < n; len++) {
        tu_write_file(cut, bytes, len);
        st_file sf;
        err[0] = '\0';
        if (st_open(cut, &sf, err, sizeof err) != -1) fail_msg("accepted a truncation to %zu of %zu bytes", len, n);
        assert_null(sf.base);
        assert_int_equal(sf.n_tensors, 0);
        assert_true(strncmp(err, cut, strlen(cut)) == 0); /* the message names the file */
    }
    tu_write_file(cut, bytes, n);
    st_file sf;
    assert_int_equal(st_open(cut, &sf, err, sizeof err), 0);
    assert_memory_equal(sf.data + st_find(&sf, "w")->begin, w, sizeof w);
    st_close(&sf);
    free(bytes);
}

static void expect_st_reject(fixture *f, const char *header, size_t data_len, const char *what)
{
    uint8_t data[64] = {0};
    assert_true(data_len <= sizeof data);
    const char *path = in_dir(f, "lie.safetensors");
    write_raw_st(path, header, data, data_len);
    st_file sf;
    char err[512];
    if (st_open(path, &sf, err, sizeof err) != -1) fail_msg("accepted lying header %s", header);
    assert_true(strncmp(err, path, strlen(path)) == 0);
    assert_contains(err, what);
    assert_null(sf.tensors);
}

static void test_st_lying_headers(void **state)
{
    fixture *f = *state;
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past the data: 8 > 4");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 8, "overlap");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12, "span 8 bytes, shape needs 12");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "unknown dtype: F8_E4M3");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype: f32");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "too many dims: 5");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, "shape[0]");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "shape[0]");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "begin 8 > end 0");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.0,8]}}", 8, "data_offsets");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]}}", 8,
                     "data_offsets");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,0]}}",
                     0, "overflows");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", 0,
                     "overflows");
    expect_st_reject(f, "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype missing");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "shape missing");
    expect_st_reject(f, "{\"a\":[1]}", 0, "not an object");
    expect_st_reject(f, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                        "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, "duplicate tensor name: a");
    expect_st_reject(f, "{\"__metadata__\":{\"a\":1}}", 0, "not a string");
    expect_st_reject(f, "{\"__metadata__\":[]}", 0, "not an object");
    expect_st_reject(f, "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate __metadata__");
    expect_st_reject(f, "{\"__metadata__\":{\"a\":\"x\\u0000y\"}}", 0, "U+0000");
    expect_st_reject(f, "[]", 0, "not a JSON object");
    expect_st_reject(f, "{\"a\":", 0, "header JSON");
    expect_st_reject(f, "{} x", 0, "header JSON");
    /* A header that contains a NUL byte. */
    const char *path = in_dir(f, "nul.safetensors");
    uint8_t raw[8 + 8] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', 0, ' ', ' ', ' ', ' ', ' '};
    tu_write_file(path, raw, sizeof raw);
    st_file sf;
    char err[512];
    assert_int_equal(st_open(path, &sf, err, sizeof err), -1);
    assert_contains(err, "header JSON");

    /* Header lengths that lie. */
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    tu_write_file(path, huge, sizeof huge);
    assert_int_equal(st_open(path, &sf, err, sizeof err), -1);
    assert_contains(err, "header length too large: 18446744073709551615");
    uint8_t past[16] = {0xe8, 0x03, 0, 0, 0, 0, 0, 0, '{', '}'}; /* 1000 > 8 */
    tu_write_file(path, past, sizeof past);
    assert_int_equal(st_open(path, &sf, err, sizeof err), -1);
    assert_contains(err, "header length past end of file: 1000 > 8");
    uint8_t zero[16] = {0};
    tu_write_file(path, zero, sizeof zero);
    assert_int_equal(st_open(path, &sf, err, sizeof err), -1);
    assert_contains(err, "header JSON");
    /* Not a file at all. */
    assert_int_equal(st_open(f->dir, &sf, err, sizeof err), -1);
    assert_contains(err, "not a regular file");
    assert_int_equal(st_open(in_dir(f, "missing"), &sf, err, sizeof err), -1);
    assert_contains(err, "cannot open");
}

static void test_st_write_failures(void **state)
{
    fixture *f = *state;
    float w[2] = {1, 2};
    st_write_tensor t = {"w", ST_F32, 1, {2}, w};
    char err[512], path[256];

    /* The directory does not exist: nothing is created anywhere. */
    snprintf(path, sizeof path, "%s/no/such/dir/m.safetensors", f->dir);
    assert_int_equal(st_write(path, &t, 1, NULL, 0, err, sizeof err), -1);
    assert_contains(err, path);
    assert_contains(err, "No such file or directory");
    assert_int_equal(tu_count_entries(f->dir, NULL), 0);

    /* The target is a directory: the rename fails after the temporary file
     * was fully written, and the temporary file must be removed. */
    snprintf(path, sizeof path, "%s/isdir.safetensors", f->dir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(st_write(path, &t, 1, NULL, 0, err, sizeof err), -1);
    assert_contains(err, "rename");
    assert_false(tu_has_tmp_file(f->dir, 0));
    assert_int_equal(tu_count_entries(f->dir, NULL), 1);
    assert_int_equal(rmdir(path), 0);

    /* Bad input never touches an existing file. */
    snprintf(path, sizeof path, "%s/keep.safetensors", f->dir);
    assert_int_equal(st_write(path, &t, 1, NULL, 0, err, sizeof err), 0);
    size_t n0;
    uint8_t *before = tu_read_file(path, &n0);
    st_write_tensor dup[2] = {t, t};
    assert_int_equal(st_write(path, dup, 2, NULL, 0, err, sizeof err), -1);
    assert_contains(err, "duplicate tensor name: w");
    st_write_tensor bad = t;
    bad.ndim = 5;
    assert_int_equal(st_write(path, &bad, 1, NULL, 0, err, sizeof err), -1);
    assert_contains(err, "ndim out of range: 5");
    bad = t;
    bad.shape[0] = -2;
    assert_int_equal(st_write(path, &bad, 1, NULL, 0, err, sizeof err), -1);
    bad = t;
    bad.data = NULL;
    assert_int_equal(st_write(path, &bad, 1, NULL, 0, err, sizeof err), -1);
    assert_contains(err, "no data");
    bad = t;
    bad.name = "__metadata__";
    assert_int_equal(st_write(path, &bad, 1, NULL, 0, err, sizeof err), -1);
    bad = t;
    bad.dtype = (st_dtype)17;
    assert_int_equal(st_write(path, &bad, 1, NULL, 0, err, sizeof err), -1);
    assert_contains(err, "unknown dtype: 17");
    st_meta m = {"k", NULL};
    assert_int_equal(st_write(path, &t, 1, &m, 1, err, sizeof err), -1);
    size_t n1;
    uint8_t *after = tu_read_file(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_int_equal(tu_count_entries(f->dir, NULL), 1);
    free(before);
    free(after);
}

/* ---- datasets ----------------------------------------------------------- */

/* The checksum as documented in checksum.c, written again from the
 * description so the test holds the file format, not just the code. */
static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t ref_mom64(const uint8_t *p, size_t n)
{
    uint64_t h[4];
    for (int i = 0; i < 4; i++) h[i] = 0xcbf29ce484222325ull ^ (uint64_t)i;
    for (size_t off = 0; off < n; off += 32) {
        uint8_t blk[32] = {0};
        memcpy(blk, p + off, n - off < 32 ? n - off : 32);
        for (int i = 0; i < 4; i++) {
            uint64_t x = (h[i] ^ le64(blk + 8 * i)) * 0x9e3779b97f4a7c15ull;
            h[i] = x ^ (x >> 32);
        }
    }
    uint8_t tail[40];
    for (int i = 0; i < 4; i++) put_le64(tail + 8 * i, h[i]);
    put_le64(tail + 32, (uint64_t)n);
    uint64_t r = 0xcbf29ce484222325ull;
    for (int i = 0; i < 40; i++) r = (r ^ tail[i]) * 0x100000001b3ull;
    return r;
}

/* Recomputes the checksum of a dataset image in place. */
static void fix_checksum(uint8_t *file, size_t n)
{
    put_le64(file + 64, 0);
    put_le64(file + 64, ref_mom64(file, n));
}

enum { NT = 10 };
static const int32_t ds_tok[NT] = {5, 17, 3, 9, 8, 7, 1, 2, 3, 1023};
static const uint8_t ds_mod[NT] = {0, 0, 1, 2, 2, 2, 0, 1, 1, 2};
static const int64_t ds_docs[4] = {0, 3, 6, NT};

static void write_small_dataset(fixture *f, const char *name)
{
    assert_int_equal(mom_dataset_write(&f->ctx, in_dir(f, name), ds_tok, ds_mod, NT, ds_docs, 3, 1024, 3, NULL, NULL, NULL), MOM_OK);
}

static void test_ds_roundtrip(void **state)
{
    fixture *f = *state;
    write_small_dataset(f, "train.bin");
    assert_int_equal(tu_count_entries(f->dir, NULL), 1);
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(&f->ctx, in_dir(f, "train.bin"), &d), MOM_OK);
    assert_non_null(d);
    assert_int_equal(mom_dataset_n_tokens(d), NT);
    assert_int_equal(mom_dataset_n_docs(d), 3);
    assert_int_equal(mom_dataset_vocab_size(d), 1024);
    assert_int_equal(mom_dataset_n_modalities(d), 3);
    assert_memory_equal(mom_dataset_tokens(d), ds_tok, sizeof ds_tok);
    assert_memory_equal(mom_dataset_modalities(d), ds_mod, sizeof ds_mod);
    assert_int_equal((uintptr_t)mom_dataset_tokens(d) % 4, 0);

    /* Batches: row b is tokens [starts[b], starts[b] + T + 1). */
    int32_t tok[8], tgt[8];
    uint8_t mod[8], tmod[8];
    int64_t starts[2] = {0, 5};
    assert_int_equal(mom_dataset_fill_batch(d, 2, 4, starts, tok, mod, tgt, tmod), MOM_OK);
    static const int32_t want_tok[8] = {5, 17, 3, 9, 7, 1, 2, 3}, want_tgt[8] = {17, 3, 9, 8, 1, 2, 3, 1023};
    static const uint8_t want_mod[8] = {0, 0, 1, 2, 2, 0, 1, 1}, want_tmod[8] = {0, 1, 2, 2, 0, 1, 1, 2};
    assert_memory_equal(tok, want_tok, sizeof tok);
    assert_memory_equal(tgt, want_tgt, sizeof tgt);
    assert_memory_equal(mod, want_mod, sizeof mod);
    assert_memory_equal(tmod, want_tmod, sizeof tmod);
    /* Windows out of range, and bad arguments. */
    int64_t last_ok[1] = {NT - 5}, past[1] = {NT - 4}, neg[1] = {-1}, big[1] = {INT64_MAX};
    assert_int_equal(mom_dataset_fill_batch(d, 1, 4, last_ok, tok, mod, tgt, tmod), MOM_OK);
    assert_int_equal(tgt[3], 1023);
    memset(tok, 0x55, sizeof tok);
    assert_int_equal(mom_dataset_fill_batch(d, 1, 4, past, tok, mod, tgt, tmod), MOM_ERR_INVALID_ARG);
    assert_int_equal(tok[0], 0x55555555); /* nothing written on failure */
    assert_int_equal(mom_dataset_fill_batch(d, 1, 4, neg, tok, mod, tgt, tmod), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_fill_batch(d, 1, 4, big, tok, mod, tgt, tmod), MOM_ERR_INVALID_ARG);
    int64_t zero[1] = {0};
    assert_int_equal(mom_dataset_fill_batch(d, 1, NT, zero, tok, mod, tgt, tmod), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_fill_batch(d, 1, NT - 1, zero, NULL, mod, tgt, tmod), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_fill_batch(d, 0, 4, zero, tok, mod, tgt, tmod), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_fill_batch(d, 1, 0, zero, tok, mod, tgt, tmod), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_fill_batch(NULL, 1, 4, zero, tok, mod, tgt, tmod), MOM_ERR_INVALID_ARG);
    mom_dataset_destroy(&d);
    assert_null(d);
    mom_dataset_destroy(&d); /* NULL is fine */
    mom_dataset_destroy(NULL);
    assert_int_equal(mom_dataset_n_tokens(NULL), 0);

    /* The on-disk layout: header fields and document starts. */
    size_t n;
    uint8_t *b = tu_read_file(in_dir(f, "train.bin"), &n);
    assert_memory_equal(b, "MOMDATA\0", 8);
    assert_int_equal(le64(b + 24), NT);
    assert_int_equal(le64(b + 32), 3);
    uint64_t doc_off = le64(b + 56);
    assert_int_equal(doc_off % 8, 0);
    assert_int_equal(n, doc_off + 3 * 8);
    for (int i = 0; i < 3; i++) assert_int_equal(le64(b + doc_off + 8 * (size_t)i), ds_docs[i]);
    uint64_t stored = le64(b + 64);
    fix_checksum(b, n);
    assert_int_equal(le64(b + 64), stored); /* the documented checksum */
    free(b);

    /* Without doc_starts there is one document; without mods all are 0. */
    assert_int_equal(mom_dataset_write(&f->ctx, in_dir(f, "one.bin"), ds_tok, NULL, NT, NULL, 0, 1024, 1, NULL, NULL, NULL), MOM_OK);
    assert_int_equal(mom_dataset_open(&f->ctx, in_dir(f, "one.bin"), &d), MOM_OK);
    assert_int_equal(mom_dataset_n_docs(d), 1);
    assert_int_equal(mom_dataset_n_modalities(d), 1);
    for (int i = 0; i < NT; i++) assert_int_equal(mom_dataset_modalities(d)[i], 0);
    mom_dataset_destroy(&d);
    /* A single token is the smallest dataset. */
    assert_int_equal(mom_dataset_write(&f->ctx, in_dir(f, "tiny.bin"), ds_tok, ds_mod, 1, NULL, 1, 6, 1, NULL, NULL, NULL), MOM_OK);
    assert_int_equal(mom_dataset_open(&f->ctx, in_dir(f, "tiny.bin"), &d), MOM_OK);
    assert_int_equal(mom_dataset_tokens(d)[0], 5);
    assert_int_equal(mom_dataset_fill_batch(d, 1, 1, zero, tok, mod, tgt, tmod), MOM_ERR_INVALID_ARG);
    mom_dataset_destroy(&d);
    assert_false(tu_has_tmp_file(f->dir, 0));
}

/* Version 1 files (before the vocabulary layout) still open, with no
 * layout; in them bytes 72..87 are reserved, so a set byte is refused. */
static void test_ds_version_1(void **state)
{
    fixture *f = *state;
    const mom_vocab_layout lay = {.n_special = MOM_N_SPECIAL, .n_text = 1017, .n_image = 0, .n_speech = 0};
    int32_t tok[4] = {MOM_TOK_BOS, 9, 10, MOM_TOK_EOS};
    assert_int_equal(mom_dataset_write(&f->ctx, in_dir(f, "v2.bin"), tok, NULL, 4, NULL, 1, 1024, 1, &lay, NULL, NULL), MOM_OK);
    size_t n;
    uint8_t *b = tu_read_file(in_dir(f, "v2.bin"), &n);
    assert_int_equal(le64(b + 8) & 0xffffffffu, 2);
    memset(b + 72, 0, 16); /* a version 1 file has no layout */
    b[8] = 1;
    fix_checksum(b, n);
    tu_write_file(in_dir(f, "v1.bin"), b, n);
    mom_dataset *d = NULL;
    if (mom_dataset_open(&f->ctx, in_dir(f, "v1.bin"), &d)) fail_msg("%s", f->ctx.err);
    mom_vocab_layout got;
    assert_int_equal(mom_dataset_vocab_layout(d, &got), MOM_OK);
    assert_false(mom_vocab_layout_is_set(&got));
    assert_int_equal(mom_dataset_tokens(d)[1], 9);
    mom_dataset_destroy(&d);
    b[72] = 7; /* the layout's place is reserved in version 1 */
    fix_checksum(b, n);
    tu_write_file(in_dir(f, "v1.bin"), b, n);
    assert_int_equal(mom_dataset_open(&f->ctx, in_dir(f, "v1.bin"), &d), MOM_ERR_FORMAT);
    assert_contains(f->ctx.err, "reserved header byte 72 is not zero: 7");
    free(b);
}

static void test_ds_truncations(void **state)
{
    fixture *f = *state;
    write_small_dataset(f, "good.bin");
    size_t n;
    uint8_t *b = tu_read_file(in_dir(f, "good.bin"), &n);
    char cut[256];
    snprintf(cut, sizeof cut, "%s/cut.bin", f->dir);
    for (size_t len = 0; len < n; len++) {
        tu_write_file(cut, b, len);
        mom_dataset *d = (mom_dataset *)(uintptr_t)1;
        f->ctx.err[0] = '\0';
        mom_status st = mom_dataset_open(&f->ctx, cut, &d);
        if (st != MOM_ERR_FORMAT) fail_msg("truncation to %zu of %zu bytes: status %d (%s)", len, n, st, f->ctx.err);
        assert_null(d);
        assert_true(strncmp(f->ctx.err, cut, strlen(cut)) == 0);
    }
    tu_write_file(cut, b, n);
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(&f->ctx, cut, &d), MOM_OK);
    mom_dataset_destroy(&d);
    free(b);
}

static void test_ds_corrupted_bytes(void **state)
{
    fixture *f = *state;
    write_small_dataset(f, "good.bin");
    size_t n;
    uint8_t *b = tu_read_file(in_dir(f, "good.bin"), &n);
    const char *path = in_dir(f, "bad.bin");
    char pathc[256];
    snprintf(pathc, sizeof pathc, "%s", path);
    /* Any single flipped bit anywhere in the file is caught: the checksum
     * covers the header as well as the sections. */
    for (size_t pos = 0; pos < n; pos++)
        for (int bit = 0; bit < 8; bit += 7) {
            b[pos] ^= (uint8_t)(1u << bit);
            tu_write_file(pathc, b, n);
            b[pos] ^= (uint8_t)(1u << bit);
            mom_dataset *d = NULL;
            mom_status st = mom_dataset_open(&f->ctx, pathc, &d);
            if (st == MOM_OK) fail_msg("bit %d of byte %zu flipped was accepted", bit, pos);
            assert_null(d);
            /* Past the header every corruption is reported as such. */
            if (pos >= 128) assert_contains(f->ctx.err, "checksum mismatch");
        }
    /* A data corruption with a recomputed checksum is caught by the range
     * checks: out-of-range token, negative token, modality. */
    uint64_t tok_off = le64(b + 40), mod_off = le64(b + 48), doc_off = le64(b + 56);
    uint8_t *c = malloc(n);
    assert_non_null(c);
    memcpy(c, b, n);
    put_le32(c + tok_off + 4 * 7, 70000);
    fix_checksum(c, n);
    tu_write_file(pathc, c, n);
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(&f->ctx, pathc, &d), MOM_ERR_DATA);
    assert_contains(f->ctx.err, pathc);
    assert_contains(f->ctx.err, "token 70000 >= vocab 1024 at index 7");
    memcpy(c, b, n);
    put_le32(c + tok_off, 0xffffffffu);
    fix_checksum(c, n);
    tu_write_file(pathc, c, n);
    assert_int_equal(mom_dataset_open(&f->ctx, pathc, &d), MOM_ERR_DATA);
    assert_contains(f->ctx.err, "token -1 < 0 at index 0");
    memcpy(c, b, n);
    c[mod_off + 4] = 3;
    fix_checksum(c, n);
    tu_write_file(pathc, c, n);
    assert_int_equal(mom_dataset_open(&f->ctx, pathc, &d), MOM_ERR_DATA);
    assert_contains(f->ctx.err, "modality 3 >= n_modalities 3 at index 4");
    /* Document starts: not starting at 0, not ascending, past the end. */
    uint64_t bad_docs[3][3] = {{1, 3, 6}, {0, 6, 3}, {0, 3, NT}};
    const char *what[3] = {"first document start is not 0: 1", "document start 3 not ascending",
                           "document start 10 not ascending or >= n_tokens 10"};
    for (int k = 0; k < 3; k++) {
        memcpy(c, b, n);
        for (int i = 0; i < 3; i++) put_le64(c + doc_off + 8 * (size_t)i, bad_docs[k][i]);
        fix_checksum(c, n);
        tu_write_file(pathc, c, n);
        assert_int_equal(mom_dataset_open(&f->ctx, pathc, &d), MOM_ERR_FORMAT);
        assert_contains(f->ctx.err, what[k]);
    }
    /* A smaller vocab in the header, checksum fixed: the tokens no longer fit. */
    memcpy(c, b, n);
    put_le32(c + 16, 1000);
    fix_checksum(c, n);
    tu_write_file(pathc, c, n);
    assert_int_equal(mom_dataset_open(&f->ctx, pathc, &d), MOM_ERR_DATA);
    assert_contains(f->ctx.err, "token 1023 >= vocab 1000 at index 9");
    /* The reference checksum agrees with the writer's. */
    memcpy(c, b, n);
    fix_checksum(c, n);
    assert_memory_equal(c, b, n);
    free(c);
    free(b);
}

typedef struct lie {
    size_t off;
    int width; /* 1, 4 or 8 bytes */
    uint64_t value;
    mom_status status;
    const char *what;
} lie;

static void test_ds_lying_header(void **state)
{
    fixture *f = *state;
    write_small_dataset(f, "good.bin");
    size_t n;
    uint8_t *b = tu_read_file(in_dir(f, "good.bin"), &n);
    uint64_t tok_off = le64(b + 40), mod_off = le64(b + 48);
    const lie lies[] = {
        {0, 1, 'X', MOM_ERR_FORMAT, "bad magic"},
        {7, 1, '!', MOM_ERR_FORMAT, "bad magic"},
        {8, 4, 4, MOM_ERR_FORMAT, "unsupported version: 4"},
        {8, 4, 0, MOM_ERR_FORMAT, "unsupported version: 0"},
        {88, 1, 2, MOM_ERR_FORMAT, "reserved header byte 88 is not zero: 2"}, /* no patches before version 3 */
        {72, 4, 5, MOM_ERR_FORMAT, "does not sum to vocab_size 1024"},
        {12, 4, 0, MOM_ERR_FORMAT, "n_modalities out of range [1, 8]: 0"},
        {12, 4, 9, MOM_ERR_FORMAT, "n_modalities out of range [1, 8]: 9"},
        {16, 4, 0, MOM_ERR_FORMAT, "vocab_size out of range: 0"},
        {16, 4, 0x80000000u, MOM_ERR_FORMAT, "vocab_size out of range: 2147483648"},
        {20, 4, 1, MOM_ERR_UNSUPPORTED, "unsupported flags: 0x1"},
        {100, 1, 7, MOM_ERR_FORMAT, "reserved header byte 100 is not zero: 7"},
        {24, 8, 0, MOM_ERR_FORMAT, "n_tokens does not fit"},
        {24, 8, 1ull << 62, MOM_ERR_FORMAT, "n_tokens does not fit the file of"},
        {24, 8, UINT64_MAX, MOM_ERR_FORMAT, "n_tokens does not fit"},
        {24, 8, 17, MOM_ERR_FORMAT, "tokens_offset and modalities_offset sections overlap"},
        {24, 8, NT + 1, MOM_ERR_FORMAT, "checksum mismatch"}, /* still fits the padding */
        {24, 8, NT - 1, MOM_ERR_FORMAT, "checksum mismatch"},
        {32, 8, 2, MOM_ERR_FORMAT, "file size does not match the layout's end 272: 280"},
        {32, 8, 0, MOM_ERR_FORMAT, "n_docs out of range [1, n_tokens 10]: 0"},
        {32, 8, NT + 1, MOM_ERR_FORMAT, "n_docs out of range [1, n_tokens 10]: 11"},
        {32, 8, 4, MOM_ERR_FORMAT, "doc_starts_offset section runs past the end"},
        {40, 8, 0, MOM_ERR_FORMAT, "tokens_offset inside the header or misaligned: 0"},
        {40, 8, 130, MOM_ERR_FORMAT, "tokens_offset inside the header or misaligned: 130"},
        {40, 8, 1ull << 63, MOM_ERR_FORMAT, "tokens_offset section runs past the end"},
        {40, 8, UINT64_MAX - 3, MOM_ERR_FORMAT, "tokens_offset section runs past the end"},
        {48, 8, tok_off, MOM_ERR_FORMAT, "tokens_offset and modalities_offset sections overlap"},
        {48, 8, mod_off + 64, MOM_ERR_FORMAT, "overlap"},
        {56, 8, 129, MOM_ERR_FORMAT, "doc_starts_offset inside the header or misaligned: 129"},
        {56, 8, n, MOM_ERR_FORMAT, "doc_starts_offset section runs past the end"},
        {64, 8, 0, MOM_ERR_FORMAT, "checksum mismatch"},
        {16, 4, 2000, MOM_ERR_FORMAT, "checksum mismatch"}, /* a bigger vocab would pass the token check */
    };
    uint8_t *c = malloc(n + 8);
    assert_non_null(c);
    const char *path = in_dir(f, "lie.bin");
    char pathc[256];
    snprintf(pathc, sizeof pathc, "%s", path);
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        memcpy(c, b, n);
        for (int k = 0; k < lies[i].width; k++) c[lies[i].off + (size_t)k] = (uint8_t)(lies[i].value >> (8 * k));
        tu_write_file(pathc, c, n);
        mom_dataset *d = NULL;
        mom_status st = mom_dataset_open(&f->ctx, pathc, &d);
        if (st != lies[i].status || !strstr(f->ctx.err, lies[i].what) || !strstr(f->ctx.err, pathc))
            fail_msg("lie #%zu: status %d, message \"%s\", wanted \"%s\"", i, st, f->ctx.err, lies[i].what);
        assert_null(d);
    }
    /* A trailing byte. */
    memcpy(c, b, n);
    c[n] = 0;
    tu_write_file(pathc, c, n + 1);
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(&f->ctx, pathc, &d), MOM_ERR_FORMAT);
    assert_contains(f->ctx.err, "file size does not match");
    /* Not a dataset at all. */
    assert_int_equal(mom_dataset_open(&f->ctx, f->dir, &d), MOM_ERR_IO);
    assert_int_equal(mom_dataset_open(&f->ctx, in_dir(f, "missing.bin"), &d), MOM_ERR_IO);
    assert_contains(f->ctx.err, "cannot open");
    assert_int_equal(mom_dataset_open(&f->ctx, NULL, &d), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_open(&f->ctx, pathc, NULL), MOM_ERR_INVALID_ARG);
    free(c);
    free(b);
}

static void test_ds_write_rejects(void **state)
{
    fixture *f = *state;
    mom_ctx *ctx = &f->ctx;
    char path[256];
    snprintf(path, sizeof path, "%s/out.bin", f->dir);
    int32_t tok[NT];
    memcpy(tok, ds_tok, sizeof tok);
    tok[3] = 70000;
    assert_int_equal(mom_dataset_write(ctx, path, tok, ds_mod, NT, ds_docs, 3, 1024, 3, NULL, NULL, NULL), MOM_ERR_DATA);
    assert_contains(ctx->err, path);
    assert_contains(ctx->err, "token 70000 >= vocab 1024 at index 3");
    tok[3] = -5;
    assert_int_equal(mom_dataset_write(ctx, path, tok, ds_mod, NT, ds_docs, 3, 1024, 3, NULL, NULL, NULL), MOM_ERR_DATA);
    assert_contains(ctx->err, "token -5 < 0 at index 3");
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, ds_docs, 3, 1023, 3, NULL, NULL, NULL), MOM_ERR_DATA);
    assert_contains(ctx->err, "token 1023 >= vocab 1023 at index 9");
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, ds_docs, 3, 1024, 2, NULL, NULL, NULL), MOM_ERR_DATA);
    assert_contains(ctx->err, "modality 2 >= n_modalities 2 at index 3");
    const int64_t docs_unsorted[4] = {0, 6, 3, NT}, docs_nonzero[4] = {1, 3, 6, NT}, docs_short[4] = {0, 3, 6, 9},
                  docs_empty[4] = {0, 3, 3, NT};
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, docs_unsorted, 3, 1024, 3, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_contains(ctx->err, "not ascending");
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, docs_nonzero, 3, 1024, 3, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, docs_short, 3, 1024, 3, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_contains(ctx->err, "last document end 9 != n_tokens 10");
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, docs_empty, 3, 1024, 3, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, ds_docs, 0, 1024, 3, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, NULL, 3, 1024, 3, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, ds_docs, 3, 0, 3, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, ds_docs, 3, 1024, 0, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, ds_docs, 3, 1024, 9, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_contains(ctx->err, "n_modalities out of range [1, 8]: 9");
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, 0, NULL, 0, 1024, 3, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_write(ctx, path, NULL, ds_mod, NT, NULL, 0, 1024, 3, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_write(ctx, NULL, ds_tok, ds_mod, NT, NULL, 0, 1024, 3, NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_write(NULL, path, tok, ds_mod, NT, NULL, 0, 1024, 3, NULL, NULL, NULL), MOM_ERR_DATA); /* NULL ctx */
    assert_int_equal(tu_count_entries(f->dir, NULL), 0); /* nothing was created */

    /* A directory that does not exist; a target that is a directory. */
    char nodir[256];
    snprintf(nodir, sizeof nodir, "%s/no/such/train.bin", f->dir);
    assert_int_equal(mom_dataset_write(ctx, nodir, ds_tok, ds_mod, NT, ds_docs, 3, 1024, 3, NULL, NULL, NULL), MOM_ERR_IO);
    assert_contains(ctx->err, nodir);
    assert_int_equal(tu_count_entries(f->dir, NULL), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, ds_docs, 3, 1024, 3, NULL, NULL, NULL), MOM_ERR_IO);
    assert_contains(ctx->err, "rename");
    assert_false(tu_has_tmp_file(f->dir, 0));
    assert_int_equal(rmdir(path), 0);

    /* A failed write leaves an existing file as it was. */
    assert_int_equal(mom_dataset_write(ctx, path, ds_tok, ds_mod, NT, ds_docs, 3, 1024, 3, NULL, NULL, NULL), MOM_OK);
    size_t n0, n1;
    uint8_t *before = tu_read_file(path, &n0);
    tok[3] = 5000;
    assert_int_equal(mom_dataset_write(ctx, path, tok, ds_mod, NT, ds_docs, 3, 1024, 3, NULL, NULL, NULL), MOM_ERR_DATA);
    uint8_t *after = tu_read_file(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_int_equal(tu_count_entries(f->dir, NULL), 1);
    free(before);
    free(after);
}

/* ---- continuous image patches ---------------------------------------------- */

/* 4 x 4 gray images in 2 x 2 patches: 4 positions of 4 values each. */
static const mom_patch_geometry pgeom = {2, 4, 1};
static const mom_vocab_layout play = {.n_special = MOM_N_SPECIAL, .n_text = 1024 - MOM_N_SPECIAL, .n_image = 0, .n_speech = 0};
enum { PDIM = 4, PPI = 4, PNT = 25, PROWS = 12 };
#define PP MOM_TOK_PAD
/* Three documents: text then an image, an image first, an image last. */
static const int32_t pt_tok[PNT] = {MOM_TOK_BOS, 9, MOM_TOK_BOI, PP, PP, PP, PP, MOM_TOK_EOI, 10, MOM_TOK_EOS,
                                    MOM_TOK_BOI, PP, PP, PP, PP, MOM_TOK_EOI, 11,
                                    12, 13, MOM_TOK_BOI, PP, PP, PP, PP, MOM_TOK_EOI};
static const int64_t pt_docs[4] = {0, 10, 17, PNT};

/* The image modality at every pad token, text elsewhere. */
static void patch_mods(const int32_t *tok, uint8_t *mod, int64_t n)
{
    for (int64_t i = 0; i < n; i++) mod[i] = tok[i] == PP ? MOM_MOD_IMAGE : MOM_MOD_TEXT;
}

/* Row r value k: distinct, in [-1, 1). */
static void patch_rows(float *rows, int64_t n_rows)
{
    for (int64_t i = 0; i < n_rows * PDIM; i++) rows[i] = (float)(i % 250) / 125.0f - 1.0f;
}

static mom_status write_patch_file(fixture *f, const char *name, const int32_t *tok, const uint8_t *mod, int64_t n,
                                   const int64_t *docs, int64_t n_docs, const float *rows)
{
    return mom_dataset_write(&f->ctx, in_dir(f, name), tok, mod, n, docs, n_docs, 1024, 2, &play, rows, &pgeom);
}

static void write_small_patch_dataset(fixture *f, const char *name)
{
    uint8_t mod[PNT];
    float rows[PROWS * PDIM];
    patch_mods(pt_tok, mod, PNT);
    patch_rows(rows, PROWS);
    if (write_patch_file(f, name, pt_tok, mod, PNT, pt_docs, 3, rows)) fail_msg("%s", f->ctx.err);
}

/* Every window of T positions against a count from the start. */
static void check_every_window(const mom_dataset *d, const int32_t *tok, const uint8_t *mod, const float *rows,
                               int64_t n, int T)
{
    float *got = malloc(sizeof(float) * (size_t)T * PDIM);
    assert_non_null(got);
    for (int64_t s = 0; s + T + 1 <= n; s++) {
        memset(got, 0x55, sizeof(float) * (size_t)T * PDIM);
        if (mom_dataset_fill_patches(d, 1, T, &s, got)) fail_msg("window %lld of %d refused", (long long)s, T);
        int64_t rank = 0;
        for (int64_t i = 0; i < s; i++) rank += tok[i] == PP && mod[i] == MOM_MOD_IMAGE;
        for (int t = 0; t < T; t++) {
            const float *row = got + (size_t)t * PDIM;
            if (tok[s + t] == PP && mod[s + t] == MOM_MOD_IMAGE) {
                if (memcmp(row, rows + rank * PDIM, sizeof(float) * PDIM))
                    fail_msg("window %lld of %d: position %d is not patch row %lld", (long long)s, T, t, (long long)rank);
                rank++;
            } else {
                for (int k = 0; k < PDIM; k++)
                    if (row[k] != 0.0f) fail_msg("window %lld of %d: position %d is not a patch, not zero", (long long)s, T, t);
            }
        }
    }
    free(got);
}

static void test_ds_patches_roundtrip(void **state)
{
    fixture *f = *state;
    write_small_patch_dataset(f, "p.bin");
    uint8_t mod[PNT];
    float rows[PROWS * PDIM];
    patch_mods(pt_tok, mod, PNT);
    patch_rows(rows, PROWS);
    mom_dataset *d = NULL;
    if (mom_dataset_open(&f->ctx, in_dir(f, "p.bin"), &d)) fail_msg("%s", f->ctx.err);
    mom_patch_geometry g;
    assert_int_equal(mom_dataset_patch_geometry(d, &g), MOM_OK);
    assert_memory_equal(&g, &pgeom, sizeof g);
    assert_int_equal(mom_dataset_n_patches(d), PROWS);
    assert_int_equal(mom_dataset_n_modalities(d), 2);
    mom_vocab_layout lay;
    assert_int_equal(mom_dataset_vocab_layout(d, &lay), MOM_OK);
    assert_memory_equal(&lay, &play, sizeof lay);
    assert_memory_equal(mom_dataset_tokens(d), pt_tok, sizeof pt_tok);
    assert_memory_equal(mom_dataset_modalities(d), mod, sizeof mod);
    /* Every window, cut images included; non-patch rows are zero. */
    for (int T = 1; T < PNT; T += 2) check_every_window(d, pt_tok, mod, rows, PNT, T);
    /* B rows at once are the rows one at a time. */
    int64_t starts[3] = {0, 9, PNT - 8};
    float got[3 * 7 * PDIM], one[7 * PDIM];
    assert_int_equal(mom_dataset_fill_patches(d, 3, 7, starts, got), MOM_OK);
    for (int b = 0; b < 3; b++) {
        assert_int_equal(mom_dataset_fill_patches(d, 1, 7, starts + b, one), MOM_OK);
        assert_memory_equal(got + b * 7 * PDIM, one, sizeof one);
    }
    /* The windows of mom_dataset_fill_batch, no others; NULLs. */
    int64_t past[1] = {PNT - 7}, neg[1] = {-1};
    memset(one, 0x55, sizeof one);
    assert_int_equal(mom_dataset_fill_patches(d, 1, 7, past, one), MOM_ERR_INVALID_ARG);
    uint32_t first;
    memcpy(&first, one, sizeof first);
    assert_int_equal(first, 0x55555555u); /* nothing written */
    assert_int_equal(mom_dataset_fill_patches(d, 1, 7, neg, one), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_fill_patches(d, 1, PNT, starts, one), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_fill_patches(d, 0, 7, starts, one), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_fill_patches(d, 1, 0, starts, one), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_fill_patches(d, 1, 7, NULL, one), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_fill_patches(d, 1, 7, starts, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_fill_patches(NULL, 1, 7, starts, one), MOM_ERR_INVALID_ARG);
    mom_dataset_destroy(&d);
    assert_int_equal(mom_dataset_n_patches(NULL), 0);
    assert_int_equal(mom_dataset_patch_geometry(NULL, &g), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_patch_dim(&g), 0);

    /* The on-disk layout: version 3, flag 0, geometry, a 64-byte aligned
     * patches section last, reserved bytes zero, the documented checksum. */
    size_t n;
    uint8_t *b = tu_read_file(in_dir(f, "p.bin"), &n);
    assert_int_equal(le64(b + 8) & 0xffffffffu, 3);
    assert_int_equal(le64(b + 16) >> 32, 1); /* flags */
    assert_int_equal(le64(b + 88) & 0xffffffffu, 2);
    assert_int_equal(le64(b + 88) >> 32, 4);
    assert_int_equal(le64(b + 96), 1); /* channels, then 4 reserved bytes */
    const uint64_t patch_off = le64(b + 104);
    assert_int_equal(patch_off % 64, 0);
    assert_true(patch_off >= le64(b + 56) + 3 * 8);
    assert_int_equal(le64(b + 112), PROWS);
    assert_int_equal(le64(b + 120), 0);
    assert_int_equal(n, patch_off + sizeof rows);
    assert_memory_equal(b + patch_off, rows, sizeof rows);
    uint64_t stored = le64(b + 64);
    fix_checksum(b, n);
    assert_int_equal(le64(b + 64), stored);
    free(b);

    /* A file without patches cannot fill them, and is still version 2. */
    write_small_dataset(f, "plain.bin");
    assert_int_equal(mom_dataset_open(&f->ctx, in_dir(f, "plain.bin"), &d), MOM_OK);
    assert_int_equal(mom_dataset_fill_patches(d, 1, 2, starts, one), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_patch_geometry(d, &g), MOM_OK);
    assert_int_equal(g.patch_size + g.image_size + g.channels, 0);
    mom_dataset_destroy(&d);
    b = tu_read_file(in_dir(f, "plain.bin"), &n);
    assert_int_equal(le64(b + 8) & 0xffffffffu, 2);
    /* The same as version 3 without the flag opens too. */
    b[8] = 3;
    fix_checksum(b, n);
    tu_write_file(in_dir(f, "plain3.bin"), b, n);
    if (mom_dataset_open(&f->ctx, f->path, &d)) fail_msg("%s", f->ctx.err);
    assert_int_equal(mom_dataset_n_patches(d), 0);
    mom_dataset_destroy(&d);
    free(b);

    /* A geometry without a single image: the flag, no rows. */
    assert_int_equal(mom_dataset_write(&f->ctx, in_dir(f, "none.bin"), pt_tok, NULL, 2, NULL, 1, 1024, 2, &play, NULL,
                                       &pgeom), MOM_OK);
    if (mom_dataset_open(&f->ctx, f->path, &d)) fail_msg("%s", f->ctx.err);
    assert_int_equal(mom_dataset_patch_geometry(d, &g), MOM_OK);
    assert_int_equal(mom_patch_dim(&g), PDIM);
    assert_int_equal(mom_dataset_n_patches(d), 0);
    mom_dataset_destroy(&d);
    assert_false(tu_has_tmp_file(f->dir, 0));
}

/* Hundreds of tokens, so windows start in every block of the index. */
static void test_ds_patches_long(void **state)
{
    fixture *f = *state;
    enum { NDOC = 48, CAP = NDOC * 32 };
    int32_t tok[CAP];
    uint8_t mod[CAP];
    int64_t docs[NDOC + 1];
    int64_t n = 0;
    for (int i = 0; i < NDOC; i++) {
        docs[i] = n;
        const int text = (i * 7) % 13, image_first = i % 3 == 0;
        if (!image_first) tok[n++] = MOM_TOK_BOS;
        for (int k = 0; k < text && !image_first; k++) tok[n++] = 20 + k;
        tok[n++] = MOM_TOK_BOI;
        for (int k = 0; k < PPI; k++) tok[n++] = PP;
        tok[n++] = MOM_TOK_EOI;
        for (int k = 0; k < i % 4; k++) tok[n++] = 40 + k;
        if (i % 5 == 0) { /* a second image */
            tok[n++] = MOM_TOK_BOI;
            for (int k = 0; k < PPI; k++) tok[n++] = PP;
            tok[n++] = MOM_TOK_EOI;
        }
        if (i % 2) tok[n++] = MOM_TOK_EOS;
    }
    docs[NDOC] = n;
    assert_true(n > 8 * 64 && n <= CAP);
    patch_mods(tok, mod, n);
    int64_t n_rows = 0;
    for (int64_t i = 0; i < n; i++) n_rows += tok[i] == PP;
    float *rows = malloc(sizeof(float) * (size_t)n_rows * PDIM);
    assert_non_null(rows);
    patch_rows(rows, n_rows);
    if (write_patch_file(f, "long.bin", tok, mod, n, docs, NDOC, rows)) fail_msg("%s", f->ctx.err);
    mom_dataset *d = NULL;
    if (mom_dataset_open(&f->ctx, in_dir(f, "long.bin"), &d)) fail_msg("%s", f->ctx.err);
    assert_int_equal(mom_dataset_n_patches(d), n_rows);
    const int Ts[] = {1, 5, 63, 64, 65, 130};
    for (size_t i = 0; i < sizeof Ts / sizeof Ts[0]; i++) check_every_window(d, tok, mod, rows, n, Ts[i]);
    mom_dataset_destroy(&d);
    free(rows);
}

static void test_ds_patches_corrupted(void **state)
{
    fixture *f = *state;
    write_small_patch_dataset(f, "good.bin");
    size_t n;
    uint8_t *b = tu_read_file(in_dir(f, "good.bin"), &n);
    char path[256];
    snprintf(path, sizeof path, "%s/bad.bin", f->dir);
    /* Every truncation, every flipped bit (0 and 7 of each byte). */
    for (size_t len = 0; len < n; len++) {
        tu_write_file(path, b, len);
        mom_dataset *d = (mom_dataset *)(uintptr_t)1;
        mom_status st = mom_dataset_open(&f->ctx, path, &d);
        if (st != MOM_ERR_FORMAT) fail_msg("truncation to %zu of %zu bytes: status %d (%s)", len, n, st, f->ctx.err);
        assert_null(d);
    }
    for (size_t pos = 0; pos < n; pos++)
        for (int bit = 0; bit < 8; bit += 7) {
            b[pos] ^= (uint8_t)(1u << bit);
            tu_write_file(path, b, n);
            b[pos] ^= (uint8_t)(1u << bit);
            mom_dataset *d = NULL;
            if (mom_dataset_open(&f->ctx, path, &d) == MOM_OK) fail_msg("bit %d of byte %zu flipped was accepted", bit, pos);
            assert_null(d);
            if (pos >= 128) assert_contains(f->ctx.err, "checksum mismatch");
        }
    /* Lies and broken images with the checksum fixed. */
    const uint64_t patch_off = le64(b + 104), tok_off = le64(b + 40), mod_off = le64(b + 48), doc_off = le64(b + 56);
    const uint32_t nan_bits = 0x7fc00000u, inf_bits = 0x7f800000u;
    const lie lies[] = {
        {20, 4, 3, MOM_ERR_UNSUPPORTED, "unsupported flags: 0x3"},
        {20, 4, 0, MOM_ERR_FORMAT, "reserved header byte 88 is not zero: 2"},
        {8, 4, 2, MOM_ERR_UNSUPPORTED, "unsupported flags: 0x1"}, /* patches need version 3 */
        {88, 4, 3, MOM_ERR_FORMAT, "patch geometry: patch 3, image 4, channels 1"},
        {88, 4, 0, MOM_ERR_FORMAT, "patch geometry: patch 0, image 4"},
        {92, 4, 32768, MOM_ERR_FORMAT, "patch geometry: patch 2, image 32768"},
        {96, 4, 0, MOM_ERR_FORMAT, "channels 0"},
        {96, 4, 20000, MOM_ERR_FORMAT, "channels 20000"},
        {100, 1, 1, MOM_ERR_FORMAT, "reserved header byte 100 is not zero: 1"},
        {127, 1, 9, MOM_ERR_FORMAT, "reserved header byte 127 is not zero: 9"},
        {104, 8, patch_off + 2, MOM_ERR_FORMAT, "patches_offset inside the header or misaligned"},
        {104, 8, 64, MOM_ERR_FORMAT, "patches_offset inside the header or misaligned: 64"},
        {104, 8, doc_off, MOM_ERR_FORMAT, "doc_starts_offset and patches_offset sections overlap"},
        {104, 8, n, MOM_ERR_FORMAT, "patches_offset section runs past the end"},
        {104, 8, UINT64_MAX - 3, MOM_ERR_FORMAT, "patches_offset section runs past the end"},
        {112, 8, PROWS + 1, MOM_ERR_FORMAT, "patches_offset section runs past the end"},
        {112, 8, PROWS - 1, MOM_ERR_FORMAT, "file size does not match"},
        {112, 8, 1ull << 62, MOM_ERR_FORMAT, "n_patches out of range [0, n_tokens 25]"},
        {112, 8, PNT, MOM_ERR_FORMAT, "patches_offset section runs past the end"},
        {tok_off + 4 * 7, 4, 11, MOM_ERR_DATA, "image span at token 3 has no end token (end-image) after its patches (4 of them, an image has 4)"},
        {tok_off + 4 * 2, 4, 11, MOM_ERR_DATA, "image span at token 3 has no begin-image token before it"},
        {tok_off + 4 * 10, 4, 11, MOM_ERR_DATA, "image span at token 11 has no begin-image token before it"},
        {mod_off + 5, 1, 0, MOM_ERR_DATA, "image span at token 3 has no end token (end-image) after its patches (2 of"},
        {mod_off + 1, 1, 1, MOM_ERR_FORMAT, "token 9 at position 1 has modality 1, its range's is 0"},
        {doc_off + 8, 8, 5, MOM_ERR_DATA, "image span at token 3 has no end token"}, /* a document cuts the image */
        {patch_off + 4 * 17, 4, nan_bits, MOM_ERR_DATA, "the patch at token 11 is not finite: value 1 is nan"},
        {patch_off + 4 * 47, 4, inf_bits, MOM_ERR_DATA, "the patch at token 23 is not finite: value 3 is inf"},
        {patch_off, 4, inf_bits | 0x80000000u, MOM_ERR_DATA, "the patch at token 3 is not finite: value 0 is -inf"},
    };
    uint8_t *c = malloc(n);
    assert_non_null(c);
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        memcpy(c, b, n);
        for (int k = 0; k < lies[i].width; k++) c[lies[i].off + (size_t)k] = (uint8_t)(lies[i].value >> (8 * k));
        fix_checksum(c, n);
        tu_write_file(path, c, n);
        mom_dataset *d = NULL;
        mom_status st = mom_dataset_open(&f->ctx, path, &d);
        if (st != lies[i].status || !strstr(f->ctx.err, lies[i].what) || !strstr(f->ctx.err, path))
            fail_msg("lie #%zu: status %d, message \"%s\", wanted \"%s\"", i, st, f->ctx.err, lies[i].what);
        assert_null(d);
    }
    /* The header's row count and the file agree, but not the tokens. */
    uint8_t *e = calloc(1, n + 4 * PDIM);
    assert_non_null(e);
    memcpy(e, b, n);
    put_le64(e + 112, PROWS - 1);
    fix_checksum(e, n - 4 * PDIM);
    tu_write_file(path, e, n - 4 * PDIM);
    mom_dataset *dd = NULL;
    assert_int_equal(mom_dataset_open(&f->ctx, path, &dd), MOM_ERR_FORMAT);
    assert_contains(f->ctx.err, "more patch positions than the 11 patch rows, at token 20");
    put_le64(e + 112, PROWS + 1);
    fix_checksum(e, n + 4 * PDIM);
    tu_write_file(path, e, n + 4 * PDIM);
    assert_int_equal(mom_dataset_open(&f->ctx, path, &dd), MOM_ERR_FORMAT);
    assert_contains(f->ctx.err, "n_patches 13 in the header, but the tokens have 12 patch positions");
    assert_null(dd);
    free(e);
    /* An image one patch short: the next position is text. */
    memcpy(c, b, n);
    put_le32(c + tok_off + 4 * 6, 11);
    c[mod_off + 6] = 0;
    fix_checksum(c, n);
    tu_write_file(path, c, n);
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(&f->ctx, path, &d), MOM_ERR_DATA);
    assert_contains(f->ctx.err, "image span at token 3 has no end token (end-image) after its patches (3 of them");
    free(c);
    free(b);
}

static void test_ds_patches_write_rejects(void **state)
{
    fixture *f = *state;
    mom_ctx *ctx = &f->ctx;
    int32_t tok[PNT];
    uint8_t mod[PNT];
    float rows[PROWS * PDIM];
    memcpy(tok, pt_tok, sizeof tok);
    patch_mods(tok, mod, PNT);
    patch_rows(rows, PROWS);
    /* Not finite: NaN, inf; the message names the token and the value. */
    rows[5 * PDIM + 2] = NAN;
    assert_int_equal(write_patch_file(f, "w.bin", tok, mod, PNT, pt_docs, 3, rows), MOM_ERR_DATA);
    assert_contains(ctx->err, "w.bin: the patch at token 12 is not finite: value 2 is nan");
    rows[5 * PDIM + 2] = -INFINITY;
    assert_int_equal(write_patch_file(f, "w.bin", tok, mod, PNT, pt_docs, 3, rows), MOM_ERR_DATA);
    assert_contains(ctx->err, "value 2 is -inf");
    patch_rows(rows, PROWS);
    /* The last document ends inside its image: no end token. */
    assert_int_equal(write_patch_file(f, "w.bin", tok, mod, PNT - 1, (const int64_t[]){0, 10, 17, PNT - 1}, 3, rows),
                     MOM_ERR_DATA);
    assert_contains(ctx->err, "image span at token 20 has no end token");
    /* A document boundary inside an image. */
    assert_int_equal(write_patch_file(f, "w.bin", tok, mod, PNT, (const int64_t[]){0, 5, 17, PNT}, 3, rows),
                     MOM_ERR_DATA);
    assert_contains(ctx->err, "image span at token 3 has no end token");
    assert_int_equal(write_patch_file(f, "w.bin", tok, mod, PNT, (const int64_t[]){0, 12, 17, PNT}, 3, rows),
                     MOM_ERR_DATA);
    assert_contains(ctx->err, "image span at token 11 has no end token (end-image) after its patches (1 of them");
    tok[10] = 11; /* no begin-image */
    assert_int_equal(write_patch_file(f, "w.bin", tok, mod, PNT, pt_docs, 3, rows), MOM_ERR_DATA);
    assert_contains(ctx->err, "w.bin: image span at token 11 has no begin-image token before it");
    tok[10] = MOM_TOK_BOI;
    /* One patch too many, one too few. */
    tok[15] = PP;
    mod[15] = MOM_MOD_IMAGE;
    assert_int_equal(write_patch_file(f, "w.bin", tok, mod, PNT, pt_docs, 3, rows), MOM_ERR_DATA);
    assert_contains(ctx->err, "image span at token 11 has no end token");
    tok[16] = MOM_TOK_EOI;
    assert_int_equal(write_patch_file(f, "w.bin", tok, mod, PNT, pt_docs, 3, rows), MOM_ERR_DATA);
    assert_contains(ctx->err, "image span at token 11 has 5 patches, not the 4 of a 4 x 4 image in 2 x 2 patches");
    memcpy(tok, pt_tok, sizeof tok);
    patch_mods(tok, mod, PNT);
    tok[14] = MOM_TOK_EOI;
    mod[14] = MOM_MOD_TEXT;
    assert_int_equal(write_patch_file(f, "w.bin", tok, mod, PNT, pt_docs, 3, rows), MOM_ERR_DATA);
    assert_contains(ctx->err, "image span at token 11 has 3 patches, not the 4");
    memcpy(tok, pt_tok, sizeof tok);
    patch_mods(tok, mod, PNT);
    /* The layout still holds elsewhere; without patches a pad token is text. */
    mod[1] = MOM_MOD_IMAGE;
    assert_int_equal(write_patch_file(f, "w.bin", tok, mod, PNT, pt_docs, 3, rows), MOM_ERR_DATA);
    assert_contains(ctx->err, "token 9 at position 1 has modality 1, its range's is 0");
    mod[1] = MOM_MOD_TEXT;
    assert_int_equal(mom_dataset_write(ctx, in_dir(f, "w.bin"), tok, mod, PNT, pt_docs, 3, 1024, 2, &play, NULL, NULL),
                     MOM_ERR_DATA);
    assert_contains(ctx->err, "token 6 at position 3 has modality 1, its range's is 0");
    /* Arguments: rows without a geometry, positions without rows, a bad
     * geometry. */
    assert_int_equal(mom_dataset_write(ctx, in_dir(f, "w.bin"), tok, mod, PNT, pt_docs, 3, 1024, 2, &play, rows, NULL),
                     MOM_ERR_INVALID_ARG);
    assert_contains(ctx->err, "patches given without a patch geometry");
    assert_int_equal(write_patch_file(f, "w.bin", tok, mod, PNT, pt_docs, 3, NULL), MOM_ERR_INVALID_ARG);
    assert_contains(ctx->err, "12 patch positions, but patches is NULL");
    const mom_patch_geometry bad[] = {{3, 4, 1}, {0, 4, 1}, {2, 4, 0}, {2, 0, 1}, {2, 20000, 1}, {64, 128, 17}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(mom_dataset_write(ctx, in_dir(f, "w.bin"), tok, mod, PNT, pt_docs, 3, 1024, 2, &play, rows,
                                           &bad[i]), MOM_ERR_INVALID_ARG);
        assert_contains(ctx->err, "patch geometry");
    }
    assert_int_equal(tu_count_entries(f->dir, NULL), 0); /* nothing was written */
}

/* ---- JSONL import --------------------------------------------------------- */

static void write_text(const char *path, const char *s) { tu_write_file(path, s, strlen(s)); }

static void test_jsonl_import_good(void **state)
{
    fixture *f = *state;
    char in[256], out[256];
    snprintf(in, sizeof in, "%s/docs.jsonl", f->dir);
    snprintf(out, sizeof out, "%s/train.bin", f->dir);
    write_text(in, "\xef\xbb\xbf{\"segments\": [{\"modality\": 0, \"tokens\": [5, 17]}, {\"modality\": 1, \"tokens\": [3]}]}\n"
                   "\n"
                   "   \t\r\n"
                   "{\"id\": \"doc-2\", \"segments\": [{\"tokens\": [9, 8, 7], \"modality\": 2}]}\r\n"
                   "{\"segments\":[{\"modality\":0,\"tokens\":[1]},{\"modality\":0,\"tokens\":[]},"
                   "{\"modality\":1,\"tokens\":[2,3]},{\"modality\":2,\"tokens\":[1023]}]}"); /* no final newline */
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 1024, 3, NULL), MOM_OK);
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(&f->ctx, out, &d), MOM_OK);
    assert_int_equal(mom_dataset_n_tokens(d), NT);
    assert_int_equal(mom_dataset_n_docs(d), 3);
    assert_int_equal(mom_dataset_vocab_size(d), 1024);
    assert_int_equal(mom_dataset_n_modalities(d), 3);
    /* Concatenated in file order, nothing between documents. */
    assert_memory_equal(mom_dataset_tokens(d), ds_tok, sizeof ds_tok);
    assert_memory_equal(mom_dataset_modalities(d), ds_mod, sizeof ds_mod);
    mom_dataset_destroy(&d);
    size_t n;
    uint8_t *b = tu_read_file(out, &n);
    uint64_t doc_off = le64(b + 56);
    for (int i = 0; i < 3; i++) assert_int_equal(le64(b + doc_off + 8 * (size_t)i), ds_docs[i]);
    free(b);
    assert_false(tu_has_tmp_file(f->dir, 0));

    /* A big line: one document of 100k tokens. */
    FILE *fp = fopen(in, "wb");
    assert_non_null(fp);
    fputs("{\"segments\": [{\"modality\": 1, \"tokens\": [", fp);
    for (int i = 0; i < 100000; i++) fprintf(fp, "%s%d", i ? ", " : "", i % 50000);
    fputs("]}]}\n", fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 50000, 2, NULL), MOM_OK);
    assert_int_equal(mom_dataset_open(&f->ctx, out, &d), MOM_OK);
    assert_int_equal(mom_dataset_n_tokens(d), 100000);
    assert_int_equal(mom_dataset_tokens(d)[99999], 49999);
    assert_int_equal(mom_dataset_modalities(d)[12345], 1);
    mom_dataset_destroy(&d);
}

typedef struct bad_jsonl {
    const char *text;
    mom_status status;
    const char *what[3];
} bad_jsonl;

static void test_jsonl_import_bad(void **state)
{
    fixture *f = *state;
    char in[256], out[256];
    snprintf(in, sizeof in, "%s/docs.jsonl", f->dir);
    snprintf(out, sizeof out, "%s/train.bin", f->dir);
    static const char good2[] = "{\"segments\": [{\"modality\": 0, \"tokens\": [1, 2]}]}\n"
                                "{\"segments\": [{\"modality\": 1, \"tokens\": [3]}]}\n";
    char buf[512];
    const bad_jsonl cases[] = {
        {"{\"segments\": [{\"modality\": 0, \"tokens\": [1, 2]}]}\n"
         "{\"segments\": [{\"modality\": 1, \"tokens\": [3]}]}\n"
         "{\"segments\": [{\"modality\": 0, \"tokens\": [4, 70000]}]}\n",
         MOM_ERR_DATA, {"line 3", "token 70000", "[0, 1024)"}},
        {"{\"segments\": [{\"modality\": 0, \"tokens\": [1]}]}\n"
         "{\"segments\": [{\"modality\": 5, \"tokens\": [1]}]}\n",
         MOM_ERR_DATA, {"line 2", "modality 5", "[0, 3)"}},
        {"{\"segments\": [{\"modality\": -1, \"tokens\": [1]}]}\n", MOM_ERR_DATA, {"line 1", "modality -1", "segment 0"}},
        {"\n\n{\"segments\": [{\"modality\": 0, \"tokens\": [1, -3]}]}\n", MOM_ERR_DATA, {"line 3", "token -3", "index 1"}},
        {"{\"segments\": [{\"modality\": 0, \"tokens\": [1.5]}]}\n", MOM_ERR_FORMAT, {"line 1", "token 1.5", "not an integer"}},
        {"{\"segments\": [{\"modality\": 0, \"tokens\": [\"7\"]}]}\n", MOM_ERR_FORMAT, {"line 1", "not a number", "index 0"}},
        {"{\"segments\": [{\"modality\": 0.5, \"tokens\": [1]}]}\n", MOM_ERR_FORMAT, {"line 1", "modality", "integer"}},
        {"{\"segments\": [{\"modality\": 0, \"tokens\": [1]}]}\n"
         "{\"segments\": [{\"modality\": 0, \"tokens\": [1]}]\n",
         MOM_ERR_FORMAT, {"line 2", "offset", "expected"}},
        {"{\"segments\": [{\"modality\": 0, \"tokens\": [1]}]} {}\n", MOM_ERR_FORMAT, {"line 1", "offset", "end of input"}},
        {"{\"segs\": []}\n", MOM_ERR_FORMAT, {"line 1", "segments", ""}},
        {"[1, 2]\n", MOM_ERR_FORMAT, {"line 1", "segments", ""}},
        {"{\"segments\": {}}\n", MOM_ERR_FORMAT, {"line 1", "segments", ""}},
        {"{\"segments\": [{\"modality\": 0}]}\n", MOM_ERR_FORMAT, {"line 1", "segment 0", "tokens"}},
        {"{\"segments\": [1]}\n", MOM_ERR_FORMAT, {"line 1", "segment 0", ""}},
        {"{\"segments\": [{\"modality\": 0, \"tokens\": [1]}]}\n{\"segments\": []}\n", MOM_ERR_FORMAT,
         {"line 2", "no tokens", ""}},
        {"{\"segments\": [{\"modality\": 0, \"tokens\": [1]}]}\n{\"segments\": [{\"modality\": 0, \"tokens\": [1]}]}\x01\n",
         MOM_ERR_FORMAT, {"line 2", "offset 46", "byte 0x01"}},
        {"\n  \n\r\n", MOM_ERR_FORMAT, {"no documents", "", ""}},
        {"", MOM_ERR_FORMAT, {"no documents", "", ""}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(in, cases[i].text);
        f->ctx.err[0] = '\0';
        mom_status st = mom_dataset_import_jsonl(&f->ctx, in, out, 1024, 3, NULL);
        if (st != cases[i].status) fail_msg("case %zu: status %d, wanted %d (%s)", i, st, cases[i].status, f->ctx.err);
        assert_contains(f->ctx.err, in);
        for (int k = 0; k < 3; k++) assert_contains(f->ctx.err, cases[i].what[k]);
        assert_false(file_exists(out)); /* no output file */
        assert_int_equal(tu_count_entries(f->dir, NULL), 1);
    }
    /* A NUL byte inside a line is a malformed line, not the end of it. */
    static const char nul_line[] = "{\"segments\": [{\"modality\": 0, \"tokens\": [1,\0 2]}]}\n";
    tu_write_file(in, nul_line, sizeof nul_line - 1);
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 1024, 3, NULL), MOM_ERR_FORMAT);
    assert_contains(f->ctx.err, "line 1");
    assert_false(file_exists(out));

    /* Arguments: negative sizes and more than 8 modalities are refused; the
     * input must exist. */
    write_text(in, good2);
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, -1, 3, NULL), MOM_ERR_INVALID_ARG);
    assert_contains(f->ctx.err, "vocab_size");
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 1024, -1, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 1024, 9, NULL), MOM_ERR_INVALID_ARG);
    assert_contains(f->ctx.err, "n_modalities");
    assert_false(file_exists(out));
    /* 0 asks for the smallest sizes that hold the data. */
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 0, 0, NULL), MOM_OK);
    {
        mom_dataset *d = NULL;
        assert_int_equal(mom_dataset_open(&f->ctx, out, &d), MOM_OK);
        int32_t max_tok = 0;
        uint8_t max_mod = 0;
        for (int64_t i = 0; i < mom_dataset_n_tokens(d); i++) {
            if (mom_dataset_tokens(d)[i] > max_tok) max_tok = mom_dataset_tokens(d)[i];
            if (mom_dataset_modalities(d)[i] > max_mod) max_mod = mom_dataset_modalities(d)[i];
        }
        assert_int_equal(mom_dataset_vocab_size(d), max_tok + 1);
        assert_int_equal(mom_dataset_n_modalities(d), max_mod + 1);
        mom_dataset_destroy(&d);
        assert_null(d);
        unlink(out);
    }
    snprintf(buf, sizeof buf, "%s/missing.jsonl", f->dir);
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, buf, out, 1024, 3, NULL), MOM_ERR_IO);
    assert_contains(f->ctx.err, "missing.jsonl");
    assert_false(file_exists(out));

    /* A failed import leaves an earlier output as it was. */
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 1024, 3, NULL), MOM_OK);
    size_t n0, n1;
    uint8_t *before = tu_read_file(out, &n0);
    write_text(in, cases[0].text);
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 1024, 3, NULL), MOM_ERR_DATA);
    uint8_t *after = tu_read_file(out, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_int_equal(tu_count_entries(f->dir, NULL), 2);
    free(before);
    free(after);
}

/* JSON lines with continuous images: BOI and EOI are the user's token
 * segments, each patch one position. */
static void test_jsonl_import_patches(void **state)
{
    fixture *f = *state;
    char in[256], out[256];
    snprintf(in, sizeof in, "%s/docs.jsonl", f->dir);
    snprintf(out, sizeof out, "%s/train.bin", f->dir);
    write_text(in, "{\"segments\": [{\"modality\": 0, \"tokens\": [0, 9, 2]}, {\"modality\": 1, \"patches\": "
                   "[[-1, 0, 0.5, 1], [0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [1, 1, 1, -0.125]]}, "
                   "{\"modality\": 0, \"tokens\": [3, 1]}]}\n"
                   "{\"segments\": [{\"modality\": 0, \"tokens\": [2]}, {\"modality\": 1, \"patches\": "
                   "[[1, 2, 3, 4], [5, 6, 7, 8]]}, {\"modality\": 1, \"patches\": [[9, 10, 11, 12], [13, 14, 15, 16]]}, "
                   "{\"modality\": 0, \"tokens\": [3, 10]}]}\n");
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 0, 0, &pgeom), MOM_OK);
    mom_dataset *d = NULL;
    if (mom_dataset_open(&f->ctx, out, &d)) fail_msg("%s", f->ctx.err);
    static const int32_t want_tok[16] = {0, 9, 2, PP, PP, PP, PP, 3, 1, 2, PP, PP, PP, PP, 3, 10};
    uint8_t want_mod[16];
    patch_mods(want_tok, want_mod, 16);
    assert_int_equal(mom_dataset_n_tokens(d), 16);
    assert_int_equal(mom_dataset_n_docs(d), 2);
    assert_int_equal(mom_dataset_vocab_size(d), 11);
    assert_int_equal(mom_dataset_n_modalities(d), 2);
    assert_memory_equal(mom_dataset_tokens(d), want_tok, sizeof want_tok);
    assert_memory_equal(mom_dataset_modalities(d), want_mod, sizeof want_mod);
    assert_int_equal(mom_dataset_n_patches(d), 8);
    float got[15 * PDIM];
    int64_t start = 0;
    assert_int_equal(mom_dataset_fill_patches(d, 1, 15, &start, got), MOM_OK);
    static const float want_first[4 * PDIM] = {-1, 0, 0.5f, 1, 0, 0, 0, 0, 0.25f, 0.25f, 0.25f, 0.25f, 1, 1, 1, -0.125f};
    assert_memory_equal(got + 3 * PDIM, want_first, sizeof want_first);
    for (int k = 0; k < 4 * PDIM; k++) assert_true(got[10 * PDIM + k] == (float)(k + 1)); /* two segments, one image */
    for (int k = 0; k < 3 * PDIM; k++) assert_true(got[k] == 0.0f);
    mom_dataset_destroy(&d);
}

static void test_jsonl_import_patches_bad(void **state)
{
    fixture *f = *state;
    char in[256], out[256];
    snprintf(in, sizeof in, "%s/docs.jsonl", f->dir);
    snprintf(out, sizeof out, "%s/train.bin", f->dir);
#define BOI_SEG "{\"modality\": 0, \"tokens\": [2]}, "
#define EOI_SEG ", {\"modality\": 0, \"tokens\": [3]}"
#define FOUR "[[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]"
#define GOOD_LINE "{\"segments\": [" BOI_SEG "{\"modality\": 1, \"patches\": " FOUR "}" EOI_SEG "]}\n"
    const bad_jsonl cases[] = {
        {GOOD_LINE "{\"segments\": [" BOI_SEG "{\"modality\": 1, \"patches\": [[0, 0, 0, 0], [0, 0, 0]]}" EOI_SEG "]}\n",
         MOM_ERR_DATA, {"line 2", "segment 1: patch 1 has 3 values, patch_dim is 4", "2 x 2 pixels x 1 channels"}},
        {"{\"segments\": [" BOI_SEG "{\"modality\": 1, \"patches\": [[0, 0, 1e39, 0]]}" EOI_SEG "]}\n", MOM_ERR_DATA,
         {"line 1", "patch 0: value 2 (1e+39) is not a finite float32", ""}},
        {"{\"segments\": [" BOI_SEG "{\"modality\": 1, \"patches\": [[0, NaN, 0, 0]]}" EOI_SEG "]}\n", MOM_ERR_FORMAT,
         {"line 1", "offset", ""}},
        {GOOD_LINE GOOD_LINE "{\"segments\": [" BOI_SEG "{\"modality\": 1, \"patches\": " FOUR "}]}\n", MOM_ERR_DATA,
         {"line 3", "image span at token 1 has no end token (end-image)", "4 of them"}},
        {"{\"segments\": [" BOI_SEG "{\"modality\": 1, \"patches\": [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]}" EOI_SEG
         "]}\n", MOM_ERR_DATA, {"line 1", "image span at token 1 has 3 patches, not the 4 of a 4 x 4 image", ""}},
        {"{\"segments\": [{\"modality\": 0, \"tokens\": [9]}, {\"modality\": 1, \"patches\": " FOUR "}" EOI_SEG "]}\n",
         MOM_ERR_DATA, {"line 1", "image span at token 1 has no begin-image token", ""}},
        {"{\"segments\": [" BOI_SEG "{\"modality\": 0, \"patches\": " FOUR "}" EOI_SEG "]}\n", MOM_ERR_DATA,
         {"line 1", "segment 1", "patches have modality 1 (image), not 0"}},
        {"{\"segments\": [" BOI_SEG "{\"modality\": 1, \"patches\": [1]}" EOI_SEG "]}\n", MOM_ERR_FORMAT,
         {"line 1", "patch 0 is not an array", ""}},
        {"{\"segments\": [" BOI_SEG "{\"modality\": 1, \"patches\": [[0, \"x\", 0, 0]]}" EOI_SEG "]}\n", MOM_ERR_FORMAT,
         {"line 1", "patch 0: value 1 is not a number", ""}},
        {"{\"segments\": [" BOI_SEG "{\"modality\": 1, \"tokens\": [6, 6, 6, 6]}" EOI_SEG "]}\n", MOM_ERR_DATA,
         {"line 1", "token 6 with modality 1 at index 0 is a patch position", "\"patches\""}},
        {"{\"segments\": [{\"modality\": 1, \"tokens\": [2], \"patches\": " FOUR "}]}\n", MOM_ERR_FORMAT,
         {"line 1", "segment 0", "either a \"tokens\" or a \"patches\" array"}},
        {"{\"segments\": [{\"modality\": 1, \"patches\": {}}]}\n", MOM_ERR_FORMAT, {"line 1", "segment 0", "patches"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(in, cases[i].text);
        f->ctx.err[0] = '\0';
        mom_status st = mom_dataset_import_jsonl(&f->ctx, in, out, 1024, 2, &pgeom);
        if (st != cases[i].status) fail_msg("case %zu: status %d, wanted %d (%s)", i, st, cases[i].status, f->ctx.err);
        assert_contains(f->ctx.err, in);
        for (int k = 0; k < 3; k++) assert_contains(f->ctx.err, cases[i].what[k]);
        assert_false(file_exists(out));
    }
    /* No geometry, too small a vocabulary, a bad geometry. */
    write_text(in, GOOD_LINE);
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 1024, 2, NULL), MOM_ERR_INVALID_ARG);
    assert_contains(f->ctx.err, "line 1: segment 1: patches need a patch geometry (mom data import --patch P --size S");
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 5, 2, &pgeom), MOM_ERR_DATA);
    assert_contains(f->ctx.err, "patches need vocab_size > 6");
    const mom_patch_geometry odd = {3, 4, 1};
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 1024, 2, &odd), MOM_ERR_INVALID_ARG);
    assert_contains(f->ctx.err, "patch geometry: patch 3, image 4");
    assert_false(file_exists(out));
    assert_int_equal(tu_count_entries(f->dir, NULL), 1);
    assert_int_equal(mom_dataset_import_jsonl(&f->ctx, in, out, 1024, 2, &pgeom), MOM_OK);
#undef BOI_SEG
#undef EOI_SEG
#undef FOUR
#undef GOOD_LINE
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_accept),
        cmocka_unit_test(test_json_big_array),
        cmocka_unit_test(test_json_reject),
        cmocka_unit_test(test_json_hostile),
        cmocka_unit_test(test_json_write_string),
        cmocka_unit_test_setup_teardown(test_st_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_st_truncations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_st_lying_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_st_write_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ds_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ds_version_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ds_truncations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ds_corrupted_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ds_lying_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ds_write_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ds_patches_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ds_patches_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ds_patches_corrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ds_patches_write_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_import_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_import_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_import_patches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_import_patches_bad, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
