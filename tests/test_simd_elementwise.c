/* Every SIMD path's non-scan kernels (avx512, avx2, neon: each that runs
 * here, tests/test_simd_paths.h) against their scalar references
 * (checkasm-style), on odd shapes: one row, widths 1, 15, 16, 17, 33, 250,
 * strided rows, T not a multiple of anything, K = 1 and 4, ignored xent
 * rows, softplus around its threshold, large logits. Plus each path's exp
 * against expf. Each test states its tolerance; the test skips where only
 * the scalar path runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <float.h>

#include <cmocka.h>

#include "kernels.h"
#include "test_simd_paths.h"
#include "test_util.h"

static const int WIDTHS[] = {1, 15, 16, 17, 33, 250};
#define N_WIDTHS (int)(sizeof WIDTHS / sizeof WIDTHS[0])

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static float rng_uniform(uint64_t *s) { return (float)(rng_next(s) >> 40) / 16777216.0f; }

static float *rnd(size_t n, float lo, float hi, uint64_t *s)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * rng_uniform(s);
    return p;
}

static float *clone_floats(const float *x, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    if (n) memcpy(p, x, n * sizeof(float));
    return p;
}

/* Elements that differ (+0 and -0 count as equal). */
static size_t mismatches(const float *a, const float *b, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += a[i] != b[i];
    return bad;
}

/* max |a - b| / max |b|: for outputs that are sums with cancellation. */
static double normwise(const float *a, const float *b, size_t n)
{
    const double e = tu_max_diff(a, b, n), m = tu_max_abs(b, n);
    return m > 0 ? e / m : e;
}

/* max |a - b| / (|b| + floor): per-element relative error. */
static double elemwise(const float *a, const float *b, size_t n, double floor)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        const double r = fabs((double)a[i] - b[i]) / (fabs((double)b[i]) + floor);
        if (r != r) return INFINITY; /* NaN fails */
        if (r > e) e = r;            /* not fmax: see tu_max_abs */
    }
    return e;
}

static void expect_exact(const char *what, const float *a, const float *b, size_t n, int w)
{
    const size_t bad = mismatches(a, b, n);
    if (bad) fprintf(stderr, "%s (width %d): %zu of %zu elements differ\n", what, w, bad, n);
    assert_int_equal(bad, 0);
}

static void expect_below(const char *what, double err, double tol, int w)
{
    if (!(err <= tol)) fprintf(stderr, "%s (width %d): error %.3g > %.3g\n", what, w, err, tol);
    assert_true(err <= tol);
}


/* A permutation of 0..n-1. */
static int32_t *perm_of(int n, uint64_t *s)
{
    int32_t *p = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    assert_non_null(p);
    for (int i = 0; i < n; i++) p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        const int j = (int)(rng_next(s) % (uint64_t)(i + 1));
        const int32_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    return p;
}

/* ---- exp ------------------------------------------------------------------ */

/* Relative error <= 4 ulp of expf where expf(x) >= FLT_MIN (inf where expf
 * overflows), absolute error <= FLT_MIN below. A grid of step 2^-14 over
 * [-110, 89], and every float near the overflow and underflow edges; then
 * NaN -> NaN (a diverging run must show NaN, not a number), inf -> inf,
 * -inf -> 0. */
static int exp_check(float x, float got)
{
    const float want = expf(x);
    if (isinf(want)) return isinf(got) && got > 0;
    if (want >= FLT_MIN) {
        int ex;
        frexpf(want, &ex);
        return fabs((double)got - want) <= 4.0 * ldexp(1.0, ex - 24);
    }
    return fabs((double)got - want) <= FLT_MIN;
}

