/* The image tokenizer: loading (PNG, PGM, PPM; gray and RGB; resizing),
 * bad files and bad arguments, codebook training, save/load and its
 * validation, encode/decode against a direct nearest-code search, and
 * PNG writing. Images are made here, in a temporary folder. */
#include "ctx.h"
#include "data/image_resize.h"
#include "mom_data.h"
#include "safetensors.h"
#include "test_util.h"

#include <stb/stb_image_write.h>

#define FIXTURE_TAG "image"
#include "test_dir_fixture.h"


/* The call failed with status want and a message naming path and what. */
static void assert_error(fixture *f, mom_status got, mom_status want, const char *path, const char *what)
{
    if (got != want) fail_msg("status %d, expected %d (%s)", got, want, f->ctx.err);
    if (path) assert_contains(f->ctx.err, path);
    if (what) assert_contains(f->ctx.err, what);
}

static void write_png(const char *path, int w, int h, int comp, const uint8_t *px)
{
    assert_int_not_equal(stbi_write_png(path, w, h, comp, px, w * comp), 0);
}

/* ---- loading ------------------------------------------------------------ */

static void test_load_png(void **state)
{
    fixture *f = *state;
    uint8_t rgb[4 * 4 * 3], rgba[4 * 4 * 4];
    uint64_t seed = 1;
    for (int i = 0; i < 16; i++)
        for (int c = 0; c < 4; c++) {
            const uint8_t v = (uint8_t)(tu_next(&seed) & 255);
            rgba[i * 4 + c] = c == 3 ? (uint8_t)(i * 16) : v; /* alpha varies, 0 included */
            if (c < 3) rgb[i * 3 + c] = v;
        }
    write_png(in_dir(f, "rgb.png"), 4, 4, 3, rgb);
    float px[48];
    assert_int_equal(mom_image_load(&f->ctx, f->path, 4, 3, px), MOM_OK);
    for (int i = 0; i < 48; i++) assert_float_equal(px[i], rgb[i] / 255.0f, 1e-7);
    /* Gray: the luminance, within a step of the 8-bit rounding. */
    assert_int_equal(mom_image_load(&f->ctx, f->path, 4, 1, px), MOM_OK);
    for (int i = 0; i < 16; i++) {
        const float y = (0.299f * rgb[i * 3] + 0.587f * rgb[i * 3 + 1] + 0.114f * rgb[i * 3 + 2]) / 255.0f;
        assert_float_equal(px[i], y, 1.5f / 255.0f);
    }
    /* RGBA: alpha is dropped, the colour kept as it is. */
    write_png(in_dir(f, "rgba.png"), 4, 4, 4, rgba);
    assert_int_equal(mom_image_load(&f->ctx, f->path, 4, 3, px), MOM_OK);
    for (int i = 0; i < 16; i++)
        for (int c = 0; c < 3; c++) assert_float_equal(px[i * 3 + c], rgba[i * 4 + c] / 255.0f, 1e-7);
}

static void test_load_pnm(void **state)
{
    fixture *f = *state;
    /* Binary PGM (P5) and PPM (P6), a comment in the header. */
    const char pgm[] = "P5\n# made by hand\n3 2\n255\n\x00\x40\x80\xc0\xff\x10";
    tu_write_file(in_dir(f, "a.pgm"), pgm, sizeof pgm - 1);
    float px[3 * 2 * 3 + 1];
    /* Square and at its own size: no resampling, the values exactly. */
    const char pgm_sq[] = "P5 2 2 255\n\x00\x40\x80\xff";
    tu_write_file(in_dir(f, "sq.pgm"), pgm_sq, sizeof pgm_sq - 1);
    assert_int_equal(mom_image_load(&f->ctx, f->path, 2, 1, px), MOM_OK);
    const float want_sq[4] = {0, 0x40, 0x80, 0xff};
    for (int i = 0; i < 4; i++) assert_float_equal(px[i], want_sq[i] / 255.0f, 1e-7);
    /* Gray to RGB replicates the value. */
    assert_int_equal(mom_image_load(&f->ctx, f->path, 2, 3, px), MOM_OK);
    for (int i = 0; i < 12; i++) assert_float_equal(px[i], want_sq[i / 3] / 255.0f, 1e-7);
    /* The 3 x 2 one resized to 3 x 3: every value within the source range. */
    assert_int_equal(mom_image_load(&f->ctx, in_dir(f, "a.pgm"), 3, 1, px), MOM_OK);
    for (int i = 0; i < 9; i++) assert_true(px[i] >= 0.0f && px[i] <= 1.0f);
    const char ppm[] = "P6\n2 2\n255\n\xff\x00\x00\x00\xff\x00\x00\x00\xff\x10\x20\x30";
    tu_write_file(in_dir(f, "c.ppm"), ppm, sizeof ppm - 1);
    assert_int_equal(mom_image_load(&f->ctx, f->path, 2, 3, px), MOM_OK);
    for (int i = 0; i < 12; i++) assert_float_equal(px[i], (uint8_t)ppm[11 + i] / 255.0f, 1e-7);
}

