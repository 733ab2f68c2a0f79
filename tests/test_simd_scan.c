/* Every SIMD path's selective scan (tests/test_simd_paths.h) against the
 * scalar reference, forward and
 * backward, on odd shapes: one token, T not a multiple of the chunk,
 * d_inner not a multiple of 16, on 1 and 2 threads, with and without a row
 * map. Tolerance: the two
 * differ only in the exp (about 1 ulp apart) and in summation order, so
 * every output is held to 2e-5 of that output's largest magnitude. Two runs
 * with the same thread count must agree bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "kernels.h"
#include "test_simd_paths.h"
#include "test_util.h"

typedef struct scan_io {
    mom_scan_args a;
    float *y, *y_again, *du, *ddelta, *dbc, *dz, *dA_log, *dD, *dy, *work;
} scan_io;

static float *rnd(size_t n, float lo, float hi, uint64_t *s)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * tu_uniform(s);
    return p;
}

/* Inputs shared by both paths (same seed); outputs owned per run. With
 * row_map, positions sit at the rows of a random permutation. */
static scan_io make(int B, int L, int D, int chunk, uint64_t seed, int row_map)
{
    const int N = 16;
    uint64_t s = seed;
    const size_t BL = (size_t)B * L;
    scan_io io;
    memset(&io, 0, sizeof(io));
    float *bc = rnd(BL * 2 * N, -1, 1, &s);
    mom_scan_args a = {B, L, D, N, chunk, rnd(BL * D, -1, 1, &s), rnd(BL * D, 0.001f, 1.5f, &s),
                       rnd((size_t)D * N, -1.0f, 2.5f, &s), bc, bc + N, 2 * N, rnd((size_t)D, 0.5f, 1.5f, &s),
                       rnd(BL * D, -3, 3, &s), D,
                       malloc(sizeof(float) * (size_t)B * mom_scan_n_chunks(L, chunk) * D * N), NULL, NULL};
    if (row_map) a.rows = tu_permutation(BL, &s);
    io.a = a;
    io.dy = rnd(BL * D, -1, 1, &s);
    return io;
}

static void run(scan_io *io, const mom_kernels *k, int threads)
{
    const size_t BL = (size_t)io->a.B * io->a.L, D = (size_t)io->a.D, N = 16;
    io->y = malloc(BL * D * 4);
    io->y_again = malloc(BL * D * 4);
    io->du = malloc(BL * D * 4);
    io->ddelta = malloc(BL * D * 4);
    io->dbc = malloc(BL * 2 * N * 4);
    io->dz = malloc(BL * D * 4);
    io->dA_log = calloc(D * N, 4);
    io->dD = calloc(D, 4);
    io->work = malloc(k->scan_bwd_work_floats(&io->a, threads) * 4);
    k->scan_fwd(&io->a, io->y);
    mom_scan_grads g = {io->dy, io->du, io->ddelta, io->dbc, io->dbc + N, (int)(2 * N), io->dz, (int)D,
                        io->dA_log, io->dD, io->work, threads, io->y_again};
    k->scan_bwd(&io->a, &g);
}

static void release(scan_io *io)
{
    float *f[] = {io->y, io->y_again, io->du, io->ddelta, io->dbc, io->dz, io->dA_log, io->dD, io->work};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) free(f[i]);
}

static void free_inputs(scan_io *io)
{
    free((void *)io->a.u);
    free((void *)io->a.delta);
    free((void *)io->a.A_log);
    free((void *)io->a.Bm);
    free((void *)io->a.Dskip);
    free((void *)io->a.z);
    free(io->a.states);
    free((void *)io->a.rows);
    free(io->dy);
}

static void close_to(const char *what, const float *got, const float *want, size_t n)
{
    const double mx = tu_max_abs(want, n), err = tu_max_diff(got, want, n);
    if (err > 2e-5 * (mx + 1e-30)) fprintf(stderr, "%s: max error %.3g of max %.3g\n", what, err, mx);
    assert_true(err <= 2e-5 * (mx + 1e-30));
}

static void compare_rows(const mom_kernels *fast, int B, int L, int D, int chunk, int threads, int row_map)
{
    scan_io ref = make(B, L, D, chunk, 42, row_map), simd = make(B, L, D, chunk, 42, row_map);
    run(&ref, &mom_kernels_scalar, 1);
    run(&simd, fast, threads);
    const size_t BL = (size_t)B * L, nst = (size_t)B * mom_scan_n_chunks(L, chunk) * D * 16;
    close_to("y", simd.y, ref.y, BL * D);
    close_to("states", simd.a.states, ref.a.states, nst);
    close_to("du", simd.du, ref.du, BL * D);
    close_to("ddelta", simd.ddelta, ref.ddelta, BL * D);
    close_to("dB dC", simd.dbc, ref.dbc, BL * 32);
    close_to("dz", simd.dz, ref.dz, BL * D);
    close_to("dA_log", simd.dA_log, ref.dA_log, (size_t)D * 16);
    close_to("dD", simd.dD, ref.dD, (size_t)D);
    /* The backward's recomputed output is the forward's, bit for bit. */
    assert_memory_equal(ref.y_again, ref.y, BL * D * 4);
    assert_memory_equal(simd.y_again, simd.y, BL * D * 4);
    /* Same thread count, same bits. */
    scan_io again = make(B, L, D, chunk, 42, row_map);
    run(&again, fast, threads);
    assert_memory_equal(again.dbc, simd.dbc, BL * 32 * 4);
    assert_memory_equal(again.dA_log, simd.dA_log, (size_t)D * 16 * 4);
    assert_memory_equal(again.du, simd.du, BL * D * 4);
    release(&ref); release(&simd); release(&again);
    free_inputs(&ref); free_inputs(&simd); free_inputs(&again);
}

static void compare(void **st, int B, int L, int D, int chunk, int threads)
{
    compare_rows(*st, B, L, D, chunk, threads, 0);
}

static void test_odd_shape(void **st) { compare(st, 2, 29, 19, 8, 1); }
static void test_odd_shape_2_threads(void **st) { compare(st, 2, 29, 19, 8, 2); }
static void test_one_token(void **st) { compare(st, 1, 1, 3, 64, 1); }
static void test_model_like(void **st) { compare(st, 3, 130, 48, 64, 2); }
static void test_tail_group(void **st) { compare(st, 1, 70, 33, 16, 2); }
static void test_row_map(void **st) { compare_rows(*st, 3, 130, 48, 64, 2, 1); }
static void test_row_map_odd(void **st) { compare_rows(*st, 2, 29, 19, 8, 1, 1); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_odd_shape),
        cmocka_unit_test(test_odd_shape_2_threads),
        cmocka_unit_test(test_one_token),
        cmocka_unit_test(test_model_like),
        cmocka_unit_test(test_tail_group),
        cmocka_unit_test(test_row_map),
        cmocka_unit_test(test_row_map_odd),
    };
    return tu_run_per_simd_path("simd_scan", tests, sizeof(tests) / sizeof(tests[0]));
}
