/* mom bench: speed measured, one JSON line per case.
 *   kernels  every CPU kernel, scalar and SIMD, on model-sized shapes
 *   train    tokens/s of whole training steps, model FLOP/s, the oneDNN
 *            matmul peak measured in the same run, their ratio (mfu), peak
 *            RSS; --dense also runs the one-modality model on the same shape
 *   memory   peak RSS growth per token per layer between two sequence
 *            lengths at batch 1, each run in its own child process */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "args.h"
#include "common.h"
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
 * the issue), targets the next token. */
typedef struct bench_batch {
    int32_t *tok, *tgt;
    uint8_t *mod, *tmod;
    mom_batch b;
} bench_batch;

static int make_batch(bench_batch *bb, int B, int T, int vocab, int n_mod)
{
    const size_t n = (size_t)B * T;
    bb->tok = malloc(n * 4);
    bb->tgt = malloc(n * 4);
    bb->mod = malloc(n);
    bb->tmod = malloc(n);
    if (!bb->tok || !bb->tgt || !bb->mod || !bb->tmod) return -1;
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
    mom_batch b = {B, T, bb->tok, bb->mod, bb->tgt, bb->tmod};
    bb->b = b;
    return 0;
}

static void free_batch(bench_batch *bb)
{
    free(bb->tok);
    free(bb->tgt);
    free(bb->mod);
    free(bb->tmod);
}

/* Seconds per training step (zero_grad, forward + backward, AdamW) over
 * `steps` timed steps after 2 untimed ones. */
static mom_status time_steps(mom_ctx *ctx, const mom_config *cfg, int B, int T, int steps, double *sec_per_step,
                             mom_losses *last)
{
    mom_model *m = NULL;
    bench_batch bb;
    memset(&bb, 0, sizeof(bb));
    mom_status s = mom_model_create(ctx, cfg, 1, &m);
    if (!s && make_batch(&bb, B, T, cfg->vocab_size, cfg->n_modalities)) s = MOM_ERR_NOMEM;
    mom_optim_settings os;
    mom_optim_default_settings(&os);
    double t0 = 0;
    for (int i = 0; !s && i < steps + 2; i++) {
        if (i == 2) t0 = now_seconds();
        if (!(s = mom_model_zero_grad(m)) && !(s = mom_model_backward(m, &bb.b, 1.0f, last)))
            s = mom_model_step(m, &os, NULL);
    }
    if (!s) *sec_per_step = (now_seconds() - t0) / steps;
    free_batch(&bb);
    mom_model_destroy(&m);
    return s;
}

static int bench_train(mom_ctx *ctx, const mom_config *cfg, int B, int T, int steps, int dense)
{
    double sec = 0, peak = 0;
    char peak_shape[64] = "";
    mom_losses l;
    mom_status s = mom_bench_matmul_peak(ctx, cfg, B * T, &peak, peak_shape, sizeof(peak_shape));
    if (!s) s = time_steps(ctx, cfg, B, T, steps, &sec, &l);
    if (s) return tool_error("bench train", ctx, s);
    mom_model *m = NULL;
    if ((s = mom_model_create(ctx, cfg, 1, &m))) return tool_error("bench train", ctx, s);
    mom_model_info info;
    mom_model_get_info(m, &info);
    mom_model_destroy(&m);
    const double tps = (double)B * T / sec;
    const double model_flops = tps * info.train_matmul_flops_per_token;
    char cj[1024];
    mom_config_to_json(cfg, cj, sizeof(cj));
    printf("{\"name\": \"train_step\", \"config\": %s, \"batch\": %d, \"seq\": %d, \"steps\": %d, "
           "\"backend\": \"%s\", \"seconds_per_step\": %.6g, \"tokens_per_s\": %.1f, "
           "\"matmul_flops_per_token\": %.6g, \"model_gflops\": %.2f, \"matmul_peak_gflops\": %.2f, "
           "\"peak_shape\": \"%s\", \"mfu\": %.4f, \"loss\": %.4f, \"peak_rss_mib\": %.1f",
           cj, B, T, steps, mom_ctx_backend_name(ctx), sec, tps, info.train_matmul_flops_per_token,
           model_flops / 1e9, peak, peak_shape, model_flops / (peak * 1e9), l.loss, peak_rss_kib() / 1024.0);
    if (dense) {
        mom_config dc = *cfg;
        dc.n_modalities = 1;
        double dsec = 0;
        if ((s = time_steps(ctx, &dc, B, T, steps, &dsec, &l))) {
            printf("}\n");
            return tool_error("bench train", ctx, s);
        }
        printf(", \"dense_seconds_per_step\": %.6g, \"dense_tokens_per_s\": %.1f, \"mom_over_dense\": %.4f",
               dsec, (double)B * T / dsec, sec / dsec);
    }
    printf("}\n");
    return 0;
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
        double sec;
        mom_losses l;
        _exit(time_steps(ctx, cfg, 1, T, 1, &sec, &l) == MOM_OK ? 0 : 1);
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
    if (strcmp(what, "kernels") && strcmp(what, "train") && strcmp(what, "memory")) {
        FILE *f = !strcmp(what, "--help") || !strcmp(what, "-h") ? stdout : stderr;
        fprintf(f, "usage: mom bench kernels|train|memory [options]   (mom bench train --help)\n");
        return f == stdout ? 0 : 2;
    }
    const char *config = NULL;
    int B = 8, T = 512, steps = 5, threads = 0, dense = 0, T1 = 1024, T2 = 4096;
    arg_opt o[] = {
        {"--config", ARG_STR, &config, "FILE.json", "model config (default: d_model 256, 4 layers, 3 modalities)", 0},
        {"--batch", ARG_INT, &B, "B", "rows (default 8)", 0},
        {"--seq", ARG_INT, &T, "T", "positions per row (default 512)", 0},
        {"--steps", ARG_INT, &steps, "N", "timed training steps (train; default 5)", 0},
        {"--dense", ARG_FLAG, &dense, NULL, "also time the one-modality model (train)", 0},
        {"--from", ARG_INT, &T1, "T1", "shorter sequence of the memory case (default 1024)", 0},
        {"--to", ARG_INT, &T2, "T2", "longer sequence of the memory case (default 4096)", 0},
        {"--threads", ARG_INT, &threads, "N", "threads (default: all cores)", 0},
    };
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "bench %s", what);
    int r = args_parse(cmd, "Benchmarks: one JSON line per case on stdout.", o, 8, argc, argv, 3);
    if (r) return r > 0 ? 0 : 2;
    if (B < 1 || T < 1 || steps < 1 || T1 < 1 || T2 <= T1 || threads < 0) {
        fprintf(stderr, "mom %s: out of range: --batch %d --seq %d --steps %d --from %d --to %d --threads %d\n", cmd, B,
                T, steps, T1, T2, threads);
        return 2;
    }
    mom_ctx *ctx = tool_ctx(cmd, threads);
    if (!ctx) return 1;
    mom_config cfg;
    mom_config_default(&cfg);
    mom_status s = config ? mom_config_load(ctx, config, &cfg) : MOM_OK;
    int rc;
    if (s) rc = tool_error(cmd, ctx, s);
    else if (!strcmp(what, "kernels")) {
        s = mom_bench_kernels(ctx, &cfg, B, T, emit_line, NULL);
        rc = s ? tool_error(cmd, ctx, s) : 0;
    } else if (!strcmp(what, "train")) rc = bench_train(ctx, &cfg, B, T, steps, dense);
    else rc = bench_memory(ctx, &cfg, T1, T2);
    mom_ctx_destroy(&ctx);
    return rc;
}
