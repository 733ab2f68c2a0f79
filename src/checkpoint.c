/* Checkpoints: the model as safetensors under the reference module's tensor
 * names with the config in __metadata__, the gradients likewise, and the
 * optimizer state (step, m, v, data RNG) as a second file. Loading checks
 * every name, dtype and shape before anything is used; writes go through a
 * temporary file, fsync and rename (src/safetensors.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "model.h"
#include "safetensors.h"

/* Writes buffer `buf` (n_params floats) as one tensor per table entry; a
 * quantized model's parameters with each quantized tensor in its stored
 * form (two tensors: the fp32 scales among the other fp32 ones first, the
 * byte-sized values last, so every tensor stays aligned). */
static mom_status write_table(mom_model *m, be_buf *buf, const char *path, const char *kind)
{
    if (!path) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "%s: output path is NULL", kind);
    const int quantized = buf == m->params && m->cfg.weight_format;
    float *host = malloc(sizeof(float) * m->n_params);
    st_write_tensor *t = calloc(2 * m->n_tensors, sizeof(*t));
    quant_file_names *qn = quantized ? calloc(m->n_tensors, sizeof(*qn)) : NULL;
    if (quantized && !qn) {
        free(host);
        host = NULL;
    }
    if (!host || !t) {
        free(host);
        free(t);
        return mom_fail(m->ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    }
    bv all = {buf, 0};
    m->be->download(m->be, host, all, m->n_params);
    size_t nt = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const tensor_entry *e = &m->tensors[i];
        if (quantized && quant_is_quantized(m, e)) {
            qn[i] = quant_names(m, e);
            t[nt++] = (st_write_tensor){qn[i].scale, ST_F32, qn[i].scale_ndim, {qn[i].scale_shape[0], qn[i].scale_shape[1]},
                                        m->quant[i].scale};
            continue;
        }
        t[nt].name = e->name;
        t[nt].dtype = ST_F32;
        t[nt].ndim = e->ndim;
        memcpy(t[nt].shape, e->shape, sizeof(e->shape));
        t[nt++].data = host + e->off;
    }
    for (size_t i = 0; quantized && i < m->n_tensors; i++)
        if (quant_is_quantized(m, &m->tensors[i]))
            t[nt++] = (st_write_tensor){qn[i].q, m->cfg.weight_format == MOM_WEIGHTS_Q8 ? ST_I8 : ST_U8, 2,
                                        {qn[i].q_shape[0], qn[i].q_shape[1]}, m->quant[i].q};
    char cfg[1024];
    mom_config_to_json(&m->cfg, cfg, sizeof(cfg));
    st_meta meta[3] = {{"format", "pt"}, {"config", cfg}, {"libmom", (char *)kind}};
    char err[512];
    int rc = st_write(path, t, nt, meta, 3, err, sizeof(err));
    free(host);
    free(t);
    free(qn);
    return rc ? mom_fail(m->ctx, MOM_ERR_IO, "%s", err) : MOM_OK;
}

mom_status mom_model_save(mom_model *m, const char *path)
{
    return m ? write_table(m, m->params, path, "model") : MOM_ERR_INVALID_ARG;
}

mom_status mom_model_save_grads(mom_model *m, const char *path)
{
    return m ? write_table(m, m->grads, path, "gradients") : MOM_ERR_INVALID_ARG;
}

/* A file that cannot be opened is an I/O error; one that opens but does not
 * parse or validate is a format error. */
static mom_status open_st(mom_ctx *ctx, const char *path, st_file *f)
{
    FILE *probe = fopen(path, "rb");
    if (!probe) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fclose(probe);
    char err[512];
    if (st_open(path, f, err, sizeof(err))) return mom_fail(ctx, MOM_ERR_FORMAT, "%s", err);
    return MOM_OK;
}

static mom_status config_from_file(mom_ctx *ctx, const st_file *f, const char *path, mom_config *cfg)
{
    const char *json = st_meta_get(f, "config");
    if (!json) return mom_fail(ctx, MOM_ERR_FORMAT, "%s: no \"config\" in __metadata__", path);
    mom_status s = mom_config_parse_json(ctx, json, strlen(json), cfg);
    if (s) {
        char msg[sizeof(ctx->err)];
        snprintf(msg, sizeof(msg), "%s", ctx->err);
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: __metadata__ %s", path, msg);
    }
    return MOM_OK;
}

mom_status ckpt_read_config(mom_ctx *ctx, const char *path, mom_config *cfg)
{
    st_file f;
    mom_status s = open_st(ctx, path, &f);
    if (s) return s;
    s = config_from_file(ctx, &f, path, cfg);
    st_close(&f);
    return s;
}

static int same_shape(const st_tensor_info *ti, const tensor_entry *e)
{
    if (ti->ndim != e->ndim) return 0;
    for (int d = 0; d < e->ndim; d++)
        if (ti->shape[d] != e->shape[d]) return 0;
    return 1;
}

