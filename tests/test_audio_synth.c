/* Speech from units (src/data/audio_synth.c): a codebook trained on
 * vowel-like recordings (harmonics of 120 Hz under three formants), a
 * hiss and silence; a recording encoded, written back as a WAV and encoded
 * again gives its units back; the same units give the same bytes; bad
 * units, counts and frame counts are refused and leave no file. */
#include <sndfile.h>

#include "ctx.h"
#include "data/kmeans.h"
#include "mom_data.h"
#include "safetensors.h"
#include "test_util.h"

enum { NB = MOM_MEL_BANDS, RATE = 16000 };

#define FIXTURE_TAG "synth"
#include "test_dir_fixture.h"

/* ---- test recordings ----------------------------------------------------- */

/* Five vowels (F1, F2, F3 in Hz, textbook values), a hiss of sinusoids
 * 3..6 kHz, and silence. */
enum { N_VOWELS = 5, HISS = N_VOWELS, SILENCE, N_SOUNDS };
static const double FORMANTS[N_VOWELS][3] = {
    {730, 1090, 2440}, /* a */
    {270, 2290, 3010}, /* i */
    {300, 870, 2240},  /* u */
    {530, 1840, 2480}, /* e */
    {570, 840, 2410},  /* o */
};

typedef struct seg {
    int sound;
    size_t n; /* samples */
} seg;

/* One sample of sound at time t (seconds); phases run on in absolute time,
 * so a sound is continuous across the segments that hold it. */
static double sound_at(int sound, double t)
{
    if (sound == SILENCE) return 0.0;
    double v = 0.0, norm = 0.0;
    if (sound == HISS) {
        uint64_t s = 7;
        for (double f = 3000.0; f < 6000.0; f += 20.0) {
            v += sin(2.0 * M_PI * f * t + 2.0 * M_PI * tu_uniform(&s));
            norm += 1.0;
        }
        return 0.3 * v / sqrt(norm) / 3.0; /* random phases: the peak is some 3 sigma */
    }
    for (int h = 1; h * 120.0 < 7800.0; h++) {
        double a = 0.0;
        for (int i = 0; i < 3; i++) {
            const double d = (h * 120.0 - FORMANTS[sound][i]) / 100.0;
            a += exp(-0.5 * d * d) / (i + 1);
        }
        v += a * sin(2.0 * M_PI * h * 120.0 * t);
        norm += a;
    }
    return 0.4 * v / norm;
}

static void write_recording(const char *path, const seg *s, int n_seg)
{
    size_t n = 0;
    for (int i = 0; i < n_seg; i++) n += s[i].n;
    float *buf = malloc(sizeof(float) * n);
    assert_non_null(buf);
    size_t t = 0;
    for (int i = 0; i < n_seg; i++)
        for (size_t j = 0; j < s[i].n; j++, t++) buf[t] = (float)sound_at(s[i].sound, (double)t / RATE);
    SF_INFO info = {.samplerate = RATE, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) fail_msg("cannot write %s: %s", path, sf_strerror(NULL));
    assert_int_equal(sf_writef_float(sf, buf, (sf_count_t)n), (sf_count_t)n);
    assert_int_equal(sf_close(sf), 0);
    free(buf);
}

/* Recording i: every sound in an order of its own, 60..220 ms each. */
static void write_training(const char *path, int i)
{
    seg s[N_SOUNDS * 2];
    uint64_t rng = 100 + (uint64_t)i;
    for (int k = 0; k < N_SOUNDS * 2; k++) {
        s[k].sound = (k * (2 * i + 1) + i) % N_SOUNDS;
        s[k].n = (size_t)(960 + tu_next(&rng) % 2560);
    }
    write_recording(path, s, N_SOUNDS * 2);
}

enum { N_TRAIN = 4, CODES = 12 };

static mom_units *train(fixture *f)
{
    char paths[N_TRAIN][256];
    const char *p[N_TRAIN];
    for (int i = 0; i < N_TRAIN; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/train%d.wav", f->dir, i);
        write_training(paths[i], i);
        p[i] = paths[i];
    }
    mom_units *u = NULL;
    if (mom_units_train(&f->ctx, p, N_TRAIN, CODES, 30, 11, &u)) fail_msg("train: %s", f->ctx.err);
    assert_non_null(u);
    return u;
}

static int32_t *encode_ok(fixture *f, const mom_units *u, const char *path, size_t *n)
{
    int32_t *c = NULL;
    if (mom_units_encode_file(&f->ctx, u, path, &c, n)) fail_msg("%s: %s", path, f->ctx.err);
    assert_non_null(c);
    return c;
}

static void write_ok(fixture *f, const mom_units *u, const int32_t *units, size_t n, int fpu, const char *path)
{
    if (mom_units_write_wav(&f->ctx, u, units, n, fpu, path)) fail_msg("%s: %s", path, f->ctx.err);
}

