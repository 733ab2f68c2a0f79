/* Bad input of every kind (NULL and out-of-range arguments to every public
 * function are the rows of test_api_table.c): configs and datasets that do
 * not fit, batches with ids out of range,
 * truncated and lying checkpoint and optimizer files, saves that cannot
 * succeed, non-finite gradients and invalid optimizer settings. Each must
 * give an error status and a message naming the bad value, must not crash,
 * and must change nothing (parameters, gradients, optimizer state, step,
 * files). */
#include "ctx.h"
#include "json.h"
#include "model.h"
#include "safetensors.h"
#include "test_util.h"

/* The small model's sizes (test_util.h) by short names. */
enum { V = TU_SMALL_VOCAB, DM = TU_SMALL_D_MODEL, NS = TU_SMALL_D_STATE, NMOD = TU_SMALL_NMOD };
enum { BB = TU_SMALL_B, TT = TU_SMALL_T };

/* ---- fixture ------------------------------------------------------------- */

typedef struct fixture {
    char dir[64];
    char path[320];
    mom_ctx *ctx;
    mom_model *m;
} fixture;

/* One training step so that params, grads and moments are all non-trivial. */
static void train_one(mom_model *m, uint64_t seed)
{
    tu_small_batch bb;
    tu_make_small_batch(&bb, seed);
    mom_losses l;
    mom_optim_settings o;
    mom_optim_default_settings(&o);
    o.warmup_steps = 0;
    tu_backward(m, &bb.b, &l);
    assert_int_equal(mom_model_step(m, &o, NULL), MOM_OK);
    /* leave fresh gradients in the buffer */
    tu_make_small_batch(&bb, seed + 1);
    assert_int_equal(mom_model_backward(m, &bb.b, 1.0f, &l), MOM_OK);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (tu_make_temp_dir(f->dir, sizeof f->dir, "bad")) {
        free(f);
        return -1;
    }
    /* One thread: tiny ops under OpenMP spin-waiting crawl when another
     * process holds a core. */
    mom_config c = tu_small_config();
    if (tu_ctx_create(&f->ctx, 1, NULL) != MOM_OK || mom_model_create(f->ctx, &c, 5, &f->m) != MOM_OK) {
        mom_ctx_destroy(&f->ctx);
        rmdir(f->dir);
        free(f);
        return -1;
    }
    train_one(f->m, 10);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tu_remove_tree(f->dir);
    mom_model_destroy(&f->m);
    mom_ctx_destroy(&f->ctx);
    free(f);
    return 0;
}

/* dir/name, in a fresh static buffer for each of a few slots. */
static const char *in_dir(fixture *f, const char *name)
{
    static char bufs[8][320];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, 320, "%s/%s", f->dir, name);
    return p;
}

/* ---- the whole state of a model, to prove nothing changed ----------------- */

typedef struct state_snap {
    float *p, *g, *am, *av;
    size_t n;
    int64_t step;
    mom_config cfg;
} state_snap;

static state_snap take(mom_model *m)
{
    state_snap s;
    s.n = m->n_params;
    s.p = malloc(s.n * sizeof(float));
    s.g = malloc(s.n * sizeof(float));
    s.am = malloc(s.n * sizeof(float));
    s.av = malloc(s.n * sizeof(float));
    assert_true(s.p && s.g && s.am && s.av);
    bv a = {m->params, 0}, b = {m->grads, 0}, c = {m->adam_m, 0}, d = {m->adam_v, 0};
    m->be->download(m->be, s.p, a, s.n);
    m->be->download(m->be, s.g, b, s.n);
    m->be->download(m->be, s.am, c, s.n);
    m->be->download(m->be, s.av, d, s.n);
    s.step = mom_model_steps_done(m);
    s.cfg = m->cfg;
    return s;
}

static void drop(state_snap *s)
{
    free(s->p);
    free(s->g);
    free(s->am);
    free(s->av);
}

static void assert_unchanged(mom_model *m, const state_snap *before, const char *what)
{
    state_snap now = take(m);
    if (now.n != before->n) fail_msg("%s: n_params changed", what);
    if (memcmp(now.p, before->p, now.n * sizeof(float))) fail_msg("%s: parameters changed", what);
    if (memcmp(now.g, before->g, now.n * sizeof(float))) fail_msg("%s: gradients changed", what);
    if (memcmp(now.am, before->am, now.n * sizeof(float))) fail_msg("%s: adam m changed", what);
    if (memcmp(now.av, before->av, now.n * sizeof(float))) fail_msg("%s: adam v changed", what);
    if (now.step != before->step) fail_msg("%s: step changed %lld -> %lld", what, (long long)before->step, (long long)now.step);
    if (memcmp(&now.cfg, &before->cfg, sizeof now.cfg)) fail_msg("%s: config changed", what);
    drop(&now);
}

/* Status `got` equals `want`, and the context's message is non-empty and
 * contains each of the given substrings (NULL-terminated list). */
static void expect_err(mom_ctx *ctx, mom_status got, mom_status want, const char *what, ...)
{
    if (got != want)
        fail_msg("%s: status %d (%s), want %d (%s); message: %s", what, (int)got, mom_status_str(got), (int)want,
                 mom_status_str(want), mom_ctx_last_error(ctx));
    const char *msg = mom_ctx_last_error(ctx);
    assert_non_null(msg);
    if (!msg[0]) fail_msg("%s: empty error message", what);
    va_list ap;
    va_start(ap, what);
    const char *sub;
    while ((sub = va_arg(ap, const char *)) != NULL)
        if (!strstr(msg, sub)) fail_msg("%s: message \"%s\" lacks \"%s\"", what, msg, sub);
    va_end(ap);
    mom_clear_error(ctx);
}

/* ---- datasets that do not fit the model ---------------------------------- *
 * NULL and out-of-range arguments of every public function are the rows of
 * tests/test_api_table.c. */

static void test_dataset_fit(void **state)
{
    fixture *f = *state;
    mom_model *m = f->m;
    mom_dataset *d = NULL;
    char dpath[320];
    snprintf(dpath, sizeof dpath, "%s", in_dir(f, "d.bin"));
    int32_t tok[64];
    uint8_t mod[64];
    for (int i = 0; i < 64; i++) {
        tok[i] = (i * 5) % V;
        mod[i] = (uint8_t)(i / 8 % NMOD);
    }
    /* one that fits: checked, evaluated, the model unchanged */
    if (mom_dataset_write(f->ctx, dpath, tok, mod, 64, NULL, 1, V, NMOD, NULL, NULL, NULL)) fail_msg("%s", mom_ctx_last_error(f->ctx));
    assert_int_equal(mom_dataset_open(f->ctx, dpath, &d), MOM_OK);
    assert_int_equal(mom_dataset_check(m, d), MOM_OK);
    state_snap before = take(m);
    mom_losses l;
    assert_int_equal(mom_model_evaluate(m, d, BB, TT, 0, &l), MOM_OK);
    assert_unchanged(m, &before, "evaluate");
    drop(&before);
    mom_dataset_destroy(&d);
    assert_null(d);

    /* a dataset with a larger vocabulary / more modalities does not fit */
    if (mom_dataset_write(f->ctx, dpath, tok, mod, 64, NULL, 1, V + 3, NMOD, NULL, NULL, NULL)) fail_msg("%s", mom_ctx_last_error(f->ctx));
    assert_int_equal(mom_dataset_open(f->ctx, dpath, &d), MOM_OK);
    expect_err(f->ctx, mom_dataset_check(m, d), MOM_ERR_DATA, "dataset vocab", "20", NULL);
    expect_err(f->ctx, mom_model_evaluate(m, d, BB, TT, 0, &l), MOM_ERR_DATA, "eval vocab", "20", NULL);
    mom_dataset_destroy(&d);
    if (mom_dataset_write(f->ctx, dpath, tok, mod, 64, NULL, 1, V, NMOD + 2, NULL, NULL, NULL)) fail_msg("%s", mom_ctx_last_error(f->ctx));
    assert_int_equal(mom_dataset_open(f->ctx, dpath, &d), MOM_OK);
    expect_err(f->ctx, mom_dataset_check(m, d), MOM_ERR_DATA, "dataset modalities", "5", NULL);
    mom_dataset_destroy(&d);
}

