/* Continuous image tokens (the Transfusion setting): pixels cut into the
 * p x p patches of a mom_patch_geometry and scaled from [0, 1] to [-1, 1],
 * and back. The patches are the codebook's (image_vq.c): patch t of the
 * (size/p) x (size/p) grid in raster order, each the vector (p, p,
 * channels) of its pixels, rows of the patch first. */
#include "ctx.h"
#include "mom_data.h"

#include <math.h>

static mom_status check_grid(mom_ctx *ctx, const char *what, const mom_patch_geometry *g)
{
    if (!g || g->patch_size < 1 || g->image_size < g->patch_size || g->image_size % g->patch_size || g->channels < 1 ||
        g->image_size > 16384 || (int64_t)g->patch_size * g->patch_size * g->channels > 65536)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                        "%s: patch geometry: patch %d, image %d, channels %d (image_size must be a multiple of patch_size "
                        "up to 16384, channels >= 1, patch_size^2 x channels <= 65536)",
                        what, g ? g->patch_size : 0, g ? g->image_size : 0, g ? g->channels : 0);
    return MOM_OK;
}

/* Offset in pixels of row y of patch t; a patch row is p * channels floats. */
static size_t patch_row(const mom_patch_geometry *g, int t, int y)
{
    const int grid = g->image_size / g->patch_size;
    return ((size_t)((t / grid) * g->patch_size + y) * (size_t)g->image_size + (size_t)(t % grid) * g->patch_size) *
           (size_t)g->channels;
}

mom_status mom_image_to_patches(mom_ctx *ctx, const mom_patch_geometry *g, const float *pixels, float *patches)
{
    if (!pixels || !patches) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_image_to_patches: pixels or patches is NULL");
    mom_status s = check_grid(ctx, "mom_image_to_patches", g);
    if (s) return s;
    const int n = mom_patches_per_image(g);
    const size_t row = (size_t)g->patch_size * (size_t)g->channels;
    for (int t = 0; t < n; t++)
        for (int y = 0; y < g->patch_size; y++) {
            const float *src = pixels + patch_row(g, t, y);
            float *dst = patches + ((size_t)t * (size_t)g->patch_size + (size_t)y) * row;
            for (size_t k = 0; k < row; k++) dst[k] = 2.0f * src[k] - 1.0f;
        }
    return MOM_OK;
}

mom_status mom_image_from_patches(mom_ctx *ctx, const mom_patch_geometry *g, const float *patches, float *pixels)
{
    if (!pixels || !patches) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_image_from_patches: pixels or patches is NULL");
    mom_status s = check_grid(ctx, "mom_image_from_patches", g);
    if (s) return s;
    const int n = mom_patches_per_image(g);
    const size_t row = (size_t)g->patch_size * (size_t)g->channels;
    for (int t = 0; t < n; t++)
        for (int y = 0; y < g->patch_size; y++) {
            const float *src = patches + ((size_t)t * (size_t)g->patch_size + (size_t)y) * row;
            float *dst = pixels + patch_row(g, t, y);
            for (size_t k = 0; k < row; k++) /* NaN becomes 0 */
                dst[k] = src[k] > -1.0f ? fminf((src[k] + 1.0f) * 0.5f, 1.0f) : 0.0f;
        }
    return MOM_OK;
}
