/* Selective scan, AVX-512: 16 consecutive channels per zmm, and for d_state
 * 16 the 16 states of those channels in 16 registers for a whole chunk.
 * Other d_state values use the scalar reference.
 *
 * Work is split into items (batch row b, channel group g) over a static
 * OpenMP partition. The forward needs no reduction. In the backward, dB and
 * dC sum over channels and dA_log, dD over batch rows: the items are cut
 * into as many parts as the scratch was sized for (the thread count when
 * the model planned), each part adds into its own partials, and the
 * partials are summed in part order, so a run is bit-identical for a given
 * thread count. */
#include <string.h>

#include "kernels_avx512.h"
#include "scan_parts.h"
#include "scan_prefetch.h"
#include "vexp_avx512.h"


#define NS 16 /* the d_state of the fast path */

/* out[n] = sum over the 16 lanes of v[n]: a transpose-and-add tree whose
 * result comes out in natural order (lane n holds the sum of v[n]). */
static inline __m512 reduce16x16(const __m512 *v)
{
    __m512 w[8], x[4], y[2];
    for (int i = 0; i < 8; i++)
        w[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int j = 0; j < 4; j++) {
        const __m512d p = _mm512_castps_pd(w[2 * j]), q = _mm512_castps_pd(w[2 * j + 1]);
        x[j] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(p, q)), _mm512_castpd_ps(_mm512_unpackhi_pd(p, q)));
    }
    for (int k = 0; k < 2; k++)
        y[k] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * k], x[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(x[2 * k], x[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* Index vector l*16 + n for lanes l: element (channel d0+l, state n) of a
 * (D, 16) row-major block starting at channel d0. */
static inline __m512i lane_rows(void)
{
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              _mm512_set1_epi32(NS));
}

/* A[n] over the channels of a group: -exp(A_log[d][n]); and A2 = A log2(e),
 * so each decay exp(delta A) is one mom_exp2_neg512(delta A2). */
static inline void load_A(const float *A_log, int d0, __mmask16 mk, __m512 *A, __m512 *A2)
{
    const __m512i rows = lane_rows();
    for (int n = 0; n < NS; n++) {
        __m512 al = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk, rows, A_log + (size_t)d0 * NS + n, 4);
        A[n] = _mm512_sub_ps(_mm512_setzero_ps(), mom_exp512(al));
        A2[n] = _mm512_mul_ps(A[n], _mm512_set1_ps(1.44269504088896341f));
    }
}

static inline void store_state(float *dst, __mmask16 mk, const __m512 *s)
{
    const __m512i rows = lane_rows();
    for (int n = 0; n < NS; n++) _mm512_mask_i32scatter_ps(dst + n, mk, rows, s[n], 4);
}

static inline void load_state(const float *src, __mmask16 mk, __m512 *s)
{
    const __m512i rows = lane_rows();
    for (int n = 0; n < NS; n++) s[n] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk, rows, src + n, 4);
}

static inline __m512 silu_gate(__m512 z) { return _mm512_mul_ps(z, mom_sigmoid512(z)); }

/* C.s + D u in a fixed order, two chains (even and odd states) so the adds
 * do not wait on each other; the backward recomputes y in the same order. */
static inline __m512 readout(const float *Ct, const __m512 *s, __m512 Du)
{
    __m512 e = Du, o = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int n = 0; n < NS; n += 2) {
        e = _mm512_fmadd_ps(_mm512_set1_ps(Ct[n]), s[n], e);
        o = _mm512_fmadd_ps(_mm512_set1_ps(Ct[n + 1]), s[n + 1], o);
    }
    return _mm512_add_ps(e, o);
}

/* Batch row b over the channel group at d0, whose decays A log2(e) are
 * A2m (read from memory inside the loop, a folded load: the 16 states take
 * 16 of the 32 registers, the decays need the rest). */
