/* Dataset files: one per split, memory-mapped read-only.
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
 * MOM64, the checksum (FNV-1a style, but word-wise and in four independent
 * lanes so it runs at memory speed on multi-GB files):
 *   h[i] = 0xcbf29ce484222325 ^ i, i = 0..3
 *   for each 32-byte block of the input (the last one zero-padded):
 *     for i = 0..3: w = u64 LE at 8i; h[i] = (h[i] ^ w) * 0x9e3779b97f4a7c15; h[i] ^= h[i] >> 32
 *   result = FNV-1a 64 over the 32 bytes of h[0..3] (each LE) followed by
 *            the input length as u64 LE.
 *
 * The checksum covers the header too (not only the sections): a flipped bit
 * in vocab_size or n_modalities would otherwise pass every other check.
 *
 * Open validates everything before handing out a pointer: header fields,
 * section bounds and alignment (overflow-checked), the checksum, then every
 * token, modality, document start, patch value and image span. */
#include "checksum.h"
#include "ctx.h"
#include "file_util.h"
#include "json.h"
#include "mom.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
};

/* ---- little-endian fields -------------------------------------------- */

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- MOM64 checksum (see the top of the file; declared in checksum.h) --- */

#define MOM64_MUL 0x9e3779b97f4a7c15ull
#define FNV_BASIS 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

void mom64_init(mom64 *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 4; i++) s->h[i] = FNV_BASIS ^ (uint64_t)i;
}

static void mom64_block(uint64_t h[4], const uint8_t *p)
{
    for (int i = 0; i < 4; i++) {
        uint64_t x = (h[i] ^ get_u64(p + 8 * i)) * MOM64_MUL;
        h[i] = x ^ (x >> 32);
    }
}

void mom64_update(mom64 *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    s->len += n;
    if (s->nbuf) {
        size_t k = 32 - s->nbuf < n ? 32 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, k);
        s->nbuf += k;
        p += k;
        n -= k;
        if (s->nbuf < 32) return;
        mom64_block(s->h, s->buf);
        s->nbuf = 0;
    }
    uint64_t h0 = s->h[0], h1 = s->h[1], h2 = s->h[2], h3 = s->h[3];
    for (; n >= 32; p += 32, n -= 32) {
        uint64_t a = (h0 ^ get_u64(p)) * MOM64_MUL, b = (h1 ^ get_u64(p + 8)) * MOM64_MUL;
        uint64_t c = (h2 ^ get_u64(p + 16)) * MOM64_MUL, d = (h3 ^ get_u64(p + 24)) * MOM64_MUL;
        h0 = a ^ (a >> 32);
        h1 = b ^ (b >> 32);
        h2 = c ^ (c >> 32);
        h3 = d ^ (d >> 32);
    }
    s->h[0] = h0, s->h[1] = h1, s->h[2] = h2, s->h[3] = h3;
    memcpy(s->buf, p, n);
    s->nbuf = n;
}

uint64_t mom64_final(mom64 *s)
{
    if (s->nbuf) {
        memset(s->buf + s->nbuf, 0, 32 - s->nbuf);
        mom64_block(s->h, s->buf);
        s->nbuf = 0;
    }
    uint8_t tail[40];
    for (int i = 0; i < 4; i++) put_u64(tail + 8 * i, s->h[i]);
    put_u64(tail + 32, s->len);
    uint64_t r = FNV_BASIS;
    for (int i = 0; i < 40; i++) r = (r ^ tail[i]) * FNV_PRIME;
    return r;
}

/* ---- shared checks ---------------------------------------------------- */

static mom_status check_tokens(mom_ctx *ctx, const char *path, const int32_t *tok, int64_t n, int64_t vocab)
{
    for (int64_t i = 0; i < n; i++)
        if ((uint32_t)tok[i] >= (uint64_t)vocab) {
            if (tok[i] < 0) return mom_fail(ctx, MOM_ERR_DATA, "%s: token %d < 0 at index %lld", path, (int)tok[i], (long long)i);
            return mom_fail(ctx, MOM_ERR_DATA, "%s: token %d >= vocab %lld at index %lld", path, (int)tok[i],
                            (long long)vocab, (long long)i);
        }
    return MOM_OK;
}

