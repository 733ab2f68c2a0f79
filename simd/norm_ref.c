/* RMSNorm and the embedding lookup, scalar reference. */
#include <math.h>
#include <string.h>

#include "kernels.h"

void mom_embed_fwd_ref(int T, int D, const int32_t *tok, const float *table, float *out)
{
    for (int t = 0; t < T; t++)
        memcpy(out + (size_t)t * D, table + (size_t)tok[t] * D, sizeof(float) * (size_t)D);
}

void mom_embed_bwd_ref(int T, int D, const int32_t *tok, const float *dout, float *dtable)
{
    for (int t = 0; t < T; t++) {
        float *row = dtable + (size_t)tok[t] * D;
        const float *g = dout + (size_t)t * D;
        for (int d = 0; d < D; d++) row[d] += g[d];
    }
}

void mom_rmsnorm_fwd_ref(int T, int D, const float *x, const float *w, float eps, float *out,
                         float *rstd)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * D;
        float *ot = out + (size_t)t * D;
        float ss = 0.0f;
        for (int d = 0; d < D; d++) ss += xt[d] * xt[d];
        float r = 1.0f / sqrtf(ss / (float)D + eps);
        rstd[t] = r;
        for (int d = 0; d < D; d++) ot[d] = xt[d] * r * w[d];
    }
}

/* y = x r w with r = (mean x^2 + eps)^-1/2:
 * dx = r (w g) - x r^3 / D * sum(w g x);  dw = sum_t g x r. */
void mom_rmsnorm_bwd_ref(int T, int D, const float *x, const float *w, const float *rstd,
                         const float *dout, float *dx, float *dw)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * D;
        const float *gt = dout + (size_t)t * D;
        float *dxt = dx + (size_t)t * D;
        float r = rstd[t];
        float dot = 0.0f;
        for (int d = 0; d < D; d++) dot += w[d] * gt[d] * xt[d];
        float c = dot * r * r * r / (float)D;
        for (int d = 0; d < D; d++) dxt[d] += r * w[d] * gt[d] - c * xt[d];
    }
    /* The weight gradient sums over tokens: one pass in token order. */
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * D;
        const float *gt = dout + (size_t)t * D;
        float r = rstd[t];
        for (int d = 0; d < D; d++) dw[d] += gt[d] * xt[d] * r;
    }
}
