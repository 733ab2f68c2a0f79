/* Dataset files: the on-disk format, shared by the reader (dataset.c), the
 * writer (dataset_write.c) and the JSONL importer (dataset_import_jsonl.c),
 * and the checks of their contents (dataset_checks.c). Internal. One file
 * per split, memory-mapped read-only.
 *
 * Layout, version 3. Every integer is little-endian. The header is 128 bytes:
 *
 *   offset size  field
 *        0    8  magic "MOMDATA\0"
 *        8    4  u32 version            3 (2: no patches, bytes 88.. reserved;
 *                                        1: also no vocabulary layout, 72.. reserved)
 *       12    4  u32 n_modalities       1..8
 *       16    4  u32 vocab_size         1..2^31-1
 *       20    4  u32 flags              bit 0: continuous patch vectors (version 3
 *                                        only); every other bit 0
 *       24    8  u64 n_tokens           >= 1
 *       32    8  u64 n_docs             1..n_tokens
 *       40    8  u64 tokens_offset      int32[n_tokens], 4-byte aligned, each in [0, vocab_size)
 *       48    8  u64 modalities_offset  uint8[n_tokens], each < n_modalities
 *       56    8  u64 doc_starts_offset  uint64[n_docs], 8-byte aligned; first 0, strictly
 *                                        ascending, each < n_tokens (documents are never empty)
 *       64    8  u64 checksum           MOM64 of the whole file, these 8 bytes read as zero
 *       72   16  u32 x 4 vocabulary layout: n_special, n_text, n_image, n_speech
 *                (mom_vocab_layout; all zero: none; else they sum to
 *                vocab_size and each token's modality is its range's)
 *       88    4  u32 patch_size         } with flag bit 0 (mom_patch_geometry):
 *       92    4  u32 image_size         } patch_size >= 1, image_size a multiple
 *       96    4  u32 image_channels     } of it up to 16384, channels >= 1,
 *                                        patch_dim = patch_size^2 x channels <= 65536;
 *                                        without the flag all zero
 *      100    4  reserved, zero
 *      104    8  u64 patches_offset     float32[n_patches][patch_dim], 4-byte aligned
 *      112    8  u64 n_patches          rows: one per patch position, in token order
 *      120    8  reserved, all zero
 *      128       the sections
 *
 * A patch position is a token MOM_TOK_PAD with modality MOM_MOD_IMAGE in a
 * file with the flag; its row holds its patch (pixels scaled to [-1, 1],
 * see mom_patch_geometry), every value finite. Every maximal run of patch
 * positions is one image: BOI right before it and EOI right after it in
 * the same document, (image_size / patch_size)^2 positions long. In a file
 * with a layout those positions are the one exception to "each token's
 * modality is its range's" (PAD's range is text; its layout has n_image 0
 * unless it also holds discrete image codes).
 *
 * The writer puts the sections in the order above (patches last), each at
 * a multiple of 64 bytes, with zero padding between them; the reader
 * accepts any placement that is in bounds, aligned and non-overlapping,
 * but the file must end exactly where the last section ends. Documents are
 * concatenated with nothing inserted between them; document d spans
 * [doc_starts[d], doc_starts[d+1]) (the last one ends at n_tokens). The
 * writer writes version 2 when a file has no patches, so that such files
 * stay readable by a libmom older than version 3 (the reader accepts
 * version 3 without the flag too).
 *
 * The checksum at offset 64 is MOM64 (src/checksum.c). It covers the
 * header too (not only the sections): a flipped bit in vocab_size or
 * n_modalities would otherwise pass every other check.
 *
 * Open validates everything before handing out a pointer: header fields,
 * section bounds and alignment (overflow-checked), the checksum, then every
 * token, modality, document start, patch value and image span. */
#ifndef MOM_DATASET_FORMAT_H
#define MOM_DATASET_FORMAT_H

#include "mom.h"

#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dataset files are little-endian and mapped directly; this host is not"
#endif

