/* Whole training steps on each SIMD path against the plain-C path
 * (MOM_CPU=scalar: plain-C kernels and matmuls), and bit-identical repeats.
 * d_state 16 so the SIMD scans run; d_inner 80 (not a multiple of 16:
 * a partial channel group); T 150 over scan chunks of 128 (a partial
 * chunk); three modalities in runs. Tolerance: losses within 1e-5
 * relative after 5 AdamW steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "test_simd_paths.h"
#include "test_util.h"

#define STEPS 5

static void train_with(const char *cpu, int bf16, double losses[STEPS], float **params, size_t *n_params)
{
    mom_ctx *ctx;
    mom_ctx_settings cs;
    mom_ctx_default_settings(&cs);
    cs.cpu = cpu;
    cs.matmul_bf16 = bf16;
    assert_int_equal(mom_ctx_create(&ctx, &cs), MOM_OK);
    mom_config c = tu_config(3, 50, 40, 2, 16);
    mom_model *m = tu_new_model(ctx, &c, 3);
    mom_optim_settings os;
    mom_optim_default_settings(&os);
    os.warmup_steps = 2;
    os.total_steps = STEPS;
    os.lr = 3e-3f;
    for (int s = 0; s < STEPS; s++) {
        tu_batch b = tu_make_batch(2, 150, c.vocab_size, 0x7, 100 + (uint64_t)s);
        mom_losses l;
        tu_backward(m, &b.b, &l);
        assert_int_equal(mom_model_step(m, &os, NULL), MOM_OK);
        losses[s] = l.loss;
        tu_free_batch(&b);
    }
    *params = tu_snapshot(m, 0, n_params);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

static void train(const char *cpu, double losses[STEPS], float **params, size_t *n_params)
{
    train_with(cpu, 0, losses, params, n_params);
}

/* bf16 projections (fp32 master weights, accumulate and scan): the same
 * training within 1% of the fp32 losses, but not the same bits. */
static void test_bf16_close_to_fp32(void **st)
{
    (void)st;
    mom_ctx *probe = NULL;
    mom_ctx_settings cs;
    mom_ctx_default_settings(&cs);
    cs.matmul_bf16 = 1;
    const mom_status st_bf16 = mom_ctx_create(&probe, &cs);
    if (st_bf16 != MOM_OK) { /* built without oneDNN, or a CPU it runs no bf16 on */
        fprintf(stderr, "bf16 refused: %s: skipped\n", mom_ctx_create_error());
        assert_int_equal(st_bf16, MOM_ERR_UNSUPPORTED);
        assert_non_null(strstr(mom_ctx_create_error(), "bf16"));
        skip();
    }
    mom_ctx_destroy(&probe);
    double lf[STEPS], lb[STEPS];
    float *pf, *pb;
    size_t n;
    train_with(NULL, 0, lf, &pf, &n);
    train_with(NULL, 1, lb, &pb, &n);
    int differ = 0;
    for (int s = 0; s < STEPS; s++) {
        fprintf(stderr, "step %d: fp32 %.6f bf16 %.6f\n", s + 1, lf[s], lb[s]);
        assert_true(fabs(lb[s] - lf[s]) <= 1e-2 * fabs(lf[s]));
        differ |= lb[s] != lf[s];
    }
    assert_true(differ);
    free(pf);
    free(pb);
}

/* Each SIMD path (tests/test_simd_paths.h), with oneDNN where built,
 * against plain C. */
static void test_simd_matches_scalar(void **st)
{
    (void)st;
    const mom_kernels *paths[8];
    const int n_paths = tu_simd_paths(paths, 8);
    if (!n_paths) skip();
    double ls[STEPS], lf[STEPS];
    float *ps, *pf;
    size_t n;
    train("scalar", ls, &ps, &n);
    for (int p = 0; p < n_paths; p++) {
        train(paths[p]->name, lf, &pf, &n);
        for (int s = 0; s < STEPS; s++) {
            const double rel = fabs(lf[s] - ls[s]) / fabs(ls[s]);
            fprintf(stderr, "step %d: scalar %.9f %s %.9f rel %.2e\n", s + 1, ls[s], paths[p]->name, lf[s], rel);
            assert_true(rel <= 1e-5);
        }
        free(pf);
    }
    free(ps);
}

