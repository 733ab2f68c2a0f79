/* The audio tokenizer (src/data/audio_units.c): log-mel frames of WAV files
 * written here with libsndfile (frame counts, where a tone's energy lands,
 * the same tone at 44.1 kHz stereo), files that are not audio, speech units
 * trained on tones (save/load bit for bit, runs collapsing) and units files
 * that lie. */
#include <sndfile.h>

#include "ctx.h"
#include "mom_data.h"
#include "safetensors.h"
#include "test_util.h"

enum { NB = MOM_MEL_BANDS };

#define FIXTURE_TAG "audio"
#include "test_dir_fixture.h"


/* The centre frequency of mel band m (HTK scale, 42 edges over 0..8000 Hz). */
static double band_hz(int m)
{
    const double top = 2595.0 * log10(1.0 + 8000.0 / 700.0);
    return 700.0 * (pow(10.0, top * (m + 1) / (NB + 1) / 2595.0) - 1.0);
}

/* One segment of a test signal: a tone of amplitude 0.5 for n samples at
 * the file's rate (hz 0: silence). */
typedef struct seg {
    double hz;
    size_t n;
} seg;

/* Writes a 16-bit PCM WAV of the segments in turn at `rate`. With 2
 * channels, left = tone + x and right = tone - x with x a 3 kHz tone of
 * amplitude 0.3: only the mean of the channels is the tone. */
static void write_wav(const char *path, int rate, int channels, const seg *s, int n_seg)
{
    size_t n = 0;
    for (int i = 0; i < n_seg; i++) n += s[i].n;
    float *buf = malloc(sizeof(float) * (n ? n : 1) * (size_t)channels);
    assert_non_null(buf);
    size_t t = 0;
    for (int i = 0; i < n_seg; i++)
        for (size_t j = 0; j < s[i].n; j++, t++) {
            const double tone = 0.5 * sin(2.0 * M_PI * s[i].hz * (double)t / rate);
            const double x = 0.3 * sin(2.0 * M_PI * 3000.0 * (double)t / rate);
            if (channels == 1) buf[t] = (float)tone;
            else {
                buf[2 * t] = (float)(tone + x);
                buf[2 * t + 1] = (float)(tone - x);
            }
        }
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) fail_msg("cannot write %s: %s", path, sf_strerror(NULL));
    assert_int_equal(sf_writef_float(sf, buf, (sf_count_t)n), (sf_count_t)n);
    assert_int_equal(sf_close(sf), 0);
    free(buf);
}

static void write_tone(const char *path, int rate, int channels, double hz, size_t n)
{
    seg s = {hz, n};
    write_wav(path, rate, channels, &s, 1);
}

static float *logmel_ok(fixture *f, const char *path, size_t *n)
{
    float *fr = NULL;
    mom_status s = mom_audio_logmel(&f->ctx, path, &fr, n);
    if (s) fail_msg("%s: %s", path, f->ctx.err);
    assert_non_null(fr);
    return fr;
}

static int argmax(const float *x)
{
    int b = 0;
    for (int m = 1; m < NB; m++)
        if (x[m] > x[b]) b = m;
    return b;
}

/* ---- log-mel frames ------------------------------------------------------ */

/* Frame counts floor((n - 400) / 320) + 1 at the edges and for one second;
 * a tone at the centre of band m peaks in band m in every frame, far above
 * the bands an octave and more away. */
static void test_logmel_frames_and_peak(void **state)
{
    fixture *f = *state;
    const size_t lens[] = {400, 719, 720, 16000};
    for (size_t i = 0; i < 4; i++) {
        write_tone(in_dir(f, "len.wav"), 16000, 1, 1000.0, lens[i]);
        size_t n = 0;
        float *fr = logmel_ok(f, f->path, &n);
        assert_int_equal(n, (lens[i] - 400) / 320 + 1);
        free(fr);
    }
    const int bands[] = {3, 12, 20, 35};
    for (int b = 0; b < 4; b++) {
        const int m = bands[b];
        write_tone(in_dir(f, "tone.wav"), 16000, 1, band_hz(m), 16000);
        size_t n = 0;
        float *fr = logmel_ok(f, f->path, &n);
        assert_int_equal(n, 49);
        for (size_t t = 0; t < n; t++) {
            const float *x = fr + t * NB;
            if (argmax(x) != m) fail_msg("%.1f Hz, frame %zu: peak in band %d, not %d", band_hz(m), t, argmax(x), m);
            for (int o = 0; o < NB; o++) /* band_hz doubles roughly every 6-8 bands up here */
                if (abs(o - m) >= 10) assert_true(x[m] - x[o] > 8.0f);
        }
        free(fr);
    }
}

