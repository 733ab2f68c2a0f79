/* oneDNN matmul primitives for the projections, created once per shape
 * (with the token count as a run-time dimension) and reused. */
#ifndef MOM_MATMUL_DNNL_H
#define MOM_MATMUL_DNNL_H

typedef struct dnnl_mm dnnl_mm;

/* NULL when oneDNN is not built in or fails to start. */
dnnl_mm *dnnl_mm_create(void);
void dnnl_mm_destroy(dnnl_mm *mm);
/* The same contracts as mom_mm_*_ref in simd/kernels.h; 0 on success. */
int dnnl_mm_fwd(dnnl_mm *mm, int M, int N, int K, const float *A, int lda, const float *W,
                float *C, int ldc, int acc);
int dnnl_mm_bwd_data(dnnl_mm *mm, int M, int N, int K, const float *dC, int lddc, const float *W,
                     float *dA, int ldda, int acc);
int dnnl_mm_bwd_weight(dnnl_mm *mm, int M, int N, int K, const float *dC, int lddc,
                       const float *A, int lda, float *dW);

#endif
