/* mom train: the training loop. With no arguments it trains a small model on
 * the built-in data. A run folder holds everything of one run:
 *   args.txt          the flags it was started with (read back by --resume)
 *   config.json       the model config
 *   metrics.jsonl     one JSON line per step, and the final evaluation
 *   model.safetensors, optim.safetensors   the checkpoint
 *   data/             the built-in dataset and its codebooks, when no --data
 *                     was given                                            */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "common.h"
#include "builtin_data.h"
#include "data_parallel.h"
#include "progress.h"
#include "run_folder.h"
#include "stop_signal.h"

typedef struct train_opts {
    const char *data, *val, *config, *model, *resume, *out, *matmul, *setting, *backend;
    int B, T, accum, warmup, threads, save_every, eval_batches, eval_every, max_bad, device;
    int64_t steps, seed;
    float lr, wd, clip, low_t, save_minutes;
} train_opts;

#define N_OPTS 26
static void make_opts(arg_opt *o, train_opts *t)
{
    arg_opt list[N_OPTS] = {
        {"--data", ARG_STR, &t->data, "FILE.bin", "training data (default: the built-in glyphs, captions and speech)", 0},
        {"--setting", ARG_STR, &t->setting, "three|chameleon|transfusion",
         "built-in data: text + image + speech (three, the default), text + image (chameleon), or text + images "
         "as patches with a diffusion loss (transfusion)", 0},
        {"--max-bad-steps", ARG_INT, &t->max_bad, "N",
         "a step whose gradient is NaN or Inf is skipped (model unchanged) and counted; stop after N in a row "
         "(default 3)", 0},
        {"--low-t-fraction", ARG_FLOAT, &t->low_t, "F",
         "continuous images: this share of images gets a timestep below 500 (default 0)", 0},
        {"--val", ARG_STR, &t->val, "FILE.bin", "held-out data evaluated at the end (built-in data: its own split)", 0},
        {"--config", ARG_STR, &t->config, "FILE.json", "model config for a new model", 0},
        {"--model", ARG_STR, &t->model, "CKPT", "start from these weights instead of a new model", 0},
        {"--batch", ARG_INT, &t->B, "B", "rows per micro-batch (default 8)", 0},
        {"--seq", ARG_INT, &t->T, "T", "positions per row (default 256)", 0},
        {"--steps", ARG_I64, &t->steps, "N", "optimizer steps in all (default 300)", 0},
        {"--lr", ARG_FLOAT, &t->lr, "LR", "peak learning rate (default 3e-3)", 0},
        {"--warmup", ARG_INT, &t->warmup, "N", "linear warmup steps, then cosine decay (default 30)", 0},
        {"--accum", ARG_INT, &t->accum, "N", "micro-batches per optimizer step (default 1)", 0},
        {"--weight-decay", ARG_FLOAT, &t->wd, "WD", "AdamW weight decay on matrices (default 0.1)", 0},
        {"--clip", ARG_FLOAT, &t->clip, "NORM", "global gradient-norm clip, 0 = off (default 1.0)", 0},
        {"--seed", ARG_I64, &t->seed, "S", "seed of the init and of the batch order (default 0)", 0},
        {"--threads", ARG_INT, &t->threads, "N", "threads (default: all cores)", 0},
        {"--backend", ARG_STR, &t->backend, tool_backend_choices(),
         "where the step runs (default cpu, or MOM_BACKEND); Vulkan software devices need MOM_VK_ALLOW_SOFTWARE=1", 0},
        {"--device", ARG_INT, &t->device, "N", "the backend's device N, as mom info lists them (default: its choice)", 0},
        {"--matmul", ARG_STR, &t->matmul, "fp32|bf16", "projection precision: bf16 uses AMX/AVX512-BF16 via oneDNN, "
                                                       "fp32 master weights and scan (default fp32)", 0},
        {"--save-every", ARG_INT, &t->save_every, "N", "also checkpoint every N steps (default 0: at the end)", 0},
        {"--save-every-minutes", ARG_FLOAT, &t->save_minutes, "M",
         "also checkpoint when M minutes have passed since the last one (default 10, 0 = off)", 0},
        {"--eval-batches", ARG_INT, &t->eval_batches, "N", "batches of each held-out evaluation (default 32)", 0},
        {"--eval-every", ARG_INT, &t->eval_every, "N", "also evaluate the held-out data every N steps (default 0: at the end)", 0},
        {"--out", ARG_STR, &t->out, "DIR", "run folder (default runs/DATE-TIME)", 0},
        {"--resume", ARG_STR, &t->resume, "DIR", "continue the run in DIR (its flags, weights, optimizer, data order)", 0},
    };
    memcpy(o, list, sizeof(list));
}

