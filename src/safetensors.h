/* The generic safetensors format: an 8-byte little-endian header length N,
 * N bytes of JSON header, then the data. The header maps tensor names to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
 * start of the data), plus an optional "__metadata__": {string: string}.
 * Files written here load with the Python `safetensors` library and vice
 * versa (for the dtypes below). No model knowledge here. Internal. */
#ifndef MOM_SAFETENSORS_H
#define MOM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* F16 and BF16 are read from pretrained checkpoints (src/pretrained_load.c);
 * I8 and U8 hold quantized weights (src/quant_model.c). */
typedef enum { ST_F32, ST_I32, ST_U8, ST_I64, ST_U64, ST_F64, ST_F16, ST_BF16, ST_I8 } st_dtype; /* "F32",...,"BF16","I8" */
#define ST_MAX_DIMS 4
/* The safetensors library refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER_LEN 100000000u

typedef struct {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end; /* byte range in data */
} st_tensor_info;

typedef struct st_meta {
    char *key;
    char *value;
} st_meta;

typedef struct st_file {
    uint8_t *base; size_t size;  /* whole file, mapped read-only */
    const uint8_t *data;         /* base + 8 + header_len */
    st_tensor_info *tensors; size_t n_tensors; /* in header order */
    st_meta *meta; size_t n_meta;
} st_file;

/* Opens and validates: header length sane and within the file, JSON valid,
 * every tensor has a known dtype, 0..4 dims each >= 0, end - begin ==
 * product(shape) * dtype size (overflow-checked), end <= data size, no two
 * tensors overlap, no duplicate names, metadata values are strings.
 * 0 on success; -1 with *out zeroed and err = "path: what: value". */
int st_open(const char *path, st_file *out, char *err, size_t errlen);
/* Unmaps and frees; accepts a zeroed or already-closed st_file. */
void st_close(st_file *f);
const st_tensor_info *st_find(const st_file *f, const char *name);
/* Drops the pages of t's bytes from this process's memory once they have
 * been read and copied elsewhere (a hint: a later read maps them again),
 * so a loader that copies a file tensor by tensor holds one copy at a
 * time, not two. */
void st_release(const st_file *f, const st_tensor_info *t);
const char *st_meta_get(const st_file *f, const char *key);
/* Bytes per element; 0 for an unknown value. */
size_t st_dtype_size(st_dtype t);
const char *st_dtype_name(st_dtype t);
/* "[2, 3]": a shape for messages. */
void st_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape);

typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data; /* product(shape) elements, little-endian */
} st_write_tensor;

/* Writes the tensors in the given order, contiguously (the format forbids
 * holes), starting at an 8-byte aligned data offset (the header is padded
 * with spaces); each tensor is aligned to its own element size when the
 * caller orders wider dtypes first. Metadata pairs (n_meta may be 0) are
 * written as strings. Writes PATH.tmp.<pid>, fsyncs, renames over path,
 * fsyncs the directory. On any failure removes the temporary file, leaves
 * path untouched and returns -1 with err = "path: what: value". */
int st_write(const char *path, const st_write_tensor *t, size_t n, const st_meta *meta, size_t n_meta,
             char *err, size_t errlen);

#endif
