/* Finite-difference check of every parameter tensor's gradient, through the
 * whole model (embedding, norms, all four routed projections, conv, scan, LM
 * head, cross-entropy), on tiny models: 3 modalities with all four
 * projections decoupled and each one alone, a dense and an untied model, a
 * batch in which one modality has no tokens, T not a multiple of the scan
 * chunk (several chunks per row). Runs on the default path and on the
 * plain-C path (MOM_CPU=scalar). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "model.h"
#include "test_util.h"

static double loss_of(mom_model *m, const mom_batch *b)
{
    mom_losses l;
    assert_int_equal(mom_model_forward(m, b, &l), MOM_OK);
    return l.loss;
}

/* Directional derivative along a random unit direction of each tensor, and
 * a few single entries, against central differences. Returns the worst
 * relative error. */
static double check_model(mom_model *m, const mom_batch *b, const char *label)
{
    mom_losses l;
    tu_backward(m, b, &l);
    double worst = 0;
    uint64_t seed = 99;
    for (size_t i = 0; i < mom_model_n_tensors(m); i++) {
        const char *name = mom_model_tensor_name(m, i);
        size_t n;
        float *p = tu_get_tensor(m, name, 0, &n), *g = tu_get_tensor(m, name, 1, &n), *q = malloc(n * 4);
        double *dir = malloc(n * sizeof(double));
        double norm = 0, gdot = 0, gnorm = 0;
        for (size_t j = 0; j < n; j++) {
            dir[j] = tu_uniform(&seed) - 0.5;
            norm += dir[j] * dir[j];
        }
        for (size_t j = 0; j < n; j++) {
            dir[j] /= sqrt(norm);
            gdot += dir[j] * g[j];
            gnorm += (double)g[j] * g[j];
        }
        gnorm = sqrt(gnorm);
        /* Steps of 1e-2 on a unit direction: float32 round-off of the loss
         * stays ~1e-5 relative to the derivative, curvature error ~1e-5. */
        const double h = 1e-2;
        for (size_t j = 0; j < n; j++) q[j] = (float)(p[j] + h * dir[j]);
        assert_int_equal(mom_model_set_param(m, name, q, n), MOM_OK);
        const double lp = loss_of(m, b);
        for (size_t j = 0; j < n; j++) q[j] = (float)(p[j] - h * dir[j]);
        assert_int_equal(mom_model_set_param(m, name, q, n), MOM_OK);
        const double lm = loss_of(m, b);
        assert_int_equal(mom_model_set_param(m, name, p, n), MOM_OK);
        const double fd = (lp - lm) / (2 * h);
        /* Relative to the tensor's gradient norm, so a direction nearly
         * orthogonal to the gradient is not held to an impossible bound. */
        const double err = fabs(fd - gdot) / (gnorm + 1e-4);
        if (err > worst) worst = err;
        if (err > 5e-3)
            fprintf(stderr, "%s: %s: fd %.8g analytic %.8g |g| %.3g err %.3g\n", label, name, fd, gdot, gnorm, err);
        assert_true(err <= 5e-3);
        free(p);
        free(g);
        free(q);
        free(dir);
    }
    return worst;
}

/* Upstream init leaves most gradients of a tiny model near 1e-5, below what
 * float32 differences resolve; parameters of a trained-looking scale make
 * every path carry an O(1e-2..1) gradient. */
static void randomize(mom_model *m, uint64_t seed)
{
    for (size_t i = 0; i < mom_model_n_tensors(m); i++) {
        const char *name = mom_model_tensor_name(m, i);
        size_t n;
        float *p = tu_get_tensor(m, name, 0, &n);
        float lo = -0.6f, hi = 0.6f, keep = 0.0f;
        if (strstr(name, "norm")) { lo = 0.7f; hi = 1.3f; }
        else if (strstr(name, "A_log") || strstr(name, "mixer.D")) { keep = 1.0f; lo = -0.3f; hi = 0.3f; }
        else if (strstr(name, "dt_proj") && strstr(name, "bias")) { lo = -1.0f; hi = 0.5f; }
        else if (strstr(name, "embedding") || strstr(name, "lm_head")) { lo = -1.0f; hi = 1.0f; }
        for (size_t j = 0; j < n; j++) p[j] = keep * p[j] + lo + (hi - lo) * tu_uniform(&seed);
        assert_int_equal(mom_model_set_param(m, name, p, n), MOM_OK);
        free(p);
    }
}