static void exp_sweep(const mom_kernels *k, float lo, float hi, int every_float, int *fails, float *first)
{
    float xs[16];
    int n = 0;
    for (float x = lo; x <= hi;) {
        xs[n++] = x;
        x = every_float ? nextafterf(x, INFINITY) : (float)((double)x + 1.0 / 16384.0);
        if (n == 16 || x > hi) {
            float got[16];
            k->exp((size_t)n, xs, got);
            for (int i = 0; i < n; i++)
                if (!exp_check(xs[i], got[i])) {
                    if (!*fails) *first = xs[i];
                    ++*fails;
                }
            n = 0;
        }
    }
}

static void test_exp(void **state)
{
    const mom_kernels *k = *state;
    int fails = 0;
    float first = 0;
    exp_sweep(k, -110.0f, 89.0f, 0, &fails, &first);
    exp_sweep(k, 88.5f, 89.0f, 1, &fails, &first);
    exp_sweep(k, -104.5f, -86.5f, 1, &fails, &first);
    if (fails) {
        float got;
        k->exp(1, &first, &got);
        fprintf(stderr, "%s exp: %d points out of tolerance, first x = %.9g: %.9g, expf %.9g\n", k->name, fails,
                (double)first, (double)got, (double)expf(first));
    }
    const float special[3] = {NAN, INFINITY, -INFINITY};
    float got[3];
    k->exp(3, special, got);
    if (!isnan(got[0]) || !(isinf(got[1]) && got[1] > 0) || got[2] != 0.0f) {
        fprintf(stderr, "%s exp: exp(nan) = %g, exp(inf) = %g, exp(-inf) = %g\n", k->name, (double)got[0],
                (double)got[1], (double)got[2]);
        fails++;
    }
    assert_int_equal(fails, 0);
}

/* ---- embedding: bit-exact (copies; the backward adds in token order) ---- */

static void test_embed(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 11;
    const int Ts[] = {1, 37};
    for (int wi = 0; wi < N_WIDTHS; wi++)
        for (int ti = 0; ti < 2; ti++) {
            const int D = WIDTHS[wi], T = Ts[ti], vocab = 5; /* few ids: rows repeat */
            int32_t tok[37];
            for (int t = 0; t < T; t++) tok[t] = (int32_t)(rng_next(&s) % vocab);
            float *table = rnd((size_t)vocab * D, -1, 1, &s), *dout = rnd((size_t)T * D, -1, 1, &s);
            float *o1 = rnd((size_t)T * D, 0, 1, &s), *o2 = clone_floats(o1, (size_t)T * D);
            mom_embed_fwd_ref(T, D, tok, table, o1);
            k->embed_fwd(T, D, tok, table, o2);
            expect_exact("embed_fwd", o2, o1, (size_t)T * D, D);
            float *d1 = rnd((size_t)vocab * D, -1, 1, &s), *d2 = clone_floats(d1, (size_t)vocab * D);
            mom_embed_bwd_ref(T, D, tok, dout, d1);
            k->embed_bwd(T, D, tok, dout, d2);
            expect_exact("embed_bwd", d2, d1, (size_t)vocab * D, D);
            free(table), free(dout), free(o1), free(o2), free(d1), free(d2);
        }
}

/* ---- RMSNorm ---------------------------------------------------------------
 * fwd out, rstd and bwd dx: normwise 1e-5 (the sums of squares and of w g x
 * run in another order, float). bwd dw: bit-exact (same rstd, token order). */

