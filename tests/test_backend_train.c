/* Whole models on every device backend of the registry against the CPU: 20
 * training steps from the same initialisation and batches (losses at every
 * step within 1e-3, the gradients after step 1 within 1e-3), and
 * inference: prefill + step on the device against the full forward on the
 * device, and against the CPU. The steps are mom_model_train_step (one
 * submission each, on a backend that counts its submissions). Skipped
 * (exit 77) where no device backend starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "model.h"
#include "test_backend_util.h" /* tb_settings, tb_exit_status */
#include "test_util.h"

/* The device backend under test (set by main for each group). */
static const char *dev;

static mom_ctx *ctx_on(const char *backend)
{
    mom_ctx_settings s;
    tb_settings(&s);
    s.backend = backend;
    mom_ctx *ctx = NULL;
    return mom_ctx_create(&ctx, &s) == MOM_OK ? ctx : NULL;
}

static mom_config small(void)
{
    mom_config c = tu_config(3, 29, 24, 2, 16); /* d_inner 48: 3 channel groups */
    return c;
}

/* max |a - b| / max |b| over one tensor. */
static double tensor_err(const float *a, const float *b, size_t n)
{
    return tu_max_diff(a, b, n) / (tu_max_abs(b, n) + 1e-12);
}

static void test_training_matches_cpu(void **st)
{
    (void)st;
    mom_ctx *cc = ctx_on("cpu"), *vc = ctx_on(dev);
    assert_non_null(cc);
    assert_non_null(vc);
    mom_config c = small();
    mom_model *cm = tu_new_model(cc, &c, 5), *vm = tu_new_model(vc, &c, 5);
    cm->chunk = vm->chunk = 8; /* T 21: chunks of 8, 8, 5 */
    mom_optim_settings os;
    mom_optim_default_settings(&os);
    os.lr = 3e-3f;
    os.warmup_steps = 2;
    os.total_steps = 20;
    double worst_loss = 0.0, worst_grad = 0.0;
    uint64_t submits_before = 0;
    for (int step = 0; step < 20; step++) {
        if (step == 10 && vc->be->submissions) submits_before = vc->be->submissions(vc->be);
        tu_batch b = tu_make_batch(2, 21, c.vocab_size, 0x7, 100 + (uint64_t)step);
        mom_losses lc, lv;
        float nc, nv;
        /* The fused step: one submission on a device. */
        assert_int_equal(mom_model_train_step(cm, &b.b, &os, &lc, &nc), MOM_OK);
        assert_int_equal(mom_model_train_step(vm, &b.b, &os, &lv, &nv), MOM_OK);
        assert_true(fabs(nv - nc) <= 1e-3 * nc);
        const double e = fabs(lv.loss - lc.loss) / fabs(lc.loss);
        worst_loss = e > worst_loss ? e : worst_loss;
        if (e > 1e-3) fprintf(stderr, "step %d: loss cpu %.7f %s %.7f\n", step + 1, lc.loss, dev, lv.loss);
        assert_true(e <= 1e-3);
        if (step == 0)
            for (size_t i = 0; i < mom_model_n_tensors(cm); i++) {
                const char *name = mom_model_tensor_name(cm, i);
                size_t n;
                float *gc = tu_get_tensor(cm, name, 1, &n), *gv = tu_get_tensor(vm, name, 1, &n);
                const double ge = tensor_err(gv, gc, n);
                worst_grad = ge > worst_grad ? ge : worst_grad;
                if (ge > 1e-3) fprintf(stderr, "gradient of %s: relative error %.3g\n", name, ge);
                assert_true(ge <= 1e-3);
                free(gc);
                free(gv);
            }
        tu_free_batch(&b);
    }
    /* Steps 11..20 (the plan made): the batch goes in inside the command
     * buffer, the norm's clipping and AdamW run on the device: one
     * submission a step, whose read-back is the losses and the norm. */
    fprintf(stderr, "20 steps on %s vs CPU: worst loss error %.2e, worst gradient error after step 1 %.2e\n", dev,
            worst_loss, worst_grad);
    if (vc->be->submissions) {
        const double per_step = (double)(vc->be->submissions(vc->be) - submits_before) / 10.0;
        fprintf(stderr, "%.1f submissions a step\n", per_step);
        assert_true(per_step <= 1.0);
    }
    mom_model_destroy(&cm);
    mom_model_destroy(&vm);
    mom_ctx_destroy(&cc);
    mom_ctx_destroy(&vc);
}

