/* AdamW with the arithmetic of torch.optim.AdamW (single-tensor, fp32):
 *   p *= 1 - lr wd;  m = lerp(m, g, 1-b1);  v = b2 v + (1-b2) g^2
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)                  */
#include <math.h>

#include "kernels.h"

void mom_adamw_ref(size_t n, float *p, const float *g, float *m, float *v, float gscale,
                   float lr, float b1, float b2, float eps, float wd, int64_t step)
{
    const double bc1 = 1.0 - pow((double)b1, (double)step);
    const double bc2 = 1.0 - pow((double)b2, (double)step);
    const float step_size = (float)((double)lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = 1.0f - lr * wd;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i] * gscale;
        if (wd != 0.0f) p[i] *= decay;
        m[i] += (gi - m[i]) * (1.0f - b1);
        v[i] = v[i] * b2 + (1.0f - b2) * gi * gi;
        const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * (m[i] / denom);
    }
}
