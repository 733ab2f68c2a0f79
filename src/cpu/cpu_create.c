/* The CPU backend's registry entry: which kernels and matmul library a
 * context's settings ask for (mom_ctx_settings.cpu or MOM_CPU, MOM_MATMUL,
 * matmul_bf16), the one device it has, and the CPU's features. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_backend.h"
#include "kernels.h"
#include "mom_build_config.h"

static mom_status cpu_create(const mom_ctx_settings *s, backend **out, char *desc, size_t desc_cap)
{
    *out = NULL;
    if (s->device > 0) {
        snprintf(desc, desc_cap, "device %d: the CPU backend has one device, 0", s->device);
        return MOM_ERR_INVALID_ARG;
    }
    const char *cpu = s->cpu ? s->cpu : getenv("MOM_CPU");
    /* "scalar" means every op in plain C, the matmuls included; else
     * MOM_MATMUL may pin the matmul library (benchmarks, tests). */
    const char *matmul = cpu && !strcmp(cpu, "scalar") ? "plain" : getenv("MOM_MATMUL");
    if (!matmul || !*matmul) matmul = "auto";
    if (strcmp(matmul, "auto") && strcmp(matmul, "onednn") && strcmp(matmul, "blas") && strcmp(matmul, "plain")) {
        snprintf(desc, desc_cap, "MOM_MATMUL=%s is not auto, onednn, blas or plain", matmul);
        return MOM_ERR_INVALID_ARG;
    }
    const mom_kernels *k = mom_kernels_select(cpu);
    if (!k) {
        const int known = !strcmp(cpu, "avx512") || !strcmp(cpu, "avx2") || !strcmp(cpu, "neon");
        snprintf(desc, desc_cap, known ? "MOM_CPU=%s: this CPU or build cannot run those kernels"
                                       : "MOM_CPU=%s is not scalar, avx2, avx512, neon or auto", cpu);
        return known ? MOM_ERR_UNSUPPORTED : MOM_ERR_INVALID_ARG;
    }
    const int use_dnnl = !strcmp(matmul, "auto") || !strcmp(matmul, "onednn");
    if (s->matmul_bf16 && (!use_dnnl || !MOM_HAVE_DNNL)) {
        snprintf(desc, desc_cap, "bf16 matmuls need oneDNN (and not MOM_CPU=scalar)");
        return MOM_ERR_UNSUPPORTED;
    }
    desc[0] = '\0';
    *out = cpu_backend_create(matmul, s->matmul_bf16, k, desc, desc_cap);
    if (*out) return MOM_OK;
    if (desc[0]) return MOM_ERR_UNSUPPORTED;
    snprintf(desc, desc_cap, "cannot start the CPU backend: out of memory");
    return MOM_ERR_NOMEM;
}

mom_status mom_cpu_features_string(char *buf, size_t cap)
{
    if (!buf || !cap) return MOM_ERR_INVALID_ARG;
    mom_cpu_features f;
    mom_cpu_detect(&f);
    mom_cpu_features_str(&f, buf, cap);
    return MOM_OK;
}

/* One device: the CPU, with the kernels MOM_CPU would pick. */
static void cpu_list_devices(char *buf, size_t cap)
{
    char features[256];
    mom_cpu_features_string(features, sizeof(features));
    const mom_kernels *k = mom_kernels_select(getenv("MOM_CPU"));
    snprintf(buf, cap, "0: CPU (%s; kernels %s)", features, k ? k->name : "none: MOM_CPU names none this CPU runs");
}

const be_entry mom_backend_cpu = {"cpu", cpu_create, cpu_list_devices};
