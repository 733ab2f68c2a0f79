/* Speech from units: a unit sequence back to a waveform, through the
 * codebook of audio_units.c (whose top comment fixes the features).
 *
 *  - spectra: unit c's log-mel frame is its code de-normalised,
 *    C[c] * std + mean; its mel energies exp(x) - 1e-6 (>= 0). The power
 *    spectrum starts as the filterbank's normalised transpose (each band's
 *    energy per unit of filter weight, spread over its bins) and is refined
 *    by multiplicative (Richardson-Lucy) updates toward the power spectrum
 *    whose mel energies are those: it stays >= 0 and undoes the blur of
 *    the overlapping filters. The magnitude is the square root.
 *  - frames: each unit is held for frames_per_unit 20 ms frames; n frames
 *    are (n - 1) * 320 + 400 samples, so the analysis finds n frames again.
 *  - phase: Griffin-Lim with the analysis window (400-sample Hann, 512-point
 *    FFT) at a synthesis hop of 64, 5 frames to each analysis frame (a
 *    320 hop overlaps windows by 80 samples only, too little for the phase
 *    to settle). Synthesis frame j, centred on sample 64 j + 200, takes the
 *    spectrum of the nearest analysis frame, round(j / 5): with an odd
 *    split no frame sits halfway, where rounding would shift every unit
 *    boundary (a split of 4 lost a tenth of the units that way). Inverse
 *    frames are windowed again and overlap-added with the window-square
 *    sum divided out. The initial phase is a fixed hash of frame and bin:
 *    the same units give the same bytes.
 *  - level: kept, since the units encode it (log energies, not only the
 *    spectrum's shape); the whole signal is scaled down only when some
 *    sample would clip.
 *  - file: 16 kHz mono 16-bit PCM WAV, written to PATH.tmp.<pid>, fsynced,
 *    renamed, the folder fsynced. */
#include "mom_build_config.h"

#include <stdlib.h>

#include "ctx.h"
#include "mom_data.h"

#if MOM_HAVE_AUDIO
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sndfile.h>

#include "audio_features.h"
#include "file_util.h"

enum {
    SYN_SPLIT = 5, /* synthesis frames per analysis frame: odd, see above */
    SYN_HOP = HOP / SYN_SPLIT,
    GL_ITERS = 48, /* where the tests' re-encoded units stop improving */
    RL_ITERS = 64, /* per code, on 40 x 257 weights: negligible */
    DEFAULT_FPU = 2,
    MAX_FPU = 100,
};
_Static_assert(HOP % SYN_SPLIT == 0, "synthesis frames must tile the analysis hop");

/* The magnitude spectrum [NBIN] whose mel energies are those of code [NB]
 * (normalised units) once de-normalised. */
static void code_magnitude(const analyser *a, const mom_units *u, const float *code, float *mag)
{
    double E[NB], band_w[NB] = {0}, bin_w[NBIN] = {0}, P[NBIN] = {0}, r[NB];
    for (int m = 0; m < NB; m++) {
        E[m] = fmax(exp((double)code[m] * u->std[m] + u->mean[m]) - 1e-6, 0.0);
        for (int k = a->k0[m]; k < a->k1[m]; k++) {
            band_w[m] += a->fb[m][k];
            bin_w[k] += a->fb[m][k];
        }
    }
    for (int m = 0; m < NB; m++)
        for (int k = a->k0[m]; k < a->k1[m]; k++) P[k] += a->fb[m][k] * E[m] / band_w[m];
    for (int k = 0; k < NBIN; k++) P[k] = bin_w[k] > 0.0 ? P[k] / bin_w[k] : 0.0; /* DC and 8 kHz lie in no band */
    for (int it = 0; it < RL_ITERS; it++) {
        for (int m = 0; m < NB; m++) {
            double e = 0.0;
            for (int k = a->k0[m]; k < a->k1[m]; k++) e += a->fb[m][k] * P[k];
            r[m] = e > 0.0 ? E[m] / e : 0.0;
        }
        double g[NBIN] = {0};
        for (int m = 0; m < NB; m++)
            for (int k = a->k0[m]; k < a->k1[m]; k++) g[k] += a->fb[m][k] * r[m];
        for (int k = 0; k < NBIN; k++) P[k] = bin_w[k] > 0.0 ? P[k] * g[k] / bin_w[k] : 0.0;
    }
    for (int k = 0; k < NBIN; k++) mag[k] = (float)sqrt(P[k]);
}