/* Each matmul library built (MOM_MATMUL: onednn, blas) under the best
 * kernels, against plain C. */
static void test_matmul_libraries_match_scalar(void **st)
{
    (void)st;
    double ls[STEPS], lf[STEPS];
    float *ps, *pf;
    size_t n;
    train("scalar", ls, &ps, &n);
    const char *libs[] = {"onednn", "blas"};
    int ran = 0;
    for (int i = 0; i < 2; i++) {
        setenv("MOM_MATMUL", libs[i], 1);
        mom_ctx *probe = NULL;
        const mom_status built = tu_ctx_create(&probe, 1, NULL);
        mom_ctx_destroy(&probe);
        if (built != MOM_OK) {
            fprintf(stderr, "%s: %s\n", libs[i], mom_ctx_create_error());
            assert_int_equal(built, MOM_ERR_UNSUPPORTED); /* not in this build */
            continue;
        }
        train(NULL, lf, &pf, &n);
        for (int s = 0; s < STEPS; s++) {
            const double rel = fabs(lf[s] - ls[s]) / fabs(ls[s]);
            fprintf(stderr, "step %d: scalar %.9f %s %.9f rel %.2e\n", s + 1, ls[s], libs[i], lf[s], rel);
            assert_true(rel <= 1e-5);
        }
        free(pf);
        ran++;
    }
    unsetenv("MOM_MATMUL");
    free(ps);
    if (!ran) skip();
}

/* Every path, the scalar one too, gives the same bits twice. */
static void test_repeat_is_bit_identical(void **st)
{
    (void)st;
    const mom_kernels *paths[8];
    const int n_paths = mom_kernels_usable(paths, 8);
    for (int p = 0; p < n_paths; p++) {
        double a[STEPS], b[STEPS];
        float *pa, *pb;
        size_t n;
        train(paths[p]->name, a, &pa, &n);
        train(paths[p]->name, b, &pb, &n);
        assert_memory_equal(a, b, sizeof(a));
        assert_memory_equal(pa, pb, n * sizeof(float));
        free(pa);
        free(pb);
    }
}

/* Two contexts in one process, with different thread counts: neither
 * changes the other's results (each sets its own threads at every call,
 * and a model's scan scratch holds the parts it was planned for). */
static void test_two_contexts(void **st)
{
    (void)st;
    mom_ctx *c2, *c1;
    assert_int_equal(tu_ctx_create(&c2, 2, NULL), MOM_OK);
    mom_config c = tu_config(3, 50, 40, 2, 16);
    mom_model *a = tu_new_model(c2, &c, 3);
    tu_batch b = tu_make_batch(4, 70, c.vocab_size, 0x7, 9);
    mom_losses l;
    size_t n;
    tu_backward(a, &b.b, &l);
    float *g1 = tu_snapshot(a, 1, &n);
    assert_int_equal(tu_ctx_create(&c1, 1, NULL), MOM_OK);
    mom_model *other = tu_new_model(c1, &c, 4);
    tu_backward(other, &b.b, &l);
    tu_backward(a, &b.b, &l);
    float *g2 = tu_snapshot(a, 1, &n);
    assert_memory_equal(g1, g2, n * sizeof(float));
    free(g1);
    free(g2);
    tu_free_batch(&b);
    mom_model_destroy(&other);
    mom_model_destroy(&a);
    mom_ctx_destroy(&c1);
    mom_ctx_destroy(&c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simd_matches_scalar),
        cmocka_unit_test(test_matmul_libraries_match_scalar),
        cmocka_unit_test(test_repeat_is_bit_identical),
        cmocka_unit_test(test_bf16_close_to_fp32),
        cmocka_unit_test(test_two_contexts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
