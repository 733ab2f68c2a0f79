/* Mixture-of-Mamba reduces to a dense Mamba:
 *  - n_modalities = 1 is the dense model (same numbers; a decoupled
 *    projection named as modality 0's copy, old dense names still load);
 *  - a decoupled model whose modality copies all hold the dense weights
 *    gives the dense model's losses, and per-copy gradients that sum to the
 *    dense gradient. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "model.h"
#include "safetensors.h"
#include "test_util.h"

static mom_ctx *new_ctx(void)
{
    mom_ctx *ctx;
    assert_int_equal(mom_ctx_create(&ctx, NULL), MOM_OK);
    return ctx;
}

static void assert_close(const float *a, const float *b, size_t n, double rel, const char *what)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    const double e = sqrt(num) / (sqrt(den) + 1e-30);
    if (e > rel) fprintf(stderr, "%s: relative difference %.3g > %.3g\n", what, e, rel);
    assert_true(e <= rel);
}

/* The name of modality k's copy of a dense tensor, or the name itself. */
static void split_name(const char *dense, int k, char *out, size_t cap)
{
    const char *projs[] = {"in_proj", "x_proj", "dt_proj", "out_proj"};
    for (int i = 0; i < 4; i++) {
        const char *p = strstr(dense, projs[i]);
        if (p && p > dense && p[-1] == '.') {
            snprintf(out, cap, "%.*slocal_experts_%s.%d%s", (int)(p - dense), dense, projs[i], k, p + strlen(projs[i]));
            return;
        }
    }
    snprintf(out, cap, "%s", dense);
}

/* One modality, every projection "decoupled", is the dense model: the same
 * init, losses and gradients, bit for bit, its tensors named as its config
 * says (modality 0's local_experts copies), so the reference module loads
 * it strictly. */
static void test_one_modality_is_dense(void **st)
{
    (void)st;
    mom_ctx *ctx = new_ctx();
    mom_config c1 = tu_tiny_config(1, MOM_DECOUPLE_ALL), cd = tu_tiny_config(1, 0);
    mom_model *a = tu_new_model(ctx, &c1, 4), *d = tu_new_model(ctx, &cd, 4);
    assert_int_equal(mom_model_n_tensors(a), mom_model_n_tensors(d));
    tu_batch b = tu_make_batch(2, 19, c1.vocab_size, 0x1, 3);
    mom_losses la, ld;
    tu_backward(a, &b.b, &la);
    tu_backward(d, &b.b, &ld);
    assert_true(la.loss == ld.loss);
    assert_true(la.loss > 0);
    for (size_t i = 0; i < mom_model_n_tensors(a); i++) {
        const char *name = mom_model_tensor_name(d, i);
        char split[128];
        split_name(name, 0, split, sizeof split);
        assert_string_equal(split, mom_model_tensor_name(a, i));
        size_t n;
        float *ga = tu_get_tensor(a, split, 1, &n), *gd = tu_get_tensor(d, name, 1, &n);
        assert_memory_equal(ga, gd, n * 4);
        free(ga);
        free(gd);
    }
    tu_free_batch(&b);
    mom_model_destroy(&a);
    mom_model_destroy(&d);
    mom_ctx_destroy(&ctx);
}

/* A one-modality decoupled model saved before names followed the config
 * has the dense names: it still loads, each dense tensor into modality 0's
 * copy. */
static void test_old_one_modality_names_load(void **st)
{
    (void)st;
    mom_ctx *ctx = new_ctx();
    mom_config c1 = tu_tiny_config(1, MOM_DECOUPLE_ALL), cd = tu_tiny_config(1, 0);
    mom_model *d = tu_new_model(ctx, &cd, 4), *o = NULL;
    char dir[256], dense_path[300], old_path[300], err[256], cfg[1024];
    assert_int_equal(tu_make_temp_dir(dir, sizeof dir, "dense"), 0);
    snprintf(dense_path, sizeof dense_path, "%s/dense.safetensors", dir);
    snprintf(old_path, sizeof old_path, "%s/old.safetensors", dir);
    assert_int_equal(mom_model_save(d, dense_path), MOM_OK);
    /* The dense tensors under the decoupled config: what such a save wrote. */
    st_file f;
    assert_int_equal(st_open(dense_path, &f, err, sizeof err), 0);
    st_write_tensor *t = calloc(f.n_tensors, sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < f.n_tensors; i++) {
        t[i].name = f.tensors[i].name;
        t[i].dtype = f.tensors[i].dtype;
        t[i].ndim = f.tensors[i].ndim;
        memcpy(t[i].shape, f.tensors[i].shape, sizeof t[i].shape);
        t[i].data = f.data + f.tensors[i].begin;
    }
    assert_int_equal(mom_config_to_json(&c1, cfg, sizeof cfg), MOM_OK);
    st_meta meta[1] = {{"config", cfg}};
    assert_int_equal(st_write(old_path, t, f.n_tensors, meta, 1, err, sizeof err), 0);
    free(t);
    st_close(&f);
    assert_int_equal(mom_model_load(ctx, old_path, &o), MOM_OK);
    for (size_t i = 0; i < mom_model_n_tensors(d); i++) {
        const char *name = mom_model_tensor_name(d, i);
        char split[128];
        split_name(name, 0, split, sizeof split);
        size_t n, n2;
        float *a = tu_get_tensor(o, split, 0, &n), *b = tu_get_tensor(d, name, 0, &n2);
        assert_int_equal(n, n2);
        assert_memory_equal(a, b, n * 4);
        free(a);
        free(b);
    }
    mom_model_destroy(&o);
    mom_model_destroy(&d);
    tu_remove_tree(dir);
    mom_ctx_destroy(&ctx);
}

