/* The rules a dataset's contents obey (src/dataset_format.h), checked
 * where data comes in: the reader on the mapped file, the writer on the
 * caller's arrays, the JSONL importer on each line. */
#include "ctx.h"
#include "dataset_format.h"

#include <math.h>
#include <stddef.h>

mom_status dataset_check_tokens(mom_ctx *ctx, const char *path, const int32_t *tok, int64_t n, int64_t vocab)
{
    for (int64_t i = 0; i < n; i++)
        if ((uint32_t)tok[i] >= (uint64_t)vocab) {
            if (tok[i] < 0) return mom_fail(ctx, MOM_ERR_DATA, "%s: token %d < 0 at index %lld", path, (int)tok[i], (long long)i);
            return mom_fail(ctx, MOM_ERR_DATA, "%s: token %d >= vocab %lld at index %lld", path, (int)tok[i],
                            (long long)vocab, (long long)i);
        }
    return MOM_OK;
}

mom_status dataset_check_mods(mom_ctx *ctx, const char *path, const uint8_t *mods, int64_t n, int n_mod)
{
    for (int64_t i = 0; i < n; i++)
        if (mods[i] >= n_mod)
            return mom_fail(ctx, MOM_ERR_DATA, "%s: modality %d >= n_modalities %d at index %lld", path, mods[i], n_mod,
                            (long long)i);
    return MOM_OK;
}

mom_status dataset_check_layout(mom_ctx *ctx, const char *path, const mom_vocab_layout *v, uint32_t vocab,
                                uint32_t n_mod)
{
    if (!mom_vocab_layout_is_set(v)) return MOM_OK;
    const int size = mom_vocab_layout_size(v);
    if (size < 0 || (uint32_t)size != vocab)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: vocabulary layout %d + %d + %d + %d does not sum to vocab_size %u",
                        path, v->n_special, v->n_text, v->n_image, v->n_speech, vocab);
    if ((uint32_t)mom_vocab_layout_n_modalities(v) > n_mod)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: vocabulary layout needs %d modalities, the file has %u", path,
                        mom_vocab_layout_n_modalities(v), n_mod);
    return MOM_OK;
}

mom_status dataset_check_layout_mods(mom_ctx *ctx, const char *path, const mom_vocab_layout *v, const int32_t *tok,
                                     const uint8_t *mods, int64_t n, int has_patches, mom_status bad)
{
    if (!mom_vocab_layout_is_set(v)) return MOM_OK;
    for (int64_t i = 0; i < n; i++) {
        const int want = mom_vocab_layout_modality(v, tok[i]), got = mods ? mods[i] : 0;
        if (want != got && !(has_patches && dataset_is_patch(tok, mods, i)))
            return mom_fail(ctx, bad, "%s: token %d at position %lld has modality %d, its range's is %d", path,
                            tok[i], (long long)i, got, want);
    }
    return MOM_OK;
}

mom_status dataset_check_geometry(mom_ctx *ctx, const char *path, const mom_patch_geometry *g, mom_status bad)
{
    if (!g->patch_size && !g->image_size && !g->channels) return MOM_OK;
    if (g->patch_size < 1 || g->image_size < g->patch_size || g->image_size > DS_MAX_IMAGE_SIZE ||
        g->image_size % g->patch_size || g->channels < 1 ||
        (int64_t)g->patch_size * g->patch_size * g->channels > DS_MAX_PATCH_DIM)
        return mom_fail(ctx, bad,
                        "%s: patch geometry: patch %d, image %d, channels %d (image_size must be a multiple of "
                        "patch_size up to %d, channels >= 1, patch_size^2 x channels <= %d)",
                        path, g->patch_size, g->image_size, g->channels, DS_MAX_IMAGE_SIZE, DS_MAX_PATCH_DIM);
    return MOM_OK;
}

/* Where document doc starts; n_tokens for the one past the last. */
static int64_t doc_start(const doc_bounds *b, int64_t doc)
{
    if (doc >= b->n_docs) return b->n_tokens;
    return b->s64 ? b->s64[doc] : b->u64 ? (int64_t)b->u64[doc] : 0;
}

mom_status dataset_check_patches(mom_ctx *ctx, const char *what, const int32_t *tok, const uint8_t *mods, int64_t n,
                                 const doc_bounds *docs, const mom_patch_geometry *g, const float *patches,
                                 int64_t max_rows, int64_t *n_rows)
{
    const int64_t per_image = mom_patches_per_image(g), dim = mom_patch_dim(g);
    int64_t rows = 0, doc = 0;
    for (int64_t i = 0; i < n;) {
        if (!dataset_is_patch(tok, mods, i)) {
            i++;
            continue;
        }
        while (doc_start(docs, doc + 1) <= i) doc++;
        const int64_t begin = doc_start(docs, doc), end = doc_start(docs, doc + 1), a = i;
        while (i < end && dataset_is_patch(tok, mods, i)) i++;
        if (a == begin || tok[a - 1] != MOM_TOK_BOI)
            return mom_fail(ctx, MOM_ERR_DATA, "%s: image span at token %lld has no begin-image token before it", what,
                            (long long)a);
        if (i == end || tok[i] != MOM_TOK_EOI)
            return mom_fail(ctx, MOM_ERR_DATA,
                            "%s: image span at token %lld has no end token (end-image) after its patches (%lld of them, "
                            "an image has %lld)", what, (long long)a, (long long)(i - a), (long long)per_image);
        if (i - a != per_image)
            return mom_fail(ctx, MOM_ERR_DATA,
                            "%s: image span at token %lld has %lld patches, not the %lld of a %d x %d image in %d x %d "
                            "patches",
                            what, (long long)a, (long long)(i - a), (long long)per_image, g->image_size, g->image_size,
                            g->patch_size, g->patch_size);
        if (i - a > max_rows - rows)
            return mom_fail(ctx, MOM_ERR_FORMAT, "%s: more patch positions than the %lld patch rows, at token %lld", what,
                            (long long)max_rows, (long long)a);
        for (int64_t r = 0; patches && r < i - a; r++) {
            const float *row = patches + (size_t)(rows + r) * (size_t)dim;
            for (int64_t k = 0; k < dim; k++)
                if (!isfinite(row[k]))
                    return mom_fail(ctx, MOM_ERR_DATA, "%s: the patch at token %lld is not finite: value %lld is %g", what,
                                    (long long)(a + r), (long long)k, (double)row[k]);
        }
        rows += i - a;
    }
    *n_rows = rows;
    return MOM_OK;
}
