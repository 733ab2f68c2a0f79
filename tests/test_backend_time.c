/* The projections, conv1d + SiLU and selective scan of every device backend
 * of the registry (Vulkan: vulkan/ops_matmul.c, ops_time.c) against the CPU
 * backend on its scalar kernels (plain-C matmuls), on random inputs
 * and odd shapes: M, N, K of 1, 17, 65, 130 (and past one 64-wide tile in
 * each direction, and K = 0) with strided rows and offset views, accumulate
 * on and off; T = 1, 2 and 37 (not a multiple of the chunk 8), d_inner 40
 * (not a multiple of 16), 17, 7; d_state 16, 4, 5, 64; with and without a
 * row map, conv history (also carried over calls) and scan carry; the
 * scan's recomputed y in its own buffer and over dy, as the model plans it.
 * The scan backward run twice gives the same dB and dC bits.
 *
 * Error of an output = max |device - cpu| / max |cpu| over the whole
 * buffer (normwise: most outputs are sums that cancel, and an element near
 * zero carries the rounding of the large terms), asserted; the elementwise
 * error (tb_rel_err) is printed beside it in the summary. Tolerances, for
 * fp32 on both sides: the matmuls and the conv sum in the reference's order
 * or a fixed other partition of at most a few hundred terms, a few ulps of
 * the largest (measured <= 6e-7 on lavapipe): 1e-5. The scan chains up to
 * 37 steps through the device's exp(), not libm's (a few ulps apart, an
 * approximation on GPUs), and its backward sums over 40 channels and 37
 * steps: 5e-5 (measured <= 6e-7 on lavapipe).
 *
 * Exit 77 (skipped) where no device backend starts; software devices
 * (lavapipe) are allowed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "test_backend_util.h"

#define TOL_MM 1e-5
#define TOL_CONV 1e-5
#define TOL_SCAN 5e-5

static tb_pair P;

/* The worst error seen per op, printed at the end. */
typedef struct op_err {
    const char *name;
    double worst, worst_elem; /* normwise (asserted), elementwise (tb_rel_err) */
} op_err;
static op_err errs[32];
static int n_errs;

static void note(const char *op, double e, double elem)
{
    int i = 0;
    while (i < n_errs && strcmp(errs[i].name, op)) i++;
    if (i == n_errs) {
        if (n_errs == (int)(sizeof errs / sizeof errs[0])) return;
        errs[n_errs].name = op;
        errs[n_errs].worst_elem = 0.0;
        errs[n_errs++].worst = 0.0;
    }
    if (e > errs[i].worst) errs[i].worst = e;
    if (elem > errs[i].worst_elem) errs[i].worst_elem = elem;
}

/* A random permutation of 0..n-1 as int32: a row map. */
static tb_buf perm(size_t n, uint64_t *s)
{
    int32_t *h = tu_permutation(n, s);
    tb_buf b = tb_from(&P, h, n);
    free(h);
    return b;
}
static const tb_buf none = {NULL, NULL, 0, NULL};
static void drop(tb_buf *b)
{
    if (b->c || b->d) tb_free(&P, b);
}

/* The whole of b compared and noted under op: asserted normwise
 * (tb_check_norm: max |dev - cpu| / max |cpu|, the measure for sums that
 * cancel, which most of these are), the elementwise error (tb_rel_err)
 * noted beside it for the summary. */
static void check(const char *op, const char *what, const tb_buf *b, double tol)
{
    char line[192];
    snprintf(line, sizeof line, "%s %s", op, what);
    const double e = tb_check_norm(&P, line, b, 0, b->n, tol);
    float *c = malloc((b->n ? b->n : 1) * sizeof(float)), *v = malloc((b->n ? b->n : 1) * sizeof(float));
    assert_non_null(c);
    assert_non_null(v);
    P.cpu->download(P.cpu, c, tb_c(b, 0), b->n);
    P.dev->download(P.dev, v, tb_d(b, 0), b->n);
    note(op, e, tb_rel_err(v, c, b->n));
    free(c);
    free(v);
}

/* Side 0 is the CPU backend, side 1 the device backend: X(b, off) is the view of
 * b on the side the loop is at. */
