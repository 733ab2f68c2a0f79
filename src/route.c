/* Per-batch modality routing: a stable counting sort of token positions by
 * modality. The model runs the whole batch in this order: row i holds
 * position perm[i], and position p sits at row rows[p], so modality m owns
 * the contiguous rows [offset[m], offset[m+1]) of every activation, and
 * within a modality positions keep their time order. Built once per batch
 * on the host; the tokens and targets are uploaded already in this order. */
#include "model.h"

void route_build(route *r, int n_mod, const uint8_t *modality, int n, int32_t *perm, int32_t *rows)
{
    int count[MOM_MAX_MODALITIES] = {0};
    for (int i = 0; i < n; i++) count[modality[i]]++;
    r->n_mod = n_mod;
    r->offset[0] = 0;
    for (int m = 0; m < n_mod; m++) r->offset[m + 1] = r->offset[m] + count[m];
    int next[MOM_MAX_MODALITIES];
    for (int m = 0; m < n_mod; m++) next[m] = r->offset[m];
    for (int p = 0; p < n; p++) {
        const int i = next[modality[p]]++;
        perm[i] = p;
        rows[p] = i;
    }
}
