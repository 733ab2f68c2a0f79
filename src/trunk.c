/* The forward shared by training, evaluation and inference: a batch routed
 * by modality, embedded (tokens, or patches for continuous images) and run
 * through every layer; and the patch head's prediction.
 *
 *   x = embedding[tokens]                       (BT, d_model)
 *   x = block_l(x)           l = 0 .. n_layer-1  (src/block.c)            */
#include <string.h>

#include "diffusion.h"
#include "model.h"

mom_status model_patch_pred(mom_model *m, int i0, int ni)
{
    backend *be = m->be;
    act_plan *pl = &m->plan;
    const int Dm = m->cfg.d_model, pd = m->patch_dim;
    if (be->mm_fwd(be, ni, pd, Dm, bv_at(pl->h_f, (size_t)i0 * Dm), Dm, P(m, m->patch_out_w), pl->pred, pd, 0))
        return mom_fail(m->ctx, MOM_ERR_BACKEND, "patch head matmul failed");
    be->add_bias(be, ni, pd, P(m, m->patch_out_b), pl->pred, pd);
    return MOM_OK;
}

void model_image_rows(const mom_model *m, int *row0, int *n)
{
    *row0 = m->patch_dim ? m->rt.offset[MOM_MOD_IMAGE] : 0;
    *n = m->patch_dim ? m->rt.offset[MOM_MOD_IMAGE + 1] - *row0 : 0;
}

/* The image slice's inputs, on the host in row order, then uploaded:
 * x_t (and, when noising, the noise drawn), and the timestep features. */
static void feed_patches(mom_model *m, int B, int T, const uint8_t *modality, const patch_feed *pf, int i0, int ni)
{
    act_plan *pl = &m->plan;
    const int pd = m->patch_dim, td = m->cfg.time_dim;
    if (pf->noise) {
        const diffusion_batch db = {B, T, pd, td, modality, pf->x, pl->host_rows, i0, pf->seed, pf->low_t_fraction};
        diffusion_noise_batch(&db, pl->host_xt, pl->host_eps, pl->host_tf, NULL);
        m->be->upload(m->be, pl->pin_eps, pl->host_eps, (size_t)ni * pd);
    } else {
        for (int r = 0; r < ni; r++) {
            memcpy(pl->host_xt + (size_t)r * pd, pf->x + (size_t)pl->host_perm[i0 + r] * pd, sizeof(float) * pd);
            mom_diffusion_time_features(pf->t, td, pl->host_tf + (size_t)r * td);
        }
    }
    m->be->upload(m->be, pl->pin_x, pl->host_xt, (size_t)ni * pd);
    m->be->upload(m->be, pl->pin_t, pl->host_tf, (size_t)ni * td);
}

mom_status model_trunk(mom_model *m, int B, int T, const int32_t *tokens, const uint8_t *modality,
                       const layer_carry *carry, const patch_feed *pf)
{
    m->be->threads(m->be, m->ctx->n_threads);
    mom_status s = plan_ensure(m, B, T);
    if (s) return s;
    backend *be = m->be;
    act_plan *pl = &m->plan;
    const int BT = B * T, Dm = m->cfg.d_model;
    route_build(&m->rt, m->cfg.n_modalities, modality, BT, pl->host_perm, pl->host_rows);
    int i0, ni;
    model_image_rows(m, &i0, &ni);
    if (ni && (!pf || !pf->x))
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "batch: %d image positions but no patches (continuous images)", ni);
    for (int i = 0; i < BT; i++) pl->host_tokens[i] = tokens[pl->host_perm[i]];
    be->upload(be, pl->rows, pl->host_rows, (size_t)BT);
    be->upload(be, pl->tokens, pl->host_tokens, (size_t)BT);
    model_embed_fwd(m, BT, pl->tokens, pl->x_final);
    if (ni) {
        /* An image position's input: patch_in x_t + time_in features(t). */
        feed_patches(m, B, T, modality, pf, i0, ni);
        const bv xi = bv_at(pl->x_final, (size_t)i0 * Dm);
        if (be->mm_fwd(be, ni, Dm, m->patch_dim, pl->pin_x, m->patch_dim, P(m, m->patch_in_w), xi, Dm, 0) ||
            be->mm_fwd(be, ni, Dm, m->cfg.time_dim, pl->pin_t, m->cfg.time_dim, P(m, m->time_in_w), xi, Dm, 1))
            return mom_fail(m->ctx, MOM_ERR_BACKEND, "patch embedding matmul failed");
        be->add_bias(be, ni, Dm, P(m, m->patch_in_b), xi, Dm);
        be->add_bias(be, ni, Dm, P(m, m->time_in_b), xi, Dm);
    }
    for (int l = 0; l < m->cfg.n_layer; l++)
        if ((s = block_forward(m, l, pl->x_final, carry ? &carry[l] : NULL))) return s;
    return MOM_OK;
}
