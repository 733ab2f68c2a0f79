/* Vocabulary layouts in a pretrained order (text_first): the config check
 * and its messages, the JSON round trip, the accessors, a vocabulary grown
 * by mom_model_extend_vocab (pretrained rows and logits unchanged, new rows
 * as mom_model_create makes them), the sampler's rules with special ids
 * inside and after the text, and the dataset refusals. */
#include "test_util.h"

#include <math.h>

enum { PRE = 20, IMG = 6, SPEECH = 3, D = 8 };

/* A pretrained vocabulary of PRE ids whose id 0 is BOS and EOS; BOI, EOI,
 * BOSP, EOSP, PAD appended at PRE..PRE+4, then IMG codes, SPEECH units. */
static mom_vocab_layout pretrained_layout(void)
{
    mom_vocab_layout l = {.n_special = 5, .n_text = PRE, .n_image = IMG, .n_speech = SPEECH, .text_first = 1};
    l.special_id[MOM_TOK_BOS] = 0;
    l.special_id[MOM_TOK_EOS] = 0;
    for (int k = MOM_TOK_BOI; k < MOM_N_SPECIAL; k++) l.special_id[k] = PRE + k - MOM_TOK_BOI;
    return l;
}

static mom_config layout_config(const mom_vocab_layout *l)
{
    mom_config c = tu_config(3, mom_vocab_layout_size(l), D, 2, 4);
    c.vocab_layout = *l;
    return c;
}

/* validate(c) fails with MOM_ERR_CONFIG and a message holding want. */
static void refused(mom_ctx *ctx, const mom_vocab_layout *l, const char *want)
{
    mom_config c = layout_config(l);
    assert_int_equal(mom_config_validate(ctx, &c), MOM_ERR_CONFIG);
    if (!strstr(mom_ctx_last_error(ctx), want)) fail_msg("message \"%s\" lacks \"%s\"", mom_ctx_last_error(ctx), want);
}

static void test_layout_checks(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    mom_vocab_layout l = pretrained_layout();
    mom_config c = layout_config(&l);
    assert_int_equal(mom_config_validate(ctx, &c), MOM_OK);
    /* Accessors: specials where the layout says, the parts after them. */
    assert_int_equal(mom_vocab_special(&l, MOM_TOK_EOS), 0);
    assert_int_equal(mom_vocab_special(&l, MOM_TOK_PAD), PRE + 4);
    assert_int_equal(mom_vocab_which_special(&l, 0), MOM_TOK_BOS); /* the lowest of the two */
    assert_int_equal(mom_vocab_which_special(&l, PRE + 1), MOM_TOK_EOI);
    assert_int_equal(mom_vocab_which_special(&l, 7), -1);
    assert_int_equal(mom_vocab_first(&l, MOM_MOD_TEXT), 0);
    assert_int_equal(mom_vocab_first(&l, MOM_MOD_IMAGE), PRE + 5);
    assert_int_equal(mom_vocab_first(&l, MOM_MOD_SPEECH), PRE + 5 + IMG);
    assert_int_equal(mom_vocab_layout_modality(&l, PRE + 4), MOM_MOD_TEXT);
    assert_int_equal(mom_vocab_layout_modality(&l, PRE + 5), MOM_MOD_IMAGE);
    /* libmom's own order: the MOM_TOK_* values. */
    const mom_vocab_layout own = {.n_special = MOM_N_SPECIAL, .n_text = 4, .n_image = 2};
    assert_int_equal(mom_vocab_special(&own, MOM_TOK_EOI), MOM_TOK_EOI);
    assert_int_equal(mom_vocab_which_special(&own, MOM_TOK_EOSP), MOM_TOK_EOSP);
    assert_int_equal(mom_vocab_which_special(&own, MOM_N_SPECIAL), -1);
    assert_int_equal(mom_vocab_first(&own, MOM_MOD_TEXT), MOM_N_SPECIAL);

    mom_vocab_layout b = l;
    b.text_first = 2;
    refused(ctx, &b, "text_first = 2 is not 0 or 1");
    b = l;
    b.special_id[MOM_TOK_BOI] = PRE + 5; /* an image code */
    refused(ctx, &b, "vocab_layout.boi = 25 is not a text token or an appended special, in [0, 25)");
    b = l;
    b.special_id[MOM_TOK_PAD] = 3; /* a text token: allowed, but then PRE + 4 is nobody's */
    refused(ctx, &b, "appended special id 24 is no special token's");
    b = l;
    b.special_id[MOM_TOK_EOI] = PRE; /* BOI's too */
    refused(ctx, &b, "vocab_layout.boi and eoi are both 20; only bos and eos may share an id");
    b = l;
    b.special_id[MOM_TOK_BOI] = 0; /* BOS's */
    refused(ctx, &b, "vocab_layout.bos and boi are both 0");
    b = l;
    b.n_special = 8;
    b.n_text = PRE - 3; /* the same size, 8 specials */
    refused(ctx, &b, "special in [0, 7]: text 17, special 8");
    const mom_vocab_layout own_ids = {.n_special = MOM_N_SPECIAL, .n_text = 4, .special_id = {0, 3}};
    refused(ctx, &own_ids, "vocab_layout.eos = 3, but only a pretrained (text_first) layout places");
    /* Its own fields set, all sizes zero: still checked, not ignored. */
    const mom_vocab_layout stray = {.text_first = 1};
    assert_true(mom_vocab_layout_is_set(&stray));
    c = tu_config(3, 40, D, 2, 4);
    c.vocab_layout = stray;
    assert_int_equal(mom_config_validate(ctx, &c), MOM_ERR_CONFIG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "does not sum to vocab_size 40"));
    mom_ctx_destroy(&ctx);
}

