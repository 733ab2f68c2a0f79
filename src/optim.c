/* AdamW (torch.optim.AdamW semantics), global-norm clipping
 * (torch.nn.utils.clip_grad_norm_ semantics) and the LR schedule: linear
 * warmup, then cosine decay to min_lr_ratio * lr at total_steps. */
#include <math.h>
#include <string.h>

#include "model.h"
#include "reserved.h"

void mom_optim_default_settings(mom_optim_settings *s)
{
    if (!s) return;
    memset(s, 0, sizeof(*s));
    s->lr = 1e-3f;
    s->beta1 = 0.9f;
    s->beta2 = 0.95f;
    s->eps = 1e-8f;
    s->weight_decay = 0.1f;
    s->clip_norm = 1.0f;
    s->warmup_steps = 100;
    s->total_steps = 0;
    s->min_lr_ratio = 0.1f;
}

float mom_optim_lr_at(const mom_optim_settings *s, int64_t step)
{
    if (!s) return 0.0f;
    if (step < 0) step = 0;
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return s->lr * (float)(step + 1) / (float)s->warmup_steps;
    if (s->total_steps <= s->warmup_steps) return s->lr;
    double progress = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
    if (progress > 1.0) progress = 1.0;
    const double lo = (double)s->lr * s->min_lr_ratio;
    return (float)(lo + 0.5 * ((double)s->lr - lo) * (1.0 + cos(3.14159265358979323846 * progress)));
}

mom_status optim_check(mom_ctx *ctx, const mom_optim_settings *s)
{
    if (!s) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "optimizer settings are NULL");
    mom_status rs = MOM_CHECK_RESERVED(ctx, "optimizer settings", s->reserved);
    if (rs) return rs;
    if (!(s->lr >= 0.0f) || !isfinite(s->lr))
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "optimizer: lr = %g must be finite and >= 0", (double)s->lr);
    if (!(s->beta1 >= 0.0f && s->beta1 < 1.0f) || !(s->beta2 >= 0.0f && s->beta2 < 1.0f))
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "optimizer: betas %g, %g must be in [0, 1)",
                        (double)s->beta1, (double)s->beta2);
    if (!(s->eps > 0.0f) || !isfinite(s->eps) || !(s->weight_decay >= 0.0f) || !isfinite(s->weight_decay))
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "optimizer: eps = %g must be > 0, weight_decay = %g >= 0",
                        (double)s->eps, (double)s->weight_decay);
    if (isnan(s->clip_norm) || s->warmup_steps < 0 || s->total_steps < 0 || !(s->min_lr_ratio >= 0.0f) ||
        !isfinite(s->min_lr_ratio))
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "optimizer: clip %g, warmup %d, total %d, min_lr_ratio %g out of range",
                        (double)s->clip_norm, s->warmup_steps, s->total_steps, (double)s->min_lr_ratio);
    return MOM_OK;
}

/* The first tensor in table order whose gradient is not finite, so the
 * refusal says where it starts. Only on that (rare) path: one clip_scale
 * and one read-back per tensor. */
static const char *first_nonfinite(mom_model *m)
{
    const bv out = {m->step_scale, 0};
    for (size_t i = 0; i < m->n_tensors; i++) {
        float s[3] = {0.0f, 1.0f, 1.0f};
        m->be->clip_scale(m->be, m->tensors[i].n, G(m, m->tensors[i].off), 0.0f, out);
        m->be->download(m->be, s, out, 3);
        if (s[2] == 0.0f) return m->tensors[i].name;
    }
    return "none (the sum overflowed)";
}

/* The optimizer step on the backend, nothing read back: the norm of every
 * gradient (the tensors lie end to end in one buffer: one sum over all of
 * it, a fixed partition inside the backend), its clip scale into
 * clip[0..3), and AdamW with that scale. The step number is m->step + 1:
 * optim_finish counts it once the norm is known to be finite; with a
 * non-finite norm adamw_scaled changes nothing. */
void optim_record(mom_model *m, const mom_optim_settings *s, bv clip)
{
    backend *be = m->be;
    be->clip_scale(be, m->n_params, G(m, 0), s->clip_norm, clip);
    const float lr = mom_optim_lr_at(s, m->step);
    /* AdamW is element-wise, so neighbouring tensors with the same weight
     * decay take one call: 42 instead of 82 in the default model, each a
     * parallel region (or a dispatch) of its own. */
    for (size_t i = 0; i < m->n_tensors;) {
        const tensor_entry *t = &m->tensors[i];
        size_t n = t->n;
        for (i++; i < m->n_tensors && m->tensors[i].decay == t->decay && m->tensors[i].off == t->off + n; i++)
            n += m->tensors[i].n;
        bv mv = {m->adam_m, t->off}, vv = {m->adam_v, t->off};
        be->adamw_scaled(be, n, P(m, t->off), G(m, t->off), mv, vv, clip, lr, s->beta1, s->beta2, s->eps,
                         t->decay ? s->weight_decay : 0.0f, m->step + 1);
    }
}

mom_status optim_finish(mom_model *m, const float clip[3], float *grad_norm)
{
    if (grad_norm) *grad_norm = clip[0];
    if (clip[2] == 0.0f)
        return mom_fail(m->ctx, MOM_ERR_NONFINITE,
                        "gradient norm is %g: step skipped, model unchanged; first non-finite gradient: %s",
                        (double)clip[0], first_nonfinite(m));
    m->step++;
    return MOM_OK;
}

mom_status mom_model_step(mom_model *m, const mom_optim_settings *s, float *grad_norm)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    mom_status st = optim_check(m->ctx, s);
    if (!st) st = quant_refuse(m, "mom_model_step (training)");
    if (st) return st;
    m->be->threads(m->be, m->ctx->n_threads);
    const bv scale = {m->step_scale, 0};
    optim_record(m, s, scale);
    float clip[3];
    m->be->download(m->be, clip, scale, 3);
    if ((st = model_backend_ok(m))) return st;
    return optim_finish(m, clip, grad_norm);
}

int64_t mom_model_steps_done(const mom_model *m) { return m ? m->step : 0; }
