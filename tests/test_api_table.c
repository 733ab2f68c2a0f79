/* Every public function on bad arguments, one table row per function of
 * mom.h and mom_data.h (tests/check_api_table.py fails when a function of
 * the headers has no row, or a row no function). Each row calls its
 * function with every kind of bad argument it can get: NULL for each
 * pointer (one at a time, the others valid), NULL handles, counts and
 * sizes that are negative, zero or huge, indices out of range, buffers too
 * small, unknown names, the object in the wrong state. A status-returning
 * call must give the right error, leave a message naming the bad argument
 * (where a context can hold one), NULL its output handle and change
 * nothing; a void or value-returning call must not crash and must return
 * its "nothing" value. One cmocka test per row, named after the function,
 * so a crash names it.
 *
 * The data functions exist in every build; where the build lacks stb or
 * the audio libraries their file-reading entry points say
 * MOM_ERR_UNSUPPORTED instead (IMG_OR / AUDIO_OR below). */
#include "mom_build_config.h"
#include "ctx.h"
#include "model.h"
#include "mom_data.h"
#include "safetensors.h"
#include "test_util.h"

#include <limits.h>
#include <sys/stat.h>

/* ---- checking one call ---------------------------------------------------- */

static long n_bad_calls; /* bad-argument calls made, printed at the end */

/* got must be want; with a ctx the message must be non-empty and contain
 * sub (when not NULL). */
static void check_status(mom_ctx *ctx, mom_status got, mom_status want, const char *sub, const char *call, int line)
{
    n_bad_calls++;
    if (got != want)
        fail_msg("line %d: %s: status %d (%s), want %d (%s); message: %s", line, call, (int)got, mom_status_str(got),
                 (int)want, mom_status_str(want), ctx ? mom_ctx_last_error(ctx) : "(no context)");
    if (!ctx) return;
    const char *msg = mom_ctx_last_error(ctx);
    if (!msg || !msg[0]) fail_msg("line %d: %s: no message", line, call);
    if (sub && !strstr(msg, sub)) fail_msg("line %d: %s: message \"%s\" lacks \"%s\"", line, call, msg, sub);
}

/* A call that must fail with want, its message (in ctx, when not NULL)
 * naming sub. The message is cleared first, so an old one cannot pass. */
#define BAD(ctx, call, want, sub) \
    (mom_clear_error(ctx), check_status((ctx), (call), (want), (sub), #call, __LINE__))
/* A void call that must not crash. */
#define NOCRASH(call) ((call), n_bad_calls++)
/* A value-returning call that must give its "nothing" value. */
#define VAL(call, want) (n_bad_calls++, assert_int_equal((call), (want)))
#define VAL_NULL(call) (n_bad_calls++, assert_null(call))
#define VAL_STR(call, want) (n_bad_calls++, assert_string_equal((call), (want)))

/* In a build without stb (images) or libsndfile & co (audio), the file
 * entry points refuse every call with MOM_ERR_UNSUPPORTED and a message
 * naming the missing support. */
#define IMG_OR(want) (MOM_HAVE_IMAGES ? (want) : MOM_ERR_UNSUPPORTED)
#define IMG_SUB(sub) (MOM_HAVE_IMAGES ? (sub) : "image support")
#define AUDIO_OR(want) (MOM_HAVE_AUDIO ? (want) : MOM_ERR_UNSUPPORTED)
#define AUDIO_SUB(sub) (MOM_HAVE_AUDIO ? (sub) : "audio support")

/* A non-NULL value an output handle gets before a call that must NULL it. */
static char junk;
#define JUNK(type) ((type *)(void *)&junk)

/* ---- the fixture: one of every object, made once ----------------------------- */

enum { V = TU_SMALL_VOCAB, NMOD = TU_SMALL_NMOD, BB = TU_SMALL_B, TT = TU_SMALL_T };
enum { DS_TOKENS = 64, PDS_TOKENS = 40, PATCH = 2, IMAGE = 4, PATCH_DIM = PATCH * PATCH, N_PATCHES = 4 };

typedef struct fixture {
    char dir[64];
    char missing[320], vq_path[320], units_path[320], ds_path[320], pds_path[320];
    mom_ctx *ctx;
    mom_model *m;  /* the small model, one step trained */
    mom_model *pm; /* the small model with continuous images (2 x 2 patches of 4 x 4 gray) */
    mom_state *st, *pst; /* 2 sequences of m, 1 of pm */
    mom_dataset *d, *pd; /* tokens only; with patches */
    mom_sampler *sp;     /* 2 sequences of m */
    mom_vq *vq;          /* 4 codes of 2 x 2 gray patches of 4 x 4 images */
    mom_units *units;    /* 3 codes (NULL in a build without audio) */
    tu_small_batch bb;
    mom_vocab_layout lay; /* of the vq: special, text, 4 image codes */
} fixture;

static fixture *F;

static mom_config patch_config(void)
{
    mom_config c = tu_small_config();
    c.patches = (mom_patch_geometry){PATCH, IMAGE, 1};
    return c;
}

static void write_vq_file(const char *path)
{
    float book[4 * PATCH_DIM];
    for (int i = 0; i < 4 * PATCH_DIM; i++) book[i] = (float)(i % 5) / 4.0f;
    st_write_tensor t = {"codes", ST_F32, 2, {4, PATCH_DIM}, book};
    st_meta meta[4] = {{"kind", "mom_vq"}, {"size", "4"}, {"patch", "2"}, {"channels", "1"}};
    char err[512];
    if (st_write(path, &t, 1, meta, 4, err, sizeof err)) fail_msg("%s", err);
}

static void write_units_file(const char *path)
{
    float codes[3 * MOM_MEL_BANDS], mean[MOM_MEL_BANDS], sd[MOM_MEL_BANDS];
    for (int i = 0; i < 3 * MOM_MEL_BANDS; i++) codes[i] = (float)(i % 7) * 0.1f;
    for (int i = 0; i < MOM_MEL_BANDS; i++) {
        mean[i] = -4.0f;
        sd[i] = 1.0f;
    }
    st_write_tensor t[3] = {{"codes", ST_F32, 2, {3, MOM_MEL_BANDS}, codes},
                            {"mean", ST_F32, 1, {MOM_MEL_BANDS}, mean},
                            {"std", ST_F32, 1, {MOM_MEL_BANDS}, sd}};
    st_meta meta[5] = {
        {"kind", "mom_units"}, {"sample_rate", "16000"}, {"hop", "320"}, {"window", "400"}, {"bands", "40"}};
    char err[512];
    if (st_write(path, t, 3, meta, 5, err, sizeof err)) fail_msg("%s", err);
}

/* A dataset of pm's kind: a document holding one 4-patch image. */
static void write_patch_dataset(mom_ctx *ctx, const char *path)
{
    int32_t tok[PDS_TOKENS];
    uint8_t mod[PDS_TOKENS];
    float patches[N_PATCHES * PATCH_DIM];
    for (int i = 0; i < PDS_TOKENS; i++) {
        tok[i] = MOM_N_SPECIAL + i % (V - MOM_N_SPECIAL);
        mod[i] = 0;
    }
    tok[0] = MOM_TOK_BOS;
    tok[10] = MOM_TOK_BOI;
    for (int i = 11; i < 11 + N_PATCHES; i++) {
        tok[i] = MOM_TOK_PAD;
        mod[i] = MOM_MOD_IMAGE;
    }
    tok[11 + N_PATCHES] = MOM_TOK_EOI;
    tok[PDS_TOKENS - 1] = MOM_TOK_EOS;
    for (int i = 0; i < N_PATCHES * PATCH_DIM; i++) patches[i] = 0.1f * (float)(i % 9) - 0.4f;
    const mom_patch_geometry g = {PATCH, IMAGE, 1};
    if (mom_dataset_write(ctx, path, tok, mod, PDS_TOKENS, NULL, 1, V, NMOD, NULL, patches, &g))
        fail_msg("%s", mom_ctx_last_error(ctx));
}

static int group_setup(void **state)
{
    (void)state;
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(tu_make_temp_dir(f->dir, sizeof f->dir, "api"), 0);
    snprintf(f->missing, sizeof f->missing, "%s/no-such-file", f->dir);
    snprintf(f->vq_path, sizeof f->vq_path, "%s/vq.safetensors", f->dir);
    snprintf(f->units_path, sizeof f->units_path, "%s/units.safetensors", f->dir);
    snprintf(f->ds_path, sizeof f->ds_path, "%s/d.bin", f->dir);
    snprintf(f->pds_path, sizeof f->pds_path, "%s/pd.bin", f->dir);
    mom_ctx_settings cs;
    mom_ctx_default_settings(&cs);
    cs.n_threads = 1; /* tiny ops under spinning OpenMP threads crawl on a shared machine */
    cs.backend = "cpu";
    assert_int_equal(mom_ctx_create(&f->ctx, &cs), MOM_OK);
    mom_config c = tu_small_config(), pc = patch_config();
    f->m = tu_new_model(f->ctx, &c, 5);
    f->pm = tu_new_model(f->ctx, &pc, 6);
    /* one step, then fresh gradients: params, grads and moments all non-trivial */
    mom_optim_settings o;
    mom_optim_default_settings(&o);
    o.warmup_steps = 0;
    mom_losses l;
    tu_make_small_batch(&f->bb, 10);
    tu_backward(f->m, &f->bb.b, &l);
    assert_int_equal(mom_model_step(f->m, &o, NULL), MOM_OK);
    tu_make_small_batch(&f->bb, 11);
    assert_int_equal(mom_model_backward(f->m, &f->bb.b, 1.0f, &l), MOM_OK);

    mom_state_settings ss;
    mom_state_default_settings(&ss);
    ss.n_seq = 2;
    assert_int_equal(mom_state_create(f->m, &ss, &f->st), MOM_OK);
    ss.n_seq = 1;
    assert_int_equal(mom_state_create(f->pm, &ss, &f->pst), MOM_OK);
    mom_sampling sm;
    mom_sampling_default(&sm);
    assert_int_equal(mom_sampler_create(f->m, &sm, 2, &f->sp), MOM_OK);

    int32_t tok[DS_TOKENS];
    uint8_t mod[DS_TOKENS];
    for (int i = 0; i < DS_TOKENS; i++) {
        tok[i] = (i * 5) % V;
        mod[i] = (uint8_t)(i / 8 % NMOD);
    }
    if (mom_dataset_write(f->ctx, f->ds_path, tok, mod, DS_TOKENS, NULL, 1, V, NMOD, NULL, NULL, NULL))
        fail_msg("%s", mom_ctx_last_error(f->ctx));
    assert_int_equal(mom_dataset_open(f->ctx, f->ds_path, &f->d), MOM_OK);
    write_patch_dataset(f->ctx, f->pds_path);
    assert_int_equal(mom_dataset_open(f->ctx, f->pds_path, &f->pd), MOM_OK);

    write_vq_file(f->vq_path);
    assert_int_equal(mom_vq_load(f->ctx, f->vq_path, &f->vq), MOM_OK);
    mom_import_layout(f->vq, NULL, &f->lay);
    write_units_file(f->units_path);
    assert_int_equal(mom_units_load(f->ctx, f->units_path, &f->units), AUDIO_OR(MOM_OK));
    F = f;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fixture *f = F;
    mom_sampler_destroy(&f->sp);
    mom_state_destroy(&f->st);
    mom_state_destroy(&f->pst);
    mom_dataset_destroy(&f->d);
    mom_dataset_destroy(&f->pd);
    mom_vq_destroy(&f->vq);
    mom_units_destroy(&f->units);
    mom_model_destroy(&f->m);
    mom_model_destroy(&f->pm);
    mom_ctx_destroy(&f->ctx);
    tu_remove_tree(f->dir);
    free(f);
    printf("[ api_table ] %ld bad-argument calls\n", n_bad_calls);
    return 0;
}

/* ---- "nothing changed" ------------------------------------------------------- */

/* A hash of a model's parameters, gradients, Adam moments, config and step. */
static uint64_t model_sum(mom_model *m)
{
    const size_t np = m->n_params;
    float *buf = malloc(np * sizeof(float));
    assert_non_null(buf);
    uint64_t h = 1469598103934665603ULL;
    be_buf *const bufs[4] = {m->params, m->grads, m->adam_m, m->adam_v};
    for (int k = 0; k < 4; k++) {
        bv all = {bufs[k], 0};
        m->be->download(m->be, buf, all, np);
        const unsigned char *bytes = (const unsigned char *)buf;
        for (size_t i = 0; i < np * sizeof(float); i++) h = (h ^ bytes[i]) * 1099511628211ULL;
    }
    free(buf);
    const mom_config *c = mom_model_config(m);
    const unsigned char *cb = (const unsigned char *)c;
    for (size_t i = 0; i < sizeof *c; i++) h = (h ^ cb[i]) * 1099511628211ULL;
    h ^= (uint64_t)mom_model_steps_done(m) * 0x9e3779b97f4a7c15ULL;
    return h;
}

/* ---- the rows: mom.h ---------------------------------------------------------- */

static void row_mom_status_str(fixture *f)
{
    (void)f;
    const int odd[] = {-12, -11, 1, 2, 100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        const char *s = mom_status_str((mom_status)odd[i]);
        n_bad_calls++;
        assert_non_null(s);
        assert_true(strlen(s) > 0);
    }
    for (int st = MOM_ERR_STOPPED; st <= MOM_OK; st++) assert_string_not_equal(mom_status_str((mom_status)st), "unknown status");
    assert_string_equal(mom_status_str(MOM_OK), "ok");
}

static void row_mom_version(fixture *f)
{
    (void)f;
    assert_non_null(mom_version());
    assert_true(strlen(mom_version()) > 0);
}

static void row_mom_vocab_layout_is_set(fixture *f)
{
    (void)f;
    VAL(mom_vocab_layout_is_set(NULL), 0);
    const mom_vocab_layout zero = {.n_special = 0, .n_text = 0, .n_image = 0, .n_speech = 0};
    VAL(mom_vocab_layout_is_set(&zero), 0);
}

static void row_mom_vocab_layout_size(fixture *f)
{
    (void)f;
    VAL(mom_vocab_layout_size(NULL), 0);
    const mom_vocab_layout neg = {.n_special = MOM_N_SPECIAL, .n_text = -1},
                           big = {.n_special = INT_MAX, .n_text = INT_MAX, .n_image = 1};
    VAL(mom_vocab_layout_size(&neg), -1);
    VAL(mom_vocab_layout_size(&big), -1);
}

static void row_mom_vocab_layout_modality(fixture *f)
{
    VAL(mom_vocab_layout_modality(NULL, 0), -1);
    VAL(mom_vocab_layout_modality(&f->lay, -1), -1);
    VAL(mom_vocab_layout_modality(&f->lay, INT32_MIN), -1);
    VAL(mom_vocab_layout_modality(&f->lay, mom_vocab_layout_size(&f->lay)), -1);
    VAL(mom_vocab_layout_modality(&f->lay, INT32_MAX), -1);
}

static void row_mom_vocab_layout_n_modalities(fixture *f)
{
    (void)f;
    VAL(mom_vocab_layout_n_modalities(NULL), 0);
}

static void row_mom_vocab_special(fixture *f)
{
    VAL(mom_vocab_special(NULL, MOM_TOK_EOS), MOM_TOK_EOS); /* no layout: libmom's own ids */
    VAL(mom_vocab_special(&f->lay, -1), -1);
    VAL(mom_vocab_special(&f->lay, MOM_N_SPECIAL), -1);
    VAL(mom_vocab_special(&f->lay, INT_MIN), -1);
}

static void row_mom_vocab_which_special(fixture *f)
{
    VAL(mom_vocab_which_special(NULL, 0), -1);
    VAL(mom_vocab_which_special(&f->lay, -1), -1);
    VAL(mom_vocab_which_special(&f->lay, INT32_MIN), -1);
    VAL(mom_vocab_which_special(&f->lay, INT32_MAX), -1);
}

static void row_mom_vocab_first(fixture *f)
{
    VAL(mom_vocab_first(NULL, MOM_MOD_TEXT), -1);
    VAL(mom_vocab_first(&f->lay, -1), -1);
    VAL(mom_vocab_first(&f->lay, MOM_MOD_SPEECH + 1), -1);
}

static void row_mom_modality_name(fixture *f)
{
    VAL_STR(mom_modality_name(NULL, 1), "m1");
    VAL_STR(mom_modality_name(&f->lay, 1), "image");
    const int odd[] = {-1, MOM_MAX_MODALITIES, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        const char *s = mom_modality_name(&f->lay, odd[i]);
        n_bad_calls++;
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_non_null(mom_modality_name(NULL, odd[i]));
    }
}

static void row_mom_patch_dim(fixture *f)
{
    (void)f;
    VAL(mom_patch_dim(NULL), 0);
    const mom_patch_geometry zero = {0, 0, 0}, neg = {-2, 8, 1}, noch = {2, 8, 0};
    VAL(mom_patch_dim(&zero), 0);
    VAL(mom_patch_dim(&neg), 0);
    VAL(mom_patch_dim(&noch), 0);
}

static void row_mom_patches_per_image(fixture *f)
{
    (void)f;
    VAL(mom_patches_per_image(NULL), 0);
    const mom_patch_geometry zero = {0, 0, 0}, neg = {2, -8, 1}, nop = {0, 8, 1};
    VAL(mom_patches_per_image(&zero), 0);
    VAL(mom_patches_per_image(&neg), 0);
    VAL(mom_patches_per_image(&nop), 0);
}

static void row_mom_config_default(fixture *f)
{
    (void)f;
    NOCRASH(mom_config_default(NULL));
}

static void row_mom_ctx_default_settings(fixture *f)
{
    (void)f;
    NOCRASH(mom_ctx_default_settings(NULL));
}

/* The create error is per thread, not in a context: checked by hand. */
static void expect_create_fails(mom_ctx **out, const mom_ctx_settings *s, const char *sub, int line)
{
    mom_status st = mom_ctx_create(out, s);
    check_status(NULL, st, MOM_ERR_INVALID_ARG, NULL, "mom_ctx_create", line);
    if (out && *out) fail_msg("line %d: mom_ctx_create failed but *out is not NULL", line);
    if (!strstr(mom_ctx_create_error(), sub))
        fail_msg("line %d: create error \"%s\" lacks \"%s\"", line, mom_ctx_create_error(), sub);
}

static void row_mom_ctx_create(fixture *f)
{
    (void)f;
    mom_ctx_settings s;
    mom_ctx_default_settings(&s);
    mom_ctx *c = JUNK(mom_ctx);
    expect_create_fails(NULL, &s, "out", __LINE__);
    expect_create_fails(NULL, NULL, "out", __LINE__);
    s.n_threads = -1;
    expect_create_fails(&c, &s, "n_threads", __LINE__);
    s.n_threads = INT_MAX;
    c = JUNK(mom_ctx);
    expect_create_fails(&c, &s, "n_threads", __LINE__);
    s.n_threads = 1;
    s.cpu = "no-such-cpu";
    c = JUNK(mom_ctx);
    expect_create_fails(&c, &s, "no-such-cpu", __LINE__);
    s.cpu = NULL;
    s.backend = "no-such-backend";
    c = JUNK(mom_ctx);
    expect_create_fails(&c, &s, "no-such-backend", __LINE__);
    /* NULL settings are the defaults; a good create clears the error */
    s.backend = "cpu";
    assert_int_equal(mom_ctx_create(&c, &s), MOM_OK);
    assert_non_null(c);
    assert_string_equal(mom_ctx_create_error(), "");
    assert_string_equal(mom_ctx_last_error(c), "");
    mom_ctx_destroy(&c);
    assert_null(c);
}

static void row_mom_ctx_create_error(fixture *f)
{
    (void)f;
    assert_int_equal(mom_ctx_create(NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_true(strlen(mom_ctx_create_error()) > 0);
    mom_ctx *c = NULL;
    mom_ctx_settings s;
    mom_ctx_default_settings(&s);
    s.n_threads = 1;
    s.backend = "cpu";
    assert_int_equal(mom_ctx_create(&c, &s), MOM_OK);
    VAL_STR(mom_ctx_create_error(), "");
    mom_ctx_destroy(&c);
}

static void row_mom_ctx_destroy(fixture *f)
{
    (void)f;
    NOCRASH(mom_ctx_destroy(NULL));
    mom_ctx *c = NULL;
    NOCRASH(mom_ctx_destroy(&c));
    assert_null(c);
}

static void row_mom_ctx_last_error(fixture *f)
{
    n_bad_calls++;
    assert_non_null(mom_ctx_last_error(NULL));
    mom_clear_error(f->ctx);
    VAL_STR(mom_ctx_last_error(f->ctx), "");
}

static void row_mom_ctx_set_stop(fixture *f)
{
    n_bad_calls++;
    mom_ctx_set_stop(NULL, 1); /* ignored */
    mom_ctx_set_stop(f->ctx, 1);
    mom_ctx_set_stop(f->ctx, 0); /* cleared: the table's later rows run (tests/test_import.c: the stop itself) */
}

static void row_mom_ctx_backend_name(fixture *f)
{
    VAL_STR(mom_ctx_backend_name(NULL), "");
    assert_true(strlen(mom_ctx_backend_name(f->ctx)) > 0);
}

typedef void (*string_fn)(char *, size_t);

static void string_fn_cases(string_fn fn)
{
    char buf[512] = "x";
    NOCRASH(fn(NULL, 10));
    NOCRASH(fn(NULL, 0));
    NOCRASH(fn(buf, 0));
    assert_string_equal(buf, "x");
    NOCRASH(fn(buf, 1));
    assert_string_equal(buf, "");
    memset(buf, 'x', sizeof buf);
    NOCRASH(fn(buf, 4));
    assert_true(strlen(buf) < 4);
    assert_true(buf[4] == 'x');
    fn(buf, sizeof buf);
    assert_true(strlen(buf) < sizeof buf);
}

static void row_mom_cpu_features_string(fixture *f)
{
    (void)f;
    char buf[512] = "x";
    VAL(mom_cpu_features_string(NULL, 10), MOM_ERR_INVALID_ARG);
    VAL(mom_cpu_features_string(NULL, 0), MOM_ERR_INVALID_ARG);
    VAL(mom_cpu_features_string(buf, 0), MOM_ERR_INVALID_ARG);
    assert_string_equal(buf, "x");
    VAL(mom_cpu_features_string(buf, 1), MOM_OK);
    assert_string_equal(buf, "");
    memset(buf, 'x', sizeof buf);
    VAL(mom_cpu_features_string(buf, 4), MOM_OK);
    assert_true(strlen(buf) < 4);
    assert_true(buf[4] == 'x');
    VAL(mom_cpu_features_string(buf, sizeof buf), MOM_OK);
    assert_true(strlen(buf) < sizeof buf);
}

static void row_mom_backend_name(fixture *f)
{
    (void)f;
    VAL_NULL(mom_backend_name(-1));
    VAL_NULL(mom_backend_name(INT_MAX));
    VAL_STR(mom_backend_name(0), "cpu");
}

/* The devices of every backend, into buffers of every size (as string_fn_cases). */
static void row_mom_devices_string(fixture *f)
{
    (void)f;
    char buf[512] = "x";
    VAL(mom_devices_string("cpu", NULL, 10), MOM_ERR_INVALID_ARG);
    VAL(mom_devices_string("cpu", buf, 0), MOM_ERR_INVALID_ARG);
    assert_string_equal(buf, "x");
    /* A failure with room in buf leaves it empty. */
    VAL(mom_devices_string(NULL, buf, sizeof buf), MOM_ERR_INVALID_ARG);
    assert_string_equal(buf, "");
    VAL(mom_devices_string("no-such-backend", buf, sizeof buf), MOM_ERR_NOT_FOUND);
    VAL(mom_devices_string("auto", buf, sizeof buf), MOM_ERR_NOT_FOUND);
    for (int i = 0; mom_backend_name(i); i++) {
        const char *name = mom_backend_name(i);
        VAL(mom_devices_string(name, buf, 1), MOM_OK);
        assert_string_equal(buf, "");
        memset(buf, 'x', sizeof buf);
        VAL(mom_devices_string(name, buf, 4), MOM_OK);
        assert_true(strlen(buf) < 4);
        assert_true(buf[4] == 'x');
        VAL(mom_devices_string(name, buf, sizeof buf), MOM_OK);
        assert_true(strlen(buf) < sizeof buf);
    }
}

/* Deprecated, kept for one release: mom_devices_string("vulkan", ...). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void row_mom_vulkan_devices_string(fixture *f)
{
    (void)f;
    string_fn_cases(mom_vulkan_devices_string);
}
#pragma GCC diagnostic pop

/* ---- config files ---- */

static void row_mom_config_parse_json(fixture *f)
{
    mom_config cfg = tu_small_config(), keep = cfg;
    BAD(f->ctx, mom_config_parse_json(f->ctx, NULL, 3, &cfg), MOM_ERR_INVALID_ARG, "json is NULL");
    BAD(f->ctx, mom_config_parse_json(f->ctx, "{}", 2, NULL), MOM_ERR_INVALID_ARG, "cfg is NULL");
    BAD(NULL, mom_config_parse_json(NULL, NULL, 0, NULL), MOM_ERR_INVALID_ARG, NULL);
    BAD(NULL, mom_config_parse_json(NULL, "{", 1, &cfg), MOM_ERR_CONFIG, NULL);
    BAD(f->ctx, mom_config_parse_json(f->ctx, "{}", 0, &cfg), MOM_ERR_CONFIG, "JSON");
    BAD(f->ctx, mom_config_parse_json(f->ctx, "{\"d_model\": 8}", 5, &cfg), MOM_ERR_CONFIG, "JSON");
    assert_memory_equal(&cfg, &keep, sizeof cfg);
}

static void row_mom_config_load(fixture *f)
{
    mom_config cfg = tu_small_config(), keep = cfg;
    BAD(f->ctx, mom_config_load(f->ctx, NULL, &cfg), MOM_ERR_INVALID_ARG, "path is NULL");
    BAD(f->ctx, mom_config_load(f->ctx, f->missing, NULL), MOM_ERR_INVALID_ARG, "cfg is NULL");
    BAD(f->ctx, mom_config_load(f->ctx, f->missing, &cfg), MOM_ERR_IO, "no-such-file");
    BAD(NULL, mom_config_load(NULL, f->missing, &cfg), MOM_ERR_IO, NULL);
    BAD(f->ctx, mom_config_load(f->ctx, f->dir, &cfg), MOM_ERR_IO, f->dir);
    assert_memory_equal(&cfg, &keep, sizeof cfg);
}

static void row_mom_config_to_json(fixture *f)
{
    (void)f;
    mom_config cfg = tu_small_config(), keep = cfg;
    char buf[1024] = "x";
    BAD(NULL, mom_config_to_json(NULL, buf, sizeof buf), MOM_ERR_INVALID_ARG, NULL);
    BAD(NULL, mom_config_to_json(&cfg, NULL, sizeof buf), MOM_ERR_INVALID_ARG, NULL);
    BAD(NULL, mom_config_to_json(&cfg, buf, 0), MOM_ERR_INVALID_ARG, NULL);
    assert_string_equal(buf, "x");
    BAD(NULL, mom_config_to_json(&cfg, buf, 1), MOM_ERR_INVALID_ARG, NULL);
    assert_true(strlen(buf) < 1);
    BAD(NULL, mom_config_to_json(&cfg, buf, 5), MOM_ERR_INVALID_ARG, NULL);
    assert_true(strlen(buf) < 5);
    /* the layout and the patches are appended: too short for them as well */
    cfg.vocab_layout = (mom_vocab_layout){.n_special = MOM_N_SPECIAL, .n_text = V - MOM_N_SPECIAL};
    cfg.patches = (mom_patch_geometry){PATCH, IMAGE, 1};
    assert_int_equal(mom_config_to_json(&cfg, buf, sizeof buf), MOM_OK);
    const size_t full = strlen(buf);
    for (size_t cap = full - 40; cap <= full; cap += 8) {
        memset(buf, 'x', sizeof buf);
        BAD(NULL, mom_config_to_json(&cfg, buf, cap), MOM_ERR_INVALID_ARG, NULL);
        assert_true(strlen(buf) < cap);
    }
    cfg = keep;
    assert_memory_equal(&cfg, &keep, sizeof cfg);
}

static void row_mom_config_validate(fixture *f)
{
    BAD(f->ctx, mom_config_validate(f->ctx, NULL), MOM_ERR_INVALID_ARG, "cfg is NULL");
    BAD(NULL, mom_config_validate(NULL, NULL), MOM_ERR_INVALID_ARG, NULL);
    mom_config c = tu_small_config();
    c.d_model = -1;
    mom_config keep = c;
    BAD(f->ctx, mom_config_validate(f->ctx, &c), MOM_ERR_CONFIG, "d_model");
    assert_memory_equal(&c, &keep, sizeof c);
}

/* ---- models ---- */

static void row_mom_model_create(fixture *f)
{
    mom_config cfg = tu_small_config();
    mom_model *o = JUNK(mom_model);
    BAD(NULL, mom_model_create(NULL, &cfg, 1, &o), MOM_ERR_INVALID_ARG, NULL);
    assert_null(o);
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_create(f->ctx, NULL, 1, &o), MOM_ERR_INVALID_ARG, "cfg is NULL");
    assert_null(o);
    BAD(f->ctx, mom_model_create(f->ctx, &cfg, 1, NULL), MOM_ERR_INVALID_ARG, "out is NULL");
    cfg.d_model = 0;
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_create(f->ctx, &cfg, 1, &o), MOM_ERR_CONFIG, "d_model");
    assert_null(o);
    cfg = tu_small_config();
    cfg.n_layer = INT_MAX;
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_create(f->ctx, &cfg, 1, &o), MOM_ERR_CONFIG, "n_layer");
    assert_null(o);
}

static void row_mom_model_load(fixture *f)
{
    mom_model *o = JUNK(mom_model);
    BAD(NULL, mom_model_load(NULL, f->missing, &o), MOM_ERR_INVALID_ARG, NULL);
    assert_null(o);
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_load(f->ctx, NULL, &o), MOM_ERR_INVALID_ARG, "path is NULL");
    assert_null(o);
    BAD(f->ctx, mom_model_load(f->ctx, f->missing, NULL), MOM_ERR_INVALID_ARG, "out is NULL");
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_load(f->ctx, f->missing, &o), MOM_ERR_IO, "no-such-file");
    assert_null(o);
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_load(f->ctx, f->ds_path, &o), MOM_ERR_FORMAT, "d.bin"); /* not a checkpoint */
    assert_null(o);
}

