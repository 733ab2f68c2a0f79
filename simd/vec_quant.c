/* Quantized weights over the lanes of simd/vec.h (AVX2, NEON): the fused
 * product for a few rows and dequantization, as simd/quant_avx512.c. */
#include "vec.h"

#define GROUP_BYTES (MOM_Q4_GROUP / 2)

/* __builtin_shufflevector: GCC 12 on, and Clang; older GCC interleaves by hand. */
#ifdef __has_builtin
#if __has_builtin(__builtin_shufflevector)
#define HAVE_SHUFFLEVECTOR 1
#endif
#endif
#ifndef HAVE_SHUFFLEVECTOR
#define HAVE_SHUFFLEVECTOR 0
#endif

typedef uint8_t v16 __attribute__((vector_size(16)));

static int groups(int K) { return (K + MOM_Q4_GROUP - 1) / MOM_Q4_GROUP; }

/* VW int8 as floats. Not __builtin_convertvector: GCC 12 converts int8
 * lanes to float one at a time, which made this path several times
 * slower on AVX2. */
static inline vf i8_to_vf(const int8_t *p)
{
#if VW == 8
    return (vf)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)));
#else
    int32_t four;
    memcpy(&four, p, sizeof four);
    const int16x8_t wide = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(four)));
    return (vf)vcvtq_f32_s32(vmovl_s16(vget_low_s16(wide)));
#endif
}

/* The 32 values of a q4 group of n in order (byte j: value 2j low, 2j + 1
 * high, each + 8; a short last group has only the bytes it needs, and
 * its places past n read as -8). */
