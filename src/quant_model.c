/* Quantized models: mom_model_quantize, what loading and saving one needs,
 * and its projections. A quantized model keeps each quantized tensor's
 * stored form (the int8 or packed 4-bit values and their scales,
 * src/quant.h), which its projections and head compute with
 * (model_mm_fwd), beside the fp32 values they stand for (the embedding
 * lookup and mom_model_get_param read those); a file written from it holds
 * the stored form, so writing it again gives the same bytes. Training, upcycling, growing the vocabulary and device
 * backends need fp32 weights and refuse it (quant_refuse). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "quant.h"
#include "safetensors.h"

static const char *const format_names[3] = {"f32", "q8", "q4"}; /* MOM_WEIGHTS_* */

int quant_is_quantized(const mom_model *m, const tensor_entry *e)
{
    if (!m->cfg.weight_format || e->ndim != 2) return 0;
    const size_t n = strlen(e->name);
    const int proj_weight = strstr(e->name, "_proj") && n > 7 && !strcmp(e->name + n - 7, ".weight");
    return proj_weight || e->off == m->lm_head; /* the embedding too, when tied */
}

mom_status quant_refuse(const mom_model *m, const char *what)
{
    const int f = m->cfg.weight_format;
    if (!f) return MOM_OK;
    return mom_fail(m->ctx, MOM_ERR_UNSUPPORTED,
                    "%s needs fp32 weights, and the model's are %s (quantized for inference): use the fp32 model it "
                    "was quantized from",
                    what, format_names[f >= 0 && f < 3 ? f : 0]);
}

quant_file_names quant_names(const mom_model *m, const tensor_entry *e)
{
    const int f = m->cfg.weight_format;
    quant_file_names n;
    memset(&n, 0, sizeof n);
    snprintf(n.q, sizeof n.q, "%s.%s", e->name, format_names[f]);
    snprintf(n.scale, sizeof n.scale, "%s.scale", e->name);
    n.q_shape[0] = n.scale_shape[0] = e->shape[0];
    n.q_shape[1] = quant_row_bytes(f, e->shape[1]);
    n.scale_shape[1] = quant_row_scales(f, e->shape[1]);
    n.scale_ndim = f == MOM_WEIGHTS_Q8 ? 1 : 2;
    return n;
}

void quant_free(mom_model *m)
{
    for (size_t i = 0; m->quant && i < m->n_tensors; i++) {
        free(m->quant[i].q);
        free(m->quant[i].scale);
    }
    free(m->quant);
    m->quant = NULL;
}

/* Room for the stored form of every quantized tensor of m. */
static mom_status quant_alloc(mom_model *m)
{
    const int f = m->cfg.weight_format;
    m->quant = calloc(m->n_tensors, sizeof(quant_tensor));
    if (!m->quant) return mom_fail(m->ctx, MOM_ERR_NOMEM, "out of memory for quantized weights");
    for (size_t i = 0; i < m->n_tensors; i++) {
        const tensor_entry *e = &m->tensors[i];
        if (!quant_is_quantized(m, e)) continue;
        m->quant[i].q = malloc((size_t)(e->shape[0] * quant_row_bytes(f, e->shape[1])));
        m->quant[i].scale = malloc(sizeof(float) * (size_t)(e->shape[0] * quant_row_scales(f, e->shape[1])));
        if (!m->quant[i].q || !m->quant[i].scale)
            return mom_fail(m->ctx, MOM_ERR_NOMEM, "out of memory for quantized weights");
    }
    return MOM_OK;
}

static int same_shape(const st_tensor_info *ti, int ndim, const int64_t *shape)
{
    if (ti->ndim != ndim) return 0;
    for (int d = 0; d < ndim; d++)
        if (ti->shape[d] != shape[d]) return 0;
    return 1;
}

/* The file's stored form of e, checked: its two tensors, of the right
 * dtypes and shapes. */
