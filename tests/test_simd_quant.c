/* Every SIMD path's quantized-weight kernels (avx512, avx2, neon: each
 * that runs here, tests/test_simd_paths.h) against the scalar references
 * (simd/quant_ref.c), on odd shapes: K of 1, 15, 16, 17, 31, 32, 33, 45,
 * 64, 100 and 257 (short q4 groups, vector tails, whole groups only), 1 to
 * 11 rows (passes of four rows, AVX-512, or two, AVX2 / NEON, and their
 * remainders), 3, 4 and 13 outputs (blocks of four weight rows, and a
 * remainder), strided A and C, with and without accumulating.
 * Dequantization is one multiply per value: equal to the bit. A product's
 * tolerance is relative to the sum of |a w| it adds up (the paths add in
 * another order). The scalar reference is also held to src/quant.c's. */
#include <math.h>

#include "kernels.h"
#include "quant.h"
#include "test_simd_paths.h"
#include "test_util.h"

static const int KS[] = {1, 15, 16, 17, 31, 32, 33, 45, 64, 100, 257};
static const int MS[] = {1, 2, 5, 7, 8, 11};
static const int NS[] = {3, 4, 13};
static int N = 13; /* the weight's rows in the case at hand */

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static float uniform(uint64_t *s) { return (float)next(s) / 2147483648.0f * 2.0f - 1.0f; }

/* Random stored form of an [N, K] weight: quantize random values, so the
 * values and scales are ones quant_rows writes (a zero row among them). */
static void random_weight(int format, int K, uint64_t *s, uint8_t **q, float **scale)
{
    float *w = malloc(sizeof(float) * N * K);
    for (int i = 0; i < N * K; i++) w[i] = i / K == 5 ? 0.0f : uniform(s) * (float)(1 + i % 3);
    *q = malloc((size_t)(N * quant_row_bytes(format, K)));
    *scale = malloc(sizeof(float) * (size_t)(N * quant_row_scales(format, K)));
    quant_rows(format, w, N, K, *q, *scale);
    free(w);
}

static void qmm(const mom_kernels *k, int format, int M, int K, const float *A, int lda, const uint8_t *q,
                const float *scale, float *C, int ldc, int acc)
{
    if (format == MOM_WEIGHTS_Q8) k->qmm_q8(M, N, K, A, lda, (const int8_t *)q, scale, C, ldc, acc);
    else k->qmm_q4(M, N, K, A, lda, q, scale, C, ldc, acc);
}

static void test_qmm(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 17;
    for (int f = MOM_WEIGHTS_Q8; f <= MOM_WEIGHTS_Q4; f++)
        for (size_t ki = 0; ki < sizeof KS / sizeof KS[0]; ki++)
            for (size_t mi = 0; mi < sizeof MS / sizeof MS[0] * (sizeof NS / sizeof NS[0]); mi++)
                for (int acc = 0; acc < 2; acc++) {
                    N = NS[mi % (sizeof NS / sizeof NS[0])];
                    const int K = KS[ki], M = MS[mi / (sizeof NS / sizeof NS[0])], lda = K + 3, ldc = N + 2;
                    uint8_t *q;
                    float *scale;
                    random_weight(f, K, &s, &q, &scale);
                    float *A = malloc(sizeof(float) * M * lda), *w = malloc(sizeof(float) * N * K);
                    float *C1 = malloc(sizeof(float) * M * ldc), *C2 = malloc(sizeof(float) * M * ldc);
                    for (int i = 0; i < M * lda; i++) A[i] = uniform(&s);
                    for (int i = 0; i < M * ldc; i++) C1[i] = C2[i] = uniform(&s);
                    qmm(&mom_kernels_scalar, f, M, K, A, lda, q, scale, C1, ldc, acc);
                    qmm(k, f, M, K, A, lda, q, scale, C2, ldc, acc);
                    dequant_rows(f, q, scale, N, K, w);
                    for (int m = 0; m < M; m++)
                        for (int n = 0; n < ldc; n++) {
                            const float got = C2[m * ldc + n], want = C1[m * ldc + n];
                            if (n >= N) { /* the stride's gap: untouched */
                                assert_true(got == want);
                                continue;
                            }
                            double mag = acc ? fabs(want) : 0.0;
                            for (int j = 0; j < K; j++) mag += fabs((double)A[m * lda + j] * w[n * K + j]);
                            if (fabs((double)got - want) > 1e-5 * mag + 1e-30)
                                fail_msg("%s q%d M %d N %d K %d acc %d: C[%d][%d] %.9g, reference %.9g (scale of sum %g)",
                                         k->name, f == MOM_WEIGHTS_Q8 ? 8 : 4, M, N, K, acc, m, n, (double)got,
                                         (double)want, mag);
                        }
                    free(q), free(scale), free(A), free(w), free(C1), free(C2);
                }
}

static void test_dequant(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 23;
    N = 13;
    for (int f = MOM_WEIGHTS_Q8; f <= MOM_WEIGHTS_Q4; f++)
        for (size_t ki = 0; ki < sizeof KS / sizeof KS[0]; ki++) {
            const int K = KS[ki];
            uint8_t *q;
            float *scale;
            random_weight(f, K, &s, &q, &scale);
            float *w0 = malloc(sizeof(float) * N * K), *w1 = malloc(sizeof(float) * N * K),
                  *w2 = malloc(sizeof(float) * N * K);
            dequant_rows(f, q, scale, N, K, w0); /* the format's definition, src/quant.c */
            if (f == MOM_WEIGHTS_Q8) {
                mom_dequant_q8_ref(N, K, (const int8_t *)q, scale, w1);
                k->dequant_q8(N, K, (const int8_t *)q, scale, w2);
            } else {
                mom_dequant_q4_ref(N, K, q, scale, w1);
                k->dequant_q4(N, K, q, scale, w2);
            }
            assert_memory_equal(w1, w0, sizeof(float) * N * K);
            if (memcmp(w2, w1, sizeof(float) * N * K)) fail_msg("%s dequant q%d K %d differs", k->name, f == 1 ? 8 : 4, K);
            free(q), free(scale), free(w0), free(w1), free(w2);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_qmm), cmocka_unit_test(test_dequant)};
    return tu_run_per_simd_path("simd_quant", tests, sizeof(tests) / sizeof(tests[0]));
}
