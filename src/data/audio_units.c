/* Speech units: log-mel frames of an audio file, quantised by k-means.
 *
 * The semantics are fixed (a units file means nothing under others):
 *  - read: whatever sf_open(SFM_READ) opens, samples as floats in [-1, 1];
 *    channels mixed to mono by their mean; resampled to 16000 Hz with
 *    libsamplerate (src_simple, SRC_SINC_MEDIUM_QUALITY) when the file's
 *    rate differs. No samples, or fewer than 400 after resampling, is an
 *    error naming the file.
 *  - frames: 400 samples (25 ms) every 320 (20 ms), only whole windows:
 *    n_frames = (n - 400) / 320 + 1. Each frame is multiplied by the
 *    symmetric Hann window 0.5 - 0.5 cos(2 pi i / 399), zero-padded to 512,
 *    real FFT; power |X_k|^2 of the 257 bins (bin k at k * 31.25 Hz).
 *  - mel: 40 triangular filters, 42 edges equally spaced on the HTK mel
 *    scale 2595 log10(1 + f / 700) from 0 to 8000 Hz; filter m rises from
 *    edge m to edge m+1 (weight 1) and falls to edge m+2, weights taken at
 *    each bin's frequency. A frame's value is ln(mel energy + 1e-6).
 *  - training: per-band mean and population deviation (floored at 1e-3)
 *    over every frame of every file; frames normalised (x - mean) / std;
 *    k-means (kmeans.c) with the caller's codes, iters and seed.
 *  - encoding: the stored mean and std, the nearest code per frame, runs of
 *    one unit collapsed to one token.
 * The units file: safetensors "codes" [codes, 40], "mean" [40], "std" [40]
 * F32; metadata kind=mom_units, sample_rate=16000, hop=320, window=400,
 * bands=40. */
#include "mom_build_config.h"

#include <stdlib.h>

#include "ctx.h"
#include "mom_data.h"

#if MOM_HAVE_AUDIO
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <samplerate.h>
#include <sndfile.h>

#include "audio_features.h"
#include "codebook_file.h"
#include "kmeans.h"
#include "safetensors.h"

enum { MAX_CODES = 65536 };

/* The metadata of a units file: written as is, required as is on load. */
static const char *const META[5][2] = {
    {"kind", "mom_units"}, {"sample_rate", "16000"}, {"hop", "320"}, {"window", "400"}, {"bands", "40"}};

pthread_mutex_t audio_plan_lock = PTHREAD_MUTEX_INITIALIZER;

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

void audio_analyser_free(analyser *a)
{
    if (!a) return;
    pthread_mutex_lock(&audio_plan_lock);
    if (a->plan) fftwf_destroy_plan(a->plan);
    pthread_mutex_unlock(&audio_plan_lock);
    fftwf_free(a->in);
    fftwf_free(a->out);
    free(a);
}

analyser *audio_analyser_new(void)
{
    analyser *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->in = fftwf_malloc(sizeof(float) * NFFT);
    a->out = fftwf_malloc(sizeof(fftwf_complex) * NBIN);
    if (a->in && a->out) {
        pthread_mutex_lock(&audio_plan_lock);
        a->plan = fftwf_plan_dft_r2c_1d(NFFT, a->in, a->out, FFTW_ESTIMATE); /* no timing runs: the same plan every time */
        pthread_mutex_unlock(&audio_plan_lock);
    }
    if (!a->plan) {
        audio_analyser_free(a);
        return NULL;
    }
    for (int i = 0; i < WIN; i++) a->window[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / (WIN - 1)));
    double edge[NB + 2];
    for (int i = 0; i < NB + 2; i++) edge[i] = mel_to_hz(hz_to_mel(SR / 2.0) * i / (NB + 1));
    for (int m = 0; m < NB; m++) {
        a->k0[m] = NBIN;
        for (int k = 0; k < NBIN; k++) {
            const double f = (double)k * SR / NFFT, lo = edge[m], c = edge[m + 1], hi = edge[m + 2];
            const double w = f > lo && f <= c ? (f - lo) / (c - lo) : f > c && f < hi ? (hi - f) / (hi - c) : 0.0;
            a->fb[m][k] = (float)w;
            if (w > 0.0) {
                if (a->k0[m] == NBIN) a->k0[m] = k;
                a->k1[m] = k + 1;
            }
        }
    }
    return a;
}

