/* Which kernels run: the paths built into this library, best first, each
 * with the test of whether this CPU and OS can run it. A path's table may
 * leave ops out; they are filled from the scalar table, once. */
#include <pthread.h>
#include <string.h>

#include "kernels.h"
#include "mom_build_config.h"
#if MOM_HAVE_AVX512_KERNELS
#include "kernels_avx512.h"
#endif
#if MOM_HAVE_AVX2_KERNELS || MOM_HAVE_NEON_KERNELS
#include "kernels_vec.h"
#endif

const mom_kernels mom_kernels_scalar = {
    .name = "scalar",
    .mm_fwd = mom_mm_fwd_ref,
    .mm_bwd_data = mom_mm_bwd_data_ref,
    .mm_bwd_weight = mom_mm_bwd_weight_ref,
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
    .sumsq = mom_sumsq_ref,
    .scan_fwd = mom_scan_fwd_ref,
    .scan_bwd = mom_scan_bwd_ref,
    .scan_bwd_work_floats = mom_scan_bwd_work_floats,
    .xent = mom_xent_ref,
    .mse = mom_mse_ref,
    .adamw = mom_adamw_ref,
    .f32_to_bf16 = mom_f32_to_bf16_ref,
    .exp = mom_exp_ref,
    .qmm_q8 = mom_qmm_q8_ref,
    .qmm_q4 = mom_qmm_q4_ref,
    .dequant_q8 = mom_dequant_q8_ref,
    .dequant_q4 = mom_dequant_q4_ref,
};

static int always(const mom_cpu_features *f)
{
    (void)f;
    return 1;
}
#if MOM_HAVE_AVX512_KERNELS
static int has_avx512(const mom_cpu_features *f)
{
    return f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->os_avx512;
}
#endif
#if MOM_HAVE_AVX2_KERNELS
static int has_avx2(const mom_cpu_features *f) { return f->avx2 && f->fma; }
#endif
#if MOM_HAVE_NEON_KERNELS
static int has_neon(const mom_cpu_features *f) { return f->neon; }
#endif

typedef struct kernel_path {
    const mom_kernels *table; /* as built: members may be NULL */
    int (*runs)(const mom_cpu_features *f);
} kernel_path;

static const kernel_path paths[] = {
#if MOM_HAVE_AVX512_KERNELS
    {&mom_kernels_avx512, has_avx512},
#endif
#if MOM_HAVE_AVX2_KERNELS
    {&mom_kernels_avx2, has_avx2},
#endif
#if MOM_HAVE_NEON_KERNELS
    {&mom_kernels_neon, has_neon},
#endif
    {&mom_kernels_scalar, always},
};
#define N_PATHS (int)(sizeof(paths) / sizeof(paths[0]))

static mom_kernels complete[N_PATHS]; /* paths[i] with the scalar table's ops where it has none */
static int usable[N_PATHS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fill(void)
{
    mom_cpu_features f;
    mom_cpu_detect(&f);
    for (int i = 0; i < N_PATHS; i++) {
        complete[i] = *paths[i].table;
#define FROM_SCALAR(ret, member, params) \
    if (!complete[i].member) complete[i].member = mom_kernels_scalar.member;
        MOM_KERNEL_LIST(FROM_SCALAR)
#undef FROM_SCALAR
        usable[i] = paths[i].runs(&f);
    }
}

const mom_kernels *mom_kernels_select(const char *path)
{
    pthread_once(&once, fill);
    const int best = !path || !*path || !strcmp(path, "auto");
    for (int i = 0; i < N_PATHS; i++)
        if (usable[i] && (best || !strcmp(path, complete[i].name))) return &complete[i];
    return NULL;
}

int mom_kernels_usable(const mom_kernels **out, int cap)
{
    pthread_once(&once, fill);
    int n = 0;
    for (int i = 0; i < N_PATHS && n < cap; i++)
        if (usable[i]) out[n++] = &complete[i];
    return n;
}
