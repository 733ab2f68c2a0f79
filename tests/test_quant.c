/* Quantized weights: the q8 / q4 arithmetic against hand-worked rows and
 * its error bound on random ones (odd K, short groups, zero rows); the
 * checks that refuse a stored form that lies; mom_model_quantize (what is
 * quantized, what stays bit-identical, logits near the fp32 model's);
 * save -> load -> save gives the same bytes and the same logits; bad files
 * are refused naming the tensor; and everything that needs fp32 weights
 * refuses a quantized model, naming its format. */
#include "quant.h"
#include "safetensors.h"
#include "test_util.h"

static void test_q8_by_hand(void **st)
{
    (void)st;
    const float w[2][3] = {{0.5f, -1.27f, 0.0f}, {0.0f, 0.0f, 0.0f}};
    uint8_t q[6];
    float s[2];
    quant_rows(MOM_WEIGHTS_Q8, &w[0][0], 2, 3, q, s);
    assert_float_equal(s[0], 1.27f / 127.0f, 1e-9);
    assert_int_equal((int8_t)q[0], 50);
    assert_int_equal((int8_t)q[1], -127);
    assert_int_equal((int8_t)q[2], 0);
    assert_true(s[1] == 0.0f && !q[3] && !q[4] && !q[5]); /* a zero row: scale 0 */
    char why[160];
    assert_int_equal(quant_check(MOM_WEIGHTS_Q8, q, s, 2, 3, why, sizeof why), -1);
}

static void test_q4_by_hand(void **st)
{
    (void)st;
    /* K 35: a full group of 32 and a short one of 3, in 18 bytes. */
    float w[35] = {0};
    w[0] = 0.7f;  /* the group's max: q 7 */
    w[1] = -0.3f; /* q -3 */
    w[32] = -7.0f; /* the short group's max: scale 1, q -7 */
    w[34] = 2.5f;  /* a tie, to even: q 2 */
    uint8_t q[18];
    float s[2];
    assert_int_equal(quant_row_bytes(MOM_WEIGHTS_Q4, 35), 18);
    assert_int_equal(quant_row_bytes(MOM_WEIGHTS_Q4, 8), 4); /* one short group: the bytes it needs */
    assert_int_equal(quant_row_scales(MOM_WEIGHTS_Q4, 35), 2);
    quant_rows(MOM_WEIGHTS_Q4, w, 1, 35, q, s);
    assert_float_equal(s[0], 0.1f, 1e-7);
    assert_true(s[1] == 1.0f);
    assert_int_equal(q[0], (7 + 8) | (-3 + 8) << 4);
    assert_int_equal(q[16], (-7 + 8) | (0 + 8) << 4);
    assert_int_equal(q[17], (2 + 8) | (0 + 8) << 4); /* value 34, then the place past K: 8 */
    float back[35];
    dequant_rows(MOM_WEIGHTS_Q4, q, s, 1, 35, back);
    assert_float_equal(back[1], -0.3f, 1e-7);
    assert_true(back[34] == 2.0f);
}

/* |w - dequant(quant(w))| <= scale / 2 everywhere, on random rows of odd
 * lengths, with zero rows among them. */
static void test_error_bound(void **st)
{
    (void)st;
    const int64_t Ks[] = {1, 16, 31, 33, 45, 256};
    uint64_t seed = 5;
    for (int f = MOM_WEIGHTS_Q8; f <= MOM_WEIGHTS_Q4; f++)
        for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
            const int64_t K = Ks[ki], rows = 7;
            float *w = malloc(sizeof(float) * rows * K), *back = malloc(sizeof(float) * rows * K);
            uint8_t *q = malloc((size_t)(rows * quant_row_bytes(f, K)));
            float *s = malloc(sizeof(float) * rows * quant_row_scales(f, K));
            for (int64_t i = 0; i < rows * K; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                w[i] = i / K == 3 ? 0.0f : ((float)(seed >> 40) / (1 << 24) - 0.5f) * (float)(1 + i % 5);
            }
            quant_rows(f, w, rows, K, q, s);
            char why[160];
            assert_int_equal(quant_check(f, q, s, rows, K, why, sizeof why), -1);
            dequant_rows(f, q, s, rows, K, back);
            const int64_t rs = quant_row_scales(f, K);
            for (int64_t i = 0; i < rows * K; i++) {
                const float sc = s[(i / K) * rs + (f == MOM_WEIGHTS_Q8 ? 0 : (i % K) / QUANT_GROUP)];
                if (fabsf(back[i] - w[i]) > 0.5f * sc * (1 + 1e-6f))
                    fail_msg("format %d K %lld element %lld: %g -> %g (scale %g)", f, (long long)K, (long long)i,
                             (double)w[i], (double)back[i], (double)sc);
            }
            for (int64_t i = 3 * K; i < 4 * K; i++) assert_true(back[i] == 0.0f);
            free(w);
            free(back);
            free(q);
            free(s);
        }
}