/* The file as 16 kHz mono samples, malloc'd. */
static mom_status read_mono(mom_ctx *ctx, const char *path, float **out, size_t *n_out)
{
    FILE *probe = fopen(path, "rb"); /* tells a missing file from a bad one */
    if (!probe) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fclose(probe);
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) return mom_fail(ctx, MOM_ERR_FORMAT, "%s: cannot read as audio: %s", path, sf_strerror(NULL));
    const size_t ch = info.channels > 0 ? (size_t)info.channels : 1;
    float *buf = NULL;
    sf_count_t got = 0; /* fewer than info.frames when the data is cut short */
    mom_status s = MOM_OK;
    if (info.channels < 1 || info.samplerate < 1)
        s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: %d channels at %d Hz", path, info.channels, info.samplerate);
    else if (info.frames > (sf_count_t)(SIZE_MAX / sizeof(float) / ch / 2) ||
             (info.frames > 0 && !(buf = malloc(sizeof(float) * ch * (size_t)info.frames))))
        s = mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory for %lld frames", path, (long long)info.frames);
    else if ((got = info.frames > 0 ? sf_readf_float(sf, buf, info.frames) : 0) <= 0)
        s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: no audio frames", path);
    sf_close(sf);
    if (s) {
        free(buf);
        return s;
    }
    size_t n = (size_t)got;
    for (size_t i = 0; i < n; i++) { /* in place: sample i is read from i * ch >= i, before it is overwritten */
        float sum = 0.0f;
        for (size_t c = 0; c < ch; c++) {
            /* A float file may hold anything: NaN would make every frame
             * NaN, and past full scale the power spectrum overflows; clip
             * to [-1, 1] as the integer formats are. */
            const float v = buf[i * ch + c];
            if (!isfinite(v)) {
                free(buf);
                return mom_fail(ctx, MOM_ERR_FORMAT, "%s: sample %zu of channel %zu is not finite: %g", path, i, c,
                                (double)v);
            }
            sum += fminf(fmaxf(v, -1.0f), 1.0f);
        }
        buf[i] = sum / (float)ch;
    }
    if (info.samplerate != SR) {
        const double ratio = (double)SR / info.samplerate;
        const size_t cap = (size_t)ceil((double)n * ratio) + 16;
        const int ok = src_is_valid_ratio(ratio); /* 1/256 .. 256 */
        float *res = ok ? malloc(sizeof(float) * cap) : NULL;
        SRC_DATA d = {.data_in = buf, .input_frames = (long)n, .data_out = res, .output_frames = (long)cap,
                      .src_ratio = ratio, .end_of_input = 1};
        const int e = res ? src_simple(&d, SRC_SINC_MEDIUM_QUALITY, 1) : 0;
        free(buf);
        if (!res || e) {
            free(res);
            return mom_fail(ctx, ok && !res ? MOM_ERR_NOMEM : MOM_ERR_FORMAT, "%s: cannot resample from %d Hz: %s",
                            path, info.samplerate, e ? src_strerror(e) : ok ? "out of memory" : "ratio out of range");
        }
        buf = res;
        n = (size_t)d.output_frames_gen;
    }
    *out = buf;
    *n_out = n;
    return MOM_OK;
}

