/* The manifest importer and the unified vocabulary layout: text documents
 * become BOS, byte tokens, EOS with the layout in the file; bad manifests,
 * bad text and missing codebooks are refused with the file named and
 * nothing written; layouts are checked in configs, datasets and between
 * a model and its data; a stop asked for leaves every file as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mom_data.h"
#include "test_util.h"

typedef struct fixture {
    char dir[256];
    mom_ctx *ctx;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (tu_make_temp_dir(f->dir, sizeof(f->dir), "import") || tu_ctx_create(&f->ctx, 1, NULL)) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    mom_ctx_destroy(&f->ctx);
    tu_remove_tree(f->dir);
    free(f);
    return 0;
}

static const char *in_dir(const fixture *f, const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", f->dir, name);
    return buf[k];
}

static void write_text(const char *path, const char *s) { tu_write_file(path, s, strlen(s)); }

static void test_text_manifest(void **state)
{
    fixture *f = *state;
    write_text(in_dir(f, "note.txt"), "h\xc3\xa9");
    write_text(in_dir(f, "docs.jsonl"), "{\"segments\": [{\"text\": \"ab\"}]}\n\n"
                                        "{\"segments\": [{\"text_file\": \"note.txt\"}, {\"text\": \"!\"}]}\n");
    if (mom_dataset_import_manifest(f->ctx, in_dir(f, "docs.jsonl"), in_dir(f, "out.bin"), NULL, NULL, NULL))
        fail_msg("%s", mom_ctx_last_error(f->ctx));
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(f->ctx, in_dir(f, "out.bin"), &d), MOM_OK);
    mom_vocab_layout l;
    assert_int_equal(mom_dataset_vocab_layout(d, &l), MOM_OK);
    assert_int_equal(l.n_special, MOM_N_SPECIAL);
    assert_int_equal(l.n_text, 256);
    assert_int_equal(l.n_image + l.n_speech, 0);
    assert_int_equal(mom_dataset_vocab_size(d), MOM_N_SPECIAL + 256);
    assert_int_equal(mom_dataset_n_docs(d), 2);
    const int S = MOM_N_SPECIAL;
    const int32_t want[] = {MOM_TOK_BOS, S + 'a', S + 'b', MOM_TOK_EOS,
                            MOM_TOK_BOS, S + 'h', S + 0xc3, S + 0xa9, S + '!', MOM_TOK_EOS};
    assert_int_equal(mom_dataset_n_tokens(d), 10);
    assert_memory_equal(mom_dataset_tokens(d), want, sizeof(want));
    for (int i = 0; i < 10; i++) assert_int_equal(mom_dataset_modalities(d)[i], MOM_MOD_TEXT);
    mom_dataset_destroy(&d);
}

/* Each bad manifest fails with a message naming what, and writes nothing. */
static void test_bad_manifests(void **state)
{
    fixture *f = *state;
    write_text(in_dir(f, "latin1.txt"), "caf\xe9");
    const struct { const char *body, *what; mom_status st; } cases[] = {
        {"{\"segments\": [{\"text\": \"ok\"}]}\n{oops\n", "line 2: not valid JSON", MOM_ERR_FORMAT},
        {"{\"segments\": []}\n", "line 1: not an object with a non-empty \"segments\" array", MOM_ERR_FORMAT},
        {"{\"segments\": [{\"text\": 5}]}\n", "segment 0: needs exactly one of", MOM_ERR_FORMAT},
        {"{\"segments\": [{\"text\": \"a\", \"image\": \"b.png\"}]}\n", "segment 0: needs exactly one of", MOM_ERR_FORMAT},
        {"{\"segments\": [{\"text_file\": \"latin1.txt\"}]}\n", "latin1.txt: not UTF-8 at byte 3 (0xe9)", MOM_ERR_DATA},
        {"{\"segments\": [{\"text_file\": \"missing.txt\"}]}\n", "missing.txt: cannot open", MOM_ERR_IO},
        {"{\"segments\": [{\"image\": \"a.png\"}]}\n", "an image segment needs an image codebook", MOM_ERR_INVALID_ARG},
        {"{\"segments\": [{\"audio\": \"a.wav\"}]}\n", "an audio segment needs a units codebook", MOM_ERR_INVALID_ARG},
        {"\n\n", "no documents", MOM_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_text(in_dir(f, "bad.jsonl"), cases[i].body);
        mom_status st = mom_dataset_import_manifest(f->ctx, in_dir(f, "bad.jsonl"), in_dir(f, "bad.bin"), NULL, NULL, NULL);
        const char *err = mom_ctx_last_error(f->ctx);
        if (st != cases[i].st || !strstr(err, cases[i].what))
            fail_msg("case %zu: status %d, \"%s\", wanted \"%s\"", i, st, err, cases[i].what);
        assert_true(access(in_dir(f, "bad.bin"), F_OK) != 0);
    }
    assert_int_equal(mom_dataset_import_manifest(f->ctx, in_dir(f, "nope.jsonl"), in_dir(f, "bad.bin"), NULL, NULL, NULL),
                     MOM_ERR_IO);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "nope.jsonl"));
}