static void test_rmsnorm(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 12;
    const int Ts[] = {1, 43};
    for (int wi = 0; wi < N_WIDTHS; wi++)
        for (int ti = 0; ti < 2; ti++) {
            const int D = WIDTHS[wi], T = Ts[ti];
            const size_t n = (size_t)T * D;
            float *x = rnd(n, -2, 2, &s), *w = rnd((size_t)D, 0.5f, 1.5f, &s), *g = rnd(n, -1, 1, &s);
            float *o1 = rnd(n, 0, 1, &s), *o2 = clone_floats(o1, n), r1[43], r2[43];
            mom_rmsnorm_fwd_ref(T, D, x, w, 1e-5f, o1, r1);
            k->rmsnorm_fwd(T, D, x, w, 1e-5f, o2, r2);
            expect_below("rmsnorm_fwd out", normwise(o2, o1, n), 1e-5, D);
            expect_below("rmsnorm_fwd rstd", elemwise(r2, r1, (size_t)T, 0), 1e-5, D);
            float *dx1 = rnd(n, -1, 1, &s), *dx2 = clone_floats(dx1, n);
            float *dw1 = rnd((size_t)D, -1, 1, &s), *dw2 = clone_floats(dw1, (size_t)D);
            mom_rmsnorm_bwd_ref(T, D, x, w, r1, g, dx1, dw1);
            k->rmsnorm_bwd(T, D, x, w, r1, g, dx2, dw2);
            expect_below("rmsnorm_bwd dx", normwise(dx2, dx1, n), 1e-5, D);
            expect_exact("rmsnorm_bwd dw", dw2, dw1, (size_t)D, D);
            free(x), free(w), free(g), free(o1), free(o2), free(dx1), free(dx2), free(dw1), free(dw2);
        }
}

/* ---- routing copies and bias: bit-exact ----------------------------------
 * Strided rows (ld = cols + 5); the columns past cols must stay untouched. */

static void test_gather_scatter(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 13;
    const int Rs[] = {1, 29};
    for (int wi = 0; wi < N_WIDTHS; wi++)
        for (int ri = 0; ri < 2; ri++) {
            const int C = WIDTHS[wi], R = Rs[ri], ld = C + 5;
            const size_t nw = (size_t)R * ld, nd = (size_t)R * C;
            int32_t *perm = perm_of(R, &s);
            float *src = rnd(nw, -1, 1, &s), *g1 = rnd(nd, 0, 1, &s), *g2 = clone_floats(g1, nd);
            mom_gather_rows_ref(R, C, perm, src, ld, g1);
            k->gather_rows(R, C, perm, src, ld, g2);
            expect_exact("gather_rows", g2, g1, nd, C);
            for (int acc = 0; acc < 2; acc++) {
                float *d1 = rnd(nw, -1, 1, &s), *d2 = clone_floats(d1, nw);
                mom_scatter_rows_ref(R, C, perm, g1, d1, ld, acc);
                k->scatter_rows(R, C, perm, g1, d2, ld, acc);
                expect_exact(acc ? "scatter_rows +=" : "scatter_rows =", d2, d1, nw, C);
                free(d1), free(d2);
            }
            free(perm), free(src), free(g1), free(g2);
        }
}

static void test_bias(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 14;
    const int Rs[] = {1, 31};
    for (int wi = 0; wi < N_WIDTHS; wi++)
        for (int ri = 0; ri < 2; ri++) {
            const int C = WIDTHS[wi], R = Rs[ri], ld = C + 3;
            const size_t n = (size_t)R * ld;
            float *bias = rnd((size_t)C, -1, 1, &s), *c1 = rnd(n, -1, 1, &s), *c2 = clone_floats(c1, n);
            mom_add_bias_ref(R, C, bias, c1, ld);
            k->add_bias(R, C, bias, c2, ld);
            expect_exact("add_bias", c2, c1, n, C);
            float *db1 = rnd((size_t)C, -1, 1, &s), *db2 = clone_floats(db1, (size_t)C);
            mom_bias_grad_ref(R, C, c1, ld, db1);
            k->bias_grad(R, C, c1, ld, db2);
            expect_exact("bias_grad", db2, db1, (size_t)C, C);
            free(bias), free(c1), free(c2), free(db1), free(db2);
        }
}

/* ---- flat elementwise ------------------------------------------------------ */

/* Lengths around the vector width, one block, and past the parallel threshold. */
static const size_t FLAT_NS[] = {1, 15, 16, 17, 33, 250, 4097, 70001};
#define N_FLAT (int)(sizeof FLAT_NS / sizeof FLAT_NS[0])

