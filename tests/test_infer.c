/* Inference: a state fed by prefill and step gives the logits of one full
 * forward (mom_model_logits) at every position, for every modality mix,
 * odd lengths, T = 1, prompts cut into pieces and sequences batched
 * together; snapshots restore exactly; bad input changes nothing. Then
 * the sampler: reproducible by seed, top-k 1 is greedy, draws follow the
 * softmax, and images and recordings stay well formed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "model.h"
#include "test_util.h"

/* 7 special tokens, 20 text, 12 image codes, 9 speech units. */
static const mom_vocab_layout LAYOUT = {.n_special = MOM_N_SPECIAL, .n_text = 20, .n_image = 12, .n_speech = 9};
enum { V = MOM_N_SPECIAL + 20 + 12 + 9 };
#define TOL 1e-5

static mom_model *new_model(mom_ctx *ctx)
{
    mom_config c = tu_config(3, V, 24, 2, 16); /* d_inner 48: three 16-channel groups */
    c.vocab_layout = LAYOUT;
    mom_model *m = tu_new_model(ctx, &c, 3);
    m->chunk = 8;         /* several scan chunks per sequence */
    m->proj_tile = 5;     /* several GEMM pieces per modality slice */
    m->head_block = 7;    /* several LM-head blocks */
    m->prefill_rows = 16; /* prompts cut into pieces */
    /* Away from the init, so every parameter shapes the logits. */
    uint64_t s = 99;
    for (size_t i = 0; i < mom_model_n_tensors(m); i++) {
        const char *name = mom_model_tensor_name(m, i);
        const size_t n = tu_tensor_size(m, name);
        float *p = malloc(n * 4);
        assert_int_equal(mom_model_get_param(m, name, p, n), MOM_OK);
        for (size_t j = 0; j < n; j++) p[j] += 0.3f * (tu_uniform(&s) - 0.5f);
        assert_int_equal(mom_model_set_param(m, name, p, n), MOM_OK);
        free(p);
    }
    return m;
}

/* Random tokens of the modalities in mask (bit k: modality k), each with
 * the modality its id has in the layout. */
static void make_tokens(int n, unsigned mask, uint64_t seed, int32_t *tok, uint8_t *mod)
{
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        int t;
        do t = (int)(tu_next(&s) % V);
        while (!(mask >> mom_vocab_layout_modality(&LAYOUT, t) & 1));
        tok[i] = t;
        mod[i] = (uint8_t)mom_vocab_layout_modality(&LAYOUT, t);
    }
}

/* |got - want| / max |want| over n logits. */
static double rel_err(const float *got, const float *want, size_t n)
{
    return tu_max_diff(got, want, n) / tu_max_abs(want, n);
}

static mom_state *new_state(mom_model *m, int n_seq, int64_t max_tokens)
{
    mom_state_settings ss;
    mom_state_default_settings(&ss);
    ss.n_seq = n_seq;
    ss.max_tokens = max_tokens;
    mom_state *st = NULL;
    assert_int_equal(mom_state_create(m, &ss, &st), MOM_OK);
    return st;
}

/* Prefill the first p tokens, then step the rest one at a time: every
 * logit vector against the full forward's. Returns the worst error. */
static double prefill_then_step(mom_model *m, int T, int p, const int32_t *tok, const uint8_t *mod,
                                const float *full)
{
    mom_state *st = new_state(m, 1, 0);
    float lg[V];
    assert_int_equal(mom_state_prefill(st, 0, 1, p, tok, mod, lg), MOM_OK);
    double worst = rel_err(lg, full + (size_t)(p - 1) * V, V);
    for (int t = p; t < T; t++) {
        assert_int_equal(mom_state_step(st, tok + t, mod + t, lg), MOM_OK);
        const double e = rel_err(lg, full + (size_t)t * V, V);
        worst = e > worst ? e : worst;
    }
    assert_int_equal(mom_state_length(st, 0), T);
    mom_state_destroy(&st);
    assert_null(st);
    return worst;
}