static void scan_fwd_row(const mom_scan_args *a, int b, int d0, const float (*A2m)[16], float *y)
{
    const int L = a->L, D = a->D, nc = mom_scan_n_chunks(L, a->chunk);
    const __mmask16 mk = mom_mask16(D - d0);
    __m512 s[NS];
    /* The carry's group block (mom_carry_index): row n at n * w. */
    float *carry = a->carry ? a->carry + (size_t)b * D * NS + (size_t)d0 * NS : NULL;
    const int w = D - d0 < 16 ? D - d0 : 16;
    for (int n = 0; n < NS; n++) s[n] = carry ? _mm512_maskz_loadu_ps(mk, carry + n * w) : _mm512_setzero_ps();
    const __m512 Dsk = _mm512_maskz_loadu_ps(mk, a->Dskip + d0);
    for (int t = 0; t < L; t++) {
        if (a->states && t % a->chunk == 0)
            store_state(a->states + (((size_t)b * nc + t / a->chunk) * D + d0) * NS, mk, s);
        __asm__ volatile("" ::: "memory"); /* keep A2m in memory, not hoisted into registers */
        const size_t r = mom_row(a->rows, b, L, t);
        if (t + PF_AHEAD < L) {
            const size_t q = mom_row(a->rows, b, L, t + PF_AHEAD);
            scan_pf_inputs(a, q, d0);
            scan_pf(a->z + q * a->ld_z + d0);
            scan_pf(y + q * D + d0);
        }
        const __m512 dt = _mm512_maskz_loadu_ps(mk, a->delta + r * D + d0);
        const __m512 u = _mm512_maskz_loadu_ps(mk, a->u + r * D + d0);
        const __m512 du = _mm512_mul_ps(dt, u);
        const float *Bt = a->Bm + r * a->ld_bc, *Ct = a->Cm + r * a->ld_bc;
#pragma GCC unroll 16
        for (int n = 0; n < NS; n++) {
            const __m512 e = mom_exp2_neg512(_mm512_mul_ps(dt, _mm512_load_ps(A2m[n])));
            s[n] = _mm512_fmadd_ps(e, s[n], _mm512_mul_ps(du, _mm512_set1_ps(Bt[n])));
        }
        const __m512 z = _mm512_maskz_loadu_ps(mk, a->z + r * a->ld_z + d0);
        _mm512_mask_storeu_ps(y + r * D + d0, mk, _mm512_mul_ps(readout(Ct, s, _mm512_mul_ps(Dsk, u)), silu_gate(z)));
    }
    if (carry)
        for (int n = 0; n < NS; n++) _mm512_mask_storeu_ps(carry + n * w, mk, s[n]);
}

/* Rows [b0, b1) over channel group g, its decays computed once. */
static void scan_fwd_item(const mom_scan_args *a, int b0, int b1, int g, float *y)
{
    const int d0 = g * 16;
    __m512 A[NS], A2[NS];
    load_A(a->A_log, d0, mom_mask16(a->D - d0), A, A2);
    float A2m[NS][16] __attribute__((aligned(64)));
    for (int n = 0; n < NS; n++) _mm512_store_ps(A2m[n], A2[n]);
    for (int b = b0; b < b1; b++) scan_fwd_row(a, b, d0, (const float(*)[16])A2m, y);
}

/* Items are (batch row, channel group). A few positions (a decode step is
 * one) do not pay for the decays' 16 gathers and exps per row: then an
 * item is a channel group over every batch row. */
#define FEW_POSITIONS 16
void mom_scan_fwd_avx512(const mom_scan_args *a, float *y)
{
    if (a->N != NS) {
        mom_scan_fwd_ref(a, y);
        return;
    }
    const int G = (a->D + 15) / 16;
    if (a->L < FEW_POSITIONS) {
#pragma omp parallel for schedule(static)
        for (int g = 0; g < G; g++) scan_fwd_item(a, 0, a->B, g, y);
        return;
    }
    const long long items = (long long)a->B * G;
#pragma omp parallel for schedule(static)
    for (long long it = 0; it < items; it++) scan_fwd_item(a, (int)(it / G), (int)(it / G) + 1, (int)(it % G), y);
}

/* Per-thread scratch: one chunk of states S (chunk + 1 x 16 zmm, the first
 * the state entering the chunk) and decays E (chunk x 16 zmm), partial
 * dB|dC for the batch rows the thread's items touch (at most
 * scan_rows_per_part of them, L x 2N each), partial dA and dD. */
typedef struct scan_scratch {
    float *S, *E, *dbc, *dA, *dD;
} scan_scratch;


