/* Quantized weights, scalar reference (kernels.h): the fused product for
 * a few rows, and dequantization. Each output sums A times the integer
 * values in index order (a q4 group at a time), then takes the scale, as
 * the SIMD versions do up to the order of their additions. */
#include "kernels.h"

static int groups(int K) { return (K + MOM_Q4_GROUP - 1) / MOM_Q4_GROUP; }

static inline int q4_value(const uint8_t *row, int k)
{
    const uint8_t b = row[k / 2];
    return (k % 2 ? b >> 4 : b & 15) - 8;
}

void mom_qmm_q8_ref(int M, int N, int K, const float *A, int lda, const int8_t *q, const float *scale, float *C,
                    int ldc, int accumulate)
{
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            const int8_t *row = q + (size_t)n * K;
            float acc = 0.0f;
            for (int k = 0; k < K; k++) acc += A[(size_t)m * lda + k] * (float)row[k];
            const float v = acc * scale[n];
            C[(size_t)m * ldc + n] = accumulate ? C[(size_t)m * ldc + n] + v : v;
        }
}

void mom_qmm_q4_ref(int M, int N, int K, const float *A, int lda, const uint8_t *q, const float *scale, float *C,
                    int ldc, int accumulate)
{
    const int G = groups(K);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            const uint8_t *row = q + (size_t)n * mom_q4_row_bytes(K);
            float acc = 0.0f;
            for (int g = 0; g < G; g++) {
                float part = 0.0f;
                for (int k = g * MOM_Q4_GROUP; k < K && k < (g + 1) * MOM_Q4_GROUP; k++)
                    part += A[(size_t)m * lda + k] * (float)q4_value(row, k);
                acc += part * scale[(size_t)n * G + g];
            }
            C[(size_t)m * ldc + n] = accumulate ? C[(size_t)m * ldc + n] + acc : acc;
        }
}

void mom_dequant_q8_ref(int rows, int K, const int8_t *q, const float *scale, float *w)
{
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < K; k++) w[(size_t)r * K + k] = (float)q[(size_t)r * K + k] * scale[r];
}

void mom_dequant_q4_ref(int rows, int K, const uint8_t *q, const float *scale, float *w)
{
    const int G = groups(K);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < K; k++)
            w[(size_t)r * K + k] =
                (float)q4_value(q + (size_t)r * mom_q4_row_bytes(K), k) * scale[(size_t)r * G + k / MOM_Q4_GROUP];
}