static void run_equality(const char *cpu)
{
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 0, cpu), MOM_OK);
    mom_model *m = new_model(ctx);
    const unsigned mixes[] = {1, 2, 4, 7, 5};
    const char *names[] = {"text", "image", "speech", "all three", "text+speech"};
    enum { T = 41 };
    const int splits[] = {1, 2, 7, 8, 9, 16, 17, 33, 40, 41};
    for (size_t x = 0; x < sizeof(mixes) / sizeof(mixes[0]); x++) {
        int32_t tok[T];
        uint8_t mod[T];
        make_tokens(T, mixes[x], 10 + x, tok, mod);
        float *full = malloc(sizeof(float) * T * V);
        assert_int_equal(mom_model_logits(m, 1, T, tok, mod, full), MOM_OK);
        double worst = 0.0;
        for (size_t k = 0; k < sizeof(splits) / sizeof(splits[0]); k++) {
            const double e = prefill_then_step(m, T, splits[k], tok, mod, full);
            worst = e > worst ? e : worst;
        }
        fprintf(stderr, "%s, %-11s prefill + step vs forward: worst relative error %.2e\n", cpu ? cpu : "auto",
                names[x], worst);
        assert_true(worst <= TOL);
        free(full);
    }
    /* T = 1: one token, from an empty state. */
    int32_t t1 = 30;
    uint8_t m1 = (uint8_t)mom_vocab_layout_modality(&LAYOUT, t1);
    float full1[V], lg[V];
    assert_int_equal(mom_model_logits(m, 1, 1, &t1, &m1, full1), MOM_OK);
    mom_state *st = new_state(m, 1, 0);
    assert_int_equal(mom_state_step(st, &t1, &m1, lg), MOM_OK);
    assert_true(rel_err(lg, full1, V) <= TOL);
    mom_state_destroy(&st);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

static void test_prefill_step_equals_forward(void **st)
{
    (void)st;
    run_equality(NULL);
}

static void test_prefill_step_equals_forward_scalar(void **st)
{
    (void)st;
    run_equality("scalar");
}

/* Three sequences of different prompts step together, each with its own
 * modality per token, and match their own full forwards; three prompts of
 * one length prefilled together match a batched forward. */
static void test_batched_sequences(void **s)
{
    (void)s;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 0, NULL), MOM_OK);
    mom_model *m = new_model(ctx);
    enum { NS = 3, STEPS = 12, TMAX = 10 + STEPS };
    const int p[NS] = {3, 10, 1};
    int32_t tok[NS][TMAX];
    uint8_t mod[NS][TMAX];
    float *full[NS];
    for (int i = 0; i < NS; i++) {
        make_tokens(p[i] + STEPS, 7, 40 + i, tok[i], mod[i]);
        full[i] = malloc(sizeof(float) * TMAX * V);
        assert_int_equal(mom_model_logits(m, 1, p[i] + STEPS, tok[i], mod[i], full[i]), MOM_OK);
    }
    mom_state *st = new_state(m, NS, 0);
    float lg[NS * V];
    double worst = 0.0;
    for (int i = 0; i < NS; i++) {
        assert_int_equal(mom_state_prefill(st, i, 1, p[i], tok[i], mod[i], lg), MOM_OK);
        const double e = rel_err(lg, full[i] + (size_t)(p[i] - 1) * V, V);
        worst = e > worst ? e : worst;
    }
    for (int k = 0; k < STEPS; k++) {
        int32_t t[NS];
        uint8_t md[NS];
        for (int i = 0; i < NS; i++) {
            t[i] = tok[i][p[i] + k];
            md[i] = mod[i][p[i] + k];
        }
        assert_int_equal(mom_state_step(st, t, md, lg), MOM_OK);
        for (int i = 0; i < NS; i++) {
            const double e = rel_err(lg + (size_t)i * V, full[i] + (size_t)(p[i] + k) * V, V);
            worst = e > worst ? e : worst;
        }
    }
    fprintf(stderr, "3 sequences stepping together: worst relative error %.2e\n", worst);
    assert_true(worst <= TOL);

    /* Together: 3 prompts of 10 in one prefill. */
    int32_t tk[NS * 10];
    uint8_t md[NS * 10];
    make_tokens(NS * 10, 7, 77, tk, md);
    float *fb = malloc(sizeof(float) * NS * 10 * V);
    assert_int_equal(mom_model_logits(m, NS, 10, tk, md, fb), MOM_OK);
    assert_int_equal(mom_state_reset(st, -1), MOM_OK);
    assert_int_equal(mom_state_prefill(st, 0, NS, 10, tk, md, lg), MOM_OK);
    for (int i = 0; i < NS; i++) assert_true(rel_err(lg + (size_t)i * V, fb + ((size_t)i * 10 + 9) * V, V) <= TOL);
    free(fb);
    for (int i = 0; i < NS; i++) free(full[i]);
    mom_state_destroy(&st);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* The logits are the training forward's: their cross-entropy is its loss. */