/* A multiple of 16 floats, so every thread's piece stays 64-byte aligned. */
static size_t per_thread_floats(const mom_scan_args *a, int n_threads)
{
    const size_t n = (2 * (size_t)a->chunk + 1) * NS * 16 +
                     (size_t)scan_rows_per_part(a->B, (a->D + 15) / 16, n_threads) * a->L * 2 * NS + (size_t)a->D * NS + (size_t)a->D;
    return (n + 15) & ~(size_t)15;
}

size_t mom_scan_bwd_work_floats_avx512(const mom_scan_args *a, int n_threads)
{
    if (a->N != NS) return mom_scan_bwd_work_floats(a, n_threads);
    if (n_threads < 1) n_threads = 1;
    return (size_t)n_threads * per_thread_floats(a, n_threads) + 16;
}

/* Thread p's scratch, the work sized for `sized` threads. */
static scan_scratch scratch_of(const mom_scan_args *a, float *work, int p, int sized)
{
    /* 64-byte aligned pieces so the chunk buffers take aligned stores. */
    float *base = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63) + (size_t)p * per_thread_floats(a, sized);
    scan_scratch s;
    s.S = base;
    s.E = s.S + ((size_t)a->chunk + 1) * NS * 16;
    s.dbc = s.E + (size_t)a->chunk * NS * 16;
    s.dA = s.dbc + (size_t)scan_rows_per_part(a->B, (a->D + 15) / 16, sized) * a->L * 2 * NS;
    s.dD = s.dA + (size_t)a->D * NS;
    return s;
}

/* lam_t = dL/ds_t = gh_t C_t + exp(delta_(t+1) A) lam_(t+1), the second term
 * kept in carry; see scan_ref.c for the whole derivation. */