static inline void q4_unpack(const uint8_t *g, int n, int8_t out[MOM_Q4_GROUP])
{
    v16 b = {0};
    if (n == MOM_Q4_GROUP) memcpy(&b, g, sizeof b);
    else memcpy(&b, g, (size_t)(n + 1) / 2);
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

/* Weight rows per pass (their loads overlap, each has its own sums) and
 * rows of A per pass: 8 sums, within AVX2's 16 registers. */
#define NB 4
#define MB 2
/* Every loop over the blocks' rows unrolled, so the sums stay in registers. */
#define UNROLL _Pragma("GCC unroll 4")
/* q8 rows are read this many bytes ahead: four streams at once outrun the
 * hardware's prefetcher (as in simd/quant_avx512.c). */
#define PREFETCH 1024

/* Weight rows [0, nb) against rows [0, mr) of A; the row's scale comes
 * last, as in the reference. always_inline with constant nb and mr keeps
 * the sums in registers. */
static inline __attribute__((always_inline)) void q8_block(int nb, int mr, int K, const float *A, int lda,
                                                           const int8_t *q, const float *scale, float *C, int ldc,
                                                           int accumulate)
{
    vf acc[NB][MB];
    UNROLL for (int r = 0; r < nb; r++)
        UNROLL for (int i = 0; i < mr; i++) acc[r][i] = vset1(0.0f);
    int k = 0;
    for (; k + VW <= K; k += VW) {
        vf a[MB];
        UNROLL for (int i = 0; i < mr; i++) a[i] = vload(A + (size_t)i * lda + k);
        UNROLL for (int r = 0; r < nb; r++) {
            __builtin_prefetch(q + (size_t)r * K + k + PREFETCH);
            const vf w = i8_to_vf(q + (size_t)r * K + k);
            UNROLL for (int i = 0; i < mr; i++) acc[r][i] = vfma(a[i], w, acc[r][i]);
        }
    }
    UNROLL for (int r = 0; r < nb; r++)
        UNROLL for (int i = 0; i < mr; i++) {
            float t = vhsum(acc[r][i]);
            for (int j = k; j < K; j++) t += A[(size_t)i * lda + j] * (float)q[(size_t)r * K + j];
            store_out(C + (size_t)i * ldc + r, t * scale[r], accumulate);
        }
}

/* As q8_block, a group at a time, each weight taking its group's scale
 * before it meets A (the reference scales the group's sum: the same up to
 * rounding). */
static inline __attribute__((always_inline)) void q4_block(int nb, int mr, int K, const float *A, int lda,
                                                           const uint8_t *q, const float *scale, float *C, int ldc,
                                                           int accumulate)
{
    const int G = groups(K);
    const size_t row = mom_q4_row_bytes(K);
    vf acc[NB][MB];
    UNROLL for (int r = 0; r < nb; r++)
        UNROLL for (int i = 0; i < mr; i++) acc[r][i] = vset1(0.0f);
    int8_t vals[NB][MOM_Q4_GROUP];
    for (int g = 0; g < G; g++) {
        const int k0 = g * MOM_Q4_GROUP, n = K - k0 < MOM_Q4_GROUP ? K - k0 : MOM_Q4_GROUP;
        UNROLL for (int r = 0; r < nb; r++) q4_unpack(q + r * row + (size_t)g * GROUP_BYTES, n, vals[r]);
        /* Past K, A has nothing to read: vload_n gives 0 there, whatever the unpacked weight. */
        for (int j = 0; j < n; j += VW) {
            vf a[MB];
            UNROLL for (int i = 0; i < mr; i++) a[i] = vload_n(A + (size_t)i * lda + k0 + j, n - j < VW ? n - j : VW);
            UNROLL for (int r = 0; r < nb; r++) {
                const vf w = i8_to_vf(vals[r] + j) * scale[(size_t)r * G + g];
                UNROLL for (int i = 0; i < mr; i++) acc[r][i] = vfma(a[i], w, acc[r][i]);
            }
        }
    }
    UNROLL for (int r = 0; r < nb; r++)
        UNROLL for (int i = 0; i < mr; i++) store_out(C + (size_t)i * ldc + r, vhsum(acc[r][i]), accumulate);
}

/* Every row of A against weight rows [0, nb) (q8 or q4). */
static inline __attribute__((always_inline)) void rows_q(int q4, int nb, int M, int K, const float *A, int lda,
                                                         const void *q, const float *scale, float *C, int ldc,
                                                         int accumulate)
{
    for (int m = 0; m < M; m += MB) {
        const float *a = A + (size_t)m * lda;
        float *c = C + (size_t)m * ldc;
        if (q4) {
            if (M - m == 1) q4_block(nb, 1, K, a, lda, q, scale, c, ldc, accumulate);
            else q4_block(nb, MB, K, a, lda, q, scale, c, ldc, accumulate);
        } else {
            if (M - m == 1) q8_block(nb, 1, K, a, lda, q, scale, c, ldc, accumulate);
            else q8_block(nb, MB, K, a, lda, q, scale, c, ldc, accumulate);
        }
    }
}

void VNAME(qmm_q8)(int M, int N, int K, const float *A, int lda, const int8_t *q, const float *scale, float *C,
                   int ldc, int accumulate)
{
    const int blocks = (N + NB - 1) / NB;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < blocks; b++) {
        const int n = b * NB;
        if (N - n >= NB) rows_q(0, NB, M, K, A, lda, q + (size_t)n * K, scale + n, C + n, ldc, accumulate);
        else
            for (int r = n; r < N; r++) rows_q(0, 1, M, K, A, lda, q + (size_t)r * K, scale + r, C + r, ldc, accumulate);
    }
}

void VNAME(qmm_q4)(int M, int N, int K, const float *A, int lda, const uint8_t *q, const float *scale, float *C,
                   int ldc, int accumulate)
{
    const int G = groups(K), blocks = (N + NB - 1) / NB;
    const size_t row = mom_q4_row_bytes(K);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < blocks; b++) {
        const int n = b * NB;
        if (N - n >= NB) rows_q(1, NB, M, K, A, lda, q + n * row, scale + (size_t)n * G, C + n, ldc, accumulate);
        else
            for (int r = n; r < N; r++)
                rows_q(1, 1, M, K, A, lda, q + r * row, scale + (size_t)r * G, C + r, ldc, accumulate);
    }
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
            q4_unpack(q + r * mom_q4_row_bytes(K) + (size_t)g * GROUP_BYTES, n, vals);
            const vf s = vset1(scale[(size_t)r * G + g]);
            for (int j = 0; j < n; j += VW) vstore_n(out + k0 + j, i8_to_vf(vals + j) * s, n - j < VW ? n - j : VW);
        }
    }
}
