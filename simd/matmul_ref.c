/* Plain-C matmuls: the fallback without oneDNN and the reference that the
 * oneDNN path is tested against (MOM_CPU=scalar selects it at run time). */
#include "kernels.h"

/* C[M,N] (= or +=) A[M,K] W^T: both operands walk contiguous rows of K. */
void mom_mm_fwd_ref(int M, int N, int K, const float *A, int lda, const float *W,
                    float *C, int ldc, int accumulate)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        float *c = C + (size_t)i * ldc;
        for (int n = 0; n < N; n++) {
            const float *w = W + (size_t)n * K;
            float s = 0.0f;
            for (int k = 0; k < K; k++) s += a[k] * w[k];
            c[n] = accumulate ? c[n] + s : s;
        }
    }
}

/* dA[M,K] (= or +=) dC[M,N] W. */
void mom_mm_bwd_data_ref(int M, int N, int K, const float *dC, int lddc, const float *W,
                         float *dA, int ldda, int accumulate)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < M; i++) {
        const float *g = dC + (size_t)i * lddc;
        float *d = dA + (size_t)i * ldda;
        if (!accumulate)
            for (int k = 0; k < K; k++) d[k] = 0.0f;
        for (int n = 0; n < N; n++) {
            const float *w = W + (size_t)n * K;
            float gn = g[n];
            for (int k = 0; k < K; k++) d[k] += gn * w[k];
        }
    }
}

/* dW[N,K] += dC^T A: each output row n is owned by one thread, so the sum
 * over the M rows runs in a fixed order. */
void mom_mm_bwd_weight_ref(int M, int N, int K, const float *dC, int lddc, const float *A,
                           int lda, float *dW)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *w = dW + (size_t)n * K;
        for (int i = 0; i < M; i++) {
            float g = dC[(size_t)i * lddc + n];
            if (g == 0.0f) continue;
            const float *a = A + (size_t)i * lda;
            for (int k = 0; k < K; k++) w[k] += g * a[k];
        }
    }
}