static backend *side_be(int side) { return side ? P.dev : P.cpu; }
static bv side_view(const tb_buf *b, int side, size_t off) { return side ? tb_d(b, off) : tb_c(b, off); }
#define BOTH for (int side_ = 0; side_ < 2; side_++)
#define BE side_be(side_)
#define X(b, off) side_view(&(b), side_, (off))

/* ---- matmuls --------------------------------------------------------------- */

static const int mm_sizes[] = {1, 17, 65, 130};

/* One shape: operands as column blocks of wider matrices, at an offset. */
static void mm_case(int M, int N, int K, int acc, uint64_t *s)
{
    const int lda = K + 3, ldc = N + 5, lddc = N + 2, ldda = K + 1;
    const size_t o = 7; /* views start inside their buffers */
    tb_buf A = tb_rand(&P, o + (size_t)M * lda, -1, 1, s), W = tb_rand(&P, o + (size_t)N * K, -1, 1, s);
    tb_buf Cm = tb_rand(&P, o + (size_t)M * ldc, -1, 1, s), dC = tb_rand(&P, o + (size_t)M * lddc, -1, 1, s);
    tb_buf dA = tb_rand(&P, o + (size_t)M * ldda, -1, 1, s), dW = tb_rand(&P, o + (size_t)N * K, -1, 1, s);
    char what[64];
    snprintf(what, sizeof what, "M %d N %d K %d acc %d", M, N, K, acc);

    BOTH assert_int_equal(BE->mm_fwd(BE, M, N, K, X(A, o), lda, X(W, o), X(Cm, o), ldc, acc), 0);
    check("mm_fwd", what, &Cm, TOL_MM);
    BOTH assert_int_equal(BE->mm_bwd_data(BE, M, N, K, X(dC, o), lddc, X(W, o), X(dA, o), ldda, acc), 0);
    check("mm_bwd_data", what, &dA, TOL_MM);
    if (acc) { /* dW always accumulates: once per pair of calls */
        BOTH assert_int_equal(BE->mm_bwd_weight(BE, M, N, K, X(dC, o), lddc, X(A, o), lda, X(dW, o)), 0);
        check("mm_bwd_weight", what, &dW, TOL_MM);
    }
    tb_buf *all[] = {&A, &W, &Cm, &dC, &dA, &dW};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) drop(all[i]);
}

static void test_matmul(void **st)
{
    (void)st;
    uint64_t s = 1;
    for (int acc = 0; acc < 2; acc++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 4; k++) mm_case(mm_sizes[i], mm_sizes[j], mm_sizes[k], acc, &s);
}

/* Products over several tiles in every direction, and K = 0 (C = 0). */
static void test_matmul_edges(void **st)
{
    (void)st;
    uint64_t s = 2;
    mm_case(257, 70, 33, 1, &s);
    mm_case(3, 129, 200, 0, &s);
    mm_case(5, 9, 0, 0, &s);
}

/* ---- conv1d + SiLU ----------------------------------------------------------- */