static void test_load_resize(void **state)
{
    fixture *f = *state;
    /* A flat 5 x 3 image stays flat at any size. */
    uint8_t flat[5 * 3];
    memset(flat, 102, sizeof flat);
    write_png(in_dir(f, "flat.png"), 5, 3, 1, flat);
    float px[16 * 16 * 3 + 8];
    for (int size = 1; size <= 16; size += 5) {
        for (int i = 0; i < 16 * 16 * 3 + 8; i++) px[i] = -7.0f; /* sentinels */
        assert_int_equal(mom_image_load(&f->ctx, f->path, size, 3, px), MOM_OK);
        for (int i = 0; i < size * size * 3; i++) assert_float_equal(px[i], 0.4f, 1e-6);
        assert_true(px[size * size * 3] == -7.0f); /* nothing written past size x size */
    }
    /* 8 x 8, left half black, right half white, halved to 4 x 4: the same in
     * every row, rising from left to right, symmetric about the middle. */
    uint8_t half[64];
    for (int i = 0; i < 64; i++) half[i] = i % 8 < 4 ? 0 : 255;
    write_png(in_dir(f, "half.png"), 8, 8, 1, half);
    assert_int_equal(mom_image_load(&f->ctx, f->path, 4, 1, px), MOM_OK);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            assert_float_equal(px[y * 4 + x], px[x], 1e-6);
            assert_float_equal(px[y * 4 + x] + px[y * 4 + 3 - x], 1.0f, 1e-5);
            if (x) assert_true(px[y * 4 + x] >= px[y * 4 + x - 1]);
        }
    assert_true(px[0] < 0.1f && px[3] > 0.9f);
    /* 2 x 1 [black, white] up to 6 x 6: monotone, ends near 0 and 1. */
    const uint8_t two[2] = {0, 255};
    write_png(in_dir(f, "two.png"), 2, 1, 1, two);
    assert_int_equal(mom_image_load(&f->ctx, f->path, 6, 1, px), MOM_OK);
    for (int x = 1; x < 6; x++) assert_true(px[x] >= px[x - 1]);
    assert_true(px[0] < 0.05f && px[5] > 0.95f);
}

/* The resize itself, against weights worked out by hand: halving is the
 * tent [1 3 3 1] / 8 (edges repeated), doubling interpolates at the
 * quarter points, either pass order gives the same image, and 21 -> 16 in RGB (where Debian's stb_image_resize
 * aborted) keeps a constant image constant and every output within its
 * inputs' range. */
static void test_resize_weights(void **state)
{
    (void)state;
    float ramp[8], out[4 * 4];
    for (int j = 0; j < 8; j++) ramp[j] = (float)j;
    assert_int_equal(mom_image_resize(ramp, 8, 1, 1, out, 4), MOM_OK); /* 8 x 1 -> 4 x 4 */
    const float halved[4] = {0.625f, 2.5f, 4.5f, 6.375f};
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) assert_float_equal(out[y * 4 + x], halved[x], 1e-5);
    /* The same ramp standing up (1 x 8, the other pass order) gives the
     * transposed image. */
    assert_int_equal(mom_image_resize(ramp, 1, 8, 1, out, 4), MOM_OK);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) assert_float_equal(out[y * 4 + x], halved[y], 1e-5);
    const float two[2] = {0.0f, 1.0f};
    assert_int_equal(mom_image_resize(two, 2, 1, 1, out, 4), MOM_OK);
    const float doubled[4] = {0.0f, 0.25f, 0.75f, 1.0f};
    for (int x = 0; x < 4; x++) assert_float_equal(out[x], doubled[x], 1e-6);

    enum { W = 21, S = 16 };
    float *rgb = malloc(sizeof(float) * W * W * 3), *small = malloc(sizeof(float) * S * S * 3);
    assert_non_null(rgb);
    assert_non_null(small);
    for (int i = 0; i < W * W * 3; i++) rgb[i] = 0.3f;
    assert_int_equal(mom_image_resize(rgb, W, W, 3, small, S), MOM_OK);
    for (int i = 0; i < S * S * 3; i++) assert_float_equal(small[i], 0.3f, 1e-6);
    uint64_t s = 3;
    for (int i = 0; i < W * W * 3; i++) rgb[i] = 0.2f + 0.5f * tu_uniform(&s);
    assert_int_equal(mom_image_resize(rgb, W, W, 3, small, S), MOM_OK);
    for (int i = 0; i < S * S * 3; i++) assert_true(small[i] >= 0.2f - 1e-6f && small[i] <= 0.7f + 1e-6f);
    assert_int_equal(mom_image_resize(rgb, 0, W, 3, small, S), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_image_resize(rgb, W, W, 3, small, 0), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_image_resize(NULL, W, W, 3, small, S), MOM_ERR_INVALID_ARG);
    free(rgb);
    free(small);
}

/* ---- bad files and bad arguments ---------------------------------------- */

static void test_bad_image_files(void **state)
{
    fixture *f = *state;
    float px[8 * 8 * 3];
    uint8_t img[16 * 16];
    for (int i = 0; i < 256; i++) img[i] = (uint8_t)(i * 7);
    write_png(in_dir(f, "good.png"), 16, 16, 1, img);
    size_t n;
    uint8_t *png = tu_read_file(f->path, &n);
    assert_int_equal(mom_image_load(&f->ctx, f->path, 8, 1, px), MOM_OK);
    /* Every cut of the PNG short of its end is refused (the last 12 bytes
     * are the IEND chunk, which stb does not need). */
    for (size_t cut = 0; cut + 12 < n; cut += 1 + cut / 4) {
        tu_write_file(in_dir(f, "cut.png"), png, cut);
        assert_error(f, mom_image_load(&f->ctx, f->path, 8, 1, px), MOM_ERR_FORMAT, f->path, "not an image");
    }
    free(png);
    tu_write_file(in_dir(f, "empty.png"), "", 0);
    assert_error(f, mom_image_load(&f->ctx, f->path, 8, 3, px), MOM_ERR_FORMAT, f->path, "not an image (stb: ");
    const char text[] = "this is not an image\n";
    tu_write_file(in_dir(f, "notes.txt"), text, sizeof text - 1);
    assert_error(f, mom_image_load(&f->ctx, f->path, 8, 1, px), MOM_ERR_FORMAT, f->path, "not an image");
    /* stb reads binary PNM only: an ASCII P2 is refused, not misread. */
    const char p2[] = "P2\n2 2\n255\n0 1\n2 3\n";
    tu_write_file(in_dir(f, "ascii.pgm"), p2, sizeof p2 - 1);
    assert_error(f, mom_image_load(&f->ctx, f->path, 8, 1, px), MOM_ERR_FORMAT, f->path, "not an image");
    assert_error(f, mom_image_load(&f->ctx, in_dir(f, "missing.png"), 8, 1, px), MOM_ERR_IO, f->path, "cannot open");
    assert_error(f, mom_image_load(&f->ctx, f->dir, 8, 1, px), MOM_ERR_FORMAT, f->dir, "not an image");
    /* Training reports the bad file among good ones. */
    char good[256];
    snprintf(good, sizeof good, "%s/good.png", f->dir);
    const char *paths[2] = {good, in_dir(f, "notes.txt")};
    mom_vq *vq = (mom_vq *)paths; /* must be reset to NULL */
    assert_error(f, mom_vq_train(&f->ctx, paths, 2, 8, 4, 1, 2, 5, 1, &vq), MOM_ERR_FORMAT, "notes.txt", "not an image");
    assert_null(vq);
}