static void test_logits_give_training_loss(void **s)
{
    (void)s;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 0, NULL), MOM_OK);
    mom_model *m = new_model(ctx);
    enum { B = 2, T = 19 };
    int32_t tok[B * (T + 1)], in[B * T], tgt[B * T];
    uint8_t mod[B * (T + 1)], min[B * T], tmod[B * T];
    make_tokens(B * (T + 1), 7, 5, tok, mod);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            in[b * T + t] = tok[b * (T + 1) + t];
            min[b * T + t] = mod[b * (T + 1) + t];
            tgt[b * T + t] = tok[b * (T + 1) + t + 1];
            tmod[b * T + t] = mod[b * (T + 1) + t + 1];
        }
    float *lg = malloc(sizeof(float) * B * T * V);
    assert_int_equal(mom_model_logits(m, B, T, in, min, lg), MOM_OK);
    double sum = 0.0;
    for (int i = 0; i < B * T; i++) {
        const float *r = lg + (size_t)i * V;
        double mx = r[0], z = 0.0;
        for (int v = 1; v < V; v++) mx = r[v] > mx ? r[v] : mx;
        for (int v = 0; v < V; v++) z += exp(r[v] - mx);
        sum += mx + log(z) - r[tgt[i]];
    }
    mom_batch b = {.B = B, .T = T, .tokens = in, .modality = min, .targets = tgt, .target_modality = tmod, .patches = NULL, .noise_seed = 0, .low_t_fraction = 0.0f};
    mom_losses l;
    assert_int_equal(mom_model_forward(m, &b, &l), MOM_OK);
    fprintf(stderr, "loss from logits %.9f, training forward %.9f\n", sum / (B * T), l.loss);
    assert_true(fabs(sum / (B * T) - l.loss) <= 1e-5 * l.loss);
    free(lg);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* Snapshot, continue, restore, continue again: the same bits. A branch
 * (one sequence copied to another) continues as its source does. */
static void test_snapshot_restore(void **s)
{
    (void)s;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 0, NULL), MOM_OK);
    mom_model *m = new_model(ctx);
    enum { P = 13, K = 9 };
    int32_t tok[P + K];
    uint8_t mod[P + K];
    make_tokens(P + K, 7, 8, tok, mod);
    mom_state *st = new_state(m, 2, 0), *snap = new_state(m, 2, 0);
    assert_int_equal(mom_state_prefill(st, 0, 1, P, tok, mod, NULL), MOM_OK);
    assert_int_equal(mom_state_copy(snap, -1, st, -1), MOM_OK);
    float first[K][2 * V], again[2 * V];
    int32_t t2[2];
    uint8_t m2[2];
    for (int k = 0; k < K; k++) {
        t2[0] = t2[1] = tok[P + k];
        m2[0] = m2[1] = mod[P + k];
        assert_int_equal(mom_state_step(st, t2, m2, first[k]), MOM_OK);
    }
    assert_int_equal(mom_state_copy(st, -1, snap, -1), MOM_OK);
    assert_int_equal(mom_state_length(st, 0), P);
    /* Branch: sequence 1 (empty until now) becomes a copy of sequence 0. */
    assert_int_equal(mom_state_copy(st, 1, st, 0), MOM_OK);
    assert_int_equal(mom_state_length(st, 1), P);
    for (int k = 0; k < K; k++) {
        t2[0] = t2[1] = tok[P + k];
        m2[0] = m2[1] = mod[P + k];
        assert_int_equal(mom_state_step(st, t2, m2, again), MOM_OK);
        assert_memory_equal(again, first[k], sizeof(float) * V);
        assert_memory_equal(again + V, first[k], sizeof(float) * V);
    }
    mom_state_destroy(&st);
    mom_state_destroy(&snap);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* A state in the caller's memory works as an allocated one does. */
