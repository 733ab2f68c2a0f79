/* Causal depthwise conv1d + SiLU over the lanes of vec.h, channels across
 * the lanes. The pre-activation adds the taps in the reference's order and
 * arithmetic (the same bits); the SiLU uses vec.h's exp. The weights are
 * read transposed, (K, D), so a tap of VW channels is one load. */
#include <stdlib.h>

#include "column_span.h"
#include "vec.h"

#define MAX_K 16 /* config validation keeps d_conv at most this */

/* The input at time tt of batch row bi, channels [d, d + n): x's row for tt
 * >= 0, else the history's (or zeros without one). */
static inline vf conv_in(int L, int K, int D, const int32_t *rows, const float *x, int ldx, const float *hist,
                         int bi, int tt, int d, int n)
{
    if (tt >= 0) return vload_n(x + mom_row(rows, bi, L, tt) * ldx + d, n);
    if (!hist) return vset1(0.0f);
    return vload_n(hist + ((size_t)bi * (K - 1) + (size_t)(K - 1 + tt)) * D + d, n);
}

/* b[d] + sum_k w[d,k] x[t-K+1+k, d], k ascending, as conv_ref.c. */
static inline vf conv_pre(int L, int K, int D, const int32_t *rows, const float *x, int ldx, const float *wT,
                          const float *b, const float *hist, int bi, int t, int d, int n)
{
    vf s = vload_n(b + d, n);
    for (int k = 0; k < K; k++) {
        const int tt = t - (K - 1) + k;
        if (tt >= 0 || hist)
            s = s + vload_n(wT + (size_t)k * D + d, n) * conv_in(L, K, D, rows, x, ldx, hist, bi, tt, d, n);
    }
    return s;
}

static float *transposed(int D, int K, const float *w)
{
    float *wT = malloc(sizeof(float) * (size_t)D * K);
    if (wT)
        for (int d = 0; d < D; d++)
            for (int k = 0; k < K; k++) wT[(size_t)k * D + d] = w[(size_t)d * K + k];
    return wT;
}

void VNAME(conv_silu_fwd)(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                          const float *w, const float *b, float *hist, float *out)
{
    float *wT = K <= MAX_K ? transposed(D, K, w) : NULL;
    if (!wT) { /* (out of memory: the reference needs none) */
        mom_conv_silu_fwd_ref(B, L, D, K, rows, x, ldx, w, b, hist, out);
        return;
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int bi = 0; bi < B; bi++)
        for (int t = 0; t < L; t++) {
            float *o = out + mom_row(rows, bi, L, t) * D;
            for (int d = 0; d < D; d += VW) {
                const int n = D - d < VW ? D - d : VW;
                const vf p = conv_pre(L, K, D, rows, x, ldx, wT, b, hist, bi, t, d, n);
                vstore_n(o + d, p * vsigmoid(p), n);
            }
        }
    free(wT);
    if (hist) mom_conv_hist_push(B, L, D, K, rows, x, ldx, hist);
}

/* Each thread owns a span of channels and walks every (b, t) in order, so
 * dw, db and dx add up in the reference's order. */
void VNAME(conv_silu_bwd)(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                          const float *w, const float *b, const float *dout, float *dx, int lddx, float *dw,
                          float *db)
{
    float *wT = K <= MAX_K ? transposed(D, K, w) : NULL, *dwT = K <= MAX_K ? transposed(D, K, dw) : NULL;
    if (!wT || !dwT) {
        free(wT);
        free(dwT);
        mom_conv_silu_bwd_ref(B, L, D, K, rows, x, ldx, w, b, dout, dx, lddx, dw, db);
        return;
    }
#pragma omp parallel
    {
        int c0, c1;
        mom_column_span(D, &c0, &c1);
        for (int bi = 0; c0 < c1 && bi < B; bi++) {
            for (int t = 0; t < L; t++) memset(dx + mom_row(rows, bi, L, t) * lddx + c0, 0, sizeof(float) * (size_t)(c1 - c0));
            for (int t = 0; t < L; t++)
                for (int d = c0; d < c1; d += VW) {
                    const int n = c1 - d < VW ? c1 - d : VW;
                    const vf p = conv_pre(L, K, D, rows, x, ldx, wT, b, NULL, bi, t, d, n);
                    const vf sg = vsigmoid(p);
                    const vf g = vload_n(dout + mom_row(rows, bi, L, t) * D + d, n) * sg * (1.0f + p * (1.0f - sg));
                    vstore_n(db + d, vload_n(db + d, n) + g, n);
                    for (int k = 0; k < K; k++) {
                        const int tt = t - (K - 1) + k;
                        if (tt < 0) continue;
                        const size_t r = mom_row(rows, bi, L, tt);
                        float *dwk = dwT + (size_t)k * D + d, *dxr = dx + r * lddx + d;
                        vstore_n(dwk, vload_n(dwk, n) + g * vload_n(x + r * ldx + d, n), n);
                        vstore_n(dxr, vload_n(dxr, n) + g * vload_n(wT + (size_t)k * D + d, n), n);
                    }
                }
        }
    }
    for (int d = 0; d < D; d++)
        for (int k = 0; k < K; k++) dw[(size_t)d * K + k] = dwT[(size_t)k * D + d];
    free(wT);
    free(dwT);
}
