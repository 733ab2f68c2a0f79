/* The image tokenizer: images resized to size x size (stb_image decodes,
 * a tent filter resizes: image_resize.c), cut into
 * p x p patches and quantised against a k-means codebook.
 *
 * Layouts: pixels (size, size, channels) floats in [0, 1]; patch t of the
 * (size/p) x (size/p) grid in raster order is the vector (p, p, channels);
 * the codebook is (codes, p*p*channels). */
#include "mom_build_config.h"
#include "ctx.h"
#include "mom_data.h"
#include "image_resize.h"

#include <stdlib.h>

/* Decoded at full size (bytes, then floats) before the resize. */
#define IMAGE_MAX_PIXELS (1 << 24)

struct mom_vq {
    int size, patch, channels, codes, dim; /* dim = patch * patch * channels */
    float *book;                           /* (codes, dim) */
};

void mom_vq_destroy(mom_vq **vq)
{
    if (!vq || !*vq) return;
    free((*vq)->book);
    free(*vq);
    *vq = NULL;
}
/* The old name, for one release (mom_data.h). */
void mom_vq_free(mom_vq **vq) { mom_vq_destroy(vq); }
int mom_vq_codes(const mom_vq *vq) { return vq ? vq->codes : 0; }
int mom_vq_tokens_per_image(const mom_vq *vq) { return vq ? (vq->size / vq->patch) * (vq->size / vq->patch) : 0; }
int mom_vq_image_size(const mom_vq *vq) { return vq ? vq->size : 0; }
int mom_vq_channels(const mom_vq *vq) { return vq ? vq->channels : 0; }

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Only reading and writing image files needs stb: a codebook, encoding
 * and decoding pixels are plain C, so a build without stb still loads a
 * codebook and turns codes into pixels (mom generate does). */
#if MOM_HAVE_IMAGES
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#endif
#define NO_IMAGES(name) mom_fail(ctx, MOM_ERR_UNSUPPORTED, name ": this build has no image support (libstb-dev)")

#include "kmeans.h"
#include "file_util.h"
#include "codebook_file.h"
#include "safetensors.h"

/* Bounds size*size*channels floats to 3 GiB and keeps every index an int. */
#define VQ_MAX_SIZE 16384
#define VQ_MAX_CODES 65536

static mom_status check_image_args(mom_ctx *ctx, const char *what, int size, int channels)
{
    if (size < 1 || size > VQ_MAX_SIZE)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: image size %d out of range 1..%d", what, size, VQ_MAX_SIZE);
    if (channels != 1 && channels != 3)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: channels %d (must be 1 or 3)", what, channels);
    return MOM_OK;
}

/* Offset of row y of patch t in pixels; a patch row is patch*channels floats. */
static size_t patch_row(const mom_vq *vq, int t, int y)
{
    const int g = vq->size / vq->patch;
    return ((size_t)((t / g) * vq->patch + y) * vq->size + (size_t)(t % g) * vq->patch) * vq->channels;
}
static void patch_get(const mom_vq *vq, const float *pixels, int t, float *v)
{
    const size_t row = (size_t)vq->patch * vq->channels;
    for (int y = 0; y < vq->patch; y++) memcpy(v + y * row, pixels + patch_row(vq, t, y), sizeof(float) * row);
}
static void patch_put(const mom_vq *vq, float *pixels, int t, const float *v)
{
    const size_t row = (size_t)vq->patch * vq->channels;
    for (int y = 0; y < vq->patch; y++) memcpy(pixels + patch_row(vq, t, y), v + y * row, sizeof(float) * row);
}

#if MOM_HAVE_IMAGES
/* n_px pixels of n 8-bit channels (stb's 1..4: gray, gray+alpha, RGB,
 * RGBA) to channels (1 or 3) floats in [0, 1], with stb's own formulas:
 * alpha dropped, gray repeated, gray from RGB as (77 r + 150 g + 29 b) >> 8.
 * Done here, not by stb (req_comp): Debian's stb_image converts a 16-bit
 * PNM to another channel count with the 8-bit converter and then reads
 * past its buffer (found by the image fuzzer). */