/* Levenshtein distance of a and b. */
static size_t edit_distance(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t *row = malloc(sizeof(size_t) * (nb + 1));
    assert_non_null(row);
    for (size_t j = 0; j <= nb; j++) row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            const size_t up = row[j], sub = diag + (a[i - 1] != b[j - 1]);
            row[j] = sub < up + 1 ? sub : up + 1;
            if (row[j - 1] + 1 < row[j]) row[j] = row[j - 1] + 1;
            diag = up;
        }
    }
    const size_t d = row[nb];
    free(row);
    return d;
}

/* The codebook as saved: codes [CODES, NB], mean and std [NB]. */
typedef struct book {
    float codes[CODES * NB], mean[NB], std[NB];
} book;

static void read_book(fixture *f, const mom_units *u, book *b)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/units.safetensors", f->dir);
    if (mom_units_save(&f->ctx, u, path)) fail_msg("%s", f->ctx.err);
    st_file sf;
    if (st_open(path, &sf, err, sizeof err)) fail_msg("%s", err);
    memcpy(b->codes, sf.data + st_find(&sf, "codes")->begin, sizeof b->codes);
    memcpy(b->mean, sf.data + st_find(&sf, "mean")->begin, sizeof b->mean);
    memcpy(b->std, sf.data + st_find(&sf, "std")->begin, sizeof b->std);
    st_close(&sf);
}

/* The fraction of the written file's frames whose nearest code is the unit
 * held there (frame t holds units[t / fpu]); the file must have exactly
 * n * fpu frames. */
static double frame_agreement(fixture *f, const book *b, const char *path, const int32_t *units, size_t n, int fpu)
{
    float *fr = NULL, x[NB];
    size_t nf = 0, same = 0;
    if (mom_audio_logmel(&f->ctx, path, &fr, &nf)) fail_msg("%s: %s", path, f->ctx.err);
    assert_int_equal(nf, n * (size_t)fpu);
    for (size_t t = 0; t < nf; t++) {
        for (int m = 0; m < NB; m++) x[m] = (fr[t * NB + m] - b->mean[m]) / b->std[m];
        same += mom_kmeans_nearest(b->codes, CODES, NB, x) == units[t / (size_t)fpu];
    }
    free(fr);
    return (double)same / (double)nf;
}

/* ---- round trip ---------------------------------------------------------- */

/* A recording in an order no training file has, encoded, written back at 2
 * and 4 frames a unit and encoded again. Seen: every frame back on its unit
 * and edit distance 0 here; over ten random recordings of these sounds at
 * least 0.98 of the frames and an edit distance of at most 2 % of the
 * units. The fixed phase alone (no Griffin-Lim) gets 0.6 to 0.7 of the
 * frames, a synthesis split of 4 (boundaries shifted) some 0.95. */
