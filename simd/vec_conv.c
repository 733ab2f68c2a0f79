/* Causal depthwise conv1d + SiLU over the lanes of vec.h, channels across
 * the lanes. Work is split over vectors of VW channels: each holds its K
 * taps (and, backward, their gradients) in registers for every (b, t), so
 * nothing is allocated, and the pre-activation adds the taps in the
 * reference's order and arithmetic (the same bits); the SiLU uses vec.h's
 * exp. The backward walks (b, t) in order per channel, so dw, db and dx add
 * up in the reference's order too. */
#include "vec.h"

#define MAX_K 16 /* config validation keeps d_conv at most this */
/* Positions ahead whose rows the forward prefetches: the rows are 2-4 KiB
 * apart, beyond the hardware prefetchers' reach (see conv_avx512.c). It
 * took 15-45% off the AVX2 forward (`mom bench kernels`, two sets of
 * alternating runs, AMD EPYC Zen 5); the backward measured no faster with
 * it. */
#define PF_AHEAD 8

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
static inline vf conv_pre(int L, int K, int D, const int32_t *rows, const float *x, int ldx, const vf *wk, vf bias,
                          const float *hist, int bi, int t, int d, int n)
{
    vf s = bias;
    for (int k = 0; k < K; k++) {
        const int tt = t - (K - 1) + k;
        if (tt >= 0 || hist) s = s + wk[k] * conv_in(L, K, D, rows, x, ldx, hist, bi, tt, d, n);
    }
    return s;
}

/* Tap k of channels [d, d + n): w[d + l, k] for the lanes l, from (D, K). */
static inline vf tap(const float *w, int K, int k, int d, int n)
{
    vf v = vset1(0.0f);
    for (int l = 0; l < n; l++) v[l] = w[(size_t)(d + l) * K + k];
    return v;
}

void VNAME(conv_silu_fwd)(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                          const float *w, const float *b, float *hist, float *out)
{
    if (K > MAX_K) {
        mom_conv_silu_fwd_ref(B, L, D, K, rows, x, ldx, w, b, hist, out);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int d = 0; d < D; d += VW) {
        const int n = D - d < VW ? D - d : VW;
        vf wk[MAX_K];
        for (int k = 0; k < K; k++) wk[k] = tap(w, K, k, d, n);
        const vf bias = vload_n(b + d, n);
        for (int bi = 0; bi < B; bi++)
            for (int t = 0; t < L; t++) {
                if (t + PF_AHEAD < L) __builtin_prefetch(x + mom_row(rows, bi, L, t + PF_AHEAD) * ldx + d, 0, 3);
                const vf p = conv_pre(L, K, D, rows, x, ldx, wk, bias, hist, bi, t, d, n);
                vstore_n(out + mom_row(rows, bi, L, t) * D + d, p * vsigmoid(p), n);
            }
    }
    if (hist) mom_conv_hist_push(B, L, D, K, rows, x, ldx, hist);
}

void VNAME(conv_silu_bwd)(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                          const float *w, const float *b, const float *dout, float *dx, int lddx, float *dw,
                          float *db)
{
    if (K > MAX_K) {
        mom_conv_silu_bwd_ref(B, L, D, K, rows, x, ldx, w, b, dout, dx, lddx, dw, db);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int d = 0; d < D; d += VW) {
        const int n = D - d < VW ? D - d : VW;
        vf wk[MAX_K], dwk[MAX_K];
        for (int k = 0; k < K; k++) {
            wk[k] = tap(w, K, k, d, n);
            dwk[k] = tap(dw, K, k, d, n);
        }
        const vf bias = vload_n(b + d, n);
        vf dbv = vload_n(db + d, n);
        for (int bi = 0; bi < B; bi++) {
            for (int t = 0; t < L; t++) vstore_n(dx + mom_row(rows, bi, L, t) * lddx + d, vset1(0.0f), n);
            for (int t = 0; t < L; t++) {
                const vf p = conv_pre(L, K, D, rows, x, ldx, wk, bias, NULL, bi, t, d, n);
                const vf sg = vsigmoid(p);
                const vf g = vload_n(dout + mom_row(rows, bi, L, t) * D + d, n) * sg * (1.0f + p * (1.0f - sg));
                dbv = dbv + g;
                for (int k = 0; k < K; k++) {
                    const int tt = t - (K - 1) + k;
                    if (tt < 0) continue;
                    const size_t r = mom_row(rows, bi, L, tt);
                    dwk[k] = dwk[k] + g * vload_n(x + r * ldx + d, n);
                    vstore_n(dx + r * lddx + d, vload_n(dx + r * lddx + d, n) + g * wk[k], n);
                }
            }
        }
        vstore_n(db + d, dbv, n);
        for (int k = 0; k < K; k++)
            for (int l = 0; l < n; l++) dw[(size_t)(d + l) * K + k] = dwk[k][l];
    }
}
