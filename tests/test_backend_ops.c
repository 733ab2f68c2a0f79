/* The elementwise ops, the losses and the optimizer of every device backend
 * of the registry (Vulkan: vulkan/ops_elementwise.c) against the scalar CPU
 * backend, on random inputs and odd shapes (one row, widths not multiples
 * of the workgroup, strided rows, views at odd offsets, repeated tokens,
 * ignored cross-entropy rows); each check prints its max relative error
 * (tests/test_backend_util.h says how it is measured) and its tolerance.
 * Then determinism and ordering (zero, copy, 9000 dispatches in one
 * recording), and no message from a validation layer (MOM_VK_VALIDATE=1,
 * as meson test sets it). Exit 77 where no device backend starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_backend_util.h"

static tb_pair P;

/* Views start at odd offsets, so every shader must add its push-constant offset. */
#define OFF 3

static void test_embed(void **state)
{
    (void)state;
    uint64_t seed = 1;
    const int shapes[][3] = {{1, 1, 5}, {37, 65, 50}, {301, 130, 7}, {64, 64, 3}, {5000, 33, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int T = shapes[s][0], D = shapes[s][1], V = shapes[s][2];
        char what[64];
        tb_buf tok = tb_ints(&P, OFF + (size_t)T, 0, V, &seed);
        tb_buf table = tb_rand(&P, OFF + (size_t)V * D, -1, 1, &seed);
        tb_buf out = tb_rand(&P, OFF + (size_t)T * D, -1, 1, &seed);
        P.cpu->embed_fwd(P.cpu, T, D, tb_c(&tok, OFF), tb_c(&table, OFF), tb_c(&out, OFF));
        P.dev->embed_fwd(P.dev, T, D, tb_d(&tok, OFF), tb_d(&table, OFF), tb_d(&out, OFF));
        snprintf(what, sizeof what, "embed_fwd T %d D %d V %d", T, D, V);
        tb_check(&P, what, &out, 0, out.n, 0.0);
        /* dtable accumulates (repeated tokens: V < T) in token order: exact. */
        tb_buf dout = tb_rand(&P, OFF + (size_t)T * D, -1, 1, &seed);
        P.cpu->embed_bwd(P.cpu, T, D, tb_c(&tok, OFF), tb_c(&dout, OFF), tb_c(&table, OFF));
        P.dev->embed_bwd(P.dev, T, D, tb_d(&tok, OFF), tb_d(&dout, OFF), tb_d(&table, OFF));
        snprintf(what, sizeof what, "embed_bwd T %d D %d V %d", T, D, V);
        tb_check(&P, what, &table, 0, table.n, 0.0);
        tb_free(&P, &tok);
        tb_free(&P, &table);
        tb_free(&P, &out);
        tb_free(&P, &dout);
    }
}

static void test_rmsnorm(void **state)
{
    (void)state;
    uint64_t seed = 2;
    /* 70000 rows: more than the 65535 workgroups a dispatch may have, so the row loop runs. */
    const int shapes[][2] = {{1, 1}, {1, 300}, {7, 17}, {130, 257}, {5, 1000}, {4099, 33}, {70000, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int T = shapes[s][0], D = shapes[s][1];
        const size_t n = OFF + (size_t)T * D;
        char what[64];
        tb_buf x = tb_rand(&P, n, -2, 2, &seed), w = tb_rand(&P, OFF + (size_t)D, 0.5f, 1.5f, &seed);
        tb_buf out = tb_zeros(&P, n), rstd = tb_zeros(&P, OFF + (size_t)T);
        P.cpu->rmsnorm_fwd(P.cpu, T, D, tb_c(&x, OFF), tb_c(&w, OFF), 1e-5f, tb_c(&out, OFF), tb_c(&rstd, OFF));
        P.dev->rmsnorm_fwd(P.dev, T, D, tb_d(&x, OFF), tb_d(&w, OFF), 1e-5f, tb_d(&out, OFF), tb_d(&rstd, OFF));
        snprintf(what, sizeof what, "rmsnorm_fwd out T %d D %d", T, D);
        tb_check(&P, what, &out, 0, n, 2e-6);
        snprintf(what, sizeof what, "rmsnorm_fwd rstd T %d D %d", T, D);
        tb_check(&P, what, &rstd, 0, rstd.n, 2e-6);
        tb_buf g = tb_rand(&P, n, -1, 1, &seed), dx = tb_rand(&P, n, -1, 1, &seed);
        tb_buf dw = tb_rand(&P, OFF + (size_t)D, -1, 1, &seed);
        P.cpu->rmsnorm_bwd(P.cpu, T, D, tb_c(&x, OFF), tb_c(&w, OFF), tb_c(&rstd, OFF), tb_c(&g, OFF), tb_c(&dx, OFF),
                           tb_c(&dw, OFF));
        P.dev->rmsnorm_bwd(P.dev, T, D, tb_d(&x, OFF), tb_d(&w, OFF), tb_d(&rstd, OFF), tb_d(&g, OFF), tb_d(&dx, OFF),
                          tb_d(&dw, OFF));
        /* dx (+)= r w g - c x cancels, and c sums D products in another
         * order: normwise. */
        snprintf(what, sizeof what, "rmsnorm_bwd dx T %d D %d", T, D);
        tb_check_norm(&P, what, &dx, 0, n, 1e-5);
        /* The CPU's own sequential float sum over 70000 rows carries ~1e-5. */
        snprintf(what, sizeof what, "rmsnorm_bwd dw T %d D %d", T, D);
        tb_check_norm(&P, what, &dw, 0, dw.n, T > 10000 ? 5e-5 : 1e-5);
        tb_free(&P, &x);
        tb_free(&P, &w);
        tb_free(&P, &out);
        tb_free(&P, &rstd);
        tb_free(&P, &g);
        tb_free(&P, &dx);
        tb_free(&P, &dw);
    }
}

/* add_bias, bias_grad and gather_rows on strided rows: the elements
 * between rows must come out untouched (the whole buffer is compared). */
static void test_bias_gather(void **state)
{
    (void)state;
    uint64_t seed = 3;
    const int shapes[][3] = {{1, 1, 1}, {1, 70, 75}, {9, 17, 17}, {33, 5, 5}, {130, 100, 131}, {300, 3, 8},
                             {5001, 65, 70}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int rows = shapes[s][0], cols = shapes[s][1], ld = shapes[s][2];
        const size_t n = OFF + (size_t)rows * ld;
        char what[64];
        tb_buf bias = tb_rand(&P, OFF + (size_t)cols, -1, 1, &seed), C = tb_rand(&P, n, -1, 1, &seed);
        P.cpu->add_bias(P.cpu, rows, cols, tb_c(&bias, OFF), tb_c(&C, OFF), ld);
        P.dev->add_bias(P.dev, rows, cols, tb_d(&bias, OFF), tb_d(&C, OFF), ld);
        snprintf(what, sizeof what, "add_bias rows %d cols %d ld %d", rows, cols, ld);
        tb_check(&P, what, &C, 0, n, 0.0);
        P.cpu->bias_grad(P.cpu, rows, cols, tb_c(&C, OFF), ld, tb_c(&bias, OFF));
        P.dev->bias_grad(P.dev, rows, cols, tb_d(&C, OFF), ld, tb_d(&bias, OFF));
        /* Up to 32 rows: one pass in the CPU's order (exact); more: blocks
         * of rows summed, then the blocks (another order: normwise; the
         * CPU's own sequential sum of 5000 rows carries ~1e-6). */
        snprintf(what, sizeof what, "bias_grad rows %d cols %d ld %d", rows, cols, ld);
        if (rows <= 32) tb_check(&P, what, &bias, 0, bias.n, 0.0);
        else tb_check_norm(&P, what, &bias, 0, bias.n, 1e-5);
        const int picked = rows > 3 ? rows / 2 + 1 : rows;
        tb_buf idx = tb_ints(&P, OFF + (size_t)picked, 0, rows, &seed);
        tb_buf dst = tb_rand(&P, OFF + (size_t)picked * cols + 5, -1, 1, &seed);
        P.cpu->gather_rows(P.cpu, picked, cols, tb_c(&idx, OFF), tb_c(&C, OFF), ld, tb_c(&dst, OFF));
        P.dev->gather_rows(P.dev, picked, cols, tb_d(&idx, OFF), tb_d(&C, OFF), ld, tb_d(&dst, OFF));
        snprintf(what, sizeof what, "gather_rows rows %d cols %d ld %d", picked, cols, ld);
        tb_check(&P, what, &dst, 0, dst.n, 0.0);
        tb_free(&P, &bias);
        tb_free(&P, &C);
        tb_free(&P, &idx);
        tb_free(&P, &dst);
    }
}

static void test_softplus(void **state)
{
    (void)state;
    uint64_t seed = 4;
    /* 5000011: more than 65535 workgroups of 64, so the grid-stride loop runs. */
    const size_t sizes[] = {1, 63, 1000, 70001, 5000011};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const size_t n = sizes[s];
        char what[64];
        /* Around the threshold 20, and the dt range (softplus ~1e-3) too. */
        tb_buf x = tb_rand(&P, OFF + n, -30, 30, &seed), y = tb_zeros(&P, OFF + n);
        tb_buf x2 = tb_rand(&P, OFF + n, -8, -1, &seed);
        tb_buf dy = tb_rand(&P, OFF + n, -1, 1, &seed), dx = tb_zeros(&P, OFF + n);
        P.cpu->softplus_fwd(P.cpu, n, tb_c(&x, OFF), tb_c(&y, OFF));
        P.dev->softplus_fwd(P.dev, n, tb_d(&x, OFF), tb_d(&y, OFF));
        snprintf(what, sizeof what, "softplus_fwd n %zu x in [-30, 30)", n);
        tb_check(&P, what, &y, 0, y.n, 2e-6);
        P.cpu->softplus_fwd(P.cpu, n, tb_c(&x2, OFF), tb_c(&y, OFF));
        P.dev->softplus_fwd(P.dev, n, tb_d(&x2, OFF), tb_d(&y, OFF));
        snprintf(what, sizeof what, "softplus_fwd n %zu x in [-8, -1)", n);
        tb_check(&P, what, &y, 0, y.n, 2e-6);
        P.cpu->softplus_bwd(P.cpu, n, tb_c(&x, OFF), tb_c(&dy, OFF), tb_c(&dx, OFF));
        P.dev->softplus_bwd(P.dev, n, tb_d(&x, OFF), tb_d(&dy, OFF), tb_d(&dx, OFF));
        snprintf(what, sizeof what, "softplus_bwd n %zu", n);
        tb_check(&P, what, &dx, 0, dx.n, 2e-6);
        tb_free(&P, &x);
        tb_free(&P, &x2);
        tb_free(&P, &y);
        tb_free(&P, &dy);
        tb_free(&P, &dx);
    }
}

static void test_xent(void **state)
{
    (void)state;
    uint64_t seed = 5;
    const int shapes[][2] = {{1, 1}, {1, 300}, {9, 5}, {70, 257}, {3, 5000}, {70000, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int T = shapes[s][0], V = shapes[s][1];
        for (int with_grad = 0; with_grad < 2; with_grad++) {
            const float scale = with_grad ? 1.0f / (float)T : 0.0f;
            char what[64];
            tb_buf l = tb_rand(&P, OFF + (size_t)T * V, -8, 8, &seed);
            /* Targets -1 .. V-1: some rows ignored (all of them when T is 1, 1 in V+1 chance). */
            tb_buf tg = tb_ints(&P, OFF + (size_t)T, -1, V, &seed);
            tb_buf loss = tb_rand(&P, OFF + (size_t)T, -1, 1, &seed);
            P.cpu->xent(P.cpu, T, V, tb_c(&l, OFF), tb_c(&tg, OFF), scale, tb_c(&loss, OFF));
            P.dev->xent(P.dev, T, V, tb_d(&l, OFF), tb_d(&tg, OFF), scale, tb_d(&loss, OFF));
            snprintf(what, sizeof what, "xent loss T %d V %d scale %g", T, V, (double)scale);
            /* loss = lse - l[target] cancels where the target wins (loss ~1e-3
             * from logits ~8): an ulp of lse is then 1e-4 of the loss. */
            tb_check(&P, what, &loss, 0, loss.n, 2e-4);
            snprintf(what, sizeof what, "xent %s T %d V %d", with_grad ? "grad" : "logits kept", T, V);
            tb_check(&P, what, &l, 0, l.n, with_grad ? 1e-5 : 0.0);
            tb_free(&P, &l);
            tb_free(&P, &tg);
            tb_free(&P, &loss);
        }
    }
}

static void test_mse(void **state)
{
    (void)state;
    uint64_t seed = 6;
    const int shapes[][2] = {{1, 1}, {1, 48}, {17, 3}, {130, 300}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int rows = shapes[s][0], cols = shapes[s][1];
        for (int with_grad = 0; with_grad < 2; with_grad++) {
            const float scale = with_grad ? 0.5f : 0.0f;
            char what[64];
            tb_buf pred = tb_rand(&P, OFF + (size_t)rows * cols, -2, 2, &seed);
            tb_buf tgt = tb_rand(&P, OFF + (size_t)rows * cols, -2, 2, &seed);
            tb_buf loss = tb_zeros(&P, OFF + (size_t)rows);
            P.cpu->mse(P.cpu, rows, cols, tb_c(&pred, OFF), tb_c(&tgt, OFF), scale, tb_c(&loss, OFF));
            P.dev->mse(P.dev, rows, cols, tb_d(&pred, OFF), tb_d(&tgt, OFF), scale, tb_d(&loss, OFF));
            snprintf(what, sizeof what, "mse loss rows %d cols %d", rows, cols);
            tb_check(&P, what, &loss, 0, loss.n, 1e-5);
            snprintf(what, sizeof what, "mse %s rows %d cols %d", with_grad ? "grad" : "pred kept", rows, cols);
            tb_check(&P, what, &pred, 0, pred.n, with_grad ? 1e-6 : 0.0);
            tb_free(&P, &pred);
            tb_free(&P, &tgt);
            tb_free(&P, &loss);
        }
    }
}

/* clip_scale: out = [norm, clip scale, finite]. The device adds float
 * partial sums, the CPU sums in double: relative 1e-5. */
static void test_clip_scale(void **state)
{
    (void)state;
    uint64_t seed = 7;
    const size_t sizes[] = {1, 255, 4097, 300007, 1000003};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const size_t n = sizes[s];
        char what[64];
        tb_buf x = tb_rand(&P, OFF + n, -3, 3, &seed), y = tb_zeros(&P, OFF + n), out = tb_zeros(&P, OFF + 3);
        /* clip 0.5: the scale is clip / (norm + 1e-6) wherever the norm is above it; clip 0: 1. */
        for (int k = 0; k < 2; k++) {
            const float clip = k ? 0.0f : 0.5f;
            P.cpu->clip_scale(P.cpu, n, tb_c(&x, OFF), clip, tb_c(&out, OFF));
            P.dev->clip_scale(P.dev, n, tb_d(&x, OFF), clip, tb_d(&out, OFF));
            snprintf(what, sizeof what, "clip_scale n %zu clip %g", n, (double)clip);
            tb_check(&P, what, &out, OFF, 3, 1e-5);
        }
        /* It must see work recorded before it: x copied into y, then y's
         * norm, the same bits as x's. */
        float v[3], v2[3], c[3];
        P.dev->download(P.dev, v, tb_d(&out, OFF), 3);
        P.dev->copy(P.dev, tb_d(&y, OFF), tb_d(&x, OFF), n);
        P.dev->clip_scale(P.dev, n, tb_d(&y, OFF), 0.0f, tb_d(&out, OFF));
        P.dev->download(P.dev, v2, tb_d(&out, OFF), 3);
        assert_memory_equal(v, v2, sizeof v);
        /* One NaN: not finite on either side. */
        const float bad = NAN;
        P.cpu->upload(P.cpu, tb_c(&x, OFF + n / 2), &bad, 1);
        P.dev->upload(P.dev, tb_d(&x, OFF + n / 2), &bad, 1);
        P.cpu->clip_scale(P.cpu, n, tb_c(&x, OFF), 0.5f, tb_c(&out, OFF));
        P.dev->clip_scale(P.dev, n, tb_d(&x, OFF), 0.5f, tb_d(&out, OFF));
        P.cpu->download(P.cpu, c, tb_c(&out, OFF), 3);
        P.dev->download(P.dev, v, tb_d(&out, OFF), 3);
        assert_true(c[2] == 0.0f && v[2] == 0.0f);
        tb_free(&P, &x);
        tb_free(&P, &y);
        tb_free(&P, &out);
    }
}

/* adamw_scaled: five steps with the gradient scale taken from a [norm,
 * scale, finite] buffer; then one with finite 0, which changes nothing. */
static void test_adamw_scaled(void **state)
{
    (void)state;
    uint64_t seed = 8;
    const size_t sizes[] = {1, 1003, 70001};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const size_t n = sizes[s];
        tb_buf p = tb_rand(&P, OFF + n, -1, 1, &seed), m = tb_zeros(&P, OFF + n), v = tb_zeros(&P, OFF + n);
        const float sc[OFF + 3] = {[OFF] = 1.4f, [OFF + 1] = 0.7f, [OFF + 2] = 1.0f};
        tb_buf scale = tb_from(&P, sc, OFF + 3);
        for (int64_t step = 1; step <= 6; step++) {
            tb_buf g = tb_rand(&P, OFF + n, -1, 1, &seed);
            const float wd = step & 1 ? 0.1f : 0.0f;
            if (step == 6) {
                const float skip[3] = {NAN, 1.0f, 0.0f};
                P.cpu->upload(P.cpu, tb_c(&scale, OFF), skip, 3);
                P.dev->upload(P.dev, tb_d(&scale, OFF), skip, 3);
                P.dev->download(P.dev, p.host, tb_d(&p, 0), p.n);
            }
            P.cpu->adamw_scaled(P.cpu, n, tb_c(&p, OFF), tb_c(&g, OFF), tb_c(&m, OFF), tb_c(&v, OFF),
                                tb_c(&scale, OFF), 1e-3f, 0.9f, 0.95f, 1e-8f, wd, step);
            P.dev->adamw_scaled(P.dev, n, tb_d(&p, OFF), tb_d(&g, OFF), tb_d(&m, OFF), tb_d(&v, OFF),
                               tb_d(&scale, OFF), 1e-3f, 0.9f, 0.95f, 1e-8f, wd, step);
            tb_free(&P, &g);
        }
        float *after = malloc(sizeof(float) * p.n);
        assert_non_null(after);
        P.dev->download(P.dev, after, tb_d(&p, 0), p.n);
        assert_memory_equal(after, p.host, sizeof(float) * p.n);
        free(after);
        char what[64];
        snprintf(what, sizeof what, "adamw_scaled p n %zu (5 steps)", n);
        tb_check(&P, what, &p, 0, p.n, 1e-6);
        snprintf(what, sizeof what, "adamw_scaled m n %zu", n);
        tb_check(&P, what, &m, 0, m.n, 1e-6);
        snprintf(what, sizeof what, "adamw_scaled v n %zu", n);
        tb_check(&P, what, &v, 0, v.n, 1e-6);
        tb_free(&P, &p);
        tb_free(&P, &m);
        tb_free(&P, &v);
        tb_free(&P, &scale);
    }
}

