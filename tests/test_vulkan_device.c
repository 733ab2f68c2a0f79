/* What only the Vulkan backend has: its device choice and its errors
 * (mom_ctx_settings.device, MOM_VK_DEVICE, software devices and
 * MOM_VK_ALLOW_SOFTWARE), and resource hygiene: backends made and destroyed
 * in a loop give back every buffer, and (MOM_VK_VALIDATE=1, as meson test
 * sets it) the validation layer says nothing. The ops themselves are the
 * cross-backend suites' (test_backend_*.c). Exit 77 without a device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "vulkan/vk_internal.h"

static const be_entry *vulkan;

/* The Vulkan backend for s, or NULL with the reason in why. */
static backend *open_with(const mom_ctx_settings *s, char *why, size_t cap)
{
    backend *be = NULL;
    return be_create(vulkan, s, &be, why, cap) == MOM_OK ? be : NULL;
}

static backend *open_default(char *why, size_t cap)
{
    mom_ctx_settings s;
    mom_ctx_default_settings(&s);
    s.allow_software = 1;
    return open_with(&s, why, cap);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Backends made and destroyed 40 times, each allocating, running ops and
 * freeing (some buffers left for destroy to free): after each round the
 * device memory alive is what it was before (the backend's own count);
 * the validation layer reports any Vulkan object left undestroyed; and the
 * resident size does not grow by a round's buffers per round once the
 * driver's caches are warm (the driver's threads make it noisy by a few
 * MiB, so the bound is loose: a leak of the 2 MiB a round allocates
 * would pass it in 8 rounds). */
static void test_hygiene(void **state)
{
    (void)state;
    long after_warmup = 0;
    unsigned long bufs0, bytes0, bufs1, bytes1;
    vk_live_memory(&bufs0, &bytes0);
    const size_t n = (size_t)1 << 16;
    float *out = malloc(n * sizeof(float));
    assert_non_null(out);
    for (int round = 0; round < 40; round++) {
        char why[256];
        backend *be = open_default(why, sizeof why);
        assert_non_null(be);
        be_buf *bufs[8];
        for (int i = 0; i < 8; i++) {
            bufs[i] = be->alloc(be, n + (size_t)i);
            assert_non_null(bufs[i]);
        }
        be->softplus_fwd(be, n, (bv){bufs[0], 0}, (bv){bufs[1], 0});
        be->download(be, out, (bv){bufs[1], 0}, n);
        for (size_t i = 0; i < n; i += 4099) assert_true(fabs(out[i] - log(2.0)) < 1e-6); /* softplus(0) */
        for (int i = 0; i < 8; i += 2) be->release(be, bufs[i]);
        /* Odd ones are left to destroy, which must free them. */
        be->destroy(be);
        vk_live_memory(&bufs1, &bytes1);
        assert_int_equal(bufs1, bufs0);
        assert_int_equal(bytes1, bytes0);
        if (round == 19) after_warmup = rss_kib();
    }
    free(out);
    const long grown = rss_kib() - after_warmup;
    printf("  hygiene: %lu buffers (%lu bytes) alive before and after each round; resident size grew %ld KiB over "
           "rounds 21..40\n", bufs1, bytes1, grown);
    assert_true(grown < 16 * 1024);
}

/* Software devices refused unless allowed (lavapipe is the only device
 * here; on a machine with a GPU the creation may succeed), with
 * MOM_VK_ALLOW_SOFTWARE=0 meaning no; and a device index that does not
 * exist, from the settings or from MOM_VK_DEVICE, refused with a reason
 * naming where it came from. */
static void test_errors(void **state)
{
    (void)state;
    char why[256];
    const char *sw = getenv("MOM_VK_ALLOW_SOFTWARE");
    char *saved = sw ? strdup(sw) : NULL;
    mom_ctx_settings s;
    mom_ctx_default_settings(&s);
    setenv("MOM_VK_ALLOW_SOFTWARE", "0", 1);
    backend *be = open_with(&s, why, sizeof why);
    if (be) be->destroy(be);
    else {
        printf("  without software devices: %s\n", why);
        assert_non_null(strstr(why, "MOM_VK_ALLOW_SOFTWARE"));
    }
    unsetenv("MOM_VK_ALLOW_SOFTWARE");
    s.allow_software = 1;
    s.device = 99;
    assert_null(open_with(&s, why, sizeof why));
    printf("  device 99: %s\n", why);
    assert_non_null(strstr(why, "device 99: not a device index"));
    s.device = -1;
    setenv("MOM_VK_DEVICE", "99", 1);
    assert_null(open_with(&s, why, sizeof why));
    printf("  MOM_VK_DEVICE=99: %s\n", why);
    assert_non_null(strstr(why, "MOM_VK_DEVICE=99"));
    /* The settings' index wins over the environment's. */
    s.device = 0;
    be = open_with(&s, why, sizeof why);
    unsetenv("MOM_VK_DEVICE");
    assert_non_null(be);
    be->destroy(be);
    if (saved) setenv("MOM_VK_ALLOW_SOFTWARE", saved, 1);
    free(saved);
}

/* Last: the validation layer (on when MOM_VK_VALIDATE=1) said nothing. */
static void test_validation_quiet(void **state)
{
    (void)state;
    char why[512];
    backend *be = open_default(why, sizeof why);
    assert_non_null(be);
    be->destroy(be);
    const int on = strstr(why, ", validation") != NULL;
    printf("  validation layer %s; %lu messages\n", on ? "on" : "off (MOM_VK_VALIDATE=1 and the layer turn it on)",
           vk_validation_messages());
    assert_int_equal(vk_validation_messages(), 0);
}

int main(void)
{
    vulkan = be_find("vulkan");
    char why[512];
    backend *probe = vulkan ? open_default(why, sizeof why) : NULL;
    if (!probe) {
        printf("skipped: %s\n", vulkan ? why : "no Vulkan backend in this build");
        return 77;
    }
    printf("%s\n", why);
    probe->destroy(probe);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hygiene),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_validation_quiet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
