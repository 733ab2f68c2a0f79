/* How the SIMD scans' backward (scan_avx512.c, vec_scan.c) cuts its items,
 * (batch row, channel group) in row-major order, into a fixed number of
 * parts: the count the scratch was sized for, not how many threads happen
 * to run, so each part's partial sums, added in part order, give the same
 * bits for a given count. Part q owns items [lo, hi): batch rows
 * first_row..last_row. */
#ifndef MOM_SCAN_PARTS_H
#define MOM_SCAN_PARTS_H

typedef struct scan_part {
    long long lo, hi;
    int first_row, last_row; /* meaningful when not empty (lo < hi) */
} scan_part;

/* Part q of `parts`, G channel groups per batch row, B batch rows. */
static inline scan_part scan_part_of(int B, long long G, int parts, int q)
{
    const long long items = (long long)B * G;
    scan_part p;
    p.lo = items * q / parts;
    p.hi = items * (q + 1) / parts;
    p.first_row = (int)(p.lo / G);
    p.last_row = p.hi > p.lo ? (int)((p.hi - 1) / G) : p.first_row;
    return p;
}

/* Whether part p reaches batch row b (so holds a partial of its dB|dC). */
static inline int scan_part_has_row(const scan_part *p, int b)
{
    return p->lo < p->hi && b >= p->first_row && b <= p->last_row;
}

/* The most batch rows one part's items can span (its dB|dC partial holds
 * that many rows). */
static inline int scan_rows_per_part(int B, long long G, int parts)
{
    const long long items = (long long)B * G, per = (items + parts - 1) / parts, rows = (per + G - 1) / G + 1;
    return (int)(rows < B ? rows : B);
}

#endif