/* Uniform in [-40, 40] with the threshold region and the tails planted. */
static float *softplus_inputs(size_t n, uint64_t *s)
{
    static const float special[] = {20.0f, 19.999998f, 20.000002f, 19.5f, 20.5f, 21.0f, 100.0f, 1e30f,
                                    0.0f, -0.0f, 1e-8f, -1e-8f, 0.34657359f, -0.5f, -15.0f, -87.0f,
                                    -88.0f, -89.0f, -100.0f, -104.0f, -110.0f, -1e30f};
    float *x = rnd(n, -40, 40, s);
    for (size_t i = 0; i < n; i++)
        if (rng_next(s) % 4 == 0) x[i] = special[rng_next(s) % (sizeof special / sizeof special[0])];
    return x;
}

/* softplus fwd and bwd: per element |a - b| <= 4e-7 (|b| + 1e-30), about 3
 * ulp (vector exp and log1p against expf and log1pf; the floor covers
 * results that underflow, near exp(-88) and below). */
static void test_softplus(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 15;
    for (int i = 0; i < N_FLAT; i++) {
        const size_t n = FLAT_NS[i];
        float *x = softplus_inputs(n, &s), *dy = rnd(n, -2, 2, &s);
        float *y1 = rnd(n, 0, 1, &s), *y2 = clone_floats(y1, n);
        mom_softplus_fwd_ref(n, x, y1);
        k->softplus_fwd(n, x, y2);
        expect_below("softplus_fwd", elemwise(y2, y1, n, 1e-30), 4e-7, (int)n);
        mom_softplus_bwd_ref(n, x, dy, y1);
        k->softplus_bwd(n, x, dy, y2);
        expect_below("softplus_bwd", elemwise(y2, y1, n, 1e-30), 4e-7, (int)n);
        free(x), free(dy), free(y1), free(y2);
    }
}

/* sumsq: relative 1e-11 (double sums in another order; the reference's
 * serial sum drifts about 1e-12 by n = 2M), and bit-identical between two
 * calls. */
static void test_sumsq(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 16;
    const size_t extra[] = {0, 300007};
    for (int i = 0; i < N_FLAT + 2; i++) {
        const size_t n = i < N_FLAT ? FLAT_NS[i] : extra[i - N_FLAT];
        float *x = rnd(n, -3, 3, &s);
        const double a = mom_sumsq_ref(n, x), b = k->sumsq(n, x), c = k->sumsq(n, x);
        expect_below("sumsq", fabs(b - a) / (a > 0 ? a : 1), 1e-11, (int)n);
        assert_true(b == c);
        free(x);
    }
}

/* ---- conv1d + SiLU ------------------------------------------------------------
 * fwd: per element |a - b| <= 4e-7 (|b| + 1e-30) (the pre-activation is
 * bit-exact; SiLU's sigmoid is the vector one). bwd: dx, dw, db normwise 2e-6
 * (the same sums, their terms a few ulp apart; 2e-5 over 260 positions). Strided x and dx; the
 * columns of dx past D must stay untouched; half the cases with a row map. */

