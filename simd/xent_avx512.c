/* Cross-entropy over the vocabulary with its gradient, AVX-512, 16 logits
 * per zmm. The sum of exp runs in double lanes, as the reference's double sum;
 * the gradient is exp(l - lse) * scale, the reference's formula. */
#include <math.h>

#include "kernels_avx512.h"
#include "vexp_avx512.h"

static inline __m512d add_exp_pd(__m512d acc, __m512 e)
{
    acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    return _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
}

void mom_xent_avx512(int T, int V, float *logits, const int32_t *targets, float scale, float *loss)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *l = logits + (size_t)t * V;
        const int32_t tg = targets[t];
        if (tg < 0) {
            loss[t] = 0.0f;
            if (scale != 0.0f)
                for (int v = 0; v < V; v += 16) _mm512_mask_storeu_ps(l + v, mom_mask16(V - v), _mm512_setzero_ps());
            continue;
        }
        /* Masked-off lanes read as -inf so they never win the max. */
        const __m512 ninf = _mm512_set1_ps(-INFINITY);
        __m512 mx0 = ninf, mx1 = ninf;
        int v = 0;
        for (; v + 32 <= V; v += 32) {
            mx0 = _mm512_max_ps(mx0, _mm512_loadu_ps(l + v));
            mx1 = _mm512_max_ps(mx1, _mm512_loadu_ps(l + v + 16));
        }
        for (; v < V; v += 16) mx0 = _mm512_max_ps(mx0, _mm512_mask_loadu_ps(ninf, mom_mask16(V - v), l + v));
        const float mx = _mm512_reduce_max_ps(_mm512_max_ps(mx0, mx1));
        const __m512 mxv = _mm512_set1_ps(mx);
        __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
        for (v = 0; v + 32 <= V; v += 32) {
            s0 = add_exp_pd(s0, mom_exp512(_mm512_sub_ps(_mm512_loadu_ps(l + v), mxv)));
            s1 = add_exp_pd(s1, mom_exp512(_mm512_sub_ps(_mm512_loadu_ps(l + v + 16), mxv)));
        }
        for (; v < V; v += 16) {
            const __mmask16 m = mom_mask16(V - v);
            const __m512 e = mom_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, l + v), mxv));
            s0 = add_exp_pd(s0, _mm512_maskz_mov_ps(m, e));
        }
        const double sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
        const float lse = mx + (float)log(sum);
        loss[t] = lse - l[tg];
        if (scale == 0.0f) continue;
        const __m512 lsev = _mm512_set1_ps(lse), sc = _mm512_set1_ps(scale);
        for (v = 0; v + 16 <= V; v += 16)
            _mm512_storeu_ps(l + v, _mm512_mul_ps(mom_exp512(_mm512_sub_ps(_mm512_loadu_ps(l + v), lsev)), sc));
        if (v < V) {
            const __mmask16 m = mom_mask16(V - v);
            _mm512_mask_storeu_ps(l + v, m,
                                  _mm512_mul_ps(mom_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, l + v), lsev)), sc));
        }
        l[tg] -= scale;
    }
}
