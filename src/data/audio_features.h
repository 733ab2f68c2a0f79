/* What speech analysis (audio_units.c) and synthesis (audio_synth.c) share:
 * the frame constants, the units codebook, and the analyser that holds the
 * Hann window, the mel filterbank and an FFTW plan. The semantics are those
 * of the top comment of audio_units.c. Internal; audio builds only. */
#ifndef MOM_AUDIO_FEATURES_H
#define MOM_AUDIO_FEATURES_H

#include <pthread.h>

#include <fftw3.h>

#include "mom_data.h"

enum { SR = 16000, WIN = 400, HOP = 320, NFFT = 512, NBIN = NFFT / 2 + 1, NB = MOM_MEL_BANDS };

struct mom_units {
    int codes;
    float *C;                /* [codes, NB], in normalised units */
    float mean[NB], std[NB]; /* of the training frames, per band */
};

/* FFTW's planner is not thread-safe, and contexts may run in threads of
 * their own: planning and destroying plans is serialised. */
extern pthread_mutex_t audio_plan_lock;

/* What one call needs to turn samples into frames: made once per call. */
typedef struct analyser {
    fftwf_plan plan;
    float *in;          /* [NFFT] the windowed frame, zero-padded */
    fftwf_complex *out; /* [NBIN] */
    float window[WIN];
    float fb[NB][NBIN]; /* filter weights */
    int k0[NB], k1[NB]; /* filter m is nonzero on bins k0[m] .. k1[m]-1 */
} analyser;

/* NULL when out of memory; free accepts NULL. */
analyser *audio_analyser_new(void);
void audio_analyser_free(analyser *a);

#endif