static void test_bad_args(void **state)
{
    fixture *f = *state;
    float px[64];
    const uint8_t img[64] = {0};
    write_png(in_dir(f, "a.png"), 8, 8, 1, img);
    char a[256];
    snprintf(a, sizeof a, "%s", f->path);
    const char *paths[1] = {a};
    assert_error(f, mom_image_load(&f->ctx, NULL, 8, 1, px), MOM_ERR_INVALID_ARG, NULL, "path is NULL");
    assert_error(f, mom_image_load(&f->ctx, a, 8, 1, NULL), MOM_ERR_INVALID_ARG, NULL, "pixels is NULL");
    assert_error(f, mom_image_load(&f->ctx, a, 0, 1, px), MOM_ERR_INVALID_ARG, a, "size 0");
    assert_error(f, mom_image_load(&f->ctx, a, 8, 2, px), MOM_ERR_INVALID_ARG, a, "channels 2");
    mom_vq *vq = NULL;
    assert_error(f, mom_vq_train(&f->ctx, paths, 1, 8, 3, 1, 4, 5, 1, &vq), MOM_ERR_INVALID_ARG, NULL,
                 "size 8 is not a multiple of patch 3");
    assert_error(f, mom_vq_train(&f->ctx, paths, 1, 8, 0, 1, 4, 5, 1, &vq), MOM_ERR_INVALID_ARG, NULL, "patch 0");
    assert_error(f, mom_vq_train(&f->ctx, paths, 1, 8, 4, 4, 4, 5, 1, &vq), MOM_ERR_INVALID_ARG, NULL, "channels 4");
    assert_error(f, mom_vq_train(&f->ctx, paths, 1, 8, 4, 1, 1, 5, 1, &vq), MOM_ERR_INVALID_ARG, NULL, "codes 1");
    assert_error(f, mom_vq_train(&f->ctx, paths, 1, 8, 4, 1, 65537, 5, 1, &vq), MOM_ERR_INVALID_ARG, NULL, "codes 65537");
    assert_error(f, mom_vq_train(&f->ctx, paths, 0, 8, 4, 1, 4, 5, 1, &vq), MOM_ERR_INVALID_ARG, NULL, "n_paths 0");
    assert_error(f, mom_vq_train(&f->ctx, paths, 1, 8, 4, 1, 4, 5, 1, NULL), MOM_ERR_INVALID_ARG, NULL, "out is NULL");
    assert_null(vq);
    assert_int_equal(mom_vq_train(&f->ctx, paths, 1, 8, 4, 1, 2, 5, 1, &vq), MOM_OK);
    int32_t codes[4] = {0, 1, 2, 0};
    assert_error(f, mom_vq_decode(&f->ctx, vq, codes, px), MOM_ERR_INVALID_ARG, NULL, "codes[2] = 2 out of range 0..1");
    codes[2] = -1;
    assert_error(f, mom_vq_decode(&f->ctx, vq, codes, px), MOM_ERR_INVALID_ARG, NULL, "codes[2] = -1");
    assert_error(f, mom_vq_decode(&f->ctx, vq, NULL, px), MOM_ERR_INVALID_ARG, NULL, "NULL");
    assert_error(f, mom_vq_encode(&f->ctx, vq, NULL, codes), MOM_ERR_INVALID_ARG, NULL, "NULL");
    assert_error(f, mom_vq_encode(&f->ctx, NULL, px, codes), MOM_ERR_INVALID_ARG, NULL, "NULL");
    assert_error(f, mom_vq_save(&f->ctx, vq, NULL), MOM_ERR_INVALID_ARG, NULL, "path is NULL");
    mom_vq *loaded = vq; /* a failed load NULLs its output: not vq, which holds the trained codebook */
    assert_error(f, mom_vq_load(&f->ctx, NULL, &loaded), MOM_ERR_INVALID_ARG, NULL, "path is NULL");
    assert_null(loaded);
    assert_error(f, mom_image_write_png(&f->ctx, in_dir(f, "o.png"), 8, 2, px), MOM_ERR_INVALID_ARG, f->path, "channels 2");
    assert_error(f, mom_image_write_png(&f->ctx, f->path, -1, 1, px), MOM_ERR_INVALID_ARG, f->path, "size -1");
    mom_vq_destroy(&vq);
    assert_null(vq);
    mom_vq_destroy(&vq); /* twice is harmless */
    mom_vq_destroy(NULL);
    assert_int_equal(mom_vq_codes(NULL), 0);
}

/* ---- training, encoding, decoding --------------------------------------- */

/* 4 x 4 strokes: blank, vertical, horizontal, diagonal, a grey dot. */
static float stroke(int kind, int y, int x)
{
    switch (kind) {
    case 1: return x == 1 || x == 2 ? 1.0f : 0.0f;
    case 2: return y == 1 ? 1.0f : 0.0f;
    case 3: return x == y ? 1.0f : 0.0f;
    case 4: return x == 2 && y == 2 ? 128 / 255.0f : 0.0f;
    default: return 0.0f;
    }
}

/* Image k of 8 x 8, four strokes in its quadrants: digit-like shapes built
 * from a 5-patch alphabet. */
static void digit(int k, float *px)
{
    static const int quads[6][4] = {{1, 1, 2, 0}, {0, 1, 0, 1}, {2, 2, 1, 1}, {3, 0, 0, 3}, {1, 3, 2, 0}, {4, 0, 3, 1}};
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) px[y * 8 + x] = stroke(quads[k][(y / 4) * 2 + x / 4], y % 4, x % 4);
}

