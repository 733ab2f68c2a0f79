/* The projections as single-precision GEMMs through CBLAS, row-major:
 *   forward      C[M,N]  (+)= A[M,K] W[N,K]^T
 *   data grad    dA[M,K] (+)= dC[M,N] W[N,K]
 *   weight grad  dW[N,K]  += dC[M,N]^T A[M,K]
 * In a build without it, blas_mm_built() is 0 and nothing else is called. */
#include "matmul_blas.h"

#include "mom_build_config.h"

#if MOM_HAVE_BLAS
#include <cblas.h>

int blas_mm_built(void) { return 1; }

void blas_mm_set_threads(int n) { openblas_set_num_threads(n); }

void blas_mm_fwd(int M, int N, int K, const float *A, int lda, const float *W, float *C, int ldc, int acc)
{
    if (M > 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, lda, W, K, acc ? 1.0f : 0.0f, C, ldc);
}

void blas_mm_bwd_data(int M, int N, int K, const float *dC, int lddc, const float *W, float *dA, int ldda, int acc)
{
    if (M > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dC, lddc, W, K, acc ? 1.0f : 0.0f, dA,
                    ldda);
}

void blas_mm_bwd_weight(int M, int N, int K, const float *dC, int lddc, const float *A, int lda, float *dW)
{
    if (M > 0) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dC, lddc, A, lda, 1.0f, dW, K);
}
#else
int blas_mm_built(void) { return 0; }
void blas_mm_set_threads(int n) { (void)n; }
void blas_mm_fwd(int M, int N, int K, const float *A, int lda, const float *W, float *C, int ldc, int acc)
{
    (void)M, (void)N, (void)K, (void)A, (void)lda, (void)W, (void)C, (void)ldc, (void)acc;
}
void blas_mm_bwd_data(int M, int N, int K, const float *dC, int lddc, const float *W, float *dA, int ldda, int acc)
{
    (void)M, (void)N, (void)K, (void)dC, (void)lddc, (void)W, (void)dA, (void)ldda, (void)acc;
}
void blas_mm_bwd_weight(int M, int N, int K, const float *dC, int lddc, const float *A, int lda, float *dW)
{
    (void)M, (void)N, (void)K, (void)dC, (void)lddc, (void)A, (void)lda, (void)dW;
}
#endif