/* A one-modality model whose config decouples a projection was saved
 * under the dense name (layers.N.mixer.in_proj.weight) before its names
 * followed the config: the dense name of modality 0's copy, or "" when
 * there is none. */
static void legacy_name(const mom_model *m, const char *name, char *out, size_t cap)
{
    if (m->cfg.n_modalities != 1 || params_dense_name(name, out, cap) < 0) out[0] = 0;
}

/* The file's tensor for table entry e, under its name or its legacy one. */
static const st_tensor_info *find_entry(const mom_model *m, const st_file *f, const tensor_entry *e)
{
    const st_tensor_info *ti = st_find(f, e->name);
    char old[sizeof(e->name)];
    legacy_name(m, e->name, old, sizeof(old));
    if (!ti && old[0]) ti = st_find(f, old);
    return ti;
}

/* Whether a file tensor of that name is some entry's legacy name. */
static int is_legacy_of_entry(const mom_model *m, const char *name)
{
    char old[sizeof(m->tensors[0].name)];
    for (size_t i = 0; i < m->n_tensors; i++) {
        legacy_name(m, m->tensors[i].name, old, sizeof(old));
        if (old[0] && !strcmp(old, name)) return 1;
    }
    return 0;
}

/* Whether a file tensor of that name is part of a quantized tensor's
 * stored form. */
static int is_stored_form(const mom_model *m, const char *name)
{
    const char *dot = strrchr(name, '.');
    char base[sizeof(m->tensors[0].name)];
    if (!dot || (size_t)(dot - name) >= sizeof(base)) return 0;
    memcpy(base, name, (size_t)(dot - name));
    base[dot - name] = 0;
    const tensor_entry *e = params_find(m, base);
    if (!e || !quant_is_quantized(m, e)) return 0;
    const quant_file_names n = quant_names(m, e);
    return !strcmp(name, n.q) || !strcmp(name, n.scale);
}

/* Checks that f holds exactly the model's tensors as F32 of the right shapes
 * (a tied model may also carry lm_head.weight equal to the embedding), a
 * quantized tensor's stored form in its dtypes and shapes: all before the
 * buffers that the config asks for are made. */
static mom_status check_tensors(mom_model *m, const st_file *f, const char *path)
{
    for (size_t i = 0; i < m->n_tensors; i++) {
        const tensor_entry *e = &m->tensors[i];
        if (quant_is_quantized(m, e)) {
            const mom_status s = quant_check_stored_form(m, f, path, e); /* its values: quant_load */
            if (s) return s;
            continue;
        }
        const st_tensor_info *ti = find_entry(m, f, e);
        if (!ti) return mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: missing tensor %s", path, e->name);
        if (ti->dtype != ST_F32) return mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: %s is not F32", path, e->name);
        if (!same_shape(ti, e)) {
            char want[64], got[64];
            st_shape_str(want, sizeof(want), e->ndim, e->shape);
            st_shape_str(got, sizeof(got), ti->ndim, ti->shape);
            return mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: %s has shape %s, the config needs %s", path, e->name, got, want);
        }
    }
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_tensor_info *ti = &f->tensors[i];
        const tensor_entry *e = params_find(m, ti->name);
        if ((e && !quant_is_quantized(m, e)) || is_legacy_of_entry(m, ti->name) || is_stored_form(m, ti->name))
            continue;
        const st_tensor_info *emb = st_find(f, "embedding.weight"); /* NULL when quantized */
        if (m->cfg.tie_embeddings && emb && !strcmp(ti->name, "lm_head.weight")) {
            if (ti->dtype == ST_F32 && ti->end - ti->begin == emb->end - emb->begin &&
                !memcmp(f->data + ti->begin, f->data + emb->begin, ti->end - ti->begin))
                continue;
            return mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: lm_head.weight differs from embedding.weight but the config ties them", path);
        }
        return mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: unexpected tensor %s for this config", path, ti->name);
    }
    return MOM_OK;
}