static void test_caller_memory(void **s)
{
    (void)s;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 0, NULL), MOM_OK);
    mom_model *m = new_model(ctx);
    const size_t bytes = mom_state_bytes(m, 2);
    /* 2 layers x 2 sequences x d_inner 48 x (d_conv - 1 + d_state) floats. */
    assert_int_equal(bytes, (size_t)2 * 2 * 48 * (3 + 16) * 4);
    void *mem = aligned_alloc(64, bytes);
    memset(mem, 0xff, bytes); /* garbage: create must clear it */
    mom_state_settings ss;
    mom_state_default_settings(&ss);
    ss.n_seq = 2;
    ss.memory = mem;
    ss.memory_bytes = bytes - 4;
    mom_state *st = NULL, *ref = new_state(m, 2, 0);
    assert_int_equal(mom_state_create(m, &ss, &st), MOM_ERR_INVALID_ARG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "memory_bytes"));
    ss.memory = (char *)mem + 4;
    ss.memory_bytes = bytes;
    assert_int_equal(mom_state_create(m, &ss, &st), MOM_ERR_INVALID_ARG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "aligned"));
    ss.memory = mem;
    assert_int_equal(mom_state_create(m, &ss, &st), MOM_OK);
    int32_t tok[2 * 6];
    uint8_t mod[2 * 6];
    make_tokens(12, 7, 3, tok, mod);
    float a[2 * V], b[2 * V];
    assert_int_equal(mom_state_prefill(st, 0, 2, 6, tok, mod, a), MOM_OK);
    assert_int_equal(mom_state_prefill(ref, 0, 2, 6, tok, mod, b), MOM_OK);
    assert_memory_equal(a, b, sizeof(a));
    mom_state_destroy(&st);
    free(mem); /* still the caller's: destroy did not free it */
    mom_state_destroy(&ref);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* Bad input: refused with the value named; the state is as it was (its
 * next logits equal a twin's that never saw the bad call). */
static void test_bad_input_leaves_state(void **s)
{
    (void)s;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 0, NULL), MOM_OK);
    mom_model *m = new_model(ctx);
    enum { P = 5 };
    int32_t tok[P + 1];
    uint8_t mod[P + 1];
    make_tokens(P + 1, 7, 21, tok, mod);
    mom_state *st = new_state(m, 1, P + 1), *twin = new_state(m, 1, P + 1);
    assert_int_equal(mom_state_prefill(st, 0, 1, P, tok, mod, NULL), MOM_OK);
    assert_int_equal(mom_state_prefill(twin, 0, 1, P, tok, mod, NULL), MOM_OK);

    const int32_t bad_tok = V;
    const uint8_t ok_mod = 0, bad_mod[2] = {0, 3};
    assert_int_equal(mom_state_prefill(st, 0, 1, 1, &bad_tok, &ok_mod, NULL), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "token 48"));
    assert_int_equal(mom_state_step(st, &bad_tok, &ok_mod, NULL), MOM_ERR_DATA);
    const int32_t ok_tok[2] = {1, 2};
    assert_int_equal(mom_state_prefill(st, 0, 1, 2, ok_tok, bad_mod, NULL), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "modality 3"));
    /* Past the limit of P + 1 tokens. */
    assert_int_equal(mom_state_prefill(st, 0, 1, 2, tok, mod, NULL), MOM_ERR_INVALID_ARG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "limit of 6"));
    assert_int_equal(mom_state_prefill(st, 1, 1, 1, tok, mod, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_state_prefill(st, 0, 1, 0, tok, mod, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_state_prefill(st, 0, 1, 1, NULL, mod, NULL), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_state_length(st, 0), P);

    float a[V], b[V];
    assert_int_equal(mom_state_step(st, tok + P, mod + P, a), MOM_OK);
    assert_int_equal(mom_state_step(twin, tok + P, mod + P, b), MOM_OK);
    assert_memory_equal(a, b, sizeof(a));
    /* Now full: one more is refused. */
    assert_int_equal(mom_state_step(st, tok, mod, a), MOM_ERR_INVALID_ARG);

    mom_state_settings ss;
    mom_state_default_settings(&ss);
    mom_state *none = NULL;
    ss.n_seq = 0;
    assert_int_equal(mom_state_create(m, &ss, &none), MOM_ERR_INVALID_ARG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "n_seq = 0"));
    ss.n_seq = 1;
    ss.max_tokens = -1;
    assert_int_equal(mom_state_create(m, &ss, &none), MOM_ERR_INVALID_ARG);
    assert_null(none);
    mom_state *other = new_state(m, 2, 0);
    assert_int_equal(mom_state_copy(other, -1, st, -1), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_state_copy(other, 2, st, 0), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_state_reset(st, 1), MOM_ERR_INVALID_ARG);
    mom_state_destroy(&other);
    mom_state_destroy(&st);
    mom_state_destroy(&twin);
    mom_state_destroy(&none); /* NULL is fine */
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* ---- continuous images ------------------------------------------------------ */

/* Text and images as patches: layout without image codes, 2 x 2 patches
 * of a 4 x 4 gray image (4 positions of 4 floats). */
static mom_model *new_patch_model(mom_ctx *ctx)
{
    const mom_vocab_layout lay = {.n_special = MOM_N_SPECIAL, .n_text = 20, .n_image = 0, .n_speech = 0};
    mom_config c = tu_config(2, MOM_N_SPECIAL + 20, 24, 2, 16);
    c.vocab_layout = lay;
    const mom_patch_geometry g = {2, 4, 1};
    c.patches = g;
    c.time_dim = 8;
    mom_model *m = tu_new_model(ctx, &c, 4);
    m->chunk = 3;
    return m;
}

/* Patches fed in two calls give the noise predictions of one call; an
 * image drawn by DDIM is the same for a seed, in [0, 1], and leaves the
 * state holding prompt + image; bad input is refused. */
static void test_continuous_images(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 0, NULL), MOM_OK);
    mom_model *m = new_patch_model(ctx);
    const int32_t prompt[5] = {MOM_TOK_BOS, MOM_N_SPECIAL + 3, MOM_N_SPECIAL + 9, MOM_N_SPECIAL + 1, MOM_TOK_BOI};
    const uint8_t pmod[5] = {0, 0, 0, 0, 0};
    mom_state *a = new_state(m, 1, 0), *b = new_state(m, 1, 0);
    assert_int_equal(mom_state_prefill(a, 0, 1, 5, prompt, pmod, NULL), MOM_OK);
    assert_int_equal(mom_state_copy(b, -1, a, -1), MOM_OK);
    float x[16], e1[16], e2[16];
    uint64_t s = 8;
    for (int i = 0; i < 16; i++) x[i] = 2.0f * tu_uniform(&s) - 1.0f;
    assert_int_equal(mom_state_prefill_patches(a, 0, 4, x, 300, e1), MOM_OK);
    assert_int_equal(mom_state_prefill_patches(b, 0, 1, x, 300, e2), MOM_OK);
    assert_int_equal(mom_state_prefill_patches(b, 0, 3, x + 4, 300, e2 + 4), MOM_OK);
    assert_true(rel_err(e2, e1, 16) <= TOL);
    /* The timestep matters. */
    assert_int_equal(mom_state_reset(b, -1), MOM_OK);
    assert_int_equal(mom_state_prefill(b, 0, 1, 5, prompt, pmod, NULL), MOM_OK);
    assert_int_equal(mom_state_prefill_patches(b, 0, 4, x, 900, e2), MOM_OK);
    assert_true(tu_max_diff(e1, e2, 16) > 1e-4);

    float px1[16], px2[16], px3[16];
    for (int k = 0; k < 3; k++) {
        assert_int_equal(mom_state_reset(a, -1), MOM_OK);
        assert_int_equal(mom_state_prefill(a, 0, 1, 5, prompt, pmod, NULL), MOM_OK);
        assert_int_equal(mom_state_generate_image(a, 0, 10, k == 2 ? 2 : 1, k == 0 ? px1 : k == 1 ? px2 : px3), MOM_OK);
        assert_int_equal(mom_state_length(a, 0), 5 + 4);
    }
    assert_memory_equal(px1, px2, sizeof(px1));
    assert_memory_not_equal(px1, px3, sizeof(px1));
    for (int i = 0; i < 16; i++) assert_true(px1[i] >= 0.0f && px1[i] <= 1.0f);

    /* Image positions come through prefill_patches only: refused, the
     * state unharmed. */
    const int32_t pad = MOM_TOK_PAD;
    const uint8_t img = MOM_MOD_IMAGE, txt = 0;
    assert_int_equal(mom_state_prefill(a, 0, 1, 1, &pad, &img, NULL), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "position 0 is an image position"));
    assert_int_equal(mom_state_prefill(a, 0, 1, 1, &pad, &txt, NULL), MOM_OK);
    assert_int_equal(mom_state_length(a, 0), 10);
    x[5] = NAN;
    assert_int_equal(mom_state_prefill_patches(a, 0, 4, x, 300, e1), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "x_t[5] is nan"));
    x[5] = 0.0f;
    assert_int_equal(mom_state_prefill_patches(a, 0, 4, x, 1000, e1), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_state_length(a, 0), 10);

    /* Losses of two batches: each modality's mean by count, the total the
     * text mean + weight x the image MSE (not a mean of batch totals). */
    mom_losses acc, l1, l2;
    memset(&acc, 0, sizeof(acc));
    memset(&l1, 0, sizeof(l1));
    memset(&l2, 0, sizeof(l2));
    l1.by_modality[0] = 2.0; l1.count[0] = 10; l1.by_modality[1] = 0.5; l1.count[1] = 4; l1.n_targets = 10;
    l2.by_modality[0] = NAN; l2.count[0] = 0;  l2.by_modality[1] = 0.2; l2.count[1] = 16; l2.n_targets = 0;
    mom_losses_accumulate(m, &acc, &l1);
    mom_losses_accumulate(m, &acc, &l2);
    assert_int_equal(acc.count[1], 20);
    assert_true(fabs(acc.by_modality[1] - (0.5 * 4 + 0.2 * 16) / 20) < 1e-12);
    assert_true(fabs(acc.loss - (2.0 + m->cfg.diffusion_weight * acc.by_modality[1])) < 1e-12);
    mom_state_destroy(&a);
    mom_state_destroy(&b);
    mom_model_destroy(&m);
    /* A model of discrete tokens has no patches to feed. */
    m = new_model(ctx);
    a = new_state(m, 1, 0);
    assert_int_equal(mom_state_prefill_patches(a, 0, 4, x, 300, e1), MOM_ERR_UNSUPPORTED);
    assert_int_equal(mom_state_generate_image(a, 0, 10, 1, px1), MOM_ERR_UNSUPPORTED);
    mom_state_destroy(&a);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* ---- sampling ------------------------------------------------------------- */