/* A stored form that lies is refused, naming the row and what is wrong. */
static void test_check_refuses(void **st)
{
    (void)st;
    char why[160];
    uint8_t q8[4] = {1, 2, 3, 4};
    float s8[2] = {0.5f, 0.0f};
    assert_int_equal(quant_check(MOM_WEIGHTS_Q8, q8, s8, 2, 2, why, sizeof why), 1); /* row 1: values, scale 0 */
    assert_non_null(strstr(why, "scale 0 is 0"));
    s8[1] = NAN;
    assert_int_equal(quant_check(MOM_WEIGHTS_Q8, q8, s8, 2, 2, why, sizeof why), 1);
    s8[1] = -1.0f;
    assert_int_equal(quant_check(MOM_WEIGHTS_Q8, q8, s8, 2, 2, why, sizeof why), 1);
    s8[1] = 1.0f;
    q8[0] = 0x80; /* -128 */
    assert_int_equal(quant_check(MOM_WEIGHTS_Q8, q8, s8, 2, 2, why, sizeof why), 0);
    assert_non_null(strstr(why, "value 0 is -128"));
    uint8_t q4[3];
    memset(q4, 0x88, sizeof q4);
    float s4 = 0.0f;
    assert_int_equal(quant_check(MOM_WEIGHTS_Q4, q4, &s4, 1, 5, why, sizeof why), -1); /* all zero, scale 0 */
    q4[2] = 0x98; /* place 5, the high nibble past K = 5 */
    assert_int_equal(quant_check(MOM_WEIGHTS_Q4, q4, &s4, 1, 5, why, sizeof why), 0);
    assert_non_null(strstr(why, "place 5, past the 5 inputs"));
}

enum { V = 40, DM = 32 };

static mom_config small(int tied)
{
    mom_config c = tu_config(3, V, DM, 2, 4);
    c.tie_embeddings = tied;
    return c;
}

static void logits_of(mom_model *m, float *out)
{
    int32_t tok[2 * 9];
    uint8_t mod[2 * 9];
    for (int i = 0; i < 18; i++) {
        tok[i] = (i * 7 + 3) % V;
        mod[i] = (uint8_t)(i / 3 % 3);
    }
    assert_int_equal(mom_model_logits(m, 2, 9, tok, mod, out), MOM_OK);
}

static float *param(mom_model *m, const char *name, size_t *n)
{
    *n = tu_tensor_size(m, name);
    float *p = malloc(sizeof(float) * *n);
    assert_int_equal(mom_model_get_param(m, name, p, *n), MOM_OK);
    return p;
}

static int quantized_name(const char *name, int tied)
{
    return (strstr(name, "_proj") && strstr(name, ".weight")) || !strcmp(name, "lm_head.weight") ||
           (tied && !strcmp(name, "embedding.weight"));
}