static void test_conv(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 17;
    const int Ks[] = {1, 4, 3};
    const int BLs[][2] = {{1, 1}, {1, 37}, {3, 5}, {2, 130}};
    for (int wi = 0; wi < N_WIDTHS; wi++)
        for (int ki = 0; ki < 3; ki++)
            for (int bl = 0; bl < 4; bl++) {
                const int D = WIDTHS[wi], K = Ks[ki], B = BLs[bl][0], L = BLs[bl][1];
                const int ldx = bl % 2 ? 2 * D + 3 : D, lddx = bl % 2 ? D + 7 : D;
                const size_t nx = (size_t)B * L * ldx, no = (size_t)B * L * D, ndx = (size_t)B * L * lddx;
                float *x = rnd(nx, -2, 2, &s), *w = rnd((size_t)D * K, -1, 1, &s), *b = rnd((size_t)D, -1, 1, &s);
                float *o1 = rnd(no, 0, 1, &s), *o2 = clone_floats(o1, no), *g = rnd(no, -1, 1, &s);
                /* Half the cases find positions through a row map. */
                int32_t *rows = bl >= 2 ? tu_permutation((size_t)B * L, &s) : NULL; /* {2, 130}: several tiles */
                mom_conv_silu_fwd_ref(B, L, D, K, rows, x, ldx, w, b, NULL, o1);
                k->conv_silu_fwd(B, L, D, K, rows, x, ldx, w, b, NULL, o2);
                expect_below("conv_silu_fwd", elemwise(o2, o1, no, 1e-30), 4e-7, D);
                float *dx1 = rnd(ndx, -1, 1, &s), *dx2 = clone_floats(dx1, ndx);
                float *dw1 = rnd((size_t)D * K, -1, 1, &s), *dw2 = clone_floats(dw1, (size_t)D * K);
                float *db1 = rnd((size_t)D, -1, 1, &s), *db2 = clone_floats(db1, (size_t)D);
                mom_conv_silu_bwd_ref(B, L, D, K, rows, x, ldx, w, b, g, dx1, lddx, dw1, db1);
                k->conv_silu_bwd(B, L, D, K, rows, x, ldx, w, b, g, dx2, lddx, dw2, db2);
                /* silu'(p) = sig (1 + p (1 - sig)) cancels near p = -1.28, so a 1-ulp
                 * sigmoid moves such a term by far more than an ulp; summed over
                 * 260 positions (the {2, 130} case) dw and db reach ~7e-6. */
                const double tol = L > 100 ? 2e-5 : 2e-6;
                expect_below("conv_silu_bwd dx", normwise(dx2, dx1, ndx), tol, D);
                expect_below("conv_silu_bwd dw", normwise(dw2, dw1, (size_t)D * K), tol, D);
                expect_below("conv_silu_bwd db", normwise(db2, db1, (size_t)D), tol, D);
                for (size_t r = 0; r < (size_t)B * L; r++)
                    for (int c = D; c < lddx; c++) assert_true(dx2[r * lddx + c] == dx1[r * lddx + c]);
                free(x), free(w), free(b), free(o1), free(o2), free(g), free(dx1), free(dx2), free(dw1),
                    free(dw2), free(db1), free(db2), free(rows);
            }
}

/* ---- cross-entropy ---------------------------------------------------------------
 * loss: |a - b| <= 4 ulp of (|max logit| + log V + 1), the size of lse.
 * gradient: |a - b| <= 1e-6 |scale| per element (probabilities within a few
 * ulp, the onehot subtraction exact). Ignored rows: loss 0, zero gradient.
 * scale 0: logits untouched. */

static void test_xent(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 18;
    const int Vs[] = {1, 15, 16, 17, 33, 250, 1024};
    const float spans[] = {4.0f, 3000.0f};
    for (int vi = 0; vi < 7; vi++)
        for (int si = 0; si < 2; si++)
            for (int sc = 0; sc < 2; sc++) {
                const int V = Vs[vi], T = 13;
                const size_t n = (size_t)T * V;
                const float scale = sc ? 1.0f / 9.0f : 0.0f;
                int32_t tg[13];
                for (int t = 0; t < T; t++) tg[t] = t % 4 == 2 ? -1 : (int32_t)(rng_next(&s) % (uint64_t)V);
                float *l0 = rnd(n, -spans[si], spans[si], &s);
                float *l1 = clone_floats(l0, n), *l2 = clone_floats(l0, n), loss1[13], loss2[13];
                mom_xent_ref(T, V, l1, tg, scale, loss1);
                k->xent(T, V, l2, tg, scale, loss2);
                for (int t = 0; t < T; t++) {
                    float mx = 0;
                    for (int v = 0; v < V; v++) mx = fmaxf(mx, fabsf(l0[(size_t)t * V + v]));
                    const double tol = 4.0 * FLT_EPSILON * (mx + log((double)V) + 1.0);
                    expect_below("xent loss", fabs((double)loss2[t] - loss1[t]), tol, V);
                    if (tg[t] < 0) assert_true(loss2[t] == 0.0f);
                }
                if (sc == 0) {
                    expect_exact("xent scale 0 logits", l2, l0, n, V);
                } else {
                    const double e = tu_max_diff(l2, l1, n);
                    expect_below("xent grad", e / scale, 1e-6, V);
                    for (int t = 0; t < T; t++)
                        if (tg[t] < 0)
                            for (int v = 0; v < V; v++) assert_true(l2[(size_t)t * V + v] == 0.0f);
                }
                free(l0), free(l1), free(l2);
            }
}

