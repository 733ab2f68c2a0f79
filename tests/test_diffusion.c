/* The diffusion process of continuous images: the cosine schedule against
 * its closed form, the timestep features, the noising of a batch (one
 * timestep per image, x_t from x_0 and the noise, images cut by the
 * window, the low-t share, the same draws for a seed), and DDIM steps on
 * inputs whose answer is known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "diffusion.h"
#include "test_util.h"

static double f(double t) { return pow(cos((t / 1000.0 + 0.008) / 1.008 * M_PI / 2.0), 2.0); }

/* Where no beta is clipped, the product telescopes: alpha_bar_t = f(t+1) / f(0). */
static void test_schedule(void **st)
{
    (void)st;
    const int ts[] = {0, 1, 10, 100, 250, 500, 750, 900, 990};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        const double want = f(ts[i] + 1) / f(0), got = mom_diffusion_alpha_bar(ts[i]);
        assert_true(fabs(got - want) <= 1e-12 + 1e-9 * want);
    }
    assert_true(fabs(mom_diffusion_alpha_bar(0) - 0.99996) < 1e-5); /* about 1 - 4e-5 */
    assert_true(mom_diffusion_alpha_bar(-1) == 1.0);
    double prev = 1.0;
    for (int t = 0; t < MOM_DIFFUSION_STEPS; t++) {
        const double a = mom_diffusion_alpha_bar(t);
        assert_true(a < prev && a >= 0.0);
        prev = a;
    }
    /* The last step's beta is clipped to 0.999: nearly pure noise. */
    assert_true(mom_diffusion_alpha_bar(MOM_DIFFUSION_STEPS - 1) < 1e-6);
}

static void test_time_features(void **st)
{
    (void)st;
    float v[8];
    mom_diffusion_time_features(0, 8, v);
    for (int i = 0; i < 4; i++) {
        assert_true(v[i] == 0.0f);
        assert_true(v[4 + i] == 1.0f);
    }
    mom_diffusion_time_features(7, 8, v);
    for (int i = 0; i < 4; i++) {
        const double w = pow(10000.0, -i / 4.0);
        assert_true(fabs(v[i] - sin(7 * w)) < 1e-6);
        assert_true(fabs(v[4 + i] - cos(7 * w)) < 1e-6);
    }
}

enum { B = 2, T = 12, PD = 3, TD = 4 };

/* Row 0: text, an image of 4, text, an image cut by the window's end.
 * Row 1: an image cut by the window's start, text. */
static const uint8_t MODS[B * T] = {0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1,
                                    1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};

static int noise(uint64_t seed, float low, const float *x0, int32_t *rows, float *xt, float *eps, float *tf,
                 int *steps)
{
    /* The image rows in position order, as route_build would give them. */
    int k = 0;
    for (int p = 0; p < B * T; p++) rows[p] = MODS[p] == 1 ? k++ : -1;
    const diffusion_batch db = {B, T, PD, TD, MODS, x0, rows, 0, seed, low};
    return diffusion_noise_batch(&db, xt, eps, tf, steps);
}