/* Writes the 6 digits as PNGs; their paths into paths (each 256 chars). */
static void write_digits(fixture *f, char paths[6][256], float px[6][64])
{
    for (int k = 0; k < 6; k++) {
        digit(k, px[k]);
        uint8_t u8[64];
        for (int i = 0; i < 64; i++) u8[i] = (uint8_t)lrintf(px[k][i] * 255.0f);
        snprintf(paths[k], 256, "%s/digit%d.png", f->dir, k);
        write_png(paths[k], 8, 8, 1, u8);
    }
}

/* The codebook as decoded patches: code c into book + c*16 (16 = 4*4*1). */
static void read_book(fixture *f, const mom_vq *vq, float *book)
{
    float px[64];
    for (int c = 0; c < mom_vq_codes(vq); c++) {
        const int32_t codes[4] = {c, c, c, c};
        assert_int_equal(mom_vq_decode(&f->ctx, vq, codes, px), MOM_OK);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) book[c * 16 + i * 4 + j] = px[i * 8 + j];
        /* The same code pasted in all four patches. */
        for (int t = 1; t < 4; t++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) assert_true(px[((t / 2) * 4 + i) * 8 + (t % 2) * 4 + j] == book[c * 16 + i * 4 + j]);
    }
}

static float patch_err(const float *img, int t, const float *code)
{
    float e = 0.0f;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            const float d = img[((t / 2) * 4 + i) * 8 + (t % 2) * 4 + j] - code[i * 4 + j];
            e += d * d;
        }
    return e;
}

/* Encode then decode every digit: each patch gets a nearest code (its error
 * is the least over the book, found here directly), the decoded image is
 * those codes; returns the largest squared error of a pixel. */
static float check_round_trip(fixture *f, const mom_vq *vq, float px[6][64])
{
    float book[16 * 16], back[64], worst = 0.0f;
    assert_true(mom_vq_codes(vq) <= 16);
    read_book(f, vq, book);
    for (int k = 0; k < 6; k++) {
        int32_t codes[4];
        assert_int_equal(mom_vq_encode(&f->ctx, vq, px[k], codes), MOM_OK);
        assert_int_equal(mom_vq_decode(&f->ctx, vq, codes, back), MOM_OK);
        for (int t = 0; t < 4; t++) {
            float best = INFINITY;
            for (int c = 0; c < mom_vq_codes(vq); c++) best = fminf(best, patch_err(px[k], t, book + c * 16));
            assert_true(codes[t] >= 0 && codes[t] < mom_vq_codes(vq));
            assert_true(patch_err(px[k], t, book + codes[t] * 16) <= best + 1e-6f);
            float got[16]; /* patch t of the decoded image */
            for (int i = 0; i < 16; i++) got[i] = back[((t / 2) * 4 + i / 4) * 8 + (t % 2) * 4 + i % 4];
            assert_memory_equal(got, book + codes[t] * 16, sizeof got);
        }
        for (int i = 0; i < 64; i++) worst = fmaxf(worst, (back[i] - px[k][i]) * (back[i] - px[k][i]));
    }
    return worst;
}

static void test_train_encode_decode(void **state)
{
    fixture *f = *state;
    char paths[6][256];
    float px[6][64];
    write_digits(f, paths, px);
    const char *p[6] = {paths[0], paths[1], paths[2], paths[3], paths[4], paths[5]};
    /* Loading gives back the floats the PNGs were made from. */
    float img[64];
    assert_int_equal(mom_image_load(&f->ctx, p[5], 8, 1, img), MOM_OK);
    for (int i = 0; i < 64; i++) assert_float_equal(img[i], px[5][i], 1e-7);
    /* 5 distinct patches: with 5 or more codes the round trip is exact. */
    for (int codes = 5; codes <= 9; codes += 4) {
        mom_vq *vq = NULL;
        assert_int_equal(mom_vq_train(&f->ctx, p, 6, 8, 4, 1, codes, 20, 42, &vq), MOM_OK);
        assert_int_equal(mom_vq_codes(vq), codes);
        assert_int_equal(mom_vq_tokens_per_image(vq), 4);
        assert_int_equal(mom_vq_image_size(vq), 8);
        assert_int_equal(mom_vq_channels(vq), 1);
        assert_true(check_round_trip(f, vq, px) <= 1e-12f);
        mom_vq_destroy(&vq);
    }
    /* 3 codes for 5 patches: lossy, but never worse than the nearest code. */
    mom_vq *vq = NULL;
    assert_int_equal(mom_vq_train(&f->ctx, p, 6, 8, 4, 1, 3, 20, 7, &vq), MOM_OK);
    assert_true(check_round_trip(f, vq, px) > 1e-3f);
    mom_vq_destroy(&vq);
    /* Deterministic for a seed. */
    mom_vq *a = NULL, *b = NULL;
    float ba[16 * 16], bb[16 * 16];
    assert_int_equal(mom_vq_train(&f->ctx, p, 6, 8, 4, 1, 4, 10, 3, &a), MOM_OK);
    assert_int_equal(mom_vq_train(&f->ctx, p, 6, 8, 4, 1, 4, 10, 3, &b), MOM_OK);
    read_book(f, a, ba);
    read_book(f, b, bb);
    assert_memory_equal(ba, bb, 4 * 16 * sizeof(float));
    mom_vq_destroy(&a);
    mom_vq_destroy(&b);
}