/* Text files: valid UTF-8 of every length imports byte for byte; overlong
 * forms, surrogates, values past U+10FFFF, stray continuation bytes and a
 * sequence cut off at the end are refused at their offset. */
static void test_utf8(void **state)
{
    fixture *f = *state;
    write_text(in_dir(f, "u.jsonl"), "{\"segments\": [{\"text_file\": \"u.txt\"}]}\n");
    const char *good[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        write_text(in_dir(f, "u.txt"), good[i]);
        if (mom_dataset_import_manifest(f->ctx, in_dir(f, "u.jsonl"), in_dir(f, "u.bin"), NULL, NULL, NULL))
            fail_msg("good #%zu: %s", i, mom_ctx_last_error(f->ctx));
        mom_dataset *d = NULL;
        assert_int_equal(mom_dataset_open(f->ctx, in_dir(f, "u.bin"), &d), MOM_OK);
        assert_int_equal(mom_dataset_n_tokens(d), (int64_t)strlen(good[i]) + 2);
        for (size_t k = 0; k < strlen(good[i]); k++)
            assert_int_equal(mom_dataset_tokens(d)[k + 1], MOM_N_SPECIAL + (unsigned char)good[i][k]);
        mom_dataset_destroy(&d);
    }
    const struct { const char *text, *what; } bad[] = {
        {"ab\xc0\x80", "byte 2 (0xc0)"},         {"\xe0\x80\x80", "byte 0 (0xe0)"},
        {"\xed\xa0\x80", "byte 0 (0xed)"},        {"\xf4\x90\x80\x80", "byte 0 (0xf4)"},
        {"\xf5\x80\x80\x80", "byte 0 (0xf5)"},   {"x\x80", "byte 1 (0x80)"},
        {"ok\xf0\x9f\x98", "byte 2 (0xf0)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_text(in_dir(f, "u.txt"), bad[i].text);
        assert_int_equal(mom_dataset_import_manifest(f->ctx, in_dir(f, "u.jsonl"), in_dir(f, "v.bin"), NULL, NULL, NULL),
                         MOM_ERR_DATA);
        if (!strstr(mom_ctx_last_error(f->ctx), bad[i].what))
            fail_msg("bad #%zu: \"%s\", wanted \"%s\"", i, mom_ctx_last_error(f->ctx), bad[i].what);
        assert_true(access(in_dir(f, "v.bin"), F_OK) != 0);
    }
}

/* A laid-out file's tokens must carry their range's modality. */
static void test_layout_modalities(void **state)
{
    fixture *f = *state;
    const mom_vocab_layout lay = {.n_special = MOM_N_SPECIAL, .n_text = 4, .n_image = 3, .n_speech = 2}; /* ids 0-6 special, 7-10 text, 11-13 image, 14-15 speech */
    int32_t tok[6] = {MOM_TOK_BOS, 8, MOM_TOK_BOI, 12, 15, MOM_TOK_EOS};
    uint8_t mod[6] = {0, 0, 0, 1, 2, 0};
    const char *p = in_dir(f, "lay.bin");
    if (mom_dataset_write(f->ctx, p, tok, mod, 6, NULL, 1, 16, 3, &lay, NULL, NULL)) fail_msg("%s", mom_ctx_last_error(f->ctx));
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(f->ctx, p, &d), MOM_OK);
    mom_vocab_layout got;
    assert_int_equal(mom_dataset_vocab_layout(d, &got), MOM_OK);
    assert_memory_equal(&got, &lay, sizeof(lay));
    mom_dataset_destroy(&d);
    for (int i = 0; i < 16; i++)
        assert_int_equal(mom_vocab_layout_modality(&lay, i), i < 11 ? 0 : i < 14 ? 1 : 2);
    assert_int_equal(mom_vocab_layout_modality(&lay, 16), -1);
    mod[3] = 0; /* an image code marked text */
    assert_int_equal(mom_dataset_write(f->ctx, in_dir(f, "lay2.bin"), tok, mod, 6, NULL, 1, 16, 3, &lay, NULL, NULL), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "token 12 at position 3 has modality 0, its range's is 1"));
    mod[3] = 1;
    assert_int_equal(mom_dataset_write(f->ctx, in_dir(f, "lay2.bin"), tok, mod, 6, NULL, 1, 17, 3, &lay, NULL, NULL), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "does not sum to vocab_size 17"));
    tok[4] = 9; /* no speech token: the ids fit 2 modalities, the layout does not */
    mod[4] = 0;
    assert_int_equal(mom_dataset_write(f->ctx, in_dir(f, "lay2.bin"), tok, mod, 6, NULL, 1, 16, 2, &lay, NULL, NULL), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "needs 3 modalities"));
    assert_true(access(in_dir(f, "lay2.bin"), F_OK) != 0);
}

