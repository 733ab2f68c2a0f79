/* safetensors read (mmap + full validation) and atomic write.
 *
 * Layout: u64 LE header length N | N bytes of UTF-8 JSON | data.
 * Reading trusts nothing: the header is parsed by the strict JSON parser and
 * every tensor's range is checked against its shape and the file before a
 * pointer into the data is ever handed out. Writing lays the tensors out
 * back to back in the caller's order after a header padded with spaces to a
 * multiple of 8 bytes, exactly as the Python library does. */
#include "safetensors.h"

#include "file_util.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this host is not"
#endif

static const char *const dtype_names[] = {"F32", "I32", "U8", "I64", "U64", "F64", "F16", "BF16", "I8"};
static const size_t dtype_sizes[] = {4, 4, 1, 8, 8, 8, 2, 2, 1};
#define N_DTYPES (sizeof dtype_sizes / sizeof dtype_sizes[0])

size_t st_dtype_size(st_dtype t) { return (unsigned)t < N_DTYPES ? dtype_sizes[t] : 0; }

const char *st_dtype_name(st_dtype t) { return (unsigned)t < N_DTYPES ? dtype_names[t] : "?"; }

void st_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int st_fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    if (err && errlen > 0) {
        int n = snprintf(err, errlen, "%s: ", path ? path : "(null)");
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* Bytes of a tensor of this shape; -1 if a dimension is negative or the
 * product overflows 64 bits. */
static int tensor_nbytes(st_dtype dt, int ndim, const int64_t *shape, uint64_t *out)
{
    uint64_t n = st_dtype_size(dt);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return -1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) {
            *out = 0;
            return 0;
        }
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (n > UINT64_MAX / d) return -1;
        n *= d;
    }
    *out = n;
    return 0;
}

void st_close(st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    if (f->base) munmap(f->base, f->size);
    memset(f, 0, sizeof *f);
}

void st_release(const st_file *f, const st_tensor_info *t)
{
    const long page_size = sysconf(_SC_PAGESIZE);
    if (page_size <= 0) return;
    const size_t page = (size_t)page_size;
    const uintptr_t begin = (uintptr_t)(f->data + t->begin), end = (uintptr_t)(f->data + t->end);
    const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page; /* whole pages only */
    if (last > first) (void)madvise((void *)first, last - first, MADV_DONTNEED);
}