/* ---- batches read from a dataset ------------------------------------------ *
 * A dataset records its failures in the context it was opened with, naming
 * the file, the call and the bad value, so that a tool printing
 * mom_ctx_last_error after a refused fill shows why, not an older message. */

enum { FILL_TOKENS = 64, FILL_PATCH = 2, FILL_IMAGE = 4, FILL_PATCH_DIM = FILL_PATCH * FILL_PATCH };

/* 64 tokens, one 4 x 4 gray image of 2 x 2 patches at tokens 11..14. */
static void write_fill_datasets(fixture *f, const char *plain, const char *with_patches)
{
    int32_t tok[FILL_TOKENS];
    uint8_t mod[FILL_TOKENS];
    for (int i = 0; i < FILL_TOKENS; i++) {
        tok[i] = MOM_N_SPECIAL + i % (V - MOM_N_SPECIAL);
        mod[i] = 0;
    }
    if (mom_dataset_write(f->ctx, plain, tok, mod, FILL_TOKENS, NULL, 1, V, NMOD, NULL, NULL, NULL))
        fail_msg("%s", mom_ctx_last_error(f->ctx));
    tok[10] = MOM_TOK_BOI;
    for (int i = 11; i < 15; i++) {
        tok[i] = MOM_TOK_PAD;
        mod[i] = MOM_MOD_IMAGE;
    }
    tok[15] = MOM_TOK_EOI;
    float patches[4 * FILL_PATCH_DIM];
    for (int i = 0; i < 4 * FILL_PATCH_DIM; i++) patches[i] = 0.1f * (float)(i % 7) - 0.3f;
    const mom_patch_geometry g = {FILL_PATCH, FILL_IMAGE, 1};
    if (mom_dataset_write(f->ctx, with_patches, tok, mod, FILL_TOKENS, NULL, 1, V, NMOD, NULL, patches, &g))
        fail_msg("%s", mom_ctx_last_error(f->ctx));
}

/* An older failure in ctx, which the next refusal must replace. */
static void stale_error(mom_ctx *ctx) { mom_fail(ctx, MOM_ERR_IO, "an older failure: elsewhere"); }

static void expect_fresh(mom_ctx *ctx, mom_status got, const char *what, const char *sub1, const char *sub2)
{
    if (strstr(mom_ctx_last_error(ctx), "older failure")) fail_msg("%s: stale message: %s", what, mom_ctx_last_error(ctx));
    expect_err(ctx, got, MOM_ERR_INVALID_ARG, what, sub1, sub2, NULL);
}

/* call, made right after an older failure was recorded in ctx, must fail
 * with MOM_ERR_INVALID_ARG and a new message naming sub1 (and sub2). */
#define EXPECT_FRESH(ctx, call, sub1, sub2) (stale_error(ctx), expect_fresh((ctx), (call), #call, (sub1), (sub2)))

static void test_fill_messages(void **state)
{
    fixture *f = *state;
    char plain[320], with_patches[320];
    snprintf(plain, sizeof plain, "%s", in_dir(f, "fill.bin"));
    snprintf(with_patches, sizeof with_patches, "%s", in_dir(f, "fill_patches.bin"));
    write_fill_datasets(f, plain, with_patches);
    mom_dataset *d = NULL, *pd = NULL;
    assert_int_equal(mom_dataset_open(f->ctx, plain, &d), MOM_OK);
    assert_int_equal(mom_dataset_open(f->ctx, with_patches, &pd), MOM_OK);
    enum { B = 2, T = 8 };
    int32_t tok[B * T], tgt[B * T];
    uint8_t mod[B * T], tmod[B * T];
    float patches[B * T * FILL_PATCH_DIM];
    const int64_t ok[B] = {0, FILL_TOKENS - T - 1};
    const int64_t past[B] = {0, 99999}, just_past[B] = {FILL_TOKENS - T, 0}, negative[B] = {0, -3};
    mom_ctx *c = f->ctx;

    EXPECT_FRESH(c, mom_dataset_fill_batch(d, B, T, past, tok, mod, tgt, tmod), "fill.bin: ",
                 "mom_dataset_fill_batch: starts[1] = 99999 + T 8 + 1 passes the end of the dataset (64 tokens)");
    EXPECT_FRESH(c, mom_dataset_fill_batch(d, B, T, just_past, tok, mod, tgt, tmod), "starts[0] = 56 + T 8 + 1",
                 "(64 tokens)");
    EXPECT_FRESH(c, mom_dataset_fill_batch(d, B, T, negative, tok, mod, tgt, tmod), "starts[1] = -3 is negative", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_batch(d, 0, T, ok, tok, mod, tgt, tmod), "B = 0", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_batch(d, B, -5, ok, tok, mod, tgt, tmod), "T = -5", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_batch(d, B, FILL_TOKENS, ok, tok, mod, tgt, tmod), "T = 64", "(64 tokens)");
    EXPECT_FRESH(c, mom_dataset_fill_batch(d, B, T, NULL, tok, mod, tgt, tmod), "starts is NULL", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_batch(d, B, T, ok, NULL, mod, tgt, tmod), ": tokens is NULL", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_batch(d, B, T, ok, tok, NULL, tgt, tmod), ": modality is NULL", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_batch(d, B, T, ok, tok, mod, NULL, tmod), ": targets is NULL", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_batch(d, B, T, ok, tok, mod, tgt, NULL), ": target_modality is NULL", NULL);
    assert_int_equal(mom_dataset_fill_batch(d, B, T, ok, tok, mod, tgt, tmod), MOM_OK);

    EXPECT_FRESH(c, mom_dataset_fill_patches(pd, B, T, past, patches), "fill_patches.bin: ",
                 "mom_dataset_fill_patches: starts[1] = 99999 + T 8 + 1 passes the end of the dataset (64 tokens)");
    EXPECT_FRESH(c, mom_dataset_fill_patches(pd, B, T, negative, patches), "starts[1] = -3 is negative", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_patches(pd, -1, T, ok, patches), "B = -1", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_patches(pd, B, 0, ok, patches), "T = 0", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_patches(pd, B, T, NULL, patches), "starts is NULL", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_patches(pd, B, T, ok, NULL), "patches is NULL", NULL);
    EXPECT_FRESH(c, mom_dataset_fill_patches(d, B, T, ok, patches), "fill.bin: ", "no patch vectors");
    assert_int_equal(mom_dataset_fill_patches(pd, B, T, ok, patches), MOM_OK);

    /* The accessors that fill an out-pointer refuse NULL the same way. */
    EXPECT_FRESH(c, mom_dataset_vocab_layout(d, NULL), "mom_dataset_vocab_layout: out is NULL", NULL);
    EXPECT_FRESH(c, mom_dataset_patch_geometry(pd, NULL), "mom_dataset_patch_geometry: out is NULL", NULL);

    /* A dataset opened on another context records there, and leaves this
     * one's message alone. */
    mom_ctx *other = NULL;
    assert_int_equal(tu_ctx_create(&other, 1, NULL), MOM_OK);
    mom_dataset *od = NULL;
    assert_int_equal(mom_dataset_open(other, plain, &od), MOM_OK);
    stale_error(f->ctx);
    expect_err(other, mom_dataset_fill_batch(od, B, T, past, tok, mod, tgt, tmod), MOM_ERR_INVALID_ARG,
               "fill_batch on another context", "starts[1] = 99999", NULL);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "older failure"));
    mom_dataset_destroy(&od);
    mom_ctx_destroy(&other);

    /* The old name of mom_dataset_destroy still works for one release. */
    mom_dataset_destroy(&pd);
    assert_null(pd);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    mom_dataset_close(&d);
    assert_null(d);
    mom_dataset_close(&d); /* NULL is fine */
