/* Preloaded (LD_PRELOAD) into every test process of a sanitizer build by
 * the 'sanitize' test setup (tests/meson.build): dlclose() keeps the
 * library mapped.
 *
 * Why: the Vulkan loader dlcloses the driver (lavapipe) and the layers in
 * vkDestroyInstance. Memory a driver allocates once and keeps in one of its
 * own globals (Mesa's CPU-topology table, built only on AMD CPUs, is one)
 * then has no pointer left to it that LeakSanitizer can see, and no module
 * to name in its stack, so it is reported as a direct leak of
 * "<unknown module>" and no suppression can match it. With the library
 * still mapped at exit its globals are scanned like any other, so what
 * they hold is reachable, and what really leaks is reported with the
 * library's name.
 *
 * Nothing of libmom is hidden by this: a block libmom allocates and loses
 * is as unreachable as before. Built without sanitizers, so the programs a
 * test script runs (bash, grep, mpirun) stay uninstrumented. */

int dlclose(void *handle);

int dlclose(void *handle)
{
    (void)handle;
    return 0;
}