static mom_sampler *new_sampler(mom_model *m, const mom_sampling *s, int n_seq)
{
    mom_sampler *sp = NULL;
    assert_int_equal(mom_sampler_create(m, s, n_seq, &sp), MOM_OK);
    return sp;
}

static void random_logits(float *lg, uint64_t *s, float scale)
{
    for (int v = 0; v < V; v++) lg[v] = scale * (tu_uniform(s) - 0.5f);
}

/* Text: the tokens a sampler may draw outside an image or a recording. */
static int text_ok(int32_t t)
{
    return t == MOM_TOK_EOS || t == MOM_TOK_BOI || t == MOM_TOK_BOSP ||
           (t >= MOM_N_SPECIAL && mom_vocab_layout_modality(&LAYOUT, t) == MOM_MOD_TEXT);
}

static void test_sampling_seed_greedy_topk(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 0, NULL), MOM_OK);
    mom_model *m = new_model(ctx);
    mom_sampling sa, sb, greedy, k1;
    mom_sampling_default(&sa);
    sa.seed = 5;
    sb = sa;
    greedy = sa;
    greedy.temperature = 0.0f;
    k1 = sa;
    k1.top_k = 1;
    mom_sampler *a = new_sampler(m, &sa, 1), *b = new_sampler(m, &sb, 1), *g = new_sampler(m, &greedy, 1),
                *k = new_sampler(m, &k1, 1);
    sb.seed = 6;
    mom_sampler *c = new_sampler(m, &sb, 1);
    uint64_t s = 1;
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        float lg[V];
        random_logits(lg, &s, 4.0f);
        int32_t ta, tb, tc, tg, tk;
        assert_int_equal(mom_sampler_sample(a, 0, lg, &ta), MOM_OK);
        assert_int_equal(mom_sampler_sample(b, 0, lg, &tb), MOM_OK);
        assert_int_equal(mom_sampler_sample(c, 0, lg, &tc), MOM_OK);
        assert_int_equal(mom_sampler_sample(g, 0, lg, &tg), MOM_OK);
        assert_int_equal(mom_sampler_sample(k, 0, lg, &tk), MOM_OK);
        assert_int_equal(ta, tb); /* same seed, same draws */
        differ += ta != tc;
        assert_int_equal(tk, tg); /* top-k 1 is greedy */
        /* greedy: the most likely text-mode token */
        for (int v = 0; v < V; v++)
            if (text_ok(v)) assert_true(lg[v] <= lg[tg]);
        assert_true(text_ok(ta) && text_ok(tg));
    }
    assert_true(differ > 50); /* another seed, other draws */
    mom_sampler *all[] = {a, b, c, g, k};
    for (int i = 0; i < 5; i++) mom_sampler_destroy(&all[i]);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* Over many draws the frequencies follow the softmax at the temperature,
 * restricted to the tokens top-k and top-p keep. */
