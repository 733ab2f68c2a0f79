/* The state the conv and the scan carry between calls (inference): a
 * sequence run in pieces, each continuing from the last one's conv history
 * and scan state, gives what one run over the whole sequence gives, bit
 * for bit on each CPU path; and each SIMD path with a carried state stays
 * within 2e-5 of the scalar one. A piece is cut out of the whole
 * arrays by a row map, as the model's batches are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "kernels.h"
#include "test_simd_paths.h"
#include "test_util.h"

enum { B = 2, L = 37, N = 16, K = 4, CHUNK = 8 };
static const int cuts[] = {0, 1, 5, 6, 17, 36, L}; /* pieces [cuts[i], cuts[i+1]) */
#define N_PIECES ((int)(sizeof(cuts) / sizeof(cuts[0])) - 1)

static float *rnd(size_t n, float lo, float hi, uint64_t *s)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * tu_uniform(s);
    return p;
}

/* The rows of positions [t0, t1) of each batch row, as a (B, t1 - t0) map. */
static int32_t *piece_rows(int t0, int t1)
{
    int32_t *r = malloc(sizeof(int32_t) * B * (size_t)(t1 - t0));
    for (int b = 0; b < B; b++)
        for (int t = t0; t < t1; t++) r[b * (t1 - t0) + (t - t0)] = b * L + t;
    return r;
}

static const mom_kernels *paths[8];
static int n_paths;

/* The scalar path, then every SIMD path that runs here. */
static int setup(void **st)
{
    (void)st;
    paths[n_paths++] = &mom_kernels_scalar;
    n_paths += tu_simd_paths(paths + 1, 7);
    if (n_paths == 1) fprintf(stderr, "(no SIMD kernels here: the scalar path alone)\n");
    return 0;
}

typedef struct scan_in {
    int D;
    float *u, *delta, *A_log, *bc, *Dsk, *z, *s0;
} scan_in;

static scan_in scan_inputs(int D, uint64_t seed)
{
    uint64_t s = seed;
    const size_t BL = (size_t)B * L;
    scan_in in = {D, rnd(BL * D, -1, 1, &s), rnd(BL * D, 0.001f, 1.5f, &s), rnd((size_t)D * N, -1.0f, 2.5f, &s),
                  rnd(BL * 2 * N, -1, 1, &s), rnd((size_t)D, 0.5f, 1.5f, &s), rnd(BL * D, -3, 3, &s),
                  rnd((size_t)B * D * N, -2, 2, &s)};
    return in;
}

/* y over positions [t0, t1) (rows of the whole arrays), carry in/out. */
static void scan_piece(const mom_kernels *k, const scan_in *in, int t0, int t1, float *carry, float *y)
{
    const int Lp = t1 - t0;
    int32_t *rows = piece_rows(t0, t1);
    float *states = malloc(sizeof(float) * B * (size_t)mom_scan_n_chunks(Lp, CHUNK) * in->D * N);
    mom_scan_args a = {B, Lp, in->D, N, CHUNK, in->u, in->delta, in->A_log, in->bc, in->bc + N, 2 * N, in->Dsk,
                       in->z, in->D, states, rows, carry};
    k->scan_fwd(&a, y);
    free(states);
    free(rows);
}

