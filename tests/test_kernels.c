/* Every CPU kernel against finite differences of its own forward (the
 * backward kernels), against a second formulation (chunked vs unchunked
 * scan), and oneDNN matmuls against the plain-C reference, on odd shapes:
 * one token, T not a multiple of the chunk, widths not a multiple of 16. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "cpu/matmul_blas.h"
#include "cpu/matmul_dnnl.h"
#include "kernels.h"
#include "mom_build_config.h"
#include "test_util.h"

static float *rnd(size_t n, float lo, float hi, uint64_t *s)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * tu_uniform(s);
    return p;
}

static double dotd(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* ---- finite differences of a kernel: L = sum(out * w) -------------------- */

typedef double (*loss_fn)(void *ctx);

/* Perturbs x along a random direction, compares with the analytic gradient g. */
static void fd_check(const char *what, float *x, const float *g, size_t n, loss_fn f, void *ctx, double h, double tol)
{
    uint64_t s = 1234;
    float *x0 = malloc(n * sizeof(float));
    double *dir = malloc(n * sizeof(double)), nn = 0;
    memcpy(x0, x, n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        dir[i] = tu_uniform(&s) - 0.5;
        nn += dir[i] * dir[i];
    }
    double an = 0, gn = 0;
    for (size_t i = 0; i < n; i++) {
        dir[i] /= sqrt(nn);
        an += dir[i] * g[i];
        gn += (double)g[i] * g[i];
    }
    for (size_t i = 0; i < n; i++) x[i] = (float)(x0[i] + h * dir[i]);
    double lp = f(ctx);
    for (size_t i = 0; i < n; i++) x[i] = (float)(x0[i] - h * dir[i]);
    double lm = f(ctx);
    memcpy(x, x0, n * sizeof(float));
    double fd = (lp - lm) / (2 * h), err = fabs(fd - an) / (sqrt(gn) + 1e-6);
    if (err > tol) fprintf(stderr, "%s: fd %.8g analytic %.8g |g| %.3g err %.3g\n", what, fd, an, sqrt(gn), err);
    assert_true(err <= tol);
    free(x0);
    free(dir);
}

/* ---- selective scan ------------------------------------------------------ */

typedef struct scan_case {
    int B, L, D, N, chunk;
    float *u, *delta, *A_log, *bc, *Dsk, *z, *states, *y, *w;
} scan_case;

static void scan_setup(scan_case *c, int B, int L, int D, int N, int chunk)
{
    uint64_t s = (uint64_t)(B * 1000 + L * 10 + D);
    c->B = B; c->L = L; c->D = D; c->N = N; c->chunk = chunk;
    const size_t BL = (size_t)B * L;
    c->u = rnd(BL * D, -1, 1, &s);
    c->delta = rnd(BL * D, 0.01f, 1.0f, &s);
    c->A_log = rnd((size_t)D * N, -0.5f, 1.5f, &s);
    c->bc = rnd(BL * 2 * N, -1, 1, &s); /* B | C interleaved per row: ld 2N */
    c->Dsk = rnd((size_t)D, 0.5f, 1.5f, &s);
    c->z = rnd(BL * D, -2, 2, &s);
    c->states = malloc(sizeof(float) * (size_t)B * mom_scan_n_chunks(L, chunk) * D * N);
    c->y = malloc(sizeof(float) * BL * D);
    c->w = rnd(BL * D, -1, 1, &s);
}

static mom_scan_args scan_args_of(const scan_case *c)
{
    mom_scan_args a = {c->B, c->L, c->D, c->N, c->chunk, c->u, c->delta, c->A_log, c->bc, c->bc + c->N, 2 * c->N,
                       c->Dsk, c->z, c->D, c->states, NULL, NULL};
    return a;
}

static double scan_loss(void *p)
{
    scan_case *c = p;
    mom_scan_args a = scan_args_of(c);
    mom_scan_fwd_ref(&a, c->y);
    return dotd(c->y, c->w, (size_t)c->B * c->L * c->D);
}

typedef struct scan_grads { float *du, *ddelta, *dbc, *dz, *dA_log, *dD, *work; } scan_grads;

