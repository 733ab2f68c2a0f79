/* AdamW, AVX-512: the arithmetic of adamw_ref (torch.optim.AdamW,
 * single-tensor, fp32) operation for operation, without fma, so it matches
 * the reference bit for bit (sqrt and div are correctly rounded in both). */
#include <math.h>

#include "kernels_avx512.h"
#include "vexp_avx512.h"

/* Elements per work item. */
#define ADAMW_BLOCK 4096

void mom_adamw_avx512(size_t n, float *p, const float *g, float *m, float *v, float gscale,
                      float lr, float b1, float b2, float eps, float wd, int64_t step)
{
    const double bc1 = 1.0 - pow((double)b1, (double)step);
    const double bc2 = 1.0 - pow((double)b2, (double)step);
    const __m512 step_size = _mm512_set1_ps((float)((double)lr / bc1));
    const __m512 bc2_sqrt = _mm512_set1_ps((float)sqrt(bc2));
    const __m512 decay = _mm512_set1_ps(1.0f - lr * wd);
    const __m512 omb1 = _mm512_set1_ps(1.0f - b1), omb2 = _mm512_set1_ps(1.0f - b2);
    const __m512 b2v = _mm512_set1_ps(b2), gs = _mm512_set1_ps(gscale), epsv = _mm512_set1_ps(eps);
    const int decays = wd != 0.0f;
    const size_t nb = (n + ADAMW_BLOCK - 1) / ADAMW_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nb; blk++) {
        const size_t end = (blk + 1) * ADAMW_BLOCK < n ? (blk + 1) * ADAMW_BLOCK : n;
        for (size_t i = blk * ADAMW_BLOCK; i < end; i += 16) {
            const __mmask16 k = mom_mask16(end - i < 16 ? (int)(end - i) : 16);
            const __m512 gi = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, g + i), gs);
            __m512 pi = _mm512_maskz_loadu_ps(k, p + i);
            if (decays) pi = _mm512_mul_ps(pi, decay);
            __m512 mi = _mm512_maskz_loadu_ps(k, m + i);
            mi = _mm512_add_ps(mi, _mm512_mul_ps(_mm512_sub_ps(gi, mi), omb1));
            __m512 vi = _mm512_maskz_loadu_ps(k, v + i);
            vi = _mm512_add_ps(_mm512_mul_ps(vi, b2v), _mm512_mul_ps(_mm512_mul_ps(omb2, gi), gi));
            const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2_sqrt), epsv);
            pi = _mm512_sub_ps(pi, _mm512_mul_ps(step_size, _mm512_div_ps(mi, denom)));
            _mm512_mask_storeu_ps(m + i, k, mi);
            _mm512_mask_storeu_ps(v + i, k, vi);
            _mm512_mask_storeu_ps(p + i, k, pi);
        }
    }
}
