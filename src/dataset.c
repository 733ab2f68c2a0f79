/* Dataset files, read: mom_dataset_open maps a file read-only and
 * validates all of it (the format: src/dataset_format.h), then the
 * accessors and the batch fillers read through the mapping. A dataset
 * keeps the context it was opened with and records its failures there. */
#include "checksum.h"
#include "ctx.h"
#include "dataset_format.h"
#include "little_endian.h"
#include "mom.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* fill_patches finds a window's first patch row from a count kept every
 * PATCH_BLOCK tokens: n_tokens / 8 bytes of index, at most PATCH_BLOCK - 1
 * tokens looked at per row beyond the window itself. */
#define PATCH_BLOCK 64

struct mom_dataset {
    uint8_t *base; /* the whole file, mapped read-only */
    size_t size;
    const int32_t *tokens;
    const uint8_t *mods;
    const uint64_t *doc_starts;
    int64_t n_tokens, n_docs, vocab_size;
    int n_modalities;
    mom_vocab_layout layout;
    mom_patch_geometry geom; /* all zero: no patches */
    int patch_dim;
    const float *patches;    /* [n_patches, patch_dim] */
    int64_t n_patches;
    uint64_t *patch_rank;    /* patch rows before token k * PATCH_BLOCK, k = 0..n_tokens / PATCH_BLOCK */
    mom_ctx *ctx;            /* the one it was opened with: where its failures are recorded */
    char *path;              /* as opened, to name the file in those messages */
};

mom_ctx *dataset_ctx(const mom_dataset *d) { return d ? d->ctx : NULL; }

typedef struct section {
    const char *name;
    uint64_t off, bytes, align;
} section;

/* The patch rows before every PATCH_BLOCK-th token (see PATCH_BLOCK). */
static mom_status build_patch_index(mom_ctx *ctx, const char *path, mom_dataset *d)
{
    const size_t n_blocks = (size_t)(d->n_tokens / PATCH_BLOCK) + 1;
    d->patch_rank = malloc(n_blocks * sizeof *d->patch_rank);
    if (!d->patch_rank) return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory for the patch index", path);
    uint64_t rank = 0;
    for (int64_t i = 0; i < d->n_tokens; i++) {
        if (i % PATCH_BLOCK == 0) d->patch_rank[i / PATCH_BLOCK] = rank;
        rank += (uint64_t)dataset_is_patch(d->tokens, d->mods, i);
    }
    if (d->n_tokens % PATCH_BLOCK == 0) d->patch_rank[n_blocks - 1] = rank;
    return MOM_OK;
}

