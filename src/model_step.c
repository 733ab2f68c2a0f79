/* One step over a batch: the trunk (src/trunk.c), then the heads and the
 * losses, and with a gradient the backward of all of it; the fused
 * training step adds the optimizer (src/optim.c) before anything is read
 * back.
 *
 *   logits = RMSNorm_f(x) W_head^T              (BT, vocab)
 *   loss = mean cross-entropy over targets != -1
 *          (+ diffusion_weight * mean noise MSE of image rows)            */
#include <math.h>
#include <string.h>

#include "model.h"
#include "reserved.h"

/* Continuous images: every image position's patch is there and finite. */
static mom_status check_patches(mom_model *m, const mom_batch *b)
{
    const int n = b->B * b->T, pd = m->patch_dim;
    if (!(b->low_t_fraction >= 0.0f && b->low_t_fraction <= 1.0f))
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "batch: low_t_fraction = %g is not in [0, 1]",
                        (double)b->low_t_fraction);
    for (int i = 0; i < n; i++) {
        if (b->modality[i] != MOM_MOD_IMAGE) continue;
        if (!b->patches)
            return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "batch: position %d is an image position but patches is NULL", i);
        for (int j = 0; j < pd; j++)
            if (!isfinite(b->patches[(size_t)i * pd + j]))
                return mom_fail(m->ctx, MOM_ERR_DATA, "batch: patch of position %d: element %d is %g", i, j,
                                (double)b->patches[(size_t)i * pd + j]);
    }
    return MOM_OK;
}

/* Every id of a batch is checked before anything runs: bad input changes nothing. */
static mom_status check_batch(mom_model *m, const mom_batch *b)
{
    mom_ctx *ctx = m->ctx;
    if (!b) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "batch is NULL");
    mom_status rs = MOM_CHECK_RESERVED(ctx, "batch", b->reserved);
    if (rs) return rs;
    if (!b->tokens || !b->modality || !b->targets || !b->target_modality)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "batch: %s is NULL",
                        !b->tokens      ? "tokens"
                        : !b->modality  ? "modality"
                        : !b->targets   ? "targets"
                                        : "target_modality");
    if (b->B < 1 || b->T < 1 || (int64_t)b->B * b->T > (1 << 24))
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "batch: B = %d, T = %d out of range (1 <= B*T <= 16M)", b->B, b->T);
    const int n = b->B * b->T, V = m->cfg.vocab_size, M = m->cfg.n_modalities;
    for (int i = 0; i < n; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= V)
            return mom_fail(ctx, MOM_ERR_DATA, "batch: token %d at position %d is not in [0, %d)", b->tokens[i], i, V);
        if (b->modality[i] >= M)
            return mom_fail(ctx, MOM_ERR_DATA, "batch: modality %d at position %d is not in [0, %d)", b->modality[i], i, M);
        if (b->targets[i] < -1 || b->targets[i] >= V)
            return mom_fail(ctx, MOM_ERR_DATA, "batch: target %d at position %d is not -1 or in [0, %d)", b->targets[i], i, V);
        if (b->targets[i] >= 0 && b->target_modality[i] >= M)
            return mom_fail(ctx, MOM_ERR_DATA, "batch: target modality %d at position %d is not in [0, %d)",
                            b->target_modality[i], i, M);
    }
    return m->patch_dim ? check_patches(m, b) : MOM_OK;
}

/* The next-token target of position p: with continuous images, neither an
 * image position (it predicts its own noise) nor one whose next token is
 * an image position (a patch, not a token) has one. */
static int32_t token_target(const mom_model *m, const mom_batch *b, int p)
{
    if (m->patch_dim && (b->modality[p] == MOM_MOD_IMAGE ||
                         (b->targets[p] >= 0 && b->target_modality[p] == MOM_MOD_IMAGE)))
        return -1;
    return b->targets[p];
}

/* row[r] is the cross-entropy of row r, and position p sits at row
 * rows[p]; summed in position order. mse[i]: the noise error of image
 * row i of n_img (continuous images). */
static void losses_from_rows(const mom_model *m, const mom_batch *b, const int32_t *rows, const float *row,
                             const float *mse, int n_img, mom_losses *out)
{
    double sum = 0.0, by[MOM_MAX_MODALITIES] = {0};
    memset(out, 0, sizeof(*out));
    const int n = b->B * b->T;
    for (int i = 0; i < n; i++) {
        if (token_target(m, b, i) < 0) continue;
        const float l = row[rows[i]];
        sum += l;
        by[b->target_modality[i]] += l;
        out->count[b->target_modality[i]]++;
        out->n_targets++;
    }
    out->loss = out->n_targets ? sum / (double)out->n_targets : NAN;
    if (n_img) {
        double e = 0.0;
        for (int i = 0; i < n_img; i++) e += mse[i];
        by[MOM_MOD_IMAGE] = e;
        out->count[MOM_MOD_IMAGE] = n_img;
        out->loss = (out->n_targets ? out->loss : 0.0) + m->cfg.diffusion_weight * e / n_img;
    }
    for (int k = 0; k < MOM_MAX_MODALITIES; k++)
        out->by_modality[k] = k < m->cfg.n_modalities && out->count[k] ? by[k] / (double)out->count[k] : NAN;
}

