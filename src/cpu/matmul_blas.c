/* The projections as single-precision GEMMs through CBLAS, row-major:
 *   forward      C[M,N]  (+)= A[M,K] W[N,K]^T
 *   data grad    dA[M,K] (+)= dC[M,N] W[N,K]
 *   weight grad  dW[N,K]  += dC[M,N]^T A[M,K]
 * In a build without it, blas_mm_built() is 0 and nothing else is called. */
#include "matmul_blas.h"

#include "mom_build_config.h"

#if MOM_HAVE_BLAS
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int blas_mm_built(void) { return 1; }

/* OpenBLAS's own pool would spin beside the kernels' OpenMP threads after
 * each call (two pools on the same cores): it runs one thread, and each
 * OpenMP thread calls it on its own slice of the output. */
void blas_mm_start(void) { openblas_set_num_threads(1); }

/* The slice [*lo, *hi) of n rows for the calling thread of the team; rows
 * come in blocks of 16 so tiny products stay on one thread. */
static void slice(int n, int *lo, int *hi)
{
#ifdef _OPENMP
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
#else
    const int nt = 1, t = 0;
#endif
    const int blocks = (n + 15) / 16, b0 = (int)((long long)blocks * t / nt), b1 = (int)((long long)blocks * (t + 1) / nt);
    *lo = b0 * 16 < n ? b0 * 16 : n;
    *hi = b1 * 16 < n ? b1 * 16 : n;
}

void blas_mm_fwd(int M, int N, int K, const float *A, int lda, const float *W, float *C, int ldc, int acc)
{
#pragma omp parallel
    {
        int i0, i1;
        slice(M, &i0, &i1);
        if (i1 > i0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i1 - i0, N, K, 1.0f, A + (size_t)i0 * lda, lda, W, K,
                        acc ? 1.0f : 0.0f, C + (size_t)i0 * ldc, ldc);
    }
}

void blas_mm_bwd_data(int M, int N, int K, const float *dC, int lddc, const float *W, float *dA, int ldda, int acc)
{
#pragma omp parallel
    {
        int i0, i1;
        slice(M, &i0, &i1);
        if (i1 > i0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, i1 - i0, K, N, 1.0f, dC + (size_t)i0 * lddc, lddc, W,
                        K, acc ? 1.0f : 0.0f, dA + (size_t)i0 * ldda, ldda);
    }
}

/* Split over the rows of dW (a reduction over M must not be split). */
void blas_mm_bwd_weight(int M, int N, int K, const float *dC, int lddc, const float *A, int lda, float *dW)
{
    if (M <= 0) return;
#pragma omp parallel
    {
        int n0, n1;
        slice(N, &n0, &n1);
        if (n1 > n0)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n1 - n0, K, M, 1.0f, dC + n0, lddc, A, lda, 1.0f,
                        dW + (size_t)n0 * K, K);
    }
}
#else
int blas_mm_built(void) { return 0; }
void blas_mm_start(void) {}
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
