/* mom_model_upcycle: a Mixture-of-Mamba grown from a one-modality model.
 * Every modality's copy of a decoupled projection (dt bias included)
 * starts as the dense weight, and every shared tensor is the dense one, so
 * at step 0 the new model computes exactly what the dense model computes,
 * whatever modality each token is labelled with. */
#include <stdlib.h>
#include <string.h>

#include "model.h"

mom_status mom_model_upcycle(mom_model *dense, int n_modalities, unsigned decouple, mom_model **out)
{
    if (out) *out = NULL;
    if (!dense) return MOM_ERR_INVALID_ARG;
    mom_ctx *ctx = dense->ctx;
    if (!out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_model_upcycle: out is NULL");
    mom_status qs = quant_refuse(dense, "mom_model_upcycle");
    if (qs) return qs;
    if (dense->cfg.n_modalities != 1)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                        "mom_model_upcycle: the model has %d modalities; upcycling starts from a dense one (1)",
                        dense->cfg.n_modalities);
    if (n_modalities < 1 || n_modalities > MOM_MAX_MODALITIES)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_model_upcycle: n_modalities = %d is not in [1, %d]",
                        n_modalities, MOM_MAX_MODALITIES);
    mom_config cfg = dense->cfg;
    cfg.n_modalities = n_modalities;
    cfg.decouple = decouple;
    mom_model *m = NULL;
    mom_status s = model_alloc(ctx, &cfg, 1, &m);
    if (s) return s;
    /* The dense weights on the host once; each new tensor is uploaded from
     * there (no host copy of the whole, larger model). */
    float *from = malloc(sizeof(float) * dense->n_params);
    if (!from) s = mom_fail(ctx, MOM_ERR_NOMEM, "mom_model_upcycle: out of memory");
    if (!s) {
        bv all = {dense->params, 0};
        dense->be->download(dense->be, from, all, dense->n_params);
    }
    char dn[sizeof(m->tensors[0].name)];
    for (size_t i = 0; !s && i < m->n_tensors; i++) {
        const tensor_entry *e = &m->tensors[i];
        params_dense_name(e->name, dn, sizeof(dn));
        const tensor_entry *src = params_find_copy(dense, dn, 0);
        if (!src || src->n != e->n) /* the same config but for the split: cannot happen */
            s = mom_fail(ctx, MOM_ERR_FORMAT, "mom_model_upcycle: no dense tensor for %s", e->name);
        else
            m->be->upload(m->be, (bv){m->params, e->off}, from + src->off, e->n);
    }
    free(from);
    if (s) mom_model_destroy(&m);
    *out = m;
    return s;
}