/* The log-mel frames [n_frames, NB] of the file, malloc'd. */
static mom_status file_logmel(mom_ctx *ctx, analyser *a, const char *path, float **frames, size_t *n_frames)
{
    float *x = NULL;
    size_t n = 0;
    mom_status s = read_mono(ctx, path, &x, &n);
    if (s) return s;
    if (n < WIN) {
        free(x);
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: %zu samples at %d Hz, shorter than one %d-sample frame", path, n,
                        SR, WIN);
    }
    const size_t nf = (n - WIN) / HOP + 1;
    float *F = malloc(sizeof(float) * NB * nf), p[NBIN];
    if (!F) {
        free(x);
        return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory for %zu frames", path, nf);
    }
    for (size_t t = 0; t < nf; t++) {
        for (int i = 0; i < WIN; i++) a->in[i] = x[t * HOP + (size_t)i] * a->window[i];
        memset(a->in + WIN, 0, sizeof(float) * (NFFT - WIN));
        fftwf_execute(a->plan);
        for (int k = 0; k < NBIN; k++) p[k] = a->out[k][0] * a->out[k][0] + a->out[k][1] * a->out[k][1];
        for (int m = 0; m < NB; m++) {
            float e = 0.0f;
            for (int k = a->k0[m]; k < a->k1[m]; k++) e += a->fb[m][k] * p[k];
            F[t * NB + (size_t)m] = logf(e + 1e-6f);
        }
    }
    free(x);
    *frames = F;
    *n_frames = nf;
    return MOM_OK;
}

mom_status mom_audio_logmel(mom_ctx *ctx, const char *path, float **frames, size_t *n_frames)
{
    if (frames) *frames = NULL;
    if (n_frames) *n_frames = 0;
    if (!frames || !n_frames)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "audio: %s is NULL", frames ? "n_frames" : "frames");
    if (!path) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "audio: path is NULL");
    analyser *a = audio_analyser_new();
    if (!a) return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory for the FFT", path);
    mom_status s = file_logmel(ctx, a, path, frames, n_frames);
    audio_analyser_free(a);
    return s;
}

void mom_units_destroy(mom_units **u)
{
    if (!u || !*u) return;
    free((*u)->C);
    free(*u);
    *u = NULL;
}

int mom_units_codes(const mom_units *u) { return u ? u->codes : 0; }

static mom_units *units_new(int codes)
{
    mom_units *u = calloc(1, sizeof *u);
    if (u) u->codes = codes;
    if (u && !(u->C = malloc(sizeof(float) * NB * (size_t)codes))) mom_units_destroy(&u);
    return u;
}

mom_status mom_units_train(mom_ctx *ctx, const char *const *paths, size_t n_paths, int codes, int iters,
                           uint64_t seed, mom_units **out)
{
    if (!out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "units: NULL output");
    *out = NULL;
    if (!paths || n_paths == 0)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "units: no training files (paths %s, n_paths %zu)",
                        paths ? "given" : "NULL", n_paths);
    if (codes < 2 || codes > MAX_CODES)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "units: codes %d is outside 2..%d", codes, MAX_CODES);
    if (iters < 0) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "units: iters %d is negative", iters);
    analyser *a = audio_analyser_new();
    if (!a) return mom_fail(ctx, MOM_ERR_NOMEM, "units: out of memory for the FFT");
    float *X = NULL, *F = NULL;
    size_t n = 0, nf = 0;
    mom_status s = MOM_OK;
    for (size_t i = 0; i < n_paths && !s; i++) {
        if (!paths[i]) s = mom_fail(ctx, MOM_ERR_INVALID_ARG, "units: paths[%zu] is NULL", i);
        else if (!(s = file_logmel(ctx, a, paths[i], &F, &nf))) {
            float *g = realloc(X, sizeof(float) * NB * (n + nf));
            if (!g) {
                s = mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory for %zu frames", paths[i], n + nf);
            } else {
                memcpy(g + n * NB, F, sizeof(float) * NB * nf);
                X = g;
                n += nf;
            }
            free(F);
        }
    }
    audio_analyser_free(a);
    mom_units *u = s ? NULL : units_new(codes);
    if (!s && !u) s = mom_fail(ctx, MOM_ERR_NOMEM, "units: out of memory for %d codes", codes);
    if (!s) {
        for (int m = 0; m < NB; m++) { /* two passes in double: 40 bands, exact enough for hours of frames */
            double sum = 0.0, sq = 0.0;
            for (size_t t = 0; t < n; t++) sum += X[t * NB + (size_t)m];
            const double mean = sum / (double)n;
            for (size_t t = 0; t < n; t++) sq += (X[t * NB + (size_t)m] - mean) * (X[t * NB + (size_t)m] - mean);
            u->mean[m] = (float)mean;
            u->std[m] = fmaxf((float)sqrt(sq / (double)n), 1e-3f);
        }
        for (size_t t = 0; t < n; t++)
            for (int m = 0; m < NB; m++) X[t * NB + (size_t)m] = (X[t * NB + (size_t)m] - u->mean[m]) / u->std[m];
        if (mom_kmeans(X, n, NB, codes, iters, seed, u->C))
            s = mom_fail(ctx, MOM_ERR_NOMEM, "units: out of memory for k-means on %zu frames", n);
    }
    free(X);
    if (s) mom_units_destroy(&u);
    *out = u;
    return s;
}

