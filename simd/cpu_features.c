/* What the CPU and the OS allow: cpuid says what the core has, xgetbv says
 * whether the OS saves the wide registers; AVX-512 needs both. */
#include <stdio.h>
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

void mom_cpu_detect(mom_cpu_features *f)
{
    memset(f, 0, sizeof(*f));
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const int osxsave = (c >> 27) & 1;
    f->fma = (c >> 12) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    const int os_avx = (xcr0 & 0x6) == 0x6;
    f->os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    f->avx2 = os_avx && ((b >> 5) & 1);
    f->avx512f = (b >> 16) & 1;
    f->avx512dq = (b >> 17) & 1;
    f->avx512bw = (b >> 30) & 1;
    f->avx512vl = (b >> 31) & 1;
    f->amx_bf16 = (d >> 22) & 1;
    __cpuid_count(7, 1, a, b, c, d);
    f->avx512_bf16 = (a >> 5) & 1;
}
#else
void mom_cpu_detect(mom_cpu_features *f)
{
    memset(f, 0, sizeof(*f));
#if defined(__aarch64__)
    f->neon = 1; /* Advanced SIMD is part of every AArch64 core */
#endif
}
#endif

void mom_cpu_features_str(const mom_cpu_features *f, char *buf, size_t cap)
{
    if (f->neon) {
        snprintf(buf, cap, "neon");
        return;
    }
    snprintf(buf, cap, "%s%s%s%s%s%s%s%s(os %s zmm state)", f->avx2 ? "avx2 " : "",
             f->fma ? "fma " : "", f->avx512f ? "avx512f " : "", f->avx512bw ? "avx512bw " : "",
             f->avx512vl ? "avx512vl " : "", f->avx512dq ? "avx512dq " : "", f->avx512_bf16 ? "avx512_bf16 " : "",
             f->amx_bf16 ? "amx_bf16 " : "", f->os_avx512 ? "saves" : "does not save");
}
