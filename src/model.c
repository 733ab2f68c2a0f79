/* The model behind the public API: creation, parameters by name, and the
 * forward / backward of a whole training step over the backend op table:
 *
 *   x = embedding[tokens]                       (BT, d_model)
 *   x = block_l(x)           l = 0 .. n_layer-1  (src/block.c)
 *   logits = RMSNorm_f(x) W_head^T              (BT, vocab)
 *   loss = mean cross-entropy over targets != -1                         */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffusion.h"
#include "model.h"

mom_status model_alloc(mom_ctx *ctx, const mom_config *cfg, int with_buffers, mom_model **out)
{
    if (!ctx) return MOM_ERR_INVALID_ARG;
    if (!cfg || !out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_model_create: %s is NULL", cfg ? "out" : "cfg");
    *out = NULL;
    mom_config c = *cfg;
    mom_status s = mom_config_validate(ctx, &c);
    if (s) return s;
    mom_model *m = calloc(1, sizeof(*m));
    if (!m) return mom_fail(ctx, MOM_ERR_NOMEM, "out of memory for the model");
    m->ctx = ctx;
    m->be = ctx->be;
    m->cfg = c;
    m->d_inner = c.expand * c.d_model;
    m->dt_rank = c.dt_rank;
    m->n_xdbl = c.dt_rank + 2 * c.d_state;
    m->chunk = MOM_SCAN_CHUNK;
    m->proj_tile = PROJ_TILE;
    m->head_block = HEAD_BLOCK;
    m->prefill_rows = PREFILL_ROWS;
    if ((s = params_build_table(m))) {
        mom_model_destroy(&m);
        return mom_fail(ctx, s, "out of memory for the tensor table");
    }
    if (with_buffers && (s = model_alloc_buffers(m))) {
        mom_model_destroy(&m);
        return s;
    }
    *out = m;
    return MOM_OK;
}

mom_status model_alloc_buffers(mom_model *m)
{
    m->params = m->be->alloc(m->be, m->n_params);
    m->grads = m->be->alloc(m->be, m->n_params);
    m->adam_m = m->be->alloc(m->be, m->n_params);
    m->adam_v = m->be->alloc(m->be, m->n_params);
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v)
        return mom_fail(m->ctx, MOM_ERR_NOMEM, "cannot allocate %zu MiB for parameters and optimizer",
                        m->n_params * 16 >> 20);
    return MOM_OK;
}

mom_status mom_model_create(mom_ctx *ctx, const mom_config *cfg, uint64_t seed, mom_model **out)
{
    if (out) *out = NULL;
    if (!ctx) return MOM_ERR_INVALID_ARG;
    if (!out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_model_create: out is NULL");
    mom_model *m;
    mom_status s = model_alloc(ctx, cfg, 1, &m);
    if (s) return s;
    float *host = malloc(sizeof(float) * m->n_params);
    if (!host) {
        mom_model_destroy(&m);
        return mom_fail(ctx, MOM_ERR_NOMEM, "out of memory initialising the model");
    }
    params_init(m, seed, host);
    bv all = {m->params, 0};
    m->be->upload(m->be, all, host, m->n_params);
    free(host);
    *out = m;
    return MOM_OK;
}

void mom_model_destroy(mom_model **mp)
{
    if (!mp || !*mp) return;
    mom_model *m = *mp;
    plan_free(m);
    if (m->be) {
        be_buf *bufs[] = {m->params, m->grads, m->adam_m, m->adam_v};
        for (int i = 0; i < 4; i++)
            if (bufs[i]) m->be->release(m->be, bufs[i]);
    }
    free(m->tensors);
    free(m->layers);
    free(m);
    *mp = NULL;
}

const mom_config *mom_model_config(const mom_model *m) { return m ? &m->cfg : NULL; }

void mom_model_get_info(const mom_model *m, mom_model_info *info)
{
    if (!m || !info) return;
    memset(info, 0, sizeof(*info));
    const mom_config *c = &m->cfg;
    const int64_t Dm = c->d_model, Di = m->d_inner, N = c->d_state, V = c->vocab_size;
    /* Per layer, what one token touches: one copy of each projection. */
    const int64_t mm_layer = 2 * Di * Dm + (int64_t)m->n_xdbl * Di + Di * m->dt_rank + Dm * Di;
    const int64_t other_layer = Dm + Di * c->d_conv + Di + Di * N + Di + Di; /* norm conv A D dt-bias */
    info->n_params = (int64_t)m->n_params;
    info->n_params_active = V * Dm + c->n_layer * (mm_layer + other_layer) + Dm +
                            (c->tie_embeddings ? 0 : V * Dm);
    /* 6 flops per matmul weight per token (forward 2, backward 4), the LM
     * head included; the embedding lookup costs none. The scan adds about
     * 9 D N forward and twice that backward; the conv 2 D K each way. */
    const double mm = (double)c->n_layer * mm_layer + (double)V * Dm;
    info->train_matmul_flops_per_token = 6.0 * mm;
    info->train_flops_per_token = 6.0 * mm + c->n_layer * (27.0 * Di * N + 6.0 * Di * c->d_conv);
    info->d_inner = m->d_inner;
    info->dt_rank = m->dt_rank;
}

size_t mom_model_n_tensors(const mom_model *m) { return m ? m->n_tensors : 0; }

const char *mom_model_tensor_name(const mom_model *m, size_t i)
{
    return m && i < m->n_tensors ? m->tensors[i].name : NULL;
}

/* n: the element count the caller's buffer has (NULL: any, a shape query). */
static mom_status find_tensor(mom_model *m, const char *name, const size_t *n, const tensor_entry **out)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    if (!name) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "tensor name is NULL");
    const tensor_entry *t = params_find(m, name);
    if (!t) return mom_fail(m->ctx, MOM_ERR_NOT_FOUND, "no tensor named \"%s\" in this model", name);
    if (n && *n != t->n) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "%s has %zu elements, not %zu", name, t->n, *n);
    *out = t;
    return MOM_OK;
}