/* ---- AdamW: per element |a - b| <= 2.4e-7 |b| (about 2 ulp; the arithmetic
 * is the reference's operation for operation, bit-exact when the compiler
 * does not contract into fma), over three steps, with and without decay. */

static void test_adamw(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 19;
    for (int i = 0; i < N_FLAT; i++)
        for (int wdi = 0; wdi < 2; wdi++) {
            const size_t n = FLAT_NS[i];
            const float wd = wdi ? 0.1f : 0.0f;
            float *p1 = rnd(n, -1, 1, &s), *p2 = clone_floats(p1, n);
            float *m1 = rnd(n, -0.01f, 0.01f, &s), *m2 = clone_floats(m1, n);
            float *v1 = rnd(n, 0, 1e-4f, &s), *v2 = clone_floats(v1, n);
            for (int64_t step = 1; step <= 3; step++) {
                float *g = rnd(n, -1, 1, &s);
                mom_adamw_ref(n, p1, g, m1, v1, 0.5f, 1e-3f, 0.9f, 0.95f, 1e-8f, wd, step);
                k->adamw(n, p2, g, m2, v2, 0.5f, 1e-3f, 0.9f, 0.95f, 1e-8f, wd, step);
                free(g);
            }
            expect_below("adamw p", elemwise(p2, p1, n, 1e-30), 2.4e-7, (int)n);
            expect_below("adamw m", elemwise(m2, m1, n, 1e-30), 2.4e-7, (int)n);
            expect_below("adamw v", elemwise(v2, v1, n, 1e-30), 2.4e-7, (int)n);
            free(p1), free(p2), free(m1), free(m2), free(v1), free(v2);
        }
}

/* ---- NaN: wherever the reference gives NaN, so does the AVX-512 kernel
 * (a NaN in an activation must reach the loss and the grad norm). ---------- */

static void expect_same_nans(const char *what, const float *a, const float *b, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += !isnan(a[i]) != !isnan(b[i]);
    if (bad) fprintf(stderr, "%s: NaN pattern differs at %zu of %zu elements\n", what, bad, n);
    assert_int_equal(bad, 0);
}

static void test_nan(void **state)
{
    const mom_kernels *k = *state;
    uint64_t s = 20;
    enum { N = 37, D = 17, L = 9, K = 4, V = 33, T = 3 };
    float *x = rnd(N, -30, 30, &s), *dy = rnd(N, -1, 1, &s), y1[N], y2[N];
    x[3] = x[20] = NAN;
    mom_softplus_fwd_ref(N, x, y1);
    k->softplus_fwd(N, x, y2);
    expect_same_nans("softplus_fwd", y2, y1, N);
    mom_softplus_bwd_ref(N, x, dy, y1);
    k->softplus_bwd(N, x, dy, y2);
    expect_same_nans("softplus_bwd", y2, y1, N);

    float *cx = rnd((size_t)L * D, -2, 2, &s), *w = rnd((size_t)D * K, -1, 1, &s), *b = rnd(D, -1, 1, &s);
    float o1[L * D], o2[L * D];
    cx[2 * D + 5] = NAN;
    mom_conv_silu_fwd_ref(1, L, D, K, NULL, cx, D, w, b, NULL, o1);
    k->conv_silu_fwd(1, L, D, K, NULL, cx, D, w, b, NULL, o2);
    expect_same_nans("conv_silu_fwd", o2, o1, (size_t)L * D);

    float *l1 = rnd((size_t)T * V, -4, 4, &s), *l2 = clone_floats(l1, (size_t)T * V), loss1[T], loss2[T];
    const int32_t tg[T] = {1, 2, 3};
    l1[V + 7] = l2[V + 7] = NAN;
    mom_xent_ref(T, V, l1, tg, 0.5f, loss1);
    k->xent(T, V, l2, tg, 0.5f, loss2);
    expect_same_nans("xent loss", loss2, loss1, T);
    expect_same_nans("xent grad", l2, l1, (size_t)T * V);
    free(x), free(dy), free(cx), free(w), free(b), free(l1), free(l2);
}