/* config JSON holds text_first and the ids, and reads back the same. */
static void test_layout_json(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    const mom_vocab_layout l = pretrained_layout();
    mom_config c = layout_config(&l);
    assert_int_equal(mom_config_validate(ctx, &c), MOM_OK);
    char js[1024];
    assert_int_equal(mom_config_to_json(&c, js, sizeof js), MOM_OK);
    assert_non_null(strstr(js, "\"vocab_layout\": {\"special\": 5, \"text\": 20, \"image\": 6, \"speech\": 3, "
                               "\"text_first\": 1, \"bos\": 0, \"eos\": 0, \"boi\": 20, \"eoi\": 21, \"bosp\": 22, "
                               "\"eosp\": 23, \"pad\": 24}"));
    mom_config back;
    mom_config_default(&back);
    assert_int_equal(mom_config_parse_json(ctx, js, strlen(js), &back), MOM_OK);
    assert_int_equal(mom_config_validate(ctx, &back), MOM_OK);
    assert_memory_equal(&back.vocab_layout, &l, sizeof l);
    /* libmom's own order writes only the four sizes, as before. */
    c.vocab_layout = (mom_vocab_layout){.n_special = MOM_N_SPECIAL, .n_text = c.vocab_size - MOM_N_SPECIAL};
    assert_int_equal(mom_config_to_json(&c, js, sizeof js), MOM_OK);
    assert_null(strstr(js, "text_first"));
    const char *bad = "{\"vocab_size\": 34, \"vocab_layout\": {\"special\": 5, \"text\": 29, \"text_first\": 1, "
                      "\"bos\": 0, \"eos\": 0, \"boi\": 29, \"eoi\": 30, \"bosp\": 31, \"eosp\": 32, \"pad\": 33, "
                      "\"unk\": 1}}";
    assert_int_equal(mom_config_parse_json(ctx, bad, strlen(bad), &back), MOM_ERR_CONFIG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "vocab_layout has an unknown part \"unk\""));
    /* A pretrained order names all seven: an absent one is not taken as 0. */
    const char *no_boi = "{\"vocab_size\": 34, \"vocab_layout\": {\"special\": 5, \"text\": 29, \"text_first\": 1, "
                         "\"bos\": 0, \"eos\": 0, \"eoi\": 30, \"bosp\": 31, \"eosp\": 32, \"pad\": 33}}";
    assert_int_equal(mom_config_parse_json(ctx, no_boi, strlen(no_boi), &back), MOM_ERR_CONFIG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "vocab_layout.boi is missing"));
    mom_ctx_destroy(&ctx);
}