static scan_grads scan_backward(scan_case *c)
{
    const size_t BL = (size_t)c->B * c->L;
    mom_scan_args a = scan_args_of(c);
    scan_grads g = {malloc(BL * c->D * 4), malloc(BL * c->D * 4), malloc(BL * 2 * c->N * 4), malloc(BL * c->D * 4),
                    calloc((size_t)c->D * c->N, 4), calloc((size_t)c->D, 4),
                    malloc(mom_scan_bwd_work_floats(&a, 1) * 4)};
    mom_scan_fwd_ref(&a, c->y);
    mom_scan_grads sg = {c->w, g.du, g.ddelta, g.dbc, g.dbc + c->N, 2 * c->N, g.dz, c->D, g.dA_log, g.dD, g.work, 1, NULL};
    mom_scan_bwd_ref(&a, &sg);
    return g;
}

static void scan_free(scan_case *c, scan_grads *g)
{
    float *f[] = {c->u, c->delta, c->A_log, c->bc, c->Dsk, c->z, c->states, c->y, c->w,
                  g->du, g->ddelta, g->dbc, g->dz, g->dA_log, g->dD, g->work};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) free(f[i]);
}

static void scan_fd(int B, int L, int D, int N, int chunk)
{
    scan_case c;
    scan_setup(&c, B, L, D, N, chunk);
    scan_grads g = scan_backward(&c);
    const size_t BL = (size_t)B * L;
    fd_check("scan du", c.u, g.du, BL * D, scan_loss, &c, 1e-3, 2e-3);
    fd_check("scan ddelta", c.delta, g.ddelta, BL * D, scan_loss, &c, 1e-3, 2e-3);
    fd_check("scan dB dC", c.bc, g.dbc, BL * 2 * N, scan_loss, &c, 1e-3, 2e-3);
    fd_check("scan dz", c.z, g.dz, BL * D, scan_loss, &c, 1e-3, 2e-3);
    fd_check("scan dA_log", c.A_log, g.dA_log, (size_t)D * N, scan_loss, &c, 1e-3, 2e-3);
    fd_check("scan dD", c.Dsk, g.dD, (size_t)D, scan_loss, &c, 1e-3, 2e-3);
    scan_free(&c, &g);
}

static void test_scan_fd_multi_chunk(void **st) { (void)st; scan_fd(2, 29, 19, 5, 8); }
static void test_scan_fd_one_token(void **st) { (void)st; scan_fd(1, 1, 3, 16, 8); }

/* The chunk only decides where states are kept: outputs and gradients are
 * the same bits for any chunk length. */
static void test_scan_chunk_invariance(void **st)
{
    (void)st;
    scan_case a, b;
    scan_setup(&a, 2, 45, 17, 16, 45);
    scan_setup(&b, 2, 45, 17, 16, 7);
    scan_grads ga = scan_backward(&a), gb = scan_backward(&b);
    const size_t BL = 2 * 45;
    assert_memory_equal(a.y, b.y, BL * 17 * 4);
    assert_memory_equal(ga.du, gb.du, BL * 17 * 4);
    assert_memory_equal(ga.ddelta, gb.ddelta, BL * 17 * 4);
    assert_memory_equal(ga.dbc, gb.dbc, BL * 32 * 4);
    assert_memory_equal(ga.dz, gb.dz, BL * 17 * 4);
    assert_memory_equal(ga.dA_log, gb.dA_log, 17 * 16 * 4);
    assert_memory_equal(ga.dD, gb.dD, 17 * 4);
    scan_free(&a, &ga);
    scan_free(&b, &gb);
}

/* ---- row maps -------------------------------------------------------------
 * The model runs a batch in modality order and hands the conv and the scan
 * a row map. Positions moved to the rows of a permutation must give the
 * same outputs, moved the same way, to the bit. */

/* dst[rows[p]] = src[p], rows of w floats. */
static float *permute_rows(const float *src, size_t n, int w, const int32_t *rows)
{
    float *dst = malloc(n * w * 4);
    for (size_t p = 0; p < n; p++) memcpy(dst + (size_t)rows[p] * w, src + p * w, (size_t)w * 4);
    return dst;
}