/* x is the first D columns of a (B L, 2D) matrix, as u is of xz; dx too. */
static void conv_case(int B, int L, int D, int K, int row_map, int with_hist, uint64_t seed)
{
    uint64_t s = seed;
    const size_t BL = (size_t)B * L;
    const int ldx = 2 * D, lddx = 2 * D;
    tb_buf x = tb_rand(&P, BL * ldx, -2, 2, &s), w = tb_rand(&P, (size_t)D * K, -1, 1, &s);
    tb_buf b = tb_rand(&P, (size_t)D, -1, 1, &s), out = tb_rand(&P, BL * D, -1, 1, &s);
    tb_buf dout = tb_rand(&P, BL * D, -1, 1, &s), dx = tb_rand(&P, BL * lddx, -1, 1, &s);
    tb_buf dw = tb_rand(&P, (size_t)D * K, -1, 1, &s), db = tb_rand(&P, (size_t)D, -1, 1, &s);
    tb_buf rows = row_map ? perm(BL, &s) : none;
    tb_buf hist = with_hist ? tb_rand(&P, (size_t)B * (K - 1) * D, -2, 2, &s) : none;
    char what[96];
    snprintf(what, sizeof what, "B %d L %d D %d K %d rows %d hist %d", B, L, D, K, row_map, with_hist);

    BOTH BE->conv_silu_fwd(BE, B, L, D, K, X(rows, 0), X(x, 0), ldx, X(w, 0), X(b, 0), X(hist, 0), X(out, 0));
    check("conv_silu_fwd", what, &out, TOL_CONV);
    if (with_hist) check("conv_silu_fwd hist", what, &hist, 0.0); /* moved floats: exact */

    if (!with_hist) { /* the backward is for a forward without history (training) */
        BOTH BE->conv_silu_bwd(BE, B, L, D, K, X(rows, 0), X(x, 0), ldx, X(w, 0), X(b, 0), X(dout, 0), X(dx, 0),
                               lddx, X(dw, 0), X(db, 0));
        check("conv_silu_bwd dx", what, &dx, TOL_CONV);
        check("conv_silu_bwd dw", what, &dw, TOL_CONV);
        check("conv_silu_bwd db", what, &db, TOL_CONV);
    }
    tb_buf *all[] = {&x, &w, &b, &out, &dout, &dx, &dw, &db, &rows, &hist};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) drop(all[i]);
}

static void test_conv(void **st)
{
    (void)st;
    uint64_t seed = 10;
    const int Ls[] = {1, 2, 37};
    for (int li = 0; li < 3; li++)
        for (int row_map = 0; row_map < 2; row_map++)
            for (int hist = 0; hist < 2; hist++) {
                conv_case(2, Ls[li], 40, 4, row_map, hist, seed++);
                conv_case(3, Ls[li], 17, 3, row_map, hist, seed++);
            }
    conv_case(2, 37, 40, 1, 1, 1, seed++); /* K = 1: no history to keep */
}

/* A history carried across calls of 1 and 2 positions (decoding). */
static void test_conv_stream(void **st)
{
    (void)st;
    uint64_t s = 30;
    const int B = 2, D = 40, K = 4;
    tb_buf w = tb_rand(&P, (size_t)D * K, -1, 1, &s), b = tb_rand(&P, (size_t)D, -1, 1, &s);
    tb_buf hist = tb_rand(&P, (size_t)B * (K - 1) * D, -2, 2, &s);
    for (int call = 0; call < 5; call++) {
        const int L = 1 + call % 2;
        tb_buf x = tb_rand(&P, (size_t)B * L * D, -2, 2, &s), out = tb_zeros(&P, (size_t)B * L * D);
        BOTH BE->conv_silu_fwd(BE, B, L, D, K, X(none, 0), X(x, 0), D, X(w, 0), X(b, 0), X(hist, 0), X(out, 0));
        check("conv_silu_fwd", "stream", &out, TOL_CONV);
        check("conv_silu_fwd hist", "stream", &hist, 0.0);
        drop(&x);
        drop(&out);
    }
    drop(&w);
    drop(&b);
    drop(&hist);
}

/* ---- selective scan ---------------------------------------------------------- */

typedef struct scan_case {
    int B, L, D, N, chunk, row_map, with_carry, with_states;
    int with_y; /* the backward's recomputed y: 0 not wanted, 1 its own buffer,
                   2 over dy (as the model plans it: y[t] written after dy[t] is read) */
} scan_case;

static float *fetch_dev(const tb_buf *b)
{
    float *h = malloc((b->n ? b->n : 1) * sizeof(float));
    assert_non_null(h);
    P.dev->download(P.dev, h, tb_d(b, 0), b->n);
    return h;
}

/* Operands laid out as the model has them: B and C are columns R.. and
 * R+N.. of x_dbl (R + 2N wide), z the second half of xz (2D wide), their
 * gradients likewise. The forward on both sides, then (when states are
 * kept) the backward of a training forward. */
