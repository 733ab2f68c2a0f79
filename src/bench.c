/* mom_bench_matmul_peak: what the backend's matmul reaches on the model's
 * own forward projection shapes, the denominator of an MFU. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "ctx.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

mom_status mom_bench_matmul_peak(mom_ctx *ctx, const mom_config *cfg_in, int tokens, double *gflops, char *shape,
                                 size_t shape_cap)
{
    if (!ctx) return MOM_ERR_INVALID_ARG;
    if (!cfg_in || !gflops)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_bench_matmul_peak: %s is NULL", cfg_in ? "gflops" : "cfg");
    if (tokens < 1 || tokens > (1 << 20))
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "bench: tokens = %d out of range (1..1M)", tokens);
    mom_config cfg = *cfg_in;
    mom_status st = mom_config_validate(ctx, &cfg);
    if (st) return st;
    const int Dm = cfg.d_model, Di = cfg.expand * cfg.d_model, X = cfg.dt_rank + 2 * cfg.d_state;
    /* (N, K) of in_proj, out_proj, x_proj and the LM head. */
    const int nk[4][2] = {{2 * Di, Dm}, {Dm, Di}, {X, Di}, {cfg.vocab_size, Dm}};
    size_t need = 0;
    for (int i = 0; i < 4; i++) {
        size_t n = (size_t)tokens * nk[i][1] + (size_t)nk[i][0] * nk[i][1] + (size_t)tokens * nk[i][0];
        if (n > need) need = n;
    }
    backend *be = ctx->be;
    be->threads(be, ctx->n_threads);
    be_buf *buf = be->alloc(be, need);
    if (!buf) return mom_fail(ctx, MOM_ERR_NOMEM, "bench: out of memory for matmuls of %d rows", tokens);
    double best = 0;
    int best_i = 0;
    for (int i = 0; i < 4; i++) {
        const int N = nk[i][0], K = nk[i][1];
        bv A = {buf, 0}, W = {buf, (size_t)tokens * K}, C = {buf, (size_t)tokens * K + (size_t)N * K};
        double t_best = 1e30;
        for (int r = 0; r < 6; r++) { /* the first call also creates the primitive or JIT kernels */
            const double t0 = now_s();
            if (be->mm_fwd(be, tokens, N, K, A, K, W, C, N, 0)) {
                be->release(be, buf);
                return mom_fail(ctx, MOM_ERR_BACKEND, "bench: matmul %d x %d x %d failed", tokens, N, K);
            }
            const double dt = now_s() - t0;
            if (r > 0 && dt < t_best) t_best = dt;
        }
        const double g = 2.0 * tokens * N * K / t_best / 1e9;
        if (g > best) {
            best = g;
            best_i = i;
        }
    }
    be->release(be, buf);
    *gflops = best;
    if (shape && shape_cap)
        snprintf(shape, shape_cap, "M %d N %d K %d", tokens, nk[best_i][0], nk[best_i][1]);
    return MOM_OK;
}

mom_status mom_ctx_profile(mom_ctx *ctx, int enable)
{
    if (!ctx) return MOM_ERR_INVALID_ARG;
    backend *be = ctx->be;
    if (!be->profile)
        return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "profile: the %s backend has no device timers", be->name);
    if (be->profile(be, enable != 0)) return mom_fail(ctx, MOM_ERR_BACKEND, "profile: the device refused timestamps");
    return MOM_OK;
}

mom_status mom_ctx_profile_emit(mom_ctx *ctx, mom_bench_emit emit, void *user)
{
    if (!ctx) return MOM_ERR_INVALID_ARG;
    backend *be = ctx->be;
    if (!emit) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "profile: emit is NULL");
    if (!be->profile_read)
        return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "profile: the %s backend has no device timers", be->name);
    const char *name;
    double sec;
    long calls;
    for (int i = 0; be->profile_read(be, i, &name, &sec, &calls); i++) {
        char line[256];
        snprintf(line, sizeof(line),
                 "{\"name\": \"device_op\", \"shader\": \"%s\", \"calls\": %ld, \"seconds\": %.6g, \"seconds_per_call\": %.6g}",
                 name, calls, sec, calls ? sec / (double)calls : 0.0);
        emit(line, user);
    }
    return MOM_OK;
}