/* The LM head and the loss over rows [r0, r1), head_block rows at a time;
 * in training (scale != 0) each block's dlogits go straight into dW_head
 * and dh_f. */
static mom_status lm_head(mom_model *m, int r0, int r1, float scale)
{
    backend *be = m->be;
    act_plan *pl = &m->plan;
    const int Dm = m->cfg.d_model, V = m->cfg.vocab_size;
    for (int r = r0; r < r1; r += m->head_block) {
        const int n = r1 - r < m->head_block ? r1 - r : m->head_block;
        const bv hf = bv_at(pl->h_f, (size_t)r * Dm);
        if (model_mm_fwd(m, n, V, Dm, hf, Dm, m->lm_head, pl->logits, V, 0))
            return mom_fail(m->ctx, MOM_ERR_BACKEND, "LM head matmul failed");
        be->xent(be, n, V, pl->logits, bv_at(pl->targets, (size_t)r), scale, bv_at(pl->row_loss, (size_t)r));
        if (scale != 0.0f && (be->mm_bwd_weight(be, n, V, Dm, pl->logits, V, hf, Dm, G(m, m->lm_head)) ||
                              be->mm_bwd_data(be, n, V, Dm, pl->logits, V, P(m, m->lm_head),
                                              bv_at(pl->dh_f, (size_t)r * Dm), Dm, 0)))
            return mom_fail(m->ctx, MOM_ERR_BACKEND, "LM head backward matmul failed");
    }
    return MOM_OK;
}

/* The patch head on the image rows [i0, i0 + ni): predicted noise, its
 * squared error per row; with scale != 0, dW, db and dh_f of those rows. */
static mom_status patch_head(mom_model *m, int i0, int ni, float scale)
{
    backend *be = m->be;
    act_plan *pl = &m->plan;
    const int Dm = m->cfg.d_model, pd = m->patch_dim;
    const bv hf = bv_at(pl->h_f, (size_t)i0 * Dm);
    mom_status s = model_patch_pred(m, i0, ni);
    if (s) return s;
    be->mse(be, ni, pd, pl->pred, pl->pin_eps, scale, pl->patch_loss);
    if (scale == 0.0f) return MOM_OK;
    be->bias_grad(be, ni, pd, pl->pred, pd, G(m, m->patch_out_b));
    if (be->mm_bwd_weight(be, ni, pd, Dm, pl->pred, pd, hf, Dm, G(m, m->patch_out_w)) ||
        be->mm_bwd_data(be, ni, pd, Dm, pl->pred, pd, P(m, m->patch_out_w), bv_at(pl->dh_f, (size_t)i0 * Dm), Dm, 0))
        return mom_fail(m->ctx, MOM_ERR_BACKEND, "patch head backward matmul failed");
    return MOM_OK;
}

/* The per-row losses of the step the model ran, into out; with clip, also
 * the fused step's 3 values that follow them (one read-back). */
static mom_status read_losses(mom_model *m, const mom_batch *b, int ni, mom_losses *out, float *clip)
{
    act_plan *pl = &m->plan;
    const size_t BT = (size_t)b->B * b->T, span = pl->step_clip.off - pl->row_loss.off;
    m->be->download(m->be, pl->host_loss, pl->row_loss, clip ? span + 3 : BT);
    if (clip) memcpy(clip, pl->host_loss + span, 3 * sizeof(float));
    if (ni) m->be->download(m->be, pl->host_mse, pl->patch_loss, (size_t)ni);
    mom_status s = model_backend_ok(m);
    if (s) return s;
    losses_from_rows(m, b, pl->host_rows, pl->host_loss, pl->host_mse, ni, out);
    return MOM_OK;
}

/* Runs the forward; with backward, adds grad_scale * d(mean loss). */
/* defer_ni not NULL: the losses are not read back here but left for the
 * caller (read_losses with the image-row count put in *defer_ni), so a
 * fused training step can record its optimizer first. */
