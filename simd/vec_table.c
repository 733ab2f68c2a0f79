/* The kernel table of one vector ISA (VEC_ISA): the ops written in
 * simd/vec_*.c; the others are filled from the scalar table. */
#include "kernels_vec.h"

#define STR2(x) #x
#define STR(x) STR2(x)

const mom_kernels VEC_TABLE = {
    .name = STR(VEC_ISA),
    .mm_fwd = VNAME(mm_fwd),
    .mm_bwd_data = VNAME(mm_bwd_data),
    .mm_bwd_weight = VNAME(mm_bwd_weight),
    .rmsnorm_fwd = VNAME(rmsnorm_fwd),
    .rmsnorm_bwd = VNAME(rmsnorm_bwd),
    .add_bias = VNAME(add_bias),
    .bias_grad = VNAME(bias_grad),
    .conv_silu_fwd = VNAME(conv_silu_fwd),
    .conv_silu_bwd = VNAME(conv_silu_bwd),
    .softplus_fwd = VNAME(softplus_fwd),
    .softplus_bwd = VNAME(softplus_bwd),
    .scan_fwd = VNAME(scan_fwd),
    .scan_bwd = VNAME(scan_bwd),
    .scan_bwd_work_floats = VNAME(scan_bwd_work_floats),
    .xent = VNAME(xent),
    .adamw = VNAME(adamw),
    .exp = VNAME(exp),
    .qmm_q8 = VNAME(qmm_q8),
    .qmm_q4 = VNAME(qmm_q4),
    .dequant_q8 = VNAME(dequant_q8),
    .dequant_q4 = VNAME(dequant_q4),
};
