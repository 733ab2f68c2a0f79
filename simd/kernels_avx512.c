/* The AVX-512 kernel table. An op without an AVX-512 version yet keeps its
 * scalar reference. */
#include "kernels_avx512.h"
#include "kernels_vec.h"
#include "mom_build_config.h"

const mom_kernels mom_kernels_avx512 = {
    .name = "avx512",
#if MOM_HAVE_AVX2_KERNELS /* every AVX-512 CPU has AVX2: its matmul for the no-library case */
    .mm_fwd = mom_mm_fwd_avx2,
    .mm_bwd_data = mom_mm_bwd_data_avx2,
    .mm_bwd_weight = mom_mm_bwd_weight_avx2,
#endif
    .embed_fwd = mom_embed_fwd_avx512,
    .embed_bwd = mom_embed_bwd_avx512,
    .rmsnorm_fwd = mom_rmsnorm_fwd_avx512,
    .rmsnorm_bwd = mom_rmsnorm_bwd_avx512,
    .gather_rows = mom_gather_rows_avx512,
    .scatter_rows = mom_scatter_rows_avx512,
    .add_bias = mom_add_bias_avx512,
    .bias_grad = mom_bias_grad_avx512,
    .conv_silu_fwd = mom_conv_silu_fwd_avx512,
    .conv_silu_bwd = mom_conv_silu_bwd_avx512,
    .softplus_fwd = mom_softplus_fwd_avx512,
    .softplus_bwd = mom_softplus_bwd_avx512,
    .sumsq = mom_sumsq_avx512,
    .scan_fwd = mom_scan_fwd_avx512,
    .scan_bwd = mom_scan_bwd_avx512,
    .scan_bwd_work_floats = mom_scan_bwd_work_floats_avx512,
    .xent = mom_xent_avx512,
    .mse = mom_mse_ref,
    .adamw = mom_adamw_avx512,
    .f32_to_bf16 = mom_f32_to_bf16_avx512,
    .exp = mom_exp_avx512,
    .qmm_q8 = mom_qmm_q8_avx512,
    .qmm_q4 = mom_qmm_q4_avx512,
    .dequant_q8 = mom_dequant_q8_avx512,
    .dequant_q4 = mom_dequant_q4_avx512,
};