static void assert_moved(const float *plain, const float *moved, size_t n, int w, const int32_t *rows)
{
    for (size_t p = 0; p < n; p++) assert_memory_equal(moved + (size_t)rows[p] * w, plain + p * w, (size_t)w * 4);
}

static void test_scan_row_map(void **st)
{
    (void)st;
    scan_case c;
    const int B = 2, L = 37, D = 5, N = 16, chunk = 8;
    scan_setup(&c, B, L, D, N, chunk);
    const size_t BL = (size_t)B * L;
    uint64_t s = 3;
    int32_t *rows = tu_permutation(BL, &s);
    scan_grads g = scan_backward(&c); /* fills c.y */
    float *u = permute_rows(c.u, BL, D, rows), *dl = permute_rows(c.delta, BL, D, rows);
    float *bc = permute_rows(c.bc, BL, 2 * N, rows), *z = permute_rows(c.z, BL, D, rows);
    float *dy = permute_rows(c.w, BL, D, rows), *y = malloc(BL * D * 4);
    float *states = malloc(sizeof(float) * (size_t)B * mom_scan_n_chunks(L, chunk) * D * N);
    mom_scan_args a = {B, L, D, N, chunk, u, dl, c.A_log, bc, bc + N, 2 * N, c.Dsk, z, D, states, rows, NULL};
    mom_scan_fwd_ref(&a, y);
    assert_moved(c.y, y, BL, D, rows);
    float *du = malloc(BL * D * 4), *ddl = malloc(BL * D * 4), *dbc = malloc(BL * 2 * N * 4), *dz = malloc(BL * D * 4);
    float *dA = calloc((size_t)D * N, 4), *dD = calloc((size_t)D, 4), *work = malloc(mom_scan_bwd_work_floats(&a, 1) * 4);
    mom_scan_grads sg = {dy, du, ddl, dbc, dbc + N, 2 * N, dz, D, dA, dD, work, 1, NULL};
    mom_scan_bwd_ref(&a, &sg);
    assert_moved(g.du, du, BL, D, rows);
    assert_moved(g.ddelta, ddl, BL, D, rows);
    assert_moved(g.dbc, dbc, BL, 2 * N, rows);
    assert_moved(g.dz, dz, BL, D, rows);
    assert_memory_equal(dA, g.dA_log, (size_t)D * N * 4);
    assert_memory_equal(dD, g.dD, (size_t)D * 4);
    float *f[] = {u, dl, bc, z, dy, y, states, du, ddl, dbc, dz, dA, dD, work};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) free(f[i]);
    free(rows);
    scan_free(&c, &g);
}

static void test_conv_row_map(void **st)
{
    (void)st;
    uint64_t s = 11;
    const int B = 3, L = 9, D = 6, K = 4, ldx = 8;
    const size_t BL = (size_t)B * L;
    int32_t *rows = tu_permutation(BL, &s);
    float *x = rnd(BL * ldx, -1, 1, &s), *w = rnd((size_t)D * K, -1, 1, &s), *b = rnd((size_t)D, -1, 1, &s);
    float *g = rnd(BL * D, -1, 1, &s), *out = malloc(BL * D * 4), *dx = rnd(BL * ldx, 7, 7, &s); /* sentinel */
    float *dw = calloc((size_t)D * K, 4), *db = calloc((size_t)D, 4);
    mom_conv_silu_fwd_ref(B, L, D, K, NULL, x, ldx, w, b, NULL, out);
    mom_conv_silu_bwd_ref(B, L, D, K, NULL, x, ldx, w, b, g, dx, ldx, dw, db);
    float *xm = permute_rows(x, BL, ldx, rows), *gm = permute_rows(g, BL, D, rows), *outm = malloc(BL * D * 4);
    float *dxm = permute_rows(dx, BL, ldx, rows); /* columns past D keep their values */
    float *dwm = calloc((size_t)D * K, 4), *dbm = calloc((size_t)D, 4);
    mom_conv_silu_fwd_ref(B, L, D, K, rows, xm, ldx, w, b, NULL, outm);
    mom_conv_silu_bwd_ref(B, L, D, K, rows, xm, ldx, w, b, gm, dxm, ldx, dwm, dbm);
    assert_moved(out, outm, BL, D, rows);
    assert_moved(dx, dxm, BL, ldx, rows);
    assert_memory_equal(dwm, dw, (size_t)D * K * 4);
    assert_memory_equal(dbm, db, (size_t)D * 4);
    float *f[] = {x, w, b, g, out, dx, dw, db, xm, gm, outm, dxm, dwm, dbm};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) free(f[i]);
    free(rows);
}

