/* The codebook files on arbitrary bytes: mom_vq_load (image codes) and
 * mom_units_load (speech units), both safetensors. An image codebook that
 * loads is asked its sizes and, when its image is small (at most MAX_PIXELS
 * floats: a tiny valid file may claim 16384 x 16384 x 3, GBs to allocate,
 * which libFuzzer reports as OOM), encodes and decodes one image; a units
 * codebook that loads is asked its size. */
#include "fuzz_util.h"

#include "mom_data.h"

enum { MAX_PIXELS = 1 << 20 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mom_ctx *ctx = fuzz_ctx();
    const char *path = fuzz_file(data, size);
    mom_vq *vq = NULL;
    if (fuzz_status("mom_vq_load", mom_vq_load(ctx, path, &vq)) == MOM_OK) {
        const int sz = mom_vq_image_size(vq), ch = mom_vq_channels(vq), nt = mom_vq_tokens_per_image(vq);
        FUZZ_CHECK(sz >= 1 && (ch == 1 || ch == 3) && nt >= 1 && mom_vq_codes(vq) >= 2);
        FUZZ_CHECK((int64_t)nt <= (int64_t)sz * sz);
        const int small = (size_t)sz * sz * ch <= MAX_PIXELS;
        float *px = small ? calloc((size_t)sz * sz * ch, sizeof(float)) : NULL;
        int32_t *codes = small ? malloc(sizeof(int32_t) * (size_t)nt) : NULL;
        if (px && codes) {
            FUZZ_CHECK(mom_vq_encode(ctx, vq, px, codes) == MOM_OK);
            for (int i = 0; i < nt; i++) FUZZ_CHECK(codes[i] >= 0 && codes[i] < mom_vq_codes(vq));
            FUZZ_CHECK(mom_vq_decode(ctx, vq, codes, px) == MOM_OK);
        }
        free(px);
        free(codes);
        mom_vq_destroy(&vq);
    } else {
        FUZZ_CHECK(vq == NULL);
    }
    mom_units *u = NULL;
    if (fuzz_status("mom_units_load", mom_units_load(ctx, path, &u)) == MOM_OK) FUZZ_CHECK(mom_units_codes(u) >= 2);
    else FUZZ_CHECK(u == NULL);
    mom_units_destroy(&u);
    return 0;
}