static float *param(mom_model *m, const char *name, size_t n)
{
    float *p = malloc(sizeof(float) * n);
    assert_non_null(p);
    assert_int_equal(mom_model_get_param(m, name, p, n), MOM_OK);
    return p;
}

static size_t tensor_size(mom_model *m, const char *name)
{
    int nd;
    int64_t sh[4];
    assert_int_equal(mom_model_tensor_shape(m, name, &nd, sh), MOM_OK);
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)sh[i];
    return n;
}

/* The last position's logits of one prompt of text tokens. */
static void prompt_logits(mom_model *m, float *logits)
{
    const int32_t tok[6] = {0, 5, 17, 3, 3, 19};
    const uint8_t mod[6] = {0};
    mom_state_settings ss;
    mom_state_default_settings(&ss);
    mom_state *st = NULL;
    assert_int_equal(mom_state_create(m, &ss, &st), MOM_OK);
    assert_int_equal(mom_state_prefill(st, 0, 1, 6, tok, mod, logits), MOM_OK);
    mom_state_destroy(&st);
}

/* Grown from a pretrained vocabulary: every pretrained value as it was,
 * the new rows those of mom_model_create with the same seed, so the
 * pretrained ids' logits are the old model's to the bit. Tied and not. */
static void test_extend_vocab(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    const mom_vocab_layout l = pretrained_layout();
    const int V = mom_vocab_layout_size(&l);
    for (int tied = 0; tied < 2; tied++) {
        mom_config pc = tu_config(3, PRE, D, 2, 4);
        pc.tie_embeddings = tied;
        mom_model *pre = tu_new_model(ctx, &pc, 11), *ext = NULL;
        assert_int_equal(mom_model_extend_vocab(pre, &l, 5, &ext), MOM_OK);
        mom_config want = pc;
        want.vocab_size = V;
        want.vocab_layout = l;
        mom_model *fresh = tu_new_model(ctx, &want, 5);
        assert_int_equal(mom_model_config(ext)->vocab_size, V);
        assert_memory_equal(&mom_model_config(ext)->vocab_layout, &l, sizeof l);
        assert_int_equal(mom_model_n_tensors(ext), mom_model_n_tensors(pre));
        for (size_t i = 0; i < mom_model_n_tensors(ext); i++) {
            const char *name = mom_model_tensor_name(ext, i);
            const size_t n = tensor_size(ext, name), np = tensor_size(pre, name);
            float *e = param(ext, name, n), *p = param(pre, name, np), *f = param(fresh, name, n);
            assert_memory_equal(e, p, sizeof(float) * np);
            if (n != np) { /* the vocabulary's rows */
                assert_true(!strcmp(name, "embedding.weight") || !strcmp(name, "lm_head.weight"));
                assert_int_equal(n, (size_t)V * D);
                assert_int_equal(np, (size_t)PRE * D);
                assert_memory_equal(e + np, f + np, sizeof(float) * (n - np));
            }
            free(e);
            free(p);
            free(f);
        }
        float lp[PRE], le[V];
        prompt_logits(pre, lp);
        prompt_logits(ext, le);
        assert_memory_equal(le, lp, sizeof lp);
        mom_model_destroy(&fresh);
        mom_model_destroy(&ext);

        /* Refusals: the model is left as it was, nothing made. */
        mom_vocab_layout b = l;
        b.n_text = PRE - 1;
        b.n_speech++;
        ext = (mom_model *)(uintptr_t)1; /* junk: a refusal must clear it */
        assert_int_equal(mom_model_extend_vocab(pre, &b, 5, &ext), MOM_ERR_INVALID_ARG);
        assert_null(ext);
        assert_non_null(strstr(mom_ctx_last_error(ctx), "keep the model's 20 ids first"));
        b = l;
        b.special_id[MOM_TOK_BOI] = 1;
        b.special_id[MOM_TOK_EOI] = 1;
        assert_int_equal(mom_model_extend_vocab(pre, &b, 5, &ext), MOM_ERR_CONFIG);
        assert_non_null(strstr(mom_ctx_last_error(ctx), "boi and eoi are both 1"));
        mom_model_destroy(&pre);
    }
    /* Image codes need the image modality: a dense model upcycles first. */
    mom_config dc = tu_config(1, PRE, D, 2, 4);
    mom_model *dense = tu_new_model(ctx, &dc, 1), *ext = NULL;
    assert_int_equal(mom_model_extend_vocab(dense, &l, 5, &ext), MOM_ERR_CONFIG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "vocab_layout needs 3 modalities, n_modalities = 1"));
    mom_model_destroy(&dense);
    mom_ctx_destroy(&ctx);
}

