/* SIMD tests over every kernel path that runs here (tests/test_simd_*.c). */
#ifndef MOM_TEST_SIMD_PATHS_H
#define MOM_TEST_SIMD_PATHS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

/* The kernel paths other than scalar that run here, best first (avx512,
 * avx2 on x86-64; neon on AArch64): the ones a SIMD test holds to the
 * scalar reference. Returns how many. */
static inline int tu_simd_paths(const mom_kernels **out, int cap)
{
    const mom_kernels *all[8];
    const int n = mom_kernels_usable(all, 8);
    int m = 0;
    for (int i = 0; i < n && m < cap; i++)
        if (strcmp(all[i]->name, "scalar")) out[m++] = all[i];
    return m;
}

/* Runs every test once per SIMD path (tu_simd_paths), named "TEST [PATH]",
 * with the path's table as its *state; exit 77 (skipped) when there is none.
 * As dav1d's checkasm does: a new ISA's table is tested by adding it. */
static inline int tu_run_per_simd_path(const char *group, const struct CMUnitTest *tests, size_t n_tests)
{
    const mom_kernels *paths[8];
    const int n_paths = tu_simd_paths(paths, 8);
    if (!n_paths) {
        fprintf(stderr, "%s: no SIMD kernels run here: nothing to hold to the scalar ones\n", group);
        return 77;
    }
    struct CMUnitTest *all = calloc((size_t)n_paths * n_tests, sizeof(*all));
    char (*names)[128] = calloc((size_t)n_paths * n_tests, sizeof(*names));
    if (!all || !names) return 1;
    for (int p = 0; p < n_paths; p++)
        for (size_t i = 0; i < n_tests; i++) {
            const size_t j = (size_t)p * n_tests + i;
            all[j] = tests[i];
            snprintf(names[j], sizeof(names[j]), "%s [%s]", tests[i].name, paths[p]->name);
            all[j].name = names[j];
            all[j].initial_state = (void *)paths[p];
        }
    const int rc = _cmocka_run_group_tests(group, all, (size_t)n_paths * n_tests, NULL, NULL);
    free(all);
    free(names);
    return rc;
}

#endif