/* The reductions use a fixed partition: two runs, the same bits. */
static void test_deterministic(void **state)
{
    (void)state;
    uint64_t seed = 11;
    const int rows = 3001, cols = 77;
    const size_t n = (size_t)rows * cols;
    tb_buf x = tb_rand(&P, n, -1, 1, &seed), tok = tb_ints(&P, (size_t)rows, 0, 40, &seed);
    float *first = malloc(sizeof(float) * (cols + 40 * cols + 1)), *again = malloc(sizeof(float) * (cols + 40 * cols + 1));
    assert_non_null(first);
    assert_non_null(again);
    for (int run = 0; run < 2; run++) {
        float *out = run ? again : first;
        be_buf *db = P.dev->alloc(P.dev, (size_t)cols), *dt = P.dev->alloc(P.dev, (size_t)40 * cols);
        be_buf *cs = P.dev->alloc(P.dev, 3);
        P.dev->bias_grad(P.dev, rows, cols, tb_d(&x, 0), cols, (bv){db, 0});
        P.dev->embed_bwd(P.dev, rows, cols, tb_d(&tok, 0), tb_d(&x, 0), (bv){dt, 0});
        P.dev->download(P.dev, out, (bv){db, 0}, (size_t)cols);
        P.dev->download(P.dev, out + cols, (bv){dt, 0}, (size_t)40 * cols);
        P.dev->clip_scale(P.dev, n, tb_d(&x, 0), 0.0f, (bv){cs, 0});
        P.dev->download(P.dev, out + cols + 40 * cols, (bv){cs, 0}, 1); /* the norm */
        P.dev->release(P.dev, db);
        P.dev->release(P.dev, dt);
        P.dev->release(P.dev, cs);
    }
    assert_memory_equal(first, again, sizeof(float) * (cols + 40 * cols + 1));
    printf("  bias_grad, embed_bwd, clip_scale on %d x %d: two runs bit-identical\n", rows, cols);
    free(first);
    free(again);
    tb_free(&P, &x);
    tb_free(&P, &tok);
}

