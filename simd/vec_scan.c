/* Selective scan over the lanes of vec.h: VW consecutive channels per
 * vector, and for d_state 16 the 16 states of those channels as 16 vectors
 * for a whole chunk (other d_state values run the scalar reference). The
 * structure is scan_avx512.c's, lane width aside; see there and scan_ref.c
 * for the math.
 *
 * Work is split into items (batch row b, channel group of VW). The
 * backward cuts the items into as many parts as its scratch was sized for;
 * each part adds into its own partials of dB|dC, dA_log and dD, summed in
 * part order afterwards, so a run is bit-identical for a given thread
 * count. */
#include "scan_parts.h"
#include "scan_prefetch.h"
#include "vec.h"

#define NS 16 /* the d_state of the fast path */

/* A[n] = -exp(A_log[d][n]) over the lanes' channels, and A2 = A log2(e), so
 * each decay exp(delta A) is one vexp2_neg(delta A2). */
static void load_A(const float *A_log, int d0, int nl, vf *A, vf *A2)
{
    for (int n = 0; n < NS; n++) {
        vf al = vset1(0.0f);
        for (int l = 0; l < nl; l++) al[l] = A_log[(size_t)(d0 + l) * NS + n];
        A[n] = -vexp(al);
        A2[n] = A[n] * 1.44269504088896341f;
    }
}

/* The (D, 16) state block of a chunk, channels d0.. as lanes. */
static void store_state(float *dst, int nl, const vf *s)
{
    for (int n = 0; n < NS; n++)
        for (int l = 0; l < nl; l++) dst[(size_t)l * NS + n] = s[n][l];
}
static void load_state(const float *src, int nl, vf *s)
{
    for (int n = 0; n < NS; n++) {
        s[n] = vset1(0.0f);
        for (int l = 0; l < nl; l++) s[n][l] = src[(size_t)l * NS + n];
    }
}

/* The carry's rows for channels d0..: groups of 16 channels, each n-major
 * (mom_carry_index), so state row n of the lanes is contiguous. */
static float *carry_at(const mom_scan_args *a, int b, int d0, int *row_stride)
{
    const int g = d0 / 16, w16 = a->D - 16 * g < 16 ? a->D - 16 * g : 16;
    *row_stride = w16;
    return a->carry + (size_t)b * a->D * NS + (size_t)g * 16 * NS + (size_t)(d0 - 16 * g);
}

/* C.s + D u, two chains (even and odd states); the backward recomputes y
 * in the same order, so it gets the forward's bits. */
static inline vf readout(const float *Ct, const vf *s, vf Du)
{
    vf e = Du, o = vset1(0.0f);
    for (int n = 0; n < NS; n += 2) {
        e = vfma(vset1(Ct[n]), s[n], e);
        o = vfma(vset1(Ct[n + 1]), s[n + 1], o);
    }
    return e + o;
}

static void scan_fwd_item(const mom_scan_args *a, int b, int d0, float *y)
{
    const int L = a->L, D = a->D, nc = mom_scan_n_chunks(L, a->chunk), nl = D - d0 < VW ? D - d0 : VW;
    vf A[NS], A2[NS], s[NS];
    load_A(a->A_log, d0, nl, A, A2);
    int cw = 0;
    float *carry = a->carry ? carry_at(a, b, d0, &cw) : NULL;
    for (int n = 0; n < NS; n++) s[n] = carry ? vload_n(carry + (size_t)n * cw, nl) : vset1(0.0f);
    const vf Dsk = vload_n(a->Dskip + d0, nl);
    for (int t = 0; t < L; t++) {
        if (a->states && t % a->chunk == 0)
            store_state(a->states + (((size_t)b * nc + t / a->chunk) * D + d0) * NS, nl, s);
        const size_t r = mom_row(a->rows, b, L, t);
        if (t + PF_AHEAD < L) {
            const size_t q = mom_row(a->rows, b, L, t + PF_AHEAD);
            scan_pf_inputs(a, q, d0);
            scan_pf(a->z + q * a->ld_z + d0);
            scan_pf(y + q * D + d0);
        }
        const vf dt = vload_n(a->delta + r * D + d0, nl), u = vload_n(a->u + r * D + d0, nl), du = dt * u;
        const float *Bt = a->Bm + r * a->ld_bc, *Ct = a->Cm + r * a->ld_bc;
        for (int n = 0; n < NS; n++) s[n] = vfma(vexp2_neg(dt * A2[n]), s[n], du * Bt[n]);
        const vf z = vload_n(a->z + r * a->ld_z + d0, nl);
        vstore_n(y + r * D + d0, readout(Ct, s, Dsk * u) * (z * vsigmoid(z)), nl);
    }
    if (carry)
        for (int n = 0; n < NS; n++) vstore_n(carry + (size_t)n * cw, s[n], nl);
}

