/* mom_bench_kernels: every CPU kernel of a training step, the scalar
 * reference and the context's path, on model-sized shapes. Each case sets up
 * its inputs once, restores the ones a kernel overwrites before every
 * repeat (outside the timing), keeps the best time, and compares the output
 * with the scalar one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_backend.h"
#include "ctx.h"
#include "kernels.h"
#include "quant.h"


static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct shapes {
    int B, T, BT, Dm, Di, N, X, R, K, V;
} shapes;

/* Every buffer any case needs; pristine copies of the ones kernels modify. */
typedef struct bufs {
    float *x, *w, *out, *rstd, *dout, *dx, *dw;       /* (BT, Dm) and (Dm) */
    float *u2, *ui, *ui0, *ui2, *cw, *cb, *dcw, *dcb;  /* conv: (BT, 2Di) in, (BT, Di) out */
    float *table, *dtable;                            /* (V, Dm) */
    float *logits, *logits0, *loss;                   /* (BT, V) */
    float *p, *g, *m, *v, *p0, *m0, *v0;              /* adamw over in_proj-sized tensor */
    float *delta, *A_log, *bc, *Dsk, *z, *states, *y, *dy, *du, *ddelta, *dbc, *dz, *dA, *dD, *work;
    int32_t *tok, *perm, *tgt, *rows;
    size_t n_adam;
    uint8_t *q8, *q4;           /* in_proj-sized weight (2 Di, Dm), quantized */
    float *s8, *s4, *qc;        /* their scales; a decode's output (B, 2 Di) */
} bufs;

static float *rnd(size_t n, float lo, float hi, uint64_t *s)
{
    /* Cache-line aligned, as the backend's buffers are. */
    void *raw = NULL;
    if (posix_memalign(&raw, 64, (n ? n : 1) * sizeof(float))) return NULL;
    float *p = raw;
    for (size_t i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = lo + (hi - lo) * (float)(*s >> 40) / 16777216.0f;
    }
    return p;
}

typedef struct bench_case {
    const char *name;
    void (*reset)(const shapes *s, bufs *b);
    void (*run)(const mom_kernels *k, const shapes *s, bufs *b);
    float *(*output)(bufs *b, size_t *n, const shapes *s);
    double (*work)(const shapes *s); /* units of throughput */
    const char *unit;
} bench_case;

/* --- the cases --- */
static void no_reset(const shapes *s, bufs *b) { (void)s; (void)b; }
static void reset_dx_dw(const shapes *s, bufs *b)
{
    memset(b->dx, 0, sizeof(float) * (size_t)s->BT * s->Dm);
    memset(b->dw, 0, sizeof(float) * (size_t)s->Dm);
}
static void reset_ui(const shapes *s, bufs *b) { memcpy(b->ui, b->ui0, sizeof(float) * (size_t)s->BT * s->Di); }
static void reset_table(const shapes *s, bufs *b) { memset(b->dtable, 0, sizeof(float) * (size_t)s->V * s->Dm); }
static void reset_conv(const shapes *s, bufs *b)
{
    memset(b->dcw, 0, sizeof(float) * (size_t)s->Di * s->K);
    memset(b->dcb, 0, sizeof(float) * (size_t)s->Di);
}
static void reset_logits(const shapes *s, bufs *b) { memcpy(b->logits, b->logits0, sizeof(float) * (size_t)s->BT * s->V); }
static void reset_adam(const shapes *s, bufs *b)
{
    (void)s;
    memcpy(b->p, b->p0, sizeof(float) * b->n_adam);
    memcpy(b->m, b->m0, sizeof(float) * b->n_adam);
    memcpy(b->v, b->v0, sizeof(float) * b->n_adam);
}
static void reset_scan_grads(const shapes *s, bufs *b)
{
    memset(b->dA, 0, sizeof(float) * (size_t)s->Di * s->N);
    memset(b->dD, 0, sizeof(float) * (size_t)s->Di);
}

