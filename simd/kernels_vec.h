/* The portable SIMD kernels: one source (simd/vec_*.c over the lanes of
 * simd/vec.h) compiled once per vector ISA, each build naming its functions
 * with its ISA (VEC_ISA, set by simd/meson.build): mom_softplus_fwd_avx2,
 * mom_softplus_fwd_neon, ... The ops without a version here run the scalar
 * reference (the dispatcher fills them in). */
#ifndef MOM_KERNELS_VEC_H
#define MOM_KERNELS_VEC_H

#include "kernels.h"

extern const mom_kernels mom_kernels_avx2, mom_kernels_neon;

/* The AVX2 build's matmuls, which the AVX-512 table borrows (every AVX-512
 * CPU has AVX2). */
void mom_mm_fwd_avx2(int M, int N, int K, const float *A, int lda, const float *W, float *C, int ldc, int accumulate);
void mom_mm_bwd_data_avx2(int M, int N, int K, const float *dC, int lddc, const float *W, float *dA, int ldda,
                          int accumulate);
void mom_mm_bwd_weight_avx2(int M, int N, int K, const float *dC, int lddc, const float *A, int lda, float *dW);

#ifdef VEC_ISA
#define VEC_CAT2(f, isa) mom_##f##_##isa
#define VEC_CAT(f, isa) VEC_CAT2(f, isa)
#define VNAME(f) VEC_CAT(f, VEC_ISA)
#define VEC_TABLE VEC_CAT(kernels, VEC_ISA)

void VNAME(exp)(size_t n, const float *x, float *y);
void VNAME(mm_fwd)(int M, int N, int K, const float *A, int lda, const float *W, float *C, int ldc, int accumulate);
void VNAME(mm_bwd_data)(int M, int N, int K, const float *dC, int lddc, const float *W, float *dA, int ldda,
                        int accumulate);
void VNAME(mm_bwd_weight)(int M, int N, int K, const float *dC, int lddc, const float *A, int lda, float *dW);
void VNAME(softplus_fwd)(size_t n, const float *x, float *y);
void VNAME(softplus_bwd)(size_t n, const float *x, const float *dy, float *dx);
void VNAME(add_bias)(int rows, int cols, const float *bias, float *C, int ldc);
void VNAME(bias_grad)(int rows, int cols, const float *dC, int lddc, float *dbias);
void VNAME(rmsnorm_fwd)(int T, int D, const float *x, const float *w, float eps, float *out, float *rstd);
void VNAME(rmsnorm_bwd)(int T, int D, const float *x, const float *w, const float *rstd, const float *dout,
                        float *dx, float *dw);
void VNAME(conv_silu_fwd)(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                          const float *w, const float *b, float *hist, float *out);
void VNAME(conv_silu_bwd)(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                          const float *w, const float *b, const float *dout, float *dx, int lddx, float *dw,
                          float *db);
void VNAME(xent)(int T, int V, float *logits, const int32_t *targets, float scale, float *loss);
void VNAME(adamw)(size_t n, float *p, const float *g, float *m, float *v, float gscale, float lr, float b1,
                  float b2, float eps, float wd, int64_t step);
void VNAME(scan_fwd)(const mom_scan_args *a, float *y);
void VNAME(scan_bwd)(const mom_scan_args *a, const mom_scan_grads *g);
size_t VNAME(scan_bwd_work_floats)(const mom_scan_args *a, int n_threads);
void VNAME(qmm_q8)(int M, int N, int K, const float *A, int lda, const int8_t *q, const float *scale, float *C,
                   int ldc, int accumulate);
void VNAME(qmm_q4)(int M, int N, int K, const float *A, int lda, const uint8_t *q, const float *scale, float *C,
                   int ldc, int accumulate);
void VNAME(dequant_q8)(int rows, int K, const int8_t *q, const float *scale, float *w);
void VNAME(dequant_q4)(int rows, int K, const uint8_t *q, const float *scale, float *w);
#endif

#endif
