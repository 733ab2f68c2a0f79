/* Causal depthwise conv1d followed by SiLU, AVX-512, 16 channels per zmm.
 * x: position (b, t) at row mom_row(rows, b, L, t), stride ldx; w (D, K) =
 * PyTorch's (D, 1, K), b (D).
 * The pre-activation is summed in the reference's order (bias, then taps
 * oldest first, no fma), so it is bit-exact; only the sigmoid differs by an
 * ulp or so. Both passes walk positions in time order with the channels inner
 * (column-wise walks over rows 2-4 KiB apart thrash the TLB), in chunks of
 * 256 channels whose taps and sums sit in L1. The backward splits the
 * channels over threads: each sums its dw and db over (b, t) in order, as
 * the reference does, for any thread count. */
#include "column_span.h"
#include "kernels_avx512.h"
#include "prefetch.h"
#include "vexp_avx512.h"

#define MAX_TAPS 16
/* Positions per forward work item; 16-channel blocks per chunk. */
#define FWD_TILE 64
#define CHUNK_BLOCKS 16
/* Positions ahead whose rows are prefetched. Every position's row sits in
 * its own 4 KiB page (the rows are 2-4 KiB apart), where the hardware
 * prefetcher stops, so without this each row's first loads wait on memory. */
#define PREFETCH_AHEAD 8

/* Ask for the n floats at p, one request per cache line. Until these
 * helpers were always_inline (prefetch.h) GCC deleted every call to this
 * one, so the rows were never prefetched for reading; with the reads the
 * backward ran 2.3x and the forward about 1.5x faster (`mom bench
 * kernels`, AMD EPYC Zen 5). */
MOM_PREFETCH_HELPER void prefetch_floats(const float *p, int n)
{
    for (int i = 0; i < n; i += 16) __builtin_prefetch(p + i, 0, 3);
}

/* The same for lines about to be written: prefetchw fetches them for
 * ownership, so the stores do not wait on a write-allocate's read. In the
 * backward it took 4-11% off the conv (training step, AMD EPYC Zen 5,
 * measured while the reads above were lost); in the forward, for its
 * output rows, it measured no faster with the reads in place, so only the
 * backward uses it. */
MOM_PREFETCH_HELPER void prefetch_floats_w(float *p, int n)
{
    for (int i = 0; i < n; i += 16) __builtin_prefetch(p + i, 1, 3);
}

/* w[d0 + lane, k] for k < K, lanes under m. */
static inline void load_taps(int K, int d0, __mmask16 m, const float *w, __m512 *wk)
{
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(K));
    for (int k = 0; k < K; k++)
        wk[k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, _mm512_add_epi32(idx, _mm512_set1_epi32(k)),
                                         w + (size_t)d0 * K, 4);
}

/* Where the taps of position t read: xp[k] is the row of x[t-K+1+k] for
 * k >= first_tap. Before t = 0 they read the history's rows, or nothing
 * (zeros) without one. */
static inline int first_tap(int K, int t, const float *hist) { return hist || t >= K - 1 ? 0 : K - 1 - t; }
static inline void tap_rows(int K, int L, int D, const int32_t *rows, int bi, int t, const float *x, int ldx,
                            const float *hist, const float **xp)
{
    for (int k = first_tap(K, t, hist); k < K; k++) {
        const int tt = t - (K - 1) + k;
        xp[k] = tt >= 0 ? x + mom_row(rows, bi, L, tt) * (size_t)ldx
                        : hist + ((size_t)bi * (K - 1) + (size_t)(K - 1 + tt)) * D;
    }
}

/* b + sum_k w_k x[t-K+1+k] at channels d0.., the taps from k0 on. */
static inline __attribute__((always_inline)) __m512 conv_pre512(int K, int k0, __mmask16 m, int d0,
                                                                const float *const *xp, const __m512 *wk,
                                                                __m512 bias)
{
    __m512 s = bias;
    for (int k = k0; k < K; k++) s = _mm512_add_ps(s, _mm512_mul_ps(wk[k], _mm512_maskz_loadu_ps(m, xp[k] + d0)));
    return s;
}