static void test_rgb_patches(void **state)
{
    fixture *f = *state;
    /* 4 x 4 RGB, patch 2: the four quadrants differ in colour only, so a
     * patch vector must carry the channels interleaved to tell them apart. */
    uint8_t u8[4 * 4 * 3];
    const uint8_t col[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 0}};
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            for (int c = 0; c < 3; c++) u8[(y * 4 + x) * 3 + c] = col[(y / 2) * 2 + x / 2][c];
    write_png(in_dir(f, "rgb.png"), 4, 4, 3, u8);
    const char *p[1] = {f->path};
    mom_vq *vq = NULL;
    assert_int_equal(mom_vq_train(&f->ctx, p, 1, 4, 2, 3, 4, 10, 1, &vq), MOM_OK);
    float px[48], back[48];
    assert_int_equal(mom_image_load(&f->ctx, f->path, 4, 3, px), MOM_OK);
    int32_t codes[4];
    assert_int_equal(mom_vq_encode(&f->ctx, vq, px, codes), MOM_OK);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < i; j++) assert_int_not_equal(codes[i], codes[j]);
    assert_int_equal(mom_vq_decode(&f->ctx, vq, codes, back), MOM_OK);
    for (int i = 0; i < 48; i++) assert_float_equal(back[i], px[i], 1e-6);
    /* Swapping two tokens swaps the two quadrants. */
    const int32_t sw[4] = {codes[1], codes[0], codes[2], codes[3]};
    assert_int_equal(mom_vq_decode(&f->ctx, vq, sw, back), MOM_OK);
    assert_float_equal(back[0], 0.0f, 1e-6);
    assert_float_equal(back[1], 1.0f, 1e-6);
    assert_float_equal(back[(0 * 4 + 2) * 3 + 0], 1.0f, 1e-6);

    /* As a prompt segment: BOI, the codes past the special and text
     * tokens, EOI; an image off the grid, or a vocabulary of another
     * size, is refused with both named. */
    const mom_vocab_layout lay = {.n_special = MOM_N_SPECIAL, .n_text = 256, .n_image = 4, .n_speech = 0}, other = {.n_special = MOM_N_SPECIAL, .n_text = 256, .n_image = 8, .n_speech = 0};
    int32_t tok[6];
    uint8_t mod[6];
    assert_int_equal(mom_vq_image_tokens(&f->ctx, vq, &lay, px, 4, 4, 3, tok, mod), MOM_OK);
    assert_int_equal(tok[0], MOM_TOK_BOI);
    assert_int_equal(tok[5], MOM_TOK_EOI);
    assert_int_equal(mod[0], MOM_MOD_TEXT);
    assert_int_equal(mod[5], MOM_MOD_TEXT);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(tok[1 + i], MOM_N_SPECIAL + 256 + codes[i]);
        assert_int_equal(mod[1 + i], MOM_MOD_IMAGE);
    }
    assert_error(f, mom_vq_image_tokens(&f->ctx, vq, &lay, px, 5, 4, 3, tok, mod), MOM_ERR_DATA, NULL,
                 "image of 5 x 4 x 3 does not fit the codebook's grid: 2 x 2 patches of 2 x 2");
    assert_error(f, mom_vq_image_tokens(&f->ctx, vq, &lay, px, 4, 4, 1, tok, mod), MOM_ERR_DATA, NULL,
                 "4 x 4 x 1 does not fit");
    assert_error(f, mom_vq_image_tokens(&f->ctx, vq, &other, px, 4, 4, 3, tok, mod), MOM_ERR_DATA, NULL,
                 "the codebook has 4 codes, but the vocabulary has 8 image tokens");
    mom_vq_destroy(&vq);
}

/* ---- continuous patches (the Transfusion setting) ----------------------- */

/* The patches are the codebook's patches, scaled to [-1, 1]; from_patches
 * undoes it, clamped. */
static void test_image_to_patches(void **state)
{
    fixture *f = *state;
    char paths[6][256];
    float px[6][64];
    write_digits(f, paths, px);
    const char *p[6] = {paths[0], paths[1], paths[2], paths[3], paths[4], paths[5]};
    mom_vq *vq = NULL; /* 5 distinct 4 x 4 patches, 5 codes: exact */
    assert_int_equal(mom_vq_train(&f->ctx, p, 6, 8, 4, 1, 5, 20, 42, &vq), MOM_OK);
    float book[16 * 16];
    read_book(f, vq, book);
    const mom_patch_geometry g = {4, 8, 1};
    assert_int_equal(mom_patch_dim(&g), 16);
    assert_int_equal(mom_patches_per_image(&g), 4);
    for (int k = 0; k < 6; k++) {
        float patches[4 * 16], back[64];
        int32_t codes[4];
        assert_int_equal(mom_image_to_patches(&f->ctx, &g, px[k], patches), MOM_OK);
        assert_int_equal(mom_vq_encode(&f->ctx, vq, px[k], codes), MOM_OK);
        for (int t = 0; t < 4; t++)
            for (int i = 0; i < 16; i++) assert_float_equal(patches[t * 16 + i], 2.0f * book[codes[t] * 16 + i] - 1.0f, 1e-6);
        assert_int_equal(mom_image_from_patches(&f->ctx, &g, patches, back), MOM_OK);
        for (int i = 0; i < 64; i++) assert_float_equal(back[i], px[k][i], 1e-7);
    }
    mom_vq_destroy(&vq);
    /* RGB: channels interleaved, the rows of a patch one after another. */
    const mom_patch_geometry rgb = {2, 6, 3};
    float img[6 * 6 * 3], pt[9 * 12], back[6 * 6 * 3];
    uint64_t seed = 5;
    for (int i = 0; i < 6 * 6 * 3; i++) img[i] = tu_uniform(&seed);
    assert_int_equal(mom_image_to_patches(&f->ctx, &rgb, img, pt), MOM_OK);
    for (int t = 0; t < 9; t++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 2; x++)
                for (int c = 0; c < 3; c++) {
                    const float v = img[(((t / 3) * 2 + y) * 6 + (t % 3) * 2 + x) * 3 + c];
                    assert_true(pt[t * 12 + (y * 2 + x) * 3 + c] == 2.0f * v - 1.0f);
                }
    /* Back: clamped to [0, 1], NaN to 0. */
    pt[0] = 1.5f;
    pt[1] = -3.0f;
    pt[2] = NAN;
    assert_int_equal(mom_image_from_patches(&f->ctx, &rgb, pt, back), MOM_OK);
    assert_true(back[0] == 1.0f && back[1] == 0.0f && back[2] == 0.0f);
    for (int i = 3; i < 6 * 6 * 3; i++) assert_float_equal(back[i], img[i], 1e-7);
    const mom_patch_geometry odd = {4, 6, 1}, none = {0, 0, 0};
    assert_error(f, mom_image_to_patches(&f->ctx, &odd, img, pt), MOM_ERR_INVALID_ARG, NULL, "patch 4, image 6");
    assert_error(f, mom_image_from_patches(&f->ctx, &none, pt, back), MOM_ERR_INVALID_ARG, NULL, "patch geometry");
    assert_error(f, mom_image_to_patches(&f->ctx, NULL, img, pt), MOM_ERR_INVALID_ARG, NULL, "patch geometry");
    assert_error(f, mom_image_to_patches(&f->ctx, &rgb, NULL, pt), MOM_ERR_INVALID_ARG, NULL, "NULL");
    assert_error(f, mom_image_from_patches(&f->ctx, &rgb, pt, NULL), MOM_ERR_INVALID_ARG, NULL, "NULL");
}

