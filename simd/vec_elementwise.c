/* Elementwise kernels over the lanes of vec.h: exp, softplus and its
 * gradient, bias add and bias gradient. Tails use partial loads. */
#include "column_span.h"
#include "vec.h"

void VNAME(exp)(size_t n, const float *x, float *y)
{
    size_t i = 0;
    for (; i + VW <= n; i += VW) vstore(y + i, vexp(vload(x + i)));
    if (i < n) vstore_n(y + i, vexp(vload_n(x + i, (int)(n - i))), (int)(n - i));
}

/* log(1 + y) for y in [0, 1]: mom_elementwise_avx512's log1p_unit512. u = 1
 * + y is m 2^e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m -
 * 1)/(m + 1), an odd series to s^11; the rounding of 1 + y comes back as c / u. */
static inline vf log1p_unit(vf y)
{
    const vf one = vset1(1.0f), u = one + y, c = y - (u - one);
    const vi big = u > vset1(1.41421356f);
    const vf m = vselect(big, u * 0.5f, u), e = vselect(big, one, vset1(0.0f));
    const vf s = (m - one) / (m + one), s2 = s * s;
    vf p = vset1(2.0f / 11.0f);
    p = vfma(p, s2, vset1(2.0f / 9.0f));
    p = vfma(p, s2, vset1(2.0f / 7.0f));
    p = vfma(p, s2, vset1(2.0f / 5.0f));
    p = vfma(p, s2, vset1(2.0f / 3.0f));
    const vf logm = vfma(s * s2, p, s + s);
    const vf lo = vfma(e, vset1(-2.12194440e-4f), c / u);
    return vfma(e, vset1(0.693359375f), logm + lo);
}

/* softplus(x) = max(x, 0) + log1p(exp(-|x|)), and x itself above 20 (NaN stays). */
static inline vf softplus(vf x)
{
    const vf y = vmax_keep_nan(vset1(0.0f), x) + log1p_unit(vexp(-vabs(x)));
    return vselect(x > 20.0f, x, y);
}

void VNAME(softplus_fwd)(size_t n, const float *x, float *y)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n / VW * VW; i += VW) vstore(y + i, softplus(vload(x + i)));
    const size_t i = n / VW * VW;
    if (i < n) vstore_n(y + i, softplus(vload_n(x + i, (int)(n - i))), (int)(n - i));
}

/* dy sigmoid(x) as dy / (1 + exp(-x)), the reference's form; dy above 20. */
static inline vf softplus_grad(vf x, vf dy) { return vselect(x > 20.0f, dy, dy / (1.0f + vexp(-x))); }

void VNAME(softplus_bwd)(size_t n, const float *x, const float *dy, float *dx)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n / VW * VW; i += VW) vstore(dx + i, softplus_grad(vload(x + i), vload(dy + i)));
    const size_t i = n / VW * VW;
    if (i < n) {
        const int k = (int)(n - i);
        vstore_n(dx + i, softplus_grad(vload_n(x + i, k), vload_n(dy + i, k)), k);
    }
}

static inline void add_row(size_t n, const float *x, float *y)
{
    size_t i = 0;
    for (; i + VW <= n; i += VW) vstore(y + i, vload(y + i) + vload(x + i));
    for (; i < n; i++) y[i] += x[i];
}

void VNAME(add_bias)(int rows, int cols, const float *bias, float *C, int ldc)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) add_row((size_t)cols, bias, C + (size_t)r * ldc);
}

/* Each thread adds every row into its own span of columns, rows in order,
 * as the reference does: the same bits. */
void VNAME(bias_grad)(int rows, int cols, const float *dC, int lddc, float *dbias)
{
#pragma omp parallel
    {
        int c0, c1;
        mom_column_span(cols, &c0, &c1);
        for (int r = 0; c0 < c1 && r < rows; r++) add_row((size_t)(c1 - c0), dC + (size_t)r * lddc + c0, dbias + c0);
    }
}
