/* Quantized weights: q8 and q4 rows (src/quant.h). */
#include "quant.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

#include "mom.h"

static int64_t groups(int64_t K) { return (K + QUANT_GROUP - 1) / QUANT_GROUP; }

int64_t quant_row_bytes(int format, int64_t K)
{
    return format == MOM_WEIGHTS_Q8 ? K : format == MOM_WEIGHTS_Q4 ? (K + 1) / 2 : 0;
}

int64_t quant_row_scales(int format, int64_t K)
{
    return format == MOM_WEIGHTS_Q8 ? 1 : format == MOM_WEIGHTS_Q4 ? groups(K) : 0;
}

/* max |w| / qmax, and the factor that maps w to q (0 for an all-zero run). */
static float scale_of(const float *w, int64_t n, float qmax, float *inv)
{
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(w[i]));
    const float s = amax / qmax;
    *inv = s > 0.0f ? 1.0f / s : 0.0f;
    return s;
}

static int quantize(float w, float inv, float qmax)
{
    const float q = nearbyintf(w * inv); /* ties to even in the default rounding mode */
    return (int)fminf(fmaxf(q, -qmax), qmax);
}

void quant_rows(int format, const float *w, int64_t rows, int64_t K, uint8_t *q, float *scale)
{
    const int64_t rb = quant_row_bytes(format, K), rs = quant_row_scales(format, K);
    for (int64_t r = 0; r < rows; r++) {
        const float *wr = w + r * K;
        uint8_t *qr = q + r * rb;
        float *sr = scale + r * rs, inv;
        if (format == MOM_WEIGHTS_Q8) {
            sr[0] = scale_of(wr, K, 127.0f, &inv);
            for (int64_t k = 0; k < K; k++) qr[k] = (uint8_t)(int8_t)quantize(wr[k], inv, 127.0f);
            continue;
        }
        for (int64_t g = 0; g < rs; g++) {
            const int64_t k0 = g * QUANT_GROUP, n = K - k0 < QUANT_GROUP ? K - k0 : QUANT_GROUP;
            sr[g] = scale_of(wr + k0, n, 7.0f, &inv);
            for (int64_t j = 0; j < (n + 1) / 2; j++) {
                const int lo = 2 * j < n ? quantize(wr[k0 + 2 * j], inv, 7.0f) : 0;
                const int hi = 2 * j + 1 < n ? quantize(wr[k0 + 2 * j + 1], inv, 7.0f) : 0;
                qr[g * (QUANT_GROUP / 2) + j] = (uint8_t)((lo + 8) | (hi + 8) << 4);
            }
        }
    }
}

/* Value i of a q4 row. */
static int q4_at(const uint8_t *qr, int64_t i)
{
    const uint8_t b = qr[i / 2];
    return (i % 2 ? b >> 4 : b & 15) - 8;
}

void dequant_rows(int format, const uint8_t *q, const float *scale, int64_t rows, int64_t K, float *w)
{
    const int64_t rb = quant_row_bytes(format, K), rs = quant_row_scales(format, K);
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *qr = q + r * rb;
        const float *sr = scale + r * rs;
        for (int64_t k = 0; k < K; k++)
            w[r * K + k] = format == MOM_WEIGHTS_Q8 ? (float)(int8_t)qr[k] * sr[0]
                                                    : (float)q4_at(qr, k) * sr[k / QUANT_GROUP];
    }
}

int64_t quant_check(int format, const uint8_t *q, const float *scale, int64_t rows, int64_t K, char *why, size_t cap)
{
    const int64_t rb = quant_row_bytes(format, K), rs = quant_row_scales(format, K);
    const int64_t span = format == MOM_WEIGHTS_Q8 ? K : QUANT_GROUP;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *qr = q + r * rb;
        for (int64_t g = 0; g < rs; g++) {
            const float s = scale[r * rs + g];
            int nonzero = 0;
            for (int64_t i = g * span; i < (g + 1) * span && i < K; i++)
                nonzero |= format == MOM_WEIGHTS_Q8 ? qr[i] != 0 : q4_at(qr, i) != 0;
            /* Bounded so that no value times it overflows (|q| <= 128). */
            if (!isfinite(s) || s < 0.0f || s > FLT_MAX / 128.0f || (nonzero && s == 0.0f)) {
                snprintf(why, cap, "scale %lld is %g; a scale is finite, > 0 and at most FLT_MAX / 128, or 0 for an "
                         "all-zero %s", (long long)g, (double)s, format == MOM_WEIGHTS_Q8 ? "row" : "group");
                return r;
            }
        }
        for (int64_t i = 0; format == MOM_WEIGHTS_Q8 && i < K; i++)
            if ((int8_t)qr[i] == -128) {
                snprintf(why, cap, "value %lld is -128, outside [-127, 127]", (long long)i);
                return r;
            }
        for (int64_t i = K; format == MOM_WEIGHTS_Q4 && i < 2 * rb; i++) /* the last high nibble, K odd */
            if (q4_at(qr, i)) {
                snprintf(why, cap, "place %lld, past the %lld inputs, holds %d, not 0", (long long)i, (long long)K,
                         q4_at(qr, i));
                return r;
            }
    }
    return -1;
}
