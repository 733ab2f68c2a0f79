/* The AVX-512 kernel table. An op without an AVX-512 version yet keeps its
 * scalar reference. */
#include "kernels_avx512.h"

const mom_kernels mom_kernels_avx512 = {
    .name = "avx512",
    .embed_fwd = mom_embed_fwd_ref,
    .embed_bwd = mom_embed_bwd_ref,
    .rmsnorm_fwd = mom_rmsnorm_fwd_ref,
    .rmsnorm_bwd = mom_rmsnorm_bwd_ref,
    .gather_rows = mom_gather_rows_ref,
    .scatter_rows = mom_scatter_rows_ref,
    .add_bias = mom_add_bias_ref,
    .bias_grad = mom_bias_grad_ref,
    .conv_silu_fwd = mom_conv_silu_fwd_ref,
    .conv_silu_bwd = mom_conv_silu_bwd_ref,
    .softplus_fwd = mom_softplus_fwd_ref,
    .softplus_bwd = mom_softplus_bwd_ref,
    .add = mom_add_ref,
    .sumsq = mom_sumsq_ref,
    .scan_fwd = mom_scan_fwd_avx512,
    .scan_bwd = mom_scan_bwd_avx512,
    .scan_bwd_work_floats = mom_scan_bwd_work_floats_avx512,
    .xent = mom_xent_ref,
    .adamw = mom_adamw_ref,
};