/* What is quantized, what is not, and how near the logits stay. */
static void test_quantize_model(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    for (int tied = 0; tied < 2; tied++) {
        mom_config c = small(tied);
        mom_model *m = tu_new_model(ctx, &c, 4);
        float ref[2 * 9 * V];
        logits_of(m, ref);
        for (int f = MOM_WEIGHTS_Q8; f <= MOM_WEIGHTS_Q4; f++) {
            mom_model *q = NULL;
            assert_int_equal(mom_model_quantize(m, f, &q), MOM_OK);
            assert_int_equal(mom_model_config(q)->weight_format, f);
            int n_quantized = 0;
            for (size_t i = 0; i < mom_model_n_tensors(q); i++) {
                const char *name = mom_model_tensor_name(q, i);
                size_t n;
                float *a = param(m, name, &n), *b = param(q, name, &n);
                if (!quantized_name(name, tied)) {
                    assert_memory_equal(a, b, sizeof(float) * n); /* fp32, untouched */
                } else {
                    n_quantized++;
                    int differ = 0;
                    for (size_t j = 0; j < n; j++) differ |= a[j] != b[j];
                    assert_true(differ);
                }
                free(a);
                free(b);
            }
            /* 4 projections x 3 modalities x 2 layers, and the head. */
            assert_int_equal(n_quantized, 4 * 3 * 2 + 1);
            float got[2 * 9 * V];
            logits_of(q, got);
            /* The tolerance the README states: q8 1e-2, q4 1e-1 of the logits' spread. */
            float lo = ref[0], hi = ref[0], worst = 0.0f;
            for (int i = 0; i < 2 * 9 * V; i++) {
                lo = fminf(lo, ref[i]);
                hi = fmaxf(hi, ref[i]);
                worst = fmaxf(worst, fabsf(got[i] - ref[i]));
            }
            const float tol = (f == MOM_WEIGHTS_Q8 ? 1e-2f : 1e-1f) * (hi - lo);
            fprintf(stderr, "%s tied %d: worst logit error %.3g, spread %.3g\n", f == MOM_WEIGHTS_Q8 ? "q8" : "q4",
                    tied, (double)worst, (double)(hi - lo));
            if (!(worst <= tol)) fail_msg("worst logit error %g over %g", (double)worst, (double)tol);
            mom_model_destroy(&q);
        }
        mom_model_destroy(&m);
    }
    mom_ctx_destroy(&ctx);
}

/* The fp32 model of the values q's weights stand for. */
static mom_model *dequantized(mom_ctx *ctx, mom_model *q)
{
    mom_config c = *mom_model_config(q);
    c.weight_format = MOM_WEIGHTS_F32;
    mom_model *d = tu_new_model(ctx, &c, 99);
    for (size_t i = 0; i < mom_model_n_tensors(q); i++) {
        const char *name = mom_model_tensor_name(q, i);
        size_t n;
        float *v = param(q, name, &n);
        assert_int_equal(mom_model_set_param(d, name, v, n), MOM_OK);
        free(v);
    }
    return d;
}

/* Logits of one sequence stepped a token at a time (batch 1: the fused
 * kernel), every step's. */
static void step_logits(mom_model *m, int T, float *out)
{
    mom_state_settings ss;
    mom_state_default_settings(&ss);
    mom_state *st = NULL;
    assert_int_equal(mom_state_create(m, &ss, &st), MOM_OK);
    for (int t = 0; t < T; t++) {
        const int32_t tok = (t * 7 + 3) % V;
        const uint8_t mod = (uint8_t)(t / 3 % 3);
        assert_int_equal(t ? mom_state_step(st, &tok, &mod, out + (size_t)t * V)
                           : mom_state_prefill(st, 0, 1, 1, &tok, &mod, out),
                         MOM_OK);
    }
    mom_state_destroy(&st);
}

static float worst_rel(const float *a, const float *b, size_t n)
{
    float lo = b[0], hi = b[0], worst = 0.0f;
    for (size_t i = 0; i < n; i++) {
        lo = fminf(lo, b[i]);
        hi = fmaxf(hi, b[i]);
        worst = fmaxf(worst, fabsf(a[i] - b[i]));
    }
    return worst / (hi - lo);
}

/* A quantized model computes what the fp32 model of its values computes,
 * to float rounding: a prefill of 18 rows (dequantized tiles into the
 * GEMM) and steps of one row (the fused kernel). */