mom_status mom_units_save(mom_ctx *ctx, const mom_units *u, const char *path)
{
    if (!u || !path) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "units: save with NULL %s", u ? "path" : "units");
    st_write_tensor t[3] = {{"codes", ST_F32, 2, {u->codes, NB}, u->C},
                            {"mean", ST_F32, 1, {NB}, u->mean},
                            {"std", ST_F32, 1, {NB}, u->std}};
    st_meta meta[5];
    for (int i = 0; i < 5; i++) meta[i] = (st_meta){(char *)META[i][0], (char *)META[i][1]};
    char err[512];
    return st_write(path, t, 3, meta, 5, err, sizeof err) ? mom_fail(ctx, MOM_ERR_IO, "%s", err) : MOM_OK;
}

/* Copies tensor `name` (F32, ndim dims, the last one NB) into dst, checking
 * that every value is finite (and, with positive, > 0). */
static mom_status load_tensor(mom_ctx *ctx, const st_file *f, const char *path, const char *name, int ndim,
                              float *dst, int positive)
{
    const st_tensor_info *t = st_find(f, name);
    if (!t) return mom_fail(ctx, MOM_ERR_FORMAT, "%s: no tensor \"%s\"", path, name);
    if (t->dtype != ST_F32)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: tensor \"%s\" is %s, not F32", path, name, st_dtype_name(t->dtype));
    if (t->ndim != ndim || t->shape[ndim - 1] != NB) {
        char sh[96] = "[";
        for (int d = 0; d < t->ndim; d++)
            snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: tensor \"%s\" has shape %s], expected %s", path, name, sh,
                        ndim == 2 ? "[codes, 40]" : "[40]");
    }
    const size_t n = (size_t)(t->end - t->begin) / sizeof(float);
    memcpy(dst, f->data + t->begin, n * sizeof(float)); /* the data may sit unaligned */
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i]) || (positive && !(dst[i] > 0.0f)))
            return mom_fail(ctx, MOM_ERR_FORMAT, "%s: tensor \"%s\" element %zu is %g, must be %s", path, name, i,
                            (double)dst[i], positive ? "finite and > 0" : "finite");
    return MOM_OK;
}

