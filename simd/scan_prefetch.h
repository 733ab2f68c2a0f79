/* What the SIMD scans (scan_avx512.c, vec_scan.c; d_state 16) ask for
 * ahead of time. Their rows are 2-4 KiB apart (mom_row), too far for the
 * hardware prefetchers, so each loop asks PF_AHEAD positions ahead for the
 * lines it will touch: that halved the AVX-512 scan's time. Read
 * prefetches only, for the outputs too, as the AVX-512 scan always had. */
#ifndef MOM_SCAN_PREFETCH_H
#define MOM_SCAN_PREFETCH_H

#include "kernels.h"
#include "prefetch.h"

#define PF_AHEAD 8

MOM_PREFETCH_HELPER void scan_pf(const float *p) { __builtin_prefetch(p, 0, 3); }

/* Row r's delta, u, B and C (16 floats each, possibly across two lines):
 * what the forward and the backward's recompute read. */
MOM_PREFETCH_HELPER void scan_pf_inputs(const mom_scan_args *a, size_t r, int d0)
{
    scan_pf(a->delta + r * a->D + d0);
    scan_pf(a->u + r * a->D + d0);
    scan_pf(a->Bm + r * a->ld_bc);
    scan_pf(a->Bm + r * a->ld_bc + 15);
    scan_pf(a->Cm + r * a->ld_bc);
    scan_pf(a->Cm + r * a->ld_bc + 15);
}

/* Row r's lines of the backward loop: z and dy read; dz, du, ddelta and
 * (when kept) y written. */
MOM_PREFETCH_HELPER void scan_pf_backward(const mom_scan_args *a, const mom_scan_grads *gr, size_t r, int d0)
{
    scan_pf(a->z + r * a->ld_z + d0);
    scan_pf(gr->dy + r * a->D + d0);
    scan_pf(gr->dz + r * gr->ld_dz + d0);
    scan_pf(gr->du + r * a->D + d0);
    scan_pf(gr->ddelta + r * a->D + d0);
    if (gr->y) scan_pf(gr->y + r * a->D + d0);
}

#endif
