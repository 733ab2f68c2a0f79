/* Causal depthwise conv1d followed by SiLU, scalar reference.
 * x: position (b, t) at row mom_row(rows, b, L, t), stride ldx; w (D, K) =
 * PyTorch's (D, 1, K); b (D). */
#include <math.h>

#include "kernels.h"

/* Input x at time tt of batch row bi, channel d: the row mom_row(rows, bi, L, tt)
 * for tt >= 0; before t = 0 the history (row K - 1 + tt of bi's), or 0
 * without one. */
static inline float conv_in(int L, int K, const int32_t *rows, const float *x, int ldx, const float *hist,
                            int D, int bi, int tt, int d)
{
    if (tt >= 0) return x[mom_row(rows, bi, L, tt) * ldx + d];
    return hist ? hist[((size_t)bi * (K - 1) + (size_t)(K - 1 + tt)) * D + d] : 0.0f;
}

static inline float conv_pre(int L, int D, int K, const int32_t *rows, const float *x, int ldx, const float *w,
                             const float *b, const float *hist, int bi, int t, int d)
{
    float s = b[d];
    for (int k = 0; k < K; k++) {
        int tt = t - (K - 1) + k;
        if (tt >= 0 || hist) s += w[(size_t)d * K + k] * conv_in(L, K, rows, x, ldx, hist, D, bi, tt, d);
    }
    return s;
}

void mom_conv_hist_push(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx, float *hist)
{
    for (int bi = 0; bi < B; bi++)
        /* j ascending: entry j reads x or the old entry j + L > j, not yet replaced. */
        for (int j = 0; j < K - 1; j++) {
            const int tt = L - (K - 1) + j;
            float *dst = hist + ((size_t)bi * (K - 1) + (size_t)j) * D;
            for (int d = 0; d < D; d++) dst[d] = conv_in(L, K, rows, x, ldx, hist, D, bi, tt, d);
        }
}

void mom_conv_silu_fwd_ref(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                           const float *w, const float *b, float *hist, float *out)
{
#pragma omp parallel for schedule(static)
    for (int bi = 0; bi < B; bi++)
        for (int t = 0; t < L; t++) {
            float *o = out + mom_row(rows, bi, L, t) * D;
            for (int d = 0; d < D; d++) {
                float p = conv_pre(L, D, K, rows, x, ldx, w, b, hist, bi, t, d);
                o[d] = p / (1.0f + expf(-p));
            }
        }
    if (hist) mom_conv_hist_push(B, L, D, K, rows, x, ldx, hist);
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
                float p = conv_pre(L, D, K, rows, x, ldx, w, b, NULL, bi, t, d);
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