static void test_round_trip(void **state)
{
    fixture *f = *state;
    mom_units *u = train(f);
    book b;
    read_book(f, u, &b);
    const seg s[] = {{SILENCE, 3200}, {0, 3000}, {1, 2400}, {HISS, 2000}, {2, 3600}, {3, 2000}, {SILENCE, 1600},
                     {4, 2600},       {1, 1800}, {0, 2200}, {HISS, 3000}, {3, 2400}, {2, 1600}, {SILENCE, 2000}};
    write_recording(in_dir(f, "speech.wav"), s, (int)(sizeof s / sizeof s[0]));
    size_t n = 0;
    int32_t *units = encode_ok(f, u, f->path, &n);
    assert_true(n >= 14);
    const int fpus[2] = {2, 4};
    for (int i = 0; i < 2; i++) {
        char out[256];
        snprintf(out, sizeof out, "%s/back%d.wav", f->dir, fpus[i]);
        write_ok(f, u, units, n, fpus[i], out);
        assert_false(tu_has_tmp_file(f->dir, 0));
        SF_INFO info;
        memset(&info, 0, sizeof info);
        SNDFILE *sf = sf_open(out, SFM_READ, &info);
        assert_non_null(sf);
        sf_close(sf);
        assert_int_equal(info.samplerate, 16000);
        assert_int_equal(info.channels, 1);
        assert_int_equal(info.format, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
        assert_int_equal(info.frames, (sf_count_t)((n * (size_t)fpus[i] - 1) * 320 + 400));

        const double agree = frame_agreement(f, &b, out, units, n, fpus[i]);
        size_t m = 0;
        int32_t *again = encode_ok(f, u, out, &m);
        const size_t d = edit_distance(units, n, again, m);
        print_message("frames_per_unit %d: %zu units, %zu re-encoded, edit distance %zu (%.3f), frames agreeing %.3f\n",
                      fpus[i], n, m, d, (double)d / (double)n, agree);
        if (agree < 0.95) fail_msg("frames_per_unit %d: only %.3f of the frames re-encode to their unit", fpus[i], agree);
        if ((double)d > 0.1 * (double)n) fail_msg("frames_per_unit %d: edit distance %zu of %zu units", fpus[i], d, n);
        free(again);
    }
    free(units);
    mom_units_destroy(&u);
}

/* ---- same input, same bytes ---------------------------------------------- */

/* Twice the same call, and frames_per_unit 0 (the default, 2) against 2. */
static void test_deterministic(void **state)
{
    fixture *f = *state;
    mom_units *u = train(f);
    const int32_t units[] = {3, 0, 7, 7, 11, 1, 5};
    const size_t n = sizeof units / sizeof units[0];
    char a[256], b[256], c[256];
    snprintf(a, sizeof a, "%s/a.wav", f->dir);
    snprintf(b, sizeof b, "%s/b.wav", f->dir);
    snprintf(c, sizeof c, "%s/c.wav", f->dir);
    write_ok(f, u, units, n, 2, a);
    write_ok(f, u, units, n, 2, b);
    write_ok(f, u, units, n, 0, c);
    size_t sa = 0, sb = 0, sc = 0;
    uint8_t *ba = tu_read_file(a, &sa), *bb = tu_read_file(b, &sb), *bc = tu_read_file(c, &sc);
    assert_int_equal(sa, 44 + 2 * ((n * 2 - 1) * 320 + 400)); /* canonical header, 16-bit samples */
    assert_int_equal(sb, sa);
    assert_int_equal(sc, sa);
    assert_memory_equal(ba, bb, sa);
    assert_memory_equal(ba, bc, sa);
    free(ba);
    free(bb);
    free(bc);
    /* one unit is two frames, 720 samples */
    write_ok(f, u, units, 1, 0, a);
    ba = tu_read_file(a, &sa);
    assert_int_equal(sa, 44 + 2 * 720);
    free(ba);
    mom_units_destroy(&u);
}

/* ---- bad input ----------------------------------------------------------- */

static void expect_refused(fixture *f, const mom_units *u, const int32_t *units, size_t n, int fpu,
                           const char *path, mom_status want, const char *what)
{
    f->ctx.err[0] = 0;
    const mom_status s = mom_units_write_wav(&f->ctx, u, units, n, fpu, path);
    if (s == MOM_OK) fail_msg("%s accepted (%s)", path, what);
    assert_int_equal(s, want);
    assert_contains(f->ctx.err, what);
    assert_true(access(path, F_OK) != 0);
    assert_false(tu_has_tmp_file(f->dir, 0));
}

static void test_bad_input(void **state)
{
    fixture *f = *state;
    mom_units *u = train(f);
    char path[256];
    snprintf(path, sizeof path, "%s/out.wav", f->dir);
    const int32_t bad_high[7] = {0, 1, 2, 3, 0, 300, 1}, bad_low[3] = {-1, 0, 1}, good[3] = {0, 3, 1};
    expect_refused(f, u, bad_high, 7, 2, path, MOM_ERR_INVALID_ARG, "unit 300 at position 5 is not in [0, 12)");
    expect_refused(f, u, bad_high, 7, 2, path, MOM_ERR_INVALID_ARG, path);
    expect_refused(f, u, bad_low, 3, 2, path, MOM_ERR_INVALID_ARG, "unit -1 at position 0");
    const int32_t past[1] = {CODES}; /* codes itself is one past the end */
    expect_refused(f, u, past, 1, 0, path, MOM_ERR_INVALID_ARG, "unit 12 at position 0 is not in [0, 12)");
    expect_refused(f, u, good, 0, 2, path, MOM_ERR_INVALID_ARG, "n_units is 0");
    expect_refused(f, u, good, 3, -1, path, MOM_ERR_INVALID_ARG, "frames_per_unit -1");
    expect_refused(f, u, good, 3, 101, path, MOM_ERR_INVALID_ARG, "frames_per_unit 101 is outside 0..100");
    expect_refused(f, NULL, good, 3, 2, path, MOM_ERR_INVALID_ARG, "NULL");
    expect_refused(f, u, NULL, 3, 2, path, MOM_ERR_INVALID_ARG, "NULL");
    assert_int_equal(mom_units_write_wav(&f->ctx, u, good, 3, 2, NULL), MOM_ERR_INVALID_ARG);
    assert_contains(f->ctx.err, "NULL path");

    /* a folder that is not there: an I/O error naming the path */
    char missing[256];
    snprintf(missing, sizeof missing, "%s/no/such/dir/out.wav", f->dir);
    expect_refused(f, u, good, 3, 2, missing, MOM_ERR_IO, missing);

    /* 100 frames a unit is the most, and fine */
    write_ok(f, u, good, 3, 100, path);
    size_t size = 0;
    uint8_t *bytes = tu_read_file(path, &size);
    assert_int_equal(size, 44 + 2 * ((3 * 100 - 1) * 320 + 400));
    free(bytes);
    assert_false(tu_has_tmp_file(f->dir, 0));
    mom_units_destroy(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
