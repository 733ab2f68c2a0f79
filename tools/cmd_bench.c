/* mom bench: speed measured, one JSON line per case.
 *   kernels  every CPU kernel, scalar and SIMD, on model-sized shapes
 *   train    tokens/s of whole training steps, model FLOP/s, the oneDNN
 *            matmul peak measured in the same run, their ratio (mfu), peak
 *            RSS; --dense also runs the one-modality model on the same shape
 *   memory   peak RSS growth per token per layer between two sequence
 *            lengths at batch 1, each run in its own child process
 *   generate prefill and decode speed against recomputing the sequence
 *            (tools/bench_generate.c) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "bench_generate.h"
#include "common.h"
#include "data_parallel.h"
#include "progress.h"

static void emit_line(const char *json, void *user)
{
    (void)user;
    printf("%s\n", json);
    fflush(stdout);
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* KiB on Linux */
}

/* Random tokens; modalities in spans of 64 positions (the benchmark shape of
 * the issue), targets the next token. A continuous-image config gets
 * random patches in [-1, 1] at its image positions. */
typedef struct bench_batch {
    int32_t *tok, *tgt;
    uint8_t *mod, *tmod;
    float *patches;
    mom_batch b;
} bench_batch;

static int make_batch(bench_batch *bb, int B, int T, int vocab, int n_mod, int patch_dim)
{
    const size_t n = (size_t)B * T;
    bb->tok = malloc(n * 4);
    bb->tgt = malloc(n * 4);
    bb->mod = malloc(n);
    bb->tmod = malloc(n);
    bb->patches = patch_dim ? malloc(sizeof(float) * n * patch_dim) : NULL;
    if (!bb->tok || !bb->tgt || !bb->mod || !bb->tmod || (patch_dim && !bb->patches)) return -1;
    for (size_t i = 0; i < n * (size_t)patch_dim; i++) bb->patches[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    uint64_t s = 12345;
    for (size_t i = 0; i <= n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        const int32_t t = (int32_t)((s >> 33) % (uint64_t)vocab);
        const uint8_t m = (uint8_t)(((i / 64) * 2654435761u >> 7) % (uint64_t)n_mod);
        if (i < n) {
            bb->tok[i] = t;
            bb->mod[i] = m;
        }
        if (i > 0) {
            bb->tgt[i - 1] = t;
            bb->tmod[i - 1] = m;
        }
    }
    mom_batch b = {.B = B, .T = T, .tokens = bb->tok, .modality = bb->mod, .targets = bb->tgt, .target_modality = bb->tmod, .patches = bb->patches, .noise_seed = 1, .low_t_fraction = 0.0f};
    bb->b = b;
    return 0;
}

static void free_batch(bench_batch *bb)
{
    free(bb->tok);
    free(bb->tgt);
    free(bb->mod);
    free(bb->tmod);
    free(bb->patches);
}

/* A model and its batch, ready for timed training steps. */
typedef struct stepper {
    mom_model *m;
    bench_batch bb;
    mom_optim_settings os;
    mom_losses last;
} stepper;

static mom_status stepper_init(stepper *st, mom_ctx *ctx, const mom_config *cfg, int B, int T)
{
    memset(st, 0, sizeof(*st));
    mom_optim_default_settings(&st->os);
    mom_status s = mom_model_create(ctx, cfg, 1, &st->m);
    if (!s && make_batch(&st->bb, B, T, cfg->vocab_size, cfg->n_modalities, mom_patch_dim(&cfg->patches)))
        s = MOM_ERR_NOMEM;
    return s;
}

/* One whole training step (zero_grad, forward + backward, AdamW); seconds. */
static mom_status stepper_step(stepper *st, double *seconds)
{
    const double t0 = now_seconds();
    mom_status s = mom_model_zero_grad(st->m);
    if (!s) s = mom_model_backward(st->m, &st->bb.b, 1.0f, &st->last);
    if (!s) s = mom_model_step(st->m, &st->os, NULL);
    *seconds = now_seconds() - t0;
    return s;
}

static void stepper_free(stepper *st)
{
    free_batch(&st->bb);
    mom_model_destroy(&st->m);
}

/* The best of two measurements of the matmul peak, one before and one
 * after the timed steps: a peak is what the machine can do, and a shared
 * machine sometimes cannot for a moment. */
static mom_status peak_gflops(mom_ctx *ctx, const mom_config *cfg, int tokens, double *best, char *shape, size_t cap)
{
    double g = 0;
    char sh[64];
    mom_status s = mom_bench_matmul_peak(ctx, cfg, tokens, &g, sh, sizeof(sh));
    if (!s && g > *best) {
        *best = g;
        snprintf(shape, cap, "%s", sh);
    }
    return s;
}

/* The Mixture-of-Mamba model and (with --dense) the one-modality model of
 * the same shape, their steps interleaved so that both see the same
 * machine; medians of the timed steps are compared. */
static int bench_train(mom_ctx *ctx, const mom_config *cfg_in, int B, int T, int steps, int dense)
{
    mom_config cfg = *cfg_in, dc;
    mom_status s = mom_config_validate(ctx, &cfg);
    dc = cfg;
    /* The dense model: one modality, or (continuous images need theirs)
     * every projection shared. */
    if (mom_patch_dim(&cfg.patches)) dc.decouple = 0;
    else dc.n_modalities = 1;
    double peak = 0, dt;
    char peak_shape[64] = "";
    stepper mom, den;
    int have_mom = 0, have_den = 0;
    double *tm = malloc(sizeof(double) * (size_t)steps), *td = malloc(sizeof(double) * (size_t)steps);
    if (!s && (!tm || !td)) s = MOM_ERR_NOMEM;
    if (!s) s = peak_gflops(ctx, &cfg, B * T, &peak, peak_shape, sizeof(peak_shape));
    if (!s && !(s = stepper_init(&mom, ctx, &cfg, B, T))) have_mom = 1;
    if (!s && dense && !(s = stepper_init(&den, ctx, &dc, B, T))) have_den = 1;
    /* A device backend also times each op on the device, over the timed
     * steps (both models' with --dense). */
    int profiling = 0;
    for (int i = 0; !s && i < steps + 2; i++) { /* the first two are not timed */
        if (i == 2) profiling = mom_ctx_profile(ctx, 1) == MOM_OK;
        if (!(s = stepper_step(&mom, &dt)) && i >= 2) tm[i - 2] = dt;
        if (!s && dense && !(s = stepper_step(&den, &dt)) && i >= 2) td[i - 2] = dt;
    }
    if (profiling) mom_ctx_profile(ctx, 0); /* the totals stay; the peak below is not a step */
    if (!s) s = peak_gflops(ctx, &cfg, B * T, &peak, peak_shape, sizeof(peak_shape));
    int rc = 0;
    if (s) rc = tool_error("bench train", ctx, s);
    else {
        mom_model_info info;
        mom_model_get_info(mom.m, &info);
        /* Model FLOPs as mom info counts them (PaLM-style: every matmul
         * weight 6 per token, plus the scan and conv arithmetic); the
         * matmul-only ratio is printed beside it. */
        const double sec = median(tm, steps), tps = (double)B * T / sec;
        const double model_flops = tps * info.train_flops_per_token;
        const double matmul_flops = tps * info.train_matmul_flops_per_token;
        char cj[1024];
        mom_config_to_json(&cfg, cj, sizeof(cj));
        printf("{\"name\": \"train_step\", \"config\": %s, \"batch\": %d, \"seq\": %d, \"steps\": %d, "
               "\"backend\": \"%s\", \"seconds_per_step\": %.6g, \"tokens_per_s\": %.1f, "
               "\"model_flops_per_token\": %.6g, \"matmul_flops_per_token\": %.6g, \"model_gflops\": %.2f, "
               "\"matmul_peak_gflops\": %.2f, \"peak_shape\": \"%s\", \"mfu\": %.4f, \"mfu_matmul_only\": %.4f, "
               "\"loss\": %.4f",
               cj, B, T, steps, mom_ctx_backend_name(ctx), sec, tps, info.train_flops_per_token,
               info.train_matmul_flops_per_token, model_flops / 1e9, peak, peak_shape, model_flops / (peak * 1e9),
               matmul_flops / (peak * 1e9), mom.last.loss);
        if (dense) {
            const double dsec = median(td, steps);
            printf(", \"dense_seconds_per_step\": %.6g, \"dense_tokens_per_s\": %.1f, \"mom_over_dense\": %.4f",
                   dsec, (double)B * T / dsec, sec / dsec);
        }
        printf(", \"peak_rss_mib\": %.1f}\n", peak_rss_kib() / 1024.0);
        if (profiling) mom_ctx_profile_emit(ctx, emit_line, NULL);
    }
    if (have_mom) stepper_free(&mom);
    if (have_den) stepper_free(&den);
    free(tm);
    free(td);
    return rc;
}

/* Under mpirun: weak scaling. Rank 0 first times steps alone (the others
 * wait), then every rank times steps of its own batch with the gradients
 * summed across ranks; the efficiency is the single step's time over the
 * data-parallel one's, and the all-reduce's share is reported. */
static int bench_train_ranks(mom_ctx *ctx, const mom_config *cfg_in, int B, int T, int steps)
{
    mom_config cfg = *cfg_in;
    mom_status s = mom_config_validate(ctx, &cfg);
    const int rank = tool_mpi_rank(), ranks = tool_mpi_size();
    stepper st;
    int have = 0;
    double *t = malloc(sizeof(double) * (size_t)steps), dt, single = 0.0, comm = 0.0;
    if (!s && !t) s = MOM_ERR_NOMEM;
    if (!s && !(s = stepper_init(&st, ctx, &cfg, B, T))) have = 1;
    mom_model_info info;
    if (have) mom_model_get_info(st.m, &info);
    const size_t n = have ? (size_t)info.n_params : 0;
    float *g = n ? malloc(sizeof(float) * n) : NULL;
    if (!s && !g) s = MOM_ERR_NOMEM;
    if (!s && rank == 0)
        for (int i = 0; !s && i < steps + 1; i++)
            if (!(s = stepper_step(&st, &dt)) && i) t[i - 1] = dt;
    if (!s && rank == 0) single = median(t, steps);
    int bad = tool_mpi_barrier() != 0;
    for (int i = 0; !s && !bad && i < steps + 1; i++) {
        const double t0 = now_seconds();
        double c = 0.0;
        s = mom_model_zero_grad(st.m);
        if (!s) s = mom_model_backward(st.m, &st.bb.b, 1.0f / (float)ranks, &st.last);
        if (!s) s = mom_model_get_grads(st.m, g, n);
        if (!s && tool_mpi_sum_floats(g, n, &c)) bad = 1;
        if (!s && !bad) s = mom_model_set_grads(st.m, g, n);
        if (!s && !bad) s = mom_model_step(st.m, &st.os, NULL);
        if (i) {
            t[i - 1] = now_seconds() - t0;
            comm += c;
        }
    }
    int rc = bad;
    if (s) rc = tool_error("bench train", ctx, s);
    else if (!bad && rank == 0) {
        const double par = median(t, steps);
        printf("{\"name\": \"train_step_data_parallel\", \"ranks\": %d, \"batch_per_rank\": %d, \"seq\": %d, "
               "\"steps\": %d, \"seconds_per_step\": %.6g, \"single_rank_seconds_per_step\": %.6g, "
               "\"scaling_efficiency\": %.4f, \"tokens_per_s\": %.1f, \"allreduce_seconds_per_step\": %.6g, "
               "\"allreduce_fraction\": %.4f}\n",
               ranks, B, T, steps, par, single, single / par, (double)B * T * ranks / par, comm / steps,
               comm / steps / par);
    }
    free(g);
    free(t);
    if (have) stepper_free(&st);
    return rc;
}

/* Peak RSS of a child process that builds the model and runs 2 training
 * steps at batch 1 x seq T: each length measured alone, in a fresh process,
 * so nothing left over from the other one counts. KiB, or -1. */
static long child_peak_kib(mom_ctx *ctx, const mom_config *cfg, int T)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        stepper st;
        double dt;
        mom_status s = stepper_init(&st, ctx, cfg, 1, T);
        for (int i = 0; !s && i < 2; i++) s = stepper_step(&st, &dt);
        _exit(s == MOM_OK ? 0 : 1);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    return ru.ru_maxrss;
}

