/* Tensors by name: the shape, the parameters and gradients of one tensor
 * in and out, and the whole gradient buffer at once. */
#include <math.h>
#include <string.h>

#include "model.h"

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
    if (out && buf == m->params) model_read_param(m, t, out); /* a quantized tensor: from its stored form */
    else if (out) m->be->download(m->be, out, v, n);
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
    if (!s && quant_is_quantized(m, t)) s = quant_refuse(m, "mom_model_set_param on a quantized tensor");
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