/* The same tone at 44.1 kHz in two channels whose mean is the tone: after
 * mixing and resampling, the frames of the 16 kHz mono file within the
 * tolerances below. */
static void test_logmel_resampled_stereo(void **state)
{
    fixture *f = *state;
    const double hz = band_hz(18);
    write_tone(in_dir(f, "mono16k.wav"), 16000, 1, hz, 16000);
    size_t na = 0, nb = 0;
    float *a = logmel_ok(f, f->path, &na);
    write_tone(in_dir(f, "stereo44k.wav"), 44100, 2, hz, 44100);
    float *b = logmel_ok(f, f->path, &nb);
    assert_int_equal(na, 49);
    assert_int_equal(nb, na); /* one second gives 16000 samples either way */
    double worst_loud = 0.0, worst_all = 0.0;
    for (size_t t = 0; t < na; t++)
        for (int m = 0; m < NB; m++) {
            const double d = fabs((double)a[t * NB + m] - b[t * NB + m]);
            if (a[t * NB + m] > a[t * NB + 18] - 4.6f && d > worst_loud) worst_loud = d;
            if (d > worst_all) worst_all = d;
        }
    /* Bands within 4.6 nats (1 %) of the peak: the resampler (97 dB
     * signal-to-noise, libsamplerate's figure for SRC_SINC_MEDIUM_QUALITY)
     * and 16-bit noise 90 dB down keep them well within 2e-3 nats (0.01 dB;
     * 1.3e-5 seen);
     * summing the channels instead of averaging them would be off by
     * ln 4 = 1.39. Quiet bands sit near the 1e-6 floor, where the two
     * files' independent 16-bit quantisation noise (of the floor's order)
     * and the resampler's roll-off above 7 kHz may differ by up to a factor
     * of 2: ln 2 = 0.69 (0.34 seen). Reading one channel only would leave
     * the 3 kHz tone in, some 20 nats above the floor in band 26. */
    if (worst_loud > 2e-3) fail_msg("loud bands differ by %g nats", worst_loud);
    if (worst_all > 0.7) fail_msg("some band differs by %g nats", worst_all);
    free(a);
    free(b);
}

/* Each file is refused with its path in the message and no frames out. */
static void expect_bad(fixture *f, const char *path, const char *what)
{
    float dummy = 0.0f, *fr = &dummy; /* anything but NULL: the call must clear it */
    size_t n = 7;
    f->ctx.err[0] = 0;
    mom_status s = mom_audio_logmel(&f->ctx, path, &fr, &n);
    if (s == MOM_OK) fail_msg("%s accepted", path);
    assert_null(fr);
    assert_int_equal(n, 0);
    assert_contains(f->ctx.err, path);
    if (what) assert_contains(f->ctx.err, what);
}

static void test_logmel_bad_files(void **state)
{
    fixture *f = *state;
    char path[256];
    write_tone(in_dir(f, "empty.wav"), 16000, 1, 440.0, 0);
    expect_bad(f, f->path, "no audio frames");

    write_tone(in_dir(f, "short.wav"), 16000, 1, 440.0, 399);
    expect_bad(f, f->path, "399");
    write_tone(in_dir(f, "short44.wav"), 44100, 1, 440.0, 1000); /* 363 samples at 16 kHz */
    expect_bad(f, f->path, "shorter than one");

    write_tone(in_dir(f, "good.wav"), 16000, 1, 440.0, 4000);
    size_t size = 0;
    uint8_t *bytes = tu_read_file(f->path, &size);
    tu_write_file(in_dir(f, "trunc.wav"), bytes, 20); /* inside the fmt chunk */
    expect_bad(f, f->path, NULL);
    tu_write_file(in_dir(f, "header_only.wav"), bytes, 44); /* data chunk says 8000 bytes, has none */
    expect_bad(f, f->path, NULL);
    free(bytes);

    expect_bad(f, in_dir(f, "missing.wav"), "cannot open");
    snprintf(path, sizeof path, "%s/no/such/dir/a.flac", f->dir);
    expect_bad(f, path, NULL);

    const char text[] = "this is not audio, just some text\n";
    tu_write_file(in_dir(f, "notes.wav"), text, sizeof text - 1);
    expect_bad(f, f->path, NULL);
    tu_write_file(in_dir(f, "zero_bytes.wav"), text, 0);
    expect_bad(f, f->path, NULL);

    f->ctx.err[0] = 0;
    assert_int_equal(mom_audio_logmel(&f->ctx, NULL, &(float *){NULL}, &(size_t){0}), MOM_ERR_INVALID_ARG);
    assert_true(f->ctx.err[0] != 0);
}

