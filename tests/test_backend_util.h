/* Helpers of the cross-backend tests (an op on the Vulkan backend against
 * the same op on the scalar CPU backend): both backends, buffers with the
 * same contents on each, and one comparison that prints its error.
 * Header-only; asserts with CMocka.
 *
 *   static tb_pair P;                       // in main: if (tb_open(&P)) return 77;
 *   tb_buf x = tb_rand(&P, n, -1, 1, &seed); // same floats on both
 *   P.cpu->softplus_fwd(P.cpu, n, tb_c(&x, 0), tb_c(&y, 0));
 *   P.vk->softplus_fwd(P.vk, n, tb_v(&x, 0), tb_v(&y, 0));
 *   tb_check(&P, "softplus_fwd", &y, 0, n, 1e-6); // prints, asserts rel <= tol
 *
 * The error is max_i |vk_i - cpu_i| / max(|cpu_i|, 1e-3 max_j |cpu_j|):
 * elementwise relative, with elements a thousand times smaller than the
 * largest measured against a thousandth of it. tb_check_norm measures
 * max_i |vk_i - cpu_i| / max_j |cpu_j| instead (sums that cancel). */
#ifndef MOM_TEST_BACKEND_UTIL_H
#define MOM_TEST_BACKEND_UTIL_H

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
#include "kernels.h"
#include "test_util.h" /* tu_next, tu_uniform, tu_permutation */
#include "vulkan/vk_internal.h" /* vk_validation_messages */

typedef struct tb_pair {
    backend *cpu, *vk;
    char cpu_name[256], vk_name[512], why[512];
} tb_pair;

/* One tensor on both backends; host holds what was uploaded. */
typedef struct tb_buf {
    be_buf *c, *v;
    size_t n;
    float *host;
} tb_buf;


/* The scalar CPU backend and a Vulkan one (software devices allowed).
 * 0, or -1 with p->why set (print it and exit 77: no device here). */
static inline int tb_open(tb_pair *p)
{
    memset(p, 0, sizeof(*p));
    p->cpu = mom_cpu_backend_create("plain", 0, &mom_kernels_scalar, p->cpu_name, sizeof(p->cpu_name));
    if (!p->cpu) {
        snprintf(p->why, sizeof(p->why), "the CPU backend could not be made");
        return -1;
    }
    p->vk = mom_vulkan_backend_create(1, p->vk_name, sizeof(p->vk_name), p->why, sizeof(p->why));
    if (!p->vk) {
        p->cpu->destroy(p->cpu);
        p->cpu = NULL;
        return -1;
    }
    return 0;
}

static inline void tb_close(tb_pair *p)
{
    if (p->vk) p->vk->destroy(p->vk);
    if (p->cpu) p->cpu->destroy(p->cpu);
    p->vk = p->cpu = NULL;
}

/* What a Vulkan test's main returns once its last device is destroyed:
 * CMocka's failure count, or 1 if the validation layer spoke at all. The
 * layer reports a Vulkan object left alive (a buffer, a pipeline) only at
 * vkDestroyDevice, after every test's own assertions have run. */
static inline int tb_exit_status(int failed)
{
    const unsigned long n = vk_validation_messages();
    if (n) fprintf(stderr, "%lu Vulkan validation message(s) in all (printed above)\n", n);
    return failed ? failed : n ? 1 : 0;
}

/* n elements of host (floats or int32s) on both backends. */
static inline tb_buf tb_from(tb_pair *p, const void *host, size_t n)
{
    tb_buf b = {p->cpu->alloc(p->cpu, n), p->vk->alloc(p->vk, n), n, malloc((n ? n : 1) * sizeof(float))};
    assert_non_null(b.c);
    assert_non_null(b.v);
    assert_non_null(b.host);
    if (n) {
        memcpy(b.host, host, n * sizeof(float));
        p->cpu->upload(p->cpu, (bv){b.c, 0}, host, n);
        p->vk->upload(p->vk, (bv){b.v, 0}, host, n);
    }
    return b;
}

/* Uniform floats in [lo, hi). */
static inline tb_buf tb_rand(tb_pair *p, size_t n, float lo, float hi, uint64_t *seed)
{
    float *h = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(h);
    for (size_t i = 0; i < n; i++) h[i] = lo + (hi - lo) * tu_uniform(seed);
    tb_buf b = tb_from(p, h, n);
    free(h);
    return b;
}