static void test_identical_copies_match_dense(void **st)
{
    (void)st;
    mom_ctx *ctx = new_ctx();
    mom_config cs = tu_tiny_config(3, MOM_DECOUPLE_ALL), cd = tu_tiny_config(3, 0);
    mom_model *s = tu_new_model(ctx, &cs, 1), *d = tu_new_model(ctx, &cd, 2);
    s->proj_tile = 4; /* the split model runs many small GEMM pieces, the dense one whole ones */
    s->proj_tile_bwd = 3;
    /* Copy every dense tensor into every modality copy of the split model. */
    for (size_t i = 0; i < mom_model_n_tensors(d); i++) {
        const char *name = mom_model_tensor_name(d, i);
        size_t n;
        float *p = tu_get_tensor(d, name, 0, &n);
        for (int k = 0; k < 3; k++) {
            char sn[128];
            split_name(name, k, sn, sizeof(sn));
            assert_int_equal(mom_model_set_param(s, sn, p, n), MOM_OK);
        }
        free(p);
    }
    tu_batch b = tu_make_batch(3, 23, cs.vocab_size, 0x7, 9);
    mom_losses ls, ld;
    tu_backward(s, &b.b, &ls);
    tu_backward(d, &b.b, &ld);
    assert_true(fabs(ls.loss - ld.loss) <= 1e-6 * fabs(ld.loss));
    for (int k = 0; k < 3; k++) assert_true(fabs(ls.by_modality[k] - ld.by_modality[k]) <= 1e-5 * fabs(ld.by_modality[k]));
    for (size_t i = 0; i < mom_model_n_tensors(d); i++) {
        const char *name = mom_model_tensor_name(d, i);
        size_t n;
        float *gd = tu_get_tensor(d, name, 1, &n), *sum = calloc(n, 4);
        char sn[128];
        split_name(name, 0, sn, sizeof(sn));
        const int copies = strcmp(sn, name) ? 3 : 1;
        for (int k = 0; k < copies; k++) {
            split_name(name, k, sn, sizeof(sn));
            float *gk = tu_get_tensor(s, sn, 1, &n);
            for (size_t j = 0; j < n; j++) sum[j] += gk[j];
            free(gk);
        }
        assert_close(sum, gd, n, 1e-5, name);
        free(gd);
        free(sum);
    }
    tu_free_batch(&b);
    mom_model_destroy(&s);
    mom_model_destroy(&d);
    mom_ctx_destroy(&ctx);
}

/* A model with every projection shared does not care which modality a
 * token has: relabelling all inputs as modality 0 gives the same losses
 * and gradients. The batch is reordered by modality only in the first
 * case, so this holds the conv's and the scan's row maps to the time order
 * they stand for (over several scan chunks; sums in another row order
 * differ by rounding only). */
static void test_modality_labels_only_route(void **st)
{
    (void)st;
    mom_ctx *ctx = new_ctx();
    mom_config c = tu_tiny_config(3, 0);
    c.d_state = 16; /* the AVX-512 scan's register path */
    mom_model *m = tu_new_model(ctx, &c, 9);
    m->chunk = 16;
    tu_batch b = tu_make_batch(2, 150, c.vocab_size, 0x7, 11);
    mom_losses la, lb;
    tu_backward(m, &b.b, &la);
    size_t n;
    float *ga = tu_snapshot(m, 1, &n);
    memset(b.mod, 0, (size_t)2 * 150);
    tu_backward(m, &b.b, &lb);
    float *gb = tu_snapshot(m, 1, &n);
    assert_true(fabs(la.loss - lb.loss) <= 1e-6 * fabs(lb.loss));
    assert_close(ga, gb, n, 1e-5, "gradients, modality-ordered vs time-ordered");
    free(ga);
    free(gb);
    tu_free_batch(&b);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_modality_is_dense),
        cmocka_unit_test(test_old_one_modality_names_load),
        cmocka_unit_test(test_identical_copies_match_dense),
        cmocka_unit_test(test_modality_labels_only_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