#pragma GCC diagnostic pop
}

/* ---- configs ---------------------------------------------------------------- */

static void bad_json(fixture *f, const char *json, mom_status want, const char *sub1, const char *sub2)
{
    mom_config c;
    mom_status s = mom_config_parse_json(f->ctx, json, strlen(json), &c);
    char what[256];
    snprintf(what, sizeof what, "config %s", json);
    if (sub2) expect_err(f->ctx, s, want, what, sub1, sub2, NULL);
    else expect_err(f->ctx, s, want, what, sub1, NULL);
    /* the same text from a file: the message names the file too */
    const char *p = in_dir(f, "c.json");
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(json, 1, strlen(json), fp), strlen(json));
    fclose(fp);
    s = mom_config_load(f->ctx, p, &c);
    expect_err(f->ctx, s, want, what, sub1, "c.json", NULL);
    /* and a model is never made from it */
    unlink(p);
}

static void test_config_fields(void **state)
{
    fixture *f = *state;
    mom_config c;
    const char *good = "{\"n_modalities\": 3, \"vocab_size\": 17, \"d_model\": 8, \"n_layer\": 2, \"d_state\": 4,"
                       " \"decouple\": [\"in\", \"dt\"], \"tie_embeddings\": false, \"norm_eps\": 1e-6}";
    assert_int_equal(mom_config_parse_json(f->ctx, good, strlen(good), &c), MOM_OK);
    assert_int_equal(c.decouple, MOM_DECOUPLE_IN | MOM_DECOUPLE_DT);
    assert_int_equal(c.tie_embeddings, 0);
    assert_int_equal(c.dt_rank, 1);

    bad_json(f, "{\"n_modalities\": 0}", MOM_ERR_CONFIG, "n_modalities", "0");
    bad_json(f, "{\"n_modalities\": 9}", MOM_ERR_CONFIG, "n_modalities", "9");
    bad_json(f, "{\"vocab_size\": 1}", MOM_ERR_CONFIG, "vocab_size", "1");
    bad_json(f, "{\"vocab_size\": -3}", MOM_ERR_CONFIG, "vocab_size", "-3");
    bad_json(f, "{\"d_model\": 0}", MOM_ERR_CONFIG, "d_model", "0");
    bad_json(f, "{\"n_layer\": 0}", MOM_ERR_CONFIG, "n_layer", "0");
    bad_json(f, "{\"d_state\": 65}", MOM_ERR_CONFIG, "d_state", "65");
    bad_json(f, "{\"d_state\": 0}", MOM_ERR_CONFIG, "d_state", "0");
    bad_json(f, "{\"d_conv\": 0}", MOM_ERR_CONFIG, "d_conv", "0");
    bad_json(f, "{\"expand\": 0}", MOM_ERR_CONFIG, "expand", "0");
    bad_json(f, "{\"dt_rank\": -1}", MOM_ERR_CONFIG, "dt_rank", "-1");
    bad_json(f, "{\"d_model\": 8, \"dt_rank\": 17}", MOM_ERR_CONFIG, "dt_rank", "17");
    bad_json(f, "{\"tie_embeddings\": 2}", MOM_ERR_CONFIG, "tie_embeddings", "2");
    bad_json(f, "{\"tie_embeddings\": \"yes\"}", MOM_ERR_CONFIG, "tie_embeddings", NULL);
    bad_json(f, "{\"norm_eps\": 0}", MOM_ERR_CONFIG, "norm_eps", "0");
    bad_json(f, "{\"norm_eps\": -1e-5}", MOM_ERR_CONFIG, "norm_eps", "-1e-05");
    bad_json(f, "{\"norm_eps\": 2}", MOM_ERR_CONFIG, "norm_eps", "2");
    bad_json(f, "{\"norm_eps\": 1e300}", MOM_ERR_CONFIG, "norm_eps", NULL);
    bad_json(f, "{\"norm_eps\": \"1e-5\"}", MOM_ERR_CONFIG, "norm_eps", NULL);
    bad_json(f, "{\"decouple\": [\"in\", \"bogus\"]}", MOM_ERR_CONFIG, "decouple", "bogus");
    bad_json(f, "{\"decouple\": [\"in\", 3]}", MOM_ERR_CONFIG, "decouple", NULL);
    bad_json(f, "{\"decouple\": \"in\"}", MOM_ERR_CONFIG, "decouple", NULL);
    bad_json(f, "{\"decouple\": [\"IN\"]}", MOM_ERR_CONFIG, "decouple", "IN");
    bad_json(f, "{\"d_modle\": 8}", MOM_ERR_CONFIG, "d_modle", NULL);
    bad_json(f, "{\"d_model\": 8, \"\": 1}", MOM_ERR_CONFIG, "unknown", NULL);
    bad_json(f, "[1, 2]", MOM_ERR_CONFIG, "object", NULL);
    bad_json(f, "8", MOM_ERR_CONFIG, "object", NULL);
    bad_json(f, "\"d_model\"", MOM_ERR_CONFIG, "object", NULL);
    bad_json(f, "null", MOM_ERR_CONFIG, "object", NULL);
    bad_json(f, "{\"d_model\": 8", MOM_ERR_CONFIG, "JSON", NULL);
    bad_json(f, "{\"d_model\": 8,}", MOM_ERR_CONFIG, "JSON", NULL);
    bad_json(f, "{} {}", MOM_ERR_CONFIG, "JSON", NULL);
    bad_json(f, "", MOM_ERR_CONFIG, "JSON", NULL);
    bad_json(f, "{'d_model': 8}", MOM_ERR_CONFIG, "JSON", NULL);
    bad_json(f, "{\"d_model\": 8.5}", MOM_ERR_CONFIG, "d_model", "integer");
    bad_json(f, "{\"d_model\": 8.0}", MOM_ERR_CONFIG, "d_model", "integer");
    bad_json(f, "{\"n_layer\": 1e1}", MOM_ERR_CONFIG, "n_layer", "integer");
    bad_json(f, "{\"d_model\": \"8\"}", MOM_ERR_CONFIG, "d_model", "integer");
    bad_json(f, "{\"d_model\": true}", MOM_ERR_CONFIG, "d_model", "integer");
    bad_json(f, "{\"d_model\": null}", MOM_ERR_CONFIG, "d_model", "integer");
    bad_json(f, "{\"d_model\": 4294967304}", MOM_ERR_CONFIG, "d_model", NULL);
    bad_json(f, "{\"vocab_size\": 99999999999999999999}", MOM_ERR_CONFIG, "vocab_size", NULL);
    bad_json(f, "{\"d_state\": [4]}", MOM_ERR_CONFIG, "d_state", NULL);
    /* a length shorter than the text: only the prefix counts */
    assert_int_equal(mom_config_parse_json(f->ctx, "{\"d_model\": 8}", 5, &c), MOM_ERR_CONFIG);

    /* the values JSON cannot carry, through mom_config_validate */
    float bad_eps[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f};
    for (size_t i = 0; i < sizeof bad_eps / sizeof bad_eps[0]; i++) {
        c = tu_small_config();
        c.norm_eps = bad_eps[i];
        mom_config keep = c;
        expect_err(f->ctx, mom_config_validate(f->ctx, &c), MOM_ERR_CONFIG, "validate norm_eps", "norm_eps", NULL);
        assert_memory_equal(&c, &keep, sizeof c);
        mom_model *o = NULL;
        expect_err(f->ctx, mom_model_create(f->ctx, &c, 1, &o), MOM_ERR_CONFIG, "create norm_eps", "norm_eps", NULL);
        assert_null(o);
    }
    c = tu_small_config();
    c.decouple = 0x10;
    expect_err(f->ctx, mom_config_validate(f->ctx, &c), MOM_ERR_CONFIG, "validate decouple", "decouple", "0x10", NULL);
    c = tu_small_config();
    c.n_modalities = MOM_MAX_MODALITIES + 1;
    expect_err(f->ctx, mom_config_validate(f->ctx, &c), MOM_ERR_CONFIG, "validate n_modalities", "n_modalities", "9", NULL);
    c = tu_small_config();
    c.tie_embeddings = -1;
    expect_err(f->ctx, mom_config_validate(f->ctx, &c), MOM_ERR_CONFIG, "validate tie", "tie_embeddings", "-1", NULL);
    c = tu_small_config();
    c.vocab_size = 1 << 24;
    c.d_model = 1024;
    expect_err(f->ctx, mom_config_validate(f->ctx, &c), MOM_ERR_CONFIG, "validate too large", "too large", NULL);

    /* a config file over the size limit */
    const char *p = in_dir(f, "big.json");
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    fputc('{', fp);
    for (int i = 0; i < 70000; i++) fputc(' ', fp);
    fputc('}', fp);
    fclose(fp);
    expect_err(f->ctx, mom_config_load(f->ctx, p, &c), MOM_ERR_CONFIG, "big config", "big.json", NULL);
}