/* ---- matmuls (used without a matmul library) --------------------------------
 * Each output within 1e-5 (1 + |ref|) times the reduction's length of the
 * plain-C reference (sums in another order, fused multiply-adds); strided
 * rows, sizes around the tiles, M = 0. */

static void near_ref(const char *what, const float *got, const float *want, size_t n, int len)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])) * (float)len)) {
            fprintf(stderr, "%s: element %zu: %.9g, reference %.9g\n", what, i, (double)got[i], (double)want[i]);
            fail();
        }
}

static void test_matmul(void **state)
{
    const mom_kernels *k = *state;
    const int shapes[][3] = {{1, 1, 1}, {37, 48, 17}, {4, 16, 16}, {5, 7, 129}, {0, 4, 4}, {67, 33, 40}};
    uint64_t s = 5;
    for (int acc = 0; acc < 2; acc++)
        for (size_t c = 0; c < sizeof(shapes) / sizeof(shapes[0]); c++) {
            const int M = shapes[c][0], N = shapes[c][1], K = shapes[c][2], lda = K + 3, ldc = N + 2;
            const size_t m1 = (size_t)(M ? M : 1);
            float *A = rnd(m1 * lda, -1, 1, &s), *W = rnd((size_t)N * K, -1, 1, &s);
            float *C1 = rnd(m1 * ldc, -1, 1, &s), *C2 = clone_floats(C1, m1 * ldc);
            mom_mm_fwd_ref(M, N, K, A, lda, W, C1, ldc, acc);
            k->mm_fwd(M, N, K, A, lda, W, C2, ldc, acc);
            near_ref("mm_fwd", C2, C1, m1 * ldc, K);
            float *dA1 = rnd(m1 * lda, -1, 1, &s), *dA2 = clone_floats(dA1, m1 * lda);
            mom_mm_bwd_data_ref(M, N, K, C1, ldc, W, dA1, lda, acc);
            k->mm_bwd_data(M, N, K, C1, ldc, W, dA2, lda, acc);
            near_ref("mm_bwd_data", dA2, dA1, m1 * lda, N);
            float *dW1 = rnd((size_t)N * K, -1, 1, &s), *dW2 = clone_floats(dW1, (size_t)N * K);
            mom_mm_bwd_weight_ref(M, N, K, C1, ldc, A, lda, dW1);
            k->mm_bwd_weight(M, N, K, C1, ldc, A, lda, dW2);
            near_ref("mm_bwd_weight", dW2, dW1, (size_t)N * K, M + 1);
            free(A), free(W), free(C1), free(C2), free(dA1), free(dA2), free(dW1), free(dW2);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp),      cmocka_unit_test(test_embed),     cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_gather_scatter), cmocka_unit_test(test_bias),    cmocka_unit_test(test_softplus),
        cmocka_unit_test(test_sumsq),       cmocka_unit_test(test_conv),      cmocka_unit_test(test_xent),
        cmocka_unit_test(test_adamw),       cmocka_unit_test(test_nan),       cmocka_unit_test(test_matmul),
    };
    return tu_run_per_simd_path("simd_elementwise", tests, sizeof(tests) / sizeof(tests[0]));
}
