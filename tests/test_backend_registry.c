/* The backend registry (src/backend.h, src/backend.c): the CPU first, names
 * found and listed; a backend whose op table lacks a required member is
 * refused when it is made, naming the member (each required member in
 * turn, on a copy of the CPU backend); an optional member may be missing;
 * and mom_ctx_create's choice among the entries: a name not in the
 * registry, device indices, and "auto". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ctx.h"
#include "test_backend_util.h" /* tb_settings */

/* The required members by name, and their count. */
#define NAME_OF(member) #member,
#define NOTHING(member)
static const char *const required[] = {BE_OPS(NAME_OF, NOTHING)};
static const char *const optional[] = {BE_OPS(NOTHING, NAME_OF)};
#define N_REQUIRED ((int)(sizeof(required) / sizeof(required[0])))
#define N_OPTIONAL ((int)(sizeof(optional) / sizeof(optional[0])))

/* The test backend: a CPU backend with the member named `dropped` set to
 * NULL. A backend left without destroy cannot be freed by be_create: its
 * destroy is kept here for the test to call. */
static const char *dropped;
static backend *undestroyed;
static void (*real_destroy)(backend *be);

static void drop(backend *be, const char *name)
{
#define DROP(member) \
    if (!strcmp(#member, name)) be->member = NULL;
    BE_OPS(DROP, DROP)
#undef DROP
}

static mom_status incomplete_create(const mom_ctx_settings *s, backend **out, char *desc, size_t desc_cap)
{
    const mom_status st = be_registry[0]->create(s, out, desc, desc_cap);
    if (st != MOM_OK) return st;
    real_destroy = (*out)->destroy;
    if (!strcmp(dropped, "destroy")) undestroyed = *out;
    drop(*out, dropped);
    return MOM_OK;
}

static void no_devices(char *buf, size_t cap) { snprintf(buf, cap, "0: a CPU backend missing a member"); }

static const be_entry incomplete = {"incomplete", incomplete_create, no_devices};

static mom_status failing_create(const mom_ctx_settings *s, backend **out, char *desc, size_t desc_cap)
{
    (void)s;
    *out = NULL;
    snprintf(desc, desc_cap, "no such device here");
    return MOM_ERR_UNSUPPORTED;
}

static const be_entry failing = {"failing", failing_create, no_devices};

static void test_registry(void **st)
{
    (void)st;
    assert_non_null(be_registry[0]);
    assert_string_equal(be_registry[0]->name, "cpu");
    int n = 0;
    for (; be_registry[n]; n++) {
        const be_entry *e = be_registry[n];
        assert_non_null(e->create);
        assert_non_null(e->list_devices);
        assert_ptr_equal(be_find(e->name), e); /* names are unique */
        assert_string_equal(mom_backend_name(n), e->name);
        char devices[1024];
        assert_int_equal(mom_devices_string(e->name, devices, sizeof devices), MOM_OK);
        printf("  %s: %s\n", e->name, devices[0] ? devices : "(no devices)");
    }
    assert_null(mom_backend_name(n));
    assert_null(mom_backend_name(-1));
    assert_null(be_find("no-such-backend"));
    assert_null(be_find("auto"));
    assert_null(be_find(NULL));
    char names[256];
    be_names(names, sizeof names);
    printf("  names: %s\n", names);
    assert_non_null(strstr(names, "cpu"));
    assert_non_null(strstr(names, " or auto"));
    printf("  %d required op-table members, %d optional\n", N_REQUIRED, N_OPTIONAL);
}

/* Each required member left out in turn: refused, its name in the reason,
 * nothing handed out (the backend destroyed, except without destroy). */
static void test_incomplete_refused(void **st)
{
    (void)st;
    mom_ctx_settings s;
    tb_settings(&s);
    for (int i = 0; i < N_REQUIRED; i++) {
        dropped = required[i];
        undestroyed = NULL;
        backend junk, *be = &junk; /* be_create NULLs it */
        char why[256];
        assert_int_equal(be_create(&incomplete, &s, &be, why, sizeof why), MOM_ERR_UNSUPPORTED);
        assert_null(be);
        char want[64];
        snprintf(want, sizeof want, "has no %s ", required[i]);
        if (!strstr(why, want)) fail_msg("without %s: \"%s\" lacks \"%s\"", required[i], why, want);
        if (i == 0) printf("  without %s: %s\n", required[i], why);
        if (undestroyed) real_destroy(undestroyed);
    }
    printf("  each of the %d required members left out: refused, naming it\n", N_REQUIRED);
}

/* A missing optional member is no reason to refuse. */
static void test_optional_may_be_missing(void **st)
{
    (void)st;
    mom_ctx_settings s;
    tb_settings(&s);
    for (int i = 0; i < N_OPTIONAL; i++) {
        dropped = optional[i];
        backend *be = NULL;
        char why[256];
        assert_int_equal(be_create(&incomplete, &s, &be, why, sizeof why), MOM_OK);
        assert_non_null(be);
        be->destroy(be);
    }
}

/* A create that fails: its status and reason come through, nothing else. */
static void test_failing_create(void **st)
{
    (void)st;
    mom_ctx_settings s;
    mom_ctx_default_settings(&s);
    backend *be = NULL;
    char why[64];
    assert_int_equal(be_create(&failing, &s, &be, why, sizeof why), MOM_ERR_UNSUPPORTED);
    assert_null(be);
    assert_string_equal(why, "no such device here");
}

static void expect_create(const mom_ctx_settings *s, mom_status want, const char *sub)
{
    mom_ctx *ctx = NULL;
    const mom_status got = mom_ctx_create(&ctx, s);
    printf("  backend %s device %d: %s\n", s->backend, s->device, got ? mom_ctx_create_error() : "ok");
    assert_int_equal(got, want);
    if (got) {
        assert_null(ctx);
        if (!strstr(mom_ctx_create_error(), sub)) fail_msg("\"%s\" lacks \"%s\"", mom_ctx_create_error(), sub);
    }
    mom_ctx_destroy(&ctx);
}

static void test_ctx_choice(void **st)
{
    (void)st;
    mom_ctx_settings s;
    mom_ctx_default_settings(&s);
    assert_int_equal(s.device, -1);
    assert_int_equal(s.allow_software, 0);
    s.backend = "gpu";
    expect_create(&s, MOM_ERR_INVALID_ARG, "backend \"gpu\" is not one of this build's: cpu");
    s.backend = "cpu";
    s.device = 0;
    expect_create(&s, MOM_OK, NULL);
    s.device = 1;
    expect_create(&s, MOM_ERR_INVALID_ARG, "device 1: the CPU backend has one device");
    s.device = -2;
    expect_create(&s, MOM_ERR_INVALID_ARG, "device = -2");
    s.backend = "auto";
    s.device = 0;
    expect_create(&s, MOM_ERR_INVALID_ARG, "needs its backend named");
    s.device = -1;
    s.allow_software = 2;
    expect_create(&s, MOM_ERR_INVALID_ARG, "allow_software = 2");
}

/* "auto" is the first device backend that starts, else the CPU with a
 * note saying why. Vulkan is kept from starting (a device index no
 * machine has), so a build with Vulkan alone shows the fallback. */
static void test_auto(void **st)
{
    (void)st;
    setenv("MOM_VK_DEVICE", "999", 1);
    mom_ctx_settings s;
    mom_ctx_default_settings(&s);
    const char *first = NULL; /* the device backend auto should take */
    for (int i = 1; be_registry[i] && !first; i++) {
        backend *be = NULL;
        char why[512];
        if (be_create(be_registry[i], &s, &be, why, sizeof why) == MOM_OK) {
            first = be_registry[i]->name;
            be->destroy(be);
        }
    }
    s.backend = "auto";
    mom_ctx *ctx = NULL;
    assert_int_equal(mom_ctx_create(&ctx, &s), MOM_OK);
    unsetenv("MOM_VK_DEVICE");
    printf("  note \"%s\"\n  on %s\n", mom_ctx_last_error(ctx), mom_ctx_backend_name(ctx));
    assert_string_equal(ctx->be->name, first ? first : "cpu");
    if (first) {
        assert_string_equal(mom_ctx_last_error(ctx), "");
    } else {
        assert_non_null(strstr(mom_ctx_last_error(ctx), "backend auto: "));
        assert_non_null(strstr(mom_ctx_last_error(ctx), "; running on the CPU"));
    }
    mom_ctx_destroy(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),        cmocka_unit_test(test_incomplete_refused),
        cmocka_unit_test(test_optional_may_be_missing), cmocka_unit_test(test_failing_create),
        cmocka_unit_test(test_ctx_choice),      cmocka_unit_test(test_auto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
