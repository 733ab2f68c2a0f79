/* The promises mom.h makes to programs built against an older or newer
 * header: the version numbers agree, a struct that will grow refuses
 * reserved space it does not know (a newer program's field) rather than
 * ignoring it, and the _default calls leave that space zero. */
#include "test_util.h"

#define STR2(x) #x
#define STR(x) STR2(x)

static void test_version_agrees(void **state)
{
    (void)state;
    assert_string_equal(mom_version(), MOM_VERSION_STRING);
    assert_string_equal(MOM_VERSION_STRING,
                        STR(MOM_VERSION_MAJOR) "." STR(MOM_VERSION_MINOR) "." STR(MOM_VERSION_PATCH));
}

static int all_zero(const uint64_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r[i]) return 0;
    return 1;
}
#define ALL_ZERO(r) all_zero(r, sizeof(r) / sizeof((r)[0]))

/* The defaults leave the reserved space zero, whatever was there before. */
#define DEFAULT_ZEROES_RESERVED(type, default_fn)                                                                      \
    do {                                                                                                               \
        type v_;                                                                                                       \
        memset(&v_, 0xab, sizeof v_);                                                                                  \
        default_fn(&v_);                                                                                               \
        if (!ALL_ZERO(v_.reserved)) fail_msg("%s left reserved words set", #default_fn);                             \
    } while (0)

static void test_defaults_zero_reserved(void **state)
{
    (void)state;
    DEFAULT_ZEROES_RESERVED(mom_config, mom_config_default);
    DEFAULT_ZEROES_RESERVED(mom_state_settings, mom_state_default_settings);
    DEFAULT_ZEROES_RESERVED(mom_sampling, mom_sampling_default);
    DEFAULT_ZEROES_RESERVED(mom_optim_settings, mom_optim_default_settings);
    DEFAULT_ZEROES_RESERVED(mom_ctx_settings, mom_ctx_default_settings);
}

/* No context exists yet: the reason is mom_ctx_create_error's. */
static void test_ctx_settings_reserved_refused(void **state)
{
    (void)state;
    mom_ctx_settings cs;
    mom_ctx_default_settings(&cs);
    cs.reserved[6] = 1;
    mom_ctx *ctx = (mom_ctx *)&cs;
    assert_int_equal(mom_ctx_create(&ctx, &cs), MOM_ERR_INVALID_ARG);
    assert_null(ctx);
    if (!strstr(mom_ctx_create_error(), "reserved[6]")) fail_msg("create error \"%s\"", mom_ctx_create_error());
    cs.reserved[6] = 0;
    assert_int_equal(mom_ctx_create(&ctx, &cs), MOM_OK);
    mom_ctx_destroy(&ctx);
}

/* st failed with MOM_ERR_INVALID_ARG and a message naming reserved[i]. */
static void expect_reserved_refused(mom_ctx *ctx, mom_status st, int i)
{
    assert_int_equal(st, MOM_ERR_INVALID_ARG);
    char want[32];
    snprintf(want, sizeof want, "reserved[%d]", i);
    const char *msg = mom_ctx_last_error(ctx);
    if (!strstr(msg, want)) fail_msg("message \"%s\" does not name %s", msg, want);
}

static void test_reserved_refused(void **state)
{
    (void)state;
    mom_ctx *ctx = NULL;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);

    mom_config c = tu_small_config();
    c.reserved[5] = 1;
    expect_reserved_refused(ctx, mom_config_validate(ctx, &c), 5);
    mom_model *m = (mom_model *)&c; /* not NULL: create must clear it */
    expect_reserved_refused(ctx, mom_model_create(ctx, &c, 1, &m), 5);
    assert_null(m);

    c.reserved[5] = 0;
    m = tu_new_model(ctx, &c, 1);
    mom_state_settings ss;
    mom_state_default_settings(&ss);
    ss.reserved[0] = 7;
    mom_state *st = (mom_state *)&ss;
    expect_reserved_refused(ctx, mom_state_create(m, &ss, &st), 0);
    assert_null(st);
    ss.reserved[0] = 0;
    assert_int_equal(mom_state_create(m, &ss, &st), MOM_OK);
    mom_state_destroy(&st);

    mom_sampling sg;
    mom_sampling_default(&sg);
    sg.reserved[7] = UINT64_MAX;
    mom_sampler *sp = (mom_sampler *)&sg;
    expect_reserved_refused(ctx, mom_sampler_create(m, &sg, 1, &sp), 7);
    assert_null(sp);
    sg.reserved[7] = 0;
    assert_int_equal(mom_sampler_create(m, &sg, 1, &sp), MOM_OK);
    mom_sampler_destroy(&sp);

    /* A batch or optimizer settings with reserved words set change nothing:
     * no gradient, no step. */
    tu_small_batch bb;
    tu_make_small_batch(&bb, 3);
    mom_losses l;
    bb.b.reserved[2] = 1;
    expect_reserved_refused(ctx, mom_model_forward(m, &bb.b, &l), 2);
    expect_reserved_refused(ctx, mom_model_backward(m, &bb.b, 1.0f, &l), 2);
    mom_optim_settings os;
    mom_optim_default_settings(&os);
    expect_reserved_refused(ctx, mom_model_train_step(m, &bb.b, &os, &l, NULL), 2);
    bb.b.reserved[2] = 0;
    os.reserved[4] = 1;
    expect_reserved_refused(ctx, mom_model_train_step(m, &bb.b, &os, &l, NULL), 4);
    expect_reserved_refused(ctx, mom_model_step(m, &os, NULL), 4);
    assert_int_equal(mom_model_steps_done(m), 0);

    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

/* The output structs come back with their reserved space zero, whatever
 * the caller's memory held. */
static void test_outputs_zero_reserved(void **state)
{
    (void)state;
    mom_ctx *ctx = NULL;
    assert_int_equal(tu_ctx_create(&ctx, 1, NULL), MOM_OK);
    mom_config c = tu_small_config();
    mom_model *m = tu_new_model(ctx, &c, 1);
    mom_model_info info;
    memset(&info, 0xab, sizeof info);
    mom_model_get_info(m, &info);
    assert_true(ALL_ZERO(info.reserved));
    tu_small_batch bb;
    tu_make_small_batch(&bb, 3);
    mom_losses l;
    memset(&l, 0xab, sizeof l);
    assert_int_equal(mom_model_forward(m, &bb.b, &l), MOM_OK);
    assert_true(ALL_ZERO(l.reserved));
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_agrees),
        cmocka_unit_test(test_defaults_zero_reserved),
        cmocka_unit_test(test_reserved_refused),
        cmocka_unit_test(test_ctx_settings_reserved_refused),
        cmocka_unit_test(test_outputs_zero_reserved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