static void test_sampling_distribution(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 0, NULL), MOM_OK);
    mom_model *m = new_model(ctx);
    uint64_t s = 3;
    float lg[V];
    random_logits(lg, &s, 6.0f);
    int ids[V], n = 0;
    for (int v = 0; v < V; v++)
        if (text_ok(v)) ids[n++] = v;
    /* the allowed tokens by logit, descending */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (lg[ids[j]] > lg[ids[i]]) {
                const int t = ids[i];
                ids[i] = ids[j];
                ids[j] = t;
            }
    const struct { float temp; int k; float p; } cases[] = {{1.0f, 0, 1.0f}, {0.5f, 0, 1.0f}, {1.0f, 5, 1.0f},
                                                             {1.0f, 0, 0.6f}, {1.5f, 8, 0.7f}};
    enum { DRAWS = 40000 };
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        /* The expected distribution: the softmax over the top k, then the
         * fewest of those whose share of it reaches p, renormalised. */
        double p[V] = {0}, w[V], z = 0.0;
        int keep = cases[ci].k ? cases[ci].k : n;
        for (int i = 0; i < keep; i++) {
            w[i] = exp((lg[ids[i]] - lg[ids[0]]) / cases[ci].temp);
            z += w[i];
        }
        double mass = 0.0;
        for (int i = 0; i < keep; i++) {
            mass += w[i] / z;
            if (mass >= cases[ci].p) {
                keep = i + 1;
                break;
            }
        }
        double kept = 0.0;
        for (int i = 0; i < keep; i++) kept += w[i];
        for (int i = 0; i < keep; i++) p[ids[i]] = w[i] / kept;
        mom_sampling sg;
        mom_sampling_default(&sg);
        sg.temperature = cases[ci].temp;
        sg.top_k = cases[ci].k;
        sg.top_p = cases[ci].p;
        sg.seed = 100 + ci;
        mom_sampler *sp = new_sampler(m, &sg, 1);
        int count[V] = {0};
        for (int d = 0; d < DRAWS; d++) {
            int32_t t;
            assert_int_equal(mom_sampler_sample(sp, 0, lg, &t), MOM_OK);
            count[t]++;
        }
        double worst = 0.0;
        for (int v = 0; v < V; v++) {
            if (p[v] == 0.0) assert_int_equal(count[v], 0); /* cut off, or not allowed */
            /* 5 standard deviations of a binomial frequency */
            const double sd = sqrt(p[v] * (1 - p[v]) / DRAWS) + 1e-9;
            const double zscore = fabs(count[v] / (double)DRAWS - p[v]) / sd;
            worst = zscore > worst ? zscore : worst;
        }
        fprintf(stderr, "sampling T %.1f top-k %d top-p %.1f: %d tokens kept, worst z %.2f\n", cases[ci].temp,
                cases[ci].k, cases[ci].p, keep, worst);
        assert_true(worst < 5.0);
        mom_sampler_destroy(&sp);
    }
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* After BOI: image codes only, image_tokens of them, then EOI. After BOSP:
 * units (or EOSP after one), at most speech_tokens, then EOSP. */