mom_status mom_model_tensor_shape(mom_model *m, const char *name, int *ndim, int64_t shape[4])
{
    const tensor_entry *t = NULL;
    mom_status s = find_tensor(m, name, NULL, &t);
    if (s) return s;
    if (!ndim || !shape)
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "mom_model_tensor_shape: %s is NULL", ndim ? "shape" : "ndim");
    *ndim = t->ndim;
    memcpy(shape, t->shape, sizeof(t->shape));
    return MOM_OK;
}

/* arg: the caller's name for its data pointer (out or in), for the message. */
static mom_status tensor_io(mom_model *m, be_buf *buf, const char *name, float *out, const float *in, size_t n,
                            const char *arg)
{
    const tensor_entry *t = NULL;
    mom_status s = find_tensor(m, name, &n, &t);
    if (s) return s;
    if (!out && !in) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "%s: %s is NULL", name, arg);
    bv v = {buf, t->off};
    if (out) m->be->download(m->be, out, v, n);
    else m->be->upload(m->be, v, in, n);
    return MOM_OK;
}

mom_status mom_model_get_param(mom_model *m, const char *name, float *out, size_t n)
{
    return m ? tensor_io(m, m->params, name, out, NULL, n, "out") : MOM_ERR_INVALID_ARG;
}

mom_status mom_model_set_param(mom_model *m, const char *name, const float *in, size_t n)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    /* The name and n first: only then is n known to be in's length. */
    const tensor_entry *t = NULL;
    mom_status s = find_tensor(m, name, &n, &t);
    if (s) return s;
    if (in)
        for (size_t i = 0; i < n; i++)
            if (!isfinite(in[i]))
                return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "%s: element %zu is not finite", name, i);
    return tensor_io(m, m->params, name, NULL, in, n, "in");
}

mom_status mom_model_get_grad(mom_model *m, const char *name, float *out, size_t n)
{
    return m ? tensor_io(m, m->grads, name, out, NULL, n, "out") : MOM_ERR_INVALID_ARG;
}

static mom_status grads_io(mom_model *m, float *out, const float *in, size_t n, const char *arg)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    if (!out && !in) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "gradients: %s is NULL", arg);
    if (n != m->n_params)
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "gradients: %zu floats given, the model has %zu", n, m->n_params);
    bv all = {m->grads, 0};
    if (out) m->be->download(m->be, out, all, n);
    else m->be->upload(m->be, all, in, n);
    return model_backend_ok(m);
}

