/* The optimizer at the model level: the LR schedule's values, which tensors
 * get weight decay, clip_grad_norm_ semantics, gradient accumulation, and
 * that a run is bit-identical when repeated. (AdamW's arithmetic against
 * hand-computed values is in test_kernels.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_util.h"

static mom_ctx *ctx;

static int setup(void **st)
{
    (void)st;
    return mom_ctx_create(&ctx, NULL) == MOM_OK ? 0 : -1;
}
static int teardown(void **st)
{
    (void)st;
    mom_ctx_destroy(&ctx);
    return 0;
}

static void test_lr_schedule(void **st)
{
    (void)st;
    mom_optim_settings s;
    mom_optim_default_settings(&s);
    assert_true(s.lr == 1e-3f && s.beta1 == 0.9f && s.beta2 == 0.95f && s.eps == 1e-8f);
    assert_true(s.weight_decay == 0.1f && s.clip_norm == 1.0f);
    s.lr = 1.0f;
    s.warmup_steps = 10;
    s.total_steps = 110;
    s.min_lr_ratio = 0.1f;
    assert_true(fabsf(mom_optim_lr_at(&s, 0) - 0.1f) < 1e-7f);  /* (step + 1) / warmup */
    assert_true(fabsf(mom_optim_lr_at(&s, 4) - 0.5f) < 1e-7f);
    assert_true(fabsf(mom_optim_lr_at(&s, 9) - 1.0f) < 1e-7f);
    assert_true(fabsf(mom_optim_lr_at(&s, 10) - 1.0f) < 1e-7f); /* cosine starts at the peak */
    assert_true(fabsf(mom_optim_lr_at(&s, 60) - 0.55f) < 1e-6f); /* half way: (1 + 0.1) / 2 */
    assert_true(fabsf(mom_optim_lr_at(&s, 110) - 0.1f) < 1e-6f);
    assert_true(fabsf(mom_optim_lr_at(&s, 500) - 0.1f) < 1e-6f);
    s.total_steps = 0; /* no decay: constant after warmup */
    assert_true(mom_optim_lr_at(&s, 1000) == 1.0f);
}

/* With zero gradients Adam's update is 0/(0+eps) = 0, so only weight decay
 * moves a parameter: matrices shrink by (1 - lr wd), the rest stay put. */
static void test_weight_decay_mask(void **st)
{
    (void)st;
    mom_config c = tu_tiny_config(3, MOM_DECOUPLE_DT | MOM_DECOUPLE_IN);
    c.tie_embeddings = 0;
    mom_model *m = tu_new_model(ctx, &c, 1);
    const size_t nt = mom_model_n_tensors(m);
    float **before = malloc(nt * sizeof(float *));
    for (size_t i = 0; i < nt; i++) {
        size_t n;
        before[i] = tu_get_tensor(m, mom_model_tensor_name(m, i), 0, &n);
    }
    mom_optim_settings s;
    mom_optim_default_settings(&s);
    s.lr = 0.5f;
    s.warmup_steps = 0;
    assert_int_equal(mom_model_zero_grad(m), MOM_OK);
    assert_int_equal(mom_model_step(m, &s, NULL), MOM_OK);
    assert_int_equal(mom_model_steps_done(m), 1);
    for (size_t i = 0; i < nt; i++) {
        const char *name = mom_model_tensor_name(m, i);
        size_t n;
        float *after = tu_get_tensor(m, name, 0, &n);
        const int matrix = strstr(name, ".weight") && !strstr(name, "norm") && !strstr(name, "conv1d");
        for (size_t j = 0; j < n; j++) {
            const float want = matrix ? before[i][j] * (1.0f - 0.5f * 0.1f) : before[i][j];
            if (after[j] != want) fprintf(stderr, "%s[%zu]: %g, want %g\n", name, j, (double)after[j], (double)want);
            assert_true(after[j] == want);
        }
        free(after);
        free(before[i]);
    }
    free(before);
    mom_model_destroy(&m);
}

/* clip_grad_norm_: the norm over every gradient; above max_norm every
 * gradient is scaled by max_norm / (norm + 1e-6). Checked on one tensor by
 * replaying the AdamW arithmetic with the clipped gradient. */