/* A manifest with --patch: every image becomes BOI, its patch positions,
 * EOI, and the file holds the pixels scaled to [-1, 1]. */
static void test_manifest_patches(void **state)
{
    fixture *f = *state;
    char paths[6][256], manifest[256], out[256];
    float px[6][64];
    write_digits(f, paths, px);
    snprintf(manifest, sizeof manifest, "%s/docs.jsonl", f->dir);
    snprintf(out, sizeof out, "%s/p.bin", f->dir);
    FILE *fp = fopen(manifest, "w");
    assert_non_null(fp);
    fprintf(fp, "{\"segments\": [{\"text\": \"ab\"}, {\"image\": \"digit3.png\"}]}\n"
                "{\"segments\": [{\"image\": \"digit5.png\"}, {\"text\": \"c\"}, {\"image\": \"digit0.png\"}]}\n");
    assert_int_equal(fclose(fp), 0);
    const mom_patch_geometry g = {2, 8, 1};
    if (mom_dataset_import_manifest(&f->ctx, manifest, out, NULL, NULL, &g)) fail_msg("%s", f->ctx.err);
    mom_dataset *d = NULL;
    if (mom_dataset_open(&f->ctx, out, &d)) fail_msg("%s", f->ctx.err);
    mom_vocab_layout lay;
    assert_int_equal(mom_dataset_vocab_layout(d, &lay), MOM_OK);
    const mom_vocab_layout want_lay = {.n_special = MOM_N_SPECIAL, .n_text = 256, .n_image = 0, .n_speech = 0};
    assert_memory_equal(&lay, &want_lay, sizeof lay);
    assert_int_equal(mom_dataset_vocab_size(d), MOM_N_SPECIAL + 256);
    assert_int_equal(mom_dataset_n_modalities(d), 2);
    mom_patch_geometry got;
    assert_int_equal(mom_dataset_patch_geometry(d, &got), MOM_OK);
    assert_memory_equal(&got, &g, sizeof got);
    assert_int_equal(mom_dataset_n_patches(d), 3 * 16);
    /* BOS a b BOI 16 x PAD EOI EOS | BOS BOI 16 EOI c BOI 16 EOI EOS */
    const int64_t n = mom_dataset_n_tokens(d);
    assert_int_equal(n, 22 + 39);
    const int32_t *tok = mom_dataset_tokens(d);
    const uint8_t *mod = mom_dataset_modalities(d);
    const int64_t boi[3] = {3, 23, 42};
    const int img_of[3] = {3, 5, 0};
    assert_int_equal(tok[0], MOM_TOK_BOS);
    assert_int_equal(tok[1], MOM_N_SPECIAL + 'a');
    assert_int_equal(tok[41], MOM_N_SPECIAL + 'c');
    assert_int_equal(tok[n - 1], MOM_TOK_EOS);
    float *rows = malloc(sizeof(float) * (size_t)(n - 1) * 4);
    assert_non_null(rows);
    int64_t zero = 0;
    assert_int_equal(mom_dataset_fill_patches(d, 1, (int)(n - 1), &zero, rows), MOM_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tok[boi[i]], MOM_TOK_BOI);
        assert_int_equal(mod[boi[i]], MOM_MOD_TEXT);
        assert_int_equal(tok[boi[i] + 17], MOM_TOK_EOI);
        assert_int_equal(mod[boi[i] + 17], MOM_MOD_TEXT);
        for (int t = 0; t < 16; t++) {
            assert_int_equal(tok[boi[i] + 1 + t], MOM_TOK_PAD);
            assert_int_equal(mod[boi[i] + 1 + t], MOM_MOD_IMAGE);
            /* Patch t of the 4 x 4 grid: the PNG's pixels, scaled. */
            for (int k = 0; k < 4; k++) {
                const float v = rows[(boi[i] + 1 + t) * 4 + k];
                const int y = (t / 4) * 2 + k / 2, x = (t % 4) * 2 + k % 2;
                assert_true(v >= -1.0f && v <= 1.0f);
                assert_float_equal(v, 2.0f * lrintf(px[img_of[i]][y * 8 + x] * 255.0f) / 255.0f - 1.0f, 1e-6);
            }
        }
    }
    mom_dataset_destroy(&d);
    free(rows);

    /* RGB, resized 8 -> 4: the patches of what mom_image_load gives. */
    const mom_patch_geometry g3 = {2, 4, 3};
    if (mom_dataset_import_manifest(&f->ctx, manifest, out, NULL, NULL, &g3)) fail_msg("%s", f->ctx.err);
    if (mom_dataset_open(&f->ctx, out, &d)) fail_msg("%s", f->ctx.err);
    assert_int_equal(mom_dataset_n_patches(d), 3 * 4);
    float img[4 * 4 * 3], want[4 * 12], have[6 * 12];
    assert_int_equal(mom_image_load(&f->ctx, paths[5], 4, 3, img), MOM_OK);
    assert_int_equal(mom_image_to_patches(&f->ctx, &g3, img, want), MOM_OK);
    const int64_t start = 11; /* BOS a b BOI 4 x PAD EOI EOS | BOS BOI: the second image */
    assert_int_equal(mom_dataset_tokens(d)[start], MOM_TOK_BOI);
    assert_int_equal(mom_dataset_fill_patches(d, 1, 6, &start, have), MOM_OK);
    assert_memory_equal(have + 12, want, sizeof want);
    for (int k = 0; k < 12; k++) assert_true(have[k] == 0.0f && have[5 * 12 + k] == 0.0f);
    mom_dataset_destroy(&d);
}