static void random_logits(float *lg, int V, uint64_t *s)
{
    for (int v = 0; v < V; v++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        lg[v] = (float)((*s >> 40) % 1000) / 250.0f;
    }
}

/* The sampler in a pretrained order: text draws the pretrained ids, EOS
 * (id 0, also BOS) once, BOI and BOSP, never PAD, EOI or a code; after BOI
 * only image codes. */
static void test_sampler_pretrained_order(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    const mom_vocab_layout l = pretrained_layout();
    const int V = mom_vocab_layout_size(&l);
    mom_config c = layout_config(&l);
    mom_model *m = tu_new_model(ctx, &c, 3);
    mom_sampling sg;
    mom_sampling_default(&sg);
    sg.image_tokens = 2;
    mom_sampler *sp = NULL;
    assert_int_equal(mom_sampler_create(m, &sg, 1, &sp), MOM_OK);
    float lg[V];
    uint64_t s = 1;
    int32_t t;
    int seen[V];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 4000; i++) {
        random_logits(lg, V, &s);
        assert_int_equal(mom_sampler_sample(sp, 0, lg, &t), MOM_OK);
        seen[t]++;
    }
    for (int v = 0; v < PRE; v++) assert_true(seen[v] > 0);
    assert_true(seen[PRE] > 0 && seen[PRE + 2] > 0); /* BOI, BOSP */
    assert_int_equal(seen[PRE + 1] + seen[PRE + 3] + seen[PRE + 4], 0); /* EOI, EOSP, PAD */
    for (int v = PRE + 5; v < V; v++) assert_int_equal(seen[v], 0);
    /* Equal logits: every allowed token as likely, EOS (id 0, inside the
     * text) one candidate like the others: 19 text ids, EOS, BOI, BOSP. */
    enum { DRAWS = 22000, ALLOWED = 22 };
    float flat[V];
    memset(flat, 0, sizeof flat);
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < DRAWS; i++) {
        assert_int_equal(mom_sampler_sample(sp, 0, flat, &t), MOM_OK);
        seen[t]++;
    }
    const double p = 1.0 / ALLOWED, sd = sqrt(DRAWS * p * (1 - p));
    for (int v = 0; v < PRE + 3; v++)
        if (v != PRE + 1) /* EOI */
            if (fabs(seen[v] - DRAWS * p) > 5 * sd) fail_msg("id %d drawn %d times of %d, expected %.0f", v, seen[v], DRAWS, DRAWS * p);
    /* Greedy: the highest allowed, and EOS is drawn as itself. */
    mom_sampling gr = sg;
    gr.temperature = 0.0f;
    mom_sampler *g = NULL;
    assert_int_equal(mom_sampler_create(m, &gr, 1, &g), MOM_OK);
    random_logits(lg, V, &s);
    lg[PRE + 4] = 90.0f; /* PAD: never */
    lg[PRE + 6] = 80.0f; /* an image code, outside an image: never */
    lg[0] = 50.0f;
    assert_int_equal(mom_sampler_sample(g, 0, lg, &t), MOM_OK);
    assert_int_equal(t, 0);
    /* BOI opens an image of image codes only; 2 of them, then EOI. */
    assert_int_equal(mom_sampler_accept(g, 0, PRE), MOM_OK);
    for (int i = 0; i < 2; i++) {
        random_logits(lg, V, &s);
        lg[0] = 90.0f;
        lg[PRE + 1] = 80.0f; /* EOI, not yet */
        assert_int_equal(mom_sampler_sample(g, 0, lg, &t), MOM_OK);
        assert_int_equal(mom_vocab_layout_modality(&l, t), MOM_MOD_IMAGE);
        assert_int_equal(mom_sampler_accept(g, 0, t), MOM_OK);
    }
    assert_int_equal(mom_sampler_sample(g, 0, lg, &t), MOM_OK);
    assert_int_equal(t, PRE + 1);
    assert_int_equal(mom_sampler_accept(g, 0, t), MOM_OK);
    lg[PRE + 1] = 0.0f;
    assert_int_equal(mom_sampler_sample(g, 0, lg, &t), MOM_OK);
    assert_int_equal(t, 0); /* text again */
    mom_sampler_destroy(&g);
    mom_sampler_destroy(&sp);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* A dataset file holds libmom's own order only: writing a pretrained one
 * is refused, and a laid-out dataset does not fit a pretrained model. */