static void pixels_to_channels(const unsigned char *img, size_t n_px, int n, int channels, float *out)
{
    for (size_t i = 0; i < n_px; i++) {
        const unsigned char *p = img + i * (size_t)n;
        if (channels == 1) {
            const int y = n >= 3 ? (p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8 : p[0];
            out[i] = (float)y / 255.0f;
        } else {
            for (int c = 0; c < 3; c++) out[i * 3 + (size_t)c] = (float)(n >= 3 ? p[c] : p[0]) / 255.0f;
        }
    }
}

mom_status mom_image_load(mom_ctx *ctx, const char *path, int size, int channels, float *pixels)
{
    if (!path || !pixels) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_image_load: %s is NULL", path ? "pixels" : "path");
    mom_status s = check_image_args(ctx, path, size, channels);
    if (s) return s;
    FILE *fp = fopen(path, "rb");
    if (!fp) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int w = 0, h = 0, n = 0;
    /* The header first: stb fills a short file's missing pixels with zeros,
     * so 18 bytes of TGA header decode to whatever size they claim. */
    if (stbi_info_from_file(fp, &w, &h, &n) && (int64_t)w * h > IMAGE_MAX_PIXELS) {
        fclose(fp);
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: %d x %d pixels, more than the %d an image may have", path, w, h,
                        IMAGE_MAX_PIXELS);
    }
    unsigned char *img = stbi_load_from_file(fp, &w, &h, &n, 0); /* its own channels: see pixels_to_channels */
    fclose(fp);
    if (!img) return mom_fail(ctx, MOM_ERR_FORMAT, "%s: not an image (stb: %s)", path, stbi_failure_reason());
    if (w < 1 || h < 1) { /* stb hands out a PNM of height 0 */
        stbi_image_free(img);
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: an empty image: %d x %d pixels", path, w, h);
    }
    if ((int64_t)w * h > IMAGE_MAX_PIXELS) { /* a format stb could not size from its header alone */
        stbi_image_free(img);
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: %d x %d pixels, more than the %d an image may have", path, w, h,
                        IMAGE_MAX_PIXELS);
    }
    if (n < 1 || n > 4) {
        stbi_image_free(img);
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: %d channels (stb gives 1 to 4)", path, n);
    }
    const size_t n_src = (size_t)w * h * channels;
    float *src = w == size && h == size ? pixels : malloc(sizeof(float) * n_src);
    if (!src) {
        stbi_image_free(img);
        return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory for %d x %d pixels", path, w, h);
    }
    pixels_to_channels(img, (size_t)w * h, n, channels, src);
    stbi_image_free(img);
    if (src == pixels) return MOM_OK;
    s = mom_image_resize(src, w, h, channels, pixels, size);
    free(src);
    if (s) return mom_fail(ctx, s, "%s: resizing %d x %d to %d x %d failed (out of memory)", path, w, h, size, size);
    /* Convex combinations of [0, 1], but their weights' sums round. */
    for (size_t i = 0; i < (size_t)size * size * channels; i++) pixels[i] = fminf(fmaxf(pixels[i], 0.0f), 1.0f);
    return MOM_OK;
}
#else
mom_status mom_image_load(mom_ctx *ctx, const char *path, int size, int channels, float *pixels)
{
    (void)path; (void)size; (void)channels; (void)pixels;
    return NO_IMAGES("mom_image_load");
}
#endif

static mom_status vq_new(mom_ctx *ctx, const char *what, int size, int patch, int channels, int codes, mom_vq **out)
{
    mom_status s = check_image_args(ctx, what, size, channels);
    if (s) return s;
    if (patch < 1 || size % patch)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: size %d is not a multiple of patch %d", what, size, patch);
    if (codes < 2 || codes > VQ_MAX_CODES)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: codes %d out of range 2..%d", what, codes, VQ_MAX_CODES);
    const int dim = patch * patch * channels;
    mom_vq *vq = malloc(sizeof *vq);
    float *book = malloc(sizeof(float) * (size_t)codes * dim);
    if (!vq || !book) {
        free(vq);
        free(book);
        return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory for %d codes of %d", what, codes, dim);
    }
    *vq = (mom_vq){size, patch, channels, codes, dim, book};
    *out = vq;
    return MOM_OK;
}

