/* The model's lifecycle: creation (config checked, tensor table built,
 * buffers allocated, parameters initialised), destruction, and what a
 * caller may ask of it (config, sizes, tensor names). The model's math is
 * elsewhere: src/trunk.c and src/block.c (forward), src/model_step.c (the
 * training step), src/optim.c (the optimizer). */
#include <stdlib.h>
#include <string.h>

#include "model.h"

mom_status model_alloc(mom_ctx *ctx, const mom_config *cfg, int with_buffers, mom_model **out)
{
    if (!ctx) return MOM_ERR_INVALID_ARG;
    if (!cfg || !out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_model_create: %s is NULL", cfg ? "out" : "cfg");
    *out = NULL;
    mom_config c = *cfg;
    mom_status s = mom_config_validate(ctx, &c);
    if (s) return s;
    if (c.weight_format && strcmp(ctx->be->name, "cpu"))
        return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "a model with %s weights (quantized) runs on the CPU backend, not %s",
                        c.weight_format == MOM_WEIGHTS_Q8 ? "q8" : "q4", ctx->be->name);
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
    m->proj_tile_bwd = PROJ_TILE_BWD;
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
    m->step_scale = m->be->alloc(m->be, 3);
    if (!m->params || !m->grads || !m->adam_m || !m->adam_v || !m->step_scale)
        return mom_fail(m->ctx, MOM_ERR_NOMEM, "cannot allocate %zu MiB for parameters and optimizer",
                        m->n_params * 16 >> 20);
    return MOM_OK;
}

mom_status mom_model_create(mom_ctx *ctx, const mom_config *cfg, uint64_t seed, mom_model **out)
{
    if (out) *out = NULL;
    if (!ctx) return MOM_ERR_INVALID_ARG;
    if (!out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_model_create: out is NULL");
    if (cfg && cfg->weight_format)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                        "mom_model_create: weight_format = %d: a quantized model comes from mom_model_quantize (or a "
                        "file it wrote), not from initialisation",
                        cfg->weight_format);
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
        be_buf *bufs[] = {m->params, m->grads, m->adam_m, m->adam_v, m->step_scale};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i]) m->be->release(m->be, bufs[i]);
    }
    quant_free(m);
    free(m->tensors);
    free(m->layers);
    free(m);
    *mp = NULL;
}

const mom_config *mom_model_config(const mom_model *m) { return m ? &m->cfg : NULL; }

mom_status mom_model_get_info(const mom_model *m, mom_model_info *info)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    if (!info) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "mom_model_get_info: info is NULL");
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
    return MOM_OK;
}

size_t mom_model_n_tensors(const mom_model *m) { return m ? m->n_tensors : 0; }

const char *mom_model_tensor_name(const mom_model *m, size_t i)
{
    return m && i < m->n_tensors ? m->tensors[i].name : NULL;
}

mom_status model_backend_ok(mom_model *m)
{
    const char *e = m->be->error ? m->be->error(m->be) : NULL;
    return e ? mom_fail(m->ctx, MOM_ERR_BACKEND, "%s backend: %s", m->be->name, e) : MOM_OK;
}