/* A fixed phase in [0, 2 pi) per frame and bin (splitmix64 of the pair). */
static float initial_phase(size_t j, int k)
{
    uint64_t z = (uint64_t)j * NBIN + (uint64_t)k + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)(2.0 * M_PI * (double)(z >> 11) / 9007199254740992.0);
}

/* What Griffin-Lim works on: the spectra, which frame takes which, and the
 * inverse FFT (a->out to a->in). */
typedef struct synth {
    analyser *a;
    fftwf_plan inverse;
    const float *mag;    /* [distinct codes, NBIN] */
    const int32_t *slot; /* [n_syn] row of mag for each synthesis frame */
    size_t n, n_syn;     /* samples, synthesis frames */
    const float *inv_wsum; /* [n] 1 / the window-square sum at each sample */
} synth;

/* One pass: y = the overlap-add of the target magnitudes with the phases of
 * x's frames (x NULL: the initial phases). */
static void synth_pass(const synth *s, const float *x, float *y)
{
    analyser *a = s->a;
    memset(y, 0, sizeof(float) * s->n);
    for (size_t j = 0; j < s->n_syn; j++) {
        const float *mag = s->mag + (size_t)s->slot[j] * NBIN, *seg = x ? x + j * SYN_HOP : NULL;
        if (seg) {
            for (int i = 0; i < WIN; i++) a->in[i] = seg[i] * a->window[i];
            memset(a->in + WIN, 0, sizeof(float) * (NFFT - WIN));
            fftwf_execute(a->plan);
        }
        for (int k = 0; k < NBIN; k++) {
            const float re = seg ? a->out[k][0] : 0.0f, im = seg ? a->out[k][1] : 0.0f, r = hypotf(re, im);
            const float ph = seg ? 0.0f : initial_phase(j, k); /* a silent bin of x keeps phase 0 */
            a->out[k][0] = r > 0.0f ? mag[k] * re / r : mag[k] * cosf(ph);
            a->out[k][1] = r > 0.0f ? mag[k] * im / r : mag[k] * sinf(ph);
        }
        fftwf_execute(s->inverse); /* a->out -> a->in, NFFT times the inverse */
        float *dst = y + j * SYN_HOP;
        for (int i = 0; i < WIN; i++) dst[i] += a->in[i] * a->window[i] * (1.0f / NFFT);
    }
    for (size_t i = 0; i < s->n; i++) y[i] *= s->inv_wsum[i];
}

/* Writes n samples in [-1, 1] as PATH.tmp.<pid>, fsynced, renamed to path. */
static mom_status write_wav(mom_ctx *ctx, const char *path, const float *y, size_t n)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: path too long", path);
    const int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    SF_INFO info = {.samplerate = SR, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open_fd(fd, SFM_WRITE, &info, 0);
    const char *step = NULL, *why = NULL;
    if (!sf) {
        step = "cannot start a WAV in";
        why = sf_strerror(NULL);
    } else {
        sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE); /* rounding at full scale saturates, never wraps */
        if (sf_writef_float(sf, y, (sf_count_t)n) != (sf_count_t)n) {
            step = "cannot write";
            why = sf_strerror(sf);
        }
        if (sf_close(sf) && !step) {
            step = "cannot finish";
            why = "libsndfile could not close it";
        }
    }
    if (!step && fsync(fd)) step = "cannot fsync";
    if (close(fd) && !step) step = "cannot close";
    if (!step && rename(tmp, path)) step = "cannot rename";
    if (!step && file_fsync_parent_dir(path)) step = "cannot fsync the folder of";
    const int e = errno;
    if (step) {
        unlink(tmp);
        return mom_fail(ctx, MOM_ERR_IO, "%s: %s %s: %s", path, step, tmp, why ? why : strerror(e));
    }
    return MOM_OK;
}

/* Every argument in range, before anything is made. */
static mom_status check_units(mom_ctx *ctx, const mom_units *u, const int32_t *units, size_t n_units,
                              int frames_per_unit, const char *path)
{
    if (n_units == 0) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: n_units is 0, no speech to write", path);
    if (frames_per_unit < 0 || frames_per_unit > MAX_FPU)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: frames_per_unit %d is outside 0..%d", path, frames_per_unit,
                        MAX_FPU);
    for (size_t i = 0; i < n_units; i++)
        if (units[i] < 0 || units[i] >= u->codes)
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "%s: unit %d at position %zu is not in [0, %d)", path,
                            (int)units[i], i, u->codes);
    /* the samples, (n_units * fpu - 1) * HOP + WIN floats, must have a size */
    const size_t fpu = frames_per_unit ? (size_t)frames_per_unit : DEFAULT_FPU;
    if (n_units > (SIZE_MAX / sizeof(float) - WIN) / HOP / fpu)
        return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory for %zu units", path, n_units);
    return MOM_OK;
}

