/* Elementwise ops and routing copies, AVX-512: 16 floats per zmm, masked
 * tails. Copies and adds are bit-exact with the reference; the bias gradient
 * sums rows in order per column (bit-exact too); sumsq sums fixed chunks in
 * double, so it depends on n only, not on the thread count. */
#include "column_span.h"
#include "kernels_avx512.h"
#include "vexp_avx512.h"

/* Flat ops go parallel only when a call is big enough to pay for the region. */
#define FLAT_BLOCK 4096
#define FLAT_PARALLEL_MIN ((size_t)1 << 16)

/* dst[0:n] = src[0:n]. */
static inline void copy_row(int n, const float *src, float *dst)
{
    int c = 0;
    for (; c + 32 <= n; c += 32) {
        _mm512_storeu_ps(dst + c, _mm512_loadu_ps(src + c));
        _mm512_storeu_ps(dst + c + 16, _mm512_loadu_ps(src + c + 16));
    }
    for (; c < n; c += 16) {
        const __mmask16 m = mom_mask16(n - c);
        _mm512_mask_storeu_ps(dst + c, m, _mm512_maskz_loadu_ps(m, src + c));
    }
}

/* dst[0:n] += src[0:n]. */
static inline void add_row(int n, const float *src, float *dst)
{
    int c = 0;
    for (; c + 32 <= n; c += 32) {
        _mm512_storeu_ps(dst + c, _mm512_add_ps(_mm512_loadu_ps(dst + c), _mm512_loadu_ps(src + c)));
        _mm512_storeu_ps(dst + c + 16,
                         _mm512_add_ps(_mm512_loadu_ps(dst + c + 16), _mm512_loadu_ps(src + c + 16)));
    }
    for (; c < n; c += 16) {
        const __mmask16 m = mom_mask16(n - c);
        const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst + c), _mm512_maskz_loadu_ps(m, src + c));
        _mm512_mask_storeu_ps(dst + c, m, v);
    }
}

void mom_gather_rows_avx512(int rows, int cols, const int32_t *perm, const float *src, int ld_src,
                            float *dst)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < rows; i++) copy_row(cols, src + (size_t)perm[i] * ld_src, dst + (size_t)i * cols);
}

void mom_scatter_rows_avx512(int rows, int cols, const int32_t *perm, const float *src, float *dst,
                             int ld_dst, int accumulate)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < rows; i++) {
        float *d = dst + (size_t)perm[i] * ld_dst;
        const float *s = src + (size_t)i * cols;
        if (accumulate)
            add_row(cols, s, d);
        else
            copy_row(cols, s, d);
    }
}

void mom_add_bias_avx512(int rows, int cols, const float *bias, float *C, int ldc)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) add_row(cols, bias, C + (size_t)r * ldc);
}

/* Split over columns: each thread adds every row into its span of dbias
 * (L1-resident), rows in order, as the reference does. */
void mom_bias_grad_avx512(int rows, int cols, const float *dC, int lddc, float *dbias)
{
#pragma omp parallel
    {
        int c0, c1;
        mom_column_span(cols, &c0, &c1);
        for (int r = 0; c0 < c1 && r < rows; r++) add_row(c1 - c0, dC + (size_t)r * lddc + c0, dbias + c0);
    }
}

/* log(1 + y) for y in [0, 1]. u = 1 + y is split as m 2^e with m in
 * [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172, as
 * an odd series to s^11; the rounding error of 1 + y comes back as c / u. */
static inline __m512 log1p_unit512(__m512 y)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 u = _mm512_add_ps(one, y);
    const __m512 c = _mm512_sub_ps(y, _mm512_sub_ps(u, one));
    const __mmask16 big = _mm512_cmp_ps_mask(u, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
    const __m512 m = _mm512_mask_mul_ps(u, big, u, _mm512_set1_ps(0.5f));
    const __m512 e = _mm512_maskz_mov_ps(big, one);
    const __m512 s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
    const __m512 s2 = _mm512_mul_ps(s, s);
    __m512 p = _mm512_set1_ps(2.0f / 11.0f);
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(2.0f / 9.0f));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(2.0f / 7.0f));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(2.0f / 5.0f));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(2.0f / 3.0f));
    /* log m = 2 s + s^3 p */
    const __m512 logm = _mm512_fmadd_ps(_mm512_mul_ps(s, s2), p, _mm512_add_ps(s, s));
    /* ln 2 = hi + lo (Cephes' split); e is 0 or 1. */
    const __m512 lo = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), _mm512_div_ps(c, u));
    return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), _mm512_add_ps(logm, lo));
}

/* softplus(x) = max(x, 0) + log1p(exp(-|x|)), and x itself above 20.
 * max returns its second operand when one is NaN: x goes second, so NaN stays. */
static inline __m512 softplus512(__m512 x)
{
    const __m512 ax = _mm512_abs_ps(x);
    const __m512 y = _mm512_add_ps(_mm512_max_ps(_mm512_setzero_ps(), x),
                                   log1p_unit512(mom_exp512(_mm512_sub_ps(_mm512_setzero_ps(), ax))));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(20.0f), _CMP_GT_OQ), y, x);
}