static void test_compute_matches_dequantized(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    for (int tied = 0; tied < 2; tied++)
        for (int f = MOM_WEIGHTS_Q8; f <= MOM_WEIGHTS_Q4; f++) {
            mom_config c = small(tied);
            mom_model *m = tu_new_model(ctx, &c, 8), *q = NULL;
            assert_int_equal(mom_model_quantize(m, f, &q), MOM_OK);
            mom_model *d = dequantized(ctx, q);
            float a[2 * 9 * V], b[2 * 9 * V];
            logits_of(q, a);
            logits_of(d, b);
            const float prefill = worst_rel(a, b, 2 * 9 * V);
            step_logits(q, 9, a);
            step_logits(d, 9, b);
            const float steps = worst_rel(a, b, 9 * V);
            fprintf(stderr, "q%d tied %d: quantized vs dequantized fp32, worst / spread: prefill %.2g, steps %.2g\n",
                    f == MOM_WEIGHTS_Q8 ? 8 : 4, tied, (double)prefill, (double)steps);
            assert_true(prefill <= 1e-5f && steps <= 1e-5f);
            mom_model_destroy(&d);
            mom_model_destroy(&q);
            mom_model_destroy(&m);
        }
    mom_ctx_destroy(&ctx);
}

/* More than 8 rows of one projection call and a head larger than one
 * dequantized tile (4400 x 256 values > 2^20): the tile path, its second
 * and short last tile, and its buffer grown from a smaller weight's. */
static void test_prefill_tiles(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 2, NULL), MOM_OK);
    enum { BV = 4400, R = 2, T = 12 };
    mom_config c = tu_config(2, BV, 256, 1, 4);
    mom_model *m = tu_new_model(ctx, &c, 5), *q = NULL;
    int32_t tok[R * T];
    uint8_t mod[R * T];
    for (int i = 0; i < R * T; i++) {
        tok[i] = (i * 131 + 7) % BV;
        mod[i] = (uint8_t)(i % T == T - 1); /* 22 rows of modality 0 in one call */
    }
    float *a = malloc(sizeof(float) * R * T * BV), *b = malloc(sizeof(float) * R * T * BV);
    for (int f = MOM_WEIGHTS_Q8; f <= MOM_WEIGHTS_Q4; f++) {
        assert_int_equal(mom_model_quantize(m, f, &q), MOM_OK);
        mom_model *d = dequantized(ctx, q);
        assert_int_equal(mom_model_logits(q, R, T, tok, mod, a), MOM_OK);
        assert_int_equal(mom_model_logits(d, R, T, tok, mod, b), MOM_OK);
        const float w = worst_rel(a, b, (size_t)R * T * BV);
        fprintf(stderr, "q%d, tiles: quantized vs dequantized fp32, worst / spread %.2g\n", f == MOM_WEIGHTS_Q8 ? 8 : 4,
                (double)w);
        assert_true(w <= 1e-5f);
        mom_model_destroy(&d);
        mom_model_destroy(&q);
    }
    free(a);
    free(b);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

static char dir[] = "/tmp/mom_quant_XXXXXX";

