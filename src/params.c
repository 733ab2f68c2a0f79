/* The flat parameter buffer: its named-tensor table (the names and shapes of
 * the reference PyTorch module) and the upstream Mamba initialisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rng.h"

static size_t add(mom_model *m, int cap, int decay, int ndim, int64_t d0, int64_t d1, int64_t d2,
                  const char *fmt, ...) __attribute__((format(printf, 8, 9)));

#include <stdarg.h>
static size_t add(mom_model *m, int cap, int decay, int ndim, int64_t d0, int64_t d1, int64_t d2,
                  const char *fmt, ...)
{
    tensor_entry *t = &m->tensors[m->n_tensors++];
    (void)cap;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof(t->name), fmt, ap);
    va_end(ap);
    t->ndim = ndim;
    int64_t dims[3] = {d0, d1, d2};
    t->n = 1;
    for (int i = 0; i < 4; i++) t->shape[i] = i < ndim ? dims[i] : 0;
    for (int i = 0; i < ndim; i++) t->n *= (size_t)dims[i];
    t->off = m->n_params;
    t->decay = decay;
    m->n_params += t->n;
    return t->off;
}

/* One weight per modality, or one shared weight in every slot. A
 * decoupled projection has its local_experts names even with one modality,
 * so that names and config agree and the reference module loads the file
 * strictly; checkpoint.c still reads the dense names such a model had
 * before. */
static void proj(mom_model *m, int cap, unsigned bit, int i, const char *what, int64_t out, int64_t in,
                 size_t *slots)
{
    const int split = (m->cfg.decouple & bit) != 0;
    if (split) {
        for (int k = 0; k < m->cfg.n_modalities; k++)
            slots[k] = add(m, cap, 1, 2, out, in, 0, "layers.%d.mixer.local_experts_%s.%d.weight", i, what, k);
    } else {
        size_t o = add(m, cap, 1, 2, out, in, 0, "layers.%d.mixer.%s.weight", i, what);
        for (int k = 0; k < MOM_MAX_MODALITIES; k++) slots[k] = o;
    }
}

mom_status params_build_table(mom_model *m)
{
    const mom_config *c = &m->cfg;
    const int M = c->n_modalities, Di = m->d_inner, R = m->dt_rank;
    const int cap = 9 + c->n_layer * (6 + 5 * M);
    m->tensors = calloc((size_t)cap, sizeof(tensor_entry));
    m->layers = calloc((size_t)c->n_layer, sizeof(layer_params));
    if (!m->tensors || !m->layers) return MOM_ERR_NOMEM;
    m->n_params = 0;
    m->embedding = add(m, cap, 1, 2, c->vocab_size, c->d_model, 0, "embedding.weight");
    for (int i = 0; i < c->n_layer; i++) {
        layer_params *L = &m->layers[i];
        L->norm = add(m, cap, 0, 1, c->d_model, 0, 0, "layers.%d.norm.weight", i);
        proj(m, cap, MOM_DECOUPLE_IN, i, "in_proj", 2 * Di, c->d_model, L->in);
        L->conv_w = add(m, cap, 0, 3, Di, 1, c->d_conv, "layers.%d.mixer.conv1d.weight", i);
        L->conv_b = add(m, cap, 0, 1, Di, 0, 0, "layers.%d.mixer.conv1d.bias", i);
        proj(m, cap, MOM_DECOUPLE_X, i, "x_proj", m->n_xdbl, Di, L->x);
        if (c->decouple & MOM_DECOUPLE_DT) {
            for (int k = 0; k < M; k++) {
                L->dt_w[k] = add(m, cap, 1, 2, Di, R, 0, "layers.%d.mixer.local_experts_dt_proj.%d.weight", i, k);
                L->dt_b[k] = add(m, cap, 0, 1, Di, 0, 0, "layers.%d.mixer.local_experts_dt_proj.%d.bias", i, k);
            }
        } else {
            size_t w = add(m, cap, 1, 2, Di, R, 0, "layers.%d.mixer.dt_proj.weight", i);
            size_t b = add(m, cap, 0, 1, Di, 0, 0, "layers.%d.mixer.dt_proj.bias", i);
            for (int k = 0; k < MOM_MAX_MODALITIES; k++) { L->dt_w[k] = w; L->dt_b[k] = b; }
        }
        L->A_log = add(m, cap, 0, 2, Di, c->d_state, 0, "layers.%d.mixer.A_log", i);
        L->D = add(m, cap, 0, 1, Di, 0, 0, "layers.%d.mixer.D", i);
        proj(m, cap, MOM_DECOUPLE_OUT, i, "out_proj", c->d_model, Di, L->out);
    }
    m->norm_f = add(m, cap, 0, 1, c->d_model, 0, 0, "norm_f.weight");
    m->lm_head = c->tie_embeddings ? m->embedding
                                   : add(m, cap, 1, 2, c->vocab_size, c->d_model, 0, "lm_head.weight");
    m->patch_dim = mom_patch_dim(&c->patches);
    if (m->patch_dim) {
        m->patch_in_w = add(m, cap, 1, 2, c->d_model, m->patch_dim, 0, "patch_in.weight");
        m->patch_in_b = add(m, cap, 0, 1, c->d_model, 0, 0, "patch_in.bias");
        m->time_in_w = add(m, cap, 1, 2, c->d_model, c->time_dim, 0, "time_in.weight");
        m->time_in_b = add(m, cap, 0, 1, c->d_model, 0, 0, "time_in.bias");
        m->patch_out_w = add(m, cap, 1, 2, m->patch_dim, c->d_model, 0, "patch_out.weight");
        m->patch_out_b = add(m, cap, 0, 1, m->patch_dim, 0, 0, "patch_out.bias");
    }
    return MOM_OK;
}

