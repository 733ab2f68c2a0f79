/* mom_audio_logmel (libsndfile, libsamplerate, the log-mel analysis) on
 * arbitrary bytes: WAV mostly, but whatever libsndfile recognises. Every
 * frame that comes back is finite. */
#include <math.h>

#include "fuzz_util.h"

#include "mom_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mom_ctx *ctx = fuzz_ctx();
    const char *path = fuzz_file(data, size);
    float *frames = NULL;
    size_t n = 0;
    if (fuzz_status("mom_audio_logmel", mom_audio_logmel(ctx, path, &frames, &n)) == MOM_OK) {
        FUZZ_CHECK(frames && n >= 1);
        for (size_t i = 0; i < n * MOM_MEL_BANDS; i++) FUZZ_CHECK(isfinite(frames[i]));
    } else {
        FUZZ_CHECK(!frames && mom_ctx_last_error(ctx)[0] != '\0');
    }
    free(frames);
    return 0;
}