static mom_status validate_mapped(mom_ctx *ctx, const char *path, mom_dataset *d)
{
    const uint8_t *h = d->base;
    uint64_t size = d->size;
    if (memcmp(h + H_MAGIC, DS_MAGIC, 8) != 0)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: bad magic: not a libmom dataset file", path);
    uint32_t version = get_u32(h + H_VERSION), n_mod = get_u32(h + H_N_MOD), vocab = get_u32(h + H_VOCAB),
             flags = get_u32(h + H_FLAGS);
    uint64_t n_tok = get_u64(h + H_N_TOKENS), n_docs = get_u64(h + H_N_DOCS);
    if (version < 1 || version > DS_VERSION)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: unsupported version: %u", path, version);
    if (n_mod < 1 || n_mod > MOM_MAX_MODALITIES)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: n_modalities out of range [1, %d]: %u", path, MOM_MAX_MODALITIES, n_mod);
    if (vocab < 1 || vocab > INT32_MAX)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: vocab_size out of range: %u", path, vocab);
    if (flags & ~(version >= 3 ? DS_FLAG_PATCHES : 0u))
        return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "%s: unsupported flags: 0x%x", path, flags);
    const int has_patches = (flags & DS_FLAG_PATCHES) != 0;
    for (unsigned i = version == 1 ? H_LAYOUT : H_RESERVED; i < DS_HEADER_SIZE; i++) {
        if (has_patches && (i < H_PATCH_PAD || (i >= H_PATCH_OFF && i < H_RESERVED_V3))) continue;
        if (h[i] != 0) return mom_fail(ctx, MOM_ERR_FORMAT, "%s: reserved header byte %u is not zero: %u", path, i, h[i]);
    }
    const mom_patch_geometry geom = {(int)get_u32(h + H_PATCH_SIZE), (int)get_u32(h + H_IMAGE_SIZE),
                                     (int)get_u32(h + H_CHANNELS)};
    if (has_patches && !dataset_geometry_is_set(&geom))
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: the patches flag is set, but the patch geometry is all zero", path);
    mom_status gst = dataset_check_geometry(ctx, path, &geom, MOM_ERR_FORMAT);
    if (gst) return gst;
    const uint64_t patch_dim = (uint64_t)mom_patch_dim(&geom), n_patches = get_u64(h + H_N_PATCHES);
    /* libmom's own order: a file has no place for a pretrained one's. */
    const mom_vocab_layout lay = {.n_special = (int)get_u32(h + H_LAYOUT),
                                  .n_text = (int)get_u32(h + H_LAYOUT + 4),
                                  .n_image = (int)get_u32(h + H_LAYOUT + 8),
                                  .n_speech = (int)get_u32(h + H_LAYOUT + 12)};
    mom_status lst = dataset_check_layout(ctx, path, &lay, vocab, n_mod);
    if (lst) return lst;
    /* Each token takes at least 5 bytes, each document 8: bounding the counts
     * by the file size first makes the products below overflow-free. */
    if (n_tok < 1 || n_tok > size)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: n_tokens does not fit the file of %llu bytes: %llu", path,
                        (unsigned long long)size, (unsigned long long)n_tok);
    if (n_docs < 1 || n_docs > n_tok)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: n_docs out of range [1, n_tokens %llu]: %llu", path,
                        (unsigned long long)n_tok, (unsigned long long)n_docs);
    if (n_patches > n_tok)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: n_patches out of range [0, n_tokens %llu]: %llu", path,
                        (unsigned long long)n_tok, (unsigned long long)n_patches);
    /* More rows than fit the file would overflow the product: make it
     * "runs past the end" instead. */
    const uint64_t patch_bytes = !has_patches ? 0
                                 : n_patches <= size / (4 * patch_dim) ? n_patches * 4 * patch_dim
                                                                       : UINT64_MAX;
    section sec[4] = {
        {"tokens_offset", get_u64(h + H_TOK_OFF), n_tok * 4, 4},
        {"modalities_offset", get_u64(h + H_MOD_OFF), n_tok, 1},
        {"doc_starts_offset", get_u64(h + H_DOC_OFF), n_docs * 8, 8},
        {"patches_offset", get_u64(h + H_PATCH_OFF), patch_bytes, 4},
    };
    const int n_sec = has_patches ? 4 : 3;
    uint64_t end = DS_HEADER_SIZE;
    for (int i = 0; i < n_sec; i++) {
        if (sec[i].off < DS_HEADER_SIZE || sec[i].off % sec[i].align != 0)
            return mom_fail(ctx, MOM_ERR_FORMAT, "%s: %s inside the header or misaligned: %llu", path, sec[i].name,
                            (unsigned long long)sec[i].off);
        if (sec[i].off > size || sec[i].bytes > size - sec[i].off)
            return mom_fail(ctx, MOM_ERR_FORMAT, "%s: %s section runs past the end of the file (%llu bytes): %llu", path,
                            sec[i].name, (unsigned long long)size, (unsigned long long)sec[i].off);
        if (sec[i].off + sec[i].bytes > end) end = sec[i].off + sec[i].bytes;
    }
    for (int i = 0; i < n_sec; i++)
        for (int j = i + 1; j < n_sec; j++)
            if (sec[i].off < sec[j].off + sec[j].bytes && sec[j].off < sec[i].off + sec[i].bytes)
                return mom_fail(ctx, MOM_ERR_FORMAT, "%s: %s and %s sections overlap: %llu, %llu", path, sec[i].name,
                                sec[j].name, (unsigned long long)sec[i].off, (unsigned long long)sec[j].off);
    if (end != size)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: file size does not match the layout's end %llu: %llu", path,
                        (unsigned long long)end, (unsigned long long)size);

    static const uint8_t no_checksum[8];
    mom64 cs;
    mom64_init(&cs);
    mom64_update(&cs, h, H_CHECKSUM);
    mom64_update(&cs, no_checksum, sizeof no_checksum);
    mom64_update(&cs, h + H_CHECKSUM + 8, (size_t)(size - H_CHECKSUM - 8));
    uint64_t want = get_u64(h + H_CHECKSUM), got = mom64_final(&cs);
    if (got != want)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: checksum mismatch (file corrupted): stored 0x%016llx, computed 0x%016llx",
                        path, (unsigned long long)want, (unsigned long long)got);

    d->n_tokens = (int64_t)n_tok;
    d->n_docs = (int64_t)n_docs;
    d->vocab_size = vocab;
    d->n_modalities = (int)n_mod;
    d->layout = lay;
    d->tokens = (const int32_t *)(const void *)(d->base + sec[0].off);
    d->mods = d->base + sec[1].off;
    d->doc_starts = (const uint64_t *)(const void *)(d->base + sec[2].off);
    if (has_patches) {
        d->geom = geom;
        d->patch_dim = (int)patch_dim;
        d->patches = (const float *)(const void *)(d->base + sec[3].off);
    }
    mom_status st = dataset_check_tokens(ctx, path, d->tokens, d->n_tokens, d->vocab_size);
    if (st != MOM_OK) return st;
    st = dataset_check_mods(ctx, path, d->mods, d->n_tokens, d->n_modalities);
    if (st != MOM_OK) return st;
    if (d->doc_starts[0] != 0)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: first document start is not 0: %llu", path,
                        (unsigned long long)d->doc_starts[0]);
    for (uint64_t i = 1; i < n_docs; i++)
        if (d->doc_starts[i] <= d->doc_starts[i - 1] || d->doc_starts[i] >= n_tok)
            return mom_fail(ctx, MOM_ERR_FORMAT, "%s: document start %llu not ascending or >= n_tokens %llu at document %llu",
                            path, (unsigned long long)d->doc_starts[i], (unsigned long long)n_tok, (unsigned long long)i);
    st = dataset_check_layout_mods(ctx, path, &lay, d->tokens, d->mods, d->n_tokens, has_patches, MOM_ERR_FORMAT);
    if (st != MOM_OK || !has_patches) return st;
    const doc_bounds docs = {NULL, d->doc_starts, d->n_docs, d->n_tokens};
    int64_t rows = 0;
    st = dataset_check_patches(ctx, path, d->tokens, d->mods, d->n_tokens, &docs, &geom, d->patches,
                               (int64_t)n_patches, &rows);
    if (st != MOM_OK) return st;
    if ((uint64_t)rows != n_patches)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: n_patches %llu in the header, but the tokens have %lld patch positions",
                        path, (unsigned long long)n_patches, (long long)rows);
    d->n_patches = rows;
    return build_patch_index(ctx, path, d);
}

