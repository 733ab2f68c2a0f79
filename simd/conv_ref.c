/* Causal depthwise conv1d followed by SiLU, scalar reference.
 * x (B, L, D) row stride ldx, w (D, K) = PyTorch's (D, 1, K), b (D). */
#include <math.h>

#include "kernels.h"

static inline float conv_pre(int L, int D, int K, const float *xb, int ldx, const float *w,
                             const float *b, int t, int d)
{
    (void)L; (void)D;
    float s = b[d];
    for (int k = 0; k < K; k++) {
        int tt = t - (K - 1) + k;
        if (tt >= 0) s += w[(size_t)d * K + k] * xb[(size_t)tt * ldx + d];
    }
    return s;
}

void mom_conv_silu_fwd_ref(int B, int L, int D, int K, const float *x, int ldx, const float *w,
                           const float *b, float *out)
{
#pragma omp parallel for schedule(static)
    for (int bi = 0; bi < B; bi++) {
        const float *xb = x + (size_t)bi * L * ldx;
        float *ob = out + (size_t)bi * L * D;
        for (int t = 0; t < L; t++)
            for (int d = 0; d < D; d++) {
                float p = conv_pre(L, D, K, xb, ldx, w, b, t, d);
                ob[(size_t)t * D + d] = p / (1.0f + expf(-p));
            }
    }
}

/* silu'(p) = sig(p) (1 + p (1 - sig(p))). The pre-activation is recomputed. */
void mom_conv_silu_bwd_ref(int B, int L, int D, int K, const float *x, int ldx, const float *w,
                           const float *b, const float *dout, float *dx, int lddx, float *dw,
                           float *db)
{
    for (int bi = 0; bi < B; bi++) {
        const float *xb = x + (size_t)bi * L * ldx;
        const float *gb = dout + (size_t)bi * L * D;
        float *dxb = dx + (size_t)bi * L * lddx;
        for (int t = 0; t < L; t++)
            for (int d = 0; d < D; d++) dxb[(size_t)t * lddx + d] = 0.0f;
        for (int t = 0; t < L; t++)
            for (int d = 0; d < D; d++) {
                float p = conv_pre(L, D, K, xb, ldx, w, b, t, d);
                float sg = 1.0f / (1.0f + expf(-p));
                float g = gb[(size_t)t * D + d] * sg * (1.0f + p * (1.0f - sg));
                db[d] += g;
                for (int k = 0; k < K; k++) {
                    int tt = t - (K - 1) + k;
                    if (tt < 0) continue;
                    dw[(size_t)d * K + k] += g * xb[(size_t)tt * ldx + d];
                    dxb[(size_t)tt * lddx + d] += g * w[(size_t)d * K + k];
                }
            }
    }
}