/* b0: the first batch row of this thread's dB|dC partial. */
static void scan_bwd_item(const mom_scan_args *a, const mom_scan_grads *gr, int b, int g, const scan_scratch *w,
                          int b0)
{
    const int L = a->L, D = a->D, C = a->chunk, nc = mom_scan_n_chunks(L, C), d0 = g * 16;
    const __mmask16 mk = mom_mask16(D - d0);
    __m512 A[NS], A2[NS], carry[NS], s[NS];
    load_A(a->A_log, d0, mk, A, A2);
    /* Loop constants and slow accumulators live in memory (folded loads);
     * the registers go to the recurrences (s forward, carry backward). */
    float Am[NS][16] __attribute__((aligned(64))), A2m[NS][16] __attribute__((aligned(64)));
    float dAm[NS][16] __attribute__((aligned(64)));
    for (int n = 0; n < NS; n++) {
        _mm512_store_ps(Am[n], A[n]);
        _mm512_store_ps(A2m[n], A2[n]);
        _mm512_store_ps(dAm[n], _mm512_setzero_ps());
        carry[n] = _mm512_setzero_ps();
    }
    __m512 dD = _mm512_setzero_ps();
    const __m512 Dsk = _mm512_maskz_loadu_ps(mk, a->Dskip + d0);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int c = nc - 1; c >= 0; c--) {
        const int t0 = c * C, t1 = t0 + C < L ? t0 + C : L;
        /* S slot 0 holds the state entering the chunk, slot t - t0 + 1 the
         * state after position t; E slot t - t0 the decay at t. */
        load_state(a->states + (((size_t)b * nc + c) * D + d0) * NS, mk, s);
        for (int n = 0; n < NS; n++) _mm512_store_ps(w->S + n * 16, s[n]);
        /* The chunk's first rows, which the loop's look-ahead never asks for. */
        for (int t = t0; t < t0 + PF_AHEAD && t < t1; t++) scan_pf_inputs(a, mom_row(a->rows, b, L, t), d0);
        for (int t = t0; t < t1; t++) {
            __asm__ volatile("" ::: "memory");
            const size_t r = mom_row(a->rows, b, L, t);
            if (t + PF_AHEAD < t1) scan_pf_inputs(a, mom_row(a->rows, b, L, t + PF_AHEAD), d0);
            const __m512 dt = _mm512_maskz_loadu_ps(mk, a->delta + r * D + d0);
            const __m512 du = _mm512_mul_ps(dt, _mm512_maskz_loadu_ps(mk, a->u + r * D + d0));
            const float *Bt = a->Bm + r * a->ld_bc;
            float *St = w->S + (size_t)(t - t0 + 1) * NS * 16, *Et = w->E + (size_t)(t - t0) * NS * 16;
#pragma GCC unroll 16
            for (int n = 0; n < NS; n++) {
                const __m512 e = mom_exp2_neg512(_mm512_mul_ps(dt, _mm512_load_ps(A2m[n])));
                s[n] = _mm512_fmadd_ps(e, s[n], _mm512_mul_ps(du, _mm512_set1_ps(Bt[n])));
                _mm512_store_ps(St + n * 16, s[n]);
                _mm512_store_ps(Et + n * 16, e);
            }
        }
        for (int t = t1 - 1; t >= t0; t--) {
            __asm__ volatile("" ::: "memory");
            const size_t r = mom_row(a->rows, b, L, t);
            /* delta, u, B and C of this chunk are still in L1 from the
             * recompute; z, dy and the outputs are not. Near the chunk's
             * start the look-ahead reaches into the previous chunk, whose
             * backward comes next (after its recompute): those rows'
             * misses then are not all taken at once. Both edges together
             * took about 6% off the backward (`mom bench kernels`, AMD
             * EPYC Zen 5). */
            if (t - PF_AHEAD >= 0) scan_pf_backward(a, gr, mom_row(a->rows, b, L, t - PF_AHEAD), d0);
            const __m512 dt = _mm512_maskz_loadu_ps(mk, a->delta + r * D + d0);
            const __m512 u = _mm512_maskz_loadu_ps(mk, a->u + r * D + d0);
            const __m512 z = _mm512_maskz_loadu_ps(mk, a->z + r * a->ld_z + d0);
            const __m512 gy = _mm512_maskz_loadu_ps(mk, gr->dy + r * D + d0);
            const float *Bt = a->Bm + r * a->ld_bc, *Ct = a->Cm + r * a->ld_bc;
            const float *St = w->S + (size_t)(t - t0 + 1) * NS * 16, *Sp = St - NS * 16;
            const float *Et = w->E + (size_t)(t - t0) * NS * 16;
            __m512 Sv[NS];
#pragma GCC unroll 16
            for (int n = 0; n < NS; n++) Sv[n] = _mm512_load_ps(St + n * 16);
            const __m512 yscan = readout(Ct, Sv, _mm512_mul_ps(Dsk, u));
            const __m512 sg = mom_sigmoid512(z);
            if (gr->y) _mm512_mask_storeu_ps(gr->y + r * D + d0, mk, _mm512_mul_ps(yscan, _mm512_mul_ps(z, sg)));
            /* dz = gy yscan sig(z) (1 + z (1 - sig(z))) */
            const __m512 dsilu = _mm512_mul_ps(sg, _mm512_fmadd_ps(z, _mm512_sub_ps(one, sg), one));
            _mm512_mask_storeu_ps(gr->dz + r * gr->ld_dz + d0, mk, _mm512_mul_ps(_mm512_mul_ps(gy, yscan), dsilu));
            const __m512 gh = _mm512_mul_ps(gy, _mm512_mul_ps(z, sg));
            dD = _mm512_fmadd_ps(gh, u, dD);
            const __m512 dtu = _mm512_mul_ps(dt, u);
            __m512 lamB = _mm512_setzero_ps(), qA = _mm512_setzero_ps();
            __m512 vB[NS], vC[NS];
#pragma GCC unroll 16
            for (int n = 0; n < NS; n++) {
                const __m512 e = _mm512_load_ps(Et + n * 16);
                const __m512 lam = _mm512_fmadd_ps(gh, _mm512_set1_ps(Ct[n]), carry[n]);
                vC[n] = _mm512_mul_ps(gh, Sv[n]);
                vB[n] = _mm512_mul_ps(lam, dtu);
                lamB = _mm512_fmadd_ps(lam, _mm512_set1_ps(Bt[n]), lamB);
                carry[n] = _mm512_mul_ps(e, lam);
                const __m512 q = _mm512_mul_ps(carry[n], _mm512_load_ps(Sp + n * 16)); /* lam e s_(t-1) */
                _mm512_store_ps(dAm[n], _mm512_fmadd_ps(q, dt, _mm512_load_ps(dAm[n])));
                qA = _mm512_fmadd_ps(q, _mm512_load_ps(Am[n]), qA);
            }
            /* du = D gh + delta sum_n lam B;  ddelta = u sum_n lam B + sum_n lam A e s_(t-1) */
            _mm512_mask_storeu_ps(gr->du + r * D + d0, mk, _mm512_fmadd_ps(dt, lamB, _mm512_mul_ps(Dsk, gh)));
            _mm512_mask_storeu_ps(gr->ddelta + r * D + d0, mk, _mm512_fmadd_ps(u, lamB, qA));
            float *pr = w->dbc + ((size_t)(b - b0) * L + t) * 2 * NS;
            _mm512_storeu_ps(pr, _mm512_add_ps(_mm512_loadu_ps(pr), reduce16x16(vB)));
            _mm512_storeu_ps(pr + NS, _mm512_add_ps(_mm512_loadu_ps(pr + NS), reduce16x16(vC)));
        }
    }
    /* dA_log = dA * A, into this thread's partial. */
    float tmpA[16], tmpD[16];
    const int nl = D - d0 < 16 ? D - d0 : 16;
    _mm512_storeu_ps(tmpD, dD);
    for (int l = 0; l < nl; l++) w->dD[d0 + l] += tmpD[l];
    for (int n = 0; n < NS; n++) {
        _mm512_storeu_ps(tmpA, _mm512_mul_ps(_mm512_load_ps(dAm[n]), A[n]));
        for (int l = 0; l < nl; l++) w->dA[(size_t)(d0 + l) * NS + n] += tmpA[l];
    }
}