static void row_mom_model_load_pretrained(fixture *f)
{
    mom_model *o = JUNK(mom_model);
    BAD(NULL, mom_model_load_pretrained(NULL, f->missing, &o), MOM_ERR_INVALID_ARG, NULL);
    assert_null(o);
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_load_pretrained(f->ctx, NULL, &o), MOM_ERR_INVALID_ARG, "path is NULL");
    assert_null(o);
    BAD(f->ctx, mom_model_load_pretrained(f->ctx, f->missing, NULL), MOM_ERR_INVALID_ARG, "out is NULL");
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_load_pretrained(f->ctx, f->missing, &o), MOM_ERR_IO, "no-such-file");
    assert_null(o);
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_load_pretrained(f->ctx, f->ds_path, &o), MOM_ERR_FORMAT, "d.bin"); /* not safetensors */
    assert_null(o);
}

static void row_mom_model_upcycle(fixture *f)
{
    mom_model *o = JUNK(mom_model);
    BAD(NULL, mom_model_upcycle(NULL, 2, MOM_DECOUPLE_ALL, &o), MOM_ERR_INVALID_ARG, NULL);
    assert_null(o);
    BAD(f->ctx, mom_model_upcycle(f->m, 2, MOM_DECOUPLE_ALL, NULL), MOM_ERR_INVALID_ARG, "out is NULL");
    o = JUNK(mom_model);
    /* f->m has three modalities: not a dense model */
    BAD(f->ctx, mom_model_upcycle(f->m, 2, MOM_DECOUPLE_ALL, &o), MOM_ERR_INVALID_ARG, "3 modalities");
    assert_null(o);
    mom_config c = tu_small_config();
    c.n_modalities = 1;
    mom_model *dense = tu_new_model(f->ctx, &c, 1);
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_upcycle(dense, 0, MOM_DECOUPLE_ALL, &o), MOM_ERR_INVALID_ARG, "n_modalities = 0");
    assert_null(o);
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_upcycle(dense, MOM_MAX_MODALITIES + 1, MOM_DECOUPLE_ALL, &o), MOM_ERR_INVALID_ARG, "9");
    assert_null(o);
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_upcycle(dense, 2, 0x10, &o), MOM_ERR_CONFIG, "decouple");
    assert_null(o);
    mom_model_destroy(&dense);
}