/* ---- batches ------------------------------------------------------------------ */

static void bad_batch(fixture *f, const tu_small_batch *bad, mom_status want, const char *sub1, const char *sub2)
{
    mom_model *m = f->m;
    state_snap before = take(m);
    mom_losses l;
    memset(&l, 0, sizeof l);
    expect_err(f->ctx, mom_model_backward(m, &bad->b, 1.0f, &l), want, "backward", sub1, sub2, NULL);
    assert_unchanged(m, &before, sub1);
    expect_err(f->ctx, mom_model_forward(m, &bad->b, &l), want, "forward", sub1, sub2, NULL);
    assert_unchanged(m, &before, sub1);
    drop(&before);
}

static void test_bad_batches(void **state)
{
    fixture *f = *state;
    tu_small_batch good, bb;
    tu_make_small_batch(&good, 77);
    /* a good batch works first (and plans the activations for the shape) */
    mom_losses l;
    assert_int_equal(mom_model_forward(f->m, &good.b, &l), MOM_OK);

    bb = good; bb.b.tokens = bb.tok; bb.b.modality = bb.mod; bb.b.targets = bb.tgt; bb.b.target_modality = bb.tmod;
#define RESET() do { bb = good; bb.b.tokens = bb.tok; bb.b.modality = bb.mod; bb.b.targets = bb.tgt; \
                     bb.b.target_modality = bb.tmod; } while (0)
    RESET(); bb.tok[11] = V;
    bad_batch(f, &bb, MOM_ERR_DATA, "token 17", "11");
    RESET(); bb.tok[BB * TT - 1] = -5;
    bad_batch(f, &bb, MOM_ERR_DATA, "token -5", "25");
    RESET(); bb.tok[0] = INT32_MAX;
    bad_batch(f, &bb, MOM_ERR_DATA, "token 2147483647", NULL);
    RESET(); bb.tok[3] = INT32_MIN;
    bad_batch(f, &bb, MOM_ERR_DATA, "token -2147483648", NULL);
    RESET(); bb.mod[7] = NMOD;
    bad_batch(f, &bb, MOM_ERR_DATA, "modality 3", "7");
    RESET(); bb.mod[20] = 255;
    bad_batch(f, &bb, MOM_ERR_DATA, "modality 255", "20");
    RESET(); bb.tgt[4] = V;
    bad_batch(f, &bb, MOM_ERR_DATA, "target 17", "4");
    RESET(); bb.tgt[6] = -2;
    bad_batch(f, &bb, MOM_ERR_DATA, "target -2", "6");
    RESET(); bb.tgt[0] = 3; bb.tmod[0] = NMOD;
    bad_batch(f, &bb, MOM_ERR_DATA, "target modality 3", NULL);
    RESET(); bb.b.B = 0;
    bad_batch(f, &bb, MOM_ERR_INVALID_ARG, "B = 0", NULL);
    RESET(); bb.b.T = 0;
    bad_batch(f, &bb, MOM_ERR_INVALID_ARG, "T = 0", NULL);
    RESET(); bb.b.B = -1;
    bad_batch(f, &bb, MOM_ERR_INVALID_ARG, "B = -1", NULL);
    RESET(); bb.b.T = -13;
    bad_batch(f, &bb, MOM_ERR_INVALID_ARG, "T = -13", NULL);
    RESET(); bb.b.B = 1 << 13; bb.b.T = 1 << 12; /* too large: refused before any array is read */
    bad_batch(f, &bb, MOM_ERR_INVALID_ARG, "B = 8192", "T = 4096");
    RESET(); bb.b.B = INT32_MAX; bb.b.T = INT32_MAX;
    bad_batch(f, &bb, MOM_ERR_INVALID_ARG, "B = 2147483647", NULL);
#undef RESET
    /* an ignored target may carry any target modality; the batch still works */
    bb = good;
    bb.b.tokens = bb.tok; bb.b.modality = bb.mod; bb.b.targets = bb.tgt; bb.b.target_modality = bb.tmod;
    bb.tgt[2] = -1;
    bb.tmod[2] = 200;
    assert_int_equal(mom_model_forward(f->m, &bb.b, &l), MOM_OK);
    assert_true(isfinite(l.loss));
}

/* ---- checkpoint files ---------------------------------------------------------- */

static void test_truncated_checkpoint(void **state)
{
    fixture *f = *state;
    char full[320], cut[320];
    snprintf(full, sizeof full, "%s", in_dir(f, "full.safetensors"));
    snprintf(cut, sizeof cut, "%s", in_dir(f, "cut.safetensors"));
    assert_int_equal(mom_model_save(f->m, full), MOM_OK);
    size_t size;
    uint8_t *buf = tu_read_file(full, &size);
    assert_true(size > 1000);
    tu_write_file(cut, buf, size);
    mom_model *o = NULL;
    assert_int_equal(mom_model_load(f->ctx, cut, &o), MOM_OK);
    mom_model_destroy(&o);
    /* every length below the full size, shortening one file step by step */
    for (size_t len = size; len-- > 0;) {
        assert_int_equal(truncate(cut, (off_t)len), 0);
        o = f->m; /* must come back NULL */
        mom_clear_error(f->ctx);
        mom_status s = mom_model_load(f->ctx, cut, &o);
        if (s == MOM_OK) fail_msg("a copy of %zu of %zu bytes loaded", len, size);
        if (o) fail_msg("length %zu: *out not NULL", len);
        if (!mom_ctx_last_error(f->ctx)[0]) fail_msg("length %zu: no message", len);
    }
    free(buf);
}