/* The items are split into work_threads parts, fixed by the scratch (not
 * by how many threads happen to run), so the sums below come out the same
 * for a given work_threads. */
void mom_scan_bwd_avx512(const mom_scan_args *a, const mom_scan_grads *g)
{
    if (a->N != NS) {
        mom_scan_bwd_ref(a, g);
        return;
    }
    const long long G = (a->D + 15) / 16;
    const size_t L = (size_t)a->L, n_pos = (size_t)a->B * L;
    const int parts = g->work_threads < 1 ? 1 : g->work_threads;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int q = 0; q < parts; q++) {
            const scan_scratch w = scratch_of(a, g->work, q, parts);
            const scan_part pq = scan_part_of(a->B, G, parts, q);
            const int b0 = pq.first_row;
            if (pq.lo < pq.hi) memset(w.dbc, 0, sizeof(float) * (size_t)(pq.last_row - b0 + 1) * L * 2 * NS);
            memset(w.dA, 0, sizeof(float) * (size_t)a->D * NS);
            memset(w.dD, 0, sizeof(float) * (size_t)a->D);
            for (long long it = pq.lo; it < pq.hi; it++)
                scan_bwd_item(a, g, (int)(it / G), (int)(it % G), &w, b0);
        }
        /* (the implied barrier) Partials summed in part order, rows split
         * across threads: a row's partials are those of the parts reaching it. */
#pragma omp for schedule(static)
        for (size_t r = 0; r < n_pos; r++) {
            const int b = (int)(r / L);
            __m512 sb = _mm512_setzero_ps(), sc = _mm512_setzero_ps();
            for (int q = 0; q < parts; q++) {
                const scan_part pq = scan_part_of(a->B, G, parts, q);
                if (!scan_part_has_row(&pq, b)) continue;
                const float *pr = scratch_of(a, g->work, q, parts).dbc + ((size_t)(b - pq.first_row) * L + r % L) * 2 * NS;
                sb = _mm512_add_ps(sb, _mm512_loadu_ps(pr));
                sc = _mm512_add_ps(sc, _mm512_loadu_ps(pr + NS));
            }
            const size_t dst = mom_row(a->rows, b, a->L, (int)(r % L));
            _mm512_storeu_ps(g->dB + dst * g->ld_dbc, sb);
            _mm512_storeu_ps(g->dC + dst * g->ld_dbc, sc);
        }
    }
    for (int q = 0; q < parts; q++) {
        const scan_scratch wq = scratch_of(a, g->work, q, parts);
        for (size_t i = 0; i < (size_t)a->D * NS; i++) g->dA_log[i] += wq.dA[i];
        for (int d = 0; d < a->D; d++) g->dD[d] += wq.dD[d];
    }
}
