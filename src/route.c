/* Per-batch modality routing: a stable counting sort of token positions by
 * modality. perm[i] is the position of the i-th token in modality order, so
 * modality m owns the contiguous slice [offset[m], offset[m+1]) of any matrix
 * gathered through perm. Built once per batch, reused by all four
 * projections in forward and backward. */
#include "model.h"

void route_build(route *r, int n_mod, const uint8_t *modality, int n, int32_t *perm)
{
    int count[MOM_MAX_MODALITIES] = {0};
    for (int i = 0; i < n; i++) count[modality[i]]++;
    r->n_mod = n_mod;
    r->offset[0] = 0;
    for (int m = 0; m < n_mod; m++) r->offset[m + 1] = r->offset[m] + count[m];
    int next[MOM_MAX_MODALITIES];
    for (int m = 0; m < n_mod; m++) next[m] = r->offset[m];
    for (int i = 0; i < n; i++) perm[next[modality[i]]++] = i;
}
