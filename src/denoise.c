/* Drawing a continuous image: DDIM from Gaussian noise, every step fed
 * from a snapshot of the state taken at BOI, so the prompt before the
 * image is run once, however many steps there are. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "mom_data.h"
#include "rng.h"
#include "state.h"

/* The timestep of step k of n, from MOM_DIFFUSION_STEPS - 1 down to 0. */
static int ddim_t(int k, int n)
{
    return n == 1 ? MOM_DIFFUSION_STEPS - 1 : (int)((long long)(n - 1 - k) * (MOM_DIFFUSION_STEPS - 1) / (n - 1));
}

mom_status mom_state_generate_image(mom_state *st, int seq, int steps, uint64_t seed, float *pixels)
{
    if (!st) return MOM_ERR_INVALID_ARG;
    mom_model *m = st->m;
    const mom_patch_geometry *g = &m->cfg.patches;
    const int pd = m->patch_dim, n = mom_patches_per_image(g);
    if (!pd) return mom_fail(m->ctx, MOM_ERR_UNSUPPORTED, "generate_image: the model has no continuous images");
    if (seq < 0 || seq >= st->n_seq || steps < 1 || steps > MOM_DIFFUSION_STEPS || !pixels)
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "generate_image: seq %d of %d, steps %d (1..%d) or no pixels", seq,
                        st->n_seq, steps, MOM_DIFFUSION_STEPS);
    const int broken_before = st->broken; /* only seq is fed here */
    mom_state *snap = NULL;
    mom_state_settings ss;
    mom_state_default_settings(&ss);
    mom_status s = mom_state_create(m, &ss, &snap);
    float *x = malloc(sizeof(float) * (size_t)n * pd), *eps = malloc(sizeof(float) * (size_t)n * pd);
    if (!s && (!x || !eps)) s = mom_fail(m->ctx, MOM_ERR_NOMEM, "generate_image: out of memory");
    if (!s) s = mom_state_copy(snap, 0, st, seq);
    const int have_snap = !s;
    rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; !s && i < (size_t)n * pd; i++) x[i] = rng_normal(&r);
    for (int k = 0; !s && k < steps; k++) {
        const int t = ddim_t(k, steps), t_prev = k + 1 < steps ? ddim_t(k + 1, steps) : -1;
        if ((s = mom_state_copy(st, seq, snap, 0)) || (s = mom_state_prefill_patches(st, seq, n, x, t, eps))) break;
        mom_ddim_step((size_t)n * pd, x, eps, t, t_prev, 1.0f); /* patches live in [-1, 1] */
    }
    /* The image as later text sees it: clean, at t = 0. */
    if (!s && !(s = mom_state_copy(st, seq, snap, 0))) s = mom_state_prefill_patches(st, seq, n, x, 0, eps);
    if (!s) s = mom_image_from_patches(m->ctx, g, x, pixels);
    /* A failure part-way: the sequence back as it was at BOI, and the
     * state's mark as it was before. */
    if (s && have_snap) st->broken = mom_state_copy(st, seq, snap, 0) ? 1 : broken_before;
    free(x);
    free(eps);
    mom_state_destroy(&snap);
    return s;
}