static void run_embed_fwd(const mom_kernels *k, const shapes *s, bufs *b) { k->embed_fwd(s->BT, s->Dm, b->tok, b->table, b->out); }
static void run_embed_bwd(const mom_kernels *k, const shapes *s, bufs *b) { k->embed_bwd(s->BT, s->Dm, b->tok, b->dout, b->dtable); }
static void run_norm_fwd(const mom_kernels *k, const shapes *s, bufs *b) { k->rmsnorm_fwd(s->BT, s->Dm, b->x, b->w, 1e-5f, b->out, b->rstd); }
static void run_norm_bwd(const mom_kernels *k, const shapes *s, bufs *b)
{
    k->rmsnorm_bwd(s->BT, s->Dm, b->x, b->w, b->rstd, b->dout, b->dx, b->dw);
}
static void run_gather(const mom_kernels *k, const shapes *s, bufs *b) { k->gather_rows(s->BT, 2 * s->Di, b->perm, b->u2, 2 * s->Di, b->ui2); }
static void run_scatter(const mom_kernels *k, const shapes *s, bufs *b) { k->scatter_rows(s->BT, 2 * s->Di, b->perm, b->ui2, b->u2, 2 * s->Di, 0); }
static void run_add_bias(const mom_kernels *k, const shapes *s, bufs *b) { k->add_bias(s->BT, s->Di, b->cb, b->ui, s->Di); }
static void run_bias_grad(const mom_kernels *k, const shapes *s, bufs *b) { k->bias_grad(s->BT, s->Di, b->ui, s->Di, b->dcb); }
static void run_conv_fwd(const mom_kernels *k, const shapes *s, bufs *b)
{
    k->conv_silu_fwd(s->B, s->T, s->Di, s->K, b->rows, b->u2, 2 * s->Di, b->cw, b->cb, NULL, b->ui);
}
static void run_conv_bwd(const mom_kernels *k, const shapes *s, bufs *b)
{
    k->conv_silu_bwd(s->B, s->T, s->Di, s->K, b->rows, b->u2, 2 * s->Di, b->cw, b->cb, b->dy, b->ui2, 2 * s->Di, b->dcw, b->dcb);
}
static void run_softplus_fwd(const mom_kernels *k, const shapes *s, bufs *b) { k->softplus_fwd((size_t)s->BT * s->Di, b->delta, b->ui); }
static void run_softplus_bwd(const mom_kernels *k, const shapes *s, bufs *b) { k->softplus_bwd((size_t)s->BT * s->Di, b->delta, b->dy, b->ui); }
static double sumsq_result;
static void run_sumsq(const mom_kernels *k, const shapes *s, bufs *b) { sumsq_result = k->sumsq(b->n_adam, b->g); (void)s; }
static mom_scan_args scan_args_of(const shapes *s, bufs *b)
{
    /* The model's layout: B and C inside x_dbl rows [r B C], z the second
     * half of [u z] rows, chunks of MOM_SCAN_CHUNK. */
    mom_scan_args a = {s->B, s->T, s->Di, s->N, MOM_SCAN_CHUNK, b->ui, b->delta, b->A_log, b->bc + s->R,
                       b->bc + s->R + s->N, s->X, b->Dsk, b->z + s->Di, 2 * s->Di, b->states, b->rows, NULL};
    return a;
}
static void run_scan_fwd(const mom_kernels *k, const shapes *s, bufs *b)
{
    mom_scan_args a = scan_args_of(s, b);
    k->scan_fwd(&a, b->y);
}
static int bench_threads = 1;
static void run_scan_bwd(const mom_kernels *k, const shapes *s, bufs *b)
{
    mom_scan_args a = scan_args_of(s, b);
    mom_scan_grads g = {b->dy, b->du, b->ddelta, b->dbc + s->R, b->dbc + s->R + s->N, s->X, b->dz + s->Di, 2 * s->Di,
                        b->dA, b->dD, b->work,
                        bench_threads, NULL};
    k->scan_bwd(&a, &g);
}
static void run_xent(const mom_kernels *k, const shapes *s, bufs *b) { k->xent(s->BT, s->V, b->logits, b->tgt, 1.0f / (float)s->BT, b->loss); }
static void run_adamw(const mom_kernels *k, const shapes *s, bufs *b)
{
    (void)s;
    k->adamw(b->n_adam, b->p, b->g, b->m, b->v, 0.7f, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 3);
}