static void test_scan_in_pieces(void **st)
{
    (void)st;
    const int Ds[] = {16, 40};
    for (int di = 0; di < 2; di++) {
        const int D = Ds[di];
        scan_in in = scan_inputs(D, 11 + (uint64_t)D);
        const size_t ny = (size_t)B * L * D, ns = (size_t)B * D * N;
        float *y_ref[8] = {0}, *s_ref[8] = {0};
        for (int p = 0; p < n_paths; p++) {
            const mom_kernels *k = paths[p];
            /* Whole, no carry (training), and whole from a zero carry: the same bits. */
            float *y_plain = malloc(ny * 4), *y_whole = malloc(ny * 4), *y_pieces = malloc(ny * 4);
            float *c_whole = calloc(ns, 4), *c_pieces = calloc(ns, 4);
            scan_piece(k, &in, 0, L, NULL, y_plain);
            scan_piece(k, &in, 0, L, c_whole, y_whole);
            assert_memory_equal(y_plain, y_whole, ny * 4);
            for (int i = 0; i < N_PIECES; i++) scan_piece(k, &in, cuts[i], cuts[i + 1], c_pieces, y_pieces);
            assert_memory_equal(y_whole, y_pieces, ny * 4);
            assert_memory_equal(c_whole, c_pieces, ns * 4);
            /* From a state that is not zero: pieces again equal the whole. */
            memcpy(c_whole, in.s0, ns * 4);
            memcpy(c_pieces, in.s0, ns * 4);
            scan_piece(k, &in, 0, L, c_whole, y_whole);
            for (int i = 0; i < N_PIECES; i++) scan_piece(k, &in, cuts[i], cuts[i + 1], c_pieces, y_pieces);
            assert_memory_equal(y_whole, y_pieces, ny * 4);
            assert_memory_equal(c_whole, c_pieces, ns * 4);
            /* And the initial state matters (the carry is read at all). */
            assert_true(tu_max_diff(y_whole, y_plain, ny) > 1e-3);
            y_ref[p] = y_whole;
            s_ref[p] = c_whole;
            free(y_plain);
            free(y_pieces);
            free(c_pieces);
        }
        for (int p = 1; p < n_paths; p++) {
            const double ey = tu_max_diff(y_ref[p], y_ref[0], ny) / tu_max_abs(y_ref[0], ny);
            const double es = tu_max_diff(s_ref[p], s_ref[0], ns) / tu_max_abs(s_ref[0], ns);
            fprintf(stderr, "scan with carry, D %d: %s vs scalar y %.2g, final state %.2g\n", D, paths[p]->name, ey, es);
            assert_true(ey < 2e-5);
            assert_true(es < 2e-5);
        }
        for (int p = 0; p < n_paths; p++) {
            free(y_ref[p]);
            free(s_ref[p]);
        }
        float *f[] = {in.u, in.delta, in.A_log, in.bc, in.Dsk, in.z, in.s0};
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) free(f[i]);
    }
}

static void conv_piece(const mom_kernels *k, int D, const float *x, int ldx, const float *w, const float *b,
                       int t0, int t1, float *hist, float *out)
{
    int32_t *rows = piece_rows(t0, t1);
    k->conv_silu_fwd(B, t1 - t0, D, K, rows, x, ldx, w, b, hist, out);
    free(rows);
}

static void test_conv_in_pieces(void **st)
{
    (void)st;
    const int D = 40, ldx = 2 * D + 3;
    uint64_t s = 5;
    float *x = rnd((size_t)B * L * ldx, -2, 2, &s), *w = rnd((size_t)D * K, -1, 1, &s), *b = rnd(D, -0.5f, 0.5f, &s);
    const size_t no = (size_t)B * L * D, nh = (size_t)B * (K - 1) * D;
    for (int p = 0; p < n_paths; p++) {
        const mom_kernels *k = paths[p];
        float *o_whole = malloc(no * 4), *o_pieces = malloc(no * 4), *h = calloc(nh, 4);
        conv_piece(k, D, x, ldx, w, b, 0, L, NULL, o_whole);
        for (int i = 0; i < N_PIECES; i++) conv_piece(k, D, x, ldx, w, b, cuts[i], cuts[i + 1], h, o_pieces);
        assert_memory_equal(o_whole, o_pieces, no * 4);
        /* The history left behind is the last K-1 inputs of each row. */
        for (int bi = 0; bi < B; bi++)
            for (int j = 0; j < K - 1; j++)
                for (int d = 0; d < D; d++)
                    assert_true(h[((size_t)bi * (K - 1) + j) * D + d] ==
                                x[((size_t)bi * L + L - (K - 1) + j) * ldx + d]);
        /* A history shorter than one piece: pieces of one position, the
         * history shifting through its own entries. */
        memset(h, 0, nh * 4);
        for (int t = 0; t < L; t++) conv_piece(k, D, x, ldx, w, b, t, t + 1, h, o_pieces);
        assert_memory_equal(o_whole, o_pieces, no * 4);
        free(o_whole);
        free(o_pieces);
        free(h);
    }
    free(x);
    free(w);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_in_pieces),
        cmocka_unit_test(test_conv_in_pieces),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