/* out[t0:t1, :] of batch row bi. */
static inline __attribute__((always_inline)) void conv_fwd_tile(int K, int L, int bi, int t0, int t1, int D,
                                                                const int32_t *rows, const float *x, int ldx,
                                                                const float *w, const float *b,
                                                                const float *hist, float *out)
{
    const float *xp[MAX_TAPS];
    __m512 wk[CHUNK_BLOCKS][MAX_TAPS], bias[CHUNK_BLOCKS];
    for (int c0 = 0; c0 < D; c0 += 16 * CHUNK_BLOCKS) {
        const int nb = (D - c0 + 15) / 16 < CHUNK_BLOCKS ? (D - c0 + 15) / 16 : CHUNK_BLOCKS;
        for (int j = 0; j < nb; j++) {
            const int d0 = c0 + 16 * j;
            load_taps(K, d0, mom_mask16(D - d0), w, wk[j]);
            bias[j] = _mm512_maskz_loadu_ps(mom_mask16(D - d0), b + d0);
        }
        for (int t = t0; t < t1; t++) {
            tap_rows(K, L, D, rows, bi, t, x, ldx, hist, xp);
            const int k0 = first_tap(K, t, hist);
            float *o = out + mom_row(rows, bi, L, t) * D;
            if (t + PREFETCH_AHEAD < L)
                prefetch_floats(x + mom_row(rows, bi, L, t + PREFETCH_AHEAD) * (size_t)ldx + c0, 16 * nb);
            for (int j = 0; j < nb; j++) {
                const int d0 = c0 + 16 * j;
                const __mmask16 m = mom_mask16(D - d0);
                const __m512 p = conv_pre512(K, k0, m, d0, xp, wk[j], bias[j]);
                _mm512_mask_storeu_ps(o + d0, m, _mm512_mul_ps(p, mom_sigmoid512(p)));
            }
        }
    }
}

void mom_conv_silu_fwd_avx512(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                              const float *w, const float *b, float *hist, float *out)
{
    const int tiles = (L + FWD_TILE - 1) / FWD_TILE;
#pragma omp parallel for schedule(static)
    for (int it = 0; it < B * tiles; it++) {
        const int bi = it / tiles, t0 = (it % tiles) * FWD_TILE;
        const int t1 = t0 + FWD_TILE < L ? t0 + FWD_TILE : L;
        /* A constant K lets the compiler unroll the taps of the common case. */
        if (K == 4)
            conv_fwd_tile(4, L, bi, t0, t1, D, rows, x, ldx, w, b, hist, out);
        else
            conv_fwd_tile(K, L, bi, t0, t1, D, rows, x, ldx, w, b, hist, out);
    }
    /* After every tile has read the old history. */
    if (hist) mom_conv_hist_push(B, L, D, K, rows, x, ldx, hist);
}

/* dx[s] = sum_j g[s+j] w[K-1-j] over s+j < L, j ascending: the order in which
 * the reference adds into its zeroed dx. ring holds g by t mod 16. */
static inline __attribute__((always_inline)) __m512 conv_dx512(int K, int s, int L, const __m512 *ring,
                                                               const __m512 *wk)
{
    __m512 a = _mm512_mul_ps(ring[s & 15], wk[K - 1]);
    for (int j = 1; j < K && s + j < L; j++) a = _mm512_add_ps(a, _mm512_mul_ps(ring[(s + j) & 15], wk[K - 1 - j]));
    return a;
}

/* Sums and taps of one 16-channel block over the backward pass. */
typedef struct conv_block {
    __m512 w[MAX_TAPS], dw[MAX_TAPS], bias, db;
    __m512 ring[16]; /* g by t mod 16: the dx of row t - K + 1 needs g[t-K+1 .. t] */
} conv_block;