/* ---- conv, norm, softplus, cross-entropy --------------------------------- */

typedef struct conv_case { int B, L, D, K, ldx; float *x, *w, *b, *out, *g; } conv_case;

static double conv_loss(void *p)
{
    conv_case *c = p;
    mom_conv_silu_fwd_ref(c->B, c->L, c->D, c->K, NULL, c->x, c->ldx, c->w, c->b, NULL, c->out);
    return dotd(c->out, c->g, (size_t)c->B * c->L * c->D);
}

static void test_conv_fd(void **st)
{
    (void)st;
    uint64_t s = 5;
    conv_case c = {2, 11, 7, 4, 9, NULL, NULL, NULL, NULL, NULL};
    const size_t BL = (size_t)c.B * c.L;
    c.x = rnd(BL * c.ldx, -1, 1, &s);
    c.w = rnd((size_t)c.D * c.K, -1, 1, &s);
    c.b = rnd((size_t)c.D, -1, 1, &s);
    c.out = malloc(BL * c.D * 4);
    c.g = rnd(BL * c.D, -1, 1, &s);
    float *dx = malloc(BL * c.ldx * 4), *dw = calloc((size_t)c.D * c.K, 4), *db = calloc((size_t)c.D, 4);
    for (size_t i = 0; i < BL * c.ldx; i++) dx[i] = 7.0f; /* columns past D must stay untouched */
    mom_conv_silu_bwd_ref(c.B, c.L, c.D, c.K, NULL, c.x, c.ldx, c.w, c.b, c.g, dx, c.ldx, dw, db);
    for (size_t r = 0; r < BL; r++)
        for (int j = c.D; j < c.ldx; j++) assert_true(dx[r * c.ldx + j] == 7.0f);
    /* dx of the padding columns is not a gradient: compare the D columns only. */
    float *dxg = calloc(BL * c.ldx, 4);
    for (size_t r = 0; r < BL; r++) memcpy(dxg + r * c.ldx, dx + r * c.ldx, c.D * 4);
    fd_check("conv dx", c.x, dxg, BL * c.ldx, conv_loss, &c, 1e-3, 2e-3);
    fd_check("conv dw", c.w, dw, (size_t)c.D * c.K, conv_loss, &c, 1e-3, 2e-3);
    fd_check("conv db", c.b, db, (size_t)c.D, conv_loss, &c, 1e-3, 2e-3);
    free(c.x); free(c.w); free(c.b); free(c.out); free(c.g); free(dx); free(dw); free(db); free(dxg);
}

typedef struct norm_case { int T, D; float *x, *w, *out, *rstd, *g; } norm_case;

static double norm_loss(void *p)
{
    norm_case *c = p;
    mom_rmsnorm_fwd_ref(c->T, c->D, c->x, c->w, 1e-5f, c->out, c->rstd);
    return dotd(c->out, c->g, (size_t)c->T * c->D);
}

static void test_rmsnorm_fd(void **st)
{
    (void)st;
    uint64_t s = 6;
    norm_case c = {5, 13, NULL, NULL, NULL, NULL, NULL};
    const size_t n = (size_t)c.T * c.D;
    c.x = rnd(n, -2, 2, &s);
    c.w = rnd((size_t)c.D, 0.5f, 1.5f, &s);
    c.out = malloc(n * 4);
    c.rstd = malloc((size_t)c.T * 4);
    c.g = rnd(n, -1, 1, &s);
    float *dx = calloc(n, 4), *dw = calloc((size_t)c.D, 4);
    norm_loss(&c);
    mom_rmsnorm_bwd_ref(c.T, c.D, c.x, c.w, c.rstd, c.g, dx, dw);
    fd_check("rmsnorm dx", c.x, dx, n, norm_loss, &c, 1e-3, 2e-3);
    fd_check("rmsnorm dw", c.w, dw, (size_t)c.D, norm_loss, &c, 1e-3, 2e-3);
    free(c.x); free(c.w); free(c.out); free(c.rstd); free(c.g); free(dx); free(dw);
}