/* dy sigmoid(x) as dy / (1 + exp(-x)), the reference's form; dy above 20. */
static inline __m512 softplus_grad512(__m512 x, __m512 dy)
{
    const __m512 d = _mm512_div_ps(dy, _mm512_add_ps(_mm512_set1_ps(1.0f),
                                                     mom_exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(20.0f), _CMP_GT_OQ), d, dy);
}

void mom_softplus_fwd_avx512(size_t n, const float *x, float *y)
{
    const size_t nb = (n + FLAT_BLOCK - 1) / FLAT_BLOCK;
#pragma omp parallel for schedule(static) if (n >= FLAT_PARALLEL_MIN)
    for (size_t b = 0; b < nb; b++) {
        const size_t end = (b + 1) * FLAT_BLOCK < n ? (b + 1) * FLAT_BLOCK : n;
        size_t i = b * FLAT_BLOCK;
        for (; i + 16 <= end; i += 16) _mm512_storeu_ps(y + i, softplus512(_mm512_loadu_ps(x + i)));
        if (i < end) {
            const __mmask16 m = mom_mask16((int)(end - i));
            _mm512_mask_storeu_ps(y + i, m, softplus512(_mm512_maskz_loadu_ps(m, x + i)));
        }
    }
}

void mom_softplus_bwd_avx512(size_t n, const float *x, const float *dy, float *dx)
{
    const size_t nb = (n + FLAT_BLOCK - 1) / FLAT_BLOCK;
#pragma omp parallel for schedule(static) if (n >= FLAT_PARALLEL_MIN)
    for (size_t b = 0; b < nb; b++) {
        const size_t end = (b + 1) * FLAT_BLOCK < n ? (b + 1) * FLAT_BLOCK : n;
        size_t i = b * FLAT_BLOCK;
        for (; i + 16 <= end; i += 16)
            _mm512_storeu_ps(dx + i, softplus_grad512(_mm512_loadu_ps(x + i), _mm512_loadu_ps(dy + i)));
        if (i < end) {
            const __mmask16 m = mom_mask16((int)(end - i));
            _mm512_mask_storeu_ps(dx + i, m,
                                  softplus_grad512(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, dy + i)));
        }
    }
}

/* The low and high 8 floats of v as doubles. */
static inline __m512d lo_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static inline __m512d hi_pd(__m512 v) { return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)); }

/* Sum of squares of x[0:n] in double lanes (a float squared is exact in
 * double), four accumulators in a fixed order. */
static double sumsq_range(size_t n, const float *x)
{
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd(), a2 = _mm512_setzero_pd(),
            a3 = _mm512_setzero_pd();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 u = _mm512_loadu_ps(x + i), v = _mm512_loadu_ps(x + i + 16);
        const __m512d u0 = lo_pd(u), u1 = hi_pd(u);
        const __m512d v0 = lo_pd(v), v1 = hi_pd(v);
        a0 = _mm512_fmadd_pd(u0, u0, a0);
        a1 = _mm512_fmadd_pd(u1, u1, a1);
        a2 = _mm512_fmadd_pd(v0, v0, a2);
        a3 = _mm512_fmadd_pd(v1, v1, a3);
    }
    for (; i < n; i += 16) {
        const __m512 u = _mm512_maskz_loadu_ps(mom_mask16((int)(n - i < 16 ? n - i : 16)), x + i);
        const __m512d u0 = lo_pd(u), u1 = hi_pd(u);
        a0 = _mm512_fmadd_pd(u0, u0, a0);
        a1 = _mm512_fmadd_pd(u1, u1, a1);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3)));
}

/* At most this many chunks, each at least SUMSQ_MIN_CHUNK floats; the chunk
 * size depends on n only, and the chunk sums are added in chunk order. */
#define SUMSQ_MAX_CHUNKS 256
#define SUMSQ_MIN_CHUNK ((size_t)1 << 16)

double mom_sumsq_avx512(size_t n, const float *x)
{
    size_t chunk = (n / SUMSQ_MAX_CHUNKS + 16) & ~(size_t)15;
    if (chunk < SUMSQ_MIN_CHUNK) chunk = SUMSQ_MIN_CHUNK;
    const int nch = (int)((n + chunk - 1) / chunk);
    double part[SUMSQ_MAX_CHUNKS];
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int c = 0; c < nch; c++) {
        const size_t i = (size_t)c * chunk;
        part[c] = sumsq_range(n - i < chunk ? n - i : chunk, x + i);
    }
    double s = 0.0;
    for (int c = 0; c < nch; c++) s += part[c];
    return s;
}

/* y = mom_exp512(x): the vector exp as a function, for its test. */
void mom_exp_avx512(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = mom_mask16(n - i < 16 ? (int)(n - i) : 16);
        _mm512_mask_storeu_ps(y + i, m, mom_exp512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}
