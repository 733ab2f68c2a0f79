/* The lane layer of the portable SIMD kernels (simd/vec_*.c): a vector of
 * VW floats written with GCC/Clang vector extensions, so each kernel is
 * written once and compiled once per ISA with that ISA's flags
 * (simd/meson.build): AVX2 + FMA (8 lanes) on x86-64, NEON (4 lanes) on
 * AArch64. Only fma and the ISA's name differ between them; everything else
 * (+ - * /, compares, bit casts) is the compiler's.
 *
 * exp is the same Cephes expf as the AVX-512 kernels (vexp_avx512.h), with
 * 2^n built from exponent bits in two halves instead of scalef, so it
 * underflows gradually to 0 the same way. Include from simd/vec_*.c only. */
#ifndef MOM_VEC_H
#define MOM_VEC_H

#include <stdint.h>
#include <string.h>

#include "kernels_vec.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VW 8
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#define VW 4
#else
#error "simd/vec.h: build with the flags of an ISA it knows (simd/meson.build)"
#endif

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

static inline vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }
/* The first n lanes (0 <= n <= VW); the others read as 0 / are not written. */
static inline vf vload_n(const float *p, int n)
{
    if (n == VW) return vload(p); /* the usual case: one load, not a memcpy call */
    vf v = {0};
    memcpy(&v, p, sizeof(float) * (size_t)n);
    return v;
}
static inline void vstore_n(float *p, vf v, int n)
{
    if (n == VW) vstore(p, v);
    else memcpy(p, &v, sizeof(float) * (size_t)n);
}
static inline vf vset1(float x) { return (vf){0} + x; }

/* a b + c, rounded once. */
static inline vf vfma(vf a, vf b, vf c)
{
#if VW == 8
    return _mm256_fmadd_ps(a, b, c);
#else
    return vfmaq_f32(c, a, b);
#endif
}

/* m ? a : b, m from a compare (all bits set or clear per lane). */
static inline vf vselect(vi m, vf a, vf b) { return (vf)(((vi)a & m) | ((vi)b & ~m)); }
/* Clamps that keep NaN (a compare with NaN is false). */
static inline vf vmax_keep_nan(vf lo, vf x) { return vselect(x < lo, lo, x); }
static inline vf vmin_keep_nan(vf hi, vf x) { return vselect(x > hi, hi, x); }
static inline vf vmax(vf a, vf b) { return vselect(a > b, a, b); }
static inline vf vabs(vf x) { return (vf)((vi)x & 0x7fffffff); }

static inline float vhsum(vf v)
{
    float s = 0.0f;
    for (int i = 0; i < VW; i++) s += v[i];
    return s;
}
/* Lanes picked from a and b (indices 0..VW-1 are a's, VW..2VW-1 b's). */
#if defined(__clang__) || __GNUC__ >= 12
#define VSHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define VSHUF(a, b, ...) __builtin_shuffle(a, b, (vi){__VA_ARGS__})
#endif

/* out[n] += the sum of v[n]'s lanes, for n < 16: a transpose-and-add tree
 * (as reduce16x16 in scan_avx512.c). With 8 lanes that is 16 sums in 14
 * vector adds and 28 shuffles, where 16 vhsum take 128 scalar adds (and
 * the lane extracts). Each sum is a fixed tree, so it depends on nothing
 * but v. */
