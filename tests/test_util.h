/* Shared helpers of the test suites: tiny configs, synthetic batches,
 * parameter snapshots, temporary folders and whole-file I/O. Header-only so
 * each suite stays one executable. The helpers that check assert with
 * CMocka. */
#ifndef MOM_TEST_UTIL_H
#define MOM_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mom.h"

static inline uint64_t tu_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline float tu_uniform(uint64_t *s) { return (float)(tu_next(s) >> 40) / 16777216.0f; }

/* A random permutation of 0..n-1 (Fisher-Yates): a row map for the conv
 * and the scan, as a batch in modality order gives them. */
static inline int32_t *tu_permutation(size_t n, uint64_t *s)
{
    int32_t *p = malloc((n ? n : 1) * sizeof(int32_t));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = (int32_t)i;
    for (size_t i = n; i > 1; i--) {
        const size_t j = (size_t)(tu_next(s) % i);
        const int32_t t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    return p;
}

/* The largest |x[i]|, and the largest |x[i] - y[i]|, over n floats;
 * infinity when any is NaN, so a kernel that returns NaN fails every
 * tolerance. With comparisons, not fmax: GCC 12 for aarch64 stops with an
 * internal error vectorizing an fmax reduction over floats widened to
 * double. */
static inline double tu_max_abs(const float *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double a = fabs((double)x[i]);
        if (a != a) return INFINITY;
        if (a > m) m = a;
    }
    return m;
}
static inline double tu_max_diff(const float *x, const float *y, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)x[i] - y[i]);
        if (d != d) return INFINITY;
        if (d > m) m = d;
    }
    return m;
}

/* ---- configs and contexts --------------------------------------------- */

/* The defaults (d_conv 4, expand 2, dt_rank auto, all decoupled, tied,
 * norm_eps 1e-5) with these sizes. */
static inline mom_config tu_config(int n_mod, int vocab, int d_model, int n_layer, int d_state)
{
    mom_config c;
    mom_config_default(&c);
    c.n_modalities = n_mod;
    c.vocab_size = vocab;
    c.d_model = d_model;
    c.n_layer = n_layer;
    c.d_state = d_state;
    return c;
}

/* vocab 13, d_model 8, 2 layers, d_state 4, d_conv 3, dt_rank 2. */
static inline mom_config tu_tiny_config(int n_mod, unsigned decouple)
{
    mom_config c = tu_config(n_mod, 13, 8, 2, 4);
    c.d_conv = 3;
    c.dt_rank = 2;
    c.decouple = decouple;
    return c;
}

/* The small model of the checkpoint and bad-input suites: 3 modalities,
 * vocab 17, d_model 8, 2 layers, d_state 4, the rest the defaults (d_conv 4,
 * dt_rank 1, all decoupled, tied); its batches are 2 x 13. */
enum {
    TU_SMALL_NMOD = 3,
    TU_SMALL_VOCAB = 17,
    TU_SMALL_D_MODEL = 8,
    TU_SMALL_N_LAYER = 2,
    TU_SMALL_D_STATE = 4,
    TU_SMALL_B = 2,
    TU_SMALL_T = 13,
};

static inline mom_config tu_small_config(void)
{
    return tu_config(TU_SMALL_NMOD, TU_SMALL_VOCAB, TU_SMALL_D_MODEL, TU_SMALL_N_LAYER, TU_SMALL_D_STATE);
}

/* A context of n_threads threads (0: OpenMP's default) on cpu (NULL: from
 * MOM_CPU or auto). */
static inline mom_status tu_ctx_create(mom_ctx **out, int n_threads, const char *cpu)
{
    mom_ctx_settings s;
    mom_ctx_default_settings(&s);
    s.n_threads = n_threads;
    s.cpu = cpu;
    return mom_ctx_create(out, &s);
}

/* A model of config c from seed; asserts that it is made. */
static inline mom_model *tu_new_model(mom_ctx *ctx, const mom_config *c, uint64_t seed)
{
    mom_model *m = NULL;
    assert_int_equal(mom_model_create(ctx, c, seed, &m), MOM_OK);
    assert_non_null(m);
    return m;
}

/* ---- batches ------------------------------------------------------------ */

typedef struct tu_batch {
    mom_batch b;
    int32_t *tok, *tgt;
    uint8_t *mod, *tmod;
} tu_batch;

/* Random tokens; the modalities of mod_mask in turn, in runs of 1 to 6
 * positions (so every one of them appears); every 7th target ignored (-1). */
static inline tu_batch tu_make_batch(int B, int T, int vocab, unsigned mod_mask, uint64_t seed)
{
    tu_batch t;
    const size_t n = (size_t)B * T;
    t.tok = malloc(n * 4);
    t.tgt = malloc(n * 4);
    t.mod = malloc(n);
    t.tmod = malloc(n);
    int mods[8], nm = 0;
    for (int k = 0; k < 8; k++)
        if (mod_mask & (1u << k)) mods[nm++] = k;
    int cur = mods[0], which = 0, left = 1 + (int)(tu_next(&seed) % 6);
    for (size_t i = 0; i < n + 1; i++) {
        if (left-- == 0) {
            which = (which + 1) % nm;
            cur = mods[which];
            left = (int)(tu_next(&seed) % 6);
        }
        int32_t tk = (int32_t)(tu_next(&seed) % (uint64_t)vocab);
        if (i < n) {
            t.tok[i] = tk;
            t.mod[i] = (uint8_t)cur;
        }
        if (i > 0) {
            t.tgt[i - 1] = (i - 1) % 7 == 3 ? -1 : tk;
            t.tmod[i - 1] = (uint8_t)cur;
        }
    }
    mom_batch b = {.B = B, .T = T, .tokens = t.tok, .modality = t.mod, .targets = t.tgt, .target_modality = t.tmod, .patches = NULL, .noise_seed = 0, .low_t_fraction = 0.0f};
    t.b = b;
    return t;
}

