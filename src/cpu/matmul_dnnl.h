/* oneDNN matmuls for the projections: dnnl_sgemm in fp32; in bf16, matmul
 * primitives created once per shape (with the token count as a run-time
 * dimension) and reused. */
#ifndef MOM_MATMUL_DNNL_H
#define MOM_MATMUL_DNNL_H

typedef struct dnnl_mm dnnl_mm;

#include <stddef.h>
#include <stdint.h>

/* NULL when oneDNN is not built in or fails to start. With to_bf16 the
 * products run in bf16 (AMX / AVX512-BF16 where the CPU has them): each
 * source and weight is rounded to bf16 by to_bf16 first, accumulation and
 * outputs stay fp32; NULL then too where oneDNN has no bf16 matmul for
 * this CPU (one without AVX-512, or ONEDNN_MAX_CPU_ISA below it). */
dnnl_mm *dnnl_mm_create(void (*to_bf16)(size_t n, const float *src, uint16_t *dst));
void dnnl_mm_destroy(dnnl_mm *mm);
/* The same contracts as mom_mm_*_ref in simd/kernels.h; 0 on success. */
int dnnl_mm_fwd(dnnl_mm *mm, int M, int N, int K, const float *A, int lda, const float *W,
                float *C, int ldc, int acc);
int dnnl_mm_bwd_data(dnnl_mm *mm, int M, int N, int K, const float *dC, int lddc, const float *W,
                     float *dA, int ldda, int acc);
int dnnl_mm_bwd_weight(dnnl_mm *mm, int M, int N, int K, const float *dC, int lddc,
                       const float *A, int lda, float *dW);

#endif
