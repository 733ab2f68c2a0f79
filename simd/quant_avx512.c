/* Quantized weights, AVX-512: the fused product for a few rows (each
 * weight row is read once and multiplied into every row of A, so decoding
 * streams a quarter or an eighth of fp32's bytes), and dequantization for
 * a prefill's tiles. Threads split the output columns. */
#include <immintrin.h>

#include "kernels_avx512.h"

#define GROUP_BYTES (MOM_Q4_GROUP / 2)
#define NB 4 /* weight rows per pass: their loads and unpacking overlap, each has its own sums */
#define MB 4 /* rows of A per pass */
/* q8 rows are read this many bytes ahead: four streams at once outrun the
 * hardware's prefetcher (measured: 2x from memory, none in cache). */
#define PREFETCH 1024
/* Every loop over the blocks' rows unrolled, so the sums stay in registers. */
#define UNROLL _Pragma("GCC unroll 4")

static int groups(int K) { return (K + MOM_Q4_GROUP - 1) / MOM_Q4_GROUP; }

/* The lanes [0, n) of 16 (n may be <= 0 or >= 16). */
static inline __mmask16 lanes(int n) { return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

static inline void store_out(float *c, float v, int accumulate) { *c = accumulate ? *c + v : v; }

/* 16 weight bytes, or the n < 16 a row has left. A full load is a plain
 * one: a masked load of q4 weights measured 4x slower in a decode (it
 * seems not to train the hardware prefetcher). */
static inline __m128i load_bytes(const void *p, int n)
{
    return n >= 16 ? _mm_loadu_si128((const __m128i *)p) : _mm_maskz_loadu_epi8(lanes(n), p);
}

/* ---- q8 ---- */

/* Weight rows [0, nb) of q against rows [0, mr) of A: acc[r][i] sums
 * A row i times weight row r, 16 inputs a lane; the row's scale comes
 * last, as in the reference. always_inline with constant nb and mr keeps
 * the sums in registers. */
static inline __attribute__((always_inline)) void q8_block(int nb, int mr, int K, const float *A, int lda,
                                                           const int8_t *q, const float *scale, float *C, int ldc,
                                                           int accumulate)
{
    __m512 acc[NB][MB];
    UNROLL for (int r = 0; r < nb; r++)
        UNROLL for (int i = 0; i < mr; i++) acc[r][i] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        const __mmask16 mk = lanes(K - k);
        __m512 a[MB];
        UNROLL for (int i = 0; i < mr; i++) a[i] = _mm512_maskz_loadu_ps(mk, A + (size_t)i * lda + k);
        UNROLL for (int r = 0; r < nb; r++) {
            _mm_prefetch((const char *)(q + (size_t)r * K + k + PREFETCH), _MM_HINT_T0);
            const __m512 w = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load_bytes(q + (size_t)r * K + k, K - k)));
            UNROLL for (int i = 0; i < mr; i++) acc[r][i] = _mm512_fmadd_ps(a[i], w, acc[r][i]);
        }
    }
    UNROLL for (int r = 0; r < nb; r++)
        UNROLL for (int i = 0; i < mr; i++)
            store_out(C + (size_t)i * ldc + r, _mm512_reduce_add_ps(acc[r][i]) * scale[r], accumulate);
}

/* ---- q4 ---- */

/* A group's 32 inputs split as the packed bytes hold them: e[j] = a[2j]
 * (the low nibbles), o[j] = a[2j + 1] (the high ones), so the weights are
 * never interleaved; past the group's n inputs they read 0. */
static inline void a_group(const float *a, int n, __m512 *e, __m512 *o)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 x0 = _mm512_maskz_loadu_ps(lanes(n), a), x1 = _mm512_maskz_loadu_ps(lanes(n - 16), a + 16);
    *e = _mm512_permutex2var_ps(x0, even, x1);
    *o = _mm512_permutex2var_ps(x0, odd, x1);
}

/* As q8_block, a group at a time: a group's sum takes its scale, as in the
 * reference. Each byte widens to a 32-bit lane once; the nibbles index a
 * table of -8..7 (vpermps reads an index's low 4 bits, so the low one
 * needs no mask). */
static inline __attribute__((always_inline)) void q4_block(int nb, int mr, int K, const float *A, int lda,
                                                           const uint8_t *q, const float *scale, float *C, int ldc,
                                                           int accumulate)
{
    const __m512 table = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    const int G = groups(K);
    const size_t row = mom_q4_row_bytes(K);
    __m512 acc[NB][MB];
    UNROLL for (int r = 0; r < nb; r++)
        UNROLL for (int i = 0; i < mr; i++) acc[r][i] = _mm512_setzero_ps();
    for (int g = 0; g < G; g++) {
        const int k = g * MOM_Q4_GROUP;
        const int bytes = (K - k + 1) / 2 < GROUP_BYTES ? (K - k + 1) / 2 : GROUP_BYTES; /* a short last group: fewer */
        __m512 e[MB], o[MB];
        UNROLL for (int i = 0; i < mr; i++) a_group(A + (size_t)i * lda + k, K - k, &e[i], &o[i]);
        UNROLL for (int r = 0; r < nb; r++) {
            const __m512i b = _mm512_cvtepu8_epi32(load_bytes(q + r * row + (size_t)g * GROUP_BYTES, bytes));
            const __m512 we = _mm512_permutexvar_ps(b, table);
            const __m512 wo = _mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), table);
            const __m512 s = _mm512_set1_ps(scale[(size_t)r * G + g]);
            UNROLL for (int i = 0; i < mr; i++)
                acc[r][i] = _mm512_fmadd_ps(_mm512_fmadd_ps(o[i], wo, _mm512_mul_ps(e[i], we)), s, acc[r][i]);
        }
    }
    UNROLL for (int r = 0; r < nb; r++)
        UNROLL for (int i = 0; i < mr; i++) store_out(C + (size_t)i * ldc + r, _mm512_reduce_add_ps(acc[r][i]), accumulate);
}

