/* mom_image_load (stb_image, then the resize) on arbitrary bytes, to one
 * of two grids the importers use: gray 8 x 8 for an input of even length,
 * RGB 16 x 16 for odd (one decode an input: a 4096 x 4096 image, the
 * largest there may be, takes seconds under the sanitizers). Every pixel
 * that comes back is in [0, 1]. */
#include "fuzz_util.h"

#include "mom_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mom_ctx *ctx = fuzz_ctx();
    const char *path = fuzz_file(data, size);
    static float px[16 * 16 * 3];
    const int grids[2][2] = {{8, 1}, {16, 3}};
    const int sz = grids[size % 2][0], ch = grids[size % 2][1];
    if (fuzz_status("mom_image_load", mom_image_load(ctx, path, sz, ch, px)) != MOM_OK) {
        FUZZ_CHECK(mom_ctx_last_error(ctx)[0] != '\0');
        return 0;
    }
    for (int i = 0; i < sz * sz * ch; i++) FUZZ_CHECK(px[i] >= 0.0f && px[i] <= 1.0f);
    return 0;
}