mom_status mom_vq_train(mom_ctx *ctx, const char *const *paths, size_t n_paths, int size, int patch,
                        int channels, int codes, int iters, uint64_t seed, mom_vq **out)
{
    if (!out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_vq_train: out is NULL");
    *out = NULL;
    if (!paths || n_paths == 0) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_vq_train: no images (n_paths %zu)", n_paths);
    if (iters < 0) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_vq_train: iters %d is negative", iters);
    mom_vq *vq = NULL;
    mom_status s = vq_new(ctx, "mom_vq_train", size, patch, channels, codes, &vq);
    if (s) return s;
    const int tpi = mom_vq_tokens_per_image(vq);
    const size_t n_pix = (size_t)size * size * channels, per_image = (size_t)tpi * vq->dim;
    /* X: every patch of every image, (n_paths * tpi, dim). */
    float *img = malloc(sizeof(float) * n_pix);
    float *X = n_paths <= SIZE_MAX / sizeof(float) / per_image ? malloc(sizeof(float) * per_image * n_paths) : NULL;
    if (!img || !X) s = mom_fail(ctx, MOM_ERR_NOMEM, "mom_vq_train: out of memory for %zu images of %zu pixels", n_paths, n_pix);
    for (size_t i = 0; !s && i < n_paths; i++) {
        if (!paths[i]) s = mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_vq_train: paths[%zu] is NULL", i);
        else s = mom_image_load(ctx, paths[i], size, channels, img);
        for (int t = 0; !s && t < tpi; t++) patch_get(vq, img, t, X + i * per_image + (size_t)t * vq->dim);
    }
    if (!s && mom_kmeans(X, n_paths * tpi, vq->dim, codes, iters, seed, vq->book))
        s = mom_fail(ctx, MOM_ERR_NOMEM, "mom_vq_train: k-means out of memory (%zu patches)", n_paths * tpi);
    free(img);
    free(X);
    if (s) mom_vq_destroy(&vq);
    *out = vq;
    return s;
}

mom_status mom_vq_save(mom_ctx *ctx, const mom_vq *vq, const char *path)
{
    if (!vq || !path) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_vq_save: %s is NULL", vq ? "path" : "vq");
    char sz[16], pt[16], ch[16], err[512];
    snprintf(sz, sizeof sz, "%d", vq->size);
    snprintf(pt, sizeof pt, "%d", vq->patch);
    snprintf(ch, sizeof ch, "%d", vq->channels);
    st_write_tensor t = {"codes", ST_F32, 2, {vq->codes, vq->dim}, vq->book};
    st_meta meta[4] = {{"kind", "mom_vq"}, {"size", sz}, {"patch", pt}, {"channels", ch}};
    if (st_write(path, &t, 1, meta, 4, err, sizeof err)) return mom_fail(ctx, MOM_ERR_IO, "%s", err);
    return MOM_OK;
}

/* A metadata value that must be a decimal int. */
static mom_status meta_int(mom_ctx *ctx, const st_file *f, const char *path, const char *key, int *v)
{
    const char *s = st_meta_get(f, key);
    if (!s) return mom_fail(ctx, MOM_ERR_FORMAT, "%s: no \"%s\" in __metadata__", path, key);
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (end == s || *end || errno || x < INT_MIN || x > INT_MAX)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: __metadata__ %s \"%s\" is not an integer", path, key, s);
    *v = (int)x;
    return MOM_OK;
}