/* Uniform int32s in [lo, hi). */
static inline tb_buf tb_ints(tb_pair *p, size_t n, int32_t lo, int32_t hi, uint64_t *seed)
{
    int32_t *h = malloc((n ? n : 1) * sizeof(int32_t));
    assert_non_null(h);
    for (size_t i = 0; i < n; i++) h[i] = lo + (int32_t)(tu_next(seed) % (uint64_t)(hi - lo));
    tb_buf b = tb_from(p, h, n);
    free(h);
    return b;
}

static inline tb_buf tb_zeros(tb_pair *p, size_t n)
{
    float *h = calloc(n ? n : 1, sizeof(float));
    assert_non_null(h);
    tb_buf b = tb_from(p, h, n);
    free(h);
    return b;
}

static inline void tb_free(tb_pair *p, tb_buf *b)
{
    p->cpu->release(p->cpu, b->c);
    p->vk->release(p->vk, b->v);
    free(b->host);
    memset(b, 0, sizeof(*b));
}

/* Views at element off of each side (tb_c: CPU, tb_v: Vulkan). */
static inline bv tb_c(const tb_buf *b, size_t off) { return (bv){b->c, off}; }
static inline bv tb_v(const tb_buf *b, size_t off) { return (bv){b->v, off}; }

/* The error above, of got against want over n floats. */
static inline double tb_rel_err(const float *got, const float *want, size_t n)
{
    const double mx = tu_max_abs(want, n);
    double e = 0.0;
    const double floor = mx > 0 ? 1e-3 * mx : 1e-30;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - want[i]);
        if (d != d) return INFINITY; /* NaN */
        const double r = d / fmax(fabs((double)want[i]), floor);
        if (r > e) e = r; /* not an fmax reduction: see tu_max_abs */
    }
    return e;
}

/* Downloads n elements at off from both sides and compares them; prints
 * "  what: max rel err E (tol T)"; asserts E <= tol. Returns E. */
static inline double tb_check(tb_pair *p, const char *what, const tb_buf *b, size_t off, size_t n, double tol)
{
    float *c = malloc((n ? n : 1) * sizeof(float)), *v = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(c);
    assert_non_null(v);
    p->cpu->download(p->cpu, c, tb_c(b, off), n);
    p->vk->download(p->vk, v, tb_v(b, off), n);
    const double e = tb_rel_err(v, c, n);
    printf("  %-40s max rel err %.3g (tol %.0e)\n", what, e, tol);
    fflush(stdout);
    free(c);
    free(v);
    assert_true(e <= tol);
    return e;
}

/* The same with the normwise error max_i |vk_i - cpu_i| / max_j |cpu_j|,
 * for outputs that are sums which cancel (a gradient accumulated onto
 * another: elements near zero carry the rounding of the large terms). */
static inline double tb_check_norm(tb_pair *p, const char *what, const tb_buf *b, size_t off, size_t n, double tol)
{
    float *c = malloc((n ? n : 1) * sizeof(float)), *v = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(c);
    assert_non_null(v);
    p->cpu->download(p->cpu, c, tb_c(b, off), n);
    p->vk->download(p->vk, v, tb_v(b, off), n);
    const double mx = tu_max_abs(c, n);
    double e = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)v[i] - c[i]);
        if (d != d) e = INFINITY; /* NaN */
        else if (d > e) e = d;
    }
    e = mx > 0 ? e / mx : e;
    printf("  %-40s max normwise err %.3g (tol %.0e)\n", what, e, tol);
    fflush(stdout);
    free(c);
    free(v);
    assert_true(e <= tol);
    return e;
}

/* The same for int32 contents: exact. */
static inline void tb_check_ints(tb_pair *p, const char *what, const tb_buf *b, size_t off, size_t n)
{
    int32_t *c = malloc((n ? n : 1) * sizeof(int32_t)), *v = malloc((n ? n : 1) * sizeof(int32_t));
    assert_non_null(c);
    assert_non_null(v);
    p->cpu->download(p->cpu, c, tb_c(b, off), n);
    p->vk->download(p->vk, v, tb_v(b, off), n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += c[i] != v[i];
    printf("  %-40s %zu of %zu int32s differ\n", what, bad, n);
    fflush(stdout);
    free(c);
    free(v);
    assert_int_equal(bad, 0);
}

#endif
