/* f32 -> bf16 with AVX-512F integer ops (the AVX512-BF16 instruction would
 * need its own build flag and CPU check; this is exact and nearly as fast:
 * the matmul it feeds costs far more). Same rounding as the scalar one. */
#include <string.h>

#include "kernels_avx512.h"
#include "vexp_avx512.h"

void mom_f32_to_bf16_avx512(size_t n, const float *src, uint16_t *dst)
{
    const size_t nv = n / 16;
#pragma omp parallel for schedule(static)
    for (size_t v = 0; v < nv; v++) {
        const __m512i b = _mm512_loadu_si512((const void *)(src + v * 16));
        const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
        const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), lsb), 16);
        const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
        const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff)),
                                                      _mm512_set1_epi32(0x7f800000));
        const __m512i r = _mm512_mask_mov_epi32(rounded, nan, quiet);
        _mm256_storeu_si256((__m256i *)(void *)(dst + v * 16), _mm512_cvtepi32_epi16(r));
    }
    if (nv * 16 < n) mom_f32_to_bf16_ref(n - nv * 16, src + nv * 16, dst + nv * 16);
}