/* ---- units --------------------------------------------------------------- */

static const int train_bands[4] = {6, 14, 24, 33};

static mom_units *train_tones(fixture *f)
{
    char paths[4][256];
    const char *p[4];
    for (int i = 0; i < 4; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/train%d.wav", f->dir, i);
        write_tone(paths[i], 16000, 1, band_hz(train_bands[i]), 8000);
        p[i] = paths[i];
    }
    mom_units *u = NULL;
    if (mom_units_train(&f->ctx, p, 4, 4, 25, 42, &u)) fail_msg("train: %s", f->ctx.err);
    assert_non_null(u);
    assert_int_equal(mom_units_codes(u), 4);
    return u;
}

static int32_t *encode_ok(fixture *f, const mom_units *u, const char *path, size_t *n)
{
    int32_t *c = NULL;
    if (mom_units_encode_file(&f->ctx, u, path, &c, n)) fail_msg("%s: %s", path, f->ctx.err);
    assert_non_null(c);
    for (size_t i = 0; i < *n; i++) assert_true(c[i] >= 0 && c[i] < mom_units_codes(u));
    return c;
}

/* Four tones, four codes: each steady tone is one unit and a different one;
 * A B A in a file gives exactly those three units in order. */
static void check_encoding(fixture *f, const mom_units *u)
{
    int32_t unit[4];
    for (int i = 0; i < 4; i++) {
        write_tone(in_dir(f, "steady.wav"), 16000, 1, band_hz(train_bands[i]), 24000); /* 74 frames */
        size_t n = 0;
        int32_t *c = encode_ok(f, u, f->path, &n);
        assert_int_equal(n, 1);
        unit[i] = c[0];
        for (int j = 0; j < i; j++) assert_int_not_equal(unit[j], unit[i]);
        free(c);
    }
    const seg aba[3] = {{band_hz(train_bands[0]), 8000}, {band_hz(train_bands[3]), 8000},
                        {band_hz(train_bands[0]), 8000}};
    write_wav(in_dir(f, "aba.wav"), 16000, 1, aba, 3);
    size_t n = 0;
    int32_t *c = encode_ok(f, u, f->path, &n);
    assert_int_equal(n, 3);
    assert_int_equal(c[0], unit[0]);
    assert_int_equal(c[1], unit[3]);
    assert_int_equal(c[2], unit[0]);
    free(c);
    write_wav(in_dir(f, "ab.wav"), 16000, 1, aba, 2);
    c = encode_ok(f, u, f->path, &n);
    assert_int_equal(n, 2);
    assert_int_equal(c[0], unit[0]);
    assert_int_equal(c[1], unit[3]);
    free(c);
}

/* The stored mean and std are those of every frame of the four training
 * files (population deviation; float sums against double ones). */
static void check_stats(fixture *f, const st_file *sf)
{
    double sum[NB] = {0}, sq[NB] = {0};
    size_t total = 0;
    float *all[4];
    size_t n[4];
    for (int i = 0; i < 4; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/train%d.wav", f->dir, i);
        all[i] = logmel_ok(f, p, &n[i]);
        for (size_t t = 0; t < n[i] * NB; t++) sum[t % NB] += all[i][t];
        total += n[i];
    }
    float mean[NB], std[NB];
    memcpy(mean, sf->data + st_find(sf, "mean")->begin, sizeof mean);
    memcpy(std, sf->data + st_find(sf, "std")->begin, sizeof std);
    for (int i = 0; i < 4; i++) {
        for (size_t t = 0; t < n[i] * NB; t++) {
            const double d = all[i][t] - sum[t % NB] / (double)total;
            sq[t % NB] += d * d;
        }
        free(all[i]);
    }
    for (int m = 0; m < NB; m++) {
        assert_float_equal(mean[m], sum[m] / (double)total, 1e-4);
        assert_float_equal(std[m], fmax(sqrt(sq[m] / (double)total), 1e-3), 1e-4);
    }
}