#define DS_MAGIC "MOMDATA"  /* plus its NUL: 8 bytes */
#define DS_VERSION 3u
#define DS_VERSION_NO_PATCHES 2u
#define DS_HEADER_SIZE 128u
#define DS_SECTION_ALIGN 64u

enum {
    H_MAGIC = 0, H_VERSION = 8, H_N_MOD = 12, H_VOCAB = 16, H_FLAGS = 20, H_N_TOKENS = 24,
    H_N_DOCS = 32, H_TOK_OFF = 40, H_MOD_OFF = 48, H_DOC_OFF = 56, H_CHECKSUM = 64, H_LAYOUT = 72,
    H_RESERVED = 88, H_PATCH_SIZE = 88, H_IMAGE_SIZE = 92, H_CHANNELS = 96, H_PATCH_PAD = 100, H_PATCH_OFF = 104,
    H_N_PATCHES = 112, H_RESERVED_V3 = 120,
};
#define DS_FLAG_PATCHES 1u
#define DS_MAX_IMAGE_SIZE 16384
#define DS_MAX_PATCH_DIM 65536

/* A patch position: the placeholder token with the image modality (only
 * in a file with patches). */
static inline int dataset_is_patch(const int32_t *tok, const uint8_t *mods, int64_t i)
{
    return mods && tok[i] == MOM_TOK_PAD && mods[i] == MOM_MOD_IMAGE;
}

static inline int dataset_geometry_is_set(const mom_patch_geometry *g)
{
    return g && (g->patch_size || g->image_size || g->channels);
}

/* Document bounds from the writer's int64 starts (n_docs + 1 of them, or
 * NULL: one document) or the file's uint64 starts (n_docs). */
typedef struct doc_bounds {
    const int64_t *s64;
    const uint64_t *u64;
    int64_t n_docs, n_tokens;
} doc_bounds;

/* The checks of dataset_checks.c. Each names `path` (or `what`) and the
 * bad value in ctx's message and returns its status; MOM_OK when all is
 * well. */

/* Every token in [0, vocab): MOM_ERR_DATA. */
/* The context a dataset was opened with (NULL: none), where its calls
 * record their failures. */
mom_ctx *dataset_ctx(const mom_dataset *d);
mom_status dataset_check_tokens(mom_ctx *ctx, const char *path, const int32_t *tok, int64_t n, int64_t vocab);
/* Every modality id < n_mod: MOM_ERR_DATA. */
mom_status dataset_check_mods(mom_ctx *ctx, const char *path, const uint8_t *mods, int64_t n, int n_mod);
/* A layout, when set, sums to the vocabulary and fits the modalities:
 * MOM_ERR_FORMAT. */
mom_status dataset_check_layout(mom_ctx *ctx, const char *path, const mom_vocab_layout *v, uint32_t vocab,
                                uint32_t n_mod);
/* Every token's modality id is the one of its range (special tokens:
 * text), but for the patch positions of a file with patches; else `bad`
 * (MOM_ERR_FORMAT for a file, MOM_ERR_DATA for data held to a model). */
mom_status dataset_check_layout_mods(mom_ctx *ctx, const char *path, const mom_vocab_layout *v, const int32_t *tok,
                                     const uint8_t *mods, int64_t n, int has_patches, mom_status bad);
/* A patch geometry fit for a file: all zero (none), or in the ranges of
 * the format's comment; `bad` is the status when it is not. */
mom_status dataset_check_geometry(mom_ctx *ctx, const char *path, const mom_patch_geometry *g, mom_status bad);
/* The image rule of the format's comment, and (when patches is not NULL)
 * every value of every row finite. There may be at most max_rows rows;
 * *n_rows gets the count of patch positions. Offsets in the messages
 * count from tok[0]. */
mom_status dataset_check_patches(mom_ctx *ctx, const char *what, const int32_t *tok, const uint8_t *mods, int64_t n,
                                 const doc_bounds *docs, const mom_patch_geometry *g, const float *patches,
                                 int64_t max_rows, int64_t *n_rows);

#endif