static void test_softplus(void **st)
{
    (void)st;
    const float x[6] = {-30.0f, -1.0f, 0.0f, 3.0f, 19.9f, 25.0f};
    float y[6], dy[6] = {1, 1, 1, 1, 1, 1}, dx[6];
    mom_softplus_fwd_ref(6, x, y);
    mom_softplus_bwd_ref(6, x, dy, dx);
    for (int i = 0; i < 6; i++) {
        const double want = x[i] > 20 ? x[i] : log1p(exp((double)x[i]));
        assert_true(fabs(y[i] - want) <= 1e-6 * (1 + fabs(want)));
        const double dwant = x[i] > 20 ? 1.0 : 1.0 / (1.0 + exp(-(double)x[i]));
        assert_true(fabs(dx[i] - dwant) <= 1e-6);
    }
    assert_true(y[5] == 25.0f); /* above the threshold softplus is the identity, as in PyTorch */
}

typedef struct xent_case { int T, V; float *logits, *work, *loss; int32_t *tg; } xent_case;

static double xent_loss(void *p)
{
    xent_case *c = p;
    memcpy(c->work, c->logits, (size_t)c->T * c->V * 4);
    mom_xent_ref(c->T, c->V, c->work, c->tg, 0.0f, c->loss);
    double s = 0;
    for (int t = 0; t < c->T; t++) s += c->loss[t];
    return s;
}

static void test_xent(void **st)
{
    (void)st;
    uint64_t s = 8;
    xent_case c = {6, 37, NULL, NULL, NULL, NULL};
    const size_t n = (size_t)c.T * c.V;
    c.logits = rnd(n, -3, 3, &s);
    c.work = malloc(n * 4);
    c.loss = malloc((size_t)c.T * 4);
    c.tg = malloc((size_t)c.T * 4);
    for (int t = 0; t < c.T; t++) c.tg[t] = t == 2 ? -1 : (int32_t)(tu_next(&s) % (uint64_t)c.V);
    /* Forward against a double-precision log-sum-exp. */
    xent_loss(&c);
    for (int t = 0; t < c.T; t++) {
        if (c.tg[t] < 0) {
            assert_true(c.loss[t] == 0.0f);
            continue;
        }
        double mx = -1e30, z = 0;
        for (int v = 0; v < c.V; v++) mx = c.logits[t * c.V + v] > mx ? c.logits[t * c.V + v] : mx;
        for (int v = 0; v < c.V; v++) z += exp(c.logits[t * c.V + v] - mx);
        const double want = mx + log(z) - c.logits[t * c.V + c.tg[t]];
        assert_true(fabs(c.loss[t] - want) <= 1e-5 * (1 + want));
    }
    float *grad = malloc(n * 4);
    memcpy(grad, c.logits, n * 4);
    mom_xent_ref(c.T, c.V, grad, c.tg, 1.0f, c.loss);
    for (int v = 0; v < c.V; v++) assert_true(grad[2 * c.V + v] == 0.0f); /* ignored row */
    fd_check("xent dlogits", c.logits, grad, n, xent_loss, &c, 1e-3, 2e-3);
    free(c.logits); free(c.work); free(c.loss); free(c.tg); free(grad);
}

/* ---- routing copies and embedding ---------------------------------------- */

static void test_gather_scatter_embed(void **st)
{
    (void)st;
    uint64_t s = 9;
    const int rows = 11, cols = 5, ld = 8;
    float *src = rnd((size_t)rows * ld, -1, 1, &s), *g = malloc((size_t)rows * cols * 4);
    float *back = calloc((size_t)rows * ld, 4);
    int32_t perm[11] = {3, 0, 10, 1, 7, 2, 9, 4, 8, 5, 6};
    mom_gather_rows_ref(rows, cols, perm, src, ld, g);
    for (int i = 0; i < rows; i++) assert_memory_equal(g + i * cols, src + perm[i] * ld, cols * 4);
    mom_scatter_rows_ref(rows, cols, perm, g, back, ld, 0);
    mom_scatter_rows_ref(rows, cols, perm, g, back, ld, 1);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < ld; c++) assert_true(back[r * ld + c] == (c < cols ? 2 * src[r * ld + c] : 0.0f));
    /* Embedding backward adds every occurrence of a token. */
    const int32_t tok[4] = {2, 0, 2, 1};
    float table[3 * 2] = {0}, dout[4 * 2] = {1, 2, 3, 4, 5, 6, 7, 8};
    mom_embed_bwd_ref(4, 2, tok, dout, table);
    const float want[6] = {3, 4, 7, 8, 6, 8};
    assert_memory_equal(table, want, sizeof(want));
    free(src); free(g); free(back);
}