mom_status mom_units_write_wav(mom_ctx *ctx, const mom_units *u, const int32_t *units, size_t n_units,
                               int frames_per_unit, const char *path)
{
    if (!u || !units || !path)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "units: write_wav with NULL %s",
                        !u ? "units codebook" : !units ? "units" : "path");
    mom_status s = check_units(ctx, u, units, n_units, frames_per_unit, path);
    if (s) return s;
    const size_t fpu = frames_per_unit ? (size_t)frames_per_unit : DEFAULT_FPU, n_frames = n_units * fpu;
    const size_t n = (n_frames - 1) * HOP + WIN, n_syn = (n - WIN) / SYN_HOP + 1;
    analyser *a = audio_analyser_new();
    int32_t *code_slot = malloc(sizeof(int32_t) * (size_t)u->codes), *slot = malloc(sizeof(int32_t) * n_syn);
    float *mag = NULL, *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n),
          *inv_wsum = malloc(sizeof(float) * n);
    synth sy = {a, NULL, NULL, slot, n, n_syn, inv_wsum};
    size_t n_distinct = 0;
    if (a && code_slot && slot && x && y && inv_wsum) {
        for (int c = 0; c < u->codes; c++) code_slot[c] = -1;
        for (size_t i = 0; i < n_units; i++)
            if (code_slot[units[i]] < 0) code_slot[units[i]] = (int32_t)n_distinct++;
        mag = malloc(sizeof(float) * NBIN * n_distinct);
        pthread_mutex_lock(&audio_plan_lock);
        sy.inverse = fftwf_plan_dft_c2r_1d(NFFT, a->out, a->in, FFTW_ESTIMATE);
        pthread_mutex_unlock(&audio_plan_lock);
    }
    if (!mag || !sy.inverse) {
        s = mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory for %zu units (%zu samples)", path, n_units, n);
    } else {
        for (int c = 0; c < u->codes; c++)
            if (code_slot[c] >= 0) code_magnitude(a, u, u->C + (size_t)c * NB, mag + (size_t)code_slot[c] * NBIN);
        for (size_t j = 0; j < n_syn; j++) {
            const size_t t = (j + SYN_SPLIT / 2) / SYN_SPLIT; /* the analysis frame nearest synthesis frame j */
            slot[j] = code_slot[units[t / fpu]];
        }
        memset(x, 0, sizeof(float) * n);
        for (size_t j = 0; j < n_syn; j++)
            for (int i = 0; i < WIN; i++) x[j * SYN_HOP + (size_t)i] += a->window[i] * a->window[i];
        /* The first and last samples lie under window tails only: a floor
         * keeps them from being divided up into noise. */
        for (size_t i = 0; i < n; i++) inv_wsum[i] = 1.0f / fmaxf(x[i], 0.1f);
        sy.mag = mag;
        synth_pass(&sy, NULL, y);
        for (int it = 0; it < GL_ITERS; it++) {
            float *t = x;
            x = y;
            y = t;
            synth_pass(&sy, x, y);
        }
        float peak = 0.0f;
        for (size_t i = 0; i < n; i++) peak = fmaxf(peak, fabsf(y[i]));
        if (peak > 1.0f)
            for (size_t i = 0; i < n; i++) y[i] /= peak;
        s = write_wav(ctx, path, y, n);
    }
    if (sy.inverse) {
        pthread_mutex_lock(&audio_plan_lock);
        fftwf_destroy_plan(sy.inverse);
        pthread_mutex_unlock(&audio_plan_lock);
    }
    audio_analyser_free(a);
    free(code_slot);
    free(slot);
    free(mag);
    free(x);
    free(y);
    free(inv_wsum);
    return s;
}

#else /* no audio libraries */

mom_status mom_units_write_wav(mom_ctx *ctx, const mom_units *u, const int32_t *units, size_t n_units,
                               int frames_per_unit, const char *path)
{
    (void)u, (void)units, (void)n_units, (void)frames_per_unit;
    return mom_fail(ctx, MOM_ERR_UNSUPPORTED,
                    "%s: this build has no audio support (libsndfile, libsamplerate, fftw3f)", path ? path : "units");
}

#endif