/* Every row of A against weight rows [0, nb) of q (q8 or q4), four rows
 * of A at a time. */
static inline __attribute__((always_inline)) void rows_q(int q4, int nb, int M, int K, const float *A, int lda,
                                                         const void *q, const float *scale, float *C, int ldc,
                                                         int accumulate)
{
    for (int m = 0; m < M; m += MB) {
        const float *a = A + (size_t)m * lda;
        float *c = C + (size_t)m * ldc;
        switch ((M - m < MB ? M - m : MB) + (q4 ? MB : 0)) {
        case 1: q8_block(nb, 1, K, a, lda, q, scale, c, ldc, accumulate); break;
        case 2: q8_block(nb, 2, K, a, lda, q, scale, c, ldc, accumulate); break;
        case 3: q8_block(nb, 3, K, a, lda, q, scale, c, ldc, accumulate); break;
        case MB: q8_block(nb, MB, K, a, lda, q, scale, c, ldc, accumulate); break;
        case MB + 1: q4_block(nb, 1, K, a, lda, q, scale, c, ldc, accumulate); break;
        case MB + 2: q4_block(nb, 2, K, a, lda, q, scale, c, ldc, accumulate); break;
        case MB + 3: q4_block(nb, 3, K, a, lda, q, scale, c, ldc, accumulate); break;
        default: q4_block(nb, MB, K, a, lda, q, scale, c, ldc, accumulate); break;
        }
    }
}

void mom_qmm_q8_avx512(int M, int N, int K, const float *A, int lda, const int8_t *q, const float *scale, float *C,
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

void mom_qmm_q4_avx512(int M, int N, int K, const float *A, int lda, const uint8_t *q, const float *scale, float *C,
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

/* 16 int8 as floats. */
static inline __m512 i8_to_ps(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }

/* The 32 values of a q4 group, in order, as two 16-lane int8 halves:
 * byte j holds value 2j low and 2j + 1 high, each + 8. The group's bytes
 * are the first of 16 (a short last group has fewer). */
static inline void q4_group(const uint8_t *g, __mmask16 bytes, __m128i *lo, __m128i *hi)
{
    const __m128i b = _mm_maskz_loadu_epi8(bytes, g), m4 = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    const __m128i even = _mm_sub_epi8(_mm_and_si128(b, m4), eight);
    const __m128i odd = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(b, 4), m4), eight);
    *lo = _mm_unpacklo_epi8(even, odd); /* values 0..15 */
    *hi = _mm_unpackhi_epi8(even, odd); /* values 16..31 */
}

/* ---- dequantization, for a prefill's tiles ---- */

void mom_dequant_q8_avx512(int rows, int K, const int8_t *q, const float *scale, float *w)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const __m512 s = _mm512_set1_ps(scale[r]);
        const int8_t *row = q + (size_t)r * K;
        float *out = w + (size_t)r * K;
        for (int k = 0; k < K; k += 16) {
            const __mmask16 mk = K - k >= 16 ? 0xffff : (__mmask16)((1u << (K - k)) - 1);
            _mm512_mask_storeu_ps(out + k, mk, _mm512_mul_ps(i8_to_ps(_mm_maskz_loadu_epi8(mk, row + k)), s));
        }
    }
}

void mom_dequant_q4_avx512(int rows, int K, const uint8_t *q, const float *scale, float *w)
{
    const int G = groups(K);
    const size_t row = mom_q4_row_bytes(K);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        float *out = w + (size_t)r * K;
        for (int g = 0; g < G; g++) {
            const int k = g * MOM_Q4_GROUP, n = K - k < MOM_Q4_GROUP ? K - k : MOM_Q4_GROUP;
            __m128i lo, hi;
            q4_group(q + r * row + (size_t)g * GROUP_BYTES, lanes((n + 1) / 2), &lo, &hi);
            const __m512 s = _mm512_set1_ps(scale[(size_t)r * G + g]);
            _mm512_mask_storeu_ps(out + k, lanes(n), _mm512_mul_ps(i8_to_ps(lo), s));
            _mm512_mask_storeu_ps(out + k + 16, lanes(n - 16), _mm512_mul_ps(i8_to_ps(hi), s));
        }
    }
}