const st_tensor_info *st_find(const st_file *f, const char *name)
{
    if (!f || !name) return NULL;
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_meta_get(const st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_range(const void *a, const void *b)
{
    const st_tensor_info *x = *(const st_tensor_info *const *)a, *y = *(const st_tensor_info *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The first duplicate among n strings, or NULL. */
static const char *find_duplicate(const char **names, size_t n)
{
    qsort(names, n, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    return NULL;
}

static int parse_u64(const json_value *v, uint64_t *out)
{
    if (!v || v->type != JSON_NUMBER || !v->is_int || v->integer < 0) return -1;
    *out = (uint64_t)v->integer;
    return 0;
}

static int read_metadata(const char *path, const json_value *m, st_file *f, char *err, size_t errlen)
{
    if (m->type != JSON_OBJECT) return st_fail(err, errlen, path, "__metadata__ is not an object");
    if (m->n_keys == 0) return 0;
    f->meta = calloc(m->n_keys, sizeof *f->meta);
    if (!f->meta) return st_fail(err, errlen, path, "out of memory");
    for (size_t i = 0; i < m->n_keys; i++) {
        const json_value *v = &m->vals[i];
        if (v->type != JSON_STRING)
            return st_fail(err, errlen, path, "__metadata__ value is not a string: %s", m->keys[i]);
        if (strlen(v->str) != v->str_len)
            return st_fail(err, errlen, path, "__metadata__ value contains U+0000: %s", m->keys[i]);
        st_meta *e = &f->meta[f->n_meta];
        e->key = strdup(m->keys[i]);
        e->value = strdup(v->str);
        f->n_meta++;
        if (!e->key || !e->value) return st_fail(err, errlen, path, "out of memory");
    }
    return 0;
}

static int read_tensor(const char *path, const char *name, const json_value *v, uint64_t data_size,
                       st_tensor_info *t, char *err, size_t errlen)
{
    if (v->type != JSON_OBJECT) return st_fail(err, errlen, path, "tensor %s: entry is not an object", name);
    const json_value *dt = json_get(v, "dtype"), *shape = json_get(v, "shape"),
                     *offs = json_get(v, "data_offsets");
    if (!dt || dt->type != JSON_STRING) return st_fail(err, errlen, path, "tensor %s: dtype missing or not a string", name);
    size_t k = 0;
    while (k < N_DTYPES && strcmp(dt->str, dtype_names[k]) != 0) k++;
    if (k == N_DTYPES || strlen(dt->str) != dt->str_len)
        return st_fail(err, errlen, path, "tensor %s: unknown dtype: %.32s", name, dt->str);
    t->dtype = (st_dtype)k;
    if (!shape || shape->type != JSON_ARRAY) return st_fail(err, errlen, path, "tensor %s: shape missing or not an array", name);
    if (shape->n_items > ST_MAX_DIMS)
        return st_fail(err, errlen, path, "tensor %s: too many dims: %zu > %d", name, shape->n_items, ST_MAX_DIMS);
    t->ndim = (int)shape->n_items;
    for (int i = 0; i < t->ndim; i++) {
        const json_value *d = &shape->items[i];
        if (d->type != JSON_NUMBER || !d->is_int || d->integer < 0)
            return st_fail(err, errlen, path, "tensor %s: shape[%d] is not a non-negative integer", name, i);
        t->shape[i] = d->integer;
    }
    if (!offs || offs->type != JSON_ARRAY || offs->n_items != 2 || parse_u64(&offs->items[0], &t->begin) != 0 ||
        parse_u64(&offs->items[1], &t->end) != 0)
        return st_fail(err, errlen, path, "tensor %s: data_offsets is not [begin, end]", name);
    if (t->begin > t->end)
        return st_fail(err, errlen, path, "tensor %s: data_offsets begin %llu > end %llu", name,
                       (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > data_size)
        return st_fail(err, errlen, path, "tensor %s: data_offsets end past the data: %llu > %llu", name,
                       (unsigned long long)t->end, (unsigned long long)data_size);
    uint64_t nbytes;
    if (tensor_nbytes(t->dtype, t->ndim, t->shape, &nbytes) != 0)
        return st_fail(err, errlen, path, "tensor %s: shape size overflows", name);
    if (t->end - t->begin != nbytes)
        return st_fail(err, errlen, path, "tensor %s: data_offsets span %llu bytes, shape needs %llu", name,
                       (unsigned long long)(t->end - t->begin), (unsigned long long)nbytes);
    return 0;
}

static int validate_layout(const char *path, st_file *f, char *err, size_t errlen)
{
    if (f->n_tensors < 2) return 0;
    const char **names = malloc(f->n_tensors * sizeof *names);
    const st_tensor_info **by_off = malloc(f->n_tensors * sizeof *by_off);
    int rc = 0;
    if (!names || !by_off) {
        rc = st_fail(err, errlen, path, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < f->n_tensors; i++) names[i] = f->tensors[i].name;
    const char *dup = find_duplicate(names, f->n_tensors);
    if (dup) {
        rc = st_fail(err, errlen, path, "duplicate tensor name: %s", dup);
        goto out;
    }
    /* Empty tensors occupy no bytes and cannot overlap anything. */
    size_t m = 0;
    for (size_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].end > f->tensors[i].begin) by_off[m++] = &f->tensors[i];
    qsort(by_off, m, sizeof *by_off, cmp_range);
    for (size_t i = 1; i < m; i++)
        if (by_off[i]->begin < by_off[i - 1]->end) {
            rc = st_fail(err, errlen, path, "tensors overlap: %s [%llu, %llu) and %s [%llu, %llu)",
                         by_off[i - 1]->name, (unsigned long long)by_off[i - 1]->begin,
                         (unsigned long long)by_off[i - 1]->end, by_off[i]->name,
                         (unsigned long long)by_off[i]->begin, (unsigned long long)by_off[i]->end);
            goto out;
        }
out:
    free(names);
    free(by_off);
    return rc;
}

int st_open(const char *path, st_file *out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!out) return st_fail(err, errlen, path, "no output");
    memset(out, 0, sizeof *out);
    if (!path) return st_fail(err, errlen, path, "no path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return st_fail(err, errlen, path, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return st_fail(err, errlen, path, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return st_fail(err, errlen, path, "not a regular file");
    }
    if (sb.st_size < 8) {
        close(fd);
        return st_fail(err, errlen, path, "file too short for a header length: %lld bytes", (long long)sb.st_size);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return st_fail(err, errlen, path, "file too large: %lld bytes", (long long)sb.st_size);
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) return st_fail(err, errlen, path, "cannot map: %s", strerror(map_errno));
    out->base = map;
    out->size = size;

    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | out->base[i];
    int rc = -1;
    json_value *root = NULL;
    if (hlen > ST_MAX_HEADER_LEN) {
        st_fail(err, errlen, path, "header length too large: %llu", (unsigned long long)hlen);
        goto fail;
    }
    if (hlen > size - 8) {
        st_fail(err, errlen, path, "header length past end of file: %llu > %zu", (unsigned long long)hlen, size - 8);
        goto fail;
    }
    char jerr[160];
    if (json_parse((const char *)out->base + 8, (size_t)hlen, &root, jerr, sizeof jerr) != 0) {
        st_fail(err, errlen, path, "header JSON: %s", jerr);
        goto fail;
    }
    if (root->type != JSON_OBJECT) {
        st_fail(err, errlen, path, "header is not a JSON object");
        goto fail;
    }
    out->data = out->base + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    if (root->n_keys > 0) {
        out->tensors = calloc(root->n_keys, sizeof *out->tensors);
        if (!out->tensors) {
            st_fail(err, errlen, path, "out of memory");
            goto fail;
        }
    }
    int seen_meta = 0;
    for (size_t i = 0; i < root->n_keys; i++) {
        const char *key = root->keys[i];
        if (strcmp(key, "__metadata__") == 0) {
            if (seen_meta++) {
                st_fail(err, errlen, path, "duplicate __metadata__");
                goto fail;
            }
            if (read_metadata(path, &root->vals[i], out, err, errlen) != 0) goto fail;
            continue;
        }
        st_tensor_info *t = &out->tensors[out->n_tensors];
        if (read_tensor(path, key, &root->vals[i], data_size, t, err, errlen) != 0) goto fail;
        t->name = strdup(key);
        if (!t->name) {
            st_fail(err, errlen, path, "out of memory");
            goto fail;
        }
        out->n_tensors++;
    }
    if (validate_layout(path, out, err, errlen) != 0) goto fail;
    rc = 0;
fail:
    json_free(root);
    if (rc != 0) st_close(out);
    return rc;
}

/* ---- writing ---------------------------------------------------------- */

typedef struct strbuf {
    char *p;
    size_t n, cap;
    int oom;
} strbuf;

static void sb_reserve(strbuf *b, size_t extra)
{
    if (b->oom) return;
    if (extra > SIZE_MAX - b->n - 1) {
        b->oom = 1;
        return;
    }
    size_t need = b->n + extra + 1;
    if (need <= b->cap) return;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < need) nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    char *q = realloc(b->p, nc);
    if (!q) {
        b->oom = 1;
        return;
    }
    b->p = q;
    b->cap = nc;
}

static void sb_str(strbuf *b, const char *s)
{
    size_t n = strlen(s);
    sb_reserve(b, n);
    if (b->oom) return;
    memcpy(b->p + b->n, s, n + 1);
    b->n += n;
}

static void sb_u64(strbuf *b, uint64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sb_str(b, tmp);
}

static void sb_json(strbuf *b, const char *s)
{
    size_t need = json_write_string(NULL, 0, s);
    sb_reserve(b, need);
    if (b->oom) return;
    json_write_string(b->p + b->n, need + 1, s);
    b->n += need;
}

int st_write(const char *path, const st_write_tensor *t, size_t n, const st_meta *meta, size_t n_meta,
             char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!path || !*path) return st_fail(err, errlen, path, "no path");
    if ((n && !t) || (n_meta && !meta)) return st_fail(err, errlen, path, "no tensors or metadata given");
    uint64_t *sizes = n ? calloc(n, sizeof *sizes) : NULL;
    const char **names = n ? calloc(n, sizeof *names) : NULL;
    strbuf hb = {0};
    char *tmp = NULL;
    int fd = -1, rc = -1;
    if (n && (!sizes || !names)) {
        st_fail(err, errlen, path, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const st_write_tensor *w = &t[i];
        if (!w->name || !*w->name || strcmp(w->name, "__metadata__") == 0) {
            st_fail(err, errlen, path, "tensor %zu: bad name: %s", i, w->name ? w->name : "(null)");
            goto out;
        }
        if ((unsigned)w->dtype >= N_DTYPES) {
            st_fail(err, errlen, path, "tensor %s: unknown dtype: %d", w->name, (int)w->dtype);
            goto out;
        }
        if (w->ndim < 0 || w->ndim > ST_MAX_DIMS) {
            st_fail(err, errlen, path, "tensor %s: ndim out of range: %d", w->name, w->ndim);
            goto out;
        }
        if (tensor_nbytes(w->dtype, w->ndim, w->shape, &sizes[i]) != 0) {
            st_fail(err, errlen, path, "tensor %s: negative or overflowing shape", w->name);
            goto out;
        }
        if (sizes[i] > 0 && !w->data) {
            st_fail(err, errlen, path, "tensor %s: no data", w->name);
            goto out;
        }
        names[i] = w->name;
    }
    for (size_t i = 0; i < n_meta; i++)
        if (!meta[i].key || !meta[i].value || strcmp(meta[i].key, "") == 0) {
            st_fail(err, errlen, path, "metadata %zu: missing key or value", i);
            goto out;
        }
    if (n > 1) {
        const char *dup = find_duplicate(names, n);
        if (dup) {
            st_fail(err, errlen, path, "duplicate tensor name: %s", dup);
            goto out;
        }
    }

    /* The header, in the shape Python's safetensors writes. */
    sb_str(&hb, "{");
    int first = 1;
    if (n_meta) {
        sb_str(&hb, "\"__metadata__\":{");
        for (size_t i = 0; i < n_meta; i++) {
            if (i) sb_str(&hb, ",");
            sb_json(&hb, meta[i].key);
            sb_str(&hb, ":");
            sb_json(&hb, meta[i].value);
        }
        sb_str(&hb, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (!first) sb_str(&hb, ",");
        first = 0;
        sb_json(&hb, t[i].name);
        sb_str(&hb, ":{\"dtype\":\"");
        sb_str(&hb, dtype_names[t[i].dtype]);
        sb_str(&hb, "\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            if (d) sb_str(&hb, ",");
            sb_u64(&hb, (uint64_t)t[i].shape[d]);
        }
        sb_str(&hb, "],\"data_offsets\":[");
        sb_u64(&hb, off);
        sb_str(&hb, ",");
        if (sizes[i] > UINT64_MAX - off) {
            st_fail(err, errlen, path, "total data size overflows");
            goto out;
        }
        off += sizes[i];
        sb_u64(&hb, off);
        sb_str(&hb, "]}");
    }
    sb_str(&hb, "}");
    while (!hb.oom && (8 + hb.n) % 8 != 0) sb_str(&hb, " ");
    if (hb.oom) {
        st_fail(err, errlen, path, "out of memory");
        goto out;
    }
    if (hb.n > ST_MAX_HEADER_LEN) {
        st_fail(err, errlen, path, "header too large: %zu bytes", hb.n);
        goto out;
    }

    size_t tlen = strlen(path) + 32;
    tmp = malloc(tlen);
    if (!tmp) {
        st_fail(err, errlen, path, "out of memory");
        goto out;
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st_fail(err, errlen, path, "cannot create temporary file: %s", strerror(errno));
        free(tmp);
        tmp = NULL; /* nothing to remove */
        goto out;
    }
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)((uint64_t)hb.n >> (8 * i));
    if (file_write_all(fd, lenbuf, 8) != 0 || file_write_all(fd, hb.p, hb.n) != 0) {
        st_fail(err, errlen, path, "write failed: %s", strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (sizes[i] && file_write_all(fd, t[i].data, (size_t)sizes[i]) != 0) {
            st_fail(err, errlen, path, "write failed: %s", strerror(errno));
            goto out;
        }
    if (fsync(fd) != 0) {
        st_fail(err, errlen, path, "fsync failed: %s", strerror(errno));
        goto out;
    }
    int cfd = fd;
    fd = -1;
    if (close(cfd) != 0) {
        st_fail(err, errlen, path, "close failed: %s", strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        st_fail(err, errlen, path, "cannot rename temporary file: %s", strerror(errno));
        goto out;
    }
    free(tmp);
    tmp = NULL;
    if (file_fsync_parent_dir(path) != 0) {
        st_fail(err, errlen, path, "cannot fsync the directory: %s", strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0) close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(hb.p);
    free(sizes);
    free(names);
    return rc;
}