/* All of (B, L) for the channels [c0, c0 + 16 nb), nb <= CHUNK_BLOCKS. */
static inline __attribute__((always_inline)) void conv_bwd_chunk(int K, int B, int L, int D, int c0, int nb,
                                                                 const int32_t *rows, const float *x, int ldx,
                                                                 const float *w, const float *b,
                                                                 const float *dout, float *dx, int lddx,
                                                                 float *dw, float *db)
{
    const float *xp[MAX_TAPS];
    conv_block blk[CHUNK_BLOCKS];
    for (int j = 0; j < nb; j++) {
        const int d0 = c0 + 16 * j;
        const __mmask16 m = mom_mask16(D - d0);
        load_taps(K, d0, m, w, blk[j].w);
        load_taps(K, d0, m, dw, blk[j].dw);
        blk[j].bias = _mm512_maskz_loadu_ps(m, b + d0);
        blk[j].db = _mm512_maskz_loadu_ps(m, db + d0);
    }
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int bi = 0; bi < B; bi++) {
        for (int t = 0; t < L; t++) {
            const int s = t - (K - 1);
            tap_rows(K, L, D, rows, bi, t, x, ldx, NULL, xp);
            const int k0 = first_tap(K, t, NULL);
            const float *gt = dout + mom_row(rows, bi, L, t) * D;
            float *dxs = s >= 0 ? dx + mom_row(rows, bi, L, s) * lddx : NULL;
            if (t + PREFETCH_AHEAD < L) {
                const size_t ahead = mom_row(rows, bi, L, t + PREFETCH_AHEAD);
                prefetch_floats(x + ahead * ldx + c0, 16 * nb);
                prefetch_floats(dout + ahead * D + c0, 16 * nb);
                /* dx's row trails t by K - 1. */
                if (t + PREFETCH_AHEAD - (K - 1) >= 0)
                    prefetch_floats_w(dx + mom_row(rows, bi, L, t + PREFETCH_AHEAD - (K - 1)) * (size_t)lddx + c0,
                                      16 * nb);
            }
            for (int j = 0; j < nb; j++) {
                conv_block *k = &blk[j];
                const int d0 = c0 + 16 * j;
                const __mmask16 m = mom_mask16(D - d0);
                const __m512 p = conv_pre512(K, k0, m, d0, xp, k->w, k->bias);
                const __m512 sg = mom_sigmoid512(p);
                /* silu'(p) = sig (1 + p (1 - sig)), multiplied in the reference's order. */
                const __m512 g = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, gt + d0), sg),
                                               _mm512_add_ps(one, _mm512_mul_ps(p, _mm512_sub_ps(one, sg))));
                k->db = _mm512_add_ps(k->db, g);
                for (int i = k0; i < K; i++) {
                    const __m512 xi = _mm512_maskz_loadu_ps(m, xp[i] + d0);
                    k->dw[i] = _mm512_add_ps(k->dw[i], _mm512_mul_ps(g, xi));
                }
                k->ring[t & 15] = g;
                if (dxs) _mm512_mask_storeu_ps(dxs + d0, m, conv_dx512(K, s, L, k->ring, k->w));
            }
        }
        for (int s = L - (K - 1) > 0 ? L - (K - 1) : 0; s < L; s++) {
            float *dxs = dx + mom_row(rows, bi, L, s) * lddx;
            for (int j = 0; j < nb; j++) {
                const int d0 = c0 + 16 * j;
                const __m512 v = conv_dx512(K, s, L, blk[j].ring, blk[j].w);
                _mm512_mask_storeu_ps(dxs + d0, mom_mask16(D - d0), v);
            }
        }
    }
    const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(K));
    for (int j = 0; j < nb; j++) {
        const int d0 = c0 + 16 * j;
        const __mmask16 m = mom_mask16(D - d0);
        for (int i = 0; i < K; i++) {
            const __m512i at = _mm512_add_epi32(idx, _mm512_set1_epi32(i));
            _mm512_mask_i32scatter_ps(dw + (size_t)d0 * K, m, at, blk[j].dw[i], 4);
        }
        _mm512_mask_storeu_ps(db + d0, m, blk[j].db);
    }
}

void mom_conv_silu_bwd_avx512(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                              const float *w, const float *b, const float *dout, float *dx, int lddx,
                              float *dw, float *db)
{
#pragma omp parallel
    {
        int c0, c1;
        mom_column_span(D, &c0, &c1);
        for (int c = c0; c < c1; c += 16 * CHUNK_BLOCKS) {
            const int nb = (c1 - c + 15) / 16 < CHUNK_BLOCKS ? (c1 - c + 15) / 16 : CHUNK_BLOCKS;
            if (K == 4)
                conv_bwd_chunk(4, B, L, D, c, nb, rows, x, ldx, w, b, dout, dx, lddx, dw, db);
            else
                conv_bwd_chunk(K, B, L, D, c, nb, rows, x, ldx, w, b, dout, dx, lddx, dw, db);
        }
    }
}