static void scan_run(scan_case sc, uint64_t seed)
{
    uint64_t s = seed;
    const int B = sc.B, L = sc.L, D = sc.D, N = sc.N, R = 3, ld_bc = R + 2 * N, ld_z = 2 * D;
    const size_t BL = (size_t)B * L;
    tb_buf u = tb_rand(&P, BL * D, -1, 1, &s), delta = tb_rand(&P, BL * D, 0.001f, 1.5f, &s);
    tb_buf A_log = tb_rand(&P, (size_t)D * N, -1.0f, 2.5f, &s), xdbl = tb_rand(&P, BL * ld_bc, -1, 1, &s);
    tb_buf Dskip = tb_rand(&P, (size_t)D, 0.5f, 1.5f, &s), xz = tb_rand(&P, BL * ld_z, -3, 3, &s);
    /* The states are compared as the CPU lays them out: (B, chunks, D, N). */
    const be_scan shape = {B, L, D, N, sc.chunk, {0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}, 0, 0, {0}, {0}};
    const size_t n_states = P.cpu->scan_states_elems(P.cpu, &shape);
    assert_int_equal(n_states, (size_t)B * ((L + sc.chunk - 1) / sc.chunk) * D * N);
    assert_int_equal(P.dev->scan_states_elems(P.dev, &shape), n_states);
    tb_buf states = sc.with_states ? tb_zeros(&P, n_states) : none;
    tb_buf rows = sc.row_map ? perm(BL, &s) : none;
    tb_buf carry = sc.with_carry ? tb_rand(&P, (size_t)B * D * N, -1, 1, &s) : none;
    tb_buf y = tb_rand(&P, BL * D, -1, 1, &s);
    char what[128];
    snprintf(what, sizeof what, "B %d L %d D %d N %d chunk %d rows %d carry %d states %d", B, L, D, N, sc.chunk,
             sc.row_map, sc.with_carry, sc.with_states);

    be_scan a[2];
    BOTH a[side_] = (be_scan){B, L, D, N, sc.chunk, X(u, 0), X(delta, 0), X(A_log, 0), X(xdbl, R), X(xdbl, R + N),
                              X(Dskip, 0), X(xz, D), X(states, 0), ld_bc, ld_z, X(rows, 0), X(carry, 0)};
    BOTH BE->scan_fwd(BE, &a[side_], X(y, 0));
    check("scan_fwd y", what, &y, TOL_SCAN);
    if (sc.with_states) check("scan_fwd states", what, &states, TOL_SCAN);
    if (sc.with_carry) check("scan_fwd carry", what, &carry, TOL_SCAN);

    if (sc.with_states) {
        tb_buf dy = tb_rand(&P, BL * D, -1, 1, &s), du = tb_rand(&P, BL * D, -1, 1, &s);
        tb_buf ddelta = tb_rand(&P, BL * D, -1, 1, &s), dxdbl = tb_rand(&P, BL * ld_bc, -1, 1, &s);
        tb_buf dxz = tb_rand(&P, BL * ld_z, -1, 1, &s), dA_log = tb_rand(&P, (size_t)D * N, -1, 1, &s);
        tb_buf dD = tb_rand(&P, (size_t)D, -1, 1, &s), y2 = sc.with_y == 1 ? tb_rand(&P, BL * D, -1, 1, &s) : none;
        const size_t wv = P.dev->scan_work_elems(P.dev, &a[1], 1);
        assert_int_equal(P.dev->scan_work_elems(P.dev, &a[1], 7), wv); /* any thread count */
        tb_buf work = {P.cpu->alloc(P.cpu, P.cpu->scan_work_elems(P.cpu, &a[0], 1)), P.dev->alloc(P.dev, wv), 0, NULL};
        assert_non_null(work.c);
        assert_non_null(work.d);
        be_scan_grads g[2];
        BOTH g[side_] = (be_scan_grads){X(dy, 0), X(du, 0), X(ddelta, 0), X(dxdbl, R), X(dxdbl, R + N), X(dxz, D),
                                        X(dA_log, 0), X(dD, 0), X(work, 0), ld_bc, ld_z,
                                        sc.with_y == 2 ? X(dy, 0) : X(y2, 0), 1};
        BOTH a[side_].carry = (bv){NULL, 0}; /* training: no carry */
        BOTH BE->scan_bwd(BE, &a[side_], &g[side_]);
        check("scan_bwd du", what, &du, TOL_SCAN);
        check("scan_bwd ddelta", what, &ddelta, TOL_SCAN);
        check("scan_bwd dB dC", what, &dxdbl, TOL_SCAN);
        check("scan_bwd dz", what, &dxz, TOL_SCAN);
        check("scan_bwd dA_log", what, &dA_log, TOL_SCAN);
        check("scan_bwd dD", what, &dD, TOL_SCAN);
        if (sc.with_y) {
            const tb_buf *yb = sc.with_y == 2 ? &dy : &y2;
            check("scan_bwd y", what, yb, TOL_SCAN);
            /* The recomputed output is the forward's, bit for bit, on one device. */
            float *fwd = fetch_dev(&y), *again = fetch_dev(yb);
            assert_memory_equal(fwd, again, BL * D * sizeof(float));
            free(fwd);
            free(again);
        }
        /* Same inputs, same bits: dB and dC are written (not added) and
         * summed in a fixed order. dA_log and dD, added to twice, match the
         * CPU side added to twice. (Not when y went over dy: dy is spent.) */
        if (sc.with_y != 2) {
            float *first = fetch_dev(&dxdbl);
            BOTH BE->scan_bwd(BE, &a[side_], &g[side_]);
            float *second = fetch_dev(&dxdbl);
            assert_memory_equal(first, second, dxdbl.n * sizeof(float));
            free(first);
            free(second);
            check("scan_bwd dA_log", "twice", &dA_log, TOL_SCAN);
            check("scan_bwd dD", "twice", &dD, TOL_SCAN);
        }
        tb_buf *gs[] = {&dy, &du, &ddelta, &dxdbl, &dxz, &dA_log, &dD, &y2, &work};
        for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) drop(gs[i]);
    }
    tb_buf *all[] = {&u, &delta, &A_log, &xdbl, &Dskip, &xz, &states, &rows, &carry, &y};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) drop(all[i]);
}

