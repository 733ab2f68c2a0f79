/* Checkpoints: tensor names and shapes of DESIGN.md, bit-exact save/load
 * round trips, the gradients file, bit-identical resume through the
 * optimizer file, and the on-disk format (valid safetensors, config in
 * __metadata__, no temporary files left behind). */
#include "json.h"
#include "safetensors.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------ */

/* The small model's sizes (test_util.h) by short names. */
enum { V = TU_SMALL_VOCAB, DM = TU_SMALL_D_MODEL, NS = TU_SMALL_D_STATE };

typedef struct fixture {
    char dir[64];
    char path[320];
    mom_ctx *ctx;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (tu_make_temp_dir(f->dir, sizeof f->dir, "ckpt")) {
        free(f);
        return -1;
    }
    /* One thread: tiny ops under OpenMP spin-waiting crawl when another
     * process holds a core; the resume tests also run with two. */
    if (tu_ctx_create(&f->ctx, 1, NULL) != MOM_OK) {
        rmdir(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_remove_tree(f->dir);
    mom_ctx_destroy(&f->ctx);
    free(f);
    return 0;
}

static const char *in_dir(fixture *f, const char *name)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    return f->path;
}

/* The small model with these projections decoupled and head tied or not. */
static mom_config tiny_config(unsigned decouple, int tie)
{
    mom_config c = tu_small_config();
    c.decouple = decouple;
    c.tie_embeddings = tie;
    return c;
}

/* Every parameter of a and b is the same, bit for bit. */
static void assert_same_params(mom_model *a, mom_model *b)
{
    size_t na, nb;
    float *pa = tu_snapshot(a, 0, &na), *pb = tu_snapshot(b, 0, &nb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        if (memcmp(&pa[i], &pb[i], sizeof(float))) fail_msg("parameter element %zu: %.9g vs %.9g", i, pa[i], pb[i]);
    free(pa);
    free(pb);
}

static void assert_shape(mom_model *m, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    int nd = -1;
    int64_t sh[4] = {-1, -1, -1, -1};
    mom_status s = mom_model_tensor_shape(m, name, &nd, sh);
    if (s != MOM_OK) fail_msg("tensor %s missing (%d)", name, (int)s);
    assert_int_equal(nd, ndim);
    int64_t want[3] = {d0, d1, d2};
    for (int d = 0; d < ndim; d++)
        if (sh[d] != want[d]) fail_msg("%s: dim %d is %lld, want %lld", name, d, (long long)sh[d], (long long)want[d]);
}

static void assert_absent(mom_model *m, const char *name)
{
    int nd;
    int64_t sh[4];
    assert_int_equal(mom_model_tensor_shape(m, name, &nd, sh), MOM_ERR_NOT_FOUND);
    for (size_t i = 0; i < mom_model_n_tensors(m); i++)
        if (!strcmp(mom_model_tensor_name(m, i), name)) fail_msg("%s is listed but should not exist", name);
}

static void assert_config_equal(const mom_config *a, const mom_config *b)
{
    assert_int_equal(a->n_modalities, b->n_modalities);
    assert_int_equal(a->vocab_size, b->vocab_size);
    assert_int_equal(a->d_model, b->d_model);
    assert_int_equal(a->n_layer, b->n_layer);
    assert_int_equal(a->d_state, b->d_state);
    assert_int_equal(a->d_conv, b->d_conv);
    assert_int_equal(a->expand, b->expand);
    assert_int_equal(a->dt_rank, b->dt_rank);
    assert_int_equal(a->decouple, b->decouple);
    assert_int_equal(a->tie_embeddings, b->tie_embeddings);
    assert_memory_equal(&a->norm_eps, &b->norm_eps, sizeof(float));
}

/* Every expected tensor name for the config, with its shape; checks the
 * model holds exactly these (same count, each present with its shape). */
static void check_table(mom_model *m, const mom_config *c)
{
    const int Di = 2 * c->d_model, R = (c->d_model + 15) / 16, X = R + 2 * c->d_state;
    size_t expected = 0;
    char nm[128];
    assert_shape(m, "embedding.weight", 2, c->vocab_size, c->d_model, 0);
    expected++;
    for (int i = 0; i < c->n_layer; i++) {
        snprintf(nm, sizeof nm, "layers.%d.norm.weight", i);
        assert_shape(m, nm, 1, c->d_model, 0, 0);
        snprintf(nm, sizeof nm, "layers.%d.mixer.conv1d.weight", i);
        assert_shape(m, nm, 3, Di, 1, c->d_conv);
        snprintf(nm, sizeof nm, "layers.%d.mixer.conv1d.bias", i);
        assert_shape(m, nm, 1, Di, 0, 0);
        snprintf(nm, sizeof nm, "layers.%d.mixer.A_log", i);
        assert_shape(m, nm, 2, Di, c->d_state, 0);
        snprintf(nm, sizeof nm, "layers.%d.mixer.D", i);
        assert_shape(m, nm, 1, Di, 0, 0);
        expected += 5;
        static const struct { unsigned bit; const char *what; int out, in; } projs[4] = {
            {MOM_DECOUPLE_IN, "in_proj", 0, 0}, {MOM_DECOUPLE_X, "x_proj", 0, 0},
            {MOM_DECOUPLE_DT, "dt_proj", 0, 0}, {MOM_DECOUPLE_OUT, "out_proj", 0, 0}};
        for (int p = 0; p < 4; p++) {
            int64_t out, in;
            switch (p) {
            case 0: out = 2 * Di; in = c->d_model; break;
            case 1: out = X; in = Di; break;
            case 2: out = Di; in = R; break;
            default: out = c->d_model; in = Di; break;
            }
            const int split = (c->decouple & projs[p].bit) != 0; /* even with one modality: names follow the config */
            const int has_bias = p == 2;
            if (split) {
                for (int k = 0; k < c->n_modalities; k++) {
                    snprintf(nm, sizeof nm, "layers.%d.mixer.local_experts_%s.%d.weight", i, projs[p].what, k);
                    assert_shape(m, nm, 2, out, in, 0);
                    expected++;
                    if (has_bias) {
                        snprintf(nm, sizeof nm, "layers.%d.mixer.local_experts_%s.%d.bias", i, projs[p].what, k);
                        assert_shape(m, nm, 1, out, 0, 0);
                        expected++;
                    }
                }
                snprintf(nm, sizeof nm, "layers.%d.mixer.local_experts_%s.%d.weight", i, projs[p].what, c->n_modalities);
                assert_absent(m, nm);
                snprintf(nm, sizeof nm, "layers.%d.mixer.%s.weight", i, projs[p].what);
                assert_absent(m, nm);
                if (has_bias) {
                    snprintf(nm, sizeof nm, "layers.%d.mixer.%s.bias", i, projs[p].what);
                    assert_absent(m, nm);
                }
            } else {
                snprintf(nm, sizeof nm, "layers.%d.mixer.%s.weight", i, projs[p].what);
                assert_shape(m, nm, 2, out, in, 0);
                expected++;
                if (has_bias) {
                    snprintf(nm, sizeof nm, "layers.%d.mixer.%s.bias", i, projs[p].what);
                    assert_shape(m, nm, 1, out, 0, 0);
                    expected++;
                }
                snprintf(nm, sizeof nm, "layers.%d.mixer.local_experts_%s.0.weight", i, projs[p].what);
                assert_absent(m, nm);
            }
        }
    }
    assert_shape(m, "norm_f.weight", 1, c->d_model, 0, 0);
    expected++;
    if (c->tie_embeddings) {
        assert_absent(m, "lm_head.weight");
    } else {
        assert_shape(m, "lm_head.weight", 2, c->vocab_size, c->d_model, 0);
        expected++;
    }
    snprintf(nm, sizeof nm, "layers.%d.norm.weight", c->n_layer);
    assert_absent(m, nm);
    assert_int_equal(mom_model_n_tensors(m), expected);
    assert_null(mom_model_tensor_name(m, expected));
    /* names are unique */
    for (size_t i = 0; i < expected; i++)
        for (size_t j = i + 1; j < expected; j++)
            assert_string_not_equal(mom_model_tensor_name(m, i), mom_model_tensor_name(m, j));
}

/* Saves m, loads it back and checks names, shapes, config and every bit. */
static void roundtrip(fixture *f, mom_model *m, const char *file)
{
    const char *path = in_dir(f, file);
    char p[320];
    snprintf(p, sizeof p, "%s", path);
    assert_int_equal(mom_model_save(m, p), MOM_OK);
    mom_model *l = NULL;
    mom_status s = mom_model_load(f->ctx, p, &l);
    if (s) fail_msg("load: %s", mom_ctx_last_error(f->ctx));
    assert_non_null(l);
    assert_config_equal(mom_model_config(m), mom_model_config(l));
    assert_int_equal(mom_model_n_tensors(l), mom_model_n_tensors(m));
    for (size_t i = 0; i < mom_model_n_tensors(m); i++) {
        const char *nm = mom_model_tensor_name(m, i);
        assert_string_equal(nm, mom_model_tensor_name(l, i));
        int na, nb;
        int64_t sa[4], sb[4];
        assert_int_equal(mom_model_tensor_shape(m, nm, &na, sa), MOM_OK);
        assert_int_equal(mom_model_tensor_shape(l, nm, &nb, sb), MOM_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(sa, sb, sizeof(int64_t) * (size_t)na);
        size_t n = tu_tensor_size(m, nm);
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(mom_model_get_param(m, nm, a, n), MOM_OK);
        assert_int_equal(mom_model_get_param(l, nm, b, n), MOM_OK);
        if (memcmp(a, b, n * sizeof *a)) fail_msg("%s differs after the round trip", nm);
        free(a);
        free(b);
    }
    mom_model_info ia, ib;
    mom_model_get_info(m, &ia);
    mom_model_get_info(l, &ib);
    assert_int_equal(ia.n_params, ib.n_params);
    /* the loaded model computes the same loss, bit for bit */
    tu_small_batch bb;
    tu_make_small_batch(&bb, 99);
    mom_losses la, lb;
    assert_int_equal(mom_model_forward(m, &bb.b, &la), MOM_OK);
    assert_int_equal(mom_model_forward(l, &bb.b, &lb), MOM_OK);
    assert_memory_equal(&la.loss, &lb.loss, sizeof(double));
    mom_model_destroy(&l);
    assert_null(l);
}

/* Some training so that the parameters are no longer the init. */
static void train_steps(mom_model *m, int n, uint64_t seed0)
{
    mom_optim_settings o;
    mom_optim_default_settings(&o);
    o.warmup_steps = 0;
    for (int i = 0; i < n; i++) {
        tu_small_batch bb;
        tu_make_small_batch(&bb, seed0 + (uint64_t)i);
        mom_losses l;
        tu_backward(m, &bb.b, &l);
        assert_int_equal(mom_model_step(m, &o, NULL), MOM_OK);
    }
}

/* ---- tests --------------------------------------------------------------- */

static void test_names_all_decoupled_tied(void **state)
{
    fixture *f = *state;
    mom_config c = tiny_config(MOM_DECOUPLE_ALL, 1);
    mom_model *m = tu_new_model(f->ctx, &c, 1);
    check_table(m, &c);
    /* the brief's named examples */
    assert_shape(m, "layers.1.mixer.local_experts_dt_proj.2.bias", 1, 2 * DM, 0, 0);
    assert_shape(m, "layers.1.mixer.local_experts_dt_proj.2.weight", 2, 2 * DM, 1, 0);
    assert_shape(m, "layers.0.mixer.conv1d.weight", 3, 2 * DM, 1, 4);
    assert_shape(m, "layers.0.mixer.A_log", 2, 2 * DM, NS, 0);
    assert_shape(m, "layers.0.mixer.local_experts_in_proj.0.weight", 2, 4 * DM, DM, 0);
    assert_shape(m, "layers.1.mixer.local_experts_x_proj.2.weight", 2, 1 + 2 * NS, 2 * DM, 0);
    assert_shape(m, "layers.0.mixer.local_experts_out_proj.1.weight", 2, DM, 2 * DM, 0);
    assert_absent(m, "layers.0.mixer.in_proj.weight");
    assert_absent(m, "layers.0.mixer.x_proj.weight");
    assert_absent(m, "layers.0.mixer.dt_proj.weight");
    assert_absent(m, "layers.0.mixer.dt_proj.bias");
    assert_absent(m, "layers.0.mixer.out_proj.weight");
    assert_absent(m, "lm_head.weight");
    /* 1 + 2 * (5 + 3 + 3 + 6 + 3) + 1 */
    assert_int_equal(mom_model_n_tensors(m), 42);
    /* A_log = log(1..d_state) per channel, D = 1 */
    float a[2 * DM * NS], d[2 * DM];
    assert_int_equal(mom_model_get_param(m, "layers.0.mixer.A_log", a, 2 * DM * NS), MOM_OK);
    assert_int_equal(mom_model_get_param(m, "layers.0.mixer.D", d, 2 * DM), MOM_OK);
    for (int i = 0; i < 2 * DM; i++) {
        assert_true(d[i] == 1.0f);
        for (int n = 0; n < NS; n++) assert_true(fabsf(a[i * NS + n] - logf((float)(n + 1))) < 1e-6f);
    }
    mom_model_destroy(&m);
    assert_null(m);
}

static void test_names_none_decoupled_untied(void **state)
{
    fixture *f = *state;
    mom_config c = tiny_config(0, 0);
    mom_model *m = tu_new_model(f->ctx, &c, 1);
    check_table(m, &c);
    assert_shape(m, "layers.0.mixer.in_proj.weight", 2, 4 * DM, DM, 0);
    assert_shape(m, "layers.1.mixer.x_proj.weight", 2, 1 + 2 * NS, 2 * DM, 0);
    assert_shape(m, "layers.1.mixer.dt_proj.weight", 2, 2 * DM, 1, 0);
    assert_shape(m, "layers.1.mixer.dt_proj.bias", 1, 2 * DM, 0, 0);
    assert_shape(m, "layers.0.mixer.out_proj.weight", 2, DM, 2 * DM, 0);
    assert_shape(m, "lm_head.weight", 2, V, DM, 0);
    assert_absent(m, "layers.1.mixer.local_experts_dt_proj.2.bias");
    assert_absent(m, "layers.0.mixer.local_experts_in_proj.0.weight");
    for (size_t i = 0; i < mom_model_n_tensors(m); i++)
        assert_null(strstr(mom_model_tensor_name(m, i), "local_experts"));
    /* 1 + 2 * (5 + 1 + 1 + 2 + 1) + 1 + 1 */
    assert_int_equal(mom_model_n_tensors(m), 23);
    mom_model_destroy(&m);
}

static void test_names_mixed(void **state)
{
    fixture *f = *state;
    mom_config c = tiny_config(MOM_DECOUPLE_IN | MOM_DECOUPLE_DT, 1);
    mom_model *m = tu_new_model(f->ctx, &c, 1);
    check_table(m, &c);
    mom_model_destroy(&m);
    /* one modality: a decoupled projection is still named as decoupled, so
     * that names and config agree (the reference module loads it strictly) */
    c = tiny_config(MOM_DECOUPLE_ALL, 1);
    c.n_modalities = 1;
    assert_int_equal(mom_model_create(f->ctx, &c, 1, &m), MOM_OK);
    check_table(m, &c);
    assert_shape(m, "layers.0.mixer.local_experts_in_proj.0.weight", 2, 4 * DM, DM, 0);
    assert_absent(m, "layers.0.mixer.in_proj.weight");
    mom_model_destroy(&m);
}

static void test_roundtrip_decoupled_tied(void **state)
{
    fixture *f = *state;
    mom_config c = tiny_config(MOM_DECOUPLE_ALL, 1);
    mom_model *m = tu_new_model(f->ctx, &c, 7);
    roundtrip(f, m, "init.safetensors");
    train_steps(m, 2, 100);
    roundtrip(f, m, "trained.safetensors");
    /* the loaded model's table is the right one too */
    mom_model *l = NULL;
    char p[320];
    snprintf(p, sizeof p, "%s", in_dir(f, "trained.safetensors"));
    assert_int_equal(mom_model_load(f->ctx, p, &l), MOM_OK);
    check_table(l, &c);
    mom_model_destroy(&l);
    mom_model_destroy(&m);
}

static void test_roundtrip_dense_untied(void **state)
{
    fixture *f = *state;
    mom_config c = tiny_config(0, 0);
    c.d_conv = 3;
    c.dt_rank = 2;
    c.norm_eps = 1e-6f;
    mom_model *m = tu_new_model(f->ctx, &c, 8);
    train_steps(m, 2, 200);
    roundtrip(f, m, "dense.safetensors");
    mom_model *l = NULL;
    char p[320];
    snprintf(p, sizeof p, "%s", in_dir(f, "dense.safetensors"));
    assert_int_equal(mom_model_load(f->ctx, p, &l), MOM_OK);
    const mom_config *lc = mom_model_config(l);
    assert_int_equal(lc->d_conv, 3);
    assert_int_equal(lc->dt_rank, 2);
    assert_int_equal(lc->tie_embeddings, 0);
    assert_int_equal(lc->decouple, 0);
    assert_true(lc->norm_eps == 1e-6f);
    assert_shape(l, "lm_head.weight", 2, V, DM, 0);
    assert_shape(l, "layers.0.mixer.conv1d.weight", 3, 2 * DM, 1, 3);
    assert_shape(l, "layers.0.mixer.dt_proj.weight", 2, 2 * DM, 2, 0);
    mom_model_destroy(&l);
    mom_model_destroy(&m);
}

static void test_save_overwrites(void **state)
{
    fixture *f = *state;
    mom_config c = tiny_config(MOM_DECOUPLE_ALL, 1);
    mom_model *a = NULL, *b = NULL, *l = NULL;
    assert_int_equal(mom_model_create(f->ctx, &c, 1, &a), MOM_OK);
    assert_int_equal(mom_model_create(f->ctx, &c, 2, &b), MOM_OK);
    char p[320];
    snprintf(p, sizeof p, "%s", in_dir(f, "m.safetensors"));
    assert_int_equal(mom_model_save(a, p), MOM_OK);
    assert_int_equal(mom_model_save(b, p), MOM_OK);
    assert_int_equal(mom_model_load(f->ctx, p, &l), MOM_OK);
    assert_same_params(b, l);
    mom_model_destroy(&a);
    mom_model_destroy(&b);
    mom_model_destroy(&l);
}

static void test_grads_file(void **state)
{
    fixture *f = *state;
    mom_config c = tiny_config(MOM_DECOUPLE_ALL, 1);
    mom_model *m = tu_new_model(f->ctx, &c, 3);
    tu_small_batch bb;
    tu_make_small_batch(&bb, 5);
    mom_losses l;
    tu_backward(m, &bb.b, &l);
    assert_true(isfinite(l.loss));
    char p[320];
    snprintf(p, sizeof p, "%s", in_dir(f, "grads.safetensors"));
    assert_int_equal(mom_model_save_grads(m, p), MOM_OK);
    st_file sf;
    char err[512];
    if (st_open(p, &sf, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(sf.n_tensors, mom_model_n_tensors(m));
    int nonzero = 0;
    for (size_t i = 0; i < mom_model_n_tensors(m); i++) {
        const char *nm = mom_model_tensor_name(m, i);
        const st_tensor_info *ti = st_find(&sf, nm);
        if (!ti) fail_msg("gradient file lacks %s", nm);
        assert_int_equal(ti->dtype, ST_F32);
        int nd;
        int64_t sh[4];
        assert_int_equal(mom_model_tensor_shape(m, nm, &nd, sh), MOM_OK);
        assert_int_equal(ti->ndim, nd);
        for (int d = 0; d < nd; d++) assert_int_equal(ti->shape[d], sh[d]);
        size_t n = tu_tensor_size(m, nm);
        assert_int_equal(ti->end - ti->begin, n * sizeof(float));
        float *g = malloc(n * sizeof *g);
        assert_non_null(g);
        assert_int_equal(mom_model_get_grad(m, nm, g, n), MOM_OK);
        if (memcmp(g, sf.data + ti->begin, n * sizeof *g)) fail_msg("gradient of %s differs in the file", nm);
        for (size_t k = 0; k < n; k++) nonzero |= g[k] != 0.0f;
        free(g);
    }
    assert_true(nonzero);
    const char *cfg = st_meta_get(&sf, "config");
    assert_non_null(cfg);
    mom_config pc;
    assert_int_equal(mom_config_parse_json(f->ctx, cfg, strlen(cfg), &pc), MOM_OK);
    assert_config_equal(&pc, mom_model_config(m));
    st_close(&sf);
    /* the gradients file is not a model: parameters are untouched by saving */
    mom_model_destroy(&m);
}

static void run_steps(mom_model *m, int from, int to, double *losses)
{
    mom_optim_settings o;
    mom_optim_default_settings(&o);
    o.warmup_steps = 3;
    o.total_steps = 10;
    for (int i = from; i < to; i++) {
        tu_small_batch bb;
        tu_make_small_batch(&bb, 1000 + (uint64_t)i);
        mom_losses l;
        tu_backward(m, &bb.b, &l);
        float gn = -1.0f;
        assert_int_equal(mom_model_step(m, &o, &gn), MOM_OK);
        assert_true(isfinite(gn) && gn > 0.0f);
        assert_int_equal(mom_model_steps_done(m), i + 1);
        losses[i] = l.loss;
    }
}

static void resume_case(fixture *f, unsigned decouple, int tie, int threads)
{
    mom_ctx *saved = f->ctx, *ctx2 = NULL;
    assert_int_equal(tu_ctx_create(&ctx2, threads, NULL), MOM_OK);
    f->ctx = ctx2;
    mom_config c = tiny_config(decouple, tie);
    double la[10], lb[10];
    mom_model *a = NULL, *b = NULL;
    assert_int_equal(mom_model_create(f->ctx, &c, 42, &a), MOM_OK);
    run_steps(a, 0, 10, la);
    assert_int_equal(mom_model_steps_done(a), 10);

    assert_int_equal(mom_model_create(f->ctx, &c, 42, &b), MOM_OK);
    assert_int_equal(mom_model_steps_done(b), 0);
    run_steps(b, 0, 5, lb);
    char pm[320], po[320];
    snprintf(pm, sizeof pm, "%s", in_dir(f, "resume.safetensors"));
    snprintf(po, sizeof po, "%s", in_dir(f, "resume.optim.safetensors"));
    const uint64_t rng = 0xfedcba9876543210ULL;
    assert_int_equal(mom_model_save(b, pm), MOM_OK);
    assert_int_equal(mom_model_save_optim(b, po, rng), MOM_OK);
    mom_model_destroy(&b);
    assert_null(b);

    assert_int_equal(mom_model_load(f->ctx, pm, &b), MOM_OK);
    assert_int_equal(mom_model_steps_done(b), 0); /* the model file has no step */
    uint64_t got = 0;
    assert_int_equal(mom_model_load_optim(b, po, &got), MOM_OK);
    assert_true(got == rng);
    assert_int_equal(mom_model_steps_done(b), 5);
    /* rng_state may be NULL */
    assert_int_equal(mom_model_load_optim(b, po, NULL), MOM_OK);
    assert_int_equal(mom_model_steps_done(b), 5);
    run_steps(b, 5, 10, lb);
    assert_int_equal(mom_model_steps_done(b), 10);

    for (int i = 0; i < 10; i++)
        if (memcmp(&la[i], &lb[i], sizeof(double))) fail_msg("loss of step %d: %.17g vs %.17g", i, la[i], lb[i]);
    assert_same_params(a, b);
    /* the optimizer file round-trips m and v: saving again gives the same bytes */
    char po2[320];
    snprintf(po2, sizeof po2, "%s", in_dir(f, "a.optim.safetensors"));
    assert_int_equal(mom_model_save_optim(a, po2, 0), MOM_OK);
    st_file fa, fb;
    char err[512];
    snprintf(po, sizeof po, "%s", in_dir(f, "b.optim.safetensors"));
    assert_int_equal(mom_model_save_optim(b, po, 0), MOM_OK);
    if (st_open(po2, &fa, err, sizeof err)) fail_msg("%s", err);
    if (st_open(po, &fb, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(fa.size, fb.size);
    assert_memory_equal(fa.base, fb.base, fa.size);
    const st_tensor_info *ts = st_find(&fa, "step");
    assert_non_null(ts);
    assert_int_equal(ts->dtype, ST_I64);
    int64_t step;
    memcpy(&step, fa.data + ts->begin, sizeof step);
    assert_int_equal(step, 10);
    st_close(&fa);
    st_close(&fb);
    mom_model_destroy(&a);
    mom_model_destroy(&b);
    f->ctx = saved;
    mom_ctx_destroy(&ctx2);
    assert_null(ctx2);
    /* back to the fixture's thread count */
    assert_int_equal(tu_ctx_create(&ctx2, 1, NULL), MOM_OK);
    mom_ctx_destroy(&ctx2);
}

static void test_resume_decoupled(void **state) { resume_case(*state, MOM_DECOUPLE_ALL, 1, 1); }
static void test_resume_dense_untied(void **state) { resume_case(*state, 0, 0, 1); }
static void test_resume_two_threads(void **state) { resume_case(*state, MOM_DECOUPLE_ALL, 1, 2); }

static void test_rng_state_values(void **state)
{
    fixture *f = *state;
    mom_config c = tiny_config(MOM_DECOUPLE_ALL, 1);
    mom_model *m = tu_new_model(f->ctx, &c, 1);
    const uint64_t vals[] = {0, 1, 0x8000000000000000ULL, UINT64_MAX, 0x0123456789abcdefULL};
    char p[320];
    snprintf(p, sizeof p, "%s", in_dir(f, "o.safetensors"));
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        assert_int_equal(mom_model_save_optim(m, p, vals[i]), MOM_OK);
        uint64_t got = vals[i] ^ 0x5555;
        assert_int_equal(mom_model_load_optim(m, p, &got), MOM_OK);
        assert_true(got == vals[i]);
    }
    assert_int_equal(mom_model_steps_done(m), 0);
    mom_model_destroy(&m);
}

/* The raw file: u64 LE header length, JSON object header, contiguous data. */
static void check_safetensors_file(fixture *f, const char *path, mom_model *m, const char *kind)
{
    size_t size;
    uint8_t *buf = tu_read_file(path, &size);
    assert_true(size >= 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    assert_true(hlen > 2 && hlen <= size - 8);
    assert_int_equal((8 + hlen) % 8, 0);
    assert_int_equal(buf[8], '{');
    json_value *root = NULL;
    char err[160];
    if (json_parse((const char *)buf + 8, (size_t)hlen, &root, err, sizeof err)) fail_msg("header JSON: %s", err);
    assert_int_equal(root->type, JSON_OBJECT);
    const json_value *meta = json_get(root, "__metadata__");
    assert_non_null(meta);
    assert_int_equal(meta->type, JSON_OBJECT);
    for (size_t i = 0; i < meta->n_keys; i++) assert_int_equal(meta->vals[i].type, JSON_STRING);
    const json_value *cfg = json_get(meta, "config");
    assert_non_null(cfg);
    assert_int_equal(cfg->type, JSON_STRING);
    mom_config pc;
    mom_status s = mom_config_parse_json(f->ctx, cfg->str, cfg->str_len, &pc);
    if (s) fail_msg("config metadata refused: %s", mom_ctx_last_error(f->ctx));
    assert_config_equal(&pc, mom_model_config(m));
    const json_value *lk = json_get(meta, "libmom");
    if (kind) {
        assert_non_null(lk);
        assert_string_equal(lk->str, kind);
    }
    /* tensors: known dtype, offsets contiguous and covering all the data */
    uint64_t data = size - 8 - hlen, covered = 0;
    size_t nt = 0;
    for (size_t i = 0; i < root->n_keys; i++) {
        if (!strcmp(root->keys[i], "__metadata__")) continue;
        nt++;
        const json_value *t = &root->vals[i];
        assert_int_equal(t->type, JSON_OBJECT);
        const json_value *dt = json_get(t, "dtype"), *sh = json_get(t, "shape"), *off = json_get(t, "data_offsets");
        assert_non_null(dt);
        assert_non_null(sh);
        assert_non_null(off);
        assert_int_equal(off->type, JSON_ARRAY);
        assert_int_equal(off->n_items, 2);
        uint64_t b = (uint64_t)off->items[0].integer, e = (uint64_t)off->items[1].integer;
        assert_true(b <= e && e <= data);
        uint64_t n = 1;
        for (size_t d = 0; d < sh->n_items; d++) n *= (uint64_t)sh->items[d].integer;
        size_t es = !strcmp(dt->str, "F32") ? 4 : (!strcmp(dt->str, "I64") || !strcmp(dt->str, "U64")) ? 8 : 0;
        assert_true(es > 0);
        assert_int_equal(e - b, n * es);
        assert_int_equal(b % es, 0);
        covered += e - b;
    }
    assert_int_equal(covered, data);
    if (!kind || strcmp(kind, "optimizer")) assert_int_equal(nt, mom_model_n_tensors(m));
    else assert_int_equal(nt, 4);
    json_free(root);
    free(buf);
}

static void test_file_format(void **state)
{
    fixture *f = *state;
    mom_config c = tiny_config(MOM_DECOUPLE_ALL, 1);
    mom_model *m = tu_new_model(f->ctx, &c, 11);
    train_steps(m, 1, 300);
    char pm[320], po[320], pg[320];
    snprintf(pm, sizeof pm, "%s", in_dir(f, "model.safetensors"));
    snprintf(po, sizeof po, "%s", in_dir(f, "optim.safetensors"));
    snprintf(pg, sizeof pg, "%s", in_dir(f, "grads.safetensors"));
    for (int rep = 0; rep < 2; rep++) { /* the second time over existing files */
        assert_int_equal(mom_model_save(m, pm), MOM_OK);
        assert_int_equal(mom_model_save_optim(m, po, 77), MOM_OK);
        assert_int_equal(mom_model_save_grads(m, pg), MOM_OK);
        assert_int_equal(tu_count_entries(f->dir, ".tmp"), 3);
    }
    check_safetensors_file(f, pm, m, "model");
    check_safetensors_file(f, po, m, "optimizer");
    check_safetensors_file(f, pg, m, "gradients");
    /* the library's own reader agrees */
    st_file sf;
    char err[512];
    if (st_open(pm, &sf, err, sizeof err)) fail_msg("%s", err);
    assert_non_null(st_find(&sf, "embedding.weight"));
    assert_null(st_find(&sf, "lm_head.weight"));
    assert_string_equal(st_meta_get(&sf, "format"), "pt");
    st_close(&sf);
    /* saving a second model in the same folder adds exactly one file */
    mom_model *u = NULL;
    c = tiny_config(0, 0);
    assert_int_equal(mom_model_create(f->ctx, &c, 12, &u), MOM_OK);
    char pu[320];
    snprintf(pu, sizeof pu, "%s", in_dir(f, "untied.safetensors"));
    assert_int_equal(mom_model_save(u, pu), MOM_OK);
    check_safetensors_file(f, pu, u, "model");
    assert_int_equal(tu_count_entries(f->dir, ".tmp"), 4);
    mom_model_destroy(&u);
    mom_model_destroy(&m);
}

/* A tied model's file may also carry lm_head.weight when it equals the
 * embedding (as a PyTorch export of a tied module does). */
static void test_tied_file_with_lm_head_copy(void **state)
{
    fixture *f = *state;
    mom_config c = tiny_config(MOM_DECOUPLE_ALL, 1);
    mom_model *m = tu_new_model(f->ctx, &c, 13);
    size_t n = (size_t)V * DM;
    float *emb = malloc(n * sizeof *emb);
    assert_non_null(emb);
    assert_int_equal(mom_model_get_param(m, "embedding.weight", emb, n), MOM_OK);
    /* write the model's tensors plus lm_head.weight with st_write */
    size_t nt = mom_model_n_tensors(m), np;
    float *all = tu_snapshot(m, 0, &np);
    st_write_tensor *t = calloc(nt + 1, sizeof *t);
    assert_non_null(t);
    size_t o = 0;
    for (size_t i = 0; i < nt; i++) {
        t[i].name = mom_model_tensor_name(m, i);
        t[i].dtype = ST_F32;
        assert_int_equal(mom_model_tensor_shape(m, t[i].name, &t[i].ndim, t[i].shape), MOM_OK);
        t[i].data = all + o;
        o += tu_tensor_size(m, t[i].name);
    }
    t[nt].name = "lm_head.weight";
    t[nt].dtype = ST_F32;
    t[nt].ndim = 2;
    t[nt].shape[0] = V;
    t[nt].shape[1] = DM;
    t[nt].data = emb;
    char cfg[1024], err[512];
    assert_int_equal(mom_config_to_json(mom_model_config(m), cfg, sizeof cfg), MOM_OK);
    st_meta meta[1] = {{"config", cfg}};
    char p[320];
    snprintf(p, sizeof p, "%s", in_dir(f, "withhead.safetensors"));
    if (st_write(p, t, nt + 1, meta, 1, err, sizeof err)) fail_msg("%s", err);
    mom_model *l = NULL;
    if (mom_model_load(f->ctx, p, &l)) fail_msg("%s", mom_ctx_last_error(f->ctx));
    size_t nl;
    float *pl = tu_snapshot(l, 0, &nl);
    assert_int_equal(nl, np);
    assert_memory_equal(pl, all, np * sizeof(float));
    free(pl);
    mom_model_destroy(&l);
    /* a different lm_head is refused for a tied config */
    emb[3] += 1.0f;
    if (st_write(p, t, nt + 1, meta, 1, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(mom_model_load(f->ctx, p, &l), MOM_ERR_FORMAT);
    assert_null(l);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "lm_head.weight"));
    free(t);
    free(all);
    free(emb);
    mom_model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_names_all_decoupled_tied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_none_decoupled_untied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_decoupled_tied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_dense_untied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_overwrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grads_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_decoupled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_dense_untied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_two_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rng_state_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tied_file_with_lm_head_copy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
