/* Dataset files, written: mom_dataset_write checks the caller's arrays
 * against every rule of the format (src/dataset_format.h), then writes
 * the file to a temporary name, fsyncs it and renames it into place. */
#include "checksum.h"
#include "ctx.h"
#include "dataset_format.h"
#include "file_util.h"
#include "little_endian.h"
#include "mom.h"
#include "vocab.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* One piece of the body: bytes from data, or zeros when data is NULL. */
typedef struct piece {
    const void *data;
    uint64_t bytes;
} piece;

static const uint8_t zeros[4096];

static void hash_piece(mom64 *cs, const piece *pc)
{
    if (pc->data) {
        mom64_update(cs, pc->data, (size_t)pc->bytes);
        return;
    }
    for (uint64_t left = pc->bytes; left > 0;) {
        size_t k = left > sizeof zeros ? sizeof zeros : (size_t)left;
        mom64_update(cs, zeros, k);
        left -= k;
    }
}

static int write_piece(int fd, const piece *pc)
{
    if (pc->data) return file_write_all(fd, pc->data, (size_t)pc->bytes);
    for (uint64_t left = pc->bytes; left > 0;) {
        size_t k = left > sizeof zeros ? sizeof zeros : (size_t)left;
        if (file_write_all(fd, zeros, k) != 0) return -1;
        left -= k;
    }
    return 0;
}

/* doc_starts: n_docs + 1 offsets, already validated; geom NULL: no
 * patches, else n_patches rows of patches (maybe none). */