static mom_status find_stored(mom_model *m, const st_file *f, const char *path, const tensor_entry *e,
                              const st_tensor_info **q, const st_tensor_info **s)
{
    const quant_file_names n = quant_names(m, e);
    const st_dtype qt = m->cfg.weight_format == MOM_WEIGHTS_Q8 ? ST_I8 : ST_U8;
    *q = st_find(f, n.q);
    *s = st_find(f, n.scale);
    if (!*q || !*s)
        return mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: missing tensor %s of the %s model", path, !*q ? n.q : n.scale,
                        format_names[m->cfg.weight_format]);
    if ((*q)->dtype != qt || !same_shape(*q, 2, n.q_shape) || (*s)->dtype != ST_F32 ||
        !same_shape(*s, n.scale_ndim, n.scale_shape)) {
        const int bad_q = (*q)->dtype != qt || !same_shape(*q, 2, n.q_shape);
        const st_tensor_info *ti = bad_q ? *q : *s;
        char want[64], got[64];
        st_shape_str(want, sizeof want, bad_q ? 2 : n.scale_ndim, bad_q ? n.q_shape : n.scale_shape);
        st_shape_str(got, sizeof got, ti->ndim, ti->shape);
        return mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: %s is %s %s, the config needs %s %s", path, ti->name,
                        st_dtype_name(ti->dtype), got, st_dtype_name(bad_q ? qt : ST_F32), want);
    }
    return MOM_OK;
}

int model_mm_fwd(mom_model *m, int M, int N, int K, bv A, int lda, size_t w, bv C, int ldc, int acc)
{
    for (size_t i = 0; m->quant && i < m->n_tensors; i++)
        if (m->tensors[i].off == w && m->quant[i].q)
            return m->be->mm_fwd_q(m->be, m->cfg.weight_format, M, N, K, A, lda, m->quant[i].q, m->quant[i].scale, C,
                                   ldc, acc);
    return m->be->mm_fwd(m->be, M, N, K, A, lda, P(m, w), C, ldc, acc);
}

mom_status quant_load(mom_model *m, const st_file *f, const char *path, float *host)
{
    const int fmt = m->cfg.weight_format;
    if (!fmt) return MOM_OK;
    mom_status s = quant_alloc(m);
    for (size_t i = 0; !s && i < m->n_tensors; i++) {
        const tensor_entry *e = &m->tensors[i];
        if (!quant_is_quantized(m, e)) continue;
        const st_tensor_info *q, *sc;
        if ((s = find_stored(m, f, path, e, &q, &sc))) break;
        const int64_t rows = e->shape[0], K = e->shape[1];
        memcpy(m->quant[i].q, f->data + q->begin, q->end - q->begin);
        memcpy(m->quant[i].scale, f->data + sc->begin, sc->end - sc->begin);
        char why[160];
        const int64_t bad = quant_check(fmt, m->quant[i].q, m->quant[i].scale, rows, K, why, sizeof why);
        if (bad >= 0) {
            s = mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: %s, row %lld: %s", path, e->name, (long long)bad, why);
            break;
        }
        dequant_rows(fmt, m->quant[i].q, m->quant[i].scale, rows, K, host + e->off);
    }
    return s;
}

mom_status mom_model_quantize(mom_model *m, int format, mom_model **out)
{
    if (out) *out = NULL;
    if (!m) return MOM_ERR_INVALID_ARG;
    mom_ctx *ctx = m->ctx;
    if (!out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_model_quantize: out is NULL");
    if (format != MOM_WEIGHTS_Q8 && format != MOM_WEIGHTS_Q4)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_model_quantize: format %d is not MOM_WEIGHTS_Q8 or _Q4", format);
    mom_status s = quant_refuse(m, "mom_model_quantize");
    if (s) return s;
    if (strcmp(m->be->name, "cpu"))
        return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "mom_model_quantize: quantized models run on the CPU; this one is on %s",
                        m->be->name);
    mom_config cfg = m->cfg;
    cfg.weight_format = format;
    mom_model *n = NULL;
    if ((s = model_alloc(ctx, &cfg, 1, &n)) || (s = quant_alloc(n))) {
        mom_model_destroy(&n);
        return s;
    }
    float *host = malloc(sizeof(float) * m->n_params);
    if (!host) s = mom_fail(ctx, MOM_ERR_NOMEM, "mom_model_quantize: out of memory");
    if (!s) {
        m->be->download(m->be, host, (bv){m->params, 0}, m->n_params);
        /* The same table (only weight_format differs): quantize in place. */
        for (size_t i = 0; i < n->n_tensors; i++) {
            const tensor_entry *e = &n->tensors[i];
            if (!quant_is_quantized(n, e)) continue;
            quant_rows(format, host + e->off, e->shape[0], e->shape[1], n->quant[i].q, n->quant[i].scale);
            dequant_rows(format, n->quant[i].q, n->quant[i].scale, e->shape[0], e->shape[1], host + e->off);
        }
        n->be->upload(n->be, (bv){n->params, 0}, host, n->n_params);
    }
    free(host);
    if (s) mom_model_destroy(&n);
    *out = n;
    return s;
}