mom_status mom_dataset_open(mom_ctx *ctx, const char *path, mom_dataset **out)
{
    if (!out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_dataset_open: out is NULL");
    *out = NULL;
    if (!path) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_dataset_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return mom_fail(ctx, MOM_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return mom_fail(ctx, MOM_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < (off_t)DS_HEADER_SIZE) {
        close(fd);
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: file too short for the %u-byte header: %lld bytes", path,
                        DS_HEADER_SIZE, (long long)sb.st_size);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: file too large to map: %lld bytes", path, (long long)sb.st_size);
    }
    mom_dataset *d = calloc(1, sizeof *d);
    const size_t path_bytes = strlen(path) + 1;
    char *path_copy = malloc(path_bytes);
    if (!d || !path_copy) {
        free(d);
        free(path_copy);
        close(fd);
        return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    }
    d->path = memcpy(path_copy, path, path_bytes);
    d->ctx = ctx;
    d->size = (size_t)sb.st_size;
    void *map = mmap(NULL, d->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) {
        mom_dataset_destroy(&d);
        return mom_fail(ctx, MOM_ERR_IO, "%s: cannot map: %s", path, strerror(map_errno));
    }
    d->base = map;
    mom_status st = validate_mapped(ctx, path, d);
    if (st != MOM_OK) {
        mom_dataset_destroy(&d);
        return st;
    }
    *out = d;
    return MOM_OK;
}

void mom_dataset_destroy(mom_dataset **d)
{
    if (!d || !*d) return;
    if ((*d)->base) munmap((*d)->base, (*d)->size);
    free((*d)->patch_rank);
    free((*d)->path);
    free(*d);
    *d = NULL;
}

/* The name of one release before mom_dataset_destroy (mom.h). */
void mom_dataset_close(mom_dataset **d) { mom_dataset_destroy(d); }

/* Records "PATH: message" in the context d was opened with and returns s;
 * without a dataset there is no context to hold a message. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static mom_status dataset_fail(const mom_dataset *d, mom_status s, const char *fmt, ...)
{
    if (!d) return s;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mom_fail(d->ctx, s, "%s: %s", d->path, msg);
}

int64_t mom_dataset_n_tokens(const mom_dataset *d) { return d ? d->n_tokens : 0; }
int mom_dataset_n_modalities(const mom_dataset *d) { return d ? d->n_modalities : 0; }
int64_t mom_dataset_vocab_size(const mom_dataset *d) { return d ? d->vocab_size : 0; }
int64_t mom_dataset_n_docs(const mom_dataset *d) { return d ? d->n_docs : 0; }
int64_t mom_dataset_n_patches(const mom_dataset *d) { return d ? d->n_patches : 0; }
const int32_t *mom_dataset_tokens(const mom_dataset *d) { return d ? d->tokens : NULL; }
const uint8_t *mom_dataset_modalities(const mom_dataset *d) { return d ? d->mods : NULL; }

mom_status mom_dataset_vocab_layout(const mom_dataset *d, mom_vocab_layout *out)
{
    if (!out) return dataset_fail(d, MOM_ERR_INVALID_ARG, "mom_dataset_vocab_layout: out is NULL");
    memset(out, 0, sizeof(*out));
    if (!d) return MOM_ERR_INVALID_ARG;
    *out = d->layout;
    return MOM_OK;
}

mom_status mom_dataset_patch_geometry(const mom_dataset *d, mom_patch_geometry *out)
{
    if (!out) return dataset_fail(d, MOM_ERR_INVALID_ARG, "mom_dataset_patch_geometry: out is NULL");
    memset(out, 0, sizeof(*out));
    if (!d) return MOM_ERR_INVALID_ARG;
    *out = d->geom;
    return MOM_OK;
}

/* The checks fill_batch and fill_patches share: B rows of T positions,
 * each window [starts[b], starts[b] + T + 1) inside the file. */
static mom_status check_windows(const mom_dataset *d, const char *call, int B, int T, const int64_t *starts)
{
    if (B <= 0) return dataset_fail(d, MOM_ERR_INVALID_ARG, "%s: B = %d, must be >= 1", call, B);
    if (T <= 0) return dataset_fail(d, MOM_ERR_INVALID_ARG, "%s: T = %d, must be >= 1", call, T);
    if (!starts) return dataset_fail(d, MOM_ERR_INVALID_ARG, "%s: starts is NULL", call);
    if ((int64_t)T >= d->n_tokens)
        return dataset_fail(d, MOM_ERR_INVALID_ARG,
                            "%s: T = %d: a window of T + 1 tokens does not fit the dataset (%lld tokens)", call, T,
                            (long long)d->n_tokens);
    const int64_t last = d->n_tokens - T - 1; /* largest valid start */
    for (int b = 0; b < B; b++) {
        if (starts[b] < 0)
            return dataset_fail(d, MOM_ERR_INVALID_ARG, "%s: starts[%d] = %lld is negative", call, b,
                                (long long)starts[b]);
        if (starts[b] > last)
            return dataset_fail(d, MOM_ERR_INVALID_ARG,
                                "%s: starts[%d] = %lld + T %d + 1 passes the end of the dataset (%lld tokens)", call, b,
                                (long long)starts[b], T, (long long)d->n_tokens);
    }
    return MOM_OK;
}

mom_status mom_dataset_fill_batch(const mom_dataset *d, int B, int T, const int64_t *starts, int32_t *tokens,
                                  uint8_t *modality, int32_t *targets, uint8_t *target_modality)
{
    static const char call[] = "mom_dataset_fill_batch";
    if (!d) return MOM_ERR_INVALID_ARG;
    mom_status st = check_windows(d, call, B, T, starts);
    if (st) return st;
    const char *null = !tokens ? "tokens" : !modality ? "modality" : !targets ? "targets"
                     : !target_modality ? "target_modality" : NULL;
    if (null) return dataset_fail(d, MOM_ERR_INVALID_ARG, "%s: %s is NULL", call, null);
    for (int b = 0; b < B; b++) {
        size_t row = (size_t)b * (size_t)T, s = (size_t)starts[b];
        memcpy(tokens + row, d->tokens + s, (size_t)T * sizeof *tokens);
        memcpy(modality + row, d->mods + s, (size_t)T);
        memcpy(targets + row, d->tokens + s + 1, (size_t)T * sizeof *targets);
        memcpy(target_modality + row, d->mods + s + 1, (size_t)T);
    }
    return MOM_OK;
}

mom_status mom_dataset_fill_patches(const mom_dataset *d, int B, int T, const int64_t *starts, float *patches)
{
    static const char call[] = "mom_dataset_fill_patches";
    if (!d) return MOM_ERR_INVALID_ARG;
    if (!d->patch_rank)
        return dataset_fail(d, MOM_ERR_INVALID_ARG, "%s: the file has no patch vectors (no patch geometry)", call);
    mom_status st = check_windows(d, call, B, T, starts);
    if (st) return st;
    if (!patches) return dataset_fail(d, MOM_ERR_INVALID_ARG, "%s: patches is NULL", call);
    const size_t dim = (size_t)d->patch_dim;
    for (int b = 0; b < B; b++) {
        const int64_t s = starts[b];
        uint64_t rank = d->patch_rank[s / PATCH_BLOCK];
        for (int64_t i = s - s % PATCH_BLOCK; i < s; i++) rank += (uint64_t)dataset_is_patch(d->tokens, d->mods, i);
        float *out = patches + (size_t)b * (size_t)T * dim;
        for (int t = 0; t < T; t++, out += dim) {
            if (dataset_is_patch(d->tokens, d->mods, s + t)) memcpy(out, d->patches + rank++ * dim, dim * sizeof(float));
            else memset(out, 0, dim * sizeof(float));
        }
    }
    return MOM_OK;
}
