/* Which kernels run: the best path the CPU and OS allow, or the one that
 * MOM_CPU / the context settings ask for. */
#include <string.h>

#include "kernels.h"
#include "mom_build_config.h"
#if MOM_HAVE_AVX512_KERNELS
#include "kernels_avx512.h"
#endif

const mom_kernels mom_kernels_scalar = {
    .name = "scalar",
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
    .scan_fwd = mom_scan_fwd_ref,
    .scan_bwd = mom_scan_bwd_ref,
    .scan_bwd_work_floats = mom_scan_bwd_work_floats,
    .xent = mom_xent_ref,
    .mse = mom_mse_ref,
    .adamw = mom_adamw_ref,
    .f32_to_bf16 = mom_f32_to_bf16_ref,
};

static const mom_kernels *avx512_if_usable(void)
{
#if MOM_HAVE_AVX512_KERNELS
    mom_cpu_features f;
    mom_cpu_detect(&f);
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.os_avx512) return &mom_kernels_avx512;
#endif
    return NULL;
}

const mom_kernels *mom_kernels_select(const char *path)
{
    if (!path || !*path || !strcmp(path, "auto")) {
        const mom_kernels *k = avx512_if_usable();
        return k ? k : &mom_kernels_scalar;
    }
    if (!strcmp(path, "scalar") || !strcmp(path, "avx2")) return &mom_kernels_scalar;
    if (!strcmp(path, "avx512")) return avx512_if_usable();
    return NULL;
}