static void test_clipping(void **st)
{
    (void)st;
    mom_config c = tu_tiny_config(3, MOM_DECOUPLE_ALL);
    mom_model *m = tu_new_model(ctx, &c, 2);
    tu_batch b = tu_make_batch(2, 17, c.vocab_size, 0x7, 4);
    mom_losses l;
    tu_backward(m, &b.b, &l);
    double ss = 0;
    size_t n_all;
    float *g_all = tu_snapshot(m, 1, &n_all);
    for (size_t j = 0; j < n_all; j++) ss += (double)g_all[j] * g_all[j];
    free(g_all);
    const double norm = sqrt(ss);
    const char *name = "layers.0.mixer.D"; /* no weight decay */
    size_t n;
    float *p0 = tu_get_tensor(m, name, 0, &n), *g = tu_get_tensor(m, name, 1, &n);
    mom_optim_settings s;
    mom_optim_default_settings(&s);
    s.warmup_steps = 0;
    s.lr = 1e-2f;
    s.clip_norm = (float)(norm / 4); /* force clipping */
    float reported;
    assert_int_equal(mom_model_step(m, &s, &reported), MOM_OK);
    assert_true(fabs(reported - norm) <= 1e-5 * norm);
    float *p1 = tu_get_tensor(m, name, 0, &n);
    const double coef = s.clip_norm / (reported + 1e-6);
    for (size_t j = 0; j < n; j++) {
        const double gj = g[j] * coef, mj = 0.1 * gj, vj = 0.05 * gj * gj;
        const double want = p0[j] - 1e-2 * (mj / 0.1) / (sqrt(vj / 0.05) + 1e-8);
        assert_true(fabs(p1[j] - want) <= 1e-6);
    }
    free(p0); free(p1); free(g);
    tu_free_batch(&b);
    mom_model_destroy(&m);
}

/* Two micro-batches at scale 1/2 give the gradient of the mean over both
 * (equal target counts), i.e. one batch holding both rows. */
static void test_accumulation(void **st)
{
    (void)st;
    mom_config c = tu_tiny_config(3, MOM_DECOUPLE_ALL);
    mom_model *m = tu_new_model(ctx, &c, 5);
    tu_batch both = tu_make_batch(2, 14, c.vocab_size, 0x7, 6);
    for (int i = 0; i < 28; i++) both.tgt[i] = both.tok[(i + 1) % 28]; /* no ignored targets */
    mom_batch r0 = both.b, r1 = both.b;
    r0.B = r1.B = 1;
    r1.tokens += 14; r1.modality += 14; r1.targets += 14; r1.target_modality += 14;
    mom_losses l;
    assert_int_equal(mom_model_zero_grad(m), MOM_OK);
    assert_int_equal(mom_model_backward(m, &r0, 0.5f, &l), MOM_OK);
    assert_int_equal(mom_model_backward(m, &r1, 0.5f, &l), MOM_OK);
    size_t na, n;
    float *acc = tu_snapshot(m, 1, &na);
    tu_backward(m, &both.b, &l);
    float *g = tu_snapshot(m, 1, &n);
    assert_int_equal(n, na);
    for (size_t j = 0; j < n; j++) assert_true(fabsf(g[j] - acc[j]) <= 1e-6f + 1e-4f * fabsf(g[j]));
    free(g);
    free(acc);
    tu_free_batch(&both);
    mom_model_destroy(&m);
}

/* Same seed, same threads: the same losses and parameters, bit for bit. */
static void train_run(uint64_t seed, double *losses, float **final, size_t *n_final)
{
    mom_config c = tu_tiny_config(3, MOM_DECOUPLE_ALL);
    mom_model *m = tu_new_model(ctx, &c, seed);
    mom_optim_settings s;
    mom_optim_default_settings(&s);
    s.lr = 1e-2f;
    s.warmup_steps = 2;
    s.total_steps = 6;
    for (int step = 0; step < 6; step++) {
        /* One batch over and over: the loss must fall as it is memorised. */
        tu_batch b = tu_make_batch(3, 40, c.vocab_size, 0x7, 100);
        mom_losses l;
        tu_backward(m, &b.b, &l);
        assert_int_equal(mom_model_step(m, &s, NULL), MOM_OK);
        losses[step] = l.loss;
        tu_free_batch(&b);
    }
    *final = tu_get_tensor(m, "layers.1.mixer.local_experts_in_proj.2.weight", 0, n_final);
    mom_model_destroy(&m);
}