static void test_truncated_optim(void **state)
{
    fixture *f = *state;
    char full[320], cut[320];
    snprintf(full, sizeof full, "%s", in_dir(f, "optim.safetensors"));
    snprintf(cut, sizeof cut, "%s", in_dir(f, "cut.safetensors"));
    assert_int_equal(mom_model_save_optim(f->m, full, 1234), MOM_OK);
    size_t size;
    uint8_t *buf = tu_read_file(full, &size);
    tu_write_file(cut, buf, size);
    /* a model whose optimizer state differs from the file's */
    mom_model *m = NULL;
    mom_config c = tu_small_config();
    assert_int_equal(mom_model_create(f->ctx, &c, 99, &m), MOM_OK);
    train_one(m, 500);
    train_one(m, 600);
    state_snap before = take(m);
    assert_int_equal(before.step, 2);
    for (size_t len = size; len-- > 0;) {
        assert_int_equal(truncate(cut, (off_t)len), 0);
        uint64_t rng = 42;
        mom_clear_error(f->ctx);
        mom_status s = mom_model_load_optim(m, cut, &rng);
        if (s == MOM_OK) fail_msg("a copy of %zu of %zu bytes loaded", len, size);
        if (!mom_ctx_last_error(f->ctx)[0]) fail_msg("length %zu: no message", len);
        if (rng != 42) fail_msg("length %zu: rng_state written", len);
        if (len % 97 == 0 || len + 1 == size) assert_unchanged(m, &before, "truncated optimizer file");
    }
    assert_unchanged(m, &before, "truncated optimizer file");
    /* the full file does load */
    uint64_t rng = 0;
    assert_int_equal(mom_model_load_optim(m, full, &rng), MOM_OK);
    assert_true(rng == 1234);
    assert_int_equal(mom_model_steps_done(m), 1);
    drop(&before);
    mom_model_destroy(&m);
    free(buf);
}

/* The header and data of a safetensors file, to build lying variants. */
typedef struct st_parts {
    char *header; /* NUL-terminated, trailing padding removed */
    uint8_t *data;
    size_t data_len;
} st_parts;

static st_parts split_file(const char *path)
{
    size_t size;
    uint8_t *buf = tu_read_file(path, &size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    assert_true(hlen <= size - 8);
    st_parts p;
    p.header = malloc(hlen + 1);
    assert_non_null(p.header);
    memcpy(p.header, buf + 8, hlen);
    p.header[hlen] = '\0';
    size_t n = strlen(p.header);
    while (n > 0 && p.header[n - 1] == ' ') p.header[--n] = '\0';
    p.data_len = size - 8 - hlen;
    p.data = malloc(p.data_len + 64);
    assert_non_null(p.data);
    memcpy(p.data, buf + 8 + hlen, p.data_len);
    free(buf);
    return p;
}

static void free_parts(st_parts *p)
{
    free(p->header);
    free(p->data);
}

/* Writes u64 length | header (padded to 8) | data. */
static void join_file(const char *path, const char *header, const uint8_t *data, size_t data_len)
{
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    uint8_t *buf = malloc(8 + padded + data_len);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, header, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    if (data_len) memcpy(buf + 8 + padded, data, data_len);
    tu_write_file(path, buf, 8 + padded + data_len);
    free(buf);
}

/* header with the first occurrence of `from` replaced by `to` (must exist). */
static char *replace(const char *header, const char *from, const char *to)
{
    const char *at = strstr(header, from);
    if (!at) fail_msg("header lacks \"%s\"", from);
    size_t pre = (size_t)(at - header), fl = strlen(from), tl = strlen(to), hl = strlen(header);
    char *out = malloc(hl - fl + tl + 1);
    assert_non_null(out);
    memcpy(out, header, pre);
    memcpy(out + pre, to, tl);
    memcpy(out + pre + tl, at + fl, hl - pre - fl + 1);
    return out;
}

/* header without the entry of tensor `name` (and its separating comma). */
static char *remove_entry(const char *header, const char *name)
{
    char key[160];
    snprintf(key, sizeof key, "\"%s\":{", name);
    const char *at = strstr(header, key);
    if (!at) fail_msg("header lacks %s", key);
    const char *end = strchr(at, '}');
    assert_non_null(end);
    end++;
    size_t b = (size_t)(at - header), e = (size_t)(end - header);
    if (header[e] == ',') e++;
    else if (b > 0 && header[b - 1] == ',') b--;
    size_t hl = strlen(header);
    char *out = malloc(hl + 1);
    assert_non_null(out);
    memcpy(out, header, b);
    memcpy(out + b, header + e, hl - e + 1);
    return out;
}

/* The tensor whose data ends last, and its offsets. */
static void last_tensor(const char *header, char *name, size_t cap, uint64_t *begin, uint64_t *end)
{
    json_value *root = NULL;
    char err[160];
    assert_int_equal(json_parse(header, strlen(header), &root, err, sizeof err), 0);
    *end = 0;
    for (size_t i = 0; i < root->n_keys; i++) {
        if (!strcmp(root->keys[i], "__metadata__")) continue;
        const json_value *o = json_get(&root->vals[i], "data_offsets");
        assert_non_null(o);
        if ((uint64_t)o->items[1].integer >= *end) {
            *begin = (uint64_t)o->items[0].integer;
            *end = (uint64_t)o->items[1].integer;
            snprintf(name, cap, "%s", root->keys[i]);
        }
    }
    json_free(root);
}

static void expect_load_refused(fixture *f, const char *path, const char *what, const char *sub)
{
    mom_model *o = f->m;
    mom_status s = mom_model_load(f->ctx, path, &o);
    assert_null(o);
    expect_err(f->ctx, s, MOM_ERR_FORMAT, what, sub, NULL);
}

static void test_lying_checkpoint(void **state)
{
    fixture *f = *state;
    char full[320], bad[320];
    snprintf(full, sizeof full, "%s", in_dir(f, "full.safetensors"));
    snprintf(bad, sizeof bad, "%s", in_dir(f, "bad.safetensors"));
    assert_int_equal(mom_model_save(f->m, full), MOM_OK);
    st_parts p = split_file(full);
    char *h;
    mom_model *o = NULL;

    /* our rewriter itself is faithful: the unmodified parts load */
    join_file(bad, p.header, p.data, p.data_len);
    assert_int_equal(mom_model_load(f->ctx, bad, &o), MOM_OK);
    mom_model_destroy(&o);

    /* a shape changed, same byte count: only the model check can see it */
    h = replace(p.header, "\"layers.0.mixer.A_log\":{\"dtype\":\"F32\",\"shape\":[16,4]",
                "\"layers.0.mixer.A_log\":{\"dtype\":\"F32\",\"shape\":[4,16]");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "transposed shape", "layers.0.mixer.A_log");
    free(h);
    h = replace(p.header, "\"layers.1.mixer.conv1d.weight\":{\"dtype\":\"F32\",\"shape\":[16,1,4]",
                "\"layers.1.mixer.conv1d.weight\":{\"dtype\":\"F32\",\"shape\":[16,4,1]");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "conv shape", "layers.1.mixer.conv1d.weight");
    free(h);
    h = replace(p.header, "\"layers.1.mixer.conv1d.weight\":{\"dtype\":\"F32\",\"shape\":[16,1,4]",
                "\"layers.1.mixer.conv1d.weight\":{\"dtype\":\"F32\",\"shape\":[64]");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "conv flattened", "layers.1.mixer.conv1d.weight");
    free(h);
    /* a shape changed so that it no longer matches its byte range */
    h = replace(p.header, "\"shape\":[16,4]", "\"shape\":[16,5]");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "shape vs offsets", "A_log");
    free(h);

    /* data_offsets past the end of the data */
    char last[128], from[256], to[256];
    uint64_t b = 0, e = 0;
    last_tensor(p.header, last, sizeof last, &b, &e);
    assert_int_equal(e, p.data_len);
    snprintf(from, sizeof from, "\"data_offsets\":[%llu,%llu]", (unsigned long long)b, (unsigned long long)e);
    snprintf(to, sizeof to, "\"data_offsets\":[%llu,%llu]", (unsigned long long)b + 8, (unsigned long long)e + 8);
    h = replace(p.header, from, to);
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "offsets past the end", last);
    free(h);
    snprintf(to, sizeof to, "\"data_offsets\":[%llu,18446744073709551615]", (unsigned long long)b);
    h = replace(p.header, from, to);
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "offsets end huge", last);
    free(h);

    /* a missing tensor (its bytes still there) */
    h = remove_entry(p.header, "norm_f.weight");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "missing tensor", "norm_f.weight");
    free(h);
    h = remove_entry(p.header, "layers.1.mixer.local_experts_dt_proj.2.bias");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "missing tensor", "layers.1.mixer.local_experts_dt_proj.2.bias");
    free(h);

    /* an extra tensor the config does not have, with its own bytes */
    {
        size_t hl = strlen(p.header);
        char extra[256];
        snprintf(extra, sizeof extra, ",\"layers.0.mixer.bogus\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[%zu,%zu]}}",
                 p.data_len, p.data_len + 8);
        h = malloc(hl + strlen(extra) + 1);
        assert_non_null(h);
        memcpy(h, p.header, hl - 1); /* drop the closing brace */
        strcpy(h + hl - 1, extra);
        float two[2] = {1.0f, 2.0f};
        memcpy(p.data + p.data_len, two, 8);
        join_file(bad, h, p.data, p.data_len + 8);
        expect_load_refused(f, bad, "extra tensor", "layers.0.mixer.bogus");
        free(h);
        /* an extra empty tensor too */
        snprintf(extra, sizeof extra, ",\"layers.2.norm.weight\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
        h = malloc(hl + strlen(extra) + 1);
        assert_non_null(h);
        memcpy(h, p.header, hl - 1);
        strcpy(h + hl - 1, extra);
        join_file(bad, h, p.data, p.data_len);
        expect_load_refused(f, bad, "extra empty tensor", "layers.2.norm.weight");
        free(h);
        /* a tensor of the untied model in a tied model's file, different from the embedding */
        snprintf(extra, sizeof extra, ",\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[%zu,%zu]}}",
                 p.data_len, p.data_len + 8);
        h = malloc(hl + strlen(extra) + 1);
        assert_non_null(h);
        memcpy(h, p.header, hl - 1);
        strcpy(h + hl - 1, extra);
        join_file(bad, h, p.data, p.data_len + 8);
        expect_load_refused(f, bad, "lm_head of the wrong size", "lm_head.weight");
        free(h);
    }

    /* dtypes: an unknown one, and a known one that is not F32 */
    h = replace(p.header, "\"layers.0.mixer.A_log\":{\"dtype\":\"F32\"", "\"layers.0.mixer.A_log\":{\"dtype\":\"F8_E4M3\"");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "F8_E4M3", "F8_E4M3");
    free(h);
    h = replace(p.header, "\"layers.0.mixer.A_log\":{\"dtype\":\"F32\"", "\"layers.0.mixer.A_log\":{\"dtype\":\"I32\"");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "I32", "layers.0.mixer.A_log");
    free(h);

    /* config metadata that disagrees with the shapes */
    h = replace(p.header, "\\\"d_state\\\": 4", "\\\"d_state\\\": 5");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "d_state 5", "the config needs");
    free(h);
    h = replace(p.header, "\\\"vocab_size\\\": 17", "\\\"vocab_size\\\": 18");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "vocab 18", "embedding.weight");
    free(h);
    h = replace(p.header, "\\\"n_modalities\\\": 3", "\\\"n_modalities\\\": 2");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "2 modalities", ".2.");
    free(h);
    h = replace(p.header, "\\\"n_modalities\\\": 3", "\\\"n_modalities\\\": 4");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "4 modalities", ".3.");
    free(h);
    h = replace(p.header, "\\\"tie_embeddings\\\": true", "\\\"tie_embeddings\\\": false");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "untied", "lm_head.weight");
    free(h);
    h = replace(p.header, "\\\"d_model\\\": 8", "\\\"d_model\\\": 0");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "config d_model 0", "d_model");
    free(h);
    h = replace(p.header, "\\\"d_model\\\": 8", "\\\"d_modle\\\": 8");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "config unknown key", "d_modle");
    free(h);
    h = replace(p.header, "\"config\":", "\"konfig\":");
    join_file(bad, h, p.data, p.data_len);
    expect_load_refused(f, bad, "no config", "config");
    free(h);

    /* a non-finite parameter */
    {
        st_file sf;
        char err[512];
        assert_int_equal(st_open(full, &sf, err, sizeof err), 0);
        const st_tensor_info *ti = st_find(&sf, "layers.1.mixer.D");
        assert_non_null(ti);
        uint64_t at = ti->begin + 8;
        st_close(&sf);
        float saved;
        memcpy(&saved, p.data + at, 4);
        float nan = NAN;
        memcpy(p.data + at, &nan, 4);
        join_file(bad, p.header, p.data, p.data_len);
        expect_load_refused(f, bad, "NaN parameter", "finite");
        float inf = INFINITY;
        memcpy(p.data + at, &inf, 4);
        join_file(bad, p.header, p.data, p.data_len);
        expect_load_refused(f, bad, "inf parameter", "finite");
        memcpy(p.data + at, &saved, 4);
    }

    /* not a safetensors file at all */
    tu_write_file(bad, "", 0);
    expect_load_refused(f, bad, "empty file", "bad.safetensors");
    join_file(bad, "[]", NULL, 0);
    expect_load_refused(f, bad, "header not an object", "bad.safetensors");
    {
        uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
        tu_write_file(bad, huge, sizeof huge);
        expect_load_refused(f, bad, "huge header length", "bad.safetensors");
    }
    free_parts(&p);
    /* nothing of the above touched the good file */
    assert_int_equal(mom_model_load(f->ctx, full, &o), MOM_OK);
    mom_model_destroy(&o);
}

