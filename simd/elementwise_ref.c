/* Elementwise ops and routing copies, scalar reference. */
#include <math.h>
#include <string.h>

#include "kernels.h"

void mom_gather_rows_ref(int rows, int cols, const int32_t *perm, const float *src, int ld_src,
                         float *dst)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < rows; i++)
        memcpy(dst + (size_t)i * cols, src + (size_t)perm[i] * ld_src, sizeof(float) * (size_t)cols);
}

void mom_scatter_rows_ref(int rows, int cols, const int32_t *perm, const float *src, float *dst,
                          int ld_dst, int accumulate)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < rows; i++) {
        float *d = dst + (size_t)perm[i] * ld_dst;
        const float *s = src + (size_t)i * cols;
        if (accumulate)
            for (int c = 0; c < cols; c++) d[c] += s[c];
        else
            memcpy(d, s, sizeof(float) * (size_t)cols);
    }
}

void mom_add_bias_ref(int rows, int cols, const float *bias, float *C, int ldc)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) C[(size_t)r * ldc + c] += bias[c];
}

void mom_bias_grad_ref(int rows, int cols, const float *dC, int lddc, float *dbias)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dbias[c] += dC[(size_t)r * lddc + c];
}

/* PyTorch's softplus(beta=1, threshold=20): x above 20, log1p(exp(x)) else. */
void mom_softplus_fwd_ref(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 20.0f ? x[i] : log1pf(expf(x[i]));
}

void mom_softplus_bwd_ref(size_t n, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = x[i] > 20.0f ? dy[i] : dy[i] / (1.0f + expf(-x[i]));
}

void mom_exp_ref(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

double mom_sumsq_ref(size_t n, const float *x)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

/* Round to nearest even on the upper 16 bits; a NaN keeps a mantissa bit so
 * it does not round into an infinity. */
void mom_f32_to_bf16_ref(size_t n, const float *src, uint16_t *dst)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &src[i], 4);
        if ((b & 0x7fffffffu) > 0x7f800000u) dst[i] = (uint16_t)((b >> 16) | 0x40);
        else dst[i] = (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
    }
}

void mom_mse_ref(int rows, int cols, float *pred, const float *target, float scale, float *loss)
{
    for (int r = 0; r < rows; r++) {
        float *p = pred + (size_t)r * cols;
        const float *q = target + (size_t)r * cols;
        double sum = 0.0;
        for (int c = 0; c < cols; c++) sum += (double)(p[c] - q[c]) * (p[c] - q[c]);
        loss[r] = (float)(sum / cols);
        if (scale != 0.0f)
            for (int c = 0; c < cols; c++) p[c] = scale * 2.0f * (p[c] - q[c]) / (float)cols;
    }
}