mom_status mom_vq_load(mom_ctx *ctx, const char *path, mom_vq **out)
{
    if (out) *out = NULL;
    if (!path || !out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_vq_load: %s is NULL", path ? "out" : "path");
    st_file f;
    mom_status os = codebook_open(ctx, path, &f);
    if (os) return os;
    mom_status s = MOM_OK;
    const char *kind = st_meta_get(&f, "kind");
    int size = 0, patch = 0, channels = 0;
    const st_tensor_info *t = st_find(&f, "codes");
    if (!kind || strcmp(kind, "mom_vq"))
        s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: __metadata__ kind is \"%s\", not \"mom_vq\"", path, kind ? kind : "(none)");
    if (!s) s = meta_int(ctx, &f, path, "size", &size);
    if (!s) s = meta_int(ctx, &f, path, "patch", &patch);
    if (!s) s = meta_int(ctx, &f, path, "channels", &channels);
    if (!s && (size < 1 || size > VQ_MAX_SIZE || patch < 1 || size % patch || (channels != 1 && channels != 3)))
        s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: size %d patch %d channels %d (size must be a positive multiple of patch, "
                     "channels 1 or 3)", path, size, patch, channels);
    const int64_t dim = (int64_t)patch * patch * channels;
    if (!s && !t) s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: no tensor \"codes\"", path);
    if (!s && (t->dtype != ST_F32 || t->ndim != 2))
        s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: \"codes\" is %s with %d dims, not 2-dim F32", path,
                     st_dtype_name(t->dtype), t->ndim);
    if (!s && (t->shape[0] < 2 || t->shape[0] > VQ_MAX_CODES || t->shape[1] != dim))
        s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: \"codes\" shape [%lld, %lld], expected [2..%d, %lld] for patch %d channels %d",
                     path, (long long)t->shape[0], (long long)t->shape[1], VQ_MAX_CODES, (long long)dim, patch, channels);
    mom_vq *vq = NULL;
    if (!s) s = vq_new(ctx, path, size, patch, channels, (int)t->shape[0], &vq);
    if (!s) {
        memcpy(vq->book, f.data + t->begin, sizeof(float) * (size_t)vq->codes * vq->dim); /* maybe unaligned */
        for (size_t i = 0; !s && i < (size_t)vq->codes * vq->dim; i++)
            if (!isfinite(vq->book[i]))
                s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: codes[%zu][%zu] is not finite (%g)", path, i / vq->dim,
                             i % vq->dim, (double)vq->book[i]);
    }
    st_close(&f);
    if (s) mom_vq_destroy(&vq);
    *out = vq;
    return s;
}

mom_status mom_vq_encode(mom_ctx *ctx, const mom_vq *vq, const float *pixels, int32_t *codes)
{
    if (!vq || !pixels || !codes) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_vq_encode: vq, pixels or codes is NULL");
    float *v = malloc(sizeof(float) * vq->dim);
    if (!v) return mom_fail(ctx, MOM_ERR_NOMEM, "mom_vq_encode: out of memory");
    for (int t = 0; t < mom_vq_tokens_per_image(vq); t++) {
        patch_get(vq, pixels, t, v);
        codes[t] = mom_kmeans_nearest(vq->book, vq->codes, vq->dim, v);
    }
    free(v);
    return MOM_OK;
}

mom_status mom_vq_image_tokens(mom_ctx *ctx, const mom_vq *vq, const mom_vocab_layout *layout, const float *pixels,
                               int width, int height, int channels, int32_t *tokens, uint8_t *modality)
{
    if (!vq || !layout || !pixels || !tokens || !modality)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_vq_image_tokens: %s is NULL",
                        !vq ? "vq" : !layout ? "layout" : !pixels ? "pixels" : !tokens ? "tokens" : "modality");
    const int grid = vq->size / vq->patch;
    if (width != vq->size || height != vq->size || channels != vq->channels)
        return mom_fail(ctx, MOM_ERR_DATA,
                        "image of %d x %d x %d does not fit the codebook's grid: %d x %d patches of %d x %d, %d x %d "
                        "x %d pixels (resize it)",
                        width, height, channels, grid, grid, vq->patch, vq->patch, vq->size, vq->size, vq->channels);
    if (layout->n_image != vq->codes)
        return mom_fail(ctx, MOM_ERR_DATA, "the codebook has %d codes, but the vocabulary has %d image tokens", vq->codes,
                        layout->n_image);
    const int nt = mom_vq_tokens_per_image(vq);
    mom_status s = mom_vq_encode(ctx, vq, pixels, tokens + 1);
    if (s) return s;
    tokens[0] = mom_vocab_special(layout, MOM_TOK_BOI);
    modality[0] = MOM_MOD_TEXT;
    for (int i = 1; i <= nt; i++) {
        tokens[i] += mom_vocab_first(layout, MOM_MOD_IMAGE);
        modality[i] = MOM_MOD_IMAGE;
    }
    tokens[nt + 1] = mom_vocab_special(layout, MOM_TOK_EOI);
    modality[nt + 1] = MOM_MOD_TEXT;
    return MOM_OK;
}