/* The layout in a config: parsed, validated, written back, and compared
 * with a dataset's. */
static void test_layout_config_and_model(void **state)
{
    fixture *f = *state;
    const char *js = "{\"n_modalities\": 3, \"vocab_size\": 16, \"d_model\": 8, \"n_layer\": 1, \"d_state\": 4, "
                     "\"vocab_layout\": {\"special\": 7, \"text\": 4, \"image\": 3, \"speech\": 2}}";
    mom_config c;
    if (mom_config_parse_json(f->ctx, js, strlen(js), &c)) fail_msg("%s", mom_ctx_last_error(f->ctx));
    assert_int_equal(c.vocab_layout.n_image, 3);
    char buf[1024];
    assert_int_equal(mom_config_to_json(&c, buf, sizeof(buf)), MOM_OK);
    mom_config back;
    if (mom_config_parse_json(f->ctx, buf, strlen(buf), &back)) fail_msg("%s: %s", buf, mom_ctx_last_error(f->ctx));
    assert_memory_equal(&back.vocab_layout, &c.vocab_layout, sizeof(c.vocab_layout));
    const char *bad = "{\"vocab_size\": 17, \"vocab_layout\": {\"special\": 7, \"text\": 4, \"image\": 3, \"speech\": 2}}";
    assert_int_equal(mom_config_parse_json(f->ctx, bad, strlen(bad), &back), MOM_ERR_CONFIG);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "does not sum to vocab_size 17"));
    const char *wrap = "{\"vocab_size\": 16, \"vocab_layout\": {\"special\": 2147483647, \"text\": 2147483647, "
                       "\"image\": 2, \"speech\": 16}}"; /* sums to 16 modulo 2^32 */
    assert_int_equal(mom_config_parse_json(f->ctx, wrap, strlen(wrap), &back), MOM_ERR_CONFIG);
    const char *part = "{\"vocab_size\": 16, \"vocab_layout\": {\"pixels\": 3}}";
    assert_int_equal(mom_config_parse_json(f->ctx, part, strlen(part), &back), MOM_ERR_CONFIG);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "unknown part \"pixels\""));

    mom_model *m = tu_new_model(f->ctx, &c, 1);
    const mom_vocab_layout other = {.n_special = MOM_N_SPECIAL, .n_text = 5, .n_image = 2, .n_speech = 2};
    int32_t tok[3] = {MOM_TOK_BOS, 8, MOM_TOK_EOS};
    if (mom_dataset_write(f->ctx, in_dir(f, "o.bin"), tok, NULL, 3, NULL, 1, 16, 3, &other, NULL, NULL))
        fail_msg("%s", mom_ctx_last_error(f->ctx));
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(f->ctx, in_dir(f, "o.bin"), &d), MOM_OK);
    assert_int_equal(mom_dataset_check(m, d), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "differs from the model's"));
    mom_dataset_destroy(&d);
    mom_model_destroy(&m);
}

