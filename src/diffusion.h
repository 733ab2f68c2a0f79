/* The noising of a training batch's continuous images (src/diffusion.c). */
#ifndef MOM_DIFFUSION_H
#define MOM_DIFFUSION_H

#include <stddef.h>
#include <stdint.h>

#include "mom.h"

typedef struct diffusion_batch {
    int B, T, patch_dim, time_dim;
    const uint8_t *modality; /* [B*T] position order */
    const float *patches;    /* [B*T, patch_dim] x_0, position order */
    const int32_t *rows;     /* row of each position (src/route.c) */
    int image_row0;          /* the first row of the image slice */
    uint64_t seed;
    float low_t_fraction;
} diffusion_batch;

/* For every image (a run of image positions in a batch row; one timestep
 * each, uniform, or below 500 for low_t_fraction of them) writes, at the
 * image-slice row of each position: x_t [patch_dim], the noise eps
 * [patch_dim], the timestep features [time_dim] and (steps not NULL) the
 * timestep. The same seed gives the same draws. Returns the image count. */
int diffusion_noise_batch(const diffusion_batch *db, float *x_t, float *eps, float *tfeat, int *steps);

#endif