static void test_manifest_patches_bad(void **state)
{
    fixture *f = *state;
    char paths[6][256], manifest[256], out[256];
    float px[6][64];
    write_digits(f, paths, px);
    snprintf(manifest, sizeof manifest, "%s/docs.jsonl", f->dir);
    snprintf(out, sizeof out, "%s/p.bin", f->dir);
    tu_write_file(manifest, "{\"segments\": [{\"image\": \"digit1.png\"}]}\n{\"segments\": [{\"image\": \"nope.png\"}]}\n",
                  strlen("{\"segments\": [{\"image\": \"digit1.png\"}]}\n{\"segments\": [{\"image\": \"nope.png\"}]}\n"));
    const char *p[1] = {paths[0]};
    mom_vq *vq = NULL;
    assert_int_equal(mom_vq_train(&f->ctx, p, 1, 8, 2, 1, 4, 5, 1, &vq), MOM_OK);
    const mom_patch_geometry g = {2, 8, 1}, odd = {3, 8, 1}, two = {2, 8, 2};
    assert_error(f, mom_dataset_import_manifest(&f->ctx, manifest, out, vq, NULL, &g), MOM_ERR_INVALID_ARG, manifest,
                 "images as codes (a codebook, --vq) or as patches (--patch 2), not both");
    assert_error(f, mom_dataset_import_manifest(&f->ctx, manifest, out, NULL, NULL, &odd), MOM_ERR_INVALID_ARG, manifest,
                 "patch 3, size 8, channels 1");
    assert_error(f, mom_dataset_import_manifest(&f->ctx, manifest, out, NULL, NULL, &two), MOM_ERR_INVALID_ARG, manifest,
                 "channels 2");
    assert_error(f, mom_dataset_import_manifest(&f->ctx, manifest, out, NULL, NULL, &g), MOM_ERR_IO, "nope.png",
                 "cannot open");
    assert_error(f, mom_dataset_import_manifest(&f->ctx, manifest, out, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, manifest,
                 "needs an image codebook (--vq) or a patch size (--patch, --size)");
    assert_int_equal(access(out, F_OK), -1); /* nothing written */
    assert_int_equal(tu_count_entries(f->dir, ".tmp."), 7); /* the digits and the manifest */
    mom_vq_destroy(&vq);
}

/* ---- codebook files ----------------------------------------------------- */

static void test_save_load(void **state)
{
    fixture *f = *state;
    char paths[6][256];
    float px[6][64];
    write_digits(f, paths, px);
    const char *p[6] = {paths[0], paths[1], paths[2], paths[3], paths[4], paths[5]};
    mom_vq *vq = NULL, *back = NULL;
    assert_int_equal(mom_vq_train(&f->ctx, p, 6, 8, 4, 1, 3, 20, 5, &vq), MOM_OK);
    assert_int_equal(mom_vq_save(&f->ctx, vq, in_dir(f, "book.safetensors")), MOM_OK);
    assert_false(tu_has_tmp_file(f->dir, 0));
    assert_int_equal(mom_vq_load(&f->ctx, f->path, &back), MOM_OK);
    assert_int_equal(mom_vq_codes(back), 3);
    assert_int_equal(mom_vq_image_size(back), 8);
    assert_int_equal(mom_vq_channels(back), 1);
    assert_int_equal(mom_vq_tokens_per_image(back), 4);
    float b1[16 * 16], b2[16 * 16];
    read_book(f, vq, b1);
    read_book(f, back, b2);
    assert_memory_equal(b1, b2, 3 * 16 * sizeof(float));
    /* The file as safetensors: "codes" F32 [3, 16] and the metadata. */
    st_file sf;
    char err[256];
    assert_int_equal(st_open(f->path, &sf, err, sizeof err), 0);
    const st_tensor_info *t = st_find(&sf, "codes");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 3);
    assert_int_equal(t->shape[1], 16);
    assert_memory_equal(sf.data + t->begin, b1, 3 * 16 * sizeof(float));
    assert_string_equal(st_meta_get(&sf, "kind"), "mom_vq");
    assert_string_equal(st_meta_get(&sf, "size"), "8");
    assert_string_equal(st_meta_get(&sf, "patch"), "4");
    assert_string_equal(st_meta_get(&sf, "channels"), "1");
    st_close(&sf);
    /* Saving into a missing folder fails, names the path, leaves nothing. */
    assert_error(f, mom_vq_save(&f->ctx, vq, in_dir(f, "no/book.safetensors")), MOM_ERR_IO, "no/book.safetensors", NULL);
    mom_vq_destroy(&vq);
    mom_vq_destroy(&back);
}

/* Writes a codebook by hand: rows x cols F32 (dtype I32 when i32) with
 * these metadata values (NULL: left out). */
static void write_book(const char *path, int64_t rows, int64_t cols, int i32, float fill, const char *kind,
                       const char *size, const char *patch, const char *channels)
{
    float *data = malloc(sizeof(float) * (size_t)(rows * cols + 1));
    assert_non_null(data);
    for (int64_t i = 0; i < rows * cols; i++) data[i] = i == rows * cols - 1 ? fill : 0.5f;
    st_write_tensor t = {"codes", i32 ? ST_I32 : ST_F32, 2, {rows, cols}, data};
    st_meta meta[4];
    size_t n = 0;
    const char *keys[4] = {"kind", "size", "patch", "channels"}, *vals[4] = {kind, size, patch, channels};
    for (int i = 0; i < 4; i++)
        if (vals[i]) meta[n++] = (st_meta){(char *)keys[i], (char *)vals[i]};
    char err[256];
    if (st_write(path, &t, 1, meta, n, err, sizeof err)) fail_msg("%s", err);
    free(data);
}