static mom_ctx *ctx_for(const char *cpu)
{
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 0, cpu), MOM_OK);
    return ctx;
}

static void run_config_n(const char *cpu, unsigned decouple, int tie, unsigned mod_mask, int d_state,
                         const char *label)
{
    mom_ctx *ctx = ctx_for(cpu);
    mom_config c = tu_tiny_config(3, decouple);
    c.tie_embeddings = tie;
    c.d_state = d_state;
    mom_model *m = tu_new_model(ctx, &c, 7);
    m->chunk = 8;      /* T = 21: chunks of 8, 8, 5 */
    m->proj_tile = 5;  /* several GEMM pieces per modality slice */
    m->proj_tile_bwd = 6; /* the backward's own pieces, cut elsewhere */
    m->head_block = 7; /* and several LM-head blocks (42 rows) */
    randomize(m, 17);
    tu_batch b = tu_make_batch(2, 21, c.vocab_size, mod_mask, 5);
    double worst = check_model(m, &b.b, label);
    fprintf(stderr, "%-34s worst relative error %.2e\n", label, worst);
    tu_free_batch(&b);
    mom_model_destroy(&m);
    assert_null(m);
    mom_ctx_destroy(&ctx);
}

static void run_config(const char *cpu, unsigned decouple, int tie, unsigned mod_mask, const char *label)
{
    run_config_n(cpu, decouple, tie, mod_mask, 4, label);
}

/* d_state 16: the AVX-512 scan where the CPU has it. */
static void test_d_state_16(void **st)
{
    (void)st;
    run_config_n(NULL, MOM_DECOUPLE_ALL, 1, 0x7, 16, "all decoupled, d_state 16");
}

static void test_all_decoupled(void **st) { (void)st; run_config(NULL, MOM_DECOUPLE_ALL, 1, 0x7, "all decoupled"); }
static void test_all_decoupled_missing_modality(void **st)
{
    (void)st;
    run_config(NULL, MOM_DECOUPLE_ALL, 1, 0x5, "all decoupled, modality 1 absent");
}
static void test_in_only(void **st) { (void)st; run_config(NULL, MOM_DECOUPLE_IN, 1, 0x7, "in_proj only"); }
static void test_x_only(void **st) { (void)st; run_config(NULL, MOM_DECOUPLE_X, 1, 0x7, "x_proj only"); }
static void test_dt_only(void **st) { (void)st; run_config(NULL, MOM_DECOUPLE_DT, 1, 0x7, "dt_proj only"); }
static void test_out_only(void **st) { (void)st; run_config(NULL, MOM_DECOUPLE_OUT, 1, 0x7, "out_proj only"); }
static void test_dense_untied(void **st) { (void)st; run_config(NULL, 0, 0, 0x7, "dense, untied head"); }
static void test_scalar_path(void **st)
{
    (void)st;
    run_config("scalar", MOM_DECOUPLE_ALL, 0, 0x5, "plain C, all decoupled, untied");
}

/* Continuous images (Transfusion): the patch and timestep embeddings, the
 * patch head and the noise MSE beside the text cross-entropy, on the
 * default and the plain-C path. Image positions carry random patches; the
 * noise seed is fixed, so every forward of the difference draws the same
 * timesteps and noise. */