static void row_mom_model_quantize(fixture *f)
{
    mom_model *o = JUNK(mom_model);
    BAD(NULL, mom_model_quantize(NULL, MOM_WEIGHTS_Q8, &o), MOM_ERR_INVALID_ARG, NULL);
    assert_null(o);
    BAD(f->ctx, mom_model_quantize(f->m, MOM_WEIGHTS_Q8, NULL), MOM_ERR_INVALID_ARG, "out is NULL");
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_quantize(f->m, MOM_WEIGHTS_F32, &o), MOM_ERR_INVALID_ARG, "format 0");
    assert_null(o);
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_quantize(f->m, -1, &o), MOM_ERR_INVALID_ARG, "format -1");
    assert_null(o);
}

static void row_mom_model_extend_vocab(fixture *f)
{
    mom_vocab_layout l = {.n_special = 5, .n_text = TU_SMALL_VOCAB, .n_image = 2, .text_first = 1};
    for (int k = 0; k < MOM_N_SPECIAL; k++) l.special_id[k] = k < 2 ? 0 : TU_SMALL_VOCAB + k - 2;
    mom_model *o = JUNK(mom_model);
    BAD(NULL, mom_model_extend_vocab(NULL, &l, 0, &o), MOM_ERR_INVALID_ARG, NULL);
    assert_null(o);
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_extend_vocab(f->m, NULL, 0, &o), MOM_ERR_INVALID_ARG, "layout is NULL");
    assert_null(o);
    BAD(f->ctx, mom_model_extend_vocab(f->m, &l, 0, NULL), MOM_ERR_INVALID_ARG, "out is NULL");
    mom_vocab_layout own = l;
    own.text_first = 0;
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_extend_vocab(f->m, &own, 0, &o), MOM_ERR_INVALID_ARG, "text_first 0");
    assert_null(o);
    l.special_id[MOM_TOK_PAD] = -3;
    o = JUNK(mom_model);
    BAD(f->ctx, mom_model_extend_vocab(f->m, &l, 0, &o), MOM_ERR_CONFIG, "vocab_layout.pad = -3");
    assert_null(o);
}

static void row_mom_model_export(fixture *f)
{
    char out[400];
    snprintf(out, sizeof out, "%s/export", f->dir);
    BAD(NULL, mom_model_export(NULL, "hf", 0, out), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_export(f->m, NULL, 0, out), MOM_ERR_INVALID_ARG, "format is NULL");
    BAD(f->ctx, mom_model_export(f->m, "hf", 0, NULL), MOM_ERR_INVALID_ARG, "out_dir is NULL");
    BAD(f->ctx, mom_model_export(f->m, "torch", 0, out), MOM_ERR_INVALID_ARG, "torch");
    BAD(f->ctx, mom_model_export(f->m, "hf", -1, out), MOM_ERR_INVALID_ARG, "pick the modality");
    BAD(f->ctx, mom_model_export(f->m, "hf", -2, out), MOM_ERR_INVALID_ARG, "modality -2");
    BAD(f->ctx, mom_model_export(f->m, "hf", f->m->cfg.n_modalities, out), MOM_ERR_INVALID_ARG, "the model has");
    BAD(f->ctx, mom_model_export(f->pm, "hf", 0, out), MOM_ERR_UNSUPPORTED, "continuous images");
    struct stat st;
    assert_int_not_equal(stat(out, &st), 0); /* nothing written */
}

static void row_mom_model_save(fixture *f)
{
    const uint64_t h = model_sum(f->m);
    char p[400];
    snprintf(p, sizeof p, "%s/m.safetensors", f->dir);
    BAD(NULL, mom_model_save(NULL, p), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_save(f->m, NULL), MOM_ERR_INVALID_ARG, "path is NULL");
    struct stat sb;
    assert_int_equal(stat(p, &sb), -1); /* nothing written */
    BAD(f->ctx, mom_model_save(f->m, ""), MOM_ERR_IO, NULL);
    BAD(f->ctx, mom_model_save(f->m, f->dir), MOM_ERR_IO, f->dir);
    snprintf(p, sizeof p, "%s/no/such/m.safetensors", f->dir);
    BAD(f->ctx, mom_model_save(f->m, p), MOM_ERR_IO, "no/such");
    assert_true(model_sum(f->m) == h);
}

static void row_mom_model_destroy(fixture *f)
{
    (void)f;
    NOCRASH(mom_model_destroy(NULL));
    mom_model *o = NULL;
    NOCRASH(mom_model_destroy(&o));
    assert_null(o);
}

static void row_mom_model_config(fixture *f)
{
    VAL_NULL(mom_model_config(NULL));
    assert_non_null(mom_model_config(f->m));
}

static void row_mom_model_get_info(fixture *f)
{
    mom_model_info info, keep;
    memset(&info, 0x5a, sizeof info);
    keep = info;
    VAL(mom_model_get_info(NULL, &info), MOM_ERR_INVALID_ARG);
    assert_memory_equal(&info, &keep, sizeof info);
    BAD(f->ctx, mom_model_get_info(f->m, NULL), MOM_ERR_INVALID_ARG, "info is NULL");
}

static void row_mom_model_n_tensors(fixture *f)
{
    VAL(mom_model_n_tensors(NULL), 0);
    assert_true(mom_model_n_tensors(f->m) > 0);
}

static void row_mom_model_tensor_name(fixture *f)
{
    const size_t nt = mom_model_n_tensors(f->m);
    VAL_NULL(mom_model_tensor_name(NULL, 0));
    VAL_NULL(mom_model_tensor_name(f->m, nt));
    VAL_NULL(mom_model_tensor_name(f->m, (size_t)-1));
    assert_non_null(mom_model_tensor_name(f->m, nt - 1));
}

/* The tensor the get/set rows use, and its size. */
#define TNAME "layers.0.mixer.A_log"
enum { TN = 2 * TU_SMALL_D_MODEL * TU_SMALL_D_STATE };

static void row_mom_model_tensor_shape(fixture *f)
{
    int nd = -7;
    int64_t sh[4] = {-7, -7, -7, -7};
    BAD(NULL, mom_model_tensor_shape(NULL, TNAME, &nd, sh), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_tensor_shape(f->m, NULL, &nd, sh), MOM_ERR_INVALID_ARG, "name is NULL");
    BAD(f->ctx, mom_model_tensor_shape(f->m, TNAME, NULL, sh), MOM_ERR_INVALID_ARG, "ndim is NULL");
    BAD(f->ctx, mom_model_tensor_shape(f->m, TNAME, &nd, NULL), MOM_ERR_INVALID_ARG, "shape is NULL");
    BAD(f->ctx, mom_model_tensor_shape(f->m, "no.such.tensor", &nd, sh), MOM_ERR_NOT_FOUND, "no.such.tensor");
    BAD(f->ctx, mom_model_tensor_shape(f->m, "", &nd, sh), MOM_ERR_NOT_FOUND, "\"\"");
    assert_int_equal(nd, -7);
    assert_int_equal(sh[0], -7);
}

typedef mom_status (*tensor_get_fn)(mom_model *, const char *, float *, size_t);

static void tensor_get_cases(fixture *f, tensor_get_fn get)
{
    const uint64_t h = model_sum(f->m);
    float buf[TN + 1], ref[TN + 1];
    memset(buf, 0x7f, sizeof buf);
    memcpy(ref, buf, sizeof buf);
    BAD(NULL, get(NULL, TNAME, buf, TN), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, get(f->m, NULL, buf, TN), MOM_ERR_INVALID_ARG, "name is NULL");
    BAD(f->ctx, get(f->m, TNAME, NULL, TN), MOM_ERR_INVALID_ARG, TNAME ": out is NULL");
    BAD(f->ctx, get(f->m, "embedding.weight.x", buf, TN), MOM_ERR_NOT_FOUND, "embedding.weight.x");
    BAD(f->ctx, get(f->m, TNAME, buf, TN - 1), MOM_ERR_INVALID_ARG, "64 elements, not 63");
    BAD(f->ctx, get(f->m, TNAME, buf, TN + 1), MOM_ERR_INVALID_ARG, "65");
    BAD(f->ctx, get(f->m, TNAME, buf, 0), MOM_ERR_INVALID_ARG, TNAME);
    BAD(f->ctx, get(f->m, TNAME, buf, SIZE_MAX), MOM_ERR_INVALID_ARG, TNAME);
    assert_memory_equal(buf, ref, sizeof buf);
    assert_true(model_sum(f->m) == h);
}

static void row_mom_model_get_param(fixture *f) { tensor_get_cases(f, mom_model_get_param); }
static void row_mom_model_get_grad(fixture *f) { tensor_get_cases(f, mom_model_get_grad); }

static void row_mom_model_set_param(fixture *f)
{
    const uint64_t h = model_sum(f->m);
    float buf[TN + 1];
    assert_int_equal(mom_model_get_param(f->m, TNAME, buf, TN), MOM_OK);
    buf[TN] = NAN; /* past the end: read only when n is wrong */
    BAD(NULL, mom_model_set_param(NULL, TNAME, buf, TN), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_set_param(f->m, NULL, buf, TN), MOM_ERR_INVALID_ARG, "name is NULL");
    BAD(f->ctx, mom_model_set_param(f->m, TNAME, NULL, TN), MOM_ERR_INVALID_ARG, TNAME ": in is NULL");
    BAD(f->ctx, mom_model_set_param(f->m, "nope", buf, TN), MOM_ERR_NOT_FOUND, "nope");
    BAD(f->ctx, mom_model_set_param(f->m, TNAME, buf, TN - 1), MOM_ERR_INVALID_ARG, "63");
    BAD(f->ctx, mom_model_set_param(f->m, TNAME, buf, TN + 1), MOM_ERR_INVALID_ARG, "65");
    BAD(f->ctx, mom_model_set_param(f->m, TNAME, buf, 0), MOM_ERR_INVALID_ARG, TNAME);
    BAD(f->ctx, mom_model_set_param(f->m, TNAME, buf, SIZE_MAX), MOM_ERR_INVALID_ARG, TNAME);
    const float saved9 = buf[9];
    buf[9] = NAN;
    BAD(f->ctx, mom_model_set_param(f->m, TNAME, buf, TN), MOM_ERR_INVALID_ARG, "element 9 is not finite");
    buf[9] = saved9;
    buf[TN - 1] = -INFINITY;
    BAD(f->ctx, mom_model_set_param(f->m, TNAME, buf, TN), MOM_ERR_INVALID_ARG, "63");
    assert_true(strstr(mom_ctx_last_error(f->ctx), "finite") != NULL);
    assert_true(model_sum(f->m) == h);
}

static void row_mom_model_get_grads(fixture *f)
{
    const uint64_t h = model_sum(f->m);
    mom_model_info info;
    mom_model_get_info(f->m, &info);
    const size_t np = (size_t)info.n_params;
    float *buf = malloc((np + 1) * sizeof(float));
    assert_non_null(buf);
    memset(buf, 0x7f, (np + 1) * sizeof(float));
    const float sentinel = buf[0];
    BAD(NULL, mom_model_get_grads(NULL, buf, np), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_get_grads(f->m, NULL, np), MOM_ERR_INVALID_ARG, "gradients: out is NULL");
    BAD(f->ctx, mom_model_get_grads(f->m, buf, np - 1), MOM_ERR_INVALID_ARG, "gradients");
    BAD(f->ctx, mom_model_get_grads(f->m, buf, np + 1), MOM_ERR_INVALID_ARG, "gradients");
    BAD(f->ctx, mom_model_get_grads(f->m, buf, 0), MOM_ERR_INVALID_ARG, "gradients");
    BAD(f->ctx, mom_model_get_grads(f->m, buf, SIZE_MAX), MOM_ERR_INVALID_ARG, "gradients");
    assert_true(buf[0] == sentinel && buf[np - 1] == sentinel);
    free(buf);
    assert_true(model_sum(f->m) == h);
}

static void row_mom_model_set_grads(fixture *f)
{
    const uint64_t h = model_sum(f->m);
    mom_model_info info;
    mom_model_get_info(f->m, &info);
    const size_t np = (size_t)info.n_params;
    float *buf = calloc(np + 1, sizeof(float));
    assert_non_null(buf);
    BAD(NULL, mom_model_set_grads(NULL, buf, np), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_set_grads(f->m, NULL, np), MOM_ERR_INVALID_ARG, "gradients: in is NULL");
    BAD(f->ctx, mom_model_set_grads(f->m, buf, np - 1), MOM_ERR_INVALID_ARG, "gradients");
    BAD(f->ctx, mom_model_set_grads(f->m, buf, np + 1), MOM_ERR_INVALID_ARG, "gradients");
    BAD(f->ctx, mom_model_set_grads(f->m, buf, 0), MOM_ERR_INVALID_ARG, "gradients");
    BAD(f->ctx, mom_model_set_grads(f->m, buf, SIZE_MAX), MOM_ERR_INVALID_ARG, "gradients");
    free(buf);
    assert_true(model_sum(f->m) == h);
}

static void row_mom_losses_accumulate(fixture *f)
{
    mom_losses acc, add, keep;
    memset(&acc, 0, sizeof acc);
    memset(&add, 0, sizeof add);
    add.count[0] = 3;
    add.by_modality[0] = 1.5;
    add.n_targets = 3;
    keep = acc;
    VAL(mom_losses_accumulate(NULL, &acc, &add), MOM_ERR_INVALID_ARG);
    BAD(f->ctx, mom_losses_accumulate(f->m, NULL, &add), MOM_ERR_INVALID_ARG, "acc is NULL");
    BAD(f->ctx, mom_losses_accumulate(f->m, &acc, NULL), MOM_ERR_INVALID_ARG, "add is NULL");
    assert_memory_equal(&acc, &keep, sizeof acc);
}

/* Every way a batch can be bad, through fn (forward, backward or train_step). */
typedef mom_status (*batch_fn)(mom_model *, const mom_batch *, mom_losses *);

static mom_status fwd(mom_model *m, const mom_batch *b, mom_losses *l) { return mom_model_forward(m, b, l); }
static mom_status bwd(mom_model *m, const mom_batch *b, mom_losses *l) { return mom_model_backward(m, b, 1.0f, l); }
static mom_status train(mom_model *m, const mom_batch *b, mom_losses *l)
{
    mom_optim_settings o;
    mom_optim_default_settings(&o);
    return mom_model_train_step(m, b, &o, l, NULL);
}

static void batch_cases(fixture *f, batch_fn fn)
{
    const uint64_t h = model_sum(f->m), hp = model_sum(f->pm);
    mom_losses l;
    const mom_batch good = f->bb.b;
    BAD(NULL, fn(NULL, &good, &l), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, fn(f->m, NULL, &l), MOM_ERR_INVALID_ARG, "batch is NULL");
    BAD(f->ctx, fn(f->m, &good, NULL), MOM_ERR_INVALID_ARG, "losses output is NULL");
    const char *names[4] = {"tokens is NULL", "modality is NULL", "targets is NULL", "target_modality is NULL"};
    for (int k = 0; k < 4; k++) {
        mom_batch b = good;
        if (k == 0) b.tokens = NULL;
        if (k == 1) b.modality = NULL;
        if (k == 2) b.targets = NULL;
        if (k == 3) b.target_modality = NULL;
        BAD(f->ctx, fn(f->m, &b, &l), MOM_ERR_INVALID_ARG, names[k]);
    }
    const int sizes[][2] = {{0, TT},           {BB, 0},           {-1, TT},   {BB, -13},
                            {1 << 13, 1 << 12}, {INT_MAX, INT_MAX}, {INT_MIN, -1}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        mom_batch b = good;
        b.B = sizes[k][0];
        b.T = sizes[k][1];
        BAD(f->ctx, fn(f->m, &b, &l), MOM_ERR_INVALID_ARG, "B = ");
    }
    /* ids out of range */
    tu_small_batch bad = f->bb;
    bad.b.tokens = bad.tok;
    bad.tok[3] = V;
    BAD(f->ctx, fn(f->m, &bad.b, &l), MOM_ERR_DATA, "token 17");
    /* an image position without patches, on the model with continuous images */
    mom_batch b = good;
    uint8_t mod[BB * TT];
    memcpy(mod, good.modality, sizeof mod);
    mod[4] = MOM_MOD_IMAGE;
    b.modality = mod;
    BAD(f->ctx, fn(f->pm, &b, &l), MOM_ERR_INVALID_ARG, "patches");
    b.low_t_fraction = NAN;
    BAD(f->ctx, fn(f->pm, &b, &l), MOM_ERR_INVALID_ARG, "low_t_fraction");
    assert_true(model_sum(f->m) == h);
    assert_true(model_sum(f->pm) == hp);
}

static void row_mom_model_forward(fixture *f) { batch_cases(f, fwd); }

