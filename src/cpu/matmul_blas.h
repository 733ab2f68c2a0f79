/* The projections through CBLAS (OpenBLAS): the matmul where oneDNN is not
 * built (ARM boards, Macs, any build without libdnnl-dev). */
#ifndef MOM_MATMUL_BLAS_H
#define MOM_MATMUL_BLAS_H

/* Whether this build has it (meson -Dblas). */
int blas_mm_built(void);
/* Before the first call: the work is split over the caller's OpenMP
 * threads, so OpenBLAS's own pool is kept to one thread. */
void blas_mm_start(void);
/* The same contracts as mom_mm_*_ref in simd/kernels.h. */
void blas_mm_fwd(int M, int N, int K, const float *A, int lda, const float *W, float *C, int ldc, int acc);
void blas_mm_bwd_data(int M, int N, int K, const float *dC, int lddc, const float *W, float *dA, int ldda, int acc);
void blas_mm_bwd_weight(int M, int N, int K, const float *dC, int lddc, const float *A, int lda, float *dW);

#endif
