/* Vector exp and friends for the AVX-512 kernels (include only from files
 * built with -mavx512f). exp is Cephes' expf: n = round(x log2 e),
 * r = x - n ln 2 in two parts, a degree-6 polynomial for e^r, then scalef by
 * 2^n, which also gives gradual underflow to 0 below about -87. Accurate to
 * about 1 ulp over the normal range; tested against expf in test_simd. */
#ifndef MOM_VEXP_AVX512_H
#define MOM_VEXP_AVX512_H

#include <immintrin.h>

static inline __m512 mom_exp512(__m512 x)
{
    /* Below -104 the result is 0 even as a denormal; above ln(FLT_MAX) the
     * final scalef overflows to inf by itself. x is the second operand of
     * max and min, which is the one they return when either is NaN, so NaN
     * stays NaN. */
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* 2^z for the scan's decays, z = delta A log2(e) <= 0 (delta >= 0, A < 0,
 * so no upper clamp). The scan scales A by log2(e) once per channel group,
 * so the reduction is exact (f = z - round(z)) and needs no ln 2 split;
 * round() is one roundscale (to nearest even, as the 1.5 * 2^23 add and
 * subtract it replaced, which cost one more op and about 8% of the forward
 * scan's time on one thread). The polynomial is
 * Cephes' exp2f on [-1/2, 1/2], about 1 ulp. Against expf(delta A) the
 * result differs by the rounding of A log2(e) and of the product, a few
 * ulp times |z|, which the scan tests bound. */
static inline __m512 mom_exp2_neg512(__m512 z)
{
    z = _mm512_max_ps(_mm512_set1_ps(-127.0f), z);
    const __m512 n = _mm512_roundscale_ps(z, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(z, n);
    __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* 1 / (1 + exp(-x)). */
static inline __m512 mom_sigmoid512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    return _mm512_div_ps(one, _mm512_add_ps(one, mom_exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

/* Mask of the first n lanes (n in 0..16). */
static inline __mmask16 mom_mask16(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u); }

#endif