static mom_status check_mods(mom_ctx *ctx, const char *path, const uint8_t *mods, int64_t n, int n_mod)
{
    for (int64_t i = 0; i < n; i++)
        if (mods[i] >= n_mod)
            return mom_fail(ctx, MOM_ERR_DATA, "%s: modality %d >= n_modalities %d at index %lld", path, mods[i], n_mod,
                            (long long)i);
    return MOM_OK;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* ---- open ------------------------------------------------------------- */

/* A layout, when set, must sum to the vocabulary and fit the modalities. */
static mom_status check_layout(mom_ctx *ctx, const char *path, const mom_vocab_layout *v, uint32_t vocab,
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

/* A patch position: the placeholder token with the image modality (only
 * in a file with patches). */
static int is_patch(const int32_t *tok, const uint8_t *mods, int64_t i)
{
    return mods && tok[i] == MOM_TOK_PAD && mods[i] == MOM_MOD_IMAGE;
}

/* Every token's modality id is the one of its range (special tokens: text),
 * but for the patch positions of a file with patches. */
static mom_status check_layout_mods(mom_ctx *ctx, const char *path, const mom_vocab_layout *v, const int32_t *tok,
                                    const uint8_t *mods, int64_t n, int has_patches)
{
    if (!mom_vocab_layout_is_set(v)) return MOM_OK;
    for (int64_t i = 0; i < n; i++) {
        const int want = mom_vocab_layout_modality(v, tok[i]), got = mods ? mods[i] : 0;
        if (want != got && !(has_patches && is_patch(tok, mods, i)))
            return mom_fail(ctx, MOM_ERR_FORMAT, "%s: token %d at position %lld has modality %d, its range's is %d", path,
                            tok[i], (long long)i, got, want);
    }
    return MOM_OK;
}

/* A patch geometry fit for a file: all zero (none), or in the ranges of
 * the header's comment. */
static mom_status check_geometry(mom_ctx *ctx, const char *path, const mom_patch_geometry *g, mom_status bad)
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

static int geometry_is_set(const mom_patch_geometry *g) { return g && (g->patch_size || g->image_size || g->channels); }

/* Document bounds from the writer's int64 starts (n_docs + 1 of them, or
 * NULL: one document) or the file's uint64 starts (n_docs). */
typedef struct doc_bounds {
    const int64_t *s64;
    const uint64_t *u64;
    int64_t n_docs, n_tokens;
} doc_bounds;

static int64_t doc_start(const doc_bounds *b, int64_t doc)
{
    if (doc >= b->n_docs) return b->n_tokens;
    return b->s64 ? b->s64[doc] : b->u64 ? (int64_t)b->u64[doc] : 0;
}

/* The image rule of the header's comment, and (when patches is not NULL)
 * every value of every row finite. There may be at most max_rows rows;
 * *n_rows gets the count of patch positions. Offsets in the messages
 * count from tok[0]. */
static mom_status check_patches(mom_ctx *ctx, const char *what, const int32_t *tok, const uint8_t *mods, int64_t n,
                                const doc_bounds *docs, const mom_patch_geometry *g, const float *patches,
                                int64_t max_rows, int64_t *n_rows)
{
    const int64_t per_image = mom_patches_per_image(g), dim = mom_patch_dim(g);
    int64_t rows = 0, doc = 0;
    for (int64_t i = 0; i < n;) {
        if (!is_patch(tok, mods, i)) {
            i++;
            continue;
        }
        while (doc_start(docs, doc + 1) <= i) doc++;
        const int64_t begin = doc_start(docs, doc), end = doc_start(docs, doc + 1), a = i;
        while (i < end && is_patch(tok, mods, i)) i++;
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
        rank += (uint64_t)is_patch(d->tokens, d->mods, i);
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
    if (has_patches && !geometry_is_set(&geom))
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: the patches flag is set, but the patch geometry is all zero", path);
    mom_status gst = check_geometry(ctx, path, &geom, MOM_ERR_FORMAT);
    if (gst) return gst;
    const uint64_t patch_dim = (uint64_t)mom_patch_dim(&geom), n_patches = get_u64(h + H_N_PATCHES);
    mom_vocab_layout lay = {(int)get_u32(h + H_LAYOUT), (int)get_u32(h + H_LAYOUT + 4), (int)get_u32(h + H_LAYOUT + 8),
                            (int)get_u32(h + H_LAYOUT + 12)};
    mom_status lst = check_layout(ctx, path, &lay, vocab, n_mod);
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
    mom_status st = check_tokens(ctx, path, d->tokens, d->n_tokens, d->vocab_size);
    if (st != MOM_OK) return st;
    st = check_mods(ctx, path, d->mods, d->n_tokens, d->n_modalities);
    if (st != MOM_OK) return st;
    if (d->doc_starts[0] != 0)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: first document start is not 0: %llu", path,
                        (unsigned long long)d->doc_starts[0]);
    for (uint64_t i = 1; i < n_docs; i++)
        if (d->doc_starts[i] <= d->doc_starts[i - 1] || d->doc_starts[i] >= n_tok)
            return mom_fail(ctx, MOM_ERR_FORMAT, "%s: document start %llu not ascending or >= n_tokens %llu at document %llu",
                            path, (unsigned long long)d->doc_starts[i], (unsigned long long)n_tok, (unsigned long long)i);
    st = check_layout_mods(ctx, path, &lay, d->tokens, d->mods, d->n_tokens, has_patches);
    if (st != MOM_OK || !has_patches) return st;
    const doc_bounds docs = {NULL, d->doc_starts, d->n_docs, d->n_tokens};
    int64_t rows = 0;
    st = check_patches(ctx, path, d->tokens, d->mods, d->n_tokens, &docs, &geom, d->patches, (int64_t)n_patches, &rows);
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
    if (!d) {
        close(fd);
        return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    }
    d->size = (size_t)sb.st_size;
    void *map = mmap(NULL, d->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) {
        free(d);
        return mom_fail(ctx, MOM_ERR_IO, "%s: cannot map: %s", path, strerror(map_errno));
    }
    d->base = map;
    mom_status st = validate_mapped(ctx, path, d);
    if (st != MOM_OK) {
        mom_dataset_close(&d);
        return st;
    }
    *out = d;
    return MOM_OK;
}

void mom_dataset_close(mom_dataset **d)
{
    if (!d || !*d) return;
    if ((*d)->base) munmap((*d)->base, (*d)->size);
    free((*d)->patch_rank);
    free(*d);
    *d = NULL;
}

int64_t mom_dataset_n_tokens(const mom_dataset *d) { return d ? d->n_tokens : 0; }
int mom_dataset_n_modalities(const mom_dataset *d) { return d ? d->n_modalities : 0; }
int64_t mom_dataset_vocab_size(const mom_dataset *d) { return d ? d->vocab_size : 0; }
void mom_dataset_vocab_layout(const mom_dataset *d, mom_vocab_layout *out)
{
    if (!out) return;
    memset(out, 0, sizeof(*out));
    if (d) *out = d->layout;
}

int64_t mom_dataset_n_docs(const mom_dataset *d) { return d ? d->n_docs : 0; }

void mom_dataset_patch_geometry(const mom_dataset *d, mom_patch_geometry *out)
{
    if (!out) return;
    memset(out, 0, sizeof(*out));
    if (d) *out = d->geom;
}

int64_t mom_dataset_n_patches(const mom_dataset *d) { return d ? d->n_patches : 0; }

const int32_t *mom_dataset_tokens(const mom_dataset *d) { return d ? d->tokens : NULL; }
const uint8_t *mom_dataset_modalities(const mom_dataset *d) { return d ? d->mods : NULL; }

mom_status mom_dataset_fill_batch(const mom_dataset *d, int B, int T, const int64_t *starts, int32_t *tokens,
                                  uint8_t *modality, int32_t *targets, uint8_t *target_modality)
{
    if (!d || B <= 0 || T <= 0 || !starts || !tokens || !modality || !targets || !target_modality)
        return MOM_ERR_INVALID_ARG;
    if ((int64_t)T >= d->n_tokens) return MOM_ERR_INVALID_ARG;
    int64_t last = d->n_tokens - T - 1; /* largest valid start */
    for (int b = 0; b < B; b++)
        if (starts[b] < 0 || starts[b] > last) return MOM_ERR_INVALID_ARG;
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
    if (!d || !d->patch_rank || B <= 0 || T <= 0 || !starts || !patches) return MOM_ERR_INVALID_ARG;
    if ((int64_t)T >= d->n_tokens) return MOM_ERR_INVALID_ARG;
    const int64_t last = d->n_tokens - T - 1; /* the windows of mom_dataset_fill_batch */
    for (int b = 0; b < B; b++)
        if (starts[b] < 0 || starts[b] > last) return MOM_ERR_INVALID_ARG;
    const size_t dim = (size_t)d->patch_dim;
    for (int b = 0; b < B; b++) {
        const int64_t s = starts[b];
        uint64_t rank = d->patch_rank[s / PATCH_BLOCK];
        for (int64_t i = s - s % PATCH_BLOCK; i < s; i++) rank += (uint64_t)is_patch(d->tokens, d->mods, i);
        float *out = patches + (size_t)b * (size_t)T * dim;
        for (int t = 0; t < T; t++, out += dim) {
            if (is_patch(d->tokens, d->mods, s + t)) memcpy(out, d->patches + rank++ * dim, dim * sizeof(float));
            else memset(out, 0, dim * sizeof(float));
        }
    }
    return MOM_OK;
}

/* ---- write ------------------------------------------------------------ */

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
    if (!geometry_is_set(geom)) {
        if (patches) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: patches given without a patch geometry", path);
        geom = NULL;
    }
    mom_status st = geom ? check_geometry(ctx, path, geom, MOM_ERR_INVALID_ARG) : MOM_OK;
    if (st != MOM_OK) return st;
    st = check_tokens(ctx, path, tokens, n_tokens, vocab_size);
    if (st != MOM_OK) return st;
    if (mods) {
        st = check_mods(ctx, path, mods, n_tokens, n_modalities);
        if (st != MOM_OK) return st;
    }
    if (layout && mom_vocab_layout_is_set(layout)) {
        if ((st = check_layout(ctx, path, layout, (uint32_t)vocab_size, (uint32_t)n_modalities)) ||
            (st = check_layout_mods(ctx, path, layout, tokens, mods, n_tokens, geom != NULL)))
            return st == MOM_ERR_FORMAT ? (mom_status)MOM_ERR_DATA : st;
    } else {
        layout = NULL;
    }
    int64_t n_patches = 0;
    if (geom) {
        /* Count first, then read the rows: patches may be NULL only when
         * there are none. */
        const doc_bounds docs = {doc_starts, NULL, n_docs, n_tokens};
        if ((st = check_patches(ctx, path, tokens, mods, n_tokens, &docs, geom, NULL, INT64_MAX, &n_patches)))
            return st;
        if (n_patches && !patches)
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: %lld patch positions, but patches is NULL", path,
                            (long long)n_patches);
        if ((uint64_t)n_patches > (SIZE_MAX / 2) / (4 * (uint64_t)mom_patch_dim(geom)))
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: too many patches: %lld", path, (long long)n_patches);
        if ((st = check_patches(ctx, path, tokens, mods, n_tokens, &docs, geom, patches, n_patches, &n_patches)))
            return st;
    }
    /* A missing mods array (every token modality 0) and a missing doc_starts
     * (one document: the start 0) are both written as zeros. */
    return write_file(ctx, path, tokens, mods, n_tokens, doc_starts, n_docs, vocab_size, n_modalities, layout,
                      patches, n_patches, geom);
}

