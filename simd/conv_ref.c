/* Causal depthwise conv1d followed by SiLU, scalar reference.
 * x: position (b, t) at row mom_row(rows, b, L, t), stride ldx; w (D, K) =
 * PyTorch's (D, 1, K); b (D). */
#include <math.h>

#include "kernels.h"

static inline float conv_pre(int L, int K, const int32_t *rows, const float *x, int ldx, const float *w,
                             const float *b, int bi, int t, int d)
{
    float s = b[d];
    for (int k = 0; k < K; k++) {
        int tt = t - (K - 1) + k;
        if (tt >= 0) s += w[(size_t)d * K + k] * x[mom_row(rows, bi, L, tt) * ldx + d];
    }
    return s;
}

void mom_conv_silu_fwd_ref(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                           const float *w, const float *b, float *out)
{
#pragma omp parallel for schedule(static)
    for (int bi = 0; bi < B; bi++)
        for (int t = 0; t < L; t++) {
            float *o = out + mom_row(rows, bi, L, t) * D;
            for (int d = 0; d < D; d++) {
                float p = conv_pre(L, K, rows, x, ldx, w, b, bi, t, d);
                o[d] = p / (1.0f + expf(-p));
            }
        }
}

/* silu'(p) = sig(p) (1 + p (1 - sig(p))). The pre-activation is recomputed. */
void mom_conv_silu_bwd_ref(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                           const float *w, const float *b, const float *dout, float *dx, int lddx,
                           float *dw, float *db)
{
    for (int bi = 0; bi < B; bi++) {
        for (int t = 0; t < L; t++)
            for (int d = 0; d < D; d++) dx[mom_row(rows, bi, L, t) * lddx + d] = 0.0f;
        for (int t = 0; t < L; t++)
            for (int d = 0; d < D; d++) {
                float p = conv_pre(L, K, rows, x, ldx, w, b, bi, t, d);
                float sg = 1.0f / (1.0f + expf(-p));
                float g = dout[mom_row(rows, bi, L, t) * D + d] * sg * (1.0f + p * (1.0f - sg));
                db[d] += g;
                for (int k = 0; k < K; k++) {
                    int tt = t - (K - 1) + k;
                    if (tt < 0) continue;
                    const size_t r = mom_row(rows, bi, L, tt);
                    dw[(size_t)d * K + k] += g * x[r * ldx + d];
                    dx[r * lddx + d] += g * w[(size_t)d * K + k];
                }
            }
    }
}