/* ---- matmuls --------------------------------------------------------------- */

/* The library under test: oneDNN's primitives (mm), or CBLAS (mm NULL). */
static int lib_fwd(dnnl_mm *mm, int M, int N, int K, const float *A, int lda, const float *W, float *C, int ldc,
                   int acc)
{
    if (mm) return dnnl_mm_fwd(mm, M, N, K, A, lda, W, C, ldc, acc);
    blas_mm_fwd(M, N, K, A, lda, W, C, ldc, acc);
    return 0;
}
static int lib_bwd_data(dnnl_mm *mm, int M, int N, int K, const float *dC, int lddc, const float *W, float *dA,
                        int ldda, int acc)
{
    if (mm) return dnnl_mm_bwd_data(mm, M, N, K, dC, lddc, W, dA, ldda, acc);
    blas_mm_bwd_data(M, N, K, dC, lddc, W, dA, ldda, acc);
    return 0;
}
static int lib_bwd_weight(dnnl_mm *mm, int M, int N, int K, const float *dC, int lddc, const float *A, int lda,
                          float *dW)
{
    if (mm) return dnnl_mm_bwd_weight(mm, M, N, K, dC, lddc, A, lda, dW);
    blas_mm_bwd_weight(M, N, K, dC, lddc, A, lda, dW);
    return 0;
}

static void mm_case(dnnl_mm *mm, int M, int N, int K, int acc)
{
    uint64_t s = (uint64_t)(M * 131 + N * 7 + K);
    const int lda = K + 3, ldc = N + 2; /* strided rows, as x_dbl's column blocks are */
    float *A = rnd((size_t)(M ? M : 1) * lda, -1, 1, &s), *W = rnd((size_t)N * K, -1, 1, &s);
    float *C1 = rnd((size_t)(M ? M : 1) * ldc, -1, 1, &s), *C2 = malloc((size_t)(M ? M : 1) * ldc * 4);
    memcpy(C2, C1, (size_t)(M ? M : 1) * ldc * 4);
    mom_mm_fwd_ref(M, N, K, A, lda, W, C1, ldc, acc);
    assert_int_equal(lib_fwd(mm, M, N, K, A, lda, W, C2, ldc, acc), 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            const float a = C1[i * ldc + j], b = C2[i * ldc + j];
            assert_true(fabsf(a - b) <= 1e-5f * (1 + fabsf(a)) * (float)K);
        }
    /* dA = dC W over the same strides. */
    float *dA1 = rnd((size_t)(M ? M : 1) * lda, -1, 1, &s), *dA2 = malloc((size_t)(M ? M : 1) * lda * 4);
    memcpy(dA2, dA1, (size_t)(M ? M : 1) * lda * 4);
    mom_mm_bwd_data_ref(M, N, K, C1, ldc, W, dA1, lda, acc);
    assert_int_equal(lib_bwd_data(mm, M, N, K, C1, ldc, W, dA2, lda, acc), 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < lda; j++)
            assert_true(fabsf(dA1[i * lda + j] - dA2[i * lda + j]) <= 1e-5f * (1 + fabsf(dA1[i * lda + j])) * (float)N);
    /* dW += dC^T A, the reduction over the run-time M. */
    float *dW1 = rnd((size_t)N * K, -1, 1, &s), *dW2 = malloc((size_t)N * K * 4);
    memcpy(dW2, dW1, (size_t)N * K * 4);
    mom_mm_bwd_weight_ref(M, N, K, C1, ldc, A, lda, dW1);
    assert_int_equal(lib_bwd_weight(mm, M, N, K, C1, ldc, A, lda, dW2), 0);
    for (int i = 0; i < N * K; i++) assert_true(fabsf(dW1[i] - dW2[i]) <= 1e-5f * (1 + fabsf(dW1[i])) * (float)(M + 1));
    free(A); free(W); free(C1); free(C2); free(dA1); free(dA2); free(dW1); free(dW2);
}