static void test_noise_batch(void **st)
{
    (void)st;
    float x0[B * T * PD], xt[10 * PD], eps[10 * PD], tf[10 * TD], xt2[10 * PD], eps2[10 * PD], tf2[10 * TD];
    int32_t rows[B * T];
    int steps[10], steps2[10];
    uint64_t s = 1;
    for (int i = 0; i < B * T * PD; i++) x0[i] = 2.0f * tu_uniform(&s) - 1.0f;
    assert_int_equal(noise(5, 0.0f, x0, rows, xt, eps, tf, steps), 3);
    /* One timestep per image: rows 0-3, 4-6 (row 0's cut image), 7-9. */
    const int first[3] = {0, 4, 7}, last[3] = {3, 6, 9};
    for (int im = 0; im < 3; im++)
        for (int r = first[im]; r <= last[im]; r++) assert_int_equal(steps[r], steps[first[im]]);
    assert_true(steps[0] != steps[4] || steps[4] != steps[7]);
    for (int p = 0; p < B * T; p++) {
        if (rows[p] < 0) continue;
        const int r = rows[p];
        const double ab = mom_diffusion_alpha_bar(steps[r]);
        float want_tf[TD];
        mom_diffusion_time_features(steps[r], TD, want_tf);
        assert_memory_equal(tf + r * TD, want_tf, sizeof(want_tf));
        for (int i = 0; i < PD; i++)
            assert_true(fabs(xt[r * PD + i] - (sqrt(ab) * x0[p * PD + i] + sqrt(1 - ab) * eps[r * PD + i])) < 1e-6);
    }
    /* The same seed: the same draws; another seed: others. */
    noise(5, 0.0f, x0, rows, xt2, eps2, tf2, steps2);
    assert_memory_equal(xt, xt2, sizeof(xt));
    assert_memory_equal(steps, steps2, sizeof(steps));
    noise(6, 0.0f, x0, rows, xt2, eps2, tf2, steps2);
    assert_memory_not_equal(eps, eps2, sizeof(eps));
    /* low_t_fraction 1: every image below 500; over many seeds, timesteps
     * cover both halves otherwise. */
    int high = 0;
    for (uint64_t sd = 0; sd < 200; sd++) {
        noise(sd, 1.0f, x0, rows, xt, eps, tf, steps);
        for (int r = 0; r < 10; r++) assert_true(steps[r] >= 0 && steps[r] < 500);
        noise(sd, 0.0f, x0, rows, xt, eps, tf, steps);
        for (int r = 0; r < 10; r++) assert_true(steps[r] >= 0 && steps[r] < MOM_DIFFUSION_STEPS);
        high += steps[0] >= 500;
    }
    assert_true(high > 60 && high < 140);
}

/* With the true noise, one DDIM step to -1 recovers x_0; to t_prev it
 * gives x_0 noised to t_prev with the same noise. */
static void test_ddim_step(void **st)
{
    (void)st;
    enum { N = 16 };
    float x0[N], e[N], x[N];
    uint64_t s = 2;
    for (int i = 0; i < N; i++) {
        x0[i] = 2.0f * tu_uniform(&s) - 1.0f;
        e[i] = 2.0f * tu_uniform(&s) - 1.0f;
    }
    const int pairs[][2] = {{999, -1}, {500, 480}, {20, 0}, {0, -1}};
    for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
        const int t = pairs[k][0], tp = pairs[k][1];
        const double ab = mom_diffusion_alpha_bar(t), ap = mom_diffusion_alpha_bar(tp);
        for (int i = 0; i < N; i++) x[i] = (float)(sqrt(ab) * x0[i] + sqrt(1 - ab) * e[i]);
        mom_ddim_step(N, x, e, t, tp, 0.0f);
        for (int i = 0; i < N; i++) {
            const double want = sqrt(ap) * x0[i] + sqrt(1 - ap) * e[i];
            /* dividing by sqrt(alpha_bar_999) ~ 1e-3 amplifies x_t's rounding */
            assert_true(fabs(x[i] - want) < (t == 999 ? 2e-3 : 1e-5));
        }
    }
}

/* Clipping: a prediction of x_0 outside [-1, 1] is clamped, and the step
 * goes on from the clamped one with the noise that explains x_t. */
static void test_ddim_clip(void **st)
{
    (void)st;
    const int t = 600, tp = 400;
    const double ab = mom_diffusion_alpha_bar(t), ap = mom_diffusion_alpha_bar(tp);
    float x[2] = {(float)(sqrt(ab) * 3.0 + sqrt(1 - ab) * 0.5), (float)(sqrt(ab) * 0.25 + sqrt(1 - ab) * -0.5)};
    const float e[2] = {0.5f, -0.5f};
    const float x1 = x[0];
    mom_ddim_step(2, x, e, t, tp, 1.0f);
    const double e0 = (x1 - sqrt(ab) * 1.0) / sqrt(1 - ab);
    assert_true(fabs(x[0] - (sqrt(ap) * 1.0 + sqrt(1 - ap) * e0)) < 1e-5);
    assert_true(fabs(x[1] - (sqrt(ap) * 0.25 + sqrt(1 - ap) * -0.5)) < 1e-5); /* inside: untouched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_time_features),
        cmocka_unit_test(test_noise_batch),
        cmocka_unit_test(test_ddim_step),
        cmocka_unit_test(test_ddim_clip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