const tensor_entry *params_find(const mom_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

int params_dense_name(const char *name, char *out, size_t cap)
{
    const char *le = strstr(name, "local_experts_");
    const char *what = le ? le + strlen("local_experts_") : NULL;
    const char *dot = what ? strchr(what, '.') : NULL;
    const char *rest = dot ? strchr(dot + 1, '.') : NULL;
    if (!rest) {
        snprintf(out, cap, "%s", name);
        return -1;
    }
    snprintf(out, cap, "%.*s%.*s%s", (int)(le - name), name, (int)(dot - what), what, rest);
    return atoi(dot + 1);
}

const tensor_entry *params_find_copy(const mom_model *m, const char *dense_name, int k)
{
    const tensor_entry *e = params_find(m, dense_name);
    if (e) return e;
    static const char *const projs[] = {".in_proj.", ".x_proj.", ".dt_proj.", ".out_proj."};
    for (int i = 0; i < 4; i++) {
        const char *p = strstr(dense_name, projs[i]);
        if (!p) continue;
        char split[sizeof(e->name) + 32];
        const size_t len = strlen(projs[i]) - 1; /* ".in_proj" */
        snprintf(split, sizeof(split), "%.*s.local_experts_%.*s.%d%s", (int)(p - dense_name), dense_name,
                 (int)len - 1, p + 1, k, p + len);
        return params_find(m, split);
    }
    return NULL;
}

static void fill_uniform(rng *r, float *p, size_t n, float bound)
{
    for (size_t i = 0; i < n; i++) p[i] = (2.0f * rng_uniform(r) - 1.0f) * bound;
}

/* As upstream Mamba (mamba_simple.py and _init_weights in mixer_seq_simple.py):
 * Linear weights kaiming-uniform, i.e. U(+-1/sqrt(fan_in)); dt_proj weight
 * U(+-dt_rank^-1/2); dt bias = inverse softplus of a log-uniform sample in
 * [1e-3, 1e-1] floored at 1e-4; A_log = log(1..d_state); D = 1; conv1d
 * U(+-1/sqrt(d_conv)); embedding N(0, 0.02); out_proj scaled by
 * 1/sqrt(n_layer); norms 1. The continuous-image layers are Linear too:
 * weights U(+-1/sqrt(fan_in)), biases 0. `host` holds n_params floats. */
void params_init(mom_model *m, uint64_t seed, float *host)
{
    rng r;
    rng_seed(&r, seed);
    const mom_config *c = &m->cfg;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const tensor_entry *t = &m->tensors[i];
        float *p = host + t->off;
        const char *nm = t->name;
        if (strstr(nm, "norm")) {
            for (size_t j = 0; j < t->n; j++) p[j] = 1.0f;
        } else if (!strcmp(nm, "embedding.weight") || !strcmp(nm, "lm_head.weight")) {
            for (size_t j = 0; j < t->n; j++) p[j] = 0.02f * rng_normal(&r);
        } else if (strstr(nm, "A_log")) {
            for (int64_t d = 0; d < t->shape[0]; d++)
                for (int64_t n = 0; n < t->shape[1]; n++) p[d * t->shape[1] + n] = logf((float)(n + 1));
        } else if (strstr(nm, "mixer.D")) {
            for (size_t j = 0; j < t->n; j++) p[j] = 1.0f;
        } else if (strstr(nm, "conv1d")) {
            fill_uniform(&r, p, t->n, 1.0f / sqrtf((float)c->d_conv));
        } else if (strstr(nm, "dt_proj") && strstr(nm, ".bias")) {
            for (size_t j = 0; j < t->n; j++) {
                const double lo = log(1e-3), hi = log(1e-1);
                double dt = exp((double)rng_uniform(&r) * (hi - lo) + lo);
                if (dt < 1e-4) dt = 1e-4;
                p[j] = (float)(dt + log(-expm1(-dt)));
            }
        } else if (strstr(nm, "dt_proj")) {
            fill_uniform(&r, p, t->n, 1.0f / sqrtf((float)m->dt_rank));
        } else if (t->ndim == 1) { /* patch_in, time_in, patch_out biases */
            for (size_t j = 0; j < t->n; j++) p[j] = 0.0f;
        } else { /* in_proj, x_proj, out_proj weights: [out, in] */
            float bound = 1.0f / sqrtf((float)t->shape[1]);
            fill_uniform(&r, p, t->n, bound);
            if (strstr(nm, "out_proj"))
                for (size_t j = 0; j < t->n; j++) p[j] /= sqrtf((float)c->n_layer);
        }
    }
}