mom_status mom_model_get_grads(mom_model *m, float *out, size_t n) { return grads_io(m, out, NULL, n, "out"); }
mom_status mom_model_set_grads(mom_model *m, const float *in, size_t n) { return grads_io(m, NULL, in, n, "in"); }

mom_status mom_model_zero_grad(mom_model *m)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    bv all = {m->grads, 0};
    m->be->zero(m->be, all, m->n_params);
    return MOM_OK;
}

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

void mom_losses_accumulate(const mom_model *m, mom_losses *acc, const mom_losses *add)
{
    if (!m || !acc || !add) return;
    const int n_mod = m->cfg.n_modalities, img = m->patch_dim ? MOM_MOD_IMAGE : -1;
    double ce = 0.0;
    for (int k = 0; k < MOM_MAX_MODALITIES; k++) {
        if (k < n_mod && add->count[k]) {
            const double s = (acc->count[k] ? acc->by_modality[k] * (double)acc->count[k] : 0.0) +
                             add->by_modality[k] * (double)add->count[k];
            acc->count[k] += add->count[k];
            acc->by_modality[k] = s / (double)acc->count[k];
        } else if (!acc->count[k]) {
            acc->by_modality[k] = NAN;
        }
        if (k != img && acc->count[k]) ce += acc->by_modality[k] * (double)acc->count[k];
    }
    acc->n_targets += add->n_targets;
    const int has_img = img >= 0 && acc->count[img];
    acc->loss = acc->n_targets ? ce / (double)acc->n_targets : has_img ? 0.0 : NAN;
    if (has_img) acc->loss += m->cfg.diffusion_weight * acc->by_modality[img];
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
        if (be->mm_fwd(be, n, V, Dm, hf, Dm, P(m, m->lm_head), pl->logits, V, 0))
            return mom_fail(m->ctx, MOM_ERR_BACKEND, "LM head matmul failed");
        be->xent(be, n, V, pl->logits, bv_at(pl->targets, (size_t)r), scale, bv_at(pl->row_loss, (size_t)r));
        if (scale != 0.0f && (be->mm_bwd_weight(be, n, V, Dm, pl->logits, V, hf, Dm, G(m, m->lm_head)) ||
                              be->mm_bwd_data(be, n, V, Dm, pl->logits, V, P(m, m->lm_head),
                                              bv_at(pl->dh_f, (size_t)r * Dm), Dm, 0)))
            return mom_fail(m->ctx, MOM_ERR_BACKEND, "LM head backward matmul failed");
    }
    return MOM_OK;
}

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
    be->embed_fwd(be, BT, Dm, pl->tokens, P(m, m->embedding), pl->x_final);
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

mom_status model_backend_ok(mom_model *m)
{
    const char *e = m->be->error ? m->be->error(m->be) : NULL;
    return e ? mom_fail(m->ctx, MOM_ERR_BACKEND, "%s backend: %s", m->be->name, e) : MOM_OK;
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
    float scale[3];
    if ((st = read_losses(m, b, ni, out, scale))) return st;
    if (grad_norm) *grad_norm = scale[0];
    if (scale[2] == 0.0f)
        return optim_refuse_nonfinite(m, scale[0]);
    m->step++;
    return MOM_OK;
}

mom_status mom_dataset_check(mom_model *m, const mom_dataset *d)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    if (!d) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "dataset is NULL");
    if (mom_dataset_vocab_size(d) > m->cfg.vocab_size)
        return mom_fail(m->ctx, MOM_ERR_DATA, "dataset vocab %lld > model vocab_size %d",
                        (long long)mom_dataset_vocab_size(d), m->cfg.vocab_size);
    if (mom_dataset_n_modalities(d) > m->cfg.n_modalities)
        return mom_fail(m->ctx, MOM_ERR_DATA, "dataset has %d modalities > model n_modalities %d",
                        mom_dataset_n_modalities(d), m->cfg.n_modalities);
    /* Both laid out: the same token id must mean the same thing in both. */
    mom_vocab_layout dl;
    const mom_vocab_layout *ml = &m->cfg.vocab_layout;
    mom_dataset_vocab_layout(d, &dl);
    if (mom_vocab_layout_is_set(&dl) && mom_vocab_layout_is_set(ml) && memcmp(&dl, ml, sizeof(dl)))
        return mom_fail(m->ctx, MOM_ERR_DATA,
                        "dataset vocabulary layout (special %d, text %d, image %d, speech %d) differs from the "
                        "model's (special %d, text %d, image %d, speech %d)",
                        dl.n_special, dl.n_text, dl.n_image, dl.n_speech, ml->n_special, ml->n_text, ml->n_image,
                        ml->n_speech);
    /* Continuous images: the same patch geometry, or none on both sides. */
    mom_patch_geometry dg;
    const mom_patch_geometry *mg = &m->cfg.patches;
    mom_dataset_patch_geometry(d, &dg);
    if (mom_patch_dim(&dg) != m->patch_dim || (m->patch_dim && memcmp(&dg, mg, sizeof(dg))))
        return mom_fail(m->ctx, MOM_ERR_DATA,
                        "dataset patches (patch %d, image %d, channels %d) differ from the model's (patch %d, image "
                        "%d, channels %d; all 0: discrete images)",
                        dg.patch_size, dg.image_size, dg.channels, mg->patch_size, mg->image_size, mg->channels);
    return MOM_OK;
}