static void test_matmul_dnnl_vs_ref(void **st)
{
    (void)st;
    if (!MOM_HAVE_DNNL) skip();
    dnnl_mm *mm = dnnl_mm_create(NULL);
    assert_non_null(mm);
    const int shapes[][3] = {{1, 1, 1}, {37, 48, 17}, {64, 33, 16}, {5, 7, 129}, {0, 4, 4}};
    for (int acc = 0; acc < 2; acc++)
        for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
            mm_case(mm, shapes[i][0], shapes[i][1], shapes[i][2], acc);
    /* The same shape with another M reuses the primitive (run-time M). */
    mm_case(mm, 50, 48, 17, 0);
    dnnl_mm_destroy(mm);
}

/* CBLAS (OpenBLAS) against plain C, the same shapes and tolerances. */
static void test_matmul_blas_vs_ref(void **st)
{
    (void)st;
    if (!blas_mm_built()) skip();
    blas_mm_start();
    const int shapes[][3] = {{1, 1, 1}, {37, 48, 17}, {64, 33, 16}, {5, 7, 129}, {0, 4, 4}, {300, 96, 80}};
    for (int acc = 0; acc < 2; acc++)
        for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
            mm_case(NULL, shapes[i][0], shapes[i][1], shapes[i][2], acc);
}

/* bf16 products (sources and weights rounded to bf16, fp32 accumulate)
 * against the fp32 reference: bf16 keeps 8 mantissa bits, so each product
 * is off by up to ~2^-8 relative and a K-term sum by about sqrt(K) times
 * that of its typical term; held to 2e-2 of the largest output. */
static void test_matmul_bf16(void **st)
{
    (void)st;
    if (!MOM_HAVE_DNNL) skip();
    dnnl_mm *mm = dnnl_mm_create(mom_f32_to_bf16_ref);
    if (!mm) { /* refused when made, where oneDNN has no bf16 for this CPU */
        /* oneDNN 2.6 runs bf16 on every AVX-512 CPU (emulated where the CPU
         * lacks AVX512-BF16): a refusal there, unless limited by
         * ONEDNN_MAX_CPU_ISA, is a bug. */
        mom_cpu_features f;
        mom_cpu_detect(&f);
        assert_false(f.avx512f && f.avx512bw && f.avx512vl && f.os_avx512 && !getenv("ONEDNN_MAX_CPU_ISA"));
        dnnl_mm *fp32 = dnnl_mm_create(NULL);
        assert_non_null(fp32);
        dnnl_mm_destroy(fp32);
        fprintf(stderr, "oneDNN has no bf16 matmul for this CPU: skipped\n");
        skip();
    }
    uint64_t s = 77;
    const int M = 53, N = 40, K = 67, lda = K + 5;
    float *A = rnd((size_t)M * lda, -1, 1, &s), *W = rnd((size_t)N * K, -1, 1, &s);
    float *C = malloc((size_t)M * N * 4), *R = malloc((size_t)M * N * 4);
    assert_int_equal(dnnl_mm_fwd(mm, M, N, K, A, lda, W, C, N, 0), 0);
    mom_mm_fwd_ref(M, N, K, A, lda, W, R, N, 0);
    double mx = tu_max_abs(R, (size_t)M * N), err = tu_max_diff(C, R, (size_t)M * N);
    assert_true(err <= 2e-2 * mx);
    assert_true(err > 0); /* it really ran in bf16 */
    float *dW1 = calloc((size_t)N * K, 4), *dW2 = calloc((size_t)N * K, 4);
    assert_int_equal(dnnl_mm_bwd_weight(mm, M, N, K, R, N, A, lda, dW1), 0);
    mom_mm_bwd_weight_ref(M, N, K, R, N, A, lda, dW2);
    mx = tu_max_abs(dW2, (size_t)N * K);
    err = tu_max_diff(dW1, dW2, (size_t)N * K);
    assert_true(err <= 2e-2 * mx);
    free(A); free(W); free(C); free(R); free(dW1); free(dW2);
    dnnl_mm_destroy(mm);
}

