/* Shared helpers of the test suites: tiny configs, synthetic batches, and
 * parameter snapshots. Header-only so each suite stays one executable. */
#ifndef MOM_TEST_UTIL_H
#define MOM_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mom.h"

static inline uint64_t tu_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline float tu_uniform(uint64_t *s) { return (float)(tu_next(s) >> 40) / 16777216.0f; }

/* vocab 13, d_model 8, 2 layers, d_state 4, d_conv 3, dt_rank 2. */
static inline mom_config tu_tiny_config(int n_mod, unsigned decouple)
{
    mom_config c;
    mom_config_default(&c);
    c.n_modalities = n_mod;
    c.vocab_size = 13;
    c.d_model = 8;
    c.n_layer = 2;
    c.d_state = 4;
    c.d_conv = 3;
    c.dt_rank = 2;
    c.decouple = decouple;
    return c;
}

typedef struct tu_batch {
    mom_batch b;
    int32_t *tok, *tgt;
    uint8_t *mod, *tmod;
} tu_batch;

/* Random tokens; the modalities of mod_mask in turn, in runs of 1 to 6
 * positions (so every one of them appears); every 7th target ignored (-1). */
static inline tu_batch tu_make_batch(int B, int T, int vocab, unsigned mod_mask, uint64_t seed)
{
    tu_batch t;
    const size_t n = (size_t)B * T;
    t.tok = malloc(n * 4);
    t.tgt = malloc(n * 4);
    t.mod = malloc(n);
    t.tmod = malloc(n);
    int mods[8], nm = 0;
    for (int k = 0; k < 8; k++)
        if (mod_mask & (1u << k)) mods[nm++] = k;
    int cur = mods[0], which = 0, left = 1 + (int)(tu_next(&seed) % 6);
    for (size_t i = 0; i < n + 1; i++) {
        if (left-- == 0) {
            which = (which + 1) % nm;
            cur = mods[which];
            left = (int)(tu_next(&seed) % 6);
        }
        int32_t tk = (int32_t)(tu_next(&seed) % (uint64_t)vocab);
        if (i < n) {
            t.tok[i] = tk;
            t.mod[i] = (uint8_t)cur;
        }
        if (i > 0) {
            t.tgt[i - 1] = (i - 1) % 7 == 3 ? -1 : tk;
            t.tmod[i - 1] = (uint8_t)cur;
        }
    }
    mom_batch b = {B, T, t.tok, t.mod, t.tgt, t.tmod};
    t.b = b;
    return t;
}

static inline void tu_free_batch(tu_batch *t)
{
    free(t->tok);
    free(t->tgt);
    free(t->mod);
    free(t->tmod);
}

static inline size_t tu_tensor_size(mom_model *m, const char *name)
{
    int nd;
    int64_t sh[4];
    if (mom_model_tensor_shape(m, name, &nd, sh)) return 0;
    size_t n = 1;
    for (int d = 0; d < nd; d++) n *= (size_t)sh[d];
    return n;
}

#endif