static void test_units_train_save_load(void **state)
{
    fixture *f = *state;
    mom_units *u = train_tones(f);
    check_encoding(f, u);
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/units_a.safetensors", f->dir);
    snprintf(b, sizeof b, "%s/units_b.safetensors", f->dir);
    if (mom_units_save(&f->ctx, u, a)) fail_msg("save: %s", f->ctx.err);
    assert_false(tu_has_tmp_file(f->dir, 0));

    /* the file as documented */
    st_file sf;
    char err[256];
    if (st_open(a, &sf, err, sizeof err)) fail_msg("%s", err);
    const st_tensor_info *t = st_find(&sf, "codes");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 4);
    assert_int_equal(t->shape[1], NB);
    const char *names[2] = {"mean", "std"};
    for (int i = 0; i < 2; i++) {
        t = st_find(&sf, names[i]);
        assert_non_null(t);
        assert_int_equal(t->ndim, 1);
        assert_int_equal(t->shape[0], NB);
        float v[NB];
        memcpy(v, sf.data + t->begin, sizeof v);
        for (int m = 0; m < NB; m++) assert_true(isfinite(v[m]) && (i == 0 || v[m] >= 1e-3f));
    }
    check_stats(f, &sf);
    assert_string_equal(st_meta_get(&sf, "kind"), "mom_units");
    assert_string_equal(st_meta_get(&sf, "sample_rate"), "16000");
    assert_string_equal(st_meta_get(&sf, "hop"), "320");
    assert_string_equal(st_meta_get(&sf, "window"), "400");
    assert_string_equal(st_meta_get(&sf, "bands"), "40");
    st_close(&sf);

    /* load and save again: the same bytes, so every value came back exact */
    mom_units *v = NULL;
    if (mom_units_load(&f->ctx, a, &v)) fail_msg("load: %s", f->ctx.err);
    assert_int_equal(mom_units_codes(v), 4);
    if (mom_units_save(&f->ctx, v, b)) fail_msg("save: %s", f->ctx.err);
    size_t sa = 0, sb = 0;
    uint8_t *ba = tu_read_file(a, &sa), *bb = tu_read_file(b, &sb);
    assert_int_equal(sa, sb);
    assert_memory_equal(ba, bb, sa);
    free(ba);
    free(bb);
    check_encoding(f, v);

    /* the same seed trains the same units */
    mom_units *w = train_tones(f);
    if (mom_units_save(&f->ctx, w, b)) fail_msg("save: %s", f->ctx.err);
    ba = tu_read_file(a, &sa);
    bb = tu_read_file(b, &sb);
    assert_int_equal(sa, sb);
    assert_memory_equal(ba, bb, sa);
    free(ba);
    free(bb);
    mom_units_destroy(&u);
    mom_units_destroy(&v);
    mom_units_destroy(&w);
    assert_null(u);
    mom_units_destroy(&u); /* twice is harmless */
}

static void test_units_train_bad(void **state)
{
    fixture *f = *state;
    write_tone(in_dir(f, "ok.wav"), 16000, 1, 500.0, 4000);
    char ok[256], bad[256];
    snprintf(ok, sizeof ok, "%s", f->path);
    snprintf(bad, sizeof bad, "%s/absent.wav", f->dir);
    const char *p[2] = {ok, bad};
    mom_units *u = (mom_units *)&u;
    assert_int_not_equal(mom_units_train(&f->ctx, p, 2, 4, 5, 1, &u), MOM_OK);
    assert_null(u);
    assert_contains(f->ctx.err, bad);
    const int codes[3] = {1, 0, 65537};
    for (int i = 0; i < 3; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", codes[i]);
        assert_int_equal(mom_units_train(&f->ctx, p, 1, codes[i], 5, 1, &u), MOM_ERR_INVALID_ARG);
        assert_null(u);
        assert_contains(f->ctx.err, v);
    }
    assert_int_equal(mom_units_train(&f->ctx, p, 0, 4, 5, 1, &u), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_units_train(&f->ctx, p, 1, 4, -1, 1, &u), MOM_ERR_INVALID_ARG);
    /* fewer frames than codes: k-means repeats frames, still a valid file */
    assert_int_equal(mom_units_train(&f->ctx, p, 1, 64, 5, 1, &u), MOM_OK);
    assert_int_equal(mom_units_codes(u), 64);
    mom_units_destroy(&u);
}