static void test_corrupt_codebook(void **state)
{
    fixture *f = *state;
    mom_vq *vq = NULL;
    const char *p = in_dir(f, "book.safetensors");
    write_book(p, 4, 16, 0, 0.25f, "mom_vq", "8", "4", "1");
    assert_int_equal(mom_vq_load(&f->ctx, p, &vq), MOM_OK);
    mom_vq_destroy(&vq);
    write_book(p, 4, 48, 0, 0.25f, "mom_vq", "8", "4", "3");
    assert_int_equal(mom_vq_load(&f->ctx, p, &vq), MOM_OK);
    assert_int_equal(mom_vq_channels(vq), 3);
    mom_vq_destroy(&vq);
    static const struct {
        int64_t rows, cols;
        int i32;
        float fill;
        const char *kind, *size, *patch, *channels, *what;
    } bad[] = {
        {4, 16, 0, 0.25f, NULL, "8", "4", "1", "kind is \"(none)\""},
        {4, 16, 0, 0.25f, "mom_units", "8", "4", "1", "kind is \"mom_units\""},
        {4, 16, 0, 0.25f, "mom_vq", NULL, "4", "1", "no \"size\""},
        {4, 16, 0, 0.25f, "mom_vq", "8x", "4", "1", "size \"8x\" is not an integer"},
        {4, 16, 0, 0.25f, "mom_vq", "", "4", "1", "size \"\" is not an integer"},
        {4, 16, 0, 0.25f, "mom_vq", "99999999999", "4", "1", "not an integer"},
        {4, 16, 0, 0.25f, "mom_vq", "8", "3", "1", "size 8 patch 3"},
        {4, 16, 0, 0.25f, "mom_vq", "0", "4", "1", "size 0 patch 4"},
        {4, 16, 0, 0.25f, "mom_vq", "8", "0", "1", "patch 0"},
        {4, 16, 0, 0.25f, "mom_vq", "8", "4", "2", "channels 2"},
        {4, 48, 0, 0.25f, "mom_vq", "8", "4", "1", "shape [4, 48], expected [2..65536, 16]"},
        {4, 16, 0, 0.25f, "mom_vq", "8", "4", "3", "shape [4, 16], expected [2..65536, 48]"},
        {1, 16, 0, 0.25f, "mom_vq", "8", "4", "1", "shape [1, 16]"},
        {65537, 1, 0, 0.25f, "mom_vq", "1", "1", "1", "shape [65537, 1]"},
        {4, 16, 1, 0.25f, "mom_vq", "8", "4", "1", "I32"},
        {4, 16, 0, NAN, "mom_vq", "8", "4", "1", "codes[3][15] is not finite"},
        {4, 16, 0, -INFINITY, "mom_vq", "8", "4", "1", "codes[3][15] is not finite (-inf)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_book(p, bad[i].rows, bad[i].cols, bad[i].i32, bad[i].fill, bad[i].kind, bad[i].size, bad[i].patch,
                   bad[i].channels);
        vq = (mom_vq *)&f->ctx; /* must be reset to NULL */
        assert_error(f, mom_vq_load(&f->ctx, p, &vq), MOM_ERR_FORMAT, p, bad[i].what);
        assert_null(vq);
    }
    /* No "codes" tensor. */
    const float one[2] = {1, 2};
    st_write_tensor t = {"other", ST_F32, 1, {2}, one};
    st_meta meta[4] = {{"kind", "mom_vq"}, {"size", "8"}, {"patch", "4"}, {"channels", "1"}};
    char err[256];
    assert_int_equal(st_write(p, &t, 1, meta, 4, err, sizeof err), 0);
    assert_error(f, mom_vq_load(&f->ctx, p, &vq), MOM_ERR_FORMAT, p, "no tensor \"codes\"");
    /* Truncated, not safetensors at all, missing. */
    write_book(p, 4, 16, 0, 0.25f, "mom_vq", "8", "4", "1");
    size_t n;
    uint8_t *buf = tu_read_file(p, &n);
    tu_write_file(p, buf, n - 5);
    free(buf);
    assert_error(f, mom_vq_load(&f->ctx, p, &vq), MOM_ERR_FORMAT, p, NULL);
    tu_write_file(p, "hello", 5);
    assert_error(f, mom_vq_load(&f->ctx, p, &vq), MOM_ERR_FORMAT, p, NULL);
    assert_error(f, mom_vq_load(&f->ctx, in_dir(f, "missing.safetensors"), &vq), MOM_ERR_IO, f->path, "cannot open");
    assert_null(vq);
}

/* ---- PNG writing -------------------------------------------------------- */

static void test_write_png_round_trip(void **state)
{
    fixture *f = *state;
    uint64_t seed = 9;
    for (int channels = 1; channels <= 3; channels += 2) {
        const int size = 13, n = size * size * channels;
        float *px = malloc(sizeof(float) * n), *back = malloc(sizeof(float) * n);
        for (int i = 0; i < n; i++) px[i] = tu_uniform(&seed);
        px[0] = -0.5f; /* out of range and NaN are clamped, not wrapped */
        px[1] = 1.5f;
        px[2] = NAN;
        assert_int_equal(mom_image_write_png(&f->ctx, in_dir(f, "out.png"), size, channels, px), MOM_OK);
        assert_false(tu_has_tmp_file(f->dir, 0));
        assert_int_equal(mom_image_load(&f->ctx, f->path, size, channels, back), MOM_OK);
        assert_float_equal(back[0], 0.0f, 1e-7);
        assert_float_equal(back[1], 1.0f, 1e-7);
        assert_float_equal(back[2], 0.0f, 1e-7);
        for (int i = 3; i < n; i++) assert_float_equal(back[i], px[i], 0.5f / 255.0f + 1e-6f);
        /* Overwriting an existing PNG works too. */
        assert_int_equal(mom_image_write_png(&f->ctx, f->path, size, channels, back), MOM_OK);
        free(px);
        free(back);
    }
    float px[4] = {0};
    assert_error(f, mom_image_write_png(&f->ctx, in_dir(f, "no/out.png"), 2, 1, px), MOM_ERR_IO, "no/out.png", "cannot create");
    assert_int_equal(tu_count_entries(f->dir, ".tmp."), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_png, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_pnm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_resize, setup, teardown),
        cmocka_unit_test(test_resize_weights),
        cmocka_unit_test_setup_teardown(test_bad_image_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_train_encode_decode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rgb_patches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_to_patches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_patches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_patches_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_codebook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_png_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
