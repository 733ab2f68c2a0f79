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
static void test_defaults_zero_reserved(void **state)
{
    (void)state;
    mom_config c;
    memset(&c, 0xab, sizeof c);
    mom_config_default(&c);
    assert_true(ALL_ZERO(c.reserved));
    mom_state_settings ss;
    memset(&ss, 0xab, sizeof ss);
    mom_state_default_settings(&ss);
    assert_true(ALL_ZERO(ss.reserved));
    mom_sampling sg;
    memset(&sg, 0xab, sizeof sg);
    mom_sampling_default(&sg);
    assert_true(ALL_ZERO(sg.reserved));
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

    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_agrees),
        cmocka_unit_test(test_defaults_zero_reserved),
        cmocka_unit_test(test_reserved_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