/* ---- JSONL import ------------------------------------------------------ */

typedef struct growbuf {
    void *p;
    size_t n, cap; /* in elements */
} growbuf;

static int gb_reserve(growbuf *g, size_t extra, size_t elem)
{
    if (extra > SIZE_MAX / elem - g->n) return -1;
    size_t need = g->n + extra;
    if (need <= g->cap && g->p) return 0; /* a buffer even for 0: callers index it ("tokens": []) */
    size_t nc = g->cap ? g->cap : 4096;
    while (nc < need) nc = nc > SIZE_MAX / elem / 2 ? need : nc * 2;
    void *q = realloc(g->p, nc * elem);
    if (!q) return -1;
    g->p = q;
    g->cap = nc;
    return 0;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* A "patches" segment: each patch one position (MOM_TOK_PAD, image) and
 * one row of pat. */
static mom_status import_patches(mom_ctx *ctx, const char *in, long long line, size_t s, const json_value *pp,
                                 const mom_patch_geometry *geom, int vocab, growbuf *tok, growbuf *mod, growbuf *pat)
{
    if (!geom)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                        "%s: line %lld: segment %zu: patches need a patch geometry (mom data import --patch P --size S "
                        "[--channels C])", in, line, s);
    if (vocab <= MOM_TOK_PAD)
        return mom_fail(ctx, MOM_ERR_DATA,
                        "%s: line %lld: segment %zu: patches need vocab_size > %d (a patch position's token is the pad "
                        "token %d): %d", in, line, s, MOM_TOK_PAD, MOM_TOK_PAD, vocab);
    const size_t dim = (size_t)mom_patch_dim(geom), n = pp->n_items;
    if (gb_reserve(tok, n, sizeof(int32_t)) != 0 || gb_reserve(mod, n, 1) != 0 ||
        (n && dim > SIZE_MAX / sizeof(float) / n) || gb_reserve(pat, n * dim, sizeof(float)) != 0)
        return mom_fail(ctx, MOM_ERR_NOMEM, "%s: line %lld: out of memory", in, line);
    float *row = (float *)pat->p + pat->n;
    for (size_t i = 0; i < n; i++, row += dim) {
        const json_value *v = &pp->items[i];
        if (v->type != JSON_ARRAY)
            return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: segment %zu: patch %zu is not an array of numbers", in,
                            line, s, i);
        if (v->n_items != dim)
            return mom_fail(ctx, MOM_ERR_DATA,
                            "%s: line %lld: segment %zu: patch %zu has %zu values, patch_dim is %zu (%d x %d pixels x %d "
                            "channels)", in, line, s, i, v->n_items, dim, geom->patch_size, geom->patch_size,
                            geom->channels);
        for (size_t k = 0; k < dim; k++) {
            const json_value *x = &v->items[k];
            if (x->type != JSON_NUMBER)
                return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: segment %zu: patch %zu: value %zu is not a number", in,
                                line, s, i, k);
            row[k] = (float)x->number;
            if (!isfinite(row[k]))
                return mom_fail(ctx, MOM_ERR_DATA, "%s: line %lld: segment %zu: patch %zu: value %zu (%g) is not a finite float32",
                                in, line, s, i, k, x->number);
        }
        ((int32_t *)tok->p)[tok->n + i] = MOM_TOK_PAD;
        ((uint8_t *)mod->p)[mod->n + i] = MOM_MOD_IMAGE;
    }
    tok->n += n;
    mod->n += n;
    pat->n += n * dim;
    return MOM_OK;
}