#define OUT(fn, ptr, count) \
    static float *fn(bufs *b, size_t *n, const shapes *s) { (void)s; *n = (count); return (ptr); }
OUT(out_model, b->out, (size_t)s->BT * s->Dm)
OUT(out_dx, b->dx, (size_t)s->BT * s->Dm)
OUT(out_table, b->dtable, (size_t)s->V * s->Dm)
OUT(out_ui2, b->ui2, (size_t)s->BT * 2 * s->Di)
OUT(out_u2, b->u2, (size_t)s->BT * 2 * s->Di)
OUT(out_ui, b->ui, (size_t)s->BT * s->Di)
OUT(out_dcb, b->dcb, (size_t)s->Di)
OUT(out_y, b->y, (size_t)s->BT * s->Di)
OUT(out_ddelta, b->ddelta, (size_t)s->BT * s->Di)
OUT(out_logits, b->logits, (size_t)s->BT * s->V)
OUT(out_p, b->p, b->n_adam)
/* A decode step's in_proj: B rows (one a sequence) against a quantized
 * (2 Di, Dm) weight, through the fused kernel. */
static void run_qmm_q8(const mom_kernels *k, const shapes *s, bufs *b)
{
    k->qmm_q8(s->B, 2 * s->Di, s->Dm, b->x, s->Dm, (const int8_t *)b->q8, b->s8, b->qc, 2 * s->Di, 0);
}
static void run_qmm_q4(const mom_kernels *k, const shapes *s, bufs *b)
{
    k->qmm_q4(s->B, 2 * s->Di, s->Dm, b->x, s->Dm, b->q4, b->s4, b->qc, 2 * s->Di, 0);
}
OUT(out_qc, b->qc, (size_t)s->B * 2 * s->Di)
static float sumsq_as_float[1];
static float *out_sumsq(bufs *b, size_t *n, const shapes *s)
{
    (void)b; (void)s;
    sumsq_as_float[0] = (float)sumsq_result;
    *n = 1;
    return sumsq_as_float;
}

static double w_tok_dm(const shapes *s) { return (double)s->BT * s->Dm; }
static double w_tok_2di(const shapes *s) { return (double)s->BT * 2 * s->Di; }
static double w_tok_di(const shapes *s) { return (double)s->BT * s->Di; }
static double w_updates(const shapes *s) { return (double)s->BT * s->Di * s->N; }
static double w_logits(const shapes *s) { return (double)s->BT * s->V; }
/* One in_proj weight (2 Di x Dm): the sum of squares' and AdamW's
 * parameters, and the weights a quantized product reads. */
static double w_in_proj(const shapes *s) { return 2.0 * s->Di * s->Dm; }

static const bench_case cases[] = {
    {"embed_fwd", no_reset, run_embed_fwd, out_model, w_tok_dm, "elements/s"},
    {"embed_bwd", reset_table, run_embed_bwd, out_table, w_tok_dm, "elements/s"},
    {"rmsnorm_fwd", no_reset, run_norm_fwd, out_model, w_tok_dm, "elements/s"},
    {"rmsnorm_bwd", reset_dx_dw, run_norm_bwd, out_dx, w_tok_dm, "elements/s"},
    {"gather_rows", no_reset, run_gather, out_ui2, w_tok_2di, "elements/s"},
    {"scatter_rows", no_reset, run_scatter, out_u2, w_tok_2di, "elements/s"},
    {"add_bias", reset_ui, run_add_bias, out_ui, w_tok_di, "elements/s"},
    {"bias_grad", reset_conv, run_bias_grad, out_dcb, w_tok_di, "elements/s"},
    {"conv_silu_fwd", no_reset, run_conv_fwd, out_ui, w_tok_di, "elements/s"},
    {"conv_silu_bwd", reset_conv, run_conv_bwd, out_ui2, w_tok_di, "elements/s"},
    {"softplus_fwd", no_reset, run_softplus_fwd, out_ui, w_tok_di, "elements/s"},
    {"softplus_bwd", no_reset, run_softplus_bwd, out_ui, w_tok_di, "elements/s"},
    {"sumsq", no_reset, run_sumsq, out_sumsq, w_in_proj, "elements/s"},
    {"scan_fwd", no_reset, run_scan_fwd, out_y, w_updates, "state updates/s"},
    {"scan_bwd", reset_scan_grads, run_scan_bwd, out_ddelta, w_updates, "state updates/s"},
    {"xent", reset_logits, run_xent, out_logits, w_logits, "logits/s"},
    {"adamw", reset_adam, run_adamw, out_p, w_in_proj, "parameters/s"},
    {"qmm_q8", no_reset, run_qmm_q8, out_qc, w_in_proj, "weights/s"},
    {"qmm_q4", no_reset, run_qmm_q4, out_qc, w_in_proj, "weights/s"},
};