static inline void tu_free_batch(tu_batch *t)
{
    free(t->tok);
    free(t->tgt);
    free(t->mod);
    free(t->tmod);
}

/* A batch of the small model in fixed arrays (copies by value; a copy's
 * b still points into the original). */
typedef struct tu_small_batch {
    int32_t tok[TU_SMALL_B * TU_SMALL_T], tgt[TU_SMALL_B * TU_SMALL_T];
    uint8_t mod[TU_SMALL_B * TU_SMALL_T], tmod[TU_SMALL_B * TU_SMALL_T];
    mom_batch b;
} tu_small_batch;

/* Deterministic pseudo-random small batch; modalities change in runs, every
 * 5th target (i % 5 == 2) ignored. */
static inline void tu_make_small_batch(tu_small_batch *bb, uint64_t seed)
{
    uint64_t s = seed * 7919 + 1;
    int cur = 0;
    for (int i = 0; i < TU_SMALL_B * TU_SMALL_T; i++) {
        if (tu_next(&s) % 4 == 0) cur = (int)(tu_next(&s) % TU_SMALL_NMOD);
        bb->tok[i] = (int32_t)(tu_next(&s) % TU_SMALL_VOCAB);
        bb->mod[i] = (uint8_t)cur;
        bb->tgt[i] = i % 5 == 2 ? -1 : (int32_t)(tu_next(&s) % TU_SMALL_VOCAB);
        bb->tmod[i] = (uint8_t)cur;
    }
    mom_batch b = {.B = TU_SMALL_B, .T = TU_SMALL_T, .tokens = bb->tok, .modality = bb->mod, .targets = bb->tgt, .target_modality = bb->tmod, .patches = NULL, .noise_seed = 0, .low_t_fraction = 0.0f};
    bb->b = b;
}

/* Zeroes the gradients, then accumulates those of b at scale 1. */
static inline void tu_backward(mom_model *m, const mom_batch *b, mom_losses *l)
{
    assert_int_equal(mom_model_zero_grad(m), MOM_OK);
    assert_int_equal(mom_model_backward(m, b, 1.0f, l), MOM_OK);
}

/* ---- tensors ------------------------------------------------------------ */

static inline size_t tu_tensor_size(mom_model *m, const char *name)
{
    int nd;
    int64_t sh[4];
    if (mom_model_tensor_shape(m, name, &nd, sh)) return 0;
    size_t n = 1;
    for (int d = 0; d < nd; d++) n *= (size_t)sh[d];
    return n;
}

/* A copy of one tensor's parameters (grad == 0) or gradients (grad != 0),
 * malloc'd; its element count in *n. */
static inline float *tu_get_tensor(mom_model *m, const char *name, int grad, size_t *n)
{
    *n = tu_tensor_size(m, name);
    assert_true(*n > 0);
    float *p = malloc(*n * sizeof *p);
    assert_non_null(p);
    assert_int_equal(grad ? mom_model_get_grad(m, name, p, *n) : mom_model_get_param(m, name, p, *n), MOM_OK);
    return p;
}

/* All parameters (grad == 0) or gradients (grad != 0), concatenated in
 * table order, malloc'd; the element count in *n_out. */
static inline float *tu_snapshot(mom_model *m, int grad, size_t *n_out)
{
    size_t n = 0, o = 0;
    for (size_t i = 0; i < mom_model_n_tensors(m); i++) n += tu_tensor_size(m, mom_model_tensor_name(m, i));
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < mom_model_n_tensors(m); i++) {
        const char *nm = mom_model_tensor_name(m, i);
        size_t k = tu_tensor_size(m, nm);
        if (grad) assert_int_equal(mom_model_get_grad(m, nm, p + o, k), MOM_OK);
        else assert_int_equal(mom_model_get_param(m, nm, p + o, k), MOM_OK);
        o += k;
    }
    *n_out = n;
    return p;
}

/* ---- files and folders -------------------------------------------------- */

/* Makes a fresh folder /tmp/mom_test_<tag>_XXXXXX, its path into dir;
 * 0, or -1 when it cannot. */
static inline int tu_make_temp_dir(char *dir, size_t cap, const char *tag)
{
    int len = snprintf(dir, cap, "/tmp/mom_test_%s_XXXXXX", tag);
    if (len < 0 || (size_t)len >= cap) return -1;
    return mkdtemp(dir) ? 0 : -1;
}

/* Removes dir and everything below it (a link is removed, not followed). */
static inline void tu_remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[512];
            int len = snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (len < 0 || (size_t)len >= sizeof p) continue; /* not one of ours */
            struct stat sb;
            if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) tu_remove_tree(p);
            else unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The entries of dir but . and ..; when forbid is not NULL, no entry's
 * name may contain it. */
static inline size_t tu_count_entries(const char *dir, const char *forbid)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            n++;
            if (forbid) assert_null(strstr(e->d_name, forbid));
        }
    closedir(d);
    return n;
}

/* Whether dir holds an entry whose name contains ".tmp." (with files_only,
 * only a regular file counts). */
static inline int tu_has_tmp_file(const char *dir, int files_only)
{
    int found = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".tmp.")) continue;
        if (!files_only) {
            found = 1;
            continue;
        }
        struct stat sb;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) found = 1;
    }
    closedir(d);
    return found;
}

/* The whole file, malloc'd with one spare byte; its size in *size. */
static inline uint8_t *tu_read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *size = (size_t)n;
    return buf;
}

/* Creates or replaces path with the n bytes of buf. */
static inline void tu_write_file(const char *path, const void *buf, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (n) assert_int_equal(fwrite(buf, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

#endif
