/* The context: last-error message, threads, and the chosen backend. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "mom_build_config.h"
#include "ctx.h"
#include "kernels.h"

const char *mom_version(void) { return MOM_VERSION_STRING; }

const char *mom_status_str(mom_status s)
{
    switch (s) {
    case MOM_OK: return "ok";
    case MOM_ERR_INVALID_ARG: return "invalid argument";
    case MOM_ERR_CONFIG: return "invalid config";
    case MOM_ERR_IO: return "I/O error";
    case MOM_ERR_FORMAT: return "bad file format";
    case MOM_ERR_NOMEM: return "out of memory";
    case MOM_ERR_DATA: return "data out of range";
    case MOM_ERR_BACKEND: return "backend failure";
    case MOM_ERR_NOT_FOUND: return "not found";
    case MOM_ERR_UNSUPPORTED: return "unsupported";
    case MOM_ERR_NONFINITE: return "non-finite gradient";
    case MOM_ERR_STOPPED: return "stopped";
    }
    return "unknown status";
}

mom_status mom_fail(mom_ctx *ctx, mom_status s, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
        va_end(ap);
    }
    return s;
}

void mom_clear_error(mom_ctx *ctx)
{
    if (ctx) ctx->err[0] = '\0';
}

void mom_ctx_set_stop(mom_ctx *ctx, int stop)
{
    if (ctx) atomic_store(&ctx->stop, stop != 0);
}

mom_status mom_check_stop(mom_ctx *ctx, const char *what)
{
    if (!ctx || !atomic_load(&ctx->stop)) return MOM_OK;
    return mom_fail(ctx, MOM_ERR_STOPPED, "%s: stopped (mom_ctx_set_stop)", what);
}

void mom_ctx_default_settings(mom_ctx_settings *s)
{
    if (!s) return;
    s->n_threads = 0;
    s->cpu = NULL;
    s->matmul_bf16 = 0;
    s->backend = NULL;
    s->allow_software = 0;
}

/* mom_ctx_create has no context to keep its reason in when it fails. */
static _Thread_local char create_err[512];
const char *mom_ctx_create_error(void) { return create_err; }