#if VW == 8
static inline void vreduce16_add(const vf *v, float *out)
{
    /* a[i]: pair sums of v[2i] (even lanes) and v[2i+1] (odd lanes). */
    vf a[8], b[4];
    for (int i = 0; i < 8; i++)
        a[i] = VSHUF(v[2 * i], v[2 * i + 1], 0, 8, 2, 10, 4, 12, 6, 14) +
               VSHUF(v[2 * i], v[2 * i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    /* b[j]: the sums of v[4j..4j+3] over lanes 0-3, then over lanes 4-7. */
    for (int j = 0; j < 4; j++)
        b[j] = VSHUF(a[2 * j], a[2 * j + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
               VSHUF(a[2 * j], a[2 * j + 1], 2, 3, 10, 11, 6, 7, 14, 15);
    for (int k = 0; k < 2; k++)
        vstore(out + 8 * k, vload(out + 8 * k) + (VSHUF(b[2 * k], b[2 * k + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
                                                  VSHUF(b[2 * k], b[2 * k + 1], 4, 5, 6, 7, 12, 13, 14, 15)));
}
#else
static inline void vreduce16_add(const vf *v, float *out)
{
    /* a[i]: pair sums of v[2i] (even lanes) and v[2i+1] (odd lanes). */
    vf a[8];
    for (int i = 0; i < 8; i++)
        a[i] = VSHUF(v[2 * i], v[2 * i + 1], 0, 4, 2, 6) + VSHUF(v[2 * i], v[2 * i + 1], 1, 5, 3, 7);
    for (int j = 0; j < 4; j++)
        vstore(out + 4 * j, vload(out + 4 * j) + (VSHUF(a[2 * j], a[2 * j + 1], 0, 1, 4, 5) +
                                                  VSHUF(a[2 * j], a[2 * j + 1], 2, 3, 6, 7)));
}
#endif

static inline float vhmax(vf v)
{
    float m = v[0];
    for (int i = 1; i < VW; i++) m = v[i] > m ? v[i] : m;
    return m;
}

/* Round to nearest (ties to even) for |z| < 2^22: the 1.5 * 2^23 trick. */
static inline vf vround(vf z)
{
    const vf magic = vset1(12582912.0f);
    return (z + magic) - magic;
}

/* p 2^n for integral n in [-254, 254], in two steps so that neither factor
 * leaves the normal range and a result below it rounds gradually. */
static inline vf vscale2(vf p, vf n)
{
    const vi k = __builtin_convertvector(n, vi), k1 = k >> 1, k2 = k - k1;
    return p * (vf)((k1 + 127) << 23) * (vf)((k2 + 127) << 23);
}

static inline vf vexp(vf x)
{
    x = vmax_keep_nan(vset1(-104.0f), x);
    x = vmin_keep_nan(vset1(89.0f), x);
    const vf n = vround(x * vset1(1.44269504088896341f));
    vf r = vfma(n, vset1(-0.693359375f), x);
    r = vfma(n, vset1(2.12194440e-4f), r);
    vf p = vset1(1.9875691500e-4f);
    p = vfma(p, r, vset1(1.3981999507e-3f));
    p = vfma(p, r, vset1(8.3334519073e-3f));
    p = vfma(p, r, vset1(4.1665795894e-2f));
    p = vfma(p, r, vset1(1.6666665459e-1f));
    p = vfma(p, r, vset1(5.0000001201e-1f));
    p = vfma(p * r, r, r + 1.0f);
    /* A NaN x gave a NaN p; its n is garbage, so scale 0 (k = 0). */
    return vscale2(p, vselect(n == n, n, vset1(0.0f)));
}

/* 2^z for z = delta A log2(e) <= 0, the scan's decays (see
 * mom_exp2_neg512: the same polynomial, Cephes' exp2f on [-1/2, 1/2]). */
static inline vf vexp2_neg(vf z)
{
    z = vmax_keep_nan(vset1(-127.0f), z);
    const vf n = vround(z), f = z - n;
    vf p = vset1(1.535336188319500e-4f);
    p = vfma(p, f, vset1(1.339887440266574e-3f));
    p = vfma(p, f, vset1(9.618437357674640e-3f));
    p = vfma(p, f, vset1(5.550332471162809e-2f));
    p = vfma(p, f, vset1(2.402264791363012e-1f));
    p = vfma(p, f, vset1(6.931472028550421e-1f));
    p = vfma(p, f, vset1(1.0f));
    return vscale2(p, n);
}

/* 1 / (1 + exp(-x)). */
static inline vf vsigmoid(vf x) { return 1.0f / (1.0f + vexp(-x)); }

#endif