/* A non-finite gradient norm on the device: the fused step changes
 * nothing there (adamw_scaled skips) and is refused, not counted. */
static void test_nonfinite_norm_on_device(void **st)
{
    (void)st;
    mom_ctx *vc = ctx_on(dev);
    mom_config c = small();
    mom_model *vm = tu_new_model(vc, &c, 5);
    mom_optim_settings os;
    mom_optim_default_settings(&os);
    const char *huge[] = {"layers.0.norm.weight", "layers.1.norm.weight", "norm_f.weight"};
    for (int i = 0; i < 3; i++) {
        size_t k;
        float *w = tu_get_tensor(vm, huge[i], 0, &k);
        for (size_t j = 0; j < k; j++) w[j] = 3e38f;
        assert_int_equal(mom_model_set_param(vm, huge[i], w, k), MOM_OK);
        free(w);
    }
    tu_batch b = tu_make_batch(2, 21, c.vocab_size, 0x7, 4);
    size_t n;
    float *before = tu_snapshot(vm, 0, &n), gn = 0.0f;
    mom_losses l;
    assert_int_equal(mom_model_train_step(vm, &b.b, &os, &l, &gn), MOM_ERR_NONFINITE);
    assert_false(isfinite(gn));
    float *after = tu_snapshot(vm, 0, &n);
    assert_memory_equal(before, after, n * 4);
    assert_int_equal(mom_model_steps_done(vm), 0);
    free(before);
    free(after);
    tu_free_batch(&b);
    mom_model_destroy(&vm);
    mom_ctx_destroy(&vc);
}

static void test_inference_on_device(void **st)
{
    (void)st;
    mom_ctx *cc = ctx_on("cpu"), *vc = ctx_on(dev);
    mom_config c = small();
    mom_model *cm = tu_new_model(cc, &c, 9), *vm = tu_new_model(vc, &c, 9);
    cm->chunk = vm->chunk = 8;
    enum { T = 19, P = 7 };
    tu_batch b = tu_make_batch(1, T, c.vocab_size, 0x7, 3);
    const int V = c.vocab_size;
    float *full_v = malloc(sizeof(float) * T * V), *full_c = malloc(sizeof(float) * T * V), lg[64];
    assert_int_equal(mom_model_logits(vm, 1, T, b.tok, b.mod, full_v), MOM_OK);
    assert_int_equal(mom_model_logits(cm, 1, T, b.tok, b.mod, full_c), MOM_OK);
    const double cross = tensor_err(full_v, full_c, (size_t)T * V);
    assert_true(cross <= 1e-3);
    mom_state_settings ss;
    mom_state_default_settings(&ss);
    mom_state *s = NULL;
    assert_int_equal(mom_state_create(vm, &ss, &s), MOM_OK);
    assert_int_equal(mom_state_prefill(s, 0, 1, P, b.tok, b.mod, lg), MOM_OK);
    double worst = tensor_err(lg, full_v + (size_t)(P - 1) * V, (size_t)V);
    for (int t = P; t < T; t++) {
        assert_int_equal(mom_state_step(s, b.tok + t, b.mod + t, lg), MOM_OK);
        const double e = tensor_err(lg, full_v + (size_t)t * V, (size_t)V);
        worst = e > worst ? e : worst;
    }
    fprintf(stderr, "%s: prefill + step vs full forward %.2e; full forward vs CPU %.2e\n", dev, worst, cross);
    assert_true(worst <= 1e-5);
    mom_state_destroy(&s);
    free(full_v);
    free(full_c);
    tu_free_batch(&b);
    mom_model_destroy(&cm);
    mom_model_destroy(&vm);
    mom_ctx_destroy(&cc);
    mom_ctx_destroy(&vc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_training_matches_cpu),
        cmocka_unit_test(test_inference_on_device),
        cmocka_unit_test(test_nonfinite_norm_on_device),
    };
    int failed = 0, ran = 0;
    for (int i = 1; mom_backend_name(i); i++) {
        dev = mom_backend_name(i);
        mom_ctx *probe = ctx_on(dev);
        if (!probe) {
            fprintf(stderr, "%s: skipped: %s\n", dev, mom_ctx_create_error());
            continue;
        }
        mom_ctx_destroy(&probe);
        failed += cmocka_run_group_tests_name(dev, tests, NULL, NULL);
        ran++;
    }
    return tb_exit_status(ran, failed);
}
