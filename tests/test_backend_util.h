/* Helpers of the cross-backend tests, in the way of ggml's test-backend-ops:
 * every device backend of the registry (src/backend.h) in turn, each op on
 * it against the same op on the scalar CPU backend, with buffers of the
 * same contents on both and one comparison that prints its error. A new
 * backend is tested by these suites once it is in the registry.
 * Header-only; asserts with CMocka.
 *
 *   static tb_pair P;
 *   int failed = 0, ran = 0;               // in main:
 *   for (int i = 0; tb_next(&P, &i); ran++)
 *       failed += cmocka_run_group_tests_name(P.dev_backend, tests, NULL, NULL);
 *   return tb_exit_status(ran, failed);    // 77 (skip) when no device backend started
 *
 *   tb_buf x = tb_rand(&P, n, -1, 1, &seed); // same floats on both
 *   P.cpu->softplus_fwd(P.cpu, n, tb_c(&x, 0), tb_c(&y, 0));
 *   P.dev->softplus_fwd(P.dev, n, tb_d(&x, 0), tb_d(&y, 0));
 *   tb_check(&P, "softplus_fwd", &y, 0, n, 1e-6); // prints, asserts rel <= tol
 *
 * The error is max_i |dev_i - cpu_i| / max(|cpu_i|, 1e-3 max_j |cpu_j|):
 * elementwise relative, with elements a thousand times smaller than the
 * largest measured against a thousandth of it. tb_check_norm measures
 * max_i |dev_i - cpu_i| / max_j |cpu_j| instead (sums that cancel). */
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
#include "mom_build_config.h"
#include "test_util.h" /* tu_next, tu_uniform, tu_permutation */
#if MOM_HAVE_VULKAN
#include "vulkan/vk_internal.h" /* vk_validation_messages */
#endif

typedef struct tb_pair {
    backend *cpu, *dev;
    const char *dev_backend; /* dev's name in the registry */
    char cpu_name[256], dev_name[512], why[512];
} tb_pair;

/* One tensor on both backends (c: the CPU's, d: the device's); host holds
 * what was uploaded. */
typedef struct tb_buf {
    be_buf *c, *d;
    size_t n;
    float *host;
} tb_buf;

/* What the tests ask of every backend: the scalar CPU kernels and plain-C
 * matmuls (the reference), and software devices (lavapipe) allowed. */
static inline void tb_settings(mom_ctx_settings *s)
{
    mom_ctx_default_settings(s);
    s->cpu = "scalar";
    s->allow_software = 1;
}

/* The scalar CPU backend and the device backend of entry e. 0, or -1 with
 * p->why set (no device for e here). */
static inline int tb_open(tb_pair *p, const be_entry *e)
{
    memset(p, 0, sizeof(*p));
    mom_ctx_settings s;
    tb_settings(&s);
    if (be_create(be_registry[0], &s, &p->cpu, p->cpu_name, sizeof(p->cpu_name))) {
        snprintf(p->why, sizeof(p->why), "the CPU backend could not be made: %s", p->cpu_name);
        return -1;
    }
    if (be_create(e, &s, &p->dev, p->dev_name, sizeof(p->dev_name))) {
        snprintf(p->why, sizeof(p->why), "%s", p->dev_name);
        p->cpu->destroy(p->cpu);
        p->cpu = NULL;
        return -1;
    }
    p->dev_backend = e->name;
    return 0;
}

static inline void tb_close(tb_pair *p)
{
    if (p->dev) p->dev->destroy(p->dev);
    if (p->cpu) p->cpu->destroy(p->cpu);
    p->dev = p->cpu = NULL;
}

/* The next device backend of the registry after *i that starts, opened
 * into p (the one before closed), its name and the CPU's printed; one that
 * does not start is named with its reason and passed over. 0 after the
 * last. Start with *i = 0 (entry 0 is the CPU itself). */
static inline int tb_next(tb_pair *p, int *i)
{
    tb_close(p);
    while (be_registry[++*i]) {
        if (!tb_open(p, be_registry[*i])) {
            printf("%s\nagainst %s\n", p->dev_name, p->cpu_name);
            return 1;
        }
        printf("%s: skipped: %s\n", be_registry[*i]->name, p->why);
    }
    --*i; /* stay on the last entry: another call finds nothing either */
    return 0;
}

/* Messages of a debugging layer (Vulkan's validation layer, on under meson
 * test: MOM_VK_VALIDATE=1) in this process so far; the suites assert none. */
static inline unsigned long tb_layer_messages(void)
{
#if MOM_HAVE_VULKAN
    return vk_validation_messages();
#else
    return 0;
#endif
}

/* What a test's main returns once its last backend is destroyed: 77
 * (skipped) when no device backend ran, else CMocka's failure count, or 1
 * if a debugging layer spoke at all. The Vulkan layer reports an object
 * left alive (a buffer, a pipeline) only at vkDestroyDevice, after every
 * test's own assertions have run. */
static inline int tb_exit_status(int ran, int failed)
{
    if (!ran) return 77;
    const unsigned long n = tb_layer_messages();
    if (n) fprintf(stderr, "%lu validation-layer message(s) in all (printed above)\n", n);
    return failed ? failed : n ? 1 : 0;
}

/* n elements of host (floats or int32s) on both backends. */
static inline tb_buf tb_from(tb_pair *p, const void *host, size_t n)
{
    tb_buf b = {p->cpu->alloc(p->cpu, n), p->dev->alloc(p->dev, n), n, malloc((n ? n : 1) * sizeof(float))};
    assert_non_null(b.c);
    assert_non_null(b.d);
    assert_non_null(b.host);
    if (n) {
        memcpy(b.host, host, n * sizeof(float));
        p->cpu->upload(p->cpu, (bv){b.c, 0}, host, n);
        p->dev->upload(p->dev, (bv){b.d, 0}, host, n);
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
    p->dev->release(p->dev, b->d);
    free(b->host);
    memset(b, 0, sizeof(*b));
}

/* Views at element off of each side (tb_c: CPU, tb_d: the device). */
static inline bv tb_c(const tb_buf *b, size_t off) { return (bv){b->c, off}; }
static inline bv tb_d(const tb_buf *b, size_t off) { return (bv){b->d, off}; }

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
    p->dev->download(p->dev, v, tb_d(b, off), n);
    const double e = tb_rel_err(v, c, n);
    printf("  %-40s max rel err %.3g (tol %.0e)\n", what, e, tol);
    fflush(stdout);
    free(c);
    free(v);
    assert_true(e <= tol);
    return e;
}

/* The same with the normwise error max_i |dev_i - cpu_i| / max_j |cpu_j|,
 * for outputs that are sums which cancel (a gradient accumulated onto
 * another: elements near zero carry the rounding of the large terms). */
static inline double tb_check_norm(tb_pair *p, const char *what, const tb_buf *b, size_t off, size_t n, double tol)
{
    float *c = malloc((n ? n : 1) * sizeof(float)), *v = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(c);
    assert_non_null(v);
    p->cpu->download(p->cpu, c, tb_c(b, off), n);
    p->dev->download(p->dev, v, tb_d(b, off), n);
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
    p->dev->download(p->dev, v, tb_d(b, off), n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += c[i] != v[i];
    printf("  %-40s %zu of %zu int32s differ\n", what, bad, n);
    fflush(stdout);
    free(c);
    free(v);
    assert_int_equal(bad, 0);
}

#endif
