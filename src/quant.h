/* Quantized weights: the formats' arithmetic on rows of a [rows, K] weight
 * (PyTorch Linear layout), with no model knowledge. Internal.
 *
 *   q8: int8 values in [-127, 127], one fp32 scale per row:
 *       w = q * scale, scale = max |w| / 127 over the row.
 *   q4: one fp32 scale per group of 32 along K (the last group may be
 *       short): w = q * scale, q in [-8, 7] (the quantizer writes
 *       [-7, 7]), scale = max |w| / 7 over the group. A row is
 *       ceil(K / 2) bytes (a group of 32 is 16 of them; a short last
 *       group takes only the bytes it needs): byte j holds value 2j in
 *       its low nibble and 2j + 1 in its high one, each as q + 8, and
 *       with K odd the last high nibble holds 8 (zero).
 * A scale is finite, >= 0 and at most FLT_MAX / 128 (so no value times it
 * overflows), and 0 only where its row or group is all zero. Rounding is
 * to nearest, ties to even, so the same weights give the same bytes
 * everywhere. */
#ifndef MOM_QUANT_H
#define MOM_QUANT_H

#include <stddef.h>
#include <stdint.h>

#define QUANT_GROUP 32 /* q4's group along K */

/* Bytes of quantized values and number of scales of a [rows, K] weight. */
int64_t quant_row_bytes(int format, int64_t K);
int64_t quant_row_scales(int format, int64_t K);

/* Quantizes rows of w (finite) into q (rows x quant_row_bytes) and scale
 * (rows x quant_row_scales). */
void quant_rows(int format, const float *w, int64_t rows, int64_t K, uint8_t *q, float *scale);
/* The values q and scale stand for. */
void dequant_rows(int format, const uint8_t *q, const float *scale, int64_t rows, int64_t K, float *w);
/* Whether q and scale could have come from quant_rows: -1 if so, else the
 * row at fault, with why (cap bytes) saying what is wrong. */
int64_t quant_check(int format, const uint8_t *q, const float *scale, int64_t rows, int64_t K, char *why, size_t cap);

#endif