static void row_mom_model_backward(fixture *f)
{
    batch_cases(f, bwd);
    const uint64_t h = model_sum(f->m);
    mom_losses l;
    BAD(f->ctx, mom_model_backward(f->m, &f->bb.b, NAN, &l), MOM_ERR_INVALID_ARG, "grad_scale = nan");
    BAD(f->ctx, mom_model_backward(f->m, &f->bb.b, INFINITY, &l), MOM_ERR_INVALID_ARG, "grad_scale = inf");
    BAD(f->ctx, mom_model_backward(f->m, &f->bb.b, -INFINITY, &l), MOM_ERR_INVALID_ARG, "grad_scale");
    assert_true(model_sum(f->m) == h);
}

static void row_mom_model_zero_grad(fixture *f)
{
    (void)f;
    BAD(NULL, mom_model_zero_grad(NULL), MOM_ERR_INVALID_ARG, NULL);
}

static void row_mom_model_save_grads(fixture *f)
{
    const uint64_t h = model_sum(f->m);
    char p[400];
    snprintf(p, sizeof p, "%s/g.safetensors", f->dir);
    BAD(NULL, mom_model_save_grads(NULL, p), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_save_grads(f->m, NULL), MOM_ERR_INVALID_ARG, "path is NULL");
    struct stat sb;
    assert_int_equal(stat(p, &sb), -1);
    snprintf(p, sizeof p, "%s/no/such/g.safetensors", f->dir);
    BAD(f->ctx, mom_model_save_grads(f->m, p), MOM_ERR_IO, "no/such");
    assert_true(model_sum(f->m) == h);
}

/* ---- the optimizer ---- */

static void row_mom_optim_default_settings(fixture *f)
{
    (void)f;
    NOCRASH(mom_optim_default_settings(NULL));
}

static void row_mom_optim_lr_at(fixture *f)
{
    (void)f;
    n_bad_calls++;
    assert_true(mom_optim_lr_at(NULL, 0) == 0.0f);
    mom_optim_settings o;
    mom_optim_default_settings(&o);
    o.total_steps = 1000;
    n_bad_calls += 3;
    assert_true(mom_optim_lr_at(&o, -5) == mom_optim_lr_at(&o, 0));
    assert_true(mom_optim_lr_at(&o, INT64_MIN) == mom_optim_lr_at(&o, 0));
    assert_true(isfinite(mom_optim_lr_at(&o, INT64_MAX)));
}

static void row_mom_model_step(fixture *f)
{
    const uint64_t h = model_sum(f->m);
    mom_optim_settings o;
    mom_optim_default_settings(&o);
    float gn = -3.0f;
    BAD(NULL, mom_model_step(NULL, &o, &gn), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_step(f->m, NULL, &gn), MOM_ERR_INVALID_ARG, "settings are NULL");
    o.lr = -1.0f;
    BAD(f->ctx, mom_model_step(f->m, &o, &gn), MOM_ERR_INVALID_ARG, "lr");
    o.lr = 1e-3f;
    o.warmup_steps = INT_MIN;
    BAD(f->ctx, mom_model_step(f->m, &o, &gn), MOM_ERR_INVALID_ARG, "warmup");
    assert_true(gn == -3.0f);
    assert_true(model_sum(f->m) == h);
}

static void row_mom_model_train_step(fixture *f)
{
    batch_cases(f, train);
    const uint64_t h = model_sum(f->m);
    mom_optim_settings o;
    mom_optim_default_settings(&o);
    mom_losses l;
    float gn = -3.0f;
    BAD(NULL, mom_model_train_step(NULL, &f->bb.b, &o, &l, &gn), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_train_step(f->m, &f->bb.b, NULL, &l, &gn), MOM_ERR_INVALID_ARG, "settings");
    BAD(f->ctx, mom_model_train_step(f->m, NULL, &o, &l, &gn), MOM_ERR_INVALID_ARG, "batch");
    BAD(f->ctx, mom_model_train_step(f->m, &f->bb.b, &o, NULL, &gn), MOM_ERR_INVALID_ARG, "losses");
    o.eps = 0.0f;
    BAD(f->ctx, mom_model_train_step(f->m, &f->bb.b, &o, &l, &gn), MOM_ERR_INVALID_ARG, "eps");
    assert_true(gn == -3.0f);
    assert_true(model_sum(f->m) == h);
}

static void row_mom_model_steps_done(fixture *f)
{
    (void)f;
    VAL(mom_model_steps_done(NULL), 0);
}

static void row_mom_model_save_optim(fixture *f)
{
    const uint64_t h = model_sum(f->m);
    char p[400];
    snprintf(p, sizeof p, "%s/o.safetensors", f->dir);
    BAD(NULL, mom_model_save_optim(NULL, p, 0), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_save_optim(f->m, NULL, 0), MOM_ERR_INVALID_ARG, "path is NULL");
    struct stat sb;
    assert_int_equal(stat(p, &sb), -1);
    snprintf(p, sizeof p, "%s/no/such/o.safetensors", f->dir);
    BAD(f->ctx, mom_model_save_optim(f->m, p, 0), MOM_ERR_IO, "no/such");
    assert_true(model_sum(f->m) == h);
}

static void row_mom_model_load_optim(fixture *f)
{
    const uint64_t h = model_sum(f->m);
    uint64_t rng = 5;
    BAD(NULL, mom_model_load_optim(NULL, f->missing, &rng), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_load_optim(f->m, NULL, &rng), MOM_ERR_INVALID_ARG, "path is NULL");
    BAD(f->ctx, mom_model_load_optim(f->m, f->missing, &rng), MOM_ERR_IO, "no-such-file");
    BAD(f->ctx, mom_model_load_optim(f->m, f->missing, NULL), MOM_ERR_IO, "no-such-file");
    BAD(f->ctx, mom_model_load_optim(f->m, f->vq_path, &rng), MOM_ERR_FORMAT, "vq.safetensors");
    assert_true(rng == 5);
    assert_true(model_sum(f->m) == h);
}

/* ---- diffusion ---- */

static void row_mom_diffusion_alpha_bar(fixture *f)
{
    (void)f;
    n_bad_calls += 4;
    assert_true(mom_diffusion_alpha_bar(-1) == 1.0);
    assert_true(mom_diffusion_alpha_bar(INT_MIN) == 1.0);
    assert_true(mom_diffusion_alpha_bar(INT_MAX) == mom_diffusion_alpha_bar(MOM_DIFFUSION_STEPS - 1));
    assert_true(mom_diffusion_alpha_bar(MOM_DIFFUSION_STEPS) == mom_diffusion_alpha_bar(MOM_DIFFUSION_STEPS - 1));
}

static void row_mom_diffusion_time_features(fixture *f)
{
    (void)f;
    float out[8] = {7, 7, 7, 7, 7, 7, 7, 7};
    VAL(mom_diffusion_time_features(5, 8, NULL), MOM_ERR_INVALID_ARG);
    VAL(mom_diffusion_time_features(5, 0, out), MOM_ERR_INVALID_ARG);
    VAL(mom_diffusion_time_features(5, -8, out), MOM_ERR_INVALID_ARG);
    VAL(mom_diffusion_time_features(5, INT_MIN, out), MOM_ERR_INVALID_ARG);
    VAL(mom_diffusion_time_features(5, 1, out), MOM_ERR_INVALID_ARG);
    VAL(mom_diffusion_time_features(5, 7, out), MOM_ERR_INVALID_ARG);
    for (int i = 0; i < 8; i++) assert_true(out[i] == 7.0f);
    assert_int_equal(mom_diffusion_time_features(5, 8, out), MOM_OK);
}

static void row_mom_ddim_step(fixture *f)
{
    (void)f;
    float x[4] = {0.1f, 0.2f, 0.3f, 0.4f}, eps[4] = {0};
    const float keep[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    VAL(mom_ddim_step(4, NULL, eps, 500, 400, 1.0f), MOM_ERR_INVALID_ARG);
    VAL(mom_ddim_step(4, x, NULL, 500, 400, 1.0f), MOM_ERR_INVALID_ARG);
    VAL(mom_ddim_step(SIZE_MAX, NULL, NULL, 500, 400, 1.0f), MOM_ERR_INVALID_ARG);
    VAL(mom_ddim_step(0, x, eps, 500, 400, 1.0f), MOM_OK);
    assert_memory_equal(x, keep, sizeof x);
    /* timesteps past either end are clamped (alpha_bar), never read out of a table */
    VAL(mom_ddim_step(4, x, eps, INT_MAX, INT_MIN, 1.0f), MOM_OK);
    for (int i = 0; i < 4; i++) assert_true(isfinite(x[i]));
}

/* ---- datasets ---- */

static void row_mom_dataset_open(fixture *f)
{
    mom_dataset *d = JUNK(mom_dataset);
    BAD(f->ctx, mom_dataset_open(f->ctx, NULL, &d), MOM_ERR_INVALID_ARG, "path is NULL");
    assert_null(d);
    BAD(f->ctx, mom_dataset_open(f->ctx, f->ds_path, NULL), MOM_ERR_INVALID_ARG, "out is NULL");
    d = JUNK(mom_dataset);
    BAD(f->ctx, mom_dataset_open(f->ctx, f->missing, &d), MOM_ERR_IO, "no-such-file");
    assert_null(d);
    d = JUNK(mom_dataset);
    BAD(f->ctx, mom_dataset_open(f->ctx, f->dir, &d), MOM_ERR_IO, f->dir);
    assert_null(d);
    d = JUNK(mom_dataset);
    BAD(f->ctx, mom_dataset_open(f->ctx, f->vq_path, &d), MOM_ERR_FORMAT, "vq.safetensors");
    assert_null(d);
    BAD(NULL, mom_dataset_open(NULL, NULL, NULL), MOM_ERR_INVALID_ARG, NULL);
}

static void row_mom_dataset_destroy(fixture *f)
{
    (void)f;
    NOCRASH(mom_dataset_destroy(NULL));
    mom_dataset *d = NULL;
    NOCRASH(mom_dataset_destroy(&d));
    assert_null(d);
}

/* The deprecated alias, the one call of it allowed in a -Werror build. */
static void row_mom_dataset_close(fixture *f)
{
    (void)f;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    NOCRASH(mom_dataset_close(NULL));
    mom_dataset *d = NULL;
    NOCRASH(mom_dataset_close(&d));
#pragma GCC diagnostic pop
    assert_null(d);
}

static void row_mom_dataset_n_tokens(fixture *f) { (void)f; VAL(mom_dataset_n_tokens(NULL), 0); }
static void row_mom_dataset_n_modalities(fixture *f) { (void)f; VAL(mom_dataset_n_modalities(NULL), 0); }
static void row_mom_dataset_vocab_size(fixture *f) { (void)f; VAL(mom_dataset_vocab_size(NULL), 0); }
static void row_mom_dataset_n_docs(fixture *f) { (void)f; VAL(mom_dataset_n_docs(NULL), 0); }
static void row_mom_dataset_n_patches(fixture *f) { (void)f; VAL(mom_dataset_n_patches(NULL), 0); }
static void row_mom_dataset_tokens(fixture *f) { (void)f; VAL_NULL(mom_dataset_tokens(NULL)); }
static void row_mom_dataset_modalities(fixture *f) { (void)f; VAL_NULL(mom_dataset_modalities(NULL)); }

static void row_mom_dataset_vocab_layout(fixture *f)
{
    mom_vocab_layout l = {.n_special = 1, .n_text = 2, .n_image = 3, .n_speech = 4};
    BAD(NULL, mom_dataset_vocab_layout(NULL, &l), MOM_ERR_INVALID_ARG, NULL);
    assert_int_equal(l.n_special + l.n_text + l.n_image + l.n_speech, 0);
    BAD(f->ctx, mom_dataset_vocab_layout(f->d, NULL), MOM_ERR_INVALID_ARG, "mom_dataset_vocab_layout: out is NULL");
    BAD(NULL, mom_dataset_vocab_layout(NULL, NULL), MOM_ERR_INVALID_ARG, NULL);
}

static void row_mom_dataset_patch_geometry(fixture *f)
{
    mom_patch_geometry g = {2, 8, 1};
    BAD(NULL, mom_dataset_patch_geometry(NULL, &g), MOM_ERR_INVALID_ARG, NULL);
    assert_int_equal(g.patch_size + g.image_size + g.channels, 0);
    BAD(f->ctx, mom_dataset_patch_geometry(f->pd, NULL), MOM_ERR_INVALID_ARG, "mom_dataset_patch_geometry: out is NULL");
    BAD(NULL, mom_dataset_patch_geometry(NULL, NULL), MOM_ERR_INVALID_ARG, NULL);
}

static void row_mom_dataset_check(fixture *f)
{
    BAD(NULL, mom_dataset_check(NULL, NULL), MOM_ERR_INVALID_ARG, NULL);
    BAD(NULL, mom_dataset_check(NULL, f->d), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_dataset_check(f->m, NULL), MOM_ERR_INVALID_ARG, "dataset is NULL");
}

static void row_mom_dataset_fill_batch(fixture *f)
{
    mom_dataset *d = f->d;
    int32_t bt[BB * TT], btg[BB * TT];
    uint8_t bm[BB * TT], btm[BB * TT];
    memset(bt, 0x55, sizeof bt);
    const int32_t sentinel = bt[0];
    const int64_t starts[BB] = {0, DS_TOKENS - TT - 1};
    assert_int_equal(mom_dataset_n_tokens(d), DS_TOKENS);
    /* No dataset: no context to hold a message. */
    BAD(NULL, mom_dataset_fill_batch(NULL, BB, TT, starts, bt, bm, btg, btm), MOM_ERR_INVALID_ARG, NULL);
    /* The rest name the file, the call and the value, in the dataset's context. */
    BAD(f->ctx, mom_dataset_fill_batch(d, 0, TT, starts, bt, bm, btg, btm), MOM_ERR_INVALID_ARG, "B = 0");
    BAD(f->ctx, mom_dataset_fill_batch(d, -1, TT, starts, bt, bm, btg, btm), MOM_ERR_INVALID_ARG, "B = -1");
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, 0, starts, bt, bm, btg, btm), MOM_ERR_INVALID_ARG, "T = 0");
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, INT_MIN, starts, bt, bm, btg, btm), MOM_ERR_INVALID_ARG, "T = -2147483648");
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, INT_MAX, starts, bt, bm, btg, btm), MOM_ERR_INVALID_ARG, "T = 2147483647");
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, DS_TOKENS, starts, bt, bm, btg, btm), MOM_ERR_INVALID_ARG, "(64 tokens)");
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, TT, NULL, bt, bm, btg, btm), MOM_ERR_INVALID_ARG, "starts is NULL");
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, TT, starts, NULL, bm, btg, btm), MOM_ERR_INVALID_ARG, "tokens is NULL");
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, TT, starts, bt, NULL, btg, btm), MOM_ERR_INVALID_ARG, "modality is NULL");
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, TT, starts, bt, bm, NULL, btm), MOM_ERR_INVALID_ARG, " targets is NULL");
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, TT, starts, bt, bm, btg, NULL), MOM_ERR_INVALID_ARG,
        "target_modality is NULL");
    int64_t bad_starts[BB] = {0, DS_TOKENS - TT};
    char past_end[128];
    snprintf(past_end, sizeof past_end,
             "mom_dataset_fill_batch: starts[1] = %d + T %d + 1 passes the end of the dataset (%d tokens)",
             DS_TOKENS - TT, TT, DS_TOKENS);
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, TT, bad_starts, bt, bm, btg, btm), MOM_ERR_INVALID_ARG, past_end);
    bad_starts[1] = -1;
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, TT, bad_starts, bt, bm, btg, btm), MOM_ERR_INVALID_ARG,
        "starts[1] = -1 is negative");
    bad_starts[1] = INT64_MIN;
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, TT, bad_starts, bt, bm, btg, btm), MOM_ERR_INVALID_ARG,
        "starts[1] = -9223372036854775808");
    bad_starts[1] = INT64_MAX;
    BAD(f->ctx, mom_dataset_fill_batch(d, BB, TT, bad_starts, bt, bm, btg, btm), MOM_ERR_INVALID_ARG,
        "starts[1] = 9223372036854775807 + T");
    assert_true(bt[0] == sentinel); /* nothing written by a refused call */
    assert_int_equal(mom_dataset_fill_batch(d, BB, TT, starts, bt, bm, btg, btm), MOM_OK);
}