/* Missing file or a directory: an I/O failure, not a format one. */
static void test_load_missing_file(void **state)
{
    fixture *f = *state;
    mom_model *o = f->m;
    const char *p = in_dir(f, "nothing-here.safetensors");
    mom_status s = mom_model_load(f->ctx, p, &o);
    assert_null(o);
    expect_err(f->ctx, s, MOM_ERR_IO, "load a missing file", "nothing-here.safetensors", NULL);
    state_snap before = take(f->m);
    expect_err(f->ctx, mom_model_load_optim(f->m, p, NULL), MOM_ERR_IO, "load_optim a missing file",
               "nothing-here.safetensors", NULL);
    assert_unchanged(f->m, &before, "load_optim a missing file");
    drop(&before);
}

/* One thing wrong in a hand-made optimizer file (all 0: a good file). */
typedef struct optim_lie {
    int m_extra, v_dtype_i32, drop_rng, rng_i64;
} optim_lie;

/* Writes an optimizer file for m's config by hand: step, rng_state r and
 * the n_params moments mm and vv, bent as lie says. */
static void write_optim_file(mom_model *m, const char *path, int64_t step, uint64_t r, const float *mm, const float *vv,
                             optim_lie lie)
{
    char cfg[1024], err[512];
    assert_int_equal(mom_config_to_json(&m->cfg, cfg, sizeof cfg), MOM_OK);
    st_meta meta[2] = {{"config", cfg}, {"libmom", "optimizer"}};
    const int64_t n = (int64_t)m->n_params;
    st_write_tensor t[4] = {
        {"step", ST_I64, 1, {1}, &step},
        {"rng_state", lie.rng_i64 ? ST_I64 : ST_U64, 1, {1}, &r},
        {"adam_m", ST_F32, 1, {n + lie.m_extra}, mm},
        {"adam_v", lie.v_dtype_i32 ? ST_I32 : ST_F32, 1, {n}, vv},
    };
    if (lie.drop_rng) t[1] = t[3];
    if (st_write(path, t, lie.drop_rng ? 3 : 4, meta, 2, err, sizeof err)) fail_msg("%s", err);
}

