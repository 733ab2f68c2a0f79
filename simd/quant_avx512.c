/* Quantized weights, AVX-512: the fused product for a few rows (each
 * weight row is read once and multiplied into every row of A, so decoding
 * streams a quarter or an eighth of fp32's bytes), and dequantization for
 * a prefill's tiles. Threads split the output columns. */
#include <immintrin.h>

#include "kernels_avx512.h"

#define GROUP_BYTES (MOM_Q4_GROUP / 2)
#define MAX_ROWS 8 /* rows of A per pass: one accumulator each */

static int groups(int K) { return (K + MOM_Q4_GROUP - 1) / MOM_Q4_GROUP; }

/* 16 int8 as floats. */
static inline __m512 i8_to_ps(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }

/* The 32 values of a q4 group, in order, as two 16-lane int8 halves:
 * byte j holds value 2j low and 2j + 1 high, each + 8. */
static inline void q4_group(const uint8_t *g, __m128i *lo, __m128i *hi)
{
    const __m128i b = _mm_loadu_si128((const __m128i *)g), m4 = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    const __m128i even = _mm_sub_epi8(_mm_and_si128(b, m4), eight);
    const __m128i odd = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(b, 4), m4), eight);
    *lo = _mm_unpacklo_epi8(even, odd); /* values 0..15 */
    *hi = _mm_unpackhi_epi8(even, odd); /* values 16..31 */
}

static inline void store_out(float *c, float v, int accumulate) { *c = accumulate ? *c + v : v; }

/* Rows [m0, m0 + mr) of A against weight row n (q8). */
static void q8_rows(int mr, int K, const float *A, int lda, const int8_t *row, float s, float *C, int ldc,
                    int accumulate)
{
    __m512 acc[MAX_ROWS];
    for (int i = 0; i < mr; i++) acc[i] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        const __m512 w = i8_to_ps(_mm_loadu_si128((const __m128i *)(row + k)));
        for (int i = 0; i < mr; i++) acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(A + (size_t)i * lda + k), w, acc[i]);
    }
    if (k < K) {
        const __mmask16 mk = (__mmask16)((1u << (K - k)) - 1);
        const __m512 w = i8_to_ps(_mm_maskz_loadu_epi8(mk, row + k));
        for (int i = 0; i < mr; i++)
            acc[i] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, A + (size_t)i * lda + k), w, acc[i]);
    }
    for (int i = 0; i < mr; i++) store_out(C + (size_t)i * ldc, _mm512_reduce_add_ps(acc[i]) * s, accumulate);
}

/* A full q4 group's 32 values as floats, in order: the nibbles index a
 * table of -8..7 (vpermps reads an index's low 4 bits, so neither nibble
 * needs masking), then the even and odd values are interleaved. */
static inline void q4_group_ps(const uint8_t *g, __m512 *w0, __m512 *w1)
{
    const __m512 table = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    const __m128i b = _mm_loadu_si128((const __m128i *)g);
    const __m512 even = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(b), table);
    const __m512 odd = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_srli_epi16(b, 4)), table);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    *w0 = _mm512_permutex2var_ps(even, lo, odd);
    *w1 = _mm512_permutex2var_ps(even, hi, odd);
}

/* The same for a q4 row: a group's sum takes its scale, as in the reference. */
static void q4_rows(int mr, int K, const float *A, int lda, const uint8_t *row, const float *s, float *C, int ldc,
                    int accumulate)
{
    __m512 acc[MAX_ROWS];
    for (int i = 0; i < mr; i++) acc[i] = _mm512_setzero_ps();
    const int G = groups(K), full = K / MOM_Q4_GROUP;
    for (int g = 0; g < full; g++) {
        const int k = g * MOM_Q4_GROUP;
        __m512 w0, w1;
        q4_group_ps(row + (size_t)g * GROUP_BYTES, &w0, &w1);
        const __m512 sg = _mm512_set1_ps(s[g]);
        for (int i = 0; i < mr; i++) {
            const float *a = A + (size_t)i * lda + k;
            const __m512 part = _mm512_fmadd_ps(_mm512_loadu_ps(a + 16), w1, _mm512_mul_ps(_mm512_loadu_ps(a), w0));
            acc[i] = _mm512_fmadd_ps(part, sg, acc[i]);
        }
    }
    for (int g = full; g < G; g++) { /* a short last group: masked loads, nothing read past K */
        const int k = g * MOM_Q4_GROUP, n = K - k;
        __m128i lo, hi;
        q4_group(row + (size_t)g * GROUP_BYTES, &lo, &hi);
        const __m512 w0 = i8_to_ps(lo), w1 = i8_to_ps(hi), sg = _mm512_set1_ps(s[g]);
        const __mmask16 m0 = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
        const __mmask16 m1 = n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
        for (int i = 0; i < mr; i++) {
            const float *a = A + (size_t)i * lda + k;
            __m512 part = _mm512_mul_ps(_mm512_maskz_loadu_ps(m0, a), w0);
            part = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, a + 16), w1, part);
            acc[i] = _mm512_fmadd_ps(part, sg, acc[i]);
        }
    }
    for (int i = 0; i < mr; i++) store_out(C + (size_t)i * ldc, _mm512_reduce_add_ps(acc[i]), accumulate);
}

void mom_qmm_q8_avx512(int M, int N, int K, const float *A, int lda, const int8_t *q, const float *scale, float *C,
                       int ldc, int accumulate)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int m0 = 0; m0 < M; m0 += MAX_ROWS)
            q8_rows(M - m0 < MAX_ROWS ? M - m0 : MAX_ROWS, K, A + (size_t)m0 * lda, lda, q + (size_t)n * K, scale[n],
                    C + (size_t)m0 * ldc + n, ldc, accumulate);
}

void mom_qmm_q4_avx512(int M, int N, int K, const float *A, int lda, const uint8_t *q, const float *scale, float *C,
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
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        float *out = w + (size_t)r * K;
        for (int g = 0; g < G; g++) {
            const int k = g * MOM_Q4_GROUP, n = K - k < MOM_Q4_GROUP ? K - k : MOM_Q4_GROUP;
            __m128i lo, hi;
            q4_group(q + ((size_t)r * G + g) * GROUP_BYTES, &lo, &hi);
            const __m512 s = _mm512_set1_ps(scale[(size_t)r * G + g]);
            const __mmask16 m0 = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
            const __mmask16 m1 = n >= 32 ? 0xffff : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
            _mm512_mask_storeu_ps(out + k, m0, _mm512_mul_ps(i8_to_ps(lo), s));
            _mm512_mask_storeu_ps(out + k + 16, m1, _mm512_mul_ps(i8_to_ps(hi), s));
        }
    }
}