static void row_mom_dataset_fill_patches(fixture *f)
{
    float patches[BB * TT * PATCH_DIM];
    memset(patches, 0x55, sizeof patches);
    const float sentinel = patches[0];
    const int64_t starts[BB] = {0, 5};
    BAD(f->ctx, mom_dataset_fill_patches(f->d, BB, TT, starts, patches), MOM_ERR_INVALID_ARG, "no patch vectors");
    mom_dataset *d = f->pd;
    BAD(NULL, mom_dataset_fill_patches(NULL, BB, TT, starts, patches), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_dataset_fill_patches(d, 0, TT, starts, patches), MOM_ERR_INVALID_ARG, "B = 0");
    BAD(f->ctx, mom_dataset_fill_patches(d, -1, TT, starts, patches), MOM_ERR_INVALID_ARG, "B = -1");
    BAD(f->ctx, mom_dataset_fill_patches(d, BB, 0, starts, patches), MOM_ERR_INVALID_ARG, "T = 0");
    BAD(f->ctx, mom_dataset_fill_patches(d, BB, INT_MIN, starts, patches), MOM_ERR_INVALID_ARG, "T = -2147483648");
    BAD(f->ctx, mom_dataset_fill_patches(d, BB, PDS_TOKENS, starts, patches), MOM_ERR_INVALID_ARG, "(40 tokens)");
    BAD(f->ctx, mom_dataset_fill_patches(d, BB, INT_MAX, starts, patches), MOM_ERR_INVALID_ARG, "T = 2147483647");
    BAD(f->ctx, mom_dataset_fill_patches(d, BB, TT, NULL, patches), MOM_ERR_INVALID_ARG, "starts is NULL");
    BAD(f->ctx, mom_dataset_fill_patches(d, BB, TT, starts, NULL), MOM_ERR_INVALID_ARG, "patches is NULL");
    int64_t bad_starts[BB] = {0, PDS_TOKENS - TT};
    char past_end[128];
    snprintf(past_end, sizeof past_end,
             "mom_dataset_fill_patches: starts[1] = %d + T %d + 1 passes the end of the dataset (%d tokens)",
             PDS_TOKENS - TT, TT, PDS_TOKENS);
    BAD(f->ctx, mom_dataset_fill_patches(d, BB, TT, bad_starts, patches), MOM_ERR_INVALID_ARG, past_end);
    bad_starts[0] = -1;
    BAD(f->ctx, mom_dataset_fill_patches(d, BB, TT, bad_starts, patches), MOM_ERR_INVALID_ARG,
        "starts[0] = -1 is negative");
    bad_starts[0] = INT64_MIN;
    BAD(f->ctx, mom_dataset_fill_patches(d, BB, TT, bad_starts, patches), MOM_ERR_INVALID_ARG,
        "starts[0] = -9223372036854775808");
    assert_true(patches[0] == sentinel);
    assert_int_equal(mom_dataset_fill_patches(d, BB, TT, starts, patches), MOM_OK);
}

static void row_mom_model_evaluate(fixture *f)
{
    const uint64_t h = model_sum(f->m);
    mom_losses l, keep;
    memset(&l, 0x5a, sizeof l);
    keep = l;
    BAD(NULL, mom_model_evaluate(NULL, f->d, BB, TT, 0, &l), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_evaluate(f->m, NULL, BB, TT, 0, &l), MOM_ERR_INVALID_ARG, "dataset is NULL");
    BAD(f->ctx, mom_model_evaluate(f->m, f->d, 0, TT, 0, &l), MOM_ERR_INVALID_ARG, "B = 0");
    BAD(f->ctx, mom_model_evaluate(f->m, f->d, -1, TT, 0, &l), MOM_ERR_INVALID_ARG, "B = -1");
    BAD(f->ctx, mom_model_evaluate(f->m, f->d, BB, 0, 0, &l), MOM_ERR_INVALID_ARG, "T = 0");
    BAD(f->ctx, mom_model_evaluate(f->m, f->d, BB, INT_MIN, 0, &l), MOM_ERR_INVALID_ARG, "T = ");
    BAD(f->ctx, mom_model_evaluate(f->m, f->d, BB, TT, 0, NULL), MOM_ERR_INVALID_ARG, "out");
    BAD(f->ctx, mom_model_evaluate(f->m, f->d, BB, DS_TOKENS, 0, &l), MOM_ERR_DATA, "64");
    BAD(f->ctx, mom_model_evaluate(f->m, f->d, INT_MAX, INT_MAX, 0, &l), MOM_ERR_INVALID_ARG, "B = ");
    BAD(f->ctx, mom_model_evaluate(f->m, f->d, INT_MAX, 1, 0, &l), MOM_ERR_INVALID_ARG, "B = ");
    assert_memory_equal(&l, &keep, sizeof l);
    assert_true(model_sum(f->m) == h);
}

static void row_mom_dataset_import_jsonl(fixture *f)
{
    char out[400], in[400];
    snprintf(out, sizeof out, "%s/imported.bin", f->dir);
    snprintf(in, sizeof in, "%s/in.jsonl", f->dir);
    tu_write_file(in, "{\"segments\": [{\"modality\": 0, \"tokens\": [1, 2, 3]}]}\n", 53);
    const mom_patch_geometry bad_g = {3, 4, 1};
    BAD(f->ctx, mom_dataset_import_jsonl(f->ctx, NULL, out, V, NMOD, NULL), MOM_ERR_INVALID_ARG, "jsonl_path is NULL");
    BAD(f->ctx, mom_dataset_import_jsonl(f->ctx, in, NULL, V, NMOD, NULL), MOM_ERR_INVALID_ARG, "out_path is NULL");
    BAD(f->ctx, mom_dataset_import_jsonl(f->ctx, in, out, -1, NMOD, NULL), MOM_ERR_INVALID_ARG, "vocab_size");
    BAD(f->ctx, mom_dataset_import_jsonl(f->ctx, in, out, INT_MIN, NMOD, NULL), MOM_ERR_INVALID_ARG, "vocab_size");
    BAD(f->ctx, mom_dataset_import_jsonl(f->ctx, in, out, V, -1, NULL), MOM_ERR_INVALID_ARG, "n_modalities");
    BAD(f->ctx, mom_dataset_import_jsonl(f->ctx, in, out, V, MOM_MAX_MODALITIES + 1, NULL), MOM_ERR_INVALID_ARG,
        "n_modalities");
    BAD(f->ctx, mom_dataset_import_jsonl(f->ctx, in, out, V, NMOD, &bad_g), MOM_ERR_INVALID_ARG, "patch");
    BAD(f->ctx, mom_dataset_import_jsonl(f->ctx, f->missing, out, V, NMOD, NULL), MOM_ERR_IO, "no-such-file");
    struct stat sb;
    assert_int_equal(stat(out, &sb), -1);
    unlink(in);
}

static void row_mom_dataset_write(fixture *f)
{
    char p[400];
    snprintf(p, sizeof p, "%s/w.bin", f->dir);
    int32_t tok[16];
    uint8_t mod[16];
    for (int i = 0; i < 16; i++) {
        tok[i] = i % V;
        mod[i] = 0;
    }
    const int64_t starts[3] = {0, 8, 16}, bad_starts[3] = {0, 20, 16};
    const mom_vocab_layout lay = {.n_special = MOM_N_SPECIAL, .n_text = 3, .n_image = 0, .n_speech = 0}; /* sums to 10, not V */
    const mom_patch_geometry g = {PATCH, IMAGE, 1}, bad_g = {3, 4, 1};
    const float patches[PATCH_DIM] = {0};
    mom_ctx *c = f->ctx;
    BAD(c, mom_dataset_write(c, NULL, tok, mod, 16, NULL, 1, V, NMOD, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, "path");
    BAD(c, mom_dataset_write(c, "", tok, mod, 16, NULL, 1, V, NMOD, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, "path");
    BAD(c, mom_dataset_write(c, p, NULL, mod, 16, NULL, 1, V, NMOD, NULL, NULL, NULL), MOM_ERR_INVALID_ARG,
        "tokens is NULL");
    BAD(c, mom_dataset_write(c, p, tok, mod, 0, NULL, 1, V, NMOD, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, "n_tokens");
    BAD(c, mom_dataset_write(c, p, tok, mod, -1, NULL, 1, V, NMOD, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, "n_tokens");
    BAD(c, mom_dataset_write(c, p, tok, mod, INT64_MAX, NULL, 1, V, NMOD, NULL, NULL, NULL), MOM_ERR_INVALID_ARG,
        "n_tokens");
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, NULL, 1, 0, NMOD, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, "vocab_size");
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, NULL, 1, V, 0, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, "n_modalities");
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, NULL, 1, V, 9, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, "9");
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, NULL, 2, V, NMOD, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, "doc_starts");
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, starts, -1, V, NMOD, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, "n_docs");
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, starts, INT64_MAX, V, NMOD, NULL, NULL, NULL), MOM_ERR_INVALID_ARG,
        "n_docs");
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, bad_starts, 2, V, NMOD, NULL, NULL, NULL), MOM_ERR_INVALID_ARG,
        "document start 16");
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, NULL, 1, V, NMOD, &lay, NULL, NULL), MOM_ERR_DATA, "vocab_size 17");
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, NULL, 1, V, NMOD, NULL, patches, NULL), MOM_ERR_INVALID_ARG, "patches");
    /* a well-formed image of 4 patch positions, and no patches for it */
    int32_t img_tok[16];
    uint8_t img_mod[16];
    memcpy(img_tok, tok, sizeof tok);
    memcpy(img_mod, mod, sizeof mod);
    img_tok[2] = MOM_TOK_BOI;
    for (int i = 3; i < 3 + N_PATCHES; i++) {
        img_tok[i] = MOM_TOK_PAD;
        img_mod[i] = MOM_MOD_IMAGE;
    }
    img_tok[3 + N_PATCHES] = MOM_TOK_EOI;
    BAD(c, mom_dataset_write(c, p, img_tok, img_mod, 16, NULL, 1, V, NMOD, NULL, NULL, &g), MOM_ERR_INVALID_ARG,
        "patches");
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, NULL, 1, V, NMOD, NULL, patches, &bad_g), MOM_ERR_INVALID_ARG, "patch");
    tok[5] = V;
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, NULL, 1, V, NMOD, NULL, NULL, NULL), MOM_ERR_DATA, "17");
    tok[5] = 5;
    mod[7] = NMOD;
    BAD(c, mom_dataset_write(c, p, tok, mod, 16, NULL, 1, V, NMOD, NULL, NULL, NULL), MOM_ERR_DATA, "3");
    struct stat sb;
    assert_int_equal(stat(p, &sb), -1); /* nothing written */
}

/* ---- inference ---- */

static void row_mom_state_default_settings(fixture *f)
{
    (void)f;
    NOCRASH(mom_state_default_settings(NULL));
}

static void row_mom_state_bytes(fixture *f)
{
    VAL(mom_state_bytes(NULL, 1), 0);
    VAL(mom_state_bytes(f->m, 0), 0);
    VAL(mom_state_bytes(f->m, -1), 0);
    VAL(mom_state_bytes(f->m, INT_MIN), 0);
    VAL(mom_state_bytes(f->m, INT_MAX), 0);
    assert_true(mom_state_bytes(f->m, 1) > 0);
}

static void row_mom_state_create(fixture *f)
{
    mom_state_settings s;
    mom_state_default_settings(&s);
    mom_state *st = JUNK(mom_state);
    BAD(NULL, mom_state_create(NULL, &s, &st), MOM_ERR_INVALID_ARG, NULL);
    assert_null(st);
    st = JUNK(mom_state);
    BAD(f->ctx, mom_state_create(f->m, NULL, &st), MOM_ERR_INVALID_ARG, "settings");
    assert_null(st);
    BAD(f->ctx, mom_state_create(f->m, &s, NULL), MOM_ERR_INVALID_ARG, "out");
    const int bad_n[] = {0, -1, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++) {
        s.n_seq = bad_n[i];
        st = JUNK(mom_state);
        BAD(f->ctx, mom_state_create(f->m, &s, &st), MOM_ERR_INVALID_ARG, "n_seq");
        assert_null(st);
    }
    mom_state_default_settings(&s);
    s.max_tokens = -1;
    st = JUNK(mom_state);
    BAD(f->ctx, mom_state_create(f->m, &s, &st), MOM_ERR_INVALID_ARG, "max_tokens");
    assert_null(st);
    /* the caller's memory: misaligned, too small */
    mom_state_default_settings(&s);
    const size_t need = mom_state_bytes(f->m, 1);
    unsigned char *mem = aligned_alloc(64, need + 64);
    assert_non_null(mem);
    s.memory = mem + 4;
    s.memory_bytes = need;
    st = JUNK(mom_state);
    BAD(f->ctx, mom_state_create(f->m, &s, &st), MOM_ERR_INVALID_ARG, "aligned");
    assert_null(st);
    s.memory = mem;
    s.memory_bytes = need - 1;
    st = JUNK(mom_state);
    BAD(f->ctx, mom_state_create(f->m, &s, &st), MOM_ERR_INVALID_ARG, "memory_bytes");
    assert_null(st);
    s.memory_bytes = 0;
    BAD(f->ctx, mom_state_create(f->m, &s, &st), MOM_ERR_INVALID_ARG, "memory_bytes");
    free(mem);
}

static void row_mom_state_destroy(fixture *f)
{
    (void)f;
    NOCRASH(mom_state_destroy(NULL));
    mom_state *st = NULL;
    NOCRASH(mom_state_destroy(&st));
    assert_null(st);
}

static void row_mom_state_n_seq(fixture *f)
{
    VAL(mom_state_n_seq(NULL), 0);
    assert_int_equal(mom_state_n_seq(f->st), 2);
}

static void row_mom_state_length(fixture *f)
{
    VAL(mom_state_length(NULL, 0), -1);
    VAL(mom_state_length(f->st, -1), -1);
    VAL(mom_state_length(f->st, 2), -1);
    VAL(mom_state_length(f->st, INT_MIN), -1);
    VAL(mom_state_length(f->st, INT_MAX), -1);
}

/* Feeds both sequences of f->st a few tokens, so a refused call has
 * something to keep. */
static void feed_state(fixture *f)
{
    assert_int_equal(mom_state_reset(f->st, -1), MOM_OK);
    const int32_t tok[6] = {1, 2, 3, 4, 5, 6};
    const uint8_t mod[6] = {0, 0, 1, 1, 2, 2};
    assert_int_equal(mom_state_prefill(f->st, 0, 2, 3, tok, mod, NULL), MOM_OK);
}

static void row_mom_state_reset(fixture *f)
{
    feed_state(f);
    BAD(NULL, mom_state_reset(NULL, 0), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_state_reset(f->st, 2), MOM_ERR_INVALID_ARG, "seq 2");
    BAD(f->ctx, mom_state_reset(f->st, INT_MAX), MOM_ERR_INVALID_ARG, "seq");
    assert_int_equal(mom_state_length(f->st, 0), 3);
    assert_int_equal(mom_state_length(f->st, 1), 3);
}

static void row_mom_state_copy(fixture *f)
{
    feed_state(f);
    mom_state *one = NULL;
    mom_state_settings s;
    mom_state_default_settings(&s);
    assert_int_equal(mom_state_create(f->m, &s, &one), MOM_OK);
    BAD(NULL, mom_state_copy(NULL, 0, f->st, 0), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_state_copy(one, 0, NULL, 0), MOM_ERR_INVALID_ARG, "src");
    BAD(f->ctx, mom_state_copy(f->pst, 0, f->st, 0), MOM_ERR_INVALID_ARG, "different models");
    BAD(f->ctx, mom_state_copy(one, -1, f->st, -1), MOM_ERR_INVALID_ARG, "2 sequences into 1");
    BAD(f->ctx, mom_state_copy(one, 1, f->st, 0), MOM_ERR_INVALID_ARG, "seq");
    BAD(f->ctx, mom_state_copy(one, 0, f->st, 2), MOM_ERR_INVALID_ARG, "seq");
    BAD(f->ctx, mom_state_copy(one, 0, f->st, -1), MOM_ERR_INVALID_ARG, "seq");
    BAD(f->ctx, mom_state_copy(one, INT_MIN, f->st, INT_MAX), MOM_ERR_INVALID_ARG, "seq");
    assert_int_equal(mom_state_length(one, 0), 0);
    assert_int_equal(mom_state_length(f->st, 0), 3);
    mom_state_destroy(&one);
}