static mom_status run_step(mom_model *m, const mom_batch *b, int backward, float grad_scale, mom_losses *out,
                           int *defer_ni)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    mom_status s = check_batch(m, b);
    if (s) return s;
    if (!out) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "losses output is NULL");
    if (backward && (s = quant_refuse(m, "a backward pass (training)"))) return s;
    if (backward && !isfinite(grad_scale))
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "grad_scale = %g is not finite", (double)grad_scale);
    const patch_feed pf = {b->patches, 1, b->noise_seed, b->low_t_fraction, 0};
    if ((s = model_trunk(m, b->B, b->T, b->tokens, b->modality, NULL, &pf))) return s;
    backend *be = m->be;
    act_plan *pl = &m->plan;
    const int BT = b->B * b->T, Dm = m->cfg.d_model;
    int i0, ni;
    model_image_rows(m, &i0, &ni);

    int64_t n_targets = 0;
    for (int i = 0; i < BT; i++) {
        pl->host_targets[i] = token_target(m, b, pl->host_perm[i]);
        n_targets += pl->host_targets[i] >= 0;
    }
    be->upload(be, pl->targets, pl->host_targets, (size_t)BT);
    be->rmsnorm_fwd(be, BT, Dm, pl->x_final, P(m, m->norm_f), m->cfg.norm_eps, pl->h_f, pl->rstd_f);
    const float patch_scale = ni ? grad_scale * m->cfg.diffusion_weight / (float)ni : 0.0f;
    const int do_bwd = backward && grad_scale != 0.0f && (n_targets > 0 || patch_scale != 0.0f);
    const float scale = do_bwd && n_targets ? grad_scale / (float)n_targets : 0.0f;
    /* Image rows take the patch head instead of the LM head. */
    if ((s = lm_head(m, 0, i0, scale)) || (s = lm_head(m, i0 + ni, BT, scale))) return s;
    if (ni && (s = patch_head(m, i0, ni, do_bwd ? patch_scale : 0.0f))) return s;
    if (defer_ni) *defer_ni = ni;
    if (!do_bwd) return defer_ni ? MOM_OK : read_losses(m, b, ni, out, NULL);
    /* dh_f shares h_f's memory: a head that ran without a gradient (no text
     * targets, or a zero diffusion weight) left h_f in its rows, which must
     * read as zero gradient. */
    if (!scale) {
        be->zero(be, pl->dh_f, (size_t)i0 * Dm);
        be->zero(be, bv_at(pl->dh_f, (size_t)(i0 + ni) * Dm), (size_t)(BT - i0 - ni) * Dm);
    }
    if (ni && !patch_scale) be->zero(be, bv_at(pl->dh_f, (size_t)i0 * Dm), (size_t)ni * Dm);

    be->zero(be, pl->dx, (size_t)BT * Dm);
    be->rmsnorm_bwd(be, BT, Dm, pl->x_final, P(m, m->norm_f), pl->rstd_f, pl->dh_f, pl->dx, G(m, m->norm_f));
    for (int l = m->cfg.n_layer - 1; l >= 0; l--)
        if ((s = block_backward(m, l, pl->dx))) return s;
    /* Token rows into the embedding; image rows into the patch and time
     * embeddings. */
    be->embed_bwd(be, i0, Dm, pl->tokens, pl->dx, G(m, m->embedding));
    be->embed_bwd(be, BT - i0 - ni, Dm, bv_at(pl->tokens, (size_t)(i0 + ni)), bv_at(pl->dx, (size_t)(i0 + ni) * Dm),
                  G(m, m->embedding));
    if (ni) {
        const bv dxi = bv_at(pl->dx, (size_t)i0 * Dm);
        const int pd = m->patch_dim, td = m->cfg.time_dim;
        if (be->mm_bwd_weight(be, ni, Dm, pd, dxi, Dm, pl->pin_x, pd, G(m, m->patch_in_w)) ||
            be->mm_bwd_weight(be, ni, Dm, td, dxi, Dm, pl->pin_t, td, G(m, m->time_in_w)))
            return mom_fail(m->ctx, MOM_ERR_BACKEND, "patch embedding backward matmul failed");
        be->bias_grad(be, ni, Dm, dxi, Dm, G(m, m->patch_in_b));
        be->bias_grad(be, ni, Dm, dxi, Dm, G(m, m->time_in_b));
    }
    /* The losses are read back last: on a device backend the whole
     * forward and backward is then one submission. */
    return defer_ni ? MOM_OK : read_losses(m, b, ni, out, NULL);
}

mom_status mom_model_forward(mom_model *m, const mom_batch *b, mom_losses *out)
{
    return run_step(m, b, 0, 0.0f, out, NULL);
}

mom_status mom_model_backward(mom_model *m, const mom_batch *b, float grad_scale, mom_losses *out)
{
    return run_step(m, b, 1, grad_scale, out, NULL);
}

mom_status mom_model_train_step(mom_model *m, const mom_batch *b, const mom_optim_settings *s, mom_losses *out,
                                float *grad_norm)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    mom_status st = optim_check(m->ctx, s);
    if (!st && !out) st = mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "losses output is NULL");
    if (st) return st;
    /* Bad input is refused before anything changes: the batch is checked
     * here, before the gradients are zeroed. */
    if ((st = check_batch(m, b))) return st;
    int ni = 0;
    if ((st = mom_model_zero_grad(m)) || (st = run_step(m, b, 1, 1.0f, out, &ni))) return st;
    optim_record(m, s, m->plan.step_clip);
    float clip[3];
    if ((st = read_losses(m, b, ni, out, clip))) return st;
    return optim_finish(m, clip, grad_norm);
}