static void run_transfusion_case(const char *cpu, const char *label, float weight, int no_text)
{
    mom_ctx *ctx = ctx_for(cpu);
    mom_config c = tu_tiny_config(3, MOM_DECOUPLE_ALL);
    const mom_patch_geometry g = {2, 4, 1}; /* patches of 4 floats, 4 per image */
    c.patches = g;
    c.time_dim = 8;
    c.diffusion_weight = weight;
    mom_model *m = tu_new_model(ctx, &c, 7);
    m->chunk = 8;
    m->proj_tile = 5;
    m->proj_tile_bwd = 6;
    m->head_block = 7;
    randomize(m, 23);
    /* With one term alone, text and images only: a third modality's copies
     * would get gradients of 1e-4, below what float32 differences of this
     * loss resolve (they reach the loss only through later positions). */
    tu_batch b = tu_make_batch(2, 21, c.vocab_size, no_text || weight == 0.0f ? 0x3 : 0x7, 5);
    float *patches = malloc(sizeof(float) * 2 * 21 * 4);
    uint64_t s = 3;
    for (int i = 0; i < 2 * 21 * 4; i++) patches[i] = 2.0f * tu_uniform(&s) - 1.0f;
    b.b.patches = patches;
    b.b.noise_seed = 77;
    b.b.low_t_fraction = 0.5f;
    if (no_text) /* the noise MSE alone */
        for (int i = 0; i < 2 * 21; i++) b.tgt[i] = -1;
    mom_losses l;
    assert_int_equal(mom_model_forward(m, &b.b, &l), MOM_OK);
    assert_true(l.count[MOM_MOD_IMAGE] > 0 && isfinite(l.by_modality[MOM_MOD_IMAGE]));
    double worst = check_model(m, &b.b, label);
    fprintf(stderr, "%-34s worst relative error %.2e (image MSE %.4f over %lld positions)\n", label, worst,
            l.by_modality[MOM_MOD_IMAGE], (long long)l.count[MOM_MOD_IMAGE]);
    /* The new layers got gradients at all (with a weight on their loss). */
    const char *names[] = {"patch_in.weight", "patch_in.bias", "time_in.weight", "time_in.bias", "patch_out.weight",
                           "patch_out.bias"};
    for (int i = 0; i < (weight != 0.0f ? 6 : 0); i++) {
        size_t n;
        float *gr = tu_get_tensor(m, names[i], 1, &n);
        double sum = 0;
        for (size_t j = 0; j < n; j++) sum += fabs(gr[j]);
        assert_true(sum > 0);
        free(gr);
    }
    free(patches);
    tu_free_batch(&b);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

static void test_transfusion(void **st)
{
    (void)st;
    run_transfusion_case(NULL, "transfusion", 2.0f, 0);
}

static void test_transfusion_scalar(void **st)
{
    (void)st;
    run_transfusion_case("scalar", "transfusion, plain C", 2.0f, 0);
}

/* One term alone: no text targets (the MSE only), and a zero diffusion
 * weight (the cross-entropy only). The head without a gradient must not
 * leave its rows' activations behind as one. */
static void test_transfusion_one_term(void **st)
{
    (void)st;
    run_transfusion_case(NULL, "transfusion, MSE only", 2.0f, 1);
    run_transfusion_case(NULL, "transfusion, weight 0", 0.0f, 0);
}

/* A modality copy that no token of the batch uses gets exactly zero
 * gradient; its embedding rows likewise when the head is untied. */
static void test_absent_modality_zero_grad(void **st)
{
    (void)st;
    mom_ctx *ctx = ctx_for(NULL);
    mom_config c = tu_tiny_config(3, MOM_DECOUPLE_ALL);
    mom_model *m = tu_new_model(ctx, &c, 3);
    tu_batch b = tu_make_batch(2, 21, c.vocab_size, 0x5, 11);
    mom_losses l;
    tu_backward(m, &b.b, &l);
    assert_true(isnan(l.by_modality[1]));
    assert_int_equal(l.count[1], 0);
    const char *absent[] = {"layers.0.mixer.local_experts_in_proj.1.weight", "layers.1.mixer.local_experts_x_proj.1.weight",
                            "layers.0.mixer.local_experts_dt_proj.1.bias", "layers.1.mixer.local_experts_out_proj.1.weight"};
    const char *present[] = {"layers.0.mixer.local_experts_in_proj.0.weight", "layers.1.mixer.local_experts_x_proj.2.weight"};
    for (int i = 0; i < 4; i++) {
        size_t n;
        float *g = tu_get_tensor(m, absent[i], 1, &n);
        for (size_t j = 0; j < n; j++) assert_true(g[j] == 0.0f);
        free(g);
    }
    for (int i = 0; i < 2; i++) {
        size_t n;
        float *g = tu_get_tensor(m, present[i], 1, &n);
        double s = 0;
        for (size_t j = 0; j < n; j++) s += fabs(g[j]);
        assert_true(s > 0);
        free(g);
    }
    tu_free_batch(&b);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_decoupled),
        cmocka_unit_test(test_d_state_16),
        cmocka_unit_test(test_all_decoupled_missing_modality),
        cmocka_unit_test(test_in_only),
        cmocka_unit_test(test_x_only),
        cmocka_unit_test(test_dt_only),
        cmocka_unit_test(test_out_only),
        cmocka_unit_test(test_dense_untied),
        cmocka_unit_test(test_scalar_path),
        cmocka_unit_test(test_absent_modality_zero_grad),
        cmocka_unit_test(test_transfusion),
        cmocka_unit_test(test_transfusion_scalar),
        cmocka_unit_test(test_transfusion_one_term),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