static mom_status create_fail(mom_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static mom_status create_fail(mom_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(create_err, sizeof(create_err), fmt, ap);
    va_end(ap);
    return s;
}

/* The Vulkan backend, or NULL with the reason in why. */
static backend *vulkan_or_why(const mom_ctx_settings *s, char *name, size_t name_cap, char *why, size_t why_cap)
{
#if MOM_HAVE_VULKAN
    const char *env = getenv("MOM_VK_ALLOW_SOFTWARE");
    const int soft = s->allow_software || (env && !strcmp(env, "1"));
    return mom_vulkan_backend_create(soft, name, name_cap, why, why_cap);
#else
    (void)s;
    (void)name;
    (void)name_cap;
    snprintf(why, why_cap, "this build has no Vulkan backend (it needs libvulkan-dev and glslc at build time)");
    return NULL;
#endif
}

mom_status mom_ctx_create(mom_ctx **out, const mom_ctx_settings *s)
{
    create_err[0] = '\0';
    if (!out) return create_fail(MOM_ERR_INVALID_ARG, "mom_ctx_create: out is NULL");
    *out = NULL;
    mom_ctx_settings def;
    if (!s) {
        mom_ctx_default_settings(&def);
        s = &def;
    }
    if (s->n_threads < 0 || s->n_threads > 4096)
        return create_fail(MOM_ERR_INVALID_ARG, "n_threads = %d is not in [0, 4096]", s->n_threads);
    const char *bk = s->backend ? s->backend : getenv("MOM_BACKEND");
    if (!bk || !*bk) bk = "cpu";
    if (strcmp(bk, "cpu") && strcmp(bk, "vulkan") && strcmp(bk, "auto"))
        return create_fail(MOM_ERR_INVALID_ARG, "backend \"%s\" is not cpu, vulkan or auto", bk);
    const char *cpu = s->cpu ? s->cpu : getenv("MOM_CPU");
    /* "scalar" means every op in plain C, the matmuls included; else
     * MOM_MATMUL may pin the matmul library (benchmarks, tests). */
    const char *matmul = cpu && !strcmp(cpu, "scalar") ? "plain" : getenv("MOM_MATMUL");
    if (!matmul || !*matmul) matmul = "auto";
    if (strcmp(matmul, "auto") && strcmp(matmul, "onednn") && strcmp(matmul, "blas") && strcmp(matmul, "plain"))
        return create_fail(MOM_ERR_INVALID_ARG, "MOM_MATMUL=%s is not auto, onednn, blas or plain", matmul);
    const int use_dnnl = !strcmp(matmul, "auto") || !strcmp(matmul, "onednn");
    const mom_kernels *k = mom_kernels_select(cpu);
    if (!k) {
        const int known = !strcmp(cpu, "avx512") || !strcmp(cpu, "avx2") || !strcmp(cpu, "neon");
        return known ? create_fail(MOM_ERR_UNSUPPORTED, "MOM_CPU=%s: this CPU or build cannot run those kernels", cpu)
                     : create_fail(MOM_ERR_INVALID_ARG, "MOM_CPU=%s is not scalar, avx2, avx512, neon or auto", cpu);
    }
    if (s->matmul_bf16 != 0 && s->matmul_bf16 != 1)
        return create_fail(MOM_ERR_INVALID_ARG, "matmul_bf16 = %d is not 0 or 1", s->matmul_bf16);
    if (s->matmul_bf16 && (!use_dnnl || !MOM_HAVE_DNNL))
        return create_fail(MOM_ERR_UNSUPPORTED, "bf16 matmuls need oneDNN (and not MOM_CPU=scalar)");
    mom_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return create_fail(MOM_ERR_NOMEM, "out of memory for a context");
    ctx->n_threads = s->n_threads;
    ctx->kernels = k;
    if (strcmp(bk, "cpu")) {
        char why[512] = "";
        if (s->matmul_bf16) {
            snprintf(why, sizeof(why), "bf16 matmuls are the CPU backend's (oneDNN)");
        } else {
            ctx->be = vulkan_or_why(s, ctx->backend_name, sizeof(ctx->backend_name), why, sizeof(why));
        }
        if (!ctx->be && !strcmp(bk, "vulkan")) {
            free(ctx);
            return create_fail(MOM_ERR_UNSUPPORTED, "backend vulkan: %s", why);
        }
        if (!ctx->be) mom_fail(ctx, MOM_OK, "backend auto: %s; running on the CPU", why);
    }
    if (!ctx->be)
        ctx->be = mom_cpu_backend_create(matmul, s->matmul_bf16, k, ctx->backend_name, sizeof(ctx->backend_name));
    if (!ctx->be) {
        char why[sizeof(ctx->backend_name)];
        snprintf(why, sizeof(why), "%s", ctx->backend_name);
        free(ctx);
        return why[0] ? create_fail(MOM_ERR_UNSUPPORTED, "%s", why)
                      : create_fail(MOM_ERR_NOMEM, "cannot start the CPU backend");
    }
    *out = ctx;
    return MOM_OK;
}

void mom_ctx_destroy(mom_ctx **ctx)
{
    if (!ctx || !*ctx) return;
    if ((*ctx)->be) (*ctx)->be->destroy((*ctx)->be);
    free(*ctx);
    *ctx = NULL;
}

const char *mom_ctx_last_error(const mom_ctx *ctx) { return ctx ? ctx->err : "no context"; }

const char *mom_ctx_backend_name(const mom_ctx *ctx) { return ctx ? ctx->backend_name : ""; }

void mom_vulkan_devices_string(char *buf, size_t cap)
{
    if (!buf || !cap) return;
    buf[0] = '\0';
#if MOM_HAVE_VULKAN
    mom_vulkan_list_devices(buf, cap);
#endif
}

void mom_cpu_features_string(char *buf, size_t cap)
{
    if (!buf || !cap) return;
    mom_cpu_features f;
    mom_cpu_detect(&f);
    mom_cpu_features_str(&f, buf, cap);
}