mom_status mom_vq_decode(mom_ctx *ctx, const mom_vq *vq, const int32_t *codes, float *pixels)
{
    if (!vq || !pixels || !codes) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_vq_decode: vq, codes or pixels is NULL");
    const int tpi = mom_vq_tokens_per_image(vq);
    for (int t = 0; t < tpi; t++)
        if (codes[t] < 0 || codes[t] >= vq->codes)
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_vq_decode: codes[%d] = %d out of range 0..%d", t,
                            (int)codes[t], vq->codes - 1);
    for (int t = 0; t < tpi; t++) patch_put(vq, pixels, t, vq->book + (size_t)codes[t] * vq->dim);
    return MOM_OK;
}

#if MOM_HAVE_IMAGES
typedef struct png_buf {
    unsigned char *p;
    size_t n;
    int failed;
} png_buf;

static void png_append(void *context, void *data, int n)
{
    png_buf *b = context;
    unsigned char *p = b->failed ? NULL : realloc(b->p, b->n + (size_t)n);
    if (!p) {
        b->failed = 1;
        return;
    }
    memcpy(p + b->n, data, (size_t)n);
    b->p = p;
    b->n += (size_t)n;
}

mom_status mom_image_write_png(mom_ctx *ctx, const char *path, int size, int channels, const float *pixels)
{
    if (!path || !pixels) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_image_write_png: %s is NULL", path ? "pixels" : "path");
    mom_status s = check_image_args(ctx, path, size, channels);
    if (s) return s;
    const size_t n = (size_t)size * size * channels;
    unsigned char *u8 = malloc(n);
    png_buf b = {NULL, 0, 0};
    if (u8) {
        for (size_t i = 0; i < n; i++) /* NaN becomes 0 */
            u8[i] = (unsigned char)lrintf(pixels[i] > 0.0f ? fminf(pixels[i], 1.0f) * 255.0f : 0.0f);
        if (!stbi_write_png_to_func(png_append, &b, size, size, channels, u8, size * channels)) b.failed = 1;
        free(u8);
    }
    if (!u8 || b.failed) {
        free(b.p);
        return mom_fail(ctx, MOM_ERR_NOMEM, "%s: encoding a %d x %d PNG failed (out of memory)", path, size, size);
    }
    /* Crash-safe: PATH.tmp.<pid>, fsync, rename, fsync the folder. */
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        free(b.p);
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: path too long", path);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const char *step = "cannot create";
    if (fd >= 0) {
        step = file_write_all(fd, b.p, b.n) ? "cannot write" : fsync(fd) ? "cannot fsync" : NULL;
        if (close(fd) && !step) step = "cannot close";
        if (!step && rename(tmp, path)) step = "cannot rename";
        if (!step && file_fsync_parent_dir(path)) step = "cannot fsync the folder of";
    }
    const int e = errno;
    free(b.p);
    if (step) {
        unlink(tmp);
        return mom_fail(ctx, MOM_ERR_IO, "%s: %s %s: %s", path, step, tmp, strerror(e));
    }
    return MOM_OK;
}

#else
mom_status mom_image_write_png(mom_ctx *ctx, const char *path, int size, int channels, const float *pixels)
{
    (void)path; (void)size; (void)channels; (void)pixels;
    return NO_IMAGES("mom_image_write_png");
}
#endif