mom_status mom_units_load(mom_ctx *ctx, const char *path, mom_units **out)
{
    if (!out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "units: NULL output");
    *out = NULL;
    if (!path) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "units: path is NULL");
    st_file f;
    mom_status os = codebook_open(ctx, path, &f);
    if (os) return os;
    mom_status s = MOM_OK;
    for (int i = 0; i < 5 && !s; i++) {
        const char *v = st_meta_get(&f, META[i][0]);
        if (!v || strcmp(v, META[i][1]))
            s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: metadata \"%s\" is %s%s%s, expected \"%s\"", path, META[i][0],
                         v ? "\"" : "", v ? v : "missing", v ? "\"" : "", META[i][1]);
    }
    const st_tensor_info *c = st_find(&f, "codes");
    const long long k = c && c->ndim == 2 ? (long long)c->shape[0] : 2; /* load_tensor reports other faults */
    if (!s && (k < 2 || k > MAX_CODES))
        s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: tensor \"codes\" has %lld codes, expected 2..%d", path, k, MAX_CODES);
    mom_units *u = s ? NULL : units_new((int)k);
    if (!s && !u) s = mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory for %lld codes", path, k);
    if (!s) s = load_tensor(ctx, &f, path, "codes", 2, u->C, 0);
    if (!s) s = load_tensor(ctx, &f, path, "mean", 1, u->mean, 0);
    if (!s) s = load_tensor(ctx, &f, path, "std", 1, u->std, 1);
    st_close(&f);
    if (s) mom_units_destroy(&u);
    *out = u;
    return s;
}

mom_status mom_units_encode_file(mom_ctx *ctx, const mom_units *u, const char *path, int32_t **units,
                                 size_t *n_units)
{
    if (units) *units = NULL;
    if (n_units) *n_units = 0;
    if (!units || !n_units)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "units: encode with NULL %s", units ? "n_units" : "units");
    if (!u || !path)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "units: encode with NULL %s", u ? "path" : "units codebook");
    float *F = NULL, x[NB];
    size_t nf = 0, n = 0;
    mom_status s = mom_audio_logmel(ctx, path, &F, &nf);
    if (s) return s;
    int32_t *out = malloc(sizeof(int32_t) * nf);
    if (!out) {
        free(F);
        return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory for %zu units", path, nf);
    }
    for (size_t t = 0; t < nf; t++) {
        for (int m = 0; m < NB; m++) x[m] = (F[t * NB + (size_t)m] - u->mean[m]) / u->std[m];
        const int32_t c = mom_kmeans_nearest(u->C, u->codes, NB, x);
        if (n == 0 || out[n - 1] != c) out[n++] = c;
    }
    free(F);
    *units = out;
    *n_units = n;
    return MOM_OK;
}

#else /* no audio libraries: every entry point says so */

#define NO_AUDIO "this build has no audio support (libsndfile, libsamplerate, fftw3f)"

mom_status mom_audio_logmel(mom_ctx *ctx, const char *path, float **frames, size_t *n_frames)
{
    if (frames) *frames = NULL;
    if (n_frames) *n_frames = 0;
    return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "%s: " NO_AUDIO, path ? path : "audio");
}

mom_status mom_units_train(mom_ctx *ctx, const char *const *paths, size_t n_paths, int codes, int iters,
                           uint64_t seed, mom_units **out)
{
    (void)paths, (void)n_paths, (void)codes, (void)iters, (void)seed;
    if (out) *out = NULL;
    return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "units: " NO_AUDIO);
}

mom_status mom_units_save(mom_ctx *ctx, const mom_units *u, const char *path)
{
    (void)u;
    return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "%s: " NO_AUDIO, path ? path : "units");
}

mom_status mom_units_load(mom_ctx *ctx, const char *path, mom_units **out)
{
    if (out) *out = NULL;
    return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "%s: " NO_AUDIO, path ? path : "units");
}

void mom_units_destroy(mom_units **u)
{
    if (u) *u = NULL; /* none can exist in this build */
}

int mom_units_codes(const mom_units *u) { return (void)u, 0; }

mom_status mom_units_encode_file(mom_ctx *ctx, const mom_units *u, const char *path, int32_t **units,
                                 size_t *n_units)
{
    (void)u;
    if (units) *units = NULL;
    if (n_units) *n_units = 0;
    return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "%s: " NO_AUDIO, path ? path : "units");
}

#endif

/* The old name, for one release (mom_data.h). */
void mom_units_free(mom_units **u) { mom_units_destroy(u); }