void VNAME(scan_fwd)(const mom_scan_args *a, float *y)
{
    if (a->N != NS) {
        mom_scan_fwd_ref(a, y);
        return;
    }
    const int G = (a->D + VW - 1) / VW;
    const long long items = (long long)a->B * G;
#pragma omp parallel for schedule(static)
    for (long long it = 0; it < items; it++) scan_fwd_item(a, (int)(it / G), (int)(it % G) * VW, y);
}

/* Per-thread scratch: one chunk of states S (chunk + 1 rows of 16 vectors,
 * the first the state entering the chunk) and decays E (chunk rows), the
 * partial dB|dC of the batch rows its items touch (L x 2N each), partial
 * dA and dD. */
typedef struct scan_scratch {
    float *S, *E, *dbc, *dA, *dD;
} scan_scratch;


static size_t per_part_floats(const mom_scan_args *a, int parts)
{
    return (2 * (size_t)a->chunk + 1) * NS * VW + (size_t)scan_rows_per_part(a->B, (a->D + VW - 1) / VW, parts) * a->L * 2 * NS +
           (size_t)a->D * NS + (size_t)a->D;
}

size_t VNAME(scan_bwd_work_floats)(const mom_scan_args *a, int n_threads)
{
    if (a->N != NS) return mom_scan_bwd_work_floats(a, n_threads);
    if (n_threads < 1) n_threads = 1;
    return (size_t)n_threads * per_part_floats(a, n_threads);
}

static scan_scratch scratch_of(const mom_scan_args *a, float *work, int p, int parts)
{
    scan_scratch s;
    s.S = work + (size_t)p * per_part_floats(a, parts);
    s.E = s.S + ((size_t)a->chunk + 1) * NS * VW;
    s.dbc = s.E + (size_t)a->chunk * NS * VW;
    s.dA = s.dbc + (size_t)scan_rows_per_part(a->B, (a->D + VW - 1) / VW, parts) * a->L * 2 * NS;
    s.dD = s.dA + (size_t)a->D * NS;
    return s;
}