static void test_repeatable(void **st)
{
    (void)st;
    double la[6], lb[6];
    float *pa, *pb;
    size_t n;
    train_run(9, la, &pa, &n);
    train_run(9, lb, &pb, &n);
    assert_memory_equal(la, lb, sizeof(la));
    assert_memory_equal(pa, pb, n * 4);
    assert_true(la[5] < la[0] - 0.05); /* and it learns */
    free(pa);
    free(pb);
}

/* The fused step is the three calls: the same losses, norms, parameters
 * and optimizer state, bit for bit, with clipping on; bad input is refused
 * with nothing changed. */
static void test_fused_step(void **st)
{
    (void)st;
    mom_config c = tu_tiny_config(3, MOM_DECOUPLE_ALL);
    mom_model *a = tu_new_model(ctx, &c, 6), *f = tu_new_model(ctx, &c, 6);
    mom_optim_settings s;
    mom_optim_default_settings(&s);
    s.warmup_steps = 1;
    s.total_steps = 4;
    s.clip_norm = 0.05f; /* clips */
    for (int k = 0; k < 4; k++) {
        tu_batch b = tu_make_batch(2, 17, c.vocab_size, 0x7, 20 + (uint64_t)k);
        mom_losses la, lf;
        float na, nf;
        assert_int_equal(mom_model_zero_grad(a), MOM_OK);
        assert_int_equal(mom_model_backward(a, &b.b, 1.0f, &la), MOM_OK);
        assert_int_equal(mom_model_step(a, &s, &na), MOM_OK);
        assert_int_equal(mom_model_train_step(f, &b.b, &s, &lf, &nf), MOM_OK);
        assert_true(la.loss == lf.loss);
        assert_true(na == nf);
        assert_true(na > s.clip_norm);
        tu_free_batch(&b);
    }
    assert_int_equal(mom_model_steps_done(f), 4);
    size_t n;
    float *pa = tu_snapshot(a, 0, &n), *pf = tu_snapshot(f, 0, &n);
    assert_memory_equal(pa, pf, n * 4);
    free(pa);
    free(pf);
    tu_batch bad = tu_make_batch(2, 17, c.vocab_size, 0x7, 1);
    bad.tok[3] = c.vocab_size;
    mom_losses l;
    float *before = tu_snapshot(f, 0, &n);
    assert_int_equal(mom_model_train_step(f, &bad.b, &s, &l, NULL), MOM_ERR_DATA);
    float *after = tu_snapshot(f, 0, &n);
    assert_memory_equal(before, after, n * 4);
    assert_int_equal(mom_model_steps_done(f), 4);
    free(before);
    free(after);
    /* A non-finite norm (weights so large the activations overflow):
     * refused, nothing changed, the step not counted. */
    tu_batch ok = tu_make_batch(2, 17, c.vocab_size, 0x7, 2);
    const char *huge[] = {"layers.0.norm.weight", "layers.1.norm.weight", "norm_f.weight"};
    for (int i = 0; i < 3; i++) {
        size_t k;
        float *w = tu_get_tensor(f, huge[i], 0, &k);
        for (size_t j = 0; j < k; j++) w[j] = 3e38f;
        assert_int_equal(mom_model_set_param(f, huge[i], w, k), MOM_OK);
        free(w);
    }
    before = tu_snapshot(f, 0, &n);
    float gn = 0.0f;
    assert_int_equal(mom_model_train_step(f, &ok.b, &s, &l, &gn), MOM_ERR_NONFINITE);
    assert_false(isfinite(gn));
    assert_non_null(strstr(mom_ctx_last_error(ctx), "step skipped, model unchanged; first non-finite gradient: "));
    after = tu_snapshot(f, 0, &n);
    assert_memory_equal(before, after, n * 4);
    assert_int_equal(mom_model_steps_done(f), 4);
    free(before);
    free(after);
    tu_free_batch(&ok);
    tu_free_batch(&bad);
    mom_model_destroy(&a);
    mom_model_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_weight_decay_mask),
        cmocka_unit_test(test_clipping),
        cmocka_unit_test(test_accumulation),
        cmocka_unit_test(test_repeatable),
        cmocka_unit_test(test_fused_step),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