static void free_bufs(bufs *b)
{
    float *f[] = {b->x, b->w, b->out, b->rstd, b->dout, b->dx, b->dw, b->u2, b->ui, b->ui0, b->ui2, b->cw, b->cb, b->dcw,
                  b->dcb, b->table, b->dtable, b->logits, b->logits0, b->loss, b->p, b->g, b->m, b->v, b->p0,
                  b->m0, b->v0, b->delta, b->A_log, b->bc, b->Dsk, b->z, b->states, b->y, b->dy, b->du,
                  b->ddelta, b->dbc, b->dz, b->dA, b->dD, b->work, b->s8, b->s4, b->qc};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) free(f[i]);
    free(b->q8);
    free(b->q4);
    free(b->tok);
    free(b->perm);
    free(b->rows);
    free(b->tgt);
}

static int alloc_bufs(const shapes *s, bufs *b, const mom_kernels *fast)
{
    memset(b, 0, sizeof(*b));
    uint64_t r = 7;
    const size_t BT = (size_t)s->BT, Dm = (size_t)s->Dm, Di = (size_t)s->Di, N = (size_t)s->N, V = (size_t)s->V;
    b->x = rnd(BT * Dm, -2, 2, &r); b->w = rnd(Dm, 0.5f, 1.5f, &r); b->out = rnd(BT * Dm, 0, 0, &r);
    b->rstd = rnd(BT, 0, 0, &r); b->dout = rnd(BT * Dm, -1, 1, &r); b->dx = rnd(BT * Dm, 0, 0, &r);
    b->dw = rnd(Dm, 0, 0, &r);
    b->u2 = rnd(BT * 2 * Di, -1, 1, &r); b->ui = rnd(BT * Di, -1, 1, &r); b->ui0 = rnd(BT * Di, -1, 1, &r); b->ui2 = rnd(BT * 2 * Di, 0, 0, &r);
    b->cw = rnd(Di * (size_t)s->K, -0.5f, 0.5f, &r); b->cb = rnd(Di, -0.5f, 0.5f, &r);
    b->dcw = rnd(Di * (size_t)s->K, 0, 0, &r); b->dcb = rnd(Di, 0, 0, &r);
    b->table = rnd(V * Dm, -1, 1, &r); b->dtable = rnd(V * Dm, 0, 0, &r);
    b->logits0 = rnd(BT * V, -4, 4, &r); b->logits = rnd(BT * V, 0, 0, &r); b->loss = rnd(BT, 0, 0, &r);
    b->n_adam = 2 * Di * Dm;
    b->p0 = rnd(b->n_adam, -1, 1, &r); b->g = rnd(b->n_adam, -1, 1, &r); b->m0 = rnd(b->n_adam, -0.1f, 0.1f, &r);
    b->v0 = rnd(b->n_adam, 0, 0.1f, &r); b->p = rnd(b->n_adam, 0, 0, &r); b->m = rnd(b->n_adam, 0, 0, &r);
    b->v = rnd(b->n_adam, 0, 0, &r);
    b->delta = rnd(BT * Di, -6, 3, &r); /* softplus inputs; a plausible delta for the scan too */
    b->A_log = rnd(Di * N, 0, 2.7f, &r); b->bc = rnd(BT * (size_t)s->X, -1, 1, &r); b->Dsk = rnd(Di, 0.5f, 1.5f, &r);
    b->z = rnd(BT * 2 * Di, -3, 3, &r);
    b->states = rnd((size_t)s->B * mom_scan_n_chunks(s->T, MOM_SCAN_CHUNK) * Di * N, 0, 0, &r);
    b->y = rnd(BT * Di, 0, 0, &r); b->dy = rnd(BT * Di, -1, 1, &r); b->du = rnd(BT * Di, 0, 0, &r);
    b->ddelta = rnd(BT * Di, 0, 0, &r); b->dbc = rnd(BT * (size_t)s->X, 0, 0, &r); b->dz = rnd(BT * 2 * Di, 0, 0, &r);
    b->dA = rnd(Di * N, 0, 0, &r); b->dD = rnd(Di, 0, 0, &r);
    mom_scan_args a = scan_args_of(s, b);
    size_t wf = mom_kernels_scalar.scan_bwd_work_floats(&a, bench_threads);
    size_t wf2 = fast->scan_bwd_work_floats(&a, bench_threads);
    b->work = rnd(wf > wf2 ? wf : wf2, 0, 0, &r);
    b->tok = malloc(BT * 4); b->perm = malloc(BT * 4); b->tgt = malloc(BT * 4); b->rows = malloc(BT * 4);
    if (!b->tok || !b->perm || !b->tgt || !b->rows || !b->work || !b->logits || !b->v) return -1;
    /* The quantized weight: p0 (2 Di x Dm random values) in each format. */
    const int64_t rows = 2 * (int64_t)Di;
    b->q8 = malloc((size_t)(rows * quant_row_bytes(MOM_WEIGHTS_Q8, (int64_t)Dm)));
    b->q4 = malloc((size_t)(rows * quant_row_bytes(MOM_WEIGHTS_Q4, (int64_t)Dm)));
    b->s8 = rnd((size_t)(rows * quant_row_scales(MOM_WEIGHTS_Q8, (int64_t)Dm)), 0, 0, &r);
    b->s4 = rnd((size_t)(rows * quant_row_scales(MOM_WEIGHTS_Q4, (int64_t)Dm)), 0, 0, &r);
    b->qc = rnd((size_t)s->B * (size_t)rows, 0, 0, &r);
    if (!b->q8 || !b->q4 || !b->s8 || !b->s4 || !b->qc) return -1;
    quant_rows(MOM_WEIGHTS_Q8, b->p0, rows, (int64_t)Dm, b->q8, b->s8);
    quant_rows(MOM_WEIGHTS_Q4, b->p0, rows, (int64_t)Dm, b->q4, b->s4);
    /* The conv and the scan find positions through the row map of a batch
     * in modality order, as in the model: here three modalities in spans
     * of 64 positions, each batch row starting on a different one. */
    size_t next = 0;
    for (int m = 0; m < 3; m++)
        for (size_t p = 0; p < BT; p++)
            if ((int)((p % (size_t)s->T / 64 + p / (size_t)s->T) % 3) == m) b->rows[p] = (int32_t)next++;
    for (size_t i = 0; i < BT; i++) {
        b->tok[i] = (int32_t)((i * 2654435761u) % V);
        b->perm[i] = (int32_t)((i * 7919u) % BT); /* a permutation when gcd(7919, BT) = 1 */
        b->tgt[i] = i % 17 == 3 ? -1 : (int32_t)((i * 40503u) % V);
    }
    /* 7919 is prime: make sure it does not divide BT, else fall back to the identity. */
    if (BT % 7919 == 0)
        for (size_t i = 0; i < BT; i++) b->perm[i] = (int32_t)i;
    /* delta for the scan must be positive: softplus of the raw values. */
    return 0;
}