static int bench_memory(mom_ctx *ctx, const mom_config *cfg, int T1, int T2)
{
    const long p1 = child_peak_kib(ctx, cfg, T1), p2 = child_peak_kib(ctx, cfg, T2);
    if (p1 < 0 || p2 < 0) {
        fprintf(stderr, "mom bench memory: the training step at seq %d failed (out of memory?)\n", p1 < 0 ? T1 : T2);
        return 1;
    }
    mom_config c = *cfg;
    mom_config_validate(ctx, &c);
    const double per = (double)(p2 - p1) * 1024.0 / ((double)(T2 - T1) * c.n_layer);
    printf("{\"name\": \"memory\", \"batch\": 1, \"seq\": [%d, %d], \"n_layer\": %d, \"peak_rss_mib\": [%.1f, %.1f], "
           "\"growth_bytes_per_token_per_layer\": %.0f, \"growth_kib_per_token_per_layer\": %.2f}\n",
           T1, T2, c.n_layer, p1 / 1024.0, p2 / 1024.0, per, per / 1024.0);
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    const char *what = argc >= 3 ? argv[2] : "";
    if (strcmp(what, "kernels") && strcmp(what, "train") && strcmp(what, "memory") && strcmp(what, "generate")) {
        FILE *f = !strcmp(what, "--help") || !strcmp(what, "-h") ? stdout : stderr;
        fprintf(f, "usage: mom bench kernels|train|memory|generate [options]   (mom bench train --help)\n");
        return f == stdout ? 0 : 2;
    }
    const char *config = NULL, *matmul = NULL, *model = NULL, *backend_name = NULL;
    int B = 8, T = 512, steps = 7, threads = 0, dense = 0, T1 = 1024, T2 = 4096, decode = 128, device = -1;
    arg_opt o[] = {
        {"--config", ARG_STR, &config, "FILE.json", "model config (default: d_model 256, 4 layers, 3 modalities)", 0},
        {"--batch", ARG_INT, &B, "B", "rows (default 8; generate always runs batch 1 and 8)", 0},
        {"--seq", ARG_INT, &T, "T", "positions per row; generate: the prompt (default 512)", 0},
        {"--steps", ARG_INT, &steps, "N", "timed training steps, median reported (train; default 7)", 0},
        {"--dense", ARG_FLAG, &dense, NULL, "also time the one-modality model (train)", 0},
        {"--from", ARG_INT, &T1, "T1", "shorter sequence of the memory case (default 1024)", 0},
        {"--to", ARG_INT, &T2, "T2", "longer sequence of the memory case (default 4096)", 0},
        {"--decode", ARG_INT, &decode, "N", "decode steps timed, median reported (generate; default 128)", 0},
        {"--model", ARG_STR, &model, "M", "time this model (generate; default: a new one of --config)", 0},
        {"--threads", ARG_INT, &threads, "N", "threads (default: all cores)", 0},
        {"--matmul", ARG_STR, &matmul, "fp32|bf16", "projection precision (default fp32)", 0},
        {"--backend", ARG_STR, &backend_name, tool_backend_choices(), "where train and generate run (default cpu)", 0},
        {"--device", ARG_INT, &device, "N", "the backend's device N, as mom info lists them (default: its choice)", 0},
    };
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "bench %s", what);
    int r = args_parse(cmd, "Benchmarks: one JSON line per case on stdout.", o, (int)(sizeof(o) / sizeof(o[0])),
                       argc, argv, 3);
    if (r) return r > 0 ? 0 : 2;
    if (B < 1 || T < 1 || steps < 1 || T1 < 1 || T2 <= T1 || threads < 0 || decode < 1) {
        fprintf(stderr,
                "mom %s: out of range: --batch %d --seq %d --steps %d --from %d --to %d --threads %d --decode %d\n",
                cmd, B, T, steps, T1, T2, threads, decode);
        return 2;
    }
    mom_ctx *ctx = tool_ctx_on(cmd, threads, matmul, backend_name, device);
    if (!ctx) return 1;
    mom_config cfg;
    mom_config_default(&cfg);
    mom_status s = config ? mom_config_load(ctx, config, &cfg) : MOM_OK;
    int rc;
    if (s) rc = tool_error(cmd, ctx, s);
    else if (!strcmp(what, "kernels")) {
        s = mom_bench_kernels(ctx, &cfg, B, T, emit_line, NULL);
        rc = s ? tool_error(cmd, ctx, s) : 0;
    } else if (!strcmp(what, "train") && tool_mpi_size() > 1) rc = bench_train_ranks(ctx, &cfg, B, T, steps);
    else if (!strcmp(what, "train")) rc = bench_train(ctx, &cfg, B, T, steps, dense);
    else if (!strcmp(what, "generate")) {
        mom_model *m = NULL;
        s = model ? mom_model_load(ctx, model, &m) : mom_model_create(ctx, &cfg, 1, &m);
        rc = s ? tool_error(cmd, ctx, s) : bench_generate(ctx, m, T, decode);
        mom_model_destroy(&m);
    } else rc = bench_memory(ctx, &cfg, T1, T2);
    mom_ctx_destroy(&ctx);
    return rc;
}