/* A continuous-image config: its JSON round trip, its checks, and a model
 * refusing data of another patch geometry. */
static void test_patch_config(void **state)
{
    fixture *f = *state;
    const char *ok = "{\"n_modalities\": 2, \"vocab_size\": 263, \"d_model\": 16, \"n_layer\": 1, "
                     "\"vocab_layout\": {\"special\": 7, \"text\": 256}, "
                     "\"patches\": {\"patch_size\": 2, \"image_size\": 8, \"channels\": 1}, \"time_dim\": 16, "
                     "\"diffusion_weight\": 2.5}";
    mom_config c, back;
    if (mom_config_parse_json(f->ctx, ok, strlen(ok), &c)) fail_msg("%s", mom_ctx_last_error(f->ctx));
    assert_int_equal(mom_patch_dim(&c.patches), 4);
    assert_int_equal(mom_patches_per_image(&c.patches), 16);
    char buf[1024];
    assert_int_equal(mom_config_to_json(&c, buf, sizeof(buf)), MOM_OK);
    if (mom_config_parse_json(f->ctx, buf, strlen(buf), &back)) fail_msg("%s: %s", buf, mom_ctx_last_error(f->ctx));
    assert_memory_equal(&back.patches, &c.patches, sizeof(c.patches));
    assert_int_equal(back.time_dim, 16);
    assert_true(back.diffusion_weight == 2.5f);
    const struct { const char *json, *msg; } bad[] = {
        {"{\"n_modalities\": 2, \"patches\": {\"patch_size\": 3, \"image_size\": 8, \"channels\": 1}}",
         "image_size = 8 is not a multiple of patch_size 3"},
        {"{\"n_modalities\": 1, \"patches\": {\"patch_size\": 2, \"image_size\": 8, \"channels\": 1}}",
         "n_modalities = 1 < 2"},
        {"{\"n_modalities\": 2, \"time_dim\": 7, \"patches\": {\"patch_size\": 2, \"image_size\": 8, \"channels\": 1}}",
         "time_dim = 7 is odd"},
        {"{\"n_modalities\": 2, \"diffusion_weight\": -1, \"patches\": {\"patch_size\": 2, \"image_size\": 8, "
         "\"channels\": 1}}",
         "diffusion_weight = -1"},
        {"{\"n_modalities\": 2, \"patches\": {\"patch\": 2}}", "patches has an unknown part \"patch\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mom_config_parse_json(f->ctx, bad[i].json, strlen(bad[i].json), &back), MOM_ERR_CONFIG);
        if (!strstr(mom_ctx_last_error(f->ctx), bad[i].msg)) fail_msg("%s: %s", bad[i].msg, mom_ctx_last_error(f->ctx));
    }
    /* A text-only file has no patches: a continuous-image model refuses it. */
    mom_model *m = tu_new_model(f->ctx, &c, 1);
    const mom_vocab_layout lay = {.n_special = MOM_N_SPECIAL, .n_text = 256, .n_image = 0, .n_speech = 0};
    int32_t tok[3] = {MOM_TOK_BOS, 8, MOM_TOK_EOS};
    if (mom_dataset_write(f->ctx, in_dir(f, "t.bin"), tok, NULL, 3, NULL, 1, 263, 2, &lay, NULL, NULL))
        fail_msg("%s", mom_ctx_last_error(f->ctx));
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(f->ctx, in_dir(f, "t.bin"), &d), MOM_OK);
    assert_int_equal(mom_dataset_check(m, d), MOM_ERR_DATA);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "differ from the model's (patch 2, image 8"));
    mom_dataset_destroy(&d);
    mom_model_destroy(&m);
}

