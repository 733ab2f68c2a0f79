/* RMSNorm and the embedding lookup, AVX-512: 16 features per zmm, masked
 * tails. Sums over tokens (embedding and RMSNorm weight gradients) run in
 * token order per column, each thread owning a span of columns, so they are
 * bit-identical to the scalar reference for any thread count. */
#include <math.h>

#include "column_span.h"
#include "kernels_avx512.h"
#include "vexp_avx512.h"

/* out[t,:] = table[tok[t],:]. */
void mom_embed_fwd_avx512(int T, int D, const int32_t *tok, const float *table, float *out)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *src = table + (size_t)tok[t] * D;
        float *dst = out + (size_t)t * D;
        int d = 0;
        for (; d + 16 <= D; d += 16) _mm512_storeu_ps(dst + d, _mm512_loadu_ps(src + d));
        if (d < D) {
            const __mmask16 m = mom_mask16(D - d);
            _mm512_mask_storeu_ps(dst + d, m, _mm512_maskz_loadu_ps(m, src + d));
        }
    }
}

/* Repeated tokens make rows collide, so the parallel split is over columns:
 * each element still sums in token order, exactly as the reference does. */
void mom_embed_bwd_avx512(int T, int D, const int32_t *tok, const float *dout, float *dtable)
{
#pragma omp parallel
    {
        int c0, c1;
        mom_column_span(D, &c0, &c1);
        for (int t = 0; c0 < c1 && t < T; t++) {
            float *row = dtable + (size_t)tok[t] * D;
            const float *g = dout + (size_t)t * D;
            for (int c = c0; c < c1; c += 16) {
                const __mmask16 m = mom_mask16(c1 - c);
                const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, row + c), _mm512_maskz_loadu_ps(m, g + c));
                _mm512_mask_storeu_ps(row + c, m, v);
            }
        }
    }
}

/* Sum of the 16 lanes, pairwise. */
static inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

void mom_rmsnorm_fwd_avx512(int T, int D, const float *x, const float *w, float eps, float *out,
                            float *rstd)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * D;
        float *ot = out + (size_t)t * D;
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
        int d = 0;
        for (; d + 32 <= D; d += 32) {
            const __m512 a = _mm512_loadu_ps(xt + d), b = _mm512_loadu_ps(xt + d + 16);
            s0 = _mm512_fmadd_ps(a, a, s0);
            s1 = _mm512_fmadd_ps(b, b, s1);
        }
        for (; d < D; d += 16) {
            const __m512 a = _mm512_maskz_loadu_ps(mom_mask16(D - d), xt + d);
            s0 = _mm512_fmadd_ps(a, a, s0);
        }
        const float ss = hsum(_mm512_add_ps(s0, s1));
        const float r = 1.0f / sqrtf(ss / (float)D + eps);
        rstd[t] = r;
        const __m512 rv = _mm512_set1_ps(r);
        for (d = 0; d < D; d += 16) {
            const __mmask16 m = mom_mask16(D - d);
            const __m512 o = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, xt + d), rv),
                                           _mm512_maskz_loadu_ps(m, w + d));
            _mm512_mask_storeu_ps(ot + d, m, o);
        }
    }
}

/* zmm accumulators of dw per span: 8 of the 32 registers. */
#define DW_BLOCKS 8

/* dx += r (w g) - x r^3 / D * sum(w g x) per token; dw += sum_t g x r. */
void mom_rmsnorm_bwd_avx512(int T, int D, const float *x, const float *w, const float *rstd,
                            const float *dout, float *dx, float *dw)
{
#pragma omp parallel
    {
#pragma omp for schedule(static) nowait
        for (int t = 0; t < T; t++) {
            const float *xt = x + (size_t)t * D;
            const float *gt = dout + (size_t)t * D;
            float *dxt = dx + (size_t)t * D;
            const float r = rstd[t];
            __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
            int d = 0;
            for (; d + 32 <= D; d += 32) {
                s0 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(w + d), _mm512_loadu_ps(gt + d)),
                                     _mm512_loadu_ps(xt + d), s0);
                s1 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(w + d + 16), _mm512_loadu_ps(gt + d + 16)),
                                     _mm512_loadu_ps(xt + d + 16), s1);
            }
            for (; d < D; d += 16) {
                const __mmask16 m = mom_mask16(D - d);
                s0 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, w + d), _mm512_maskz_loadu_ps(m, gt + d)),
                                     _mm512_maskz_loadu_ps(m, xt + d), s0);
            }
            const float dot = hsum(_mm512_add_ps(s0, s1));
            const float c = dot * r * r * r / (float)D;
            const __m512 rv = _mm512_set1_ps(r), cv = _mm512_set1_ps(c);
            for (d = 0; d < D; d += 16) {
                const __mmask16 m = mom_mask16(D - d);
                const __m512 a = _mm512_mul_ps(_mm512_mul_ps(rv, _mm512_maskz_loadu_ps(m, w + d)),
                                               _mm512_maskz_loadu_ps(m, gt + d));
                const __m512 v = _mm512_sub_ps(a, _mm512_mul_ps(cv, _mm512_maskz_loadu_ps(m, xt + d)));
                _mm512_mask_storeu_ps(dxt + d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dxt + d), v));
            }
        }
        /* dx and dw are disjoint, so no barrier between the two loops.
         * dw[c] += (g x) r over tokens in order, the reference's order, in
         * spans of DW_BLOCKS zmm that stay in registers over all tokens
         * (through memory, each token's add waited on the last one's store). */
        int c0, c1;
        mom_column_span(D, &c0, &c1);
        for (int s0 = c0; s0 < c1; s0 += 16 * DW_BLOCKS) {
            const int nb = (c1 - s0 + 15) / 16 < DW_BLOCKS ? (c1 - s0 + 15) / 16 : DW_BLOCKS;
            __m512 acc[DW_BLOCKS];
            for (int j = 0; j < nb; j++) acc[j] = _mm512_maskz_loadu_ps(mom_mask16(c1 - s0 - 16 * j), dw + s0 + 16 * j);
            for (int t = 0; t < T; t++) {
                const float *xt = x + (size_t)t * D + s0;
                const float *gt = dout + (size_t)t * D + s0;
                const __m512 r = _mm512_set1_ps(rstd[t]);
                for (int j = 0; j < nb; j++) {
                    const __mmask16 m = mom_mask16(c1 - s0 - 16 * j);
                    const __m512 gx = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, gt + 16 * j),
                                                    _mm512_maskz_loadu_ps(m, xt + 16 * j));
                    acc[j] = _mm512_add_ps(acc[j], _mm512_mul_ps(gx, r));
                }
            }
            for (int j = 0; j < nb; j++) _mm512_mask_storeu_ps(dw + s0 + 16 * j, mom_mask16(c1 - s0 - 16 * j), acc[j]);
        }
    }
}
