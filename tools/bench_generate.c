/* mom bench generate: what inference costs.
 *   prefill    a prompt of P tokens fed to an empty state (n_seq rows at once)
 *   decode     S single-token steps after it: median latency per step
 *   recompute  what a generator without a state pays per token: the whole
 *              sequence so far run again (a fresh prefill of it), timed at
 *              the middle of the decode's contexts, P + S/2
 * at batch 1 and batch 8, each a JSON line; decode's speedup_vs_recompute
 * is the ratio of the two per-token costs measured in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_generate.h"
#include "common.h"
#include "progress.h"

/* Random tokens of the model's vocabulary, in modality runs of 64 as the
 * training benchmark has them (token ids and modalities need not agree
 * for timing). A continuous-image model's image positions take patches,
 * not tokens: there the image runs are text (the token path is timed). */
static void fill_tokens(int32_t *tok, uint8_t *mod, size_t n, const mom_config *c, uint64_t seed)
{
    uint64_t s = seed;
    const int patches = mom_patch_dim(&c->patches) > 0;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        tok[i] = (int32_t)((s >> 33) % (uint64_t)c->vocab_size);
        mod[i] = (uint8_t)(((i / 64) * 2654435761u >> 7) % (uint64_t)c->n_modalities);
        if (patches && mod[i] == MOM_MOD_IMAGE) mod[i] = MOM_MOD_TEXT;
    }
}

enum { REPEATS = 3, RECOMPUTE_TOKENS = 3 };

static int bench_batch(mom_ctx *ctx, mom_model *m, int B, int P, int S)
{
    const mom_config *c = mom_model_config(m);
    const size_t n = (size_t)B * (P + S + RECOMPUTE_TOKENS);
    int32_t *tok = malloc(sizeof(int32_t) * n), *row = malloc(sizeof(int32_t) * n);
    uint8_t *mod = malloc(n), *rmod = malloc(n);
    float *logits = malloc(sizeof(float) * (size_t)B * c->vocab_size);
    int32_t *next = malloc(sizeof(int32_t) * (size_t)B);
    uint8_t *next_mod = malloc((size_t)B);
    double *t = malloc(sizeof(double) * (size_t)(S > REPEATS ? S : REPEATS));
    mom_state *st = NULL;
    mom_state_settings ss;
    mom_state_default_settings(&ss);
    ss.n_seq = B;
    mom_status s = !tok || !row || !mod || !rmod || !logits || !t || !next || !next_mod ? MOM_ERR_NOMEM
                                                                                      : mom_state_create(m, &ss, &st);
    const int L = P + S + RECOMPUTE_TOKENS; /* tokens per sequence: row b is tok[b L ..] */
    if (!s) fill_tokens(tok, mod, n, c, 7);
    /* The prompts as one (B, P) block. */
    for (int b = 0; !s && b < B; b++) {
        memcpy(row + (size_t)b * P, tok + (size_t)b * L, sizeof(int32_t) * P);
        memcpy(rmod + (size_t)b * P, mod + (size_t)b * L, (size_t)P);
    }
    for (int r = 0; !s && r < REPEATS + 1; r++) { /* the first is not timed */
        mom_state_reset(st, -1);
        const double t0 = now_seconds();
        s = mom_state_prefill(st, 0, B, P, row, rmod, logits);
        if (r) t[r - 1] = now_seconds() - t0;
    }
    double prefill = 0.0;
    if (!s) {
        prefill = median(t, REPEATS);
        printf("{\"name\": \"prefill\", \"batch\": %d, \"prompt\": %d, \"seconds\": %.6g, \"tokens_per_s\": %.1f}\n",
               B, P, prefill, B * P / prefill);
    }
    for (int k = 0; !s && k < S; k++) {
        for (int b = 0; b < B; b++) {
            next[b] = tok[(size_t)b * L + P + k];
            next_mod[b] = mod[(size_t)b * L + P + k];
        }
        const double t0 = now_seconds();
        s = mom_state_step(st, next, next_mod, logits);
        t[k] = now_seconds() - t0;
    }
    double step = 0.0;
    if (!s) step = median(t, S);
    /* Recompute: the token after position len - 1 costs a fresh run over
     * the len tokens before it; the decode steps ran at contexts P to
     * P + S - 1, so len is taken from their middle. */
    for (int k = 0; !s && k < RECOMPUTE_TOKENS; k++) {
        const int len = P + S / 2 + k;
        int32_t *rt = malloc(sizeof(int32_t) * (size_t)B * len);
        uint8_t *rm = malloc((size_t)B * len);
        if (!rt || !rm) s = MOM_ERR_NOMEM;
        for (int b = 0; !s && b < B; b++) {
            memcpy(rt + (size_t)b * len, tok + (size_t)b * L, sizeof(int32_t) * len);
            memcpy(rm + (size_t)b * len, mod + (size_t)b * L, (size_t)len);
        }
        mom_state_reset(st, -1);
        const double t0 = now_seconds();
        if (!s) s = mom_state_prefill(st, 0, B, len, rt, rm, logits);
        t[k] = now_seconds() - t0;
        free(rt);
        free(rm);
    }
    int rc = 0;
    if (s) rc = tool_error("bench generate", ctx, s);
    else {
        const double recompute = median(t, RECOMPUTE_TOKENS);
        printf("{\"name\": \"decode\", \"batch\": %d, \"context\": [%d, %d], \"steps\": %d, \"seconds\": %.6g, "
               "\"latency_ms\": %.4f, \"tokens_per_s\": %.1f, \"recompute_seconds\": %.6g, "
               "\"speedup_vs_recompute\": %.1f}\n",
               B, P, P + S - 1, S, step, step * 1e3, B / step, recompute, recompute / step);
        printf("{\"name\": \"recompute\", \"batch\": %d, \"context\": %d, \"seconds\": %.6g, "
               "\"latency_ms\": %.4f, \"tokens_per_s\": %.1f}\n",
               B, P + S / 2, recompute, recompute * 1e3, B / recompute);
    }
    fflush(stdout);
    mom_state_destroy(&st);
    free(tok);
    free(row);
    free(mod);
    free(rmod);
    free(logits);
    free(next);
    free(next_mod);
    free(t);
    return rc;
}

int bench_generate(mom_ctx *ctx, mom_model *m, int P, int S)
{
    char cj[1024];
    mom_config_to_json(mom_model_config(m), cj, sizeof(cj));
    printf("{\"name\": \"generate_setup\", \"config\": %s, \"backend\": \"%s\"}\n", cj, mom_ctx_backend_name(ctx));
    const int batches[] = {1, 8};
    for (int i = 0; i < 2; i++)
        if (bench_batch(ctx, m, batches[i], P, S)) return 1;
    return 0;
}