static const char *in_dir(const char *name)
{
    static char p[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        const int x = fgetc(fa), y = fgetc(fb);
        same = x == y;
        if (x == EOF || y == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* save -> load -> save: the same bytes; the loaded model's logits are the
 * quantized model's, bit for bit; the file is smaller than fp32's. */
static void test_file_round_trip(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    for (int tied = 0; tied < 2; tied++) {
    mom_config c = small(tied);
    mom_model *m = tu_new_model(ctx, &c, 6);
    assert_int_equal(mom_model_save(m, in_dir("f32.safetensors")), MOM_OK);
    for (int f = MOM_WEIGHTS_Q8; f <= MOM_WEIGHTS_Q4; f++) {
        mom_model *q = NULL, *l = NULL;
        assert_int_equal(mom_model_quantize(m, f, &q), MOM_OK);
        assert_int_equal(mom_model_save(q, in_dir("q.safetensors")), MOM_OK);
        if (mom_model_load(ctx, in_dir("q.safetensors"), &l)) fail_msg("%s", mom_ctx_last_error(ctx));
        assert_int_equal(mom_model_save(l, in_dir("q2.safetensors")), MOM_OK);
        assert_true(same_file(in_dir("q.safetensors"), in_dir("q2.safetensors")));
        float a[2 * 9 * V], b[2 * 9 * V];
        logits_of(q, a);
        logits_of(l, b);
        assert_memory_equal(a, b, sizeof a);
        struct stat s32, sq;
        assert_int_equal(stat(in_dir("f32.safetensors"), &s32), 0);
        assert_int_equal(stat(in_dir("q.safetensors"), &sq), 0);
        fprintf(stderr, "%s file: %.3f of fp32's\n", f == MOM_WEIGHTS_Q8 ? "q8" : "q4",
                (double)sq.st_size / (double)s32.st_size);
        assert_true(sq.st_size < s32.st_size / 2);
        /* The stored form's names, beside the reference ones. */
        st_file sf;
        char err[512];
        if (st_open(in_dir("q.safetensors"), &sf, err, sizeof err)) fail_msg("%s", err);
        const char *qn = f == MOM_WEIGHTS_Q8 ? "layers.1.mixer.local_experts_out_proj.2.weight.q8"
                                             : "layers.1.mixer.local_experts_out_proj.2.weight.q4";
        assert_non_null(st_find(&sf, qn));
        /* The embedding is quantized where it is the head; an untied head is. */
        assert_int_equal(st_find(&sf, "embedding.weight.scale") != NULL, tied);
        assert_int_equal(st_find(&sf, "embedding.weight") != NULL, !tied);
        assert_int_equal(st_find(&sf, "lm_head.weight.scale") != NULL, !tied);
        assert_non_null(st_find(&sf, "layers.0.mixer.A_log"));
        st_close(&sf);
        mom_model_destroy(&l);
        mom_model_destroy(&q);
    }
    mom_model_destroy(&m);
    }
    mom_ctx_destroy(&ctx);
}

/* Rewrites in_dir("q.safetensors") into in_dir("bad.safetensors") with
 * tensor `name` changed by `edit` (dropped when edit is NULL and add is
 * NULL; add: one more tensor). */
typedef void (*edit_fn)(st_write_tensor *t, uint8_t *copy);

static void rewrite(const char *name, edit_fn edit, const st_write_tensor *add)
{
    st_file sf;
    char err[512];
    if (st_open(in_dir("q.safetensors"), &sf, err, sizeof err)) fail_msg("%s", err);
    st_write_tensor *t = calloc(sf.n_tensors + 1, sizeof *t);
    uint8_t *copy = NULL;
    size_t n = 0;
    for (size_t i = 0; i < sf.n_tensors; i++) {
        const st_tensor_info *ti = &sf.tensors[i];
        if (!strcmp(ti->name, name) && !edit) continue;
        t[n] = (st_write_tensor){ti->name, ti->dtype, ti->ndim, {0}, sf.data + ti->begin};
        memcpy(t[n].shape, ti->shape, sizeof ti->shape);
        if (!strcmp(ti->name, name)) {
            copy = malloc(ti->end - ti->begin);
            memcpy(copy, sf.data + ti->begin, ti->end - ti->begin);
            t[n].data = copy;
            edit(&t[n], copy);
        }
        n++;
    }
    if (add) t[n++] = *add;
    st_meta meta[1] = {{"config", (char *)st_meta_get(&sf, "config")}};
    if (st_write(in_dir("bad.safetensors"), t, n, meta, 1, err, sizeof err)) fail_msg("%s", err);
    free(copy);
    free(t);
    st_close(&sf);
}

/* A model whose stored forms fill a block of more than 8 MiB (q8 of a
 * 34000 x 256 tied embedding): loading copies it into memory of its own
 * (the huge-page branch of src/host_memory.c), dropping each tensor from
 * the file's mapping once copied and each fp32 one once uploaded (whole
 * pages of them); the loaded model computes what the one saved did, to
 * the bit, and saves the same bytes. */
static void test_large_round_trip(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 2, NULL), MOM_OK);
    enum { BV = 34000, R = 2, T = 6 };
    mom_config c = tu_config(2, BV, 256, 1, 4);
    mom_model *m = tu_new_model(ctx, &c, 8);
    int32_t tok[R * T];
    uint8_t mod[R * T];
    for (int i = 0; i < R * T; i++) {
        tok[i] = (i * 7919 + 3) % BV;
        mod[i] = (uint8_t)(i % 2);
    }
    float *a = malloc(sizeof(float) * R * T * BV), *b = malloc(sizeof(float) * R * T * BV);
    for (int f = MOM_WEIGHTS_Q8; f <= MOM_WEIGHTS_Q4; f++) {
        mom_model *q = NULL, *l = NULL;
        assert_int_equal(mom_model_quantize(m, f, &q), MOM_OK);
        assert_int_equal(mom_model_save(q, in_dir("big.safetensors")), MOM_OK);
        if (mom_model_load(ctx, in_dir("big.safetensors"), &l)) fail_msg("%s", mom_ctx_last_error(ctx));
        assert_int_equal(mom_model_logits(q, R, T, tok, mod, a), MOM_OK);
        assert_int_equal(mom_model_logits(l, R, T, tok, mod, b), MOM_OK);
        assert_memory_equal(a, b, sizeof(float) * R * T * BV);
        assert_int_equal(mom_model_save(l, in_dir("big2.safetensors")), MOM_OK);
        assert_true(same_file(in_dir("big.safetensors"), in_dir("big2.safetensors")));
        mom_model_destroy(&l);
        mom_model_destroy(&q);
    }
    remove(in_dir("big.safetensors"));
    remove(in_dir("big2.safetensors"));
    free(a);
    free(b);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

static void nan_scale(st_write_tensor *t, uint8_t *copy)
{
    (void)t;
    ((float *)copy)[3] = NAN;
}
static void zero_scale(st_write_tensor *t, uint8_t *copy)
{
    (void)t;
    memset(copy, 0, 4 * 2); /* rows 0 and 1: their values are not all zero */
}
static void min_value(st_write_tensor *t, uint8_t *copy)
{
    (void)t;
    copy[5] = 0x80;
}
static void short_shape(st_write_tensor *t, uint8_t *copy)
{
    (void)copy;
    t->shape[0] -= 1; /* fewer rows: the data shrinks with it */
}
static void as_u8(st_write_tensor *t, uint8_t *copy)
{
    (void)copy;
    t->dtype = ST_U8;
}
/* A q4 tensor of 2 inputs a row as the first q4 files stored it: a padded
 * group of 16 bytes a row, where a row now takes 1. */
static void padded_group(st_write_tensor *t, uint8_t *copy)
{
    (void)copy;
    static uint8_t padded[64 * 16];
    memset(padded, 0x88, sizeof padded);
    assert_int_equal(t->shape[0], 64);
    t->shape[1] = 16;
    t->data = padded;
}

static void refused(mom_ctx *ctx, const char *want)
{
    mom_model *l = (mom_model *)(uintptr_t)1;
    assert_int_equal(mom_model_load(ctx, in_dir("bad.safetensors"), &l), MOM_ERR_FORMAT);
    assert_null(l);
    if (!strstr(mom_ctx_last_error(ctx), want)) fail_msg("message \"%s\" lacks \"%s\"", mom_ctx_last_error(ctx), want);
}

static void test_bad_files(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    mom_config c = small(0);
    mom_model *m = tu_new_model(ctx, &c, 6), *q = NULL;
    assert_int_equal(mom_model_quantize(m, MOM_WEIGHTS_Q8, &q), MOM_OK);
    assert_int_equal(mom_model_save(q, in_dir("q.safetensors")), MOM_OK);
    const char *w = "layers.0.mixer.local_experts_in_proj.1.weight";
    char qn[128], sn[128];
    snprintf(qn, sizeof qn, "%s.q8", w);
    snprintf(sn, sizeof sn, "%s.scale", w);
    rewrite(sn, nan_scale, NULL);
    refused(ctx, "layers.0.mixer.local_experts_in_proj.1.weight, row 3: scale 0 is nan");
    rewrite(sn, zero_scale, NULL);
    refused(ctx, "local_experts_in_proj.1.weight, row 0: scale 0 is 0");
    rewrite(qn, min_value, NULL);
    refused(ctx, "local_experts_in_proj.1.weight, row 0: value 5 is -128");
    rewrite(qn, short_shape, NULL);
    refused(ctx, "local_experts_in_proj.1.weight.q8 is I8 [127, 32], the config needs I8 [128, 32]");
    rewrite(qn, as_u8, NULL);
    refused(ctx, ".q8 is U8 [128, 32], the config needs I8 [128, 32]");
    rewrite(sn, NULL, NULL);
    refused(ctx, "missing tensor layers.0.mixer.local_experts_in_proj.1.weight.scale of the q8 model");
    /* The fp32 tensor beside its stored form: a file that says two things. */
    static float extra[128 * 32];
    const st_write_tensor fp = {w, ST_F32, 2, {128, 32}, extra};
    rewrite("", NULL, &fp);
    refused(ctx, "unexpected tensor layers.0.mixer.local_experts_in_proj.1.weight");
    mom_model_destroy(&q);
    mom_model_destroy(&m);
    /* A tied model's quantized embedding with an fp32 lm_head.weight beside
     * it: refused, not compared with an embedding the file does not hold. */
    c = small(1);
    m = tu_new_model(ctx, &c, 6);
    assert_int_equal(mom_model_quantize(m, MOM_WEIGHTS_Q8, &q), MOM_OK);
    assert_int_equal(mom_model_save(q, in_dir("q.safetensors")), MOM_OK);
    static float head[V * DM];
    const st_write_tensor lm = {"lm_head.weight", ST_F32, 2, {V, DM}, head};
    rewrite("", NULL, &lm);
    refused(ctx, "unexpected tensor lm_head.weight");
    mom_model_destroy(&q);
    /* A q4 file in the first layout, whose short groups were padded. */
    assert_int_equal(mom_model_quantize(m, MOM_WEIGHTS_Q4, &q), MOM_OK);
    assert_int_equal(mom_model_save(q, in_dir("q.safetensors")), MOM_OK);
    rewrite("layers.1.mixer.local_experts_dt_proj.0.weight.q4", padded_group, NULL);
    refused(ctx, "local_experts_dt_proj.0.weight.q4 is U8 [64, 16], the config needs U8 [64, 1]");
    mom_model_destroy(&q);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* A file not written here may put a byte tensor of odd size first, leaving
 * the fp32 scales after it misaligned: loading copies those, and the model
 * computes what the aligned file's does. */
static void test_misaligned_scales(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    mom_config c = tu_config(2, 41, 33, 1, 4); /* the tied embedding's q8 values: 41 x 33 bytes, odd */
    mom_model *m = tu_new_model(ctx, &c, 2), *q = NULL, *a = NULL, *b = NULL;
    assert_int_equal(mom_model_quantize(m, MOM_WEIGHTS_Q8, &q), MOM_OK);
    assert_int_equal(mom_model_save(q, in_dir("q.safetensors")), MOM_OK);
    st_file sf;
    char err[512];
    if (st_open(in_dir("q.safetensors"), &sf, err, sizeof err)) fail_msg("%s", err);
    st_write_tensor *t = calloc(sf.n_tensors, sizeof *t);
    size_t n = 0;
    const st_tensor_info *emb = st_find(&sf, "embedding.weight.q8");
    assert_non_null(emb);
    assert_int_equal((emb->end - emb->begin) % 2, 1);
    for (int pass = 0; pass < 2; pass++) /* the embedding's values first, then the rest in file order */
        for (size_t i = 0; i < sf.n_tensors; i++) {
            const st_tensor_info *ti = &sf.tensors[i];
            if ((ti == emb) != (pass == 0)) continue;
            t[n] = (st_write_tensor){ti->name, ti->dtype, ti->ndim, {0}, sf.data + ti->begin};
            memcpy(t[n++].shape, ti->shape, sizeof ti->shape);
        }
    st_meta meta[1] = {{"config", (char *)st_meta_get(&sf, "config")}};
    if (st_write(in_dir("bad.safetensors"), t, n, meta, 1, err, sizeof err)) fail_msg("%s", err);
    free(t);
    st_close(&sf);
    if (mom_model_load(ctx, in_dir("q.safetensors"), &a) || mom_model_load(ctx, in_dir("bad.safetensors"), &b))
        fail_msg("%s", mom_ctx_last_error(ctx));
    int32_t tok[7] = {1, 40, 3, 9, 0, 22, 5};
    uint8_t mod[7] = {0, 1, 1, 0, 0, 1, 0};
    float la[7 * 41], lb[7 * 41];
    assert_int_equal(mom_model_logits(a, 1, 7, tok, mod, la), MOM_OK);
    assert_int_equal(mom_model_logits(b, 1, 7, tok, mod, lb), MOM_OK);
    assert_memory_equal(la, lb, sizeof la);
    mom_model_destroy(&a);
    mom_model_destroy(&b);
    mom_model_destroy(&q);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* What needs fp32 weights refuses a quantized model, naming the format. */
static void test_refusals(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    mom_config c = small(1);
    mom_model *m = tu_new_model(ctx, &c, 6), *q = NULL, *o = NULL;
    assert_int_equal(mom_model_quantize(m, MOM_WEIGHTS_Q4, &q), MOM_OK);
    tu_batch b = tu_make_batch(2, 9, V, 7, 3);
    mom_losses l;
    assert_int_equal(mom_model_backward(q, &b.b, 1.0f, &l), MOM_ERR_UNSUPPORTED);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "needs fp32 weights, and the model's are q4"));
    assert_int_equal(mom_model_forward(q, &b.b, &l), MOM_OK); /* evaluation runs */
    mom_optim_settings os;
    mom_optim_default_settings(&os);
    assert_int_equal(mom_model_step(q, &os, NULL), MOM_ERR_UNSUPPORTED);
    assert_int_equal(mom_model_train_step(q, &b.b, &os, &l, NULL), MOM_ERR_UNSUPPORTED);
    assert_int_equal(mom_model_quantize(q, MOM_WEIGHTS_Q8, &o), MOM_ERR_UNSUPPORTED);
    assert_null(o);
    assert_int_equal(mom_model_upcycle(q, 2, MOM_DECOUPLE_ALL, &o), MOM_ERR_UNSUPPORTED);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "mom_model_upcycle needs fp32 weights"));
    mom_vocab_layout lay = {.n_special = 5, .n_text = V, .n_image = 2, .text_first = 1};
    for (int k = 0; k < MOM_N_SPECIAL; k++) lay.special_id[k] = k < 2 ? 0 : V + k - 2;
    assert_int_equal(mom_model_extend_vocab(q, &lay, 1, &o), MOM_ERR_UNSUPPORTED);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "mom_model_extend_vocab needs fp32 weights"));
    assert_null(o);
    float row[DM] = {0};
    assert_int_equal(mom_model_set_param(q, "embedding.weight", row, 0), MOM_ERR_INVALID_ARG); /* n first */
    float *emb = calloc((size_t)V * DM, sizeof(float));
    assert_int_equal(mom_model_set_param(q, "embedding.weight", emb, (size_t)V * DM), MOM_ERR_UNSUPPORTED);
    assert_int_equal(mom_model_set_param(q, "norm_f.weight", emb, DM), MOM_OK); /* fp32: allowed */
    free(emb);
    assert_int_equal(mom_model_quantize(m, 3, &o), MOM_ERR_INVALID_ARG);
    mom_config qc = c;
    qc.weight_format = MOM_WEIGHTS_Q8;
    assert_int_equal(mom_model_create(ctx, &qc, 1, &o), MOM_ERR_INVALID_ARG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "a quantized model comes from mom_model_quantize"));
    const char *js = "{\"weight_format\": \"q3\"}";
    assert_int_equal(mom_config_parse_json(ctx, js, strlen(js), &qc), MOM_ERR_CONFIG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "weight_format q3 is not \"f32\", \"q8\" or \"q4\""));
    tu_free_batch(&b);
    mom_model_destroy(&q);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

static int setup(void **st)
{
    (void)st;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    const char *names[] = {"f32.safetensors", "q.safetensors", "q2.safetensors", "bad.safetensors"};
    for (size_t i = 0; i < 4; i++) unlink(in_dir(names[i]));
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_by_hand),    cmocka_unit_test(test_q4_by_hand),
        cmocka_unit_test(test_error_bound),   cmocka_unit_test(test_check_refuses),
        cmocka_unit_test(test_quantize_model), cmocka_unit_test(test_compute_matches_dequantized),
        cmocka_unit_test(test_prefill_tiles),
        cmocka_unit_test(test_file_round_trip),
        cmocka_unit_test(test_misaligned_scales), cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_large_round_trip),     cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
