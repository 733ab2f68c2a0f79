/* The calling thread's share of a row's column blocks, for sums over rows
 * that must not depend on the thread count: each thread owns a contiguous
 * span of 16-column blocks and adds every row into it in row order, so each
 * element sees the reference's order of additions, whatever the split.
 * Call inside a parallel region (or outside one: the whole row). */
#ifndef MOM_COLUMN_SPAN_H
#define MOM_COLUMN_SPAN_H

#ifdef _OPENMP
#include <omp.h>
#endif

/* Columns [*c0, *c1) of [0, cols). */
static inline void mom_column_span(int cols, int *c0, int *c1)
{
#ifdef _OPENMP
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
#else
    const int nt = 1, id = 0;
#endif
    const int blocks = (cols + 15) / 16, per = (blocks + nt - 1) / nt;
    const int b0 = id * per < blocks ? id * per : blocks, b1 = b0 + per < blocks ? b0 + per : blocks;
    *c0 = b0 * 16;
    *c1 = b1 * 16 < cols ? b1 * 16 : cols;
}

#endif