/* mom_ctx_set_stop: the importers, the writer and the evaluation return
 * MOM_ERR_STOPPED and leave every file as it was (no temporary beside it);
 * cleared, the same calls run. */
static void test_stop(void **state)
{
    fixture *f = *state;
    write_text(in_dir(f, "docs.jsonl"), "{\"segments\": [{\"text\": \"abc\"}]}\n");
    write_text(in_dir(f, "tokens.jsonl"), "{\"segments\": [{\"tokens\": [1, 2, 3]}]}\n");
    write_text(in_dir(f, "out.bin"), "old");
    const int32_t tok[4] = {MOM_TOK_BOS, 8, 9, MOM_TOK_EOS};
    mom_ctx_set_stop(f->ctx, 1);
    assert_int_equal(mom_dataset_import_manifest(f->ctx, in_dir(f, "docs.jsonl"), in_dir(f, "out.bin"), NULL, NULL, NULL),
                     MOM_ERR_STOPPED);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "docs.jsonl: stopped"));
    assert_int_equal(mom_dataset_import_jsonl(f->ctx, in_dir(f, "tokens.jsonl"), in_dir(f, "out.bin"), 0, 0, NULL),
                     MOM_ERR_STOPPED);
    /* The writer checks last, before the rename: what it wrote goes. */
    assert_int_equal(mom_dataset_write(f->ctx, in_dir(f, "out.bin"), tok, NULL, 4, NULL, 1, 16, 1, NULL, NULL, NULL),
                     MOM_ERR_STOPPED);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "out.bin: stopped"));
    assert_int_equal(tu_count_entries(f->dir, ".tmp"), 3); /* docs.jsonl, tokens.jsonl, out.bin */
    size_t n;
    uint8_t *old = tu_read_file(in_dir(f, "out.bin"), &n);
    assert_memory_equal(old, "old", 3);
    assert_int_equal(n, 3);
    free(old);

    mom_ctx_set_stop(f->ctx, 0);
    if (mom_dataset_write(f->ctx, in_dir(f, "data.bin"), tok, NULL, 4, NULL, 1, 16, 1, NULL, NULL, NULL))
        fail_msg("%s", mom_ctx_last_error(f->ctx));
    mom_config c = tu_config(1, 16, 8, 1, 4);
    mom_model *m = tu_new_model(f->ctx, &c, 1);
    mom_dataset *d = NULL;
    assert_int_equal(mom_dataset_open(f->ctx, in_dir(f, "data.bin"), &d), MOM_OK);
    mom_losses l;
    mom_ctx_set_stop(f->ctx, 1);
    assert_int_equal(mom_model_evaluate(m, d, 1, 2, 0, &l), MOM_ERR_STOPPED);
    assert_non_null(strstr(mom_ctx_last_error(f->ctx), "evaluate: stopped"));
    mom_ctx_set_stop(f->ctx, 0);
    assert_int_equal(mom_model_evaluate(m, d, 1, 2, 0, &l), MOM_OK);
    assert_int_equal(l.n_targets, 2);
    if (mom_dataset_import_manifest(f->ctx, in_dir(f, "docs.jsonl"), in_dir(f, "out.bin"), NULL, NULL, NULL))
        fail_msg("%s", mom_ctx_last_error(f->ctx));
    mom_dataset_destroy(&d);
    mom_model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_manifests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_modalities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patch_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_config_and_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