/* Appends one document (the parsed line) to tok/mod (and its patch rows
 * to pat). */
static mom_status import_doc(mom_ctx *ctx, const char *in, long long line, const json_value *root, growbuf *tok,
                             growbuf *mod, growbuf *pat, int vocab, int n_mod, const mom_patch_geometry *geom)
{
    const json_value *segs = json_get(root, "segments");
    if (!root || root->type != JSON_OBJECT || !segs || segs->type != JSON_ARRAY)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: not an object with a \"segments\" array", in, line);
    const size_t before = tok->n, values_before = pat->n; /* pat counts floats */
    for (size_t s = 0; s < segs->n_items; s++) {
        const json_value *seg = &segs->items[s];
        const json_value *m = json_get(seg, "modality"), *tt = json_get(seg, "tokens"), *pp = json_get(seg, "patches");
        if (!m || !!tt == !!pp || (tt && tt->type != JSON_ARRAY) || (pp && pp->type != JSON_ARRAY))
            return mom_fail(ctx, MOM_ERR_FORMAT,
                            "%s: line %lld: segment %zu: needs \"modality\" and either a \"tokens\" or a \"patches\" array",
                            in, line, s);
        if (m->type != JSON_NUMBER || !m->is_int)
            return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: segment %zu: modality is not an integer", in, line, s);
        if (m->integer < 0 || m->integer >= n_mod)
            return mom_fail(ctx, MOM_ERR_DATA, "%s: line %lld: segment %zu: modality %lld out of range [0, %d)", in, line, s,
                            (long long)m->integer, n_mod);
        if (pp) {
            if (m->integer != MOM_MOD_IMAGE)
                return mom_fail(ctx, MOM_ERR_DATA, "%s: line %lld: segment %zu: patches have modality %d (image), not %lld",
                                in, line, s, MOM_MOD_IMAGE, (long long)m->integer);
            mom_status st = import_patches(ctx, in, line, s, pp, geom, vocab, tok, mod, pat);
            if (st != MOM_OK) return st;
            continue;
        }
        if (gb_reserve(tok, tt->n_items, sizeof(int32_t)) != 0 || gb_reserve(mod, tt->n_items, 1) != 0)
            return mom_fail(ctx, MOM_ERR_NOMEM, "%s: line %lld: out of memory", in, line);
        int32_t *tp = (int32_t *)tok->p + tok->n;
        uint8_t *mp = (uint8_t *)mod->p + mod->n;
        for (size_t i = 0; i < tt->n_items; i++) {
            const json_value *v = &tt->items[i];
            if (v->type != JSON_NUMBER || !v->is_int) {
                if (v->type == JSON_NUMBER)
                    return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: segment %zu: token %.17g is not an integer at index %zu",
                                    in, line, s, v->number, i);
                return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: segment %zu: token is not a number at index %zu", in,
                                line, s, i);
            }
            if (v->integer < 0 || v->integer >= vocab)
                return mom_fail(ctx, MOM_ERR_DATA, "%s: line %lld: segment %zu: token %lld out of range [0, %d) at index %zu",
                                in, line, s, (long long)v->integer, vocab, i);
            /* With patches, (pad, image) is a patch position, which has a row. */
            if (geom && v->integer == MOM_TOK_PAD && m->integer == MOM_MOD_IMAGE)
                return mom_fail(ctx, MOM_ERR_DATA,
                                "%s: line %lld: segment %zu: token %d with modality %d at index %zu is a patch position: "
                                "give it as \"patches\"", in, line, s, MOM_TOK_PAD, MOM_MOD_IMAGE, i);
            tp[i] = (int32_t)v->integer;
            mp[i] = (uint8_t)m->integer;
        }
        tok->n += tt->n_items;
        mod->n += tt->n_items;
    }
    if (tok->n == before) return mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: document has no tokens", in, line);
    if (!geom) return MOM_OK;
    /* The image rule, here so that the message names the line (token
     * offsets count from the document's start). */
    char what[4200];
    snprintf(what, sizeof what, "%s: line %lld", in, line);
    const int64_t n = (int64_t)(tok->n - before), rows = (int64_t)(pat->n - values_before) / mom_patch_dim(geom);
    const doc_bounds one = {NULL, NULL, 1, n};
    int64_t got = 0;
    return check_patches(ctx, what, (const int32_t *)tok->p + before, (const uint8_t *)mod->p + before, n, &one, geom,
                         pat->p ? (const float *)pat->p + values_before : NULL, rows, &got); /* none yet: NULL */
}

