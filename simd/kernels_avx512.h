/* The AVX-512 kernels (built with their own flags into mom_simd_avx512).
 * Each has the contract of its _ref twin in kernels.h; the test_simd_* suites hold them
 * together. */
#ifndef MOM_KERNELS_AVX512_H
#define MOM_KERNELS_AVX512_H

#include "kernels.h"

extern const mom_kernels mom_kernels_avx512;

void mom_embed_fwd_avx512(int T, int D, const int32_t *tok, const float *table, float *out);
void mom_embed_bwd_avx512(int T, int D, const int32_t *tok, const float *dout, float *dtable);
void mom_rmsnorm_fwd_avx512(int T, int D, const float *x, const float *w, float eps, float *out,
                            float *rstd);
void mom_rmsnorm_bwd_avx512(int T, int D, const float *x, const float *w, const float *rstd,
                            const float *dout, float *dx, float *dw);
void mom_gather_rows_avx512(int rows, int cols, const int32_t *perm, const float *src, int ld_src,
                            float *dst);
void mom_scatter_rows_avx512(int rows, int cols, const int32_t *perm, const float *src, float *dst,
                             int ld_dst, int accumulate);
void mom_add_bias_avx512(int rows, int cols, const float *bias, float *C, int ldc);
void mom_bias_grad_avx512(int rows, int cols, const float *dC, int lddc, float *dbias);
void mom_conv_silu_fwd_avx512(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                              const float *w, const float *b, float *hist, float *out);
void mom_conv_silu_bwd_avx512(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                              const float *w, const float *b, const float *dout, float *dx, int lddx,
                              float *dw, float *db);
void mom_softplus_fwd_avx512(size_t n, const float *x, float *y);
void mom_softplus_bwd_avx512(size_t n, const float *x, const float *dy, float *dx);
double mom_sumsq_avx512(size_t n, const float *x);
void mom_xent_avx512(int T, int V, float *logits, const int32_t *targets, float scale, float *loss);
void mom_adamw_avx512(size_t n, float *p, const float *g, float *m, float *v, float gscale,
                      float lr, float b1, float b2, float eps, float wd, int64_t step);
/* y = mom_exp512(x) (vexp_avx512.h). */
void mom_exp_avx512(size_t n, const float *x, float *y);

void mom_f32_to_bf16_avx512(size_t n, const float *src, uint16_t *dst);
void mom_scan_fwd_avx512(const mom_scan_args *a, float *y);
void mom_scan_bwd_avx512(const mom_scan_args *a, const mom_scan_grads *g);
size_t mom_scan_bwd_work_floats_avx512(const mom_scan_args *a, int n_threads);
void mom_qmm_q8_avx512(int M, int N, int K, const float *A, int lda, const int8_t *q, const float *scale, float *C,
                       int ldc, int accumulate);
void mom_qmm_q4_avx512(int M, int N, int K, const float *A, int lda, const uint8_t *q, const float *scale, float *C,
                       int ldc, int accumulate);
void mom_dequant_q8_avx512(int rows, int K, const int8_t *q, const float *scale, float *w);
void mom_dequant_q4_avx512(int rows, int K, const uint8_t *q, const float *scale, float *w);

#endif
