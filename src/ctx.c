/* The context: last-error message, threads, and the chosen backend. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "mom_build_config.h"
#include "ctx.h"
#include "kernels.h"

const char *mom_version(void) { return "0.1.0"; }

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

void mom_ctx_default_settings(mom_ctx_settings *s)
{
    if (!s) return;
    s->n_threads = 0;
    s->cpu = NULL;
    s->matmul_bf16 = 0;
}

mom_status mom_ctx_create(mom_ctx **out, const mom_ctx_settings *s)
{
    if (!out) return MOM_ERR_INVALID_ARG;
    *out = NULL;
    mom_ctx_settings def;
    if (!s) {
        mom_ctx_default_settings(&def);
        s = &def;
    }
    if (s->n_threads < 0 || s->n_threads > 4096) return MOM_ERR_INVALID_ARG;
    const char *cpu = s->cpu ? s->cpu : getenv("MOM_CPU");
    /* "scalar" means every op in plain C, the matmuls included. */
    const int use_dnnl = !(cpu && !strcmp(cpu, "scalar"));
    const mom_kernels *k = mom_kernels_select(cpu);
    if (!k) return cpu && !strcmp(cpu, "avx512") ? MOM_ERR_UNSUPPORTED : MOM_ERR_INVALID_ARG;
    if (s->matmul_bf16 != 0 && s->matmul_bf16 != 1) return MOM_ERR_INVALID_ARG;
    if (s->matmul_bf16 && (!use_dnnl || !MOM_HAVE_DNNL)) return MOM_ERR_UNSUPPORTED;
    mom_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return MOM_ERR_NOMEM;
    ctx->n_threads = s->n_threads;
    ctx->kernels = k;
    ctx->be = mom_cpu_backend_create(use_dnnl, s->matmul_bf16, k, ctx->backend_name, sizeof(ctx->backend_name));
    if (!ctx->be) {
        free(ctx);
        return MOM_ERR_NOMEM;
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

void mom_cpu_features_string(char *buf, size_t cap)
{
    if (!buf || !cap) return;
    mom_cpu_features f;
    mom_cpu_detect(&f);
    mom_cpu_features_str(&f, buf, cap);
}