mom_status mom_dataset_import_jsonl(mom_ctx *ctx, const char *jsonl_path, const char *out_path, int vocab_size,
                                    int n_modalities, const mom_patch_geometry *geom)
{
    if (!jsonl_path || !out_path)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_dataset_import_jsonl: %s is NULL",
                        jsonl_path ? "out_path" : "jsonl_path");
    if (vocab_size < 0)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: vocab_size must be >= 1 (or 0: largest token + 1): %d",
                        jsonl_path, vocab_size);
    if (n_modalities < 0 || n_modalities > MOM_MAX_MODALITIES)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: n_modalities must be in [1, %d] (or 0: largest id + 1): %d",
                        jsonl_path, MOM_MAX_MODALITIES, n_modalities);
    if (!geometry_is_set(geom)) geom = NULL;
    mom_status gst = geom ? check_geometry(ctx, jsonl_path, geom, MOM_ERR_INVALID_ARG) : MOM_OK;
    if (gst) return gst;
    /* 0 asks for the smallest sizes that hold the data. */
    const int infer_vocab = vocab_size == 0, infer_mod = n_modalities == 0;
    if (infer_vocab) vocab_size = INT32_MAX;
    if (infer_mod) n_modalities = MOM_MAX_MODALITIES;
    FILE *f = fopen(jsonl_path, "rb");
    if (!f) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", jsonl_path, strerror(errno));
    growbuf tok = {0}, mod = {0}, docs = {0}, patches = {0};
    char *line = NULL;
    size_t line_cap = 0;
    long long line_no = 0;
    mom_status st = MOM_OK;
    ssize_t len;
    errno = 0;
    while ((len = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        if ((st = mom_check_stop(ctx, jsonl_path))) break;
        const char *text = line;
        size_t n = (size_t)len;
        if (line_no == 1 && n >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) { /* UTF-8 byte order mark */
            text += 3;
            n -= 3;
        }
        if (is_blank(text, n)) continue;
        json_value *root = NULL;
        char jerr[128];
        if (json_parse(text, n, &root, jerr, sizeof jerr) != 0) {
            st = mom_fail(ctx, MOM_ERR_FORMAT, "%s: line %lld: %s", jsonl_path, line_no, jerr);
            break;
        }
        if (gb_reserve(&docs, 1, sizeof(int64_t)) != 0) {
            json_free(root);
            st = mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", jsonl_path);
            break;
        }
        ((int64_t *)docs.p)[docs.n] = (int64_t)tok.n;
        st = import_doc(ctx, jsonl_path, line_no, root, &tok, &mod, &patches, vocab_size, n_modalities, geom);
        json_free(root);
        if (st != MOM_OK) break;
        docs.n++;
        if (tok.n > (size_t)INT64_MAX / 16) {
            st = mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: line %lld: too many tokens", jsonl_path, line_no);
            break;
        }
    }
    if (st == MOM_OK && ferror(f)) st = mom_fail(ctx, MOM_ERR_IO, "%s: read failed: %s", jsonl_path, strerror(errno));
    fclose(f);
    free(line);
    if (st == MOM_OK && docs.n == 0) st = mom_fail(ctx, MOM_ERR_FORMAT, "%s: no documents", jsonl_path);
    if (st == MOM_OK && gb_reserve(&docs, 1, sizeof(int64_t)) != 0)
        st = mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", jsonl_path);
    if (st == MOM_OK) {
        ((int64_t *)docs.p)[docs.n] = (int64_t)tok.n;
        int max_tok = 0, max_mod = 0;
        for (size_t i = 0; i < tok.n && (infer_vocab || infer_mod); i++) {
            if (((const int32_t *)tok.p)[i] > max_tok) max_tok = ((const int32_t *)tok.p)[i];
            if (((const uint8_t *)mod.p)[i] > max_mod) max_mod = ((const uint8_t *)mod.p)[i];
        }
        if (infer_vocab) vocab_size = max_tok + 1;
        if (infer_mod) n_modalities = max_mod + 1;
        st = mom_dataset_write(ctx, out_path, tok.p, mod.p, (int64_t)tok.n, docs.p, (int64_t)docs.n, vocab_size,
                               n_modalities, NULL, geom ? patches.p : NULL, geom);
    }
    free(tok.p);
    free(mod.p);
    free(docs.p);
    free(patches.p);
    return st;
}
