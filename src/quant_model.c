/* Quantized models: mom_model_quantize, what loading and saving one needs,
 * and the ops that read a weight. A quantized model keeps each quantized
 * tensor's stored form (the int8 or packed 4-bit values and their scales,
 * src/quant.h) in one block of its own (quant_mem: huge pages for a large
 * one, src/host_memory.h) and nothing else for it: its projections and head
 * compute with it (model_mm_fwd), its tied embedding is looked up in it
 * (model_embed_fwd), and its values are dequantized where they are asked
 * for (model_read_param). Its part of the parameter buffer is never
 * written, so those pages are never made. A file written from it holds
 * the stored form, so writing it again gives the same bytes. Training,
 * upcycling, growing the vocabulary and device backends need fp32 weights
 * and refuse it (quant_refuse). */
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
    free(m->quant);
    m->quant = NULL;
    host_memory_free(&m->quant_mem);
}

static size_t round_up64(size_t n) { return (n + 63) / 64 * 64; }

/* The table of stored forms, and one block of memory for them all, each
 * part on a cache line (zeroed: a loader or mom_model_quantize fills it). */
static mom_status quant_alloc(mom_model *m)
{
    const int f = m->cfg.weight_format;
    m->quant = calloc(m->n_tensors, sizeof(quant_tensor));
    if (!m->quant) return mom_fail(m->ctx, MOM_ERR_NOMEM, "out of memory for quantized weights");
    for (int pass = 0; pass < 2; pass++) { /* sizes, then places */
        size_t at = 0;
        for (size_t i = 0; i < m->n_tensors; i++) {
            const tensor_entry *e = &m->tensors[i];
            if (!quant_is_quantized(m, e)) continue;
            const size_t qb = (size_t)e->shape[0] * quant_row_bytes(f, e->shape[1]);
            const size_t sb = sizeof(float) * (size_t)e->shape[0] * quant_row_scales(f, e->shape[1]);
            if (pass) {
                uint8_t *base = m->quant_mem.p;
                m->quant[i].q = base + at;
                m->quant[i].scale = (float *)(void *)(base + at + round_up64(qb));
            }
            if (round_up64(qb) + round_up64(sb) > SIZE_MAX - 64 - at)
                return mom_fail(m->ctx, MOM_ERR_NOMEM, "quantized weights larger than memory can address");
            at += round_up64(qb) + round_up64(sb);
        }
        if (!pass && host_memory_alloc(&m->quant_mem, at))
            return mom_fail(m->ctx, MOM_ERR_NOMEM, "out of memory for %zu bytes of quantized weights", at);
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

/* The stored form of the tensor at offset w, or NULL. Every projection
 * call asks, so a binary search: the table is in offset order (params.c
 * gives each tensor the next offset; an empty one shares its successor's). */
static const quant_tensor *stored_at(const mom_model *m, size_t w)
{
    if (!m->quant) return NULL;
    size_t lo = 0, hi = m->n_tensors;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (m->tensors[mid].off < w) lo = mid + 1;
        else hi = mid;
    }
    for (; lo < m->n_tensors && m->tensors[lo].off == w; lo++)
        if (m->quant[lo].q) return &m->quant[lo];
    return NULL;
}

int model_mm_fwd(mom_model *m, int M, int N, int K, bv A, int lda, size_t w, bv C, int ldc, int acc)
{
    const quant_tensor *qt = stored_at(m, w);
    if (qt) return m->be->mm_fwd_q(m->be, m->cfg.weight_format, M, N, K, A, lda, qt->q, qt->scale, C, ldc, acc);
    return m->be->mm_fwd(m->be, M, N, K, A, lda, P(m, w), C, ldc, acc);
}

void model_embed_fwd(mom_model *m, int T, bv tok, bv out)
{
    const quant_tensor *qt = stored_at(m, m->embedding);
    if (qt) m->be->embed_fwd_q(m->be, m->cfg.weight_format, T, m->cfg.d_model, tok, qt->q, qt->scale, out);
    else m->be->embed_fwd(m->be, T, m->cfg.d_model, tok, P(m, m->embedding), out);
}

void model_read_param(mom_model *m, const tensor_entry *e, float *host)
{
    const quant_tensor *qt = stored_at(m, e->off);
    if (qt) dequant_rows(m->cfg.weight_format, qt->q, qt->scale, e->shape[0], e->shape[1], host);
    else m->be->download(m->be, host, (bv){m->params, e->off}, e->n);
}

mom_status quant_check_stored_form(mom_model *m, const st_file *f, const char *path, const tensor_entry *e)
{
    const st_tensor_info *q, *s;
    return find_stored(m, f, path, e, &q, &s);
}

mom_status quant_load(mom_model *m, st_file *f, const char *path)
{
    const int fmt = m->cfg.weight_format;
    if (!fmt) return MOM_OK;
    mom_status s = quant_alloc(m);
    for (size_t i = 0; !s && i < m->n_tensors; i++) {
        const tensor_entry *e = &m->tensors[i];
        if (!quant_is_quantized(m, e)) continue;
        const st_tensor_info *q, *sc;
        if ((s = find_stored(m, f, path, e, &q, &sc))) break;
        quant_tensor *t = &m->quant[i];
        memcpy(t->q, f->data + q->begin, q->end - q->begin);
        memcpy(t->scale, f->data + sc->begin, sc->end - sc->begin);
        st_release(f, q);
        st_release(f, sc);
        char why[160];
        const int64_t bad = quant_check(fmt, t->q, t->scale, e->shape[0], e->shape[1], why, sizeof why);
        if (bad >= 0) s = mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: %s, row %lld: %s", path, e->name, (long long)bad, why);
    }
    if (s) quant_free(m);
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
    /* The same table (only weight_format differs), a tensor at a time. */
    float *host = NULL;
    for (size_t i = 0; !s && i < n->n_tensors; i++) {
        const tensor_entry *e = &n->tensors[i];
        float *h = realloc(host, sizeof(float) * e->n);
        if (!h) {
            s = mom_fail(ctx, MOM_ERR_NOMEM, "mom_model_quantize: out of memory");
            break;
        }
        host = h;
        model_read_param(m, e, host); /* m is fp32: its parameters */
        if (quant_is_quantized(n, e))
            quant_rows(format, host, e->shape[0], e->shape[1], n->quant[i].q, n->quant[i].scale);
        else n->be->upload(n->be, (bv){n->params, e->off}, host, e->n);
    }
    free(host);
    if (s) mom_model_destroy(&n);
    *out = n;
    return s;
}