mom_status mom_model_load(mom_ctx *ctx, const char *path, mom_model **out)
{
    if (out) *out = NULL;
    if (!ctx) return MOM_ERR_INVALID_ARG;
    if (!path || !out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_model_load: %s is NULL", path ? "out" : "path");
    st_file f;
    mom_status s = open_st(ctx, path, &f);
    if (s) return s;
    mom_config cfg;
    mom_model *m = NULL;
    s = config_from_file(ctx, &f, path, &cfg);
    /* The table first, the buffers once the file holds every tensor: a
     * config in a few bytes of header may claim terabytes. */
    if (!s) s = model_alloc(ctx, &cfg, 0, &m);
    if (!s) s = check_tensors(m, &f, path);
    if (!s) s = model_alloc_buffers(m);
    /* Each tensor's values checked in the file's mapping, then uploaded
     * from there and dropped from it: no second copy of the whole model (a
     * model that fails part way is destroyed). A quantized tensor's stored
     * form is copied and checked by quant_load. */
    for (size_t i = 0; !s && i < m->n_tensors; i++) {
        const tensor_entry *e = &m->tensors[i];
        if (quant_is_quantized(m, e)) continue;
        const st_tensor_info *ti = find_entry(m, &f, e);
        const uint8_t *src = f.data + ti->begin;
        for (size_t j = 0; j < e->n && !s; j++) {
            float v;
            memcpy(&v, src + j * sizeof(float), sizeof v);
            if (!isfinite(v))
                s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: parameter element %zu is not finite", path, e->off + j);
        }
        if (!s) m->be->upload(m->be, (bv){m->params, e->off}, src, e->n);
        st_release(&f, ti); /* uploaded: the mapping's copy is not needed again */
    }
    if (!s) s = quant_load(m, &f, path);
    st_close(&f);
    if (s) mom_model_destroy(&m);
    *out = m;
    return s;
}

/* ---- optimizer state ---------------------------------------------------- */

mom_status mom_model_save_optim(mom_model *m, const char *path, uint64_t rng_state)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    if (!path) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "optimizer state: output path is NULL");
    float *mh = malloc(sizeof(float) * m->n_params), *vh = malloc(sizeof(float) * m->n_params);
    mom_status s = MOM_OK;
    if (!mh || !vh) s = mom_fail(m->ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    if (!s) {
        bv mb = {m->adam_m, 0}, vb = {m->adam_v, 0};
        m->be->download(m->be, mh, mb, m->n_params);
        m->be->download(m->be, vh, vb, m->n_params);
        int64_t step = m->step;
        st_write_tensor t[4] = {
            {"step", ST_I64, 1, {1}, &step},
            {"rng_state", ST_U64, 1, {1}, &rng_state},
            {"adam_m", ST_F32, 1, {(int64_t)m->n_params}, mh},
            {"adam_v", ST_F32, 1, {(int64_t)m->n_params}, vh},
        };
        char cfg[1024], err[512];
        mom_config_to_json(&m->cfg, cfg, sizeof(cfg));
        st_meta meta[2] = {{"config", cfg}, {"libmom", "optimizer"}};
        if (st_write(path, t, 4, meta, 2, err, sizeof(err))) s = mom_fail(m->ctx, MOM_ERR_IO, "%s", err);
    }
    free(mh);
    free(vh);
    return s;
}

static const st_tensor_info *want(mom_model *m, const st_file *f, const char *path, const char *name,
                                  st_dtype dt, int64_t n, mom_status *s)
{
    const st_tensor_info *t = st_find(f, name);
    if (*s) return NULL;
    if (!t || t->dtype != dt || t->ndim != 1 || t->shape[0] != n) {
        *s = mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: tensor %s missing or not of %lld elements of the right dtype",
                      path, name, (long long)n);
        return NULL;
    }
    return t;
}

mom_status mom_model_load_optim(mom_model *m, const char *path, uint64_t *rng_state)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    if (!path) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "optimizer state: path is NULL");
    st_file f;
    mom_status s = open_st(m->ctx, path, &f);
    if (s) return s;
    mom_config cfg;
    char a[1024], b[1024];
    if (config_from_file(m->ctx, &f, path, &cfg)) s = MOM_ERR_FORMAT;
    else {
        mom_config_to_json(&cfg, a, sizeof(a));
        mom_config_to_json(&m->cfg, b, sizeof(b));
        if (strcmp(a, b)) s = mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: optimizer state is for another config: %s", path, a);
    }
    const st_tensor_info *ts = want(m, &f, path, "step", ST_I64, 1, &s);
    const st_tensor_info *tr = want(m, &f, path, "rng_state", ST_U64, 1, &s);
    const st_tensor_info *tm = want(m, &f, path, "adam_m", ST_F32, (int64_t)m->n_params, &s);
    const st_tensor_info *tv = want(m, &f, path, "adam_v", ST_F32, (int64_t)m->n_params, &s);
    int64_t step = 0;
    if (!s) {
        memcpy(&step, f.data + ts->begin, sizeof(step));
        if (step < 0) s = mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: step %lld is negative", path, (long long)step);
    }
    /* Poisoned moments would turn the next step's parameters into NaN. */
    for (size_t i = 0; !s && i < m->n_params; i++) {
        float mi, vi;
        memcpy(&mi, f.data + tm->begin + 4 * i, 4);
        memcpy(&vi, f.data + tv->begin + 4 * i, 4);
        if (!isfinite(mi))
            s = mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: adam_m[%zu] = %g is not finite", path, i, (double)mi);
        else if (!isfinite(vi) || vi < 0.0f)
            s = mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: adam_v[%zu] = %g is not finite and >= 0", path, i, (double)vi);
    }
    if (!s) {
        bv mb = {m->adam_m, 0}, vb = {m->adam_v, 0};
        m->be->upload(m->be, mb, f.data + tm->begin, m->n_params);
        m->be->upload(m->be, vb, f.data + tv->begin, m->n_params);
        m->step = step;
        if (rng_state) memcpy(rng_state, f.data + tr->begin, sizeof(*rng_state));
    }
    st_close(&f);
    return s;
}