static void row_mom_state_prefill(fixture *f)
{
    feed_state(f);
    const uint64_t h = model_sum(f->m);
    int32_t tok[4] = {1, 2, 3, 4};
    uint8_t mod[4] = {0, 1, 2, 0};
    float logits[2 * V];
    memset(logits, 0x55, sizeof logits);
    const float sentinel = logits[0];
    mom_state *st = f->st;
    BAD(NULL, mom_state_prefill(NULL, 0, 1, 2, tok, mod, logits), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_state_prefill(st, -1, 1, 2, tok, mod, logits), MOM_ERR_INVALID_ARG, "sequences");
    BAD(f->ctx, mom_state_prefill(st, 0, 0, 2, tok, mod, logits), MOM_ERR_INVALID_ARG, "sequences");
    BAD(f->ctx, mom_state_prefill(st, 0, -1, 2, tok, mod, logits), MOM_ERR_INVALID_ARG, "sequences");
    BAD(f->ctx, mom_state_prefill(st, 0, 3, 1, tok, mod, logits), MOM_ERR_INVALID_ARG, "sequences");
    BAD(f->ctx, mom_state_prefill(st, 1, 2, 1, tok, mod, logits), MOM_ERR_INVALID_ARG, "sequences");
    BAD(f->ctx, mom_state_prefill(st, INT_MAX, 2, 1, tok, mod, logits), MOM_ERR_INVALID_ARG, "sequences");
    BAD(f->ctx, mom_state_prefill(st, INT_MIN, INT_MIN, 1, tok, mod, logits), MOM_ERR_INVALID_ARG, "sequences");
    BAD(f->ctx, mom_state_prefill(st, 2, INT_MAX, 1, tok, mod, logits), MOM_ERR_INVALID_ARG, "sequences");
    BAD(f->ctx, mom_state_prefill(st, 0, 1, 0, tok, mod, logits), MOM_ERR_INVALID_ARG, "T = 0");
    BAD(f->ctx, mom_state_prefill(st, 0, 1, -1, tok, mod, logits), MOM_ERR_INVALID_ARG, "T = -1");
    BAD(f->ctx, mom_state_prefill(st, 0, 1, INT_MAX, tok, mod, logits), MOM_ERR_INVALID_ARG, "T = ");
    BAD(f->ctx, mom_state_prefill(st, 0, 1, 2, NULL, mod, logits), MOM_ERR_INVALID_ARG, "tokens");
    BAD(f->ctx, mom_state_prefill(st, 0, 1, 2, tok, NULL, logits), MOM_ERR_INVALID_ARG, "modality");
    tok[1] = V;
    BAD(f->ctx, mom_state_prefill(st, 0, 1, 2, tok, mod, logits), MOM_ERR_DATA, "token 17");
    tok[1] = -1;
    BAD(f->ctx, mom_state_prefill(st, 0, 1, 2, tok, mod, logits), MOM_ERR_DATA, "token -1");
    tok[1] = 2;
    mod[1] = NMOD;
    BAD(f->ctx, mom_state_prefill(st, 0, 1, 2, tok, mod, logits), MOM_ERR_DATA, "modality 3");
    mod[1] = 1;
    assert_true(logits[0] == sentinel);
    assert_int_equal(mom_state_length(st, 0), 3);
    assert_int_equal(mom_state_length(st, 1), 3);
    /* a sequence's max_tokens passed */
    mom_state *lim = NULL;
    mom_state_settings s;
    mom_state_default_settings(&s);
    s.max_tokens = 3;
    assert_int_equal(mom_state_create(f->m, &s, &lim), MOM_OK);
    BAD(f->ctx, mom_state_prefill(lim, 0, 1, 4, tok, mod, NULL), MOM_ERR_INVALID_ARG, "limit");
    assert_int_equal(mom_state_length(lim, 0), 0);
    mom_state_destroy(&lim);
    /* an image position on the model with continuous images goes through prefill_patches */
    mod[0] = MOM_MOD_IMAGE;
    BAD(f->ctx, mom_state_prefill(f->pst, 0, 1, 1, tok, mod, NULL), MOM_ERR_DATA, "prefill_patches");
    assert_int_equal(mom_state_length(f->pst, 0), 0);
    assert_true(model_sum(f->m) == h);
}

static void row_mom_state_step(fixture *f)
{
    feed_state(f);
    int32_t tok[2] = {1, 2};
    uint8_t mod[2] = {0, 1};
    float logits[2 * V];
    BAD(NULL, mom_state_step(NULL, tok, mod, logits), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_state_step(f->st, NULL, mod, logits), MOM_ERR_INVALID_ARG, "tokens");
    BAD(f->ctx, mom_state_step(f->st, tok, NULL, logits), MOM_ERR_INVALID_ARG, "modality");
    tok[1] = INT32_MAX;
    BAD(f->ctx, mom_state_step(f->st, tok, mod, logits), MOM_ERR_DATA, "token 2147483647");
    tok[1] = 2;
    mod[0] = 255;
    BAD(f->ctx, mom_state_step(f->st, tok, mod, logits), MOM_ERR_DATA, "modality 255");
    assert_int_equal(mom_state_length(f->st, 0), 3);
    assert_int_equal(mom_state_length(f->st, 1), 3);
}

static void row_mom_state_prefill_patches(fixture *f)
{
    float x[N_PATCHES * PATCH_DIM] = {0}, eps[N_PATCHES * PATCH_DIM];
    memset(eps, 0x55, sizeof eps);
    const float sentinel = eps[0];
    mom_state *st = f->pst;
    /* the wrong state: a model without continuous images */
    BAD(f->ctx, mom_state_prefill_patches(f->st, 0, 1, x, 10, eps), MOM_ERR_UNSUPPORTED, "continuous images");
    BAD(NULL, mom_state_prefill_patches(NULL, 0, 1, x, 10, eps), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_state_prefill_patches(st, -1, 1, x, 10, eps), MOM_ERR_INVALID_ARG, "seq -1");
    BAD(f->ctx, mom_state_prefill_patches(st, 1, 1, x, 10, eps), MOM_ERR_INVALID_ARG, "seq 1");
    BAD(f->ctx, mom_state_prefill_patches(st, 0, 0, x, 10, eps), MOM_ERR_INVALID_ARG, "n 0");
    BAD(f->ctx, mom_state_prefill_patches(st, 0, -1, x, 10, eps), MOM_ERR_INVALID_ARG, "n -1");
    BAD(f->ctx, mom_state_prefill_patches(st, 0, INT_MAX, x, 10, eps), MOM_ERR_INVALID_ARG, "n 2147483647");
    BAD(f->ctx, mom_state_prefill_patches(st, 0, 1, x, -1, eps), MOM_ERR_INVALID_ARG, "t -1");
    BAD(f->ctx, mom_state_prefill_patches(st, 0, 1, x, MOM_DIFFUSION_STEPS, eps), MOM_ERR_INVALID_ARG, "t 1000");
    BAD(f->ctx, mom_state_prefill_patches(st, 0, 1, NULL, 10, eps), MOM_ERR_INVALID_ARG, "x_t");
    BAD(f->ctx, mom_state_prefill_patches(st, 0, 1, x, 10, NULL), MOM_ERR_INVALID_ARG, "eps");
    x[3] = NAN;
    BAD(f->ctx, mom_state_prefill_patches(st, 0, 1, x, 10, eps), MOM_ERR_DATA, "x_t[3]");
    assert_true(eps[0] == sentinel);
    assert_int_equal(mom_state_length(st, 0), 0);
}

static void row_mom_state_generate_image(fixture *f)
{
    float pixels[IMAGE * IMAGE];
    memset(pixels, 0x55, sizeof pixels);
    const float sentinel = pixels[0];
    mom_state *st = f->pst;
    BAD(f->ctx, mom_state_generate_image(f->st, 0, 2, 1, pixels), MOM_ERR_UNSUPPORTED, "continuous images");
    BAD(NULL, mom_state_generate_image(NULL, 0, 2, 1, pixels), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_state_generate_image(st, -1, 2, 1, pixels), MOM_ERR_INVALID_ARG, "seq -1");
    BAD(f->ctx, mom_state_generate_image(st, 1, 2, 1, pixels), MOM_ERR_INVALID_ARG, "seq 1");
    BAD(f->ctx, mom_state_generate_image(st, 0, 0, 1, pixels), MOM_ERR_INVALID_ARG, "steps 0");
    BAD(f->ctx, mom_state_generate_image(st, 0, -1, 1, pixels), MOM_ERR_INVALID_ARG, "steps -1");
    BAD(f->ctx, mom_state_generate_image(st, 0, MOM_DIFFUSION_STEPS + 1, 1, pixels), MOM_ERR_INVALID_ARG, "steps 1001");
    BAD(f->ctx, mom_state_generate_image(st, 0, 2, 1, NULL), MOM_ERR_INVALID_ARG, "pixels");
    assert_true(pixels[0] == sentinel);
    assert_int_equal(mom_state_length(st, 0), 0);
}

static void row_mom_model_logits(fixture *f)
{
    int32_t tok[4] = {1, 2, 3, 4};
    uint8_t mod[4] = {0, 1, 2, 0};
    float logits[4 * V];
    memset(logits, 0x55, sizeof logits);
    const float sentinel = logits[0];
    BAD(NULL, mom_model_logits(NULL, 2, 2, tok, mod, logits), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_model_logits(f->m, 0, 2, tok, mod, logits), MOM_ERR_INVALID_ARG, "B = 0");
    BAD(f->ctx, mom_model_logits(f->m, 2, 0, tok, mod, logits), MOM_ERR_INVALID_ARG, "T = 0");
    BAD(f->ctx, mom_model_logits(f->m, -2, 2, tok, mod, logits), MOM_ERR_INVALID_ARG, "B = -2");
    BAD(f->ctx, mom_model_logits(f->m, INT_MAX, INT_MAX, tok, mod, logits), MOM_ERR_INVALID_ARG, "B = ");
    BAD(f->ctx, mom_model_logits(f->m, INT_MIN, INT_MIN, tok, mod, logits), MOM_ERR_INVALID_ARG, "B = ");
    BAD(f->ctx, mom_model_logits(f->m, 2, 2, NULL, mod, logits), MOM_ERR_INVALID_ARG, "tokens");
    BAD(f->ctx, mom_model_logits(f->m, 2, 2, tok, NULL, logits), MOM_ERR_INVALID_ARG, "modality");
    BAD(f->ctx, mom_model_logits(f->m, 2, 2, tok, mod, NULL), MOM_ERR_INVALID_ARG, "logits");
    tok[3] = V;
    BAD(f->ctx, mom_model_logits(f->m, 2, 2, tok, mod, logits), MOM_ERR_DATA, "token 17");
    assert_true(logits[0] == sentinel);
}

/* ---- sampling ---- */

static void row_mom_sampling_default(fixture *f)
{
    (void)f;
    NOCRASH(mom_sampling_default(NULL));
}