static const char *summary =
    "Trains a Mixture-of-Mamba model with AdamW. With no arguments: a small model\n"
    "(d_model 128, 2 layers) on the built-in data: letters and digits drawn from\n"
    "Debian's fonts as image tokens, their captions (character, font, weight, slant)\n"
    "as text and the captions spoken by espeak-ng and flite as speech units\n"
    "(--setting chameleon: without speech).";

/* The batch order: a splitmix64 stream whose one word of state is saved
 * with the optimizer, so a resumed run draws the same batches. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct run {
    train_opts o;
    char dir[2048];
    char data_path[2300], val_path[2300];
    mom_ctx *ctx;
    mom_model *m;
    mom_dataset *train, *val;
    FILE *metrics;
    uint64_t data_rng;
    int builtin;
} run;

/* Under mpirun rank 0 alone writes checkpoints, metrics and output. */
static int is_writer(void) { return tool_mpi_rank() == 0; }

static int checkpoint(const run *r)
{
    return is_writer() ? run_save_checkpoint(r->dir, r->ctx, r->m, r->data_rng) : 0;
}

/* Opens (or builds) the data and the model, fresh or resumed. */
static int setup(run *r, int resuming)
{
    train_opts *o = &r->o;
    mom_status s;
    if (!o->data) {
        r->builtin = 1;
        char dd[2100];
        snprintf(dd, sizeof(dd), "%s/data", r->dir);
        snprintf(r->data_path, sizeof(r->data_path), "%s/train.bin", dd);
        snprintf(r->val_path, sizeof(r->val_path), "%s/val.bin", dd);
        struct stat st;
        if (stat(r->data_path, &st) != 0) {
            if (make_dir("train", dd)) return 1;
            fprintf(stderr, "mom train: the built-in data (setting %s) goes to %s\n", o->setting, dd);
            if ((s = builtin_data_install(r->ctx, o->setting, dd))) return 1;
        }
        o->val = r->val_path;
    } else {
        snprintf(r->data_path, sizeof(r->data_path), "%s", o->data);
    }
    if ((s = mom_dataset_open(r->ctx, r->data_path, &r->train))) return tool_error("train", r->ctx, s);
    if (o->val && (s = mom_dataset_open(r->ctx, o->val, &r->val))) return tool_error("train", r->ctx, s);

    char mp[2400], op[2400];
    snprintf(mp, sizeof(mp), "%s/model.safetensors", r->dir);
    snprintf(op, sizeof(op), "%s/optim.safetensors", r->dir);
    if (resuming) {
        if ((s = mom_model_load(r->ctx, mp, &r->m)) || (s = mom_model_load_optim(r->m, op, &r->data_rng)))
            return tool_error("train", r->ctx, s);
    } else if (o->model) {
        if ((s = mom_model_load(r->ctx, o->model, &r->m))) return tool_error("train", r->ctx, s);
        r->data_rng = (uint64_t)o->seed;
    } else {
        mom_config cfg;
        mom_config_default(&cfg);
        if (o->config) {
            if ((s = mom_config_load(r->ctx, o->config, &cfg))) return tool_error("train", r->ctx, s);
        } else {
            /* Without a config the model fits the data: its vocabulary,
             * modalities and layout. */
            cfg.vocab_size = (int)mom_dataset_vocab_size(r->train);
            cfg.n_modalities = mom_dataset_n_modalities(r->train);
            if ((s = mom_dataset_vocab_layout(r->train, &cfg.vocab_layout)) ||
                (s = mom_dataset_patch_geometry(r->train, &cfg.patches)))
                return tool_error("train", r->ctx, s);
            if (r->builtin) {
                cfg.d_model = 128;
                cfg.n_layer = 2;
            }
        }
        if ((s = mom_model_create(r->ctx, &cfg, (uint64_t)o->seed, &r->m))) return tool_error("train", r->ctx, s);
        r->data_rng = (uint64_t)o->seed;
    }
    if ((s = mom_dataset_check(r->m, r->train)) || (r->val && (s = mom_dataset_check(r->m, r->val))))
        return tool_error("train", r->ctx, s);
    if (mom_dataset_n_tokens(r->train) < (int64_t)o->T + 2) {
        fprintf(stderr, "mom train: %s has %lld tokens, fewer than --seq %d + 2\n", r->data_path,
                (long long)mom_dataset_n_tokens(r->train), o->T);
        return 1;
    }
    return 0;
}

