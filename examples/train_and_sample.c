/* libmom from a C program: train a tiny two-modality model for a few steps
 * on a pattern it can learn, then sample from it.
 *
 *   cc train_and_sample.c $(pkg-config --cflags --libs libmom) -o train_and_sample
 *
 * The data: modality 0 counts 0, 1, 2, ... 7 and modality 1 counts 8 ... 15,
 * each row switching modality every 8 tokens, so the next token is always
 * the current one plus one within its block. Exits 0 when the loss fell. */
#include <stdio.h>
#include <stdlib.h>

#include <mom.h>

enum { VOCAB = 16, B = 4, T = 32, STEPS = 30, SAMPLED = 12 };

static int check(mom_ctx *ctx, mom_status s, const char *what)
{
    if (s == MOM_OK) return 0;
    fprintf(stderr, "%s: %s: %s\n", what, mom_status_str(s), ctx ? mom_ctx_last_error(ctx) : mom_ctx_create_error());
    return 1;
}

/* Row b starts at offset b and runs through the blocks of 8. */
static void make_batch(int32_t *tok, uint8_t *mod, int32_t *tgt, uint8_t *tgt_mod)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t <= T; t++) {
            const int i = b + t, m = (i / 8) % 2;
            const int32_t id = (int32_t)(8 * m + i % 8);
            if (t < T) {
                tok[b * T + t] = id;
                mod[b * T + t] = (uint8_t)m;
            }
            if (t > 0) {
                tgt[b * T + t - 1] = id;
                tgt_mod[b * T + t - 1] = (uint8_t)m;
            }
        }
}

int main(void)
{
    printf("libmom %s\n", mom_version());
    mom_ctx_settings cs;
    mom_ctx_default_settings(&cs);
    cs.n_threads = 2;
    mom_ctx *ctx = NULL;
    if (check(NULL, mom_ctx_create(&ctx, &cs), "mom_ctx_create")) return 1;

    mom_config cfg;
    mom_config_default(&cfg);
    cfg.n_modalities = 2;
    cfg.vocab_size = VOCAB;
    cfg.d_model = 32;
    cfg.n_layer = 2;
    mom_model *m = NULL;
    int rc = check(ctx, mom_model_create(ctx, &cfg, 42, &m), "mom_model_create");

    int32_t tok[B * T], tgt[B * T];
    uint8_t mod[B * T], tgt_mod[B * T];
    make_batch(tok, mod, tgt, tgt_mod);
    const mom_batch batch = {.B = B, .T = T, .tokens = tok, .modality = mod, .targets = tgt, .target_modality = tgt_mod};
    mom_optim_settings os;
    mom_optim_default_settings(&os);
    os.lr = 1e-2f;
    os.warmup_steps = 5;
    os.total_steps = STEPS;
    double first = 0, last = 0;
    for (int step = 0; step < STEPS && !rc; step++) {
        mom_losses l;
        rc = check(ctx, mom_model_train_step(m, &batch, &os, &l, NULL), "mom_model_train_step");
        if (step == 0) first = l.loss;
        last = l.loss;
    }
    if (!rc) printf("loss %.3f -> %.3f after %d steps\n", first, last, STEPS);

    /* Sample greedily after the prompt 0 1 2 (modality 0). */
    mom_state *st = NULL;
    mom_sampler *sp = NULL;
    mom_state_settings ss;
    mom_state_default_settings(&ss);
    mom_sampling sg;
    mom_sampling_default(&sg);
    sg.temperature = 0;
    if (!rc) rc = check(ctx, mom_state_create(m, &ss, &st), "mom_state_create");
    if (!rc) rc = check(ctx, mom_sampler_create(m, &sg, 1, &sp), "mom_sampler_create");
    const int32_t prompt[3] = {0, 1, 2};
    const uint8_t prompt_mod[3] = {0, 0, 0};
    float logits[VOCAB];
    if (!rc) rc = check(ctx, mom_state_prefill(st, 0, 1, 3, prompt, prompt_mod, logits), "mom_state_prefill");
    for (int i = 0; i < 3 && !rc; i++) rc = check(ctx, mom_sampler_accept(sp, 0, prompt[i]), "mom_sampler_accept");
    if (!rc) printf("sampled: 0 1 2");
    for (int i = 0; i < SAMPLED && !rc; i++) {
        int32_t next;
        rc = check(ctx, mom_sampler_sample(sp, 0, logits, &next), "mom_sampler_sample") ||
             check(ctx, mom_sampler_accept(sp, 0, next), "mom_sampler_accept");
        const uint8_t next_mod = (uint8_t)(next >= 8);
        if (!rc) rc = check(ctx, mom_state_step(st, &next, &next_mod, logits), "mom_state_step");
        if (!rc) printf(" %d", next);
    }
    if (!rc) printf("\n");

    mom_sampler_destroy(&sp);
    mom_state_destroy(&st);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
    if (!rc && !(last < first)) {
        fprintf(stderr, "the loss did not fall: %.3f -> %.3f\n", first, last);
        rc = 1;
    }
    return rc;
}