static void row_mom_sampler_create(fixture *f)
{
    mom_sampling s;
    mom_sampling_default(&s);
    mom_sampler *sp = JUNK(mom_sampler);
    BAD(NULL, mom_sampler_create(NULL, &s, 1, &sp), MOM_ERR_INVALID_ARG, NULL);
    assert_null(sp);
    sp = JUNK(mom_sampler);
    BAD(f->ctx, mom_sampler_create(f->m, NULL, 1, &sp), MOM_ERR_INVALID_ARG, "sampling");
    assert_null(sp);
    BAD(f->ctx, mom_sampler_create(f->m, &s, 1, NULL), MOM_ERR_INVALID_ARG, "out");
    const int bad_n[] = {0, -1, INT_MIN};
    for (size_t i = 0; i < sizeof bad_n / sizeof bad_n[0]; i++) {
        sp = JUNK(mom_sampler);
        BAD(f->ctx, mom_sampler_create(f->m, &s, bad_n[i], &sp), MOM_ERR_INVALID_ARG, "n_seq");
        assert_null(sp);
    }
    typedef struct { const char *sub; float temp; int top_k; float top_p; int img, sp; } sc;
    const sc cases[] = {
        {"temperature", -1.0f, 0, 1.0f, 0, 500}, {"temperature", NAN, 0, 1.0f, 0, 500},
        {"temperature", INFINITY, 0, 1.0f, 0, 500}, {"top_k", 1.0f, -1, 1.0f, 0, 500},
        {"top_k", 1.0f, INT_MIN, 1.0f, 0, 500}, {"top_p", 1.0f, 0, 0.0f, 0, 500},
        {"top_p", 1.0f, 0, 1.5f, 0, 500}, {"top_p", 1.0f, 0, NAN, 0, 500},
        {"image_tokens", 1.0f, 0, 1.0f, -1, 500}, {"speech_tokens", 1.0f, 0, 1.0f, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mom_sampling b = s;
        b.temperature = cases[i].temp;
        b.top_k = cases[i].top_k;
        b.top_p = cases[i].top_p;
        b.image_tokens = cases[i].img;
        b.speech_tokens = cases[i].sp;
        sp = JUNK(mom_sampler);
        BAD(f->ctx, mom_sampler_create(f->m, &b, 1, &sp), MOM_ERR_INVALID_ARG, cases[i].sub);
        assert_null(sp);
    }
}

static void row_mom_sampler_destroy(fixture *f)
{
    (void)f;
    NOCRASH(mom_sampler_destroy(NULL));
    mom_sampler *sp = NULL;
    NOCRASH(mom_sampler_destroy(&sp));
    assert_null(sp);
}

static void row_mom_sampler_accept(fixture *f)
{
    BAD(NULL, mom_sampler_accept(NULL, 0, 1), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_sampler_accept(f->sp, -1, 1), MOM_ERR_INVALID_ARG, "seq -1");
    BAD(f->ctx, mom_sampler_accept(f->sp, 2, 1), MOM_ERR_INVALID_ARG, "seq 2");
    BAD(f->ctx, mom_sampler_accept(f->sp, INT_MIN, 1), MOM_ERR_INVALID_ARG, "seq");
    BAD(f->ctx, mom_sampler_accept(f->sp, 0, -1), MOM_ERR_DATA, "token -1");
    BAD(f->ctx, mom_sampler_accept(f->sp, 0, V), MOM_ERR_DATA, "token 17");
    BAD(f->ctx, mom_sampler_accept(f->sp, 0, INT32_MIN), MOM_ERR_DATA, "token");
}

static void row_mom_sampler_sample(fixture *f)
{
    float logits[V];
    for (int i = 0; i < V; i++) logits[i] = (float)i * 0.1f;
    int32_t tok = -77;
    BAD(NULL, mom_sampler_sample(NULL, 0, logits, &tok), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_sampler_sample(f->sp, -1, logits, &tok), MOM_ERR_INVALID_ARG, "seq -1");
    BAD(f->ctx, mom_sampler_sample(f->sp, 2, logits, &tok), MOM_ERR_INVALID_ARG, "seq 2");
    BAD(f->ctx, mom_sampler_sample(f->sp, INT_MAX, logits, &tok), MOM_ERR_INVALID_ARG, "seq");
    BAD(f->ctx, mom_sampler_sample(f->sp, 0, NULL, &tok), MOM_ERR_INVALID_ARG, "logits");
    BAD(f->ctx, mom_sampler_sample(f->sp, 0, logits, NULL), MOM_ERR_INVALID_ARG, "token");
    logits[4] = NAN;
    BAD(f->ctx, mom_sampler_sample(f->sp, 0, logits, &tok), MOM_ERR_INVALID_ARG, "token 4");
    assert_int_equal(tok, -77);
}

/* ---- benchmarks ---- */

static void no_emit(const char *json, void *user)
{
    (void)json;
    (void)user;
    fail_msg("emit called by a refused call");
}

static void row_mom_bench_kernels(fixture *f)
{
    mom_config cfg = tu_small_config();
    BAD(NULL, mom_bench_kernels(NULL, &cfg, 1, 4, no_emit, NULL), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_bench_kernels(f->ctx, NULL, 1, 4, no_emit, NULL), MOM_ERR_INVALID_ARG, "cfg");
    BAD(f->ctx, mom_bench_kernels(f->ctx, &cfg, 1, 4, NULL, NULL), MOM_ERR_INVALID_ARG, "emit");
    BAD(f->ctx, mom_bench_kernels(f->ctx, &cfg, 0, 4, no_emit, NULL), MOM_ERR_INVALID_ARG, "batch 0");
    BAD(f->ctx, mom_bench_kernels(f->ctx, &cfg, 1, 0, no_emit, NULL), MOM_ERR_INVALID_ARG, "seq 0");
    BAD(f->ctx, mom_bench_kernels(f->ctx, &cfg, -1, 4, no_emit, NULL), MOM_ERR_INVALID_ARG, "batch -1");
    BAD(f->ctx, mom_bench_kernels(f->ctx, &cfg, INT_MAX, INT_MAX, no_emit, NULL), MOM_ERR_INVALID_ARG, "batch");
    cfg.d_state = 0;
    BAD(f->ctx, mom_bench_kernels(f->ctx, &cfg, 1, 4, no_emit, NULL), MOM_ERR_CONFIG, "d_state");
}

static void row_mom_ctx_profile(fixture *f)
{
    BAD(NULL, mom_ctx_profile(NULL, 1), MOM_ERR_INVALID_ARG, NULL);
    /* the wrong state: the CPU backend has no device timers */
    BAD(f->ctx, mom_ctx_profile(f->ctx, 1), MOM_ERR_UNSUPPORTED, "device timers");
    BAD(f->ctx, mom_ctx_profile(f->ctx, INT_MIN), MOM_ERR_UNSUPPORTED, "device timers");
}

static void row_mom_ctx_profile_emit(fixture *f)
{
    BAD(NULL, mom_ctx_profile_emit(NULL, no_emit, NULL), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_ctx_profile_emit(f->ctx, NULL, NULL), MOM_ERR_INVALID_ARG, "emit");
    BAD(f->ctx, mom_ctx_profile_emit(f->ctx, no_emit, NULL), MOM_ERR_UNSUPPORTED, "device timers");
}

static void row_mom_bench_matmul_peak(fixture *f)
{
    mom_config cfg = tu_small_config();
    double gf = -3.0;
    char shape[64] = "x";
    BAD(NULL, mom_bench_matmul_peak(NULL, &cfg, 8, &gf, shape, sizeof shape), MOM_ERR_INVALID_ARG, NULL);
    BAD(f->ctx, mom_bench_matmul_peak(f->ctx, NULL, 8, &gf, shape, sizeof shape), MOM_ERR_INVALID_ARG, "cfg");
    BAD(f->ctx, mom_bench_matmul_peak(f->ctx, &cfg, 8, NULL, shape, sizeof shape), MOM_ERR_INVALID_ARG, "gflops");
    BAD(f->ctx, mom_bench_matmul_peak(f->ctx, &cfg, 0, &gf, shape, sizeof shape), MOM_ERR_INVALID_ARG, "tokens = 0");
    BAD(f->ctx, mom_bench_matmul_peak(f->ctx, &cfg, -1, &gf, shape, sizeof shape), MOM_ERR_INVALID_ARG, "tokens = -1");
    BAD(f->ctx, mom_bench_matmul_peak(f->ctx, &cfg, INT_MAX, &gf, shape, sizeof shape), MOM_ERR_INVALID_ARG, "tokens");
    cfg.vocab_size = 1;
    BAD(f->ctx, mom_bench_matmul_peak(f->ctx, &cfg, 8, &gf, shape, sizeof shape), MOM_ERR_CONFIG, "vocab_size");
    assert_true(gf == -3.0);
    assert_string_equal(shape, "x");
    /* shape may be NULL, or too short: it is cut, not overrun */
    cfg = tu_small_config();
    assert_int_equal(mom_bench_matmul_peak(f->ctx, &cfg, 8, &gf, NULL, 64), MOM_OK);
    char tiny[4] = "abc";
    assert_int_equal(mom_bench_matmul_peak(f->ctx, &cfg, 8, &gf, tiny, 0), MOM_OK);
    assert_string_equal(tiny, "abc");
    assert_int_equal(mom_bench_matmul_peak(f->ctx, &cfg, 8, &gf, tiny, 1), MOM_OK);
    assert_string_equal(tiny, "");
}

/* ---- the rows: mom_data.h ------------------------------------------------------ */

static void row_mom_image_load(fixture *f)
{
    float px[IMAGE * IMAGE];
    mom_ctx *c = f->ctx;
    BAD(c, mom_image_load(c, NULL, IMAGE, 1, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("path"));
    BAD(c, mom_image_load(c, f->missing, IMAGE, 1, NULL), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("pixels"));
    BAD(c, mom_image_load(c, f->missing, 0, 1, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("size 0"));
    BAD(c, mom_image_load(c, f->missing, -4, 1, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("size -4"));
    BAD(c, mom_image_load(c, f->missing, INT_MAX, 1, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("size"));
    BAD(c, mom_image_load(c, f->missing, IMAGE, 2, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("channels 2"));
    BAD(c, mom_image_load(c, f->missing, IMAGE, 0, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("channels 0"));
    BAD(c, mom_image_load(c, f->missing, IMAGE, 1, px), IMG_OR(MOM_ERR_IO), IMG_SUB("no-such-file"));
    BAD(c, mom_image_load(c, f->vq_path, IMAGE, 1, px), IMG_OR(MOM_ERR_FORMAT), IMG_SUB("vq.safetensors"));
}

static void row_mom_vq_train(fixture *f)
{
    mom_ctx *c = f->ctx;
    const char *paths[1] = {f->missing};
    const char *null_path[1] = {NULL};
    mom_vq *vq = JUNK(mom_vq);
    BAD(c, mom_vq_train(c, paths, 1, IMAGE, PATCH, 1, 4, 2, 1, NULL), MOM_ERR_INVALID_ARG, "out");
    BAD(c, mom_vq_train(c, NULL, 1, IMAGE, PATCH, 1, 4, 2, 1, &vq), MOM_ERR_INVALID_ARG, "paths");
    assert_null(vq);
    typedef struct { const char *sub; size_t n; int size, patch, ch, codes, iters; } vc;
    const vc cases[] = {
        {"n_paths 0", 0, IMAGE, PATCH, 1, 4, 2},       {"iters -1", 1, IMAGE, PATCH, 1, 4, -1},
        {"size 0", 1, 0, PATCH, 1, 4, 2},              {"size -4", 1, -4, PATCH, 1, 4, 2},
        {"size", 1, INT_MAX, PATCH, 1, 4, 2},           {"patch 0", 1, IMAGE, 0, 1, 4, 2},
        {"patch 3", 1, IMAGE, 3, 1, 4, 2},             {"patch -2", 1, IMAGE, -2, 1, 4, 2},
        {"channels 2", 1, IMAGE, PATCH, 2, 4, 2},      {"codes 1", 1, IMAGE, PATCH, 1, 1, 2},
        {"codes 65537", 1, IMAGE, PATCH, 1, 65537, 2}, {"codes -1", 1, IMAGE, PATCH, 1, -1, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const vc *k = &cases[i];
        vq = JUNK(mom_vq);
        BAD(c, mom_vq_train(c, paths, k->n, k->size, k->patch, k->ch, k->codes, k->iters, 1, &vq),
            MOM_ERR_INVALID_ARG, k->sub);
        assert_null(vq);
    }
    vq = JUNK(mom_vq);
    BAD(c, mom_vq_train(c, null_path, 1, IMAGE, PATCH, 1, 4, 2, 1, &vq), MOM_ERR_INVALID_ARG, "paths[0]");
    assert_null(vq);
    vq = JUNK(mom_vq);
    BAD(c, mom_vq_train(c, paths, 1, IMAGE, PATCH, 1, 4, 2, 1, &vq), IMG_OR(MOM_ERR_IO), IMG_SUB("no-such-file"));
    assert_null(vq);
}

static void row_mom_vq_save(fixture *f)
{
    char p[400];
    snprintf(p, sizeof p, "%s/no/such/vq.safetensors", f->dir);
    BAD(f->ctx, mom_vq_save(f->ctx, NULL, p), MOM_ERR_INVALID_ARG, "vq");
    BAD(f->ctx, mom_vq_save(f->ctx, f->vq, NULL), MOM_ERR_INVALID_ARG, "path");
    BAD(f->ctx, mom_vq_save(f->ctx, f->vq, p), MOM_ERR_IO, "no/such");
    BAD(NULL, mom_vq_save(NULL, NULL, NULL), MOM_ERR_INVALID_ARG, NULL);
}

static void row_mom_vq_load(fixture *f)
{
    mom_vq *vq = JUNK(mom_vq);
    BAD(f->ctx, mom_vq_load(f->ctx, NULL, &vq), MOM_ERR_INVALID_ARG, "path");
    assert_null(vq);
    BAD(f->ctx, mom_vq_load(f->ctx, f->vq_path, NULL), MOM_ERR_INVALID_ARG, "out");
    vq = JUNK(mom_vq);
    BAD(f->ctx, mom_vq_load(f->ctx, f->missing, &vq), MOM_ERR_IO, "no-such-file");
    assert_null(vq);
    vq = JUNK(mom_vq);
    BAD(f->ctx, mom_vq_load(f->ctx, f->ds_path, &vq), MOM_ERR_FORMAT, "d.bin");
    assert_null(vq);
    vq = JUNK(mom_vq);
    BAD(f->ctx, mom_vq_load(f->ctx, f->units_path, &vq), MOM_ERR_FORMAT, "kind");
    assert_null(vq);
}

static void row_mom_vq_destroy(fixture *f)
{
    (void)f;
    NOCRASH(mom_vq_destroy(NULL));
    mom_vq *vq = NULL;
    NOCRASH(mom_vq_destroy(&vq));
    assert_null(vq);
}

/* The old names (deprecated for one release) still free what they get. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void row_mom_vq_free(fixture *f)
{
    NOCRASH(mom_vq_free(NULL));
    mom_vq *vq = NULL;
    assert_int_equal(mom_vq_load(f->ctx, f->vq_path, &vq), MOM_OK);
    NOCRASH(mom_vq_free(&vq));
    assert_null(vq);
}

static void row_mom_units_free(fixture *f)
{
    NOCRASH(mom_units_free(NULL));
    mom_units *u = NULL;
    assert_int_equal(mom_units_load(f->ctx, f->units_path, &u), AUDIO_OR(MOM_OK));
    NOCRASH(mom_units_free(&u));
    assert_null(u);
}
#pragma GCC diagnostic pop

static void row_mom_vq_codes(fixture *f) { (void)f; VAL(mom_vq_codes(NULL), 0); }
static void row_mom_vq_tokens_per_image(fixture *f) { (void)f; VAL(mom_vq_tokens_per_image(NULL), 0); }
static void row_mom_vq_image_size(fixture *f) { (void)f; VAL(mom_vq_image_size(NULL), 0); }
static void row_mom_vq_channels(fixture *f) { (void)f; VAL(mom_vq_channels(NULL), 0); }

static void row_mom_vq_encode(fixture *f)
{
    float px[IMAGE * IMAGE] = {0};
    int32_t codes[N_PATCHES] = {-5, -5, -5, -5};
    BAD(f->ctx, mom_vq_encode(f->ctx, NULL, px, codes), MOM_ERR_INVALID_ARG, "vq");
    BAD(f->ctx, mom_vq_encode(f->ctx, f->vq, NULL, codes), MOM_ERR_INVALID_ARG, "pixels");
    BAD(f->ctx, mom_vq_encode(f->ctx, f->vq, px, NULL), MOM_ERR_INVALID_ARG, "codes");
    BAD(NULL, mom_vq_encode(NULL, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, NULL);
    assert_int_equal(codes[0], -5);
}

static void row_mom_vq_image_tokens(fixture *f)
{
    float px[IMAGE * IMAGE] = {0};
    int32_t tok[N_PATCHES + 2] = {-5};
    uint8_t mod[N_PATCHES + 2] = {99};
    mom_ctx *c = f->ctx;
    const mom_vocab_layout *l = &f->lay;
    BAD(c, mom_vq_image_tokens(c, NULL, l, px, IMAGE, IMAGE, 1, tok, mod), MOM_ERR_INVALID_ARG, "vq");
    BAD(c, mom_vq_image_tokens(c, f->vq, NULL, px, IMAGE, IMAGE, 1, tok, mod), MOM_ERR_INVALID_ARG, "layout");
    BAD(c, mom_vq_image_tokens(c, f->vq, l, NULL, IMAGE, IMAGE, 1, tok, mod), MOM_ERR_INVALID_ARG, "pixels");
    BAD(c, mom_vq_image_tokens(c, f->vq, l, px, IMAGE, IMAGE, 1, NULL, mod), MOM_ERR_INVALID_ARG, "tokens");
    BAD(c, mom_vq_image_tokens(c, f->vq, l, px, IMAGE, IMAGE, 1, tok, NULL), MOM_ERR_INVALID_ARG, "modality");
    BAD(c, mom_vq_image_tokens(c, f->vq, l, px, IMAGE + 1, IMAGE, 1, tok, mod), MOM_ERR_DATA, "5 x 4 x 1");
    BAD(c, mom_vq_image_tokens(c, f->vq, l, px, IMAGE, -1, 1, tok, mod), MOM_ERR_DATA, "4 x -1 x 1");
    BAD(c, mom_vq_image_tokens(c, f->vq, l, px, IMAGE, IMAGE, 3, tok, mod), MOM_ERR_DATA, "4 x 4 x 3");
    BAD(c, mom_vq_image_tokens(c, f->vq, l, px, INT_MIN, INT_MAX, 0, tok, mod), MOM_ERR_DATA, "grid");
    mom_vocab_layout other = *l;
    other.n_image = 5;
    BAD(c, mom_vq_image_tokens(c, f->vq, &other, px, IMAGE, IMAGE, 1, tok, mod), MOM_ERR_DATA, "5 image tokens");
    assert_int_equal(tok[0], -5);
    assert_int_equal(mod[0], 99);
}

static void row_mom_vq_decode(fixture *f)
{
    float px[IMAGE * IMAGE];
    memset(px, 0x55, sizeof px);
    const float sentinel = px[0];
    int32_t codes[N_PATCHES] = {0, 1, 2, 3};
    BAD(f->ctx, mom_vq_decode(f->ctx, NULL, codes, px), MOM_ERR_INVALID_ARG, "vq");
    BAD(f->ctx, mom_vq_decode(f->ctx, f->vq, NULL, px), MOM_ERR_INVALID_ARG, "codes");
    BAD(f->ctx, mom_vq_decode(f->ctx, f->vq, codes, NULL), MOM_ERR_INVALID_ARG, "pixels");
    codes[2] = 4;
    BAD(f->ctx, mom_vq_decode(f->ctx, f->vq, codes, px), MOM_ERR_INVALID_ARG, "codes[2] = 4");
    codes[2] = -1;
    BAD(f->ctx, mom_vq_decode(f->ctx, f->vq, codes, px), MOM_ERR_INVALID_ARG, "codes[2] = -1");
    codes[2] = INT32_MIN;
    BAD(f->ctx, mom_vq_decode(f->ctx, f->vq, codes, px), MOM_ERR_INVALID_ARG, "codes[2]");
    assert_true(px[0] == sentinel);
}

static void row_mom_image_write_png(fixture *f)
{
    float px[IMAGE * IMAGE] = {0};
    char p[400], nodir[400];
    snprintf(p, sizeof p, "%s/x.png", f->dir);
    snprintf(nodir, sizeof nodir, "%s/no/such/x.png", f->dir);
    mom_ctx *c = f->ctx;
    BAD(c, mom_image_write_png(c, NULL, IMAGE, 1, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("path"));
    BAD(c, mom_image_write_png(c, p, IMAGE, 1, NULL), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("pixels"));
    BAD(c, mom_image_write_png(c, p, 0, 1, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("size 0"));
    BAD(c, mom_image_write_png(c, p, -1, 1, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("size -1"));
    BAD(c, mom_image_write_png(c, p, INT_MAX, 1, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("size"));
    BAD(c, mom_image_write_png(c, p, IMAGE, 2, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("channels 2"));
    BAD(c, mom_image_write_png(c, p, IMAGE, -3, px), IMG_OR(MOM_ERR_INVALID_ARG), IMG_SUB("channels -3"));
    BAD(c, mom_image_write_png(c, nodir, IMAGE, 1, px), IMG_OR(MOM_ERR_IO), IMG_SUB("no/such"));
    struct stat sb;
    assert_int_equal(stat(p, &sb), -1);
}

typedef mom_status (*patches_fn)(mom_ctx *, const mom_patch_geometry *, const float *, float *);

static void patches_cases(fixture *f, patches_fn fn, const char *in_name, const char *out_name)
{
    const mom_patch_geometry g = {PATCH, IMAGE, 1};
    float in[IMAGE * IMAGE] = {0}, out[IMAGE * IMAGE];
    memset(out, 0x55, sizeof out);
    const float sentinel = out[0];
    BAD(f->ctx, fn(f->ctx, NULL, in, out), MOM_ERR_INVALID_ARG, "geometry");
    BAD(f->ctx, fn(f->ctx, &g, NULL, out), MOM_ERR_INVALID_ARG, in_name);
    BAD(f->ctx, fn(f->ctx, &g, in, NULL), MOM_ERR_INVALID_ARG, out_name);
    const mom_patch_geometry bad[] = {{0, 0, 0}, {3, 4, 1}, {0, 4, 1}, {-2, 4, 1}, {2, 4, 0}, {2, -4, 1},
                                      {2, 1, 1}, {2, 32768, 1}, {INT_MAX, INT_MAX, INT_MAX}, {256, 256, 2}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        BAD(f->ctx, fn(f->ctx, &bad[i], in, out), MOM_ERR_INVALID_ARG, "patch geometry");
    BAD(NULL, fn(NULL, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, NULL);
    assert_true(out[0] == sentinel);
}

static void row_mom_image_to_patches(fixture *f) { patches_cases(f, mom_image_to_patches, "pixels", "patches"); }
static void row_mom_image_from_patches(fixture *f) { patches_cases(f, mom_image_from_patches, "patches", "pixels"); }

static void row_mom_audio_logmel(fixture *f)
{
    float *frames = JUNK(float);
    size_t n = 77;
    mom_ctx *c = f->ctx;
    BAD(c, mom_audio_logmel(c, f->missing, NULL, &n), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("frames"));
    BAD(c, mom_audio_logmel(c, f->missing, &frames, NULL), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("n_frames"));
    assert_null(frames);
    frames = JUNK(float);
    n = 77;
    BAD(c, mom_audio_logmel(c, NULL, &frames, &n), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("path"));
    assert_null(frames);
    assert_int_equal(n, 0);
    frames = JUNK(float);
    BAD(c, mom_audio_logmel(c, f->missing, &frames, &n), AUDIO_OR(MOM_ERR_IO), AUDIO_SUB("no-such-file"));
    assert_null(frames);
    frames = JUNK(float);
    BAD(c, mom_audio_logmel(c, f->vq_path, &frames, &n), AUDIO_OR(MOM_ERR_FORMAT), AUDIO_SUB("vq.safetensors"));
    assert_null(frames);
}

static void row_mom_units_train(fixture *f)
{
    mom_ctx *c = f->ctx;
    const char *paths[1] = {f->missing};
    const char *null_path[1] = {NULL};
    mom_units *u = JUNK(mom_units);
    BAD(c, mom_units_train(c, paths, 1, 4, 2, 1, NULL), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("out"));
    BAD(c, mom_units_train(c, NULL, 1, 4, 2, 1, &u), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("paths"));
    assert_null(u);
    typedef struct { const char *sub; size_t n; int codes, iters; } uc;
    const uc cases[] = {{"n_paths 0", 0, 4, 2}, {"codes 1", 1, 1, 2},     {"codes -1", 1, -1, 2},
                        {"codes", 1, INT_MAX, 2}, {"iters -1", 1, 4, -1}, {"iters", 1, 4, INT_MIN}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        u = JUNK(mom_units);
        BAD(c, mom_units_train(c, paths, cases[i].n, cases[i].codes, cases[i].iters, 1, &u),
            AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB(cases[i].sub));
        assert_null(u);
    }
    u = JUNK(mom_units);
    BAD(c, mom_units_train(c, null_path, 1, 4, 2, 1, &u), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("paths[0]"));
    assert_null(u);
    u = JUNK(mom_units);
    BAD(c, mom_units_train(c, paths, 1, 4, 2, 1, &u), AUDIO_OR(MOM_ERR_IO), AUDIO_SUB("no-such-file"));
    assert_null(u);
}

static void row_mom_units_save(fixture *f)
{
    char p[400];
    snprintf(p, sizeof p, "%s/no/such/u.safetensors", f->dir);
    BAD(f->ctx, mom_units_save(f->ctx, NULL, p), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("units"));
    if (!MOM_HAVE_AUDIO) return; /* no units object can exist */
    BAD(f->ctx, mom_units_save(f->ctx, f->units, NULL), MOM_ERR_INVALID_ARG, "path");
    BAD(f->ctx, mom_units_save(f->ctx, f->units, p), MOM_ERR_IO, "no/such");
}

static void row_mom_units_load(fixture *f)
{
    mom_units *u = JUNK(mom_units);
    BAD(f->ctx, mom_units_load(f->ctx, NULL, &u), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("path"));
    assert_null(u);
    BAD(f->ctx, mom_units_load(f->ctx, f->units_path, NULL), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("out"));
    u = JUNK(mom_units);
    BAD(f->ctx, mom_units_load(f->ctx, f->missing, &u), AUDIO_OR(MOM_ERR_IO), AUDIO_SUB("no-such-file"));
    assert_null(u);
    u = JUNK(mom_units);
    BAD(f->ctx, mom_units_load(f->ctx, f->vq_path, &u), AUDIO_OR(MOM_ERR_FORMAT), AUDIO_SUB("kind"));
    assert_null(u);
}

static void row_mom_units_destroy(fixture *f)
{
    (void)f;
    NOCRASH(mom_units_destroy(NULL));
    mom_units *u = NULL;
    NOCRASH(mom_units_destroy(&u));
    assert_null(u);
}

static void row_mom_units_codes(fixture *f) { (void)f; VAL(mom_units_codes(NULL), 0); }

static void row_mom_units_encode_file(fixture *f)
{
    int32_t *units = JUNK(int32_t);
    size_t n = 77;
    mom_ctx *c = f->ctx;
    const mom_units *u = f->units;
    BAD(c, mom_units_encode_file(c, u, f->missing, NULL, &n), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("units"));
    BAD(c, mom_units_encode_file(c, u, f->missing, &units, NULL), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("n_units"));
    assert_null(units);
    units = JUNK(int32_t);
    n = 77;
    BAD(c, mom_units_encode_file(c, NULL, f->missing, &units, &n), AUDIO_OR(MOM_ERR_INVALID_ARG),
        AUDIO_SUB("NULL units codebook"));
    assert_null(units);
    assert_int_equal(n, 0);
    units = JUNK(int32_t);
    BAD(c, mom_units_encode_file(c, u, NULL, &units, &n), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("path"));
    assert_null(units);
    units = JUNK(int32_t);
    BAD(c, mom_units_encode_file(c, u, f->missing, &units, &n), AUDIO_OR(MOM_ERR_IO), AUDIO_SUB("no-such-file"));
    assert_null(units);
}

static void row_mom_units_write_wav(fixture *f)
{
    char p[400], nodir[400];
    snprintf(p, sizeof p, "%s/x.wav", f->dir);
    snprintf(nodir, sizeof nodir, "%s/no/such/x.wav", f->dir);
    int32_t units[4] = {0, 1, 2, 1};
    mom_ctx *c = f->ctx;
    const mom_units *u = f->units;
    BAD(c, mom_units_write_wav(c, NULL, units, 4, 0, p), AUDIO_OR(MOM_ERR_INVALID_ARG), AUDIO_SUB("codebook"));
    if (MOM_HAVE_AUDIO) {
        BAD(c, mom_units_write_wav(c, u, NULL, 4, 0, p), MOM_ERR_INVALID_ARG, "units");
        BAD(c, mom_units_write_wav(c, u, units, 4, 0, NULL), MOM_ERR_INVALID_ARG, "path");
        BAD(c, mom_units_write_wav(c, u, units, 0, 0, p), MOM_ERR_INVALID_ARG, "n_units is 0");
        BAD(c, mom_units_write_wav(c, u, units, 4, -1, p), MOM_ERR_INVALID_ARG, "frames_per_unit -1");
        BAD(c, mom_units_write_wav(c, u, units, 4, INT_MAX, p), MOM_ERR_INVALID_ARG, "frames_per_unit");
        units[2] = 3;
        BAD(c, mom_units_write_wav(c, u, units, 4, 0, p), MOM_ERR_INVALID_ARG, "unit 3");
        units[2] = -1;
        BAD(c, mom_units_write_wav(c, u, units, 4, 0, p), MOM_ERR_INVALID_ARG, "unit -1");
        units[2] = 2;
        BAD(c, mom_units_write_wav(c, u, units, 4, 0, nodir), MOM_ERR_IO, "no/such");
    }
    struct stat sb;
    assert_int_equal(stat(p, &sb), -1);
}

static void row_mom_dataset_import_manifest(fixture *f)
{
    char out[400], man[400];
    snprintf(out, sizeof out, "%s/man.bin", f->dir);
    snprintf(man, sizeof man, "%s/manifest.jsonl", f->dir);
    tu_write_file(man, "{\"segments\": [{\"text\": \"hi\"}]}\n", 32);
    const mom_patch_geometry g = {PATCH, IMAGE, 1}, bad_g = {3, 4, 1}, zero = {0, 0, 0};
    mom_ctx *c = f->ctx;
    BAD(c, mom_dataset_import_manifest(c, NULL, out, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, "manifest_path");
    BAD(c, mom_dataset_import_manifest(c, man, NULL, NULL, NULL, NULL), MOM_ERR_INVALID_ARG, "out_path");
    BAD(c, mom_dataset_import_manifest(c, man, out, f->vq, NULL, &g), MOM_ERR_INVALID_ARG, "not both");
    BAD(c, mom_dataset_import_manifest(c, man, out, NULL, NULL, &bad_g), MOM_ERR_INVALID_ARG, "patch 3");
    BAD(c, mom_dataset_import_manifest(c, f->missing, out, NULL, NULL, &zero), MOM_ERR_IO, "no-such-file");
    struct stat sb;
    assert_int_equal(stat(out, &sb), -1);
    unlink(man);
}

static void row_mom_import_layout(fixture *f)
{
    VAL(mom_import_layout(NULL, NULL, NULL), MOM_ERR_INVALID_ARG);
    VAL(mom_import_layout(f->vq, f->units, NULL), MOM_ERR_INVALID_ARG);
    mom_vocab_layout l;
    memset(&l, 0x5a, sizeof l);
    VAL(mom_import_layout(NULL, NULL, &l), MOM_OK);
    assert_int_equal(l.n_image, 0);
    assert_int_equal(l.n_speech, 0);
}

/* ---- the table ------------------------------------------------------------------
 * One row per function of the public headers, in their order;
 * tests/check_api_table.py reads the API_ROW lines. */

typedef struct api_row {
    const char *name;
    void (*run)(fixture *f);
} api_row;

#define API_ROW(fn) {#fn, row_##fn}

static const api_row rows[] = {
    /* mom.h */
    API_ROW(mom_status_str),
    API_ROW(mom_version),
    API_ROW(mom_vocab_layout_is_set),
    API_ROW(mom_vocab_layout_size),
    API_ROW(mom_vocab_layout_modality),
    API_ROW(mom_vocab_layout_n_modalities),
    API_ROW(mom_vocab_special),
    API_ROW(mom_vocab_which_special),
    API_ROW(mom_vocab_first),
    API_ROW(mom_modality_name),
    API_ROW(mom_patch_dim),
    API_ROW(mom_patches_per_image),
    API_ROW(mom_config_default),
    API_ROW(mom_ctx_default_settings),
    API_ROW(mom_ctx_create),
    API_ROW(mom_ctx_create_error),
    API_ROW(mom_ctx_destroy),
    API_ROW(mom_ctx_last_error),
    API_ROW(mom_ctx_set_stop),
    API_ROW(mom_ctx_backend_name),
    API_ROW(mom_cpu_features_string),
    API_ROW(mom_backend_name),
    API_ROW(mom_devices_string),
    API_ROW(mom_vulkan_devices_string),
    API_ROW(mom_config_parse_json),
    API_ROW(mom_config_load),
    API_ROW(mom_config_to_json),
    API_ROW(mom_config_validate),
    API_ROW(mom_model_create),
    API_ROW(mom_model_load),
    API_ROW(mom_model_load_pretrained),
    API_ROW(mom_model_upcycle),
    API_ROW(mom_model_extend_vocab),
    API_ROW(mom_model_quantize),
    API_ROW(mom_model_export),
    API_ROW(mom_model_save),
    API_ROW(mom_model_destroy),
    API_ROW(mom_model_config),
    API_ROW(mom_model_get_info),
    API_ROW(mom_model_n_tensors),
    API_ROW(mom_model_tensor_name),
    API_ROW(mom_model_tensor_shape),
    API_ROW(mom_model_get_param),
    API_ROW(mom_model_set_param),
    API_ROW(mom_model_get_grad),
    API_ROW(mom_model_get_grads),
    API_ROW(mom_model_set_grads),
    API_ROW(mom_losses_accumulate),
    API_ROW(mom_model_forward),
    API_ROW(mom_model_backward),
    API_ROW(mom_model_zero_grad),
    API_ROW(mom_model_save_grads),
    API_ROW(mom_optim_default_settings),
    API_ROW(mom_optim_lr_at),
    API_ROW(mom_model_step),
    API_ROW(mom_model_train_step),
    API_ROW(mom_model_steps_done),
    API_ROW(mom_model_save_optim),
    API_ROW(mom_model_load_optim),
    API_ROW(mom_diffusion_alpha_bar),
    API_ROW(mom_diffusion_time_features),
    API_ROW(mom_ddim_step),
    API_ROW(mom_dataset_open),
    API_ROW(mom_dataset_destroy),
    API_ROW(mom_dataset_close),
    API_ROW(mom_dataset_n_tokens),
    API_ROW(mom_dataset_n_modalities),
    API_ROW(mom_dataset_vocab_size),
    API_ROW(mom_dataset_n_docs),
    API_ROW(mom_dataset_vocab_layout),
    API_ROW(mom_dataset_patch_geometry),
    API_ROW(mom_dataset_n_patches),
    API_ROW(mom_dataset_tokens),
    API_ROW(mom_dataset_modalities),
    API_ROW(mom_dataset_check),
    API_ROW(mom_dataset_fill_batch),
    API_ROW(mom_dataset_fill_patches),
    API_ROW(mom_model_evaluate),
    API_ROW(mom_dataset_import_jsonl),
    API_ROW(mom_dataset_write),
    API_ROW(mom_state_default_settings),
    API_ROW(mom_state_bytes),
    API_ROW(mom_state_create),
    API_ROW(mom_state_destroy),
    API_ROW(mom_state_n_seq),
    API_ROW(mom_state_length),
    API_ROW(mom_state_reset),
    API_ROW(mom_state_copy),
    API_ROW(mom_state_prefill),
    API_ROW(mom_state_step),
    API_ROW(mom_state_prefill_patches),
    API_ROW(mom_state_generate_image),
    API_ROW(mom_model_logits),
    API_ROW(mom_sampling_default),
    API_ROW(mom_sampler_create),
    API_ROW(mom_sampler_destroy),
    API_ROW(mom_sampler_accept),
    API_ROW(mom_sampler_sample),
    API_ROW(mom_bench_kernels),
    API_ROW(mom_ctx_profile),
    API_ROW(mom_ctx_profile_emit),
    API_ROW(mom_bench_matmul_peak),
    /* mom_data.h */
    API_ROW(mom_image_load),
    API_ROW(mom_vq_train),
    API_ROW(mom_vq_save),
    API_ROW(mom_vq_load),
    API_ROW(mom_vq_destroy),
    API_ROW(mom_vq_free),
    API_ROW(mom_vq_codes),
    API_ROW(mom_vq_tokens_per_image),
    API_ROW(mom_vq_image_size),
    API_ROW(mom_vq_channels),
    API_ROW(mom_vq_encode),
    API_ROW(mom_vq_image_tokens),
    API_ROW(mom_vq_decode),
    API_ROW(mom_image_write_png),
    API_ROW(mom_image_to_patches),
    API_ROW(mom_image_from_patches),
    API_ROW(mom_audio_logmel),
    API_ROW(mom_units_train),
    API_ROW(mom_units_save),
    API_ROW(mom_units_load),
    API_ROW(mom_units_destroy),
    API_ROW(mom_units_free),
    API_ROW(mom_units_codes),
    API_ROW(mom_units_encode_file),
    API_ROW(mom_units_write_wav),
    API_ROW(mom_dataset_import_manifest),
    API_ROW(mom_import_layout),
};

enum { N_ROWS = sizeof rows / sizeof rows[0] };

/* A row leaves the fixture's folder as it found it: a failed save, write or
 * import leaves no temporary file behind, and what a row makes on purpose
 * it removes. */
static void run_row(void **state)
{
    const api_row *r = *state;
    const size_t before = tu_count_entries(F->dir, NULL);
    r->run(F);
    assert_int_equal(tu_count_entries(F->dir, NULL), before);
}

int main(void)
{
    struct CMUnitTest tests[N_ROWS];
    for (size_t i = 0; i < N_ROWS; i++) {
        tests[i] = (struct CMUnitTest){rows[i].name, run_row, NULL, NULL, (void *)&rows[i]};
    }
    return _cmocka_run_group_tests("api_table", tests, N_ROWS, group_setup, group_teardown);
}
