/* Resizing decoded images to the tokenizer's grid. */
#ifndef MOM_IMAGE_RESIZE_H
#define MOM_IMAGE_RESIZE_H

#include "mom.h"

/* src (h, w, channels) floats -> dst (size, size, channels), each axis by a
 * triangle (tent) filter: bilinear when enlarging, a tent as wide as the
 * ratio when shrinking, edges clamped, weights normalised per output pixel
 * (a constant image stays constant; outputs are convex combinations of
 * inputs). MOM_ERR_NOMEM when the intermediate rows cannot be allocated,
 * MOM_ERR_INVALID_ARG for a size or dimension below 1. */
mom_status mom_image_resize(const float *src, int w, int h, int channels, float *dst, int size);

#endif