/* zero and copy are recorded in order with the ops around them. */
static void test_zero_copy(void **state)
{
    (void)state;
    uint64_t seed = 9;
    const size_t n = 1001;
    tb_buf a = tb_rand(&P, n, -1, 1, &seed), b = tb_rand(&P, n, -1, 1, &seed);
    for (int side = 0; side < 2; side++) {
        backend *be = side ? P.dev : P.cpu;
        be_buf *A = side ? a.d : a.c, *B = side ? b.d : b.c;
        be->add_bias(be, 1, 500, (bv){A, 1}, (bv){B, 0}, 500); /* b[0:500) += a[1:501) */
        be->copy(be, (bv){A, 600}, (bv){B, 3}, 400); /* a[600:1000) = b[3:403) */
        be->zero(be, (bv){B, 7}, 11);
        be->add_bias(be, 1, 300, (bv){B, 0}, (bv){A, 2}, 300);
    }
    tb_check(&P, "zero/copy ordering (a)", &a, 0, n, 0.0);
    tb_check(&P, "zero/copy ordering (b)", &b, 0, n, 0.0);
    tb_free(&P, &a);
    tb_free(&P, &b);
}

/* More dispatches than one descriptor pool holds (8192 sets) in one
 * recording: the backend submits and carries on, in order. */