mom_status mom_bench_kernels(mom_ctx *ctx, const mom_config *cfg_in, int B, int T, mom_bench_emit emit, void *user)
{
    if (!ctx) return MOM_ERR_INVALID_ARG;
    if (!cfg_in || !emit)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_bench_kernels: %s is NULL", cfg_in ? "emit" : "cfg");
    if (B < 1 || T < 1 || (int64_t)B * T > (1 << 20))
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "bench: batch %d x seq %d out of range (1..1M tokens)", B, T);
    mom_config cfg = *cfg_in;
    mom_status st = mom_config_validate(ctx, &cfg);
    if (st) return st;
    /* The CPU backend's kernels; on another backend, those MOM_CPU picks. */
    const mom_kernels *fast = cpu_backend_kernels(ctx->be);
    if (!fast) fast = mom_kernels_select(getenv("MOM_CPU"));
    if (!fast) return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "bench: MOM_CPU=%s names no kernels this CPU runs", getenv("MOM_CPU"));
    shapes s = {B, T, B * T, cfg.d_model, cfg.expand * cfg.d_model, cfg.d_state, cfg.dt_rank + 2 * cfg.d_state,
                cfg.dt_rank, cfg.d_conv, cfg.vocab_size};
    bench_threads = ctx->be->threads(ctx->be, ctx->n_threads);
    bufs b;
    if (alloc_bufs(&s, &b, fast)) {
        free_bufs(&b);
        return mom_fail(ctx, MOM_ERR_NOMEM, "bench: out of memory for batch %d x seq %d", B, T);
    }
    /* The scan wants delta > 0: a copy of softplus(raw). */
    float *raw = malloc(sizeof(float) * (size_t)s.BT * s.Di);
    if (!raw) {
        free_bufs(&b);
        return mom_fail(ctx, MOM_ERR_NOMEM, "bench: out of memory");
    }
    memcpy(raw, b.delta, sizeof(float) * (size_t)s.BT * s.Di);
    char shape[96];
    snprintf(shape, sizeof(shape), "B %d T %d d_model %d d_inner %d d_state %d vocab %d", B, T, s.Dm, s.Di, s.N, s.V);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const bench_case *bc = &cases[c];
        const int is_scan = !strncmp(bc->name, "scan", 4);
        memcpy(b.delta, raw, sizeof(float) * (size_t)s.BT * s.Di);
        if (is_scan) mom_softplus_fwd_ref((size_t)s.BT * s.Di, raw, b.delta);
        /* The scalar reference first: its output is what the fast path is held to. */
        size_t n_out = 0;
        float *ref_out = NULL;
        const mom_kernels *paths[2] = {&mom_kernels_scalar, fast};
        const int n_paths = strcmp(fast->name, "scalar") ? 2 : 1;
        for (int pi = 0; pi < n_paths; pi++) {
            const mom_kernels *k = paths[pi];
            if (!strcmp(bc->name, "scan_bwd")) run_scan_fwd(k, &s, &b); /* states for this path */
            double best = 1e30;
            const int reps = pi == 0 ? 2 : 5;
            for (int r = 0; r < reps; r++) {
                bc->reset(&s, &b);
                const double t0 = now_s();
                bc->run(k, &s, &b);
                const double dt = now_s() - t0;
                if (dt < best) best = dt;
            }
            float *out = bc->output(&b, &n_out, &s);
            double max_err = 0;
            if (pi == 0) {
                ref_out = malloc(sizeof(float) * n_out);
                if (ref_out) memcpy(ref_out, out, sizeof(float) * n_out);
            } else if (ref_out) {
                /* Comparisons, not fmax: GCC 12 for aarch64 crashes (an
                 * internal error) vectorizing an fmax reduction over
                 * floats widened to double. */
                double mx = 0, e = 0;
                for (size_t i = 0; i < n_out; i++) {
                    const double a = fabs((double)ref_out[i]), d = fabs((double)out[i] - ref_out[i]);
                    if (a > mx) mx = a;
                    if (d > e || d != d) e = d != d ? INFINITY : d; /* a NaN output is an infinite error */
                }
                max_err = e / (mx > 0 ? mx : 1);
            }
            char line[512];
            snprintf(line, sizeof(line),
                     "{\"name\": \"%s\", \"shape\": \"%s\", \"path\": \"%s\", \"threads\": %d, \"seconds\": %.6g, "
                     "\"throughput\": %.6g, \"unit\": \"%s\", \"max_err\": %.3g}",
                     bc->name, shape, k->name, bench_threads, best, bc->work(&s) / best, bc->unit, max_err);
            emit(line, user);
        }
        free(ref_out);
    }
    free(raw);
    free_bufs(&b);
    return MOM_OK;
}