/* Encoding divides by std after subtracting mean: a hand-made file with
 * mean = the frames of tone A, std = 0.01 and codes {0, 100 (B - A),
 * 100 B} sends tone A to code 0 and tone B to code 1. Raw frames would
 * both go to code 0 (|B| is some 80, the other codes thousands away),
 * frames multiplied by std too, and frames without the mean taken off
 * land on code 2 (where B would be then) or elsewhere. */
static void test_units_encode_normalises(void **state)
{
    fixture *f = *state;
    double va[NB] = {0}, vb[NB] = {0};
    const char *names[2] = {"a.wav", "b.wav"};
    for (int i = 0; i < 2; i++) {
        write_tone(in_dir(f, names[i]), 16000, 1, band_hz(i ? 30 : 10), 8000);
        size_t n = 0;
        float *fr = logmel_ok(f, f->path, &n);
        for (size_t t = 0; t < n * NB; t++) (i ? vb : va)[t % NB] += fr[t] / (double)n;
        free(fr);
    }
    float codes[3 * NB], mean[NB], std[NB];
    for (int m = 0; m < NB; m++) {
        codes[m] = 0.0f;
        codes[NB + m] = (float)(100.0 * (vb[m] - va[m]));
        codes[2 * NB + m] = (float)(100.0 * vb[m]);
        mean[m] = (float)va[m];
        std[m] = 0.01f;
    }
    st_write_tensor t[3] = {{"codes", ST_F32, 2, {3, NB}, codes}, {"mean", ST_F32, 1, {NB}, mean},
                            {"std", ST_F32, 1, {NB}, std}};
    st_meta meta[5] = {{"kind", "mom_units"}, {"sample_rate", "16000"}, {"hop", "320"}, {"window", "400"},
                       {"bands", "40"}};
    char err[256], path[256];
    snprintf(path, sizeof path, "%s/hand.safetensors", f->dir);
    if (st_write(path, t, 3, meta, 5, err, sizeof err)) fail_msg("%s", err);
    mom_units *u = NULL;
    if (mom_units_load(&f->ctx, path, &u)) fail_msg("%s", f->ctx.err);
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        int32_t *c = encode_ok(f, u, in_dir(f, names[i]), &n);
        assert_int_equal(n, 1);
        assert_int_equal(c[0], i);
        free(c);
    }
    mom_units_destroy(&u);
}

/* Silence: every frame is ln(1e-6) in every band, so each deviation is 0
 * and floored to 1e-3. */
static void test_units_std_floor(void **state)
{
    fixture *f = *state;
    write_tone(in_dir(f, "silence.wav"), 16000, 1, 0.0, 4000);
    const char *p[1] = {f->path};
    mom_units *u = NULL;
    if (mom_units_train(&f->ctx, p, 1, 2, 5, 3, &u)) fail_msg("%s", f->ctx.err);
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/silence.safetensors", f->dir);
    if (mom_units_save(&f->ctx, u, path)) fail_msg("%s", f->ctx.err);
    st_file sf;
    if (st_open(path, &sf, err, sizeof err)) fail_msg("%s", err);
    float mean[NB], std[NB];
    memcpy(mean, sf.data + st_find(&sf, "mean")->begin, sizeof mean);
    memcpy(std, sf.data + st_find(&sf, "std")->begin, sizeof std);
    for (int m = 0; m < NB; m++) {
        assert_float_equal(mean[m], logf(1e-6f), 1e-5);
        assert_true(std[m] == 1e-3f);
    }
    st_close(&sf);
    size_t n = 0;
    int32_t *c = encode_ok(f, u, f->path, &n);
    assert_int_equal(n, 1);
    free(c);
    mom_units_destroy(&u);
}

/* ---- units files that lie ------------------------------------------------ */