/* Batch row b, channels d0..; b0 is the first batch row of the part's dB|dC. */
static void scan_bwd_item(const mom_scan_args *a, const mom_scan_grads *gr, int b, int d0, const scan_scratch *w,
                          int b0)
{
    const int L = a->L, D = a->D, C = a->chunk, nc = mom_scan_n_chunks(L, C), nl = D - d0 < VW ? D - d0 : VW;
    vf A[NS], A2[NS], carry[NS], s[NS], dA[NS];
    load_A(a->A_log, d0, nl, A, A2);
    for (int n = 0; n < NS; n++) carry[n] = dA[n] = vset1(0.0f);
    vf dD = vset1(0.0f);
    const vf Dsk = vload_n(a->Dskip + d0, nl);
    for (int c = nc - 1; c >= 0; c--) {
        const int t0 = c * C, t1 = t0 + C < L ? t0 + C : L;
        /* S row 0: the state entering the chunk; row t - t0 + 1: after t.
         * E row t - t0: the decays at t. */
        load_state(a->states + (((size_t)b * nc + c) * D + d0) * NS, nl, s);
        for (int n = 0; n < NS; n++) vstore(w->S + (size_t)n * VW, s[n]);
        /* The chunk's first rows, which the loop's look-ahead never asks for. */
        for (int t = t0; t < t0 + PF_AHEAD && t < t1; t++) scan_pf_inputs(a, mom_row(a->rows, b, L, t), d0);
        for (int t = t0; t < t1; t++) {
            const size_t r = mom_row(a->rows, b, L, t);
            if (t + PF_AHEAD < t1) scan_pf_inputs(a, mom_row(a->rows, b, L, t + PF_AHEAD), d0);
            const vf dt = vload_n(a->delta + r * D + d0, nl), du = dt * vload_n(a->u + r * D + d0, nl);
            const float *Bt = a->Bm + r * a->ld_bc;
            float *St = w->S + (size_t)(t - t0 + 1) * NS * VW, *Et = w->E + (size_t)(t - t0) * NS * VW;
            for (int n = 0; n < NS; n++) {
                const vf e = vexp2_neg(dt * A2[n]);
                s[n] = vfma(e, s[n], du * Bt[n]);
                vstore(St + (size_t)n * VW, s[n]);
                vstore(Et + (size_t)n * VW, e);
            }
        }
        for (int t = t1 - 1; t >= t0; t--) {
            const size_t r = mom_row(a->rows, b, L, t);
            /* delta, u, B and C are in cache from the recompute. Near the
             * chunk's start this reaches into the previous chunk, whose
             * backward comes next. */
            if (t - PF_AHEAD >= 0) scan_pf_backward(a, gr, mom_row(a->rows, b, L, t - PF_AHEAD), d0);
            const vf dt = vload_n(a->delta + r * D + d0, nl), u = vload_n(a->u + r * D + d0, nl);
            const vf z = vload_n(a->z + r * a->ld_z + d0, nl), gy = vload_n(gr->dy + r * D + d0, nl);
            const float *Bt = a->Bm + r * a->ld_bc, *Ct = a->Cm + r * a->ld_bc;
            const float *St = w->S + (size_t)(t - t0 + 1) * NS * VW, *Sp = St - NS * VW;
            const float *Et = w->E + (size_t)(t - t0) * NS * VW;
            vf Sv[NS];
            for (int n = 0; n < NS; n++) Sv[n] = vload(St + (size_t)n * VW);
            const vf yscan = readout(Ct, Sv, Dsk * u), sg = vsigmoid(z);
            if (gr->y) vstore_n(gr->y + r * D + d0, yscan * (z * sg), nl);
            /* dz = gy yscan sig(z) (1 + z (1 - sig(z))) */
            const vf dsilu = sg * vfma(z, 1.0f - sg, vset1(1.0f));
            vstore_n(gr->dz + r * gr->ld_dz + d0, gy * yscan * dsilu, nl);
            const vf gh = gy * (z * sg), dtu = dt * u;
            dD = vfma(gh, u, dD);
            vf lamB = vset1(0.0f), qA = vset1(0.0f), vB[NS], vC[NS];
            for (int n = 0; n < NS; n++) {
                const vf lam = vfma(gh, vset1(Ct[n]), carry[n]);
                vC[n] = gh * Sv[n];
                vB[n] = lam * dtu;
                lamB = vfma(lam, vset1(Bt[n]), lamB);
                carry[n] = vload(Et + (size_t)n * VW) * lam;
                const vf q = carry[n] * vload(Sp + (size_t)n * VW); /* lam e s_(t-1) */
                dA[n] = vfma(q, dt, dA[n]);
                qA = vfma(q, A[n], qA);
            }
            float *pr = w->dbc + ((size_t)(b - b0) * L + t) * 2 * NS;
            vreduce16_add(vB, pr);
            vreduce16_add(vC, pr + NS);
            /* du = D gh + delta sum_n lam B;  ddelta = u sum_n lam B + sum_n lam A e s_(t-1) */
            vstore_n(gr->du + r * D + d0, vfma(dt, lamB, Dsk * gh), nl);
            vstore_n(gr->ddelta + r * D + d0, vfma(u, lamB, qA), nl);
        }
    }
    for (int l = 0; l < nl; l++) {
        w->dD[d0 + l] += dD[l];
        for (int n = 0; n < NS; n++) w->dA[(size_t)(d0 + l) * NS + n] += dA[n][l] * A[n][l];
    }
}

void VNAME(scan_bwd)(const mom_scan_args *a, const mom_scan_grads *g)
{
    if (a->N != NS) {
        mom_scan_bwd_ref(a, g);
        return;
    }
    const long long G = (a->D + VW - 1) / VW;
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
                scan_bwd_item(a, g, (int)(it / G), (int)(it % G) * VW, &w, b0);
        }
        /* (the implied barrier) Partials summed in part order. */
#pragma omp for schedule(static)
        for (size_t r = 0; r < n_pos; r++) {
            const int b = (int)(r / L);
            float sum[2 * NS] = {0};
            for (int q = 0; q < parts; q++) {
                const scan_part pq = scan_part_of(a->B, G, parts, q);
                if (!scan_part_has_row(&pq, b)) continue;
                const float *pr = scratch_of(a, g->work, q, parts).dbc + ((size_t)(b - pq.first_row) * L + r % L) * 2 * NS;
                for (int i = 0; i < 2 * NS; i++) sum[i] += pr[i];
            }
            const size_t dst = mom_row(a->rows, b, a->L, (int)(r % L));
            memcpy(g->dB + dst * g->ld_dbc, sum, sizeof(float) * NS);
            memcpy(g->dC + dst * g->ld_dbc, sum + NS, sizeof(float) * NS);
        }
    }
    for (int q = 0; q < parts; q++) {
        const scan_scratch wq = scratch_of(a, g->work, q, parts);
        for (size_t i = 0; i < (size_t)a->D * NS; i++) g->dA_log[i] += wq.dA[i];
        for (int d = 0; d < a->D; d++) g->dD[d] += wq.dD[d];
    }
}
