/* Quantized weights over the lanes of simd/vec.h (AVX2, NEON): the fused
 * product for a few rows and dequantization, as simd/quant_avx512.c. */
#include "vec.h"

#define GROUP_BYTES (MOM_Q4_GROUP / 2)
#define MAX_ROWS 8 /* rows of A per pass: one accumulator each */

/* __builtin_shufflevector: GCC 12 on, and Clang; older GCC interleaves by hand. */
#ifdef __has_builtin
#if __has_builtin(__builtin_shufflevector)
#define HAVE_SHUFFLEVECTOR 1
#endif
#endif
#ifndef HAVE_SHUFFLEVECTOR
#define HAVE_SHUFFLEVECTOR 0
#endif

typedef int8_t vb __attribute__((vector_size(VW)));
typedef uint8_t v16 __attribute__((vector_size(16)));

static int groups(int K) { return (K + MOM_Q4_GROUP - 1) / MOM_Q4_GROUP; }

/* VW int8 as floats. */
static inline vf i8_to_vf(const int8_t *p)
{
    vb b;
    memcpy(&b, p, sizeof b);
    return __builtin_convertvector(b, vf);
}

/* The 32 values of a q4 group in order (byte j: value 2j low, 2j + 1
 * high, each + 8). */
static inline void q4_unpack(const uint8_t *g, int8_t out[MOM_Q4_GROUP])
{
    v16 b;
    memcpy(&b, g, sizeof b);
    const v16 even = (b & 15) - 8, odd = (b >> 4) - 8; /* modulo 256: -8..7 as int8 */
#if HAVE_SHUFFLEVECTOR
    const v16 lo = __builtin_shufflevector(even, odd, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const v16 hi = __builtin_shufflevector(even, odd, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    memcpy(out, &lo, 16);
    memcpy(out + 16, &hi, 16);
#else
    for (int j = 0; j < 16; j++) {
        out[2 * j] = (int8_t)even[j];
        out[2 * j + 1] = (int8_t)odd[j];
    }
#endif
}

static inline void store_out(float *c, float v, int accumulate) { *c = accumulate ? *c + v : v; }

static void q8_rows(int mr, int K, const float *A, int lda, const int8_t *row, float s, float *C, int ldc,
                    int accumulate)
{
    vf acc[MAX_ROWS];
    for (int i = 0; i < mr; i++) acc[i] = vset1(0.0f);
    int k = 0;
    for (; k + VW <= K; k += VW) {
        const vf w = i8_to_vf(row + k);
        for (int i = 0; i < mr; i++) acc[i] = vfma(vload(A + (size_t)i * lda + k), w, acc[i]);
    }
    for (int i = 0; i < mr; i++) {
        float t = vhsum(acc[i]);
        for (int j = k; j < K; j++) t += A[(size_t)i * lda + j] * (float)row[j];
        store_out(C + (size_t)i * ldc, t * s, accumulate);
    }
}

static void q4_rows(int mr, int K, const float *A, int lda, const uint8_t *row, const float *s, float *C, int ldc,
                    int accumulate)
{
    vf acc[MAX_ROWS];
    for (int i = 0; i < mr; i++) acc[i] = vset1(0.0f);
    int8_t vals[MOM_Q4_GROUP];
    for (int g = 0; g < groups(K); g++) {
        const int k0 = g * MOM_Q4_GROUP, n = K - k0 < MOM_Q4_GROUP ? K - k0 : MOM_Q4_GROUP;
        q4_unpack(row + (size_t)g * GROUP_BYTES, vals);
        const vf sg = vset1(s[g]);
        for (int i = 0; i < mr; i++) {
            const float *a = A + (size_t)i * lda + k0;
            vf part = vset1(0.0f);
            /* The places past K hold 0, but A has nothing there to read. */
            for (int j = 0; j < n; j += VW) part = vfma(vload_n(a + j, n - j < VW ? n - j : VW), i8_to_vf(vals + j), part);
            acc[i] = vfma(part, sg, acc[i]);
        }
    }
    for (int i = 0; i < mr; i++) store_out(C + (size_t)i * ldc, vhsum(acc[i]), accumulate);
}

void VNAME(qmm_q8)(int M, int N, int K, const float *A, int lda, const int8_t *q, const float *scale, float *C,
                   int ldc, int accumulate)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int m0 = 0; m0 < M; m0 += MAX_ROWS)
            q8_rows(M - m0 < MAX_ROWS ? M - m0 : MAX_ROWS, K, A + (size_t)m0 * lda, lda, q + (size_t)n * K, scale[n],
                    C + (size_t)m0 * ldc + n, ldc, accumulate);
}

void VNAME(qmm_q4)(int M, int N, int K, const float *A, int lda, const uint8_t *q, const float *scale, float *C,
                   int ldc, int accumulate)
{
    const int G = groups(K);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int m0 = 0; m0 < M; m0 += MAX_ROWS)
            q4_rows(M - m0 < MAX_ROWS ? M - m0 : MAX_ROWS, K, A + (size_t)m0 * lda, lda,
                    q + (size_t)n * G * GROUP_BYTES, scale + (size_t)n * G, C + (size_t)m0 * ldc + n, ldc,
                    accumulate);
}

void VNAME(dequant_q8)(int rows, int K, const int8_t *q, const float *scale, float *w)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const vf s = vset1(scale[r]);
        const int8_t *row = q + (size_t)r * K;
        float *out = w + (size_t)r * K;
        int k = 0;
        for (; k + VW <= K; k += VW) vstore(out + k, i8_to_vf(row + k) * s);
        for (; k < K; k++) out[k] = (float)row[k] * scale[r];
    }
}

void VNAME(dequant_q4)(int rows, int K, const uint8_t *q, const float *scale, float *w)
{
    const int G = groups(K);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        int8_t vals[MOM_Q4_GROUP];
        float *out = w + (size_t)r * K;
        for (int g = 0; g < G; g++) {
            const int k0 = g * MOM_Q4_GROUP, n = K - k0 < MOM_Q4_GROUP ? K - k0 : MOM_Q4_GROUP;
            q4_unpack(q + ((size_t)r * G + g) * GROUP_BYTES, vals);
            const vf s = vset1(scale[(size_t)r * G + g]);
            for (int j = 0; j < n; j += VW) vstore_n(out + k0 + j, i8_to_vf(vals + j) * s, n - j < VW ? n - j : VW);
        }
    }
}