typedef struct bad_units {
    const char *name;
    int64_t rows, cols;  /* codes shape */
    int mean_n;          /* elements of mean */
    int poison;          /* 1: std[5] = 0, 2: std[5] = -1, 3: mean[5] = NaN, 4: codes[7] = inf, 5: std[5] = NaN */
    const char *kind, *hop;
    int drop_std;
    const char *expect;  /* in the message, besides the path */
} bad_units;

static void write_units(const char *path, const bad_units *b)
{
    float *codes = calloc((size_t)(b->rows * b->cols) + 1, sizeof(float));
    float mean[NB + 1] = {0}, std[NB + 1];
    assert_non_null(codes);
    for (int m = 0; m <= NB; m++) std[m] = 1.0f;
    if (b->poison == 1) std[5] = 0.0f;
    if (b->poison == 2) std[5] = -1.0f;
    if (b->poison == 3) mean[5] = NAN;
    if (b->poison == 4) codes[7] = INFINITY;
    if (b->poison == 5) std[5] = NAN;
    st_write_tensor t[3] = {{"codes", ST_F32, 2, {b->rows, b->cols}, codes},
                            {"mean", ST_F32, 1, {b->mean_n}, mean},
                            {"std", ST_F32, 1, {NB}, std}};
    st_meta meta[5] = {{"kind", (char *)b->kind}, {"sample_rate", "16000"}, {"hop", (char *)b->hop},
                       {"window", "400"}, {"bands", "40"}};
    char err[256];
    if (st_write(path, t, b->drop_std ? 2 : 3, meta, 5, err, sizeof err)) fail_msg("%s", err);
    free(codes);
}

static void test_units_load_refuses(void **state)
{
    fixture *f = *state;
    const bad_units cases[] = {
        {"good", 4, NB, NB, 0, "mom_units", "320", 0, NULL},
        {"narrow", 4, 39, NB, 0, "mom_units", "320", 0, "[4, 39]"},
        {"one_code", 1, NB, NB, 0, "mom_units", "320", 0, "1 codes"},
        {"short_mean", 4, NB, 39, 0, "mom_units", "320", 0, "\"mean\" has shape [39]"},
        {"std_zero", 4, NB, NB, 1, "mom_units", "320", 0, "std"},
        {"std_negative", 4, NB, NB, 2, "mom_units", "320", 0, "-1"},
        {"std_nan", 4, NB, NB, 5, "mom_units", "320", 0, "nan"},
        {"mean_nan", 4, NB, NB, 3, "mom_units", "320", 0, "nan"},
        {"codes_inf", 4, NB, NB, 4, "mom_units", "320", 0, "inf"},
        {"kind", 4, NB, NB, 0, "mom_vq", "320", 0, "mom_vq"},
        {"hop", 4, NB, NB, 0, "mom_units", "160", 0, "160"},
        {"no_std", 4, NB, NB, 0, "mom_units", "320", 1, "std"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.safetensors", f->dir, cases[i].name);
        write_units(path, &cases[i]);
        mom_units *u = (mom_units *)&u;
        f->ctx.err[0] = 0;
        mom_status s = mom_units_load(&f->ctx, path, &u);
        if (!cases[i].expect) {
            if (s) fail_msg("%s: %s", path, f->ctx.err);
            assert_int_equal(mom_units_codes(u), 4);
            mom_units_destroy(&u);
            continue;
        }
        if (s == MOM_OK) fail_msg("%s accepted", path);
        assert_int_equal(s, MOM_ERR_FORMAT);
        assert_null(u);
        assert_contains(f->ctx.err, path);
        assert_contains(f->ctx.err, cases[i].expect);
    }
    /* not safetensors at all, and no file */
    char path[256];
    snprintf(path, sizeof path, "%s/text.safetensors", f->dir);
    tu_write_file(path, "hello", 5);
    mom_units *u = NULL;
    assert_int_equal(mom_units_load(&f->ctx, path, &u), MOM_ERR_FORMAT);
    assert_contains(f->ctx.err, path);
    snprintf(path, sizeof path, "%s/absent.safetensors", f->dir);
    assert_int_equal(mom_units_load(&f->ctx, path, &u), MOM_ERR_IO);
    assert_contains(f->ctx.err, path);
    assert_null(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_logmel_frames_and_peak, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logmel_resampled_stereo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logmel_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_units_train_save_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_units_encode_normalises, setup, teardown),
        cmocka_unit_test_setup_teardown(test_units_std_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_units_train_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_units_load_refuses, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