/* Windows of T+1 tokens with stride T, so every token after the first is a
 * target exactly once. */
mom_status mom_model_evaluate(mom_model *m, const mom_dataset *d, int B, int T, int64_t max_batches,
                              mom_losses *out)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    mom_status s = mom_dataset_check(m, d);
    if (s) return s;
    if (B < 1 || T < 1 || (int64_t)B * T > (1 << 24))
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "evaluate: B = %d, T = %d out of range (1 <= B*T <= 16M)", B, T);
    if (!out) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "evaluate: out is NULL");
    const int64_t n_windows = (mom_dataset_n_tokens(d) - 1) / T;
    if (n_windows < 1)
        return mom_fail(m->ctx, MOM_ERR_DATA, "evaluate: dataset of %lld tokens is shorter than seq %d + 1",
                        (long long)mom_dataset_n_tokens(d), T);
    const size_t BT = (size_t)B * T;
    int32_t *tok = malloc(BT * 4), *tgt = malloc(BT * 4);
    uint8_t *mod = malloc(BT), *tmod = malloc(BT);
    int64_t *starts = malloc(sizeof(int64_t) * (size_t)B);
    float *patches = m->patch_dim ? malloc(sizeof(float) * BT * (size_t)m->patch_dim) : NULL;
    memset(out, 0, sizeof(*out));
    if (!tok || !tgt || !mod || !tmod || !starts || (m->patch_dim && !patches))
        s = mom_fail(m->ctx, MOM_ERR_NOMEM, "evaluate: out of memory");
    int64_t batches = 0;
    for (int64_t w = 0; !s && w < n_windows && (max_batches <= 0 || batches < max_batches); w += B, batches++) {
        if ((s = mom_check_stop(m->ctx, "evaluate"))) break;
        /* A last, short batch is padded with window 0 and no targets, so
         * the planned (B, T) shape serves every batch. */
        const int rows = (int)(n_windows - w < B ? n_windows - w : B);
        for (int r = 0; r < B; r++) starts[r] = r < rows ? (w + r) * T : 0;
        s = mom_dataset_fill_batch(d, B, T, starts, tok, mod, tgt, tmod);
        if (s) {
            s = mom_fail(m->ctx, s, "evaluate: cannot read window %lld", (long long)w);
            break;
        }
        if (m->patch_dim && (s = mom_dataset_fill_patches(d, B, T, starts, patches))) break;
        for (size_t i = (size_t)rows * T; i < BT; i++) {
            tgt[i] = -1;
            if (mod[i] == MOM_MOD_IMAGE && m->patch_dim) mod[i] = MOM_MOD_TEXT; /* no noise loss from padding */
        }
        /* The noise of a window is fixed by its index: every evaluation of
         * a run sees the same timesteps and noise. */
        mom_batch b = {B, T, tok, mod, tgt, tmod, patches, (uint64_t)w * 0x9E3779B97F4A7C15ull + 1, 0.0f};
        mom_losses l;
        if ((s = mom_model_forward(m, &b, &l))) break;
        mom_losses_accumulate(m, out, &l);
    }
    free(tok);
    free(tgt);
    free(mod);
    free(tmod);
    free(starts);
    free(patches);
    return s;
}
