/* mom_model_extend_vocab: a model whose vocabulary grows past a pretrained
 * one. The new model is made as mom_model_create makes one (so the rows of
 * the new ids start as `mom init` would start them), then every tensor of
 * the old model is copied over it: whole where the shapes agree, and into
 * the first rows of the embedding and the head, whose ids are the
 * pretrained ones (the layout keeps them at 0..n_text-1). */
#include <stdlib.h>
#include <string.h>

#include "model.h"

mom_status mom_model_extend_vocab(mom_model *m, const mom_vocab_layout *layout, uint64_t seed, mom_model **out)
{
    if (out) *out = NULL;
    if (!m) return MOM_ERR_INVALID_ARG;
    mom_ctx *ctx = m->ctx;
    if (!layout || !out)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_model_extend_vocab: %s is NULL", !layout ? "layout" : "out");
    mom_status qs = quant_refuse(m, "mom_model_extend_vocab");
    if (qs) return qs;
    if (mom_vocab_layout_is_set(&m->cfg.vocab_layout))
        return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                        "mom_model_extend_vocab: the model already has a vocabulary layout; extending starts from a "
                        "pretrained vocabulary without one");
    if (layout->text_first != 1 || layout->n_text != m->cfg.vocab_size)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                        "mom_model_extend_vocab: the layout must keep the model's %d ids first (text_first 1, text "
                        "%d): text_first %d, text %d",
                        m->cfg.vocab_size, m->cfg.vocab_size, layout->text_first, layout->n_text);
    mom_config cfg = m->cfg;
    cfg.vocab_layout = *layout;
    cfg.vocab_size = mom_vocab_layout_size(layout);
    mom_model *n = NULL;
    mom_status s = mom_model_create(ctx, &cfg, seed, &n); /* checks the layout and the modalities it needs */
    if (s) return s;
    float *host = NULL;
    for (size_t i = 0; !s && i < n->n_tensors; i++) {
        const tensor_entry *e = &n->tensors[i];
        const tensor_entry *src = params_find(m, e->name);
        /* Only the vocabulary's rows may differ: copy the pretrained ones. */
        const int rows = src && src->ndim == 2 && e->ndim == 2 && src->shape[1] == e->shape[1] &&
                         (e->off == n->embedding || e->off == n->lm_head);
        if (!src || (src->n != e->n && !rows)) {
            s = mom_fail(ctx, MOM_ERR_FORMAT, "mom_model_extend_vocab: no tensor %s of the same shape in the model",
                         e->name);
            break;
        }
        float *h = realloc(host, sizeof(float) * src->n);
        if (!h) {
            s = mom_fail(ctx, MOM_ERR_NOMEM, "mom_model_extend_vocab: out of memory");
            break;
        }
        host = h;
        m->be->download(m->be, host, (bv){m->params, src->off}, src->n);
        n->be->upload(n->be, (bv){n->params, e->off}, host, src->n);
    }
    free(host);
    if (s) mom_model_destroy(&n);
    *out = n;
    return s;
}