static void test_dataset_refusals(void **st)
{
    (void)st;
    mom_ctx *ctx;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    char dir[] = "/tmp/mom_vocab_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/d.bin", dir);
    const mom_vocab_layout l = pretrained_layout();
    const int V = mom_vocab_layout_size(&l);
    const int32_t tok[4] = {0, 3, 4, 0};
    assert_int_equal(mom_dataset_write(ctx, path, tok, NULL, 4, NULL, 1, V, 3, &l, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "a pretrained vocabulary layout (text_first) has no place"));
    assert_int_equal(access(path, F_OK), -1);
    const mom_vocab_layout own = {.n_special = MOM_N_SPECIAL, .n_text = V - MOM_N_SPECIAL};
    assert_int_equal(mom_dataset_write(ctx, path, tok, NULL, 4, NULL, 1, V, 3, &own, NULL, NULL), MOM_OK);
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(ctx, path, &d), MOM_OK);
    mom_config c = layout_config(&l);
    mom_model *m = tu_new_model(ctx, &c, 1);
    assert_int_equal(mom_dataset_check(m, d), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "import its data with mom data import --jsonl"));
    mom_dataset_destroy(&d);
    /* Without a layout the tokens are the data's: they fit when each one's
     * modality is its range's under the model's layout. */
    const uint8_t mods[4] = {0, 0, 0, 0}, wrong[4] = {0, 0, 1, 0};
    assert_int_equal(mom_dataset_write(ctx, path, tok, mods, 4, NULL, 1, V, 3, NULL, NULL, NULL), MOM_OK);
    assert_int_equal(mom_dataset_open(ctx, path, &d), MOM_OK);
    assert_int_equal(mom_dataset_check(m, d), MOM_OK);
    mom_dataset_destroy(&d);
    assert_int_equal(mom_dataset_write(ctx, path, tok, wrong, 4, NULL, 1, V, 3, NULL, NULL, NULL), MOM_OK);
    assert_int_equal(mom_dataset_open(ctx, path, &d), MOM_OK);
    assert_int_equal(mom_dataset_check(m, d), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "under the model's vocabulary layout: token 4 at position 2 has "
                                                    "modality 1, its range's is 0"));
    mom_dataset_destroy(&d);
    /* libmom's own order with special ids set: refused, not dropped. */
    const mom_vocab_layout stray = {.n_special = MOM_N_SPECIAL, .n_text = V - MOM_N_SPECIAL, .special_id = {0, 9}};
    assert_int_equal(mom_dataset_write(ctx, path, tok, NULL, 4, NULL, 1, V, 3, &stray, NULL, NULL), MOM_ERR_INVALID_ARG);
    assert_non_null(strstr(mom_ctx_last_error(ctx), "vocab_layout.eos = 9, but only a pretrained"));
    mom_model_destroy(&m);
    unlink(path);
    rmdir(dir);
    mom_ctx_destroy(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_checks),
        cmocka_unit_test(test_layout_json),
        cmocka_unit_test(test_extend_vocab),
        cmocka_unit_test(test_sampler_pretrained_order),
        cmocka_unit_test(test_dataset_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
