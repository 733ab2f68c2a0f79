/* RMSNorm over the lanes of vec.h. The forward's sum of squares and the
 * backward's sum of w g x run in lanes (another order than the reference,
 * float: normwise close); the weight gradient sums in token order with the
 * reference's arithmetic per element, so it has the reference's bits. */
#include <math.h>

#include "column_span.h"
#include "vec.h"

/* sum over d of a[d] b[d] (c[d] too when c is not NULL). */
static inline float dot(int D, const float *a, const float *b, const float *c)
{
    vf s = vset1(0.0f);
    int d = 0;
    for (; d + VW <= D; d += VW) {
        vf p = vload(a + d) * vload(b + d);
        if (c) p = p * vload(c + d);
        s = s + p;
    }
    float r = vhsum(s);
    for (; d < D; d++) r += c ? a[d] * b[d] * c[d] : a[d] * b[d];
    return r;
}

void VNAME(rmsnorm_fwd)(int T, int D, const float *x, const float *w, float eps, float *out, float *rstd)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * D;
        float *ot = out + (size_t)t * D;
        const float r = 1.0f / sqrtf(dot(D, xt, xt, NULL) / (float)D + eps);
        rstd[t] = r;
        int d = 0;
        for (; d + VW <= D; d += VW) vstore(ot + d, vload(xt + d) * r * vload(w + d));
        for (; d < D; d++) ot[d] = xt[d] * r * w[d];
    }
}

void VNAME(rmsnorm_bwd)(int T, int D, const float *x, const float *w, const float *rstd, const float *dout,
                        float *dx, float *dw)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * D, *gt = dout + (size_t)t * D;
        float *dxt = dx + (size_t)t * D;
        const float r = rstd[t];
        const float c = dot(D, w, gt, xt) * r * r * r / (float)D;
        int d = 0;
        for (; d + VW <= D; d += VW)
            vstore(dxt + d, vload(dxt + d) + (r * vload(w + d) * vload(gt + d) - c * vload(xt + d)));
        for (; d < D; d++) dxt[d] += r * w[d] * gt[d] - c * xt[d];
    }
    /* dw: columns split over threads, tokens in order. */
#pragma omp parallel
    {
        int c0, c1;
        mom_column_span(D, &c0, &c1);
        for (int t = 0; c0 < c1 && t < T; t++) {
            const float *xt = x + (size_t)t * D, *gt = dout + (size_t)t * D;
            const float r = rstd[t];
            int d = c0;
            for (; d + VW <= c1; d += VW) vstore(dw + d, vload(dw + d) + vload(gt + d) * vload(xt + d) * r);
            for (; d < c1; d++) dw[d] += gt[d] * xt[d] * r;
        }
    }
}