/* f32 -> bf16: round to nearest even, NaN stays NaN, inf stays inf; the
 * AVX-512 version gives the same bits. */
static void test_bf16_rounding(void **st)
{
    (void)st;
    const float x[8] = {1.0f, 1.00390625f /* exact tie: stays 1 */, 1.01171875f /* tie: rounds up to even */,
                        -3.14159f, 65504.0f, INFINITY, NAN, 1e-40f};
    uint16_t y[8];
    mom_f32_to_bf16_ref(8, x, y);
    assert_int_equal(y[0], 0x3f80);
    assert_int_equal(y[1], 0x3f80);
    assert_int_equal(y[2], 0x3f82);
    assert_int_equal(y[3], 0xc049);
    assert_int_equal(y[5], 0x7f80);
    assert_true((y[6] & 0x7f80) == 0x7f80 && (y[6] & 0x7f) != 0);
    /* Every path's conversion (AVX-512's own; the others' are this one), bit for bit. */
    const mom_kernels *paths[8];
    const int n_paths = mom_kernels_usable(paths, 8);
    uint64_t s = 3;
    const size_t n = 1000;
    float *v = rnd(n, -1e6f, 1e6f, &s);
    v[5] = NAN;
    v[17] = -INFINITY;
    uint16_t *a = malloc(n * 2), *b = malloc(n * 2);
    mom_f32_to_bf16_ref(n, v, a);
    for (int p = 0; p < n_paths; p++) {
        paths[p]->f32_to_bf16(n, v, b);
        assert_memory_equal(a, b, n * 2);
    }
    free(v); free(a); free(b);
}

/* ---- AdamW, as torch.optim.AdamW computes it ------------------------------ */

static void test_adamw_hand_values(void **st)
{
    (void)st;
    float p[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.1f, -0.3f, 0.0f}, m[3] = {0}, v[3] = {0};
    const float lr = 0.01f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, gs = 0.5f;
    double P[3] = {1.0, -2.0, 0.5}, Mm[3] = {0}, Vv[3] = {0};
    for (int step = 1; step <= 3; step++) {
        mom_adamw_ref(3, p, g, m, v, gs, lr, b1, b2, eps, wd, step);
        for (int i = 0; i < 3; i++) {
            const double gi = (double)g[i] * gs;
            P[i] *= 1.0 - (double)lr * wd;
            Mm[i] = b1 * Mm[i] + (1 - b1) * gi;
            Vv[i] = b2 * Vv[i] + (1 - b2) * gi * gi;
            const double mh = Mm[i] / (1 - pow(b1, step)), vh = Vv[i] / (1 - pow(b2, step));
            P[i] -= lr * mh / (sqrt(vh) + eps);
        }
    }
    for (int i = 0; i < 3; i++) assert_true(fabs(p[i] - P[i]) <= 1e-6);
    /* Step 1 by hand for p[0]: decay to 0.999, then Adam's unit step: -lr * sign. */
    float q = 1.0f, gq = 1.0f, mq = 0, vq = 0;
    mom_adamw_ref(1, &q, &gq, &mq, &vq, 1.0f, 0.01f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
    assert_true(fabsf(q - (0.999f - 0.01f)) <= 1e-6f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_fd_multi_chunk),
        cmocka_unit_test(test_scan_fd_one_token),
        cmocka_unit_test(test_scan_chunk_invariance),
        cmocka_unit_test(test_scan_row_map),
        cmocka_unit_test(test_conv_row_map),
        cmocka_unit_test(test_conv_fd),
        cmocka_unit_test(test_rmsnorm_fd),
        cmocka_unit_test(test_softplus),
        cmocka_unit_test(test_xent),
        cmocka_unit_test(test_gather_scatter_embed),
        cmocka_unit_test(test_matmul_dnnl_vs_ref),
        cmocka_unit_test(test_matmul_blas_vs_ref),
        cmocka_unit_test(test_adamw_hand_values),
        cmocka_unit_test(test_matmul_bf16),
        cmocka_unit_test(test_bf16_rounding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