/* text / image / speech when the model has a vocabulary layout, else m0, m1, ... */
static void names_for(const run *r, const char **names, int n)
{
    const mom_vocab_layout *v = &mom_model_config(r->m)->vocab_layout;
    for (int k = 0; k < n; k++) names[k] = mom_modality_name(v, k);
}

/* "  text 1.2345  image -" (a modality without targets shows -), newline. */
static void print_by_modality(const mom_losses *l, const char *const *names, int n_mod)
{
    for (int k = 0; k < n_mod; k++) {
        if (isnan(l->by_modality[k])) printf("  %s -", names[k]);
        else printf("  %s %.4f", names[k], l->by_modality[k]);
    }
    printf("\n");
}

/* A held-out evaluation, as one metrics line {"eval": {...}, "step", "train_flops"}. */
static int log_eval(run *r, int64_t step, double flops, mom_losses *out)
{
    if (!is_writer()) return 0; /* every rank holds the same model */
    mom_losses ev;
    mom_status s = mom_model_evaluate(r->m, r->val, r->o.B, r->o.T, r->o.eval_batches, &ev);
    if (s) return tool_error("train", r->ctx, s);
    fprintf(r->metrics, "{\"eval\": {");
    print_losses(r->metrics, &ev, mom_model_config(r->m)->n_modalities);
    fprintf(r->metrics, ", \"targets\": %lld}, \"step\": %lld, \"train_flops\": %.6g}\n", (long long)ev.n_targets,
            (long long)step, flops);
    fflush(r->metrics);
    if (out) *out = ev;
    return 0;
}

/* The losses of every rank's micro-batches as one (data parallel), and
 * the ranks' votes to stop (*stop: this rank's 0 or 1 in, the sum out), so
 * every rank stops after the same step. */
static int sum_losses(const mom_model *m, mom_losses *acc, double *stop)
{
    if (tool_mpi_size() == 1) return 0;
    double v[2 * MOM_MAX_MODALITIES + 2];
    for (int k = 0; k < MOM_MAX_MODALITIES; k++) {
        v[2 * k] = acc->count[k] ? acc->by_modality[k] * (double)acc->count[k] : 0.0;
        v[2 * k + 1] = (double)acc->count[k];
    }
    v[2 * MOM_MAX_MODALITIES] = (double)acc->n_targets;
    v[2 * MOM_MAX_MODALITIES + 1] = *stop;
    if (tool_mpi_sum_doubles(v, 2 * MOM_MAX_MODALITIES + 2)) return -1;
    *stop = v[2 * MOM_MAX_MODALITIES + 1];
    mom_losses all, zero;
    memset(&all, 0, sizeof(all));
    memset(&zero, 0, sizeof(zero));
    for (int k = 0; k < MOM_MAX_MODALITIES; k++) {
        all.count[k] = (int64_t)v[2 * k + 1];
        all.by_modality[k] = all.count[k] ? v[2 * k] / v[2 * k + 1] : NAN;
    }
    all.n_targets = (int64_t)v[2 * MOM_MAX_MODALITIES];
    *acc = zero;
    mom_losses_accumulate(m, acc, &all);
    return 0;
}