static mom_status write_file(mom_ctx *ctx, const char *path, const int32_t *tokens, const uint8_t *mods,
                             int64_t n_tokens, const int64_t *doc_starts, int64_t n_docs, int vocab, int n_mod,
                             const mom_vocab_layout *lay, const float *patches, int64_t n_patches,
                             const mom_patch_geometry *geom)
{
    uint64_t tok_off = DS_HEADER_SIZE, tok_bytes = (uint64_t)n_tokens * 4;
    uint64_t mod_off = align_up(tok_off + tok_bytes, DS_SECTION_ALIGN), mod_bytes = (uint64_t)n_tokens;
    uint64_t doc_off = align_up(mod_off + mod_bytes, DS_SECTION_ALIGN), doc_bytes = (uint64_t)n_docs * 8;
    uint64_t patch_off = align_up(doc_off + doc_bytes, DS_SECTION_ALIGN);
    uint64_t patch_bytes = geom ? (uint64_t)n_patches * (uint64_t)mom_patch_dim(geom) * 4 : 0;
    /* Without doc_starts there is one document, whose start 0 is all zeros. */
    piece body[7] = {
        {tokens, tok_bytes},
        {NULL, mod_off - tok_off - tok_bytes},
        {mods, mod_bytes},
        {NULL, doc_off - mod_off - mod_bytes},
        {doc_starts, doc_bytes},
        {NULL, geom ? patch_off - doc_off - doc_bytes : 0},
        {patch_bytes ? patches : NULL, patch_bytes},
    };
    const int n_body = geom ? 7 : 5;
    uint8_t h[DS_HEADER_SIZE] = {0};
    memcpy(h + H_MAGIC, DS_MAGIC, 8);
    put_u32(h + H_VERSION, geom ? DS_VERSION : DS_VERSION_NO_PATCHES);
    put_u32(h + H_N_MOD, (uint32_t)n_mod);
    put_u32(h + H_VOCAB, (uint32_t)vocab);
    put_u32(h + H_FLAGS, geom ? DS_FLAG_PATCHES : 0);
    put_u64(h + H_N_TOKENS, (uint64_t)n_tokens);
    put_u64(h + H_N_DOCS, (uint64_t)n_docs);
    put_u64(h + H_TOK_OFF, tok_off);
    put_u64(h + H_MOD_OFF, mod_off);
    put_u64(h + H_DOC_OFF, doc_off);
    if (lay) {
        put_u32(h + H_LAYOUT, (uint32_t)lay->n_special);
        put_u32(h + H_LAYOUT + 4, (uint32_t)lay->n_text);
        put_u32(h + H_LAYOUT + 8, (uint32_t)lay->n_image);
        put_u32(h + H_LAYOUT + 12, (uint32_t)lay->n_speech);
    }
    if (geom) {
        put_u32(h + H_PATCH_SIZE, (uint32_t)geom->patch_size);
        put_u32(h + H_IMAGE_SIZE, (uint32_t)geom->image_size);
        put_u32(h + H_CHANNELS, (uint32_t)geom->channels);
        put_u64(h + H_PATCH_OFF, patch_off);
        put_u64(h + H_N_PATCHES, (uint64_t)n_patches);
    }
    mom64 cs;
    mom64_init(&cs);
    mom64_update(&cs, h, sizeof h); /* the checksum field is still zero */
    for (int i = 0; i < n_body; i++) hash_piece(&cs, &body[i]);
    put_u64(h + H_CHECKSUM, mom64_final(&cs));

    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!tmp) return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return mom_fail(ctx, MOM_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(e));
    }
    mom_status st = MOM_OK;
    int ok = file_write_all(fd, h, sizeof h) == 0;
    for (int i = 0; ok && i < n_body; i++) ok = write_piece(fd, &body[i]) == 0;
    if (!ok) st = mom_fail(ctx, MOM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (st == MOM_OK && fsync(fd) != 0) st = mom_fail(ctx, MOM_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0 && st == MOM_OK) st = mom_fail(ctx, MOM_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (st == MOM_OK) st = mom_check_stop(ctx, path); /* a stop asked for while writing: no file */
    if (st == MOM_OK && rename(tmp, path) != 0)
        st = mom_fail(ctx, MOM_ERR_IO, "%s: cannot rename temporary file: %s", path, strerror(errno));
    if (st != MOM_OK) {
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    if (file_fsync_parent_dir(path) != 0)
        return mom_fail(ctx, MOM_ERR_IO, "%s: cannot fsync the directory: %s", path, strerror(errno));
    return MOM_OK;
}

mom_status mom_dataset_write(mom_ctx *ctx, const char *path, const int32_t *tokens, const uint8_t *mods,
                             int64_t n_tokens, const int64_t *doc_starts, int64_t n_docs, int vocab_size,
                             int n_modalities, const mom_vocab_layout *layout, const float *patches,
                             const mom_patch_geometry *geom)
{
    if (!path || !*path) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_dataset_write: no path");
    if (vocab_size < 1) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: vocab_size must be >= 1: %d", path, vocab_size);
    if (n_modalities < 1 || n_modalities > MOM_MAX_MODALITIES)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: n_modalities out of range [1, %d]: %d", path, MOM_MAX_MODALITIES,
                        n_modalities);
    if (n_tokens < 1) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: n_tokens must be >= 1: %lld", path, (long long)n_tokens);
    if (!tokens) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: tokens is NULL", path);
    if ((uint64_t)n_tokens > (SIZE_MAX - 4 * DS_SECTION_ALIGN - DS_HEADER_SIZE) / 13)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: n_tokens too large: %lld", path, (long long)n_tokens);
    if (!doc_starts) {
        if (n_docs > 1)
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: n_docs %lld given without doc_starts", path, (long long)n_docs);
        n_docs = 1;
    } else {
        if (n_docs < 1 || n_docs > n_tokens)
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: n_docs out of range [1, n_tokens %lld]: %lld", path,
                            (long long)n_tokens, (long long)n_docs);
        if (doc_starts[0] != 0)
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: first document start is not 0: %lld", path,
                            (long long)doc_starts[0]);
        for (int64_t i = 1; i <= n_docs; i++)
            if (doc_starts[i] <= doc_starts[i - 1])
                return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: document start %lld not ascending at document %lld", path,
                                (long long)doc_starts[i], (long long)i);
        if (doc_starts[n_docs] != n_tokens)
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: last document end %lld != n_tokens %lld", path,
                            (long long)doc_starts[n_docs], (long long)n_tokens);
    }
    if (!dataset_geometry_is_set(geom)) {
        if (patches) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: patches given without a patch geometry", path);
        geom = NULL;
    }
    mom_status st = geom ? dataset_check_geometry(ctx, path, geom, MOM_ERR_INVALID_ARG) : MOM_OK;
    if (st != MOM_OK) return st;
    st = dataset_check_tokens(ctx, path, tokens, n_tokens, vocab_size);
    if (st != MOM_OK) return st;
    if (mods) {
        st = dataset_check_mods(ctx, path, mods, n_tokens, n_modalities);
        if (st != MOM_OK) return st;
    }
    if (layout && (st = vocab_layout_check(ctx, path, layout, MOM_ERR_INVALID_ARG))) return st;
    if (layout && mom_vocab_layout_is_set(layout) && layout->text_first)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                        "%s: a pretrained vocabulary layout (text_first) has no place in a dataset file, which holds "
                        "libmom's own order; write the tokens without a layout",
                        path);
    if (layout && mom_vocab_layout_is_set(layout)) {
        if ((st = dataset_check_layout(ctx, path, layout, (uint32_t)vocab_size, (uint32_t)n_modalities)) ||
            (st = dataset_check_layout_mods(ctx, path, layout, tokens, mods, n_tokens, geom != NULL, MOM_ERR_DATA)))
            return st == MOM_ERR_FORMAT ? (mom_status)MOM_ERR_DATA : st;
    } else {
        layout = NULL;
    }
    int64_t n_patches = 0;
    if (geom) {
        /* Count first, then read the rows: patches may be NULL only when
         * there are none. */
        const doc_bounds docs = {doc_starts, NULL, n_docs, n_tokens};
        if ((st = dataset_check_patches(ctx, path, tokens, mods, n_tokens, &docs, geom, NULL, INT64_MAX, &n_patches)))
            return st;
        if (n_patches && !patches)
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: %lld patch positions, but patches is NULL", path,
                            (long long)n_patches);
        if ((uint64_t)n_patches > (SIZE_MAX / 2) / (4 * (uint64_t)mom_patch_dim(geom)))
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: too many patches: %lld", path, (long long)n_patches);
        if ((st = dataset_check_patches(ctx, path, tokens, mods, n_tokens, &docs, geom, patches, n_patches, &n_patches)))
            return st;
    }
    /* A missing mods array (every token modality 0) and a missing doc_starts
     * (one document: the start 0) are both written as zeros. */
    return write_file(ctx, path, tokens, mods, n_tokens, doc_starts, n_docs, vocab_size, n_modalities, layout,
                      patches, n_patches, geom);
}