static void test_sampling_keeps_modalities(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 0, NULL), MOM_OK);
    mom_model *m = new_model(ctx);
    mom_sampling sg;
    mom_sampling_default(&sg);
    sg.image_tokens = 6;
    sg.speech_tokens = 4;
    mom_sampler *sp = new_sampler(m, &sg, 2);
    uint64_t s = 9;
    float lg[V];
    int32_t t;
    for (int round = 0; round < 30; round++) {
        assert_int_equal(mom_sampler_accept(sp, 0, MOM_TOK_BOI), MOM_OK);
        for (int i = 0; i < 6; i++) {
            random_logits(lg, &s, 2.0f);
            lg[MOM_TOK_EOI] = 50.0f; /* the model wants to stop: not yet */
            assert_int_equal(mom_sampler_sample(sp, 0, lg, &t), MOM_OK);
            assert_int_equal(mom_vocab_layout_modality(&LAYOUT, t), MOM_MOD_IMAGE);
            assert_int_equal(mom_sampler_accept(sp, 0, t), MOM_OK);
        }
        random_logits(lg, &s, 2.0f);
        assert_int_equal(mom_sampler_sample(sp, 0, lg, &t), MOM_OK);
        assert_int_equal(t, MOM_TOK_EOI);
        assert_int_equal(mom_sampler_accept(sp, 0, t), MOM_OK);
        random_logits(lg, &s, 2.0f);
        lg[MOM_N_SPECIAL + 20] = 50.0f; /* an image code, outside an image: never */
        assert_int_equal(mom_sampler_sample(sp, 0, lg, &t), MOM_OK);
        assert_true(text_ok(t));

        assert_int_equal(mom_sampler_accept(sp, 1, MOM_TOK_BOSP), MOM_OK);
        int units = 0;
        for (;;) {
            random_logits(lg, &s, 2.0f);
            lg[MOM_TOK_EOSP] = units ? 0.0f : 50.0f; /* no empty recording */
            assert_int_equal(mom_sampler_sample(sp, 1, lg, &t), MOM_OK);
            assert_int_equal(mom_sampler_accept(sp, 1, t), MOM_OK);
            if (t == MOM_TOK_EOSP) break;
            assert_int_equal(mom_vocab_layout_modality(&LAYOUT, t), MOM_MOD_SPEECH);
            units++;
            assert_true(units <= 4);
        }
        assert_true(units >= 1);
    }
    /* Bad arguments. */
    assert_int_equal(mom_sampler_sample(sp, 2, lg, &t), MOM_ERR_INVALID_ARG);
    assert_int_equal(mom_sampler_accept(sp, 0, V), MOM_ERR_DATA);
    lg[MOM_TOK_EOS] = NAN;
    assert_int_equal(mom_sampler_sample(sp, 0, lg, &t), MOM_ERR_INVALID_ARG);
    mom_sampler_destroy(&sp);
    mom_sampling bad = sg;
    bad.top_p = 0.0f;
    assert_int_equal(mom_sampler_create(m, &bad, 1, &sp), MOM_ERR_INVALID_ARG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "top_p 0"));
    bad = sg;
    bad.temperature = -1.0f;
    assert_int_equal(mom_sampler_create(m, &bad, 1, &sp), MOM_ERR_INVALID_ARG);
    assert_null(sp);
    mom_model_destroy(&m);

    /* A vocabulary without speech: BOSP opens nothing, and is refused. */
    mom_config c = tu_config(2, MOM_N_SPECIAL + 20 + 12, 24, 1, 16);
    const mom_vocab_layout no_speech = {.n_special = MOM_N_SPECIAL, .n_text = 20, .n_image = 12, .n_speech = 0};
    c.vocab_layout = no_speech;
    m = tu_new_model(ctx, &c, 1);
    sp = new_sampler(m, &sg, 1);
    assert_int_equal(mom_sampler_accept(sp, 0, MOM_TOK_BOSP), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "token 4 opens a recording"));
    for (int i = 0; i < 50; i++) { /* nor is it ever drawn */
        random_logits(lg, &s, 2.0f);
        lg[MOM_TOK_BOSP] = 50.0f;
        assert_int_equal(mom_sampler_sample(sp, 0, lg, &t), MOM_OK);
        assert_int_not_equal(t, MOM_TOK_BOSP);
    }
    mom_sampler_destroy(&sp);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefill_step_equals_forward),
        cmocka_unit_test(test_prefill_step_equals_forward_scalar),
        cmocka_unit_test(test_batched_sequences),
        cmocka_unit_test(test_logits_give_training_loss),
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_caller_memory),
        cmocka_unit_test(test_bad_input_leaves_state),
        cmocka_unit_test(test_continuous_images),
        cmocka_unit_test(test_sampling_seed_greedy_topk),
        cmocka_unit_test(test_sampling_distribution),
        cmocka_unit_test(test_sampling_keeps_modalities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