static int train_loop(run *r)
{
    const train_opts *o = &r->o;
    const int n_mod = mom_model_config(r->m)->n_modalities;
    const size_t n = (size_t)o->B * o->T;
    int32_t *tok = malloc(n * 4), *tgt = malloc(n * 4);
    uint8_t *mod = malloc(n), *tmod = malloc(n);
    int64_t *starts = malloc(sizeof(int64_t) * (size_t)o->B);
    /* Continuous images: each batch's patches too. */
    const int pd = mom_patch_dim(&mom_model_config(r->m)->patches);
    float *patches = pd ? malloc(sizeof(float) * n * pd) : NULL;
    if (!tok || !tgt || !mod || !tmod || !starts || (pd && !patches)) {
        fprintf(stderr, "mom train: out of memory for batch %d x %d\n", o->B, o->T);
        free(tok); free(tgt); free(mod); free(tmod); free(starts); free(patches);
        return 1;
    }
    mom_optim_settings os;
    mom_optim_default_settings(&os);
    os.lr = o->lr;
    os.warmup_steps = o->warmup;
    os.total_steps = (int)(o->steps < 2147483647 ? o->steps : 2147483647);
    os.weight_decay = o->wd;
    os.clip_norm = o->clip;
    const char *names[MOM_MAX_MODALITIES];
    names_for(r, names, n_mod);
    mom_model_info info;
    mom_model_get_info(r->m, &info);
    progress pg;
    const int64_t step0 = mom_model_steps_done(r->m);
    progress_start(&pg, o->steps, names, n_mod);
    const int64_t span = mom_dataset_n_tokens(r->train) - o->T; /* start <= n - T - 1 */
    mom_losses last = {0};
    int rc = 0;
    double t_prev = now_seconds();
    /* Data parallel (mpirun): a step's accum x ranks micro-batches are the
     * ones a single process with that accumulation would draw, dealt out
     * round robin; the gradients are summed across ranks before the
     * (identical) optimizer step. */
    const int ranks = tool_mpi_size(), rank = tool_mpi_rank(), micro = o->accum * ranks;
    size_t n_params = 0;
    mom_model_info pinfo;
    mom_model_get_info(r->m, &pinfo);
    n_params = (size_t)pinfo.n_params;
    float *grads = ranks > 1 ? malloc(sizeof(float) * n_params) : NULL;
    double comm_s = 0.0;
    int bad_in_a_row = 0, bad_total = 0;
    /* A stop (SIGINT, SIGTERM) is taken between two steps: the step in
     * flight finishes, so nothing is half done. Alone, a run looks at its
     * own signal; data parallel, only at the sum of the ranks' votes in the
     * step's all-reduce, so all stop after the same step. */
    int stopped = 0;
    double stop_votes = 0;
    double last_save = now_seconds();
    if (ranks > 1 && !grads) {
        fprintf(stderr, "mom train: out of memory for the gradients\n");
        free(tok); free(tgt); free(mod); free(tmod); free(starts); free(patches);
        return 1;
    }
    for (int64_t step = step0; step < o->steps && !rc; step++) {
        if (ranks > 1 ? stop_votes > 0 : stop_signal_received() != 0) {
            stopped = 1;
            break;
        }
        /* One micro-batch: the fused step (one submission on a device);
         * several: zero, accumulate, then step. */
        const int fused = micro == 1;
        mom_status s = fused ? MOM_OK : mom_model_zero_grad(r->m);
        mom_losses acc = {0};
        float gnorm = 0;
        for (int a = 0; a < micro && !s; a++) {
            /* Every rank draws every micro-batch's windows (the order stays
             * the single-process one), and runs its own. */
            for (int b = 0; b < o->B; b++) starts[b] = (int64_t)(next_u64(&r->data_rng) % (uint64_t)span);
            if (a % ranks != rank) continue;
            s = mom_dataset_fill_batch(r->train, o->B, o->T, starts, tok, mod, tgt, tmod);
            if (!s && pd) s = mom_dataset_fill_patches(r->train, o->B, o->T, starts, patches);
            /* The noise of a step is a function of the step, so a resumed
             * run draws what an uninterrupted one does. */
            const uint64_t noise_seed = (uint64_t)o->seed * 0x9E3779B97F4A7C15ull + (uint64_t)step * 1000003u + (uint64_t)a;
            mom_batch batch = {.B = o->B, .T = o->T, .tokens = tok, .modality = mod, .targets = tgt, .target_modality = tmod, .patches = patches, .noise_seed = noise_seed, .low_t_fraction = o->low_t};
            mom_losses l;
            if (!s) s = fused ? mom_model_train_step(r->m, &batch, &os, &l, &gnorm)
                              : mom_model_backward(r->m, &batch, 1.0f / (float)micro, &l);
            if (s) break;
            mom_losses_accumulate(r->m, &acc, &l);
        }
        if (!s && ranks > 1) {
            if ((s = mom_model_get_grads(r->m, grads, n_params)) == MOM_OK) {
                stop_votes = stop_signal_received() != 0;
                if (tool_mpi_sum_floats(grads, n_params, &comm_s) || sum_losses(r->m, &acc, &stop_votes)) {
                    rc = 1;
                    break;
                }
                s = mom_model_set_grads(r->m, grads, n_params);
            }
        }
        const float lr = mom_optim_lr_at(&os, step);
        if (!s && !fused) s = mom_model_step(r->m, &os, &gnorm);
        if (s == MOM_ERR_NONFINITE) {
            /* Skipped, the model as it was: counted, and the same step is
             * tried again on the next batches, up to max_bad in a row. */
            bad_in_a_row++;
            bad_total++;
            if (is_writer())
                fprintf(stderr, "\nmom train: step %lld: %s (%d in a row)\n", (long long)step + 1,
                        mom_ctx_last_error(r->ctx), bad_in_a_row);
            fprintf(r->metrics, "{\"step\": %lld, \"skipped\": \"non-finite gradient\", \"skipped_total\": %d}\n",
                    (long long)step + 1, bad_total);
            fflush(r->metrics);
            if (bad_in_a_row >= o->max_bad) {
                fprintf(stderr, "mom train: stopping: %d steps in a row had a non-finite gradient (--max-bad-steps %d); "
                                "the last checkpoint is as it was\n",
                        bad_in_a_row, o->max_bad);
                rc = 1;
                break;
            }
            step--;
            continue;
        }
        if (s) {
            rc = tool_error("train", r->ctx, s);
            break;
        }
        bad_in_a_row = 0;
        last = acc;
        const double t = now_seconds(), tps = (double)n * micro / (t - t_prev);
        t_prev = t;
        fprintf(r->metrics, "{\"step\": %lld, ", (long long)step + 1);
        print_losses(r->metrics, &acc, n_mod);
        /* Training FLOPs so far (mom info's count per token, the same for
         * the dense model and MoM), so runs compare at equal compute. */
        const double flops = (double)(step + 1) * (double)n * micro * info.train_flops_per_token;
        fprintf(r->metrics, ", \"lr\": %.6g, \"grad_norm\": %.6g, \"tokens_per_s\": %.1f, \"elapsed_s\": %.3f, "
                            "\"train_flops\": %.6g}\n",
                (double)lr, (double)gnorm, tps, t - pg.t0, flops);
        fflush(r->metrics);
        if (is_writer()) progress_update(&pg, step + 1, step0, tps, &acc);
        if (r->val && o->eval_every > 0 && (step + 1) % o->eval_every == 0 && step + 1 < o->steps)
            rc = log_eval(r, step + 1, flops, NULL);
        const int due = (o->save_every > 0 && (step + 1) % o->save_every == 0) ||
                        (o->save_minutes > 0 && now_seconds() - last_save >= 60.0 * o->save_minutes);
        if (!rc && due && step + 1 < o->steps) {
            rc = checkpoint(r);
            last_save = now_seconds();
            progress_saved(&pg, step + 1);
        }
    }
    if (is_writer()) progress_end(&pg);
    /* Alone, a signal during the last step stops the run before its
     * evaluation. */
    if (!rc && !stopped && ranks == 1 && stop_signal_received()) stopped = 1;
    if (!rc) rc = checkpoint(r);
    /* Data parallel, every rank waits for rank 0's save: a rank that left
     * first with its non-zero status would have mpirun end the job, the
     * save included. */
    if (!rc && stopped && ranks > 1 && tool_mpi_barrier()) rc = 1;
    if (!rc && stopped) {
        /* A rank stopped by the others' votes exits as if sent SIGTERM. */
        const int sig = stop_signal_received() ? stop_signal_received() : SIGTERM;
        const long long at = (long long)mom_model_steps_done(r->m);
        fprintf(r->metrics, "{\"stopped\": \"%s\", \"step\": %lld}\n", stop_signal_name(sig), at);
        fflush(r->metrics);
        if (is_writer())
            fprintf(stderr, "mom train: %s: stopped after step %lld of %lld, checkpoint saved in %s; "
                            "resume with: mom train --resume %s\n",
                    stop_signal_name(sig), at, (long long)o->steps, r->dir, r->dir);
        rc = 128 + sig;
    }
    if (!rc && ranks > 1 && is_writer())
        printf("data parallel: %d ranks, %.2f s of %.2f s in MPI_Allreduce of the gradients\n", ranks, comm_s,
               now_seconds() - pg.t0);
    if (!rc && step0 < o->steps && is_writer()) {
        printf("train loss at step %lld: %.4f  by modality:", (long long)o->steps, last.loss);
        print_by_modality(&last, names, n_mod);
    }
    if (!rc && r->val) {
        mom_losses ev;
        const double flops = (double)o->steps * (double)n * micro * info.train_flops_per_token;
        rc = log_eval(r, o->steps, flops, &ev);
        if (!rc && is_writer()) {
            printf("held-out loss: %.4f  by modality:", ev.loss);
            print_by_modality(&ev, names, n_mod);
        }
    }
    if (!rc && is_writer()) {
        printf("checkpoint: %s/model.safetensors (optimizer: %s/optim.safetensors, metrics: %s/metrics.jsonl)\n",
               r->dir, r->dir, r->dir);
        printf("curves: python3 tools/scripts/plot_run.py %s   (draws %s/loss.png with gnuplot)\n", r->dir, r->dir);
    }
    free(tok); free(tgt); free(mod); free(tmod); free(starts); free(patches); free(grads);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    run r;
    memset(&r, 0, sizeof(r));
    train_opts *o = &r.o;
    o->B = 8; o->T = 256; o->steps = 300; o->lr = 3e-3f; o->warmup = 30; o->accum = 1;
    o->wd = 0.1f; o->clip = 1.0f; o->eval_batches = 32; o->setting = "three"; o->max_bad = 3;
    o->save_minutes = 10;
    o->device = -1;
    arg_opt opts[N_OPTS];
    make_opts(opts, o);
    /* A first pass finds --resume; the run's own flags then go under the command line's. */
    int p = args_parse("train", summary, opts, N_OPTS, argc, argv, 2);
    if (p) return p > 0 ? 0 : 2;
    const char *resume = o->resume;
    if (resume) {
        if (run_load_args(resume, opts, N_OPTS, summary)) return 2;
        if (args_parse("train", summary, opts, N_OPTS, argc, argv, 2)) return 2;
        o->resume = resume;
    }
    if (o->B < 1 || o->T < 1 || (int64_t)o->B * o->T > (1 << 24) || o->steps < 1 || o->accum < 1 ||
        o->warmup < 0 || o->save_every < 0 || !(o->lr > 0) || o->wd < 0 || o->clip < 0 || o->threads < 0 ||
        o->eval_batches < 0 || o->eval_every < 0 || o->max_bad < 1 || !(o->save_minutes >= 0) ||
        o->save_minutes > 1e6) {
        fprintf(stderr, "mom train: out of range: --batch %d --seq %d --steps %lld --accum %d --warmup %d "
                        "--lr %g --weight-decay %g --clip %g --threads %d --save-every-minutes %g "
                        "(see mom train --help)\n",
                o->B, o->T, (long long)o->steps, o->accum, o->warmup, (double)o->lr, (double)o->wd,
                (double)o->clip, o->threads, (double)o->save_minutes);
        return 2;
    }
    if (!(o->low_t >= 0.0f && o->low_t <= 1.0f)) {
        fprintf(stderr, "mom train: --low-t-fraction %g is not in [0, 1]\n", (double)o->low_t);
        return 2;
    }
    if (!builtin_setting_known(o->setting)) {
        fprintf(stderr, "mom train: --setting %s is not one of three, chameleon, transfusion\n", o->setting);
        return 2;
    }
    if (o->data && args_seen(opts, N_OPTS, "--setting")) {
        fprintf(stderr, "mom train: --setting picks the built-in data; it does not go with --data\n");
        return 2;
    }
    if (o->config && o->model) {
        fprintf(stderr, "mom train: give --config (a new model) or --model (existing weights), not both\n");
        return 2;
    }
    /* From here Ctrl-C and SIGTERM stop the run at the next step boundary
     * with a checkpoint (train_loop); a second one ends it at once. */
    stop_signal_install();
    /* Under mpirun rank 0 names and makes the run folder, and unpacks the
     * built-in data, before the others open it; a failure anywhere stops
     * every rank. */
    const int writer = is_writer();
    int rc = 0;
    if (resume) snprintf(r.dir, sizeof(r.dir), "%s", resume);
    else if (o->out) snprintf(r.dir, sizeof(r.dir), "%s", o->out);
    else if (writer) {
        if (make_dir("train", "runs")) rc = 1;
        run_default_dir(r.dir, sizeof(r.dir));
    }
    if (tool_mpi_bcast_string(r.dir, sizeof(r.dir))) return 1;
    /* The context first: one that cannot start (bf16 on a CPU without it)
     * leaves no empty run folder behind. */
    if (!rc && !(r.ctx = tool_ctx_on("train", o->threads, o->matmul, o->backend, o->device))) rc = 1;
    if (!rc && writer && !resume && make_dir("train", r.dir)) rc = 1;
    if (!rc && writer) rc = setup(&r, resume != NULL);
    if (tool_mpi_barrier()) return 1;
    if (!rc && !writer) rc = setup(&r, resume != NULL);
    double failed = rc != 0;
    if (tool_mpi_sum_doubles(&failed, 1)) return 1;
    if (failed && !rc) {
        fprintf(stderr, "mom train: rank %d: another rank failed to start; stopping\n", tool_mpi_rank());
        rc = 1;
    }
    if (!rc && writer && !resume && run_save_args(r.dir, opts, N_OPTS)) {
        fprintf(stderr, "mom train: cannot write %s/args.txt\n", r.dir);
        rc = 1;
    }
    char path[2400];
    if (!rc && !writer) {
        r.metrics = fopen("/dev/null", "w"); /* rank 0 keeps the metrics */
        if (!r.metrics) rc = 1;
    } else if (!rc) {
        char cj[1024];
        mom_config_to_json(mom_model_config(r.m), cj, sizeof(cj));
        snprintf(path, sizeof(path), "%s/config.json", r.dir);
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "%s\n", cj);
            fclose(f);
        }
        snprintf(path, sizeof(path), "%s/metrics.jsonl", r.dir);
        r.metrics = fopen(path, resume ? "a" : "w");
        if (!r.metrics) {
            fprintf(stderr, "mom train: cannot write %s\n", path);
            rc = 1;
        }
    }
    if (!rc) {
        mom_model_info info;
        mom_model_get_info(r.m, &info);
        if (writer)
            fprintf(stderr, "mom train: %s, %lld parameters, batch %d x %d, steps %lld -> %lld, run folder %s%s\n",
                    mom_ctx_backend_name(r.ctx), (long long)info.n_params, o->B, o->T,
                    (long long)mom_model_steps_done(r.m), (long long)o->steps, r.dir,
                    tool_mpi_size() > 1 ? " (data parallel)" : "");
        rc = train_loop(&r);
    }
    if (r.metrics) fclose(r.metrics);
    mom_dataset_destroy(&r.train);
    mom_dataset_destroy(&r.val);
    mom_model_destroy(&r.m);
    mom_ctx_destroy(&r.ctx);
    return rc;
}
