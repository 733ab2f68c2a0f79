/* AdamW over the lanes of vec.h: the arithmetic of adamw_ref.c, lane by
 * lane, in the same order (torch.optim.AdamW's single-tensor fp32 path). */
#include <math.h>

#include "vec.h"

static inline void adamw_lanes(float *p, const float *g, float *m, float *v, int k, float gscale, float decay,
                               int decays, float b1, float b2, float eps, float step_size, float bc2_sqrt)
{
    const vf gi = vload_n(g, k) * gscale;
    vf pv = vload_n(p, k), mv = vload_n(m, k), vv = vload_n(v, k);
    if (decays) pv = pv * decay;
    mv = mv + (gi - mv) * (1.0f - b1);
    vv = vv * b2 + (1.0f - b2) * gi * gi;
    vf root;
#if VW == 8
    root = _mm256_sqrt_ps(vv);
#else
    root = vsqrtq_f32(vv);
#endif
    const vf denom = root / bc2_sqrt + eps;
    pv = pv - step_size * (mv / denom);
    vstore_n(p, pv, k);
    vstore_n(m, mv, k);
    vstore_n(v, vv, k);
}

void VNAME(adamw)(size_t n, float *p, const float *g, float *m, float *v, float gscale, float lr, float b1,
                  float b2, float eps, float wd, int64_t step)
{
    const double bc1 = 1.0 - pow((double)b1, (double)step);
    const double bc2 = 1.0 - pow((double)b2, (double)step);
    const float step_size = (float)((double)lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = 1.0f - lr * wd;
    const int decays = wd != 0.0f;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += VW) {
        const int k = n - i < VW ? (int)(n - i) : VW;
        adamw_lanes(p + i, g + i, m + i, v + i, k, gscale, decay, decays, b1, b2, eps, step_size, bc2_sqrt);
    }
}