static void test_scan(void **st)
{
    (void)st;
    uint64_t seed = 100;
    const int Ls[] = {37, 1};
    const int Ns[] = {16, 4};
    for (int li = 0; li < 2; li++)
        for (int ni = 0; ni < 2; ni++)
            for (int row_map = 0; row_map < 2; row_map++) {
                /* training: states kept, no carry; the recomputed y not
                 * wanted, in its own buffer, or over dy */
                scan_run((scan_case){2, Ls[li], 40, Ns[ni], 8, row_map, 0, 1, row_map ? 2 : ni}, seed++);
                /* inference: carry in and out, no states */
                scan_run((scan_case){2, Ls[li], 40, Ns[ni], 8, row_map, 1, 0, 0}, seed++);
            }
}

/* States kept and a carry in (a forward continuing a sequence), a chunk
 * longer than the sequence, d_inner below one carry group, d_state 5 and
 * 64, and a model-like shape (3 chunks of 64, the last short). */
static void test_scan_odd(void **st)
{
    (void)st;
    scan_run((scan_case){2, 37, 40, 16, 8, 1, 1, 1, 1}, 200);
    scan_run((scan_case){3, 20, 7, 5, 128, 1, 0, 1, 1}, 201);
    scan_run((scan_case){1, 9, 19, 64, 4, 0, 1, 1, 1}, 202);
    scan_run((scan_case){3, 130, 48, 16, 64, 1, 0, 1, 2}, 203);
}

static int summary(void **st)
{
    (void)st;
    printf("max error per op, %s against cpu scalar (normwise, asserted; elementwise):\n", P.dev_backend);
    for (int i = 0; i < n_errs; i++) printf("  %-22s %.3g  %.3g\n", errs[i].name, errs[i].worst, errs[i].worst_elem);
    n_errs = 0; /* the next backend starts afresh */
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul),      cmocka_unit_test(test_matmul_edges), cmocka_unit_test(test_conv),
        cmocka_unit_test(test_conv_stream), cmocka_unit_test(test_scan),         cmocka_unit_test(test_scan_odd),
    };
    int failed = 0, ran = 0;
    for (int i = 0; tb_next(&P, &i); ran++) failed += cmocka_run_group_tests_name(P.dev_backend, tests, NULL, summary);
    return tb_exit_status(ran, failed);
}