static void test_many_dispatches(void **state)
{
    (void)state;
    uint64_t seed = 10;
    tb_buf x = tb_rand(&P, 5, -1, 1, &seed), y = tb_rand(&P, 5, -1, 1, &seed);
    for (int i = 0; i < 9000; i++) {
        P.cpu->add_bias(P.cpu, 1, 5, tb_c(&x, 0), tb_c(&y, 0), 5);
        P.dev->add_bias(P.dev, 1, 5, tb_d(&x, 0), tb_d(&y, 0), 5);
    }
    tb_check(&P, "9000 add_bias in one recording", &y, 0, 5, 0.0);
    tb_free(&P, &x);
    tb_free(&P, &y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed),       cmocka_unit_test(test_rmsnorm),   cmocka_unit_test(test_bias_gather),
        cmocka_unit_test(test_softplus), cmocka_unit_test(test_xent),      cmocka_unit_test(test_mse),
        cmocka_unit_test(test_clip_scale),        cmocka_unit_test(test_adamw_scaled),     cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_zero_copy),    cmocka_unit_test(test_many_dispatches),
    };
    int failed = 0, ran = 0;
    for (int i = 0; tb_next(&P, &i); ran++) failed += cmocka_run_group_tests_name(P.dev_backend, tests, NULL, NULL);
    return tb_exit_status(ran, failed);
}