static void test_lying_optim(void **state)
{
    fixture *f = *state;
    mom_model *m = f->m;
    char good[320], bad[320];
    snprintf(good, sizeof good, "%s", in_dir(f, "optim.safetensors"));
    snprintf(bad, sizeof bad, "%s", in_dir(f, "bad.safetensors"));
    assert_int_equal(mom_model_save_optim(m, good, 7), MOM_OK);
    train_one(m, 20); /* now the model's state differs from the file's */
    state_snap before = take(m);
    uint64_t rng = 99;

    /* from a model of another config */
    const int deltas[][3] = {{NS + 1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    for (int k = 0; k < 3; k++) {
        mom_config c = tu_small_config();
        c.d_state += deltas[k][0];
        c.vocab_size += deltas[k][1];
        if (deltas[k][2]) c.norm_eps = 1e-6f; /* same shapes, another config */
        mom_model *other = tu_new_model(f->ctx, &c, 3);
        assert_int_equal(mom_model_save_optim(other, bad, 1), MOM_OK);
        mom_model_destroy(&other);
        expect_err(f->ctx, mom_model_load_optim(m, bad, &rng), MOM_ERR_FORMAT, "another config", "config", NULL);
        assert_unchanged(m, &before, "optimizer state of another config");
    }
    /* a model checkpoint is not an optimizer file */
    assert_int_equal(mom_model_save(m, bad), MOM_OK);
    expect_err(f->ctx, mom_model_load_optim(m, bad, &rng), MOM_ERR_FORMAT, "model file as optimizer", "step", NULL);
    assert_unchanged(m, &before, "model file as optimizer state");

    /* hand-made optimizer files with one thing wrong each */
    const size_t n = m->n_params;
    float *mm = calloc(n + 1, sizeof(float)), *vv = calloc(n + 1, sizeof(float));
    assert_true(mm && vv);
    for (size_t i = 0; i < n; i++) {
        mm[i] = 0.01f * (float)(i % 7);
        vv[i] = 0.001f * (float)(i % 5);
    }
    typedef struct { const char *what, *sub; int64_t step; optim_lie lie; } ocase;
    const ocase cases[] = {
        {"negative step", "-1", -1, {0, 0, 0, 0}},
        {"adam_m of n + 1", "adam_m", 3, {1, 0, 0, 0}},
        {"adam_v of I32", "adam_v", 3, {0, 1, 0, 0}},
        {"no rng_state", "rng_state", 3, {0, 0, 1, 0}},
        {"rng_state of I64", "rng_state", 3, {0, 0, 0, 1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const ocase *c = &cases[k];
        write_optim_file(m, bad, c->step, 5, mm, vv, c->lie);
        rng = 99;
        expect_err(f->ctx, mom_model_load_optim(m, bad, &rng), MOM_ERR_FORMAT, c->what, c->sub, NULL);
        assert_true(rng == 99);
        assert_unchanged(m, &before, c->what);
    }
    /* the same file with everything right loads */
    const optim_lie none = {0, 0, 0, 0};
    write_optim_file(m, bad, 3, 5, mm, vv, none);
    mom_model *copy = NULL;
    {
        char pm[320];
        snprintf(pm, sizeof pm, "%s", in_dir(f, "copy.safetensors"));
        assert_int_equal(mom_model_save(m, pm), MOM_OK);
        assert_int_equal(mom_model_load(f->ctx, pm, &copy), MOM_OK);
    }
    assert_int_equal(mom_model_load_optim(copy, bad, &rng), MOM_OK);
    assert_true(rng == 5);
    assert_int_equal(mom_model_steps_done(copy), 3);
    mom_model_destroy(&copy);
    free(mm);
    free(vv);
    drop(&before);
}

/* Moments that no AdamW run can produce would poison the next step. */
static void test_nonfinite_optim_state(void **state)
{
    fixture *f = *state;
    mom_model *m = f->m;
    char bad[320];
    snprintf(bad, sizeof bad, "%s", in_dir(f, "bad.safetensors"));
    state_snap before = take(m);
    const size_t n = m->n_params;
    float *mm = calloc(n, sizeof(float)), *vv = calloc(n, sizeof(float));
    assert_true(mm && vv);
    const optim_lie none = {0, 0, 0, 0};
    for (int k = 0; k < 3; k++) {
        memset(mm, 0, n * sizeof(float));
        memset(vv, 0, n * sizeof(float));
        if (k == 0) mm[n / 2] = NAN;
        if (k == 1) vv[7] = INFINITY;
        if (k == 2) vv[n - 1] = -1.0f;
        write_optim_file(m, bad, 3, 5, mm, vv, none);
        mom_status s = mom_model_load_optim(m, bad, NULL);
        expect_err(f->ctx, s, MOM_ERR_FORMAT, k == 0 ? "NaN in adam_m" : k == 1 ? "inf in adam_v" : "negative adam_v",
                   k == 0 ? "adam_m" : "adam_v", NULL);
        assert_unchanged(m, &before, "non-finite optimizer state");
    }
    free(mm);
    free(vv);
    drop(&before);
}

/* ---- saves that cannot succeed -------------------------------------------------- */

static void test_save_failures(void **state)
{
    fixture *f = *state;
    mom_model *m = f->m;
    state_snap before = take(m);
    const char *nodir = in_dir(f, "no/such/folder/m.safetensors");
    char p[320];
    snprintf(p, sizeof p, "%s", nodir);
    expect_err(f->ctx, mom_model_save(m, p), MOM_ERR_IO, "save into a missing folder", "no/such/folder", NULL);
    expect_err(f->ctx, mom_model_save_optim(m, p, 1), MOM_ERR_IO, "save_optim into a missing folder", "no/such", NULL);
    expect_err(f->ctx, mom_model_save_grads(m, p), MOM_ERR_IO, "save_grads into a missing folder", "no/such", NULL);
    expect_err(f->ctx, mom_model_save(m, ""), MOM_ERR_IO, "save to an empty path", NULL);
    assert_int_equal(tu_count_entries(f->dir, NULL), 0);
    struct stat sb;
    assert_int_equal(stat(p, &sb), -1);

    /* the target is a directory */
    char dirp[320];
    snprintf(dirp, sizeof dirp, "%s", in_dir(f, "adir"));
    assert_int_equal(mkdir(dirp, 0755), 0);
    expect_err(f->ctx, mom_model_save(m, dirp), MOM_ERR_IO, "save over a directory", "adir", NULL);
    expect_err(f->ctx, mom_model_save_optim(m, dirp, 1), MOM_ERR_IO, "save_optim over a directory", "adir", NULL);
    assert_int_equal(stat(dirp, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(tu_count_entries(f->dir, NULL), 1);
    assert_int_equal(tu_count_entries(dirp, NULL), 0);
    assert_false(tu_has_tmp_file(f->dir, 1));

    /* an existing good checkpoint, and its temporary file cannot be created:
     * the old file stays as it was, byte for byte */
    char good[320], tmpd[400];
    snprintf(good, sizeof good, "%s", in_dir(f, "good.safetensors"));
    assert_int_equal(mom_model_save(m, good), MOM_OK);
    size_t size0;
    uint8_t *old = tu_read_file(good, &size0);
    snprintf(tmpd, sizeof tmpd, "%s.tmp.%ld", good, (long)getpid());
    assert_int_equal(mkdir(tmpd, 0755), 0);
    mom_model *other = NULL;
    mom_config c = tu_small_config();
    assert_int_equal(mom_model_create(f->ctx, &c, 1234, &other), MOM_OK);
    expect_err(f->ctx, mom_model_save(other, good), MOM_ERR_IO, "save with the temporary file blocked", "good.safetensors", NULL);
    expect_err(f->ctx, mom_model_save_grads(other, good), MOM_ERR_IO, "save_grads with the temporary file blocked", "good", NULL);
    expect_err(f->ctx, mom_model_save_optim(other, good, 3), MOM_ERR_IO, "save_optim with the temporary file blocked", "good", NULL);
    size_t size1;
    uint8_t *now = tu_read_file(good, &size1);
    assert_int_equal(size0, size1);
    assert_memory_equal(old, now, size0);
    free(now);
    assert_int_equal(rmdir(tmpd), 0);
    mom_model *l = NULL;
    assert_int_equal(mom_model_load(f->ctx, good, &l), MOM_OK);
    mom_model_destroy(&l);
    /* with the obstacle gone the save works and replaces the file */
    assert_int_equal(mom_model_save(other, good), MOM_OK);
    now = tu_read_file(good, &size1);
    assert_int_equal(size0, size1);
    assert_memory_not_equal(old, now, size0);
    free(now);
    free(old);
    mom_model_destroy(&other);
    assert_false(tu_has_tmp_file(f->dir, 1));
    assert_int_equal(tu_count_entries(f->dir, NULL), 2);

    /* a read-only folder (only meaningful when not root) */
    if (geteuid() != 0) {
        char ro[320], rp[400];
        snprintf(ro, sizeof ro, "%s", in_dir(f, "ro"));
        assert_int_equal(mkdir(ro, 0755), 0);
        snprintf(rp, sizeof rp, "%s/m.safetensors", ro);
        assert_int_equal(mom_model_save(m, rp), MOM_OK);
        uint8_t *o0 = tu_read_file(rp, &size0);
        assert_int_equal(chmod(ro, 0555), 0);
        expect_err(f->ctx, mom_model_save(m, rp), MOM_ERR_IO, "save into a read-only folder", "m.safetensors", NULL);
        uint8_t *o1 = tu_read_file(rp, &size1);
        assert_int_equal(size0, size1);
        assert_memory_equal(o0, o1, size0);
        assert_int_equal(chmod(ro, 0755), 0);
        free(o0);
        free(o1);
    }
    assert_unchanged(m, &before, "failed saves");
    drop(&before);
}

/* ---- the optimizer -------------------------------------------------------------- */

static void test_nonfinite_gradient(void **state)
{
    fixture *f = *state;
    mom_model *m = f->m;
    mom_optim_settings o;
    mom_optim_default_settings(&o);
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    const size_t where[3] = {0, m->n_params / 2, m->n_params - 1};
    for (int k = 0; k < 3; k++) {
        bv g = {m->grads, where[k]};
        m->be->upload(m->be, g, &bad[k], 1);
        state_snap before = take(m);
        float gn = 0.0f;
        /* the message names the first tensor whose gradient is not finite */
        expect_err(f->ctx, mom_model_step(m, &o, &gn), MOM_ERR_NONFINITE, "non-finite gradient", "gradient",
                   k == 0 ? "first non-finite gradient: embedding.weight" : "first non-finite gradient: ", NULL);
        assert_false(isfinite(gn));
        assert_unchanged(m, &before, "non-finite gradient");
        expect_err(f->ctx, mom_model_step(m, &o, NULL), MOM_ERR_NONFINITE, "non-finite gradient, no norm", "gradient", NULL);
        assert_unchanged(m, &before, "non-finite gradient");
        drop(&before);
        /* zeroing the gradients makes the step possible again */
        assert_int_equal(mom_model_zero_grad(m), MOM_OK);
        const int64_t s0 = mom_model_steps_done(m);
        assert_int_equal(mom_model_step(m, &o, &gn), MOM_OK);
        assert_true(gn == 0.0f);
        assert_int_equal(mom_model_steps_done(m), s0 + 1);
    }
}

static void test_bad_optim_settings(void **state)
{
    fixture *f = *state;
    mom_model *m = f->m;
    state_snap before = take(m);
    typedef struct { const char *sub; float lr, b1, b2, eps, wd, clip; int warm, total; float minr; } sc;
    const float D_LR = 1e-3f, D_B1 = 0.9f, D_B2 = 0.95f, D_EPS = 1e-8f, D_WD = 0.1f, D_CLIP = 1.0f, D_MIN = 0.1f;
    const sc cases[] = {
        {"lr", NAN, D_B1, D_B2, D_EPS, D_WD, D_CLIP, 10, 100, D_MIN},
        {"lr", INFINITY, D_B1, D_B2, D_EPS, D_WD, D_CLIP, 10, 100, D_MIN},
        {"lr", -1e-3f, D_B1, D_B2, D_EPS, D_WD, D_CLIP, 10, 100, D_MIN},
        {"beta", D_LR, 1.0f, D_B2, D_EPS, D_WD, D_CLIP, 10, 100, D_MIN},
        {"beta", D_LR, -0.1f, D_B2, D_EPS, D_WD, D_CLIP, 10, 100, D_MIN},
        {"beta", D_LR, NAN, D_B2, D_EPS, D_WD, D_CLIP, 10, 100, D_MIN},
        {"beta", D_LR, D_B1, 1.0f, D_EPS, D_WD, D_CLIP, 10, 100, D_MIN},
        {"beta", D_LR, D_B1, 1.5f, D_EPS, D_WD, D_CLIP, 10, 100, D_MIN},
        {"eps", D_LR, D_B1, D_B2, 0.0f, D_WD, D_CLIP, 10, 100, D_MIN},
        {"eps", D_LR, D_B1, D_B2, -1e-8f, D_WD, D_CLIP, 10, 100, D_MIN},
        {"eps", D_LR, D_B1, D_B2, NAN, D_WD, D_CLIP, 10, 100, D_MIN},
        {"weight_decay", D_LR, D_B1, D_B2, D_EPS, -0.1f, D_CLIP, 10, 100, D_MIN},
        {"weight_decay", D_LR, D_B1, D_B2, D_EPS, NAN, D_CLIP, 10, 100, D_MIN},
        {"weight_decay", D_LR, D_B1, D_B2, D_EPS, INFINITY, D_CLIP, 10, 100, D_MIN},
        {"clip", D_LR, D_B1, D_B2, D_EPS, D_WD, NAN, 10, 100, D_MIN},
        {"warmup", D_LR, D_B1, D_B2, D_EPS, D_WD, D_CLIP, -1, 100, D_MIN},
        {"total", D_LR, D_B1, D_B2, D_EPS, D_WD, D_CLIP, 10, -5, D_MIN},
        {"min_lr_ratio", D_LR, D_B1, D_B2, D_EPS, D_WD, D_CLIP, 10, 100, -0.5f},
        {"min_lr_ratio", D_LR, D_B1, D_B2, D_EPS, D_WD, D_CLIP, 10, 100, NAN},
        {"min_lr_ratio", D_LR, D_B1, D_B2, D_EPS, D_WD, D_CLIP, 0, 10, INFINITY},
        {"eps", D_LR, D_B1, D_B2, INFINITY, D_WD, D_CLIP, 10, 100, D_MIN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const sc *c = &cases[i];
        mom_optim_settings o = {.lr = c->lr, .beta1 = c->b1, .beta2 = c->b2, .eps = c->eps, .weight_decay = c->wd, .clip_norm = c->clip, .warmup_steps = c->warm, .total_steps = c->total, .min_lr_ratio = c->minr};
        float gn = -3.0f;
        char what[64];
        snprintf(what, sizeof what, "optimizer case %zu (%s)", i, c->sub);
        expect_err(f->ctx, mom_model_step(m, &o, &gn), MOM_ERR_INVALID_ARG, what, c->sub, NULL);
        assert_true(gn == -3.0f);
        assert_unchanged(m, &before, what);
    }
    /* the defaults are fine, and so is lr 0 */
    mom_optim_settings o;
    mom_optim_default_settings(&o);
    o.lr = 0.0f;
    o.weight_decay = 0.0f;
    assert_int_equal(mom_model_step(m, &o, NULL), MOM_OK);
    assert_int_equal(mom_model_steps_done(m), before.step + 1);
    drop(&before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dataset_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fill_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_optim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lying_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lying_optim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonfinite_optim_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonfinite_gradient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_optim_settings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
