/* The AVX-512 kernels (built with their own flags into mom_simd_avx512).
 * Each has the contract of its _ref twin in kernels.h; test_simd holds them
 * together. */
#ifndef MOM_KERNELS_AVX512_H
#define MOM_KERNELS_AVX512_H

#include "kernels.h"

extern const mom_kernels mom_kernels_avx512;

void mom_scan_fwd_avx512(const mom_scan_args *a, float *y);
void mom_scan_bwd_avx512(const mom_scan_args *a, const mom_scan_grads *g);
size_t mom_scan_bwd_work_floats_avx512(const mom_scan_args *a, int n_threads);

#endif
