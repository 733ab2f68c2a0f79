/* mom_model_load_pretrained: a dense Mamba-1 checkpoint, in mamba_ssm's or
 * transformers' layout, as a one-modality libmom model. The files are
 * config.json beside model.safetensors, or beside a sharded
 * model.safetensors.index.json and its shards. Every tensor is checked
 * (name, dtype, shape) before any buffer is allocated, and F16 / BF16
 * values are widened to fp32 exactly. Pickle checkpoints are refused
 * without being opened: unpickling runs code. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctx.h"
#include "file_util.h"
#include "json.h"
#include "model.h"
#include "pretrained.h"
#include "safetensors.h"

#define MAX_SHARDS 256

/* The checkpoint's files: its config and one or more safetensors files. */
typedef struct {
    char dir[4096];
    char config[4200];
    char *paths[MAX_SHARDS];
    st_file files[MAX_SHARDS];
    int n_files;
} source;

static void source_close(source *src)
{
    for (int i = 0; i < src->n_files; i++) {
        st_close(&src->files[i]);
        free(src->paths[i]);
    }
    src->n_files = 0;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && !strcmp(s + n - t, tail);
}

static int is_file(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISREG(st.st_mode);
}

static mom_status refuse_pickle(mom_ctx *ctx, const char *p)
{
    return mom_fail(ctx, MOM_ERR_UNSUPPORTED,
                    "%s: a pickle checkpoint is never unpickled (loading one runs code); where PyTorch is installed, "
                    "python3 tools/scripts/torch_to_safetensors.py %s model.safetensors writes it as safetensors",
                    p, p);
}

/* torch.save writes a zip (PK\3\4) or, before PyTorch 1.6, a bare pickle
 * (protocol byte 0x80): told by the first bytes, not the name, since a
 * .bin file may be anything. */
static int is_pickle_file(const char *p)
{
    unsigned char head[4] = {0};
    FILE *f = fopen(p, "rb");
    if (!f) return 0;
    size_t n = fread(head, 1, sizeof(head), f);
    fclose(f);
    return (n == 4 && !memcmp(head, "PK\3\4", 4)) || (n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5);
}

static mom_status open_one(mom_ctx *ctx, source *src, const char *path)
{
    if (src->n_files == MAX_SHARDS)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: more than %d shards", path, MAX_SHARDS);
    char err[512];
    struct stat st;
    if (stat(path, &st)) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: not a regular file", path);
    if (st_open(path, &src->files[src->n_files], err, sizeof(err))) return mom_fail(ctx, MOM_ERR_FORMAT, "%s", err);
    src->paths[src->n_files] = strdup(path);
    if (!src->paths[src->n_files]) {
        st_close(&src->files[src->n_files]);
        return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    }
    src->n_files++;
    return MOM_OK;
}

/* model.safetensors.index.json: {"weight_map": {tensor: shard file}}. Opens
 * each shard once and checks that every tensor is where the map says. */
static mom_status open_index(mom_ctx *ctx, source *src, const char *index)
{
    json_value *root = NULL;
    mom_status s = pretrained_read_json(ctx, index, MOM_ERR_FORMAT, &root);
    if (s) return s;
    const json_value *map = json_get(root, "weight_map");
    if (!map || map->type != JSON_OBJECT)
        s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: no \"weight_map\" object", index);
    for (size_t i = 0; !s && i < map->n_keys; i++) {
        const json_value *v = &map->vals[i];
        if (v->type != JSON_STRING || strchr(v->str, '/') || !v->str[0]) {
            s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: weight_map[%s] is not a file name beside the index", index,
                         map->keys[i]);
            break;
        }
        char path[8300];
        snprintf(path, sizeof(path), "%s/%s", src->dir, v->str);
        int k = 0;
        while (k < src->n_files && strcmp(src->paths[k], path)) k++;
        if (k == src->n_files) s = open_one(ctx, src, path);
        if (!s && !st_find(&src->files[k], map->keys[i]))
            s = mom_fail(ctx, MOM_ERR_FORMAT, "%s: weight_map puts %s in %s, which does not hold it", index,
                         map->keys[i], v->str);
    }
    json_free(root);
    return s;
}

/* PATH: a folder, an index, or one safetensors file; config.json beside. */
static mom_status source_open(mom_ctx *ctx, const char *path, source *src)
{
    struct stat st;
    if (stat(path, &st)) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        snprintf(src->dir, sizeof(src->dir), "%s", path);
    } else {
        if (!ends_with(path, ".safetensors") && !ends_with(path, ".json") && is_pickle_file(path))
            return refuse_pickle(ctx, path);
        const char *slash = strrchr(path, '/');
        snprintf(src->dir, sizeof(src->dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    }
    snprintf(src->config, sizeof(src->config), "%s/config.json", src->dir);
    char p[4300];
    if (!S_ISDIR(st.st_mode)) {
        if (ends_with(path, ".index.json")) return open_index(ctx, src, path);
        if (ends_with(path, ".safetensors")) return open_one(ctx, src, path);
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: not a .safetensors file, a .safetensors.index.json or a folder",
                        path);
    }
    snprintf(p, sizeof(p), "%s/model.safetensors", src->dir);
    if (is_file(p)) return open_one(ctx, src, p);
    snprintf(p, sizeof(p), "%s/model.safetensors.index.json", src->dir);
    if (is_file(p)) return open_index(ctx, src, p);
    const char *pickles[] = {"pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth"};
    for (size_t i = 0; i < sizeof(pickles) / sizeof(pickles[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", src->dir, pickles[i]);
        if (is_file(p)) return refuse_pickle(ctx, p);
    }
    return mom_fail(ctx, MOM_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json in the folder", path);
}

/* A tensor of the checkpoint and the file holding it. */
typedef struct {
    const st_tensor_info *info;
    const st_file *file;
    const char *path;
} found;

/* transformers' MambaModel renames embedding. to embeddings. as it loads
 * (its load_hook), so a file of that layout may hold either name. */
static const char HF_OLD_EMBEDDING[] = "backbone.embedding.weight";

static found find_exact(const source *src, const char *name)
{
    found r = {0};
    for (int i = 0; i < src->n_files && !r.info; i++) {
        r.info = st_find(&src->files[i], name);
        r.file = &src->files[i];
        r.path = src->paths[i];
    }
    return r;
}

static found find(const source *src, const char *name)
{
    found r = find_exact(src, name);
    if (!r.info && !strcmp(name, pretrained_embedding_name(PRETRAINED_HF))) r = find_exact(src, HF_OLD_EMBEDDING);
    return r;
}

/* where: the checkpoint, for a tensor that is in none of its files. */
static mom_status check_one(mom_ctx *ctx, const found *t, const char *name, const tensor_entry *e, const char *where)
{
    char want[80], got[80];
    st_shape_str(want, sizeof(want), e->ndim, e->shape);
    if (!t->info)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: tensor %s is missing: the config needs it, of shape %s", where, name,
                        want);
    st_dtype dt = t->info->dtype;
    if (dt != ST_F32 && dt != ST_F16 && dt != ST_BF16)
        return mom_fail(ctx, MOM_ERR_FORMAT, "%s: %s is %s: only F32, F16 and BF16 convert", t->path, name,
                        st_dtype_name(dt));
    int same = t->info->ndim == e->ndim;
    for (int d = 0; same && d < e->ndim; d++) same = t->info->shape[d] == e->shape[d];
    st_shape_str(got, sizeof(got), t->info->ndim, t->info->shape);
    if (!same) return mom_fail(ctx, MOM_ERR_FORMAT, "%s: %s has shape %s, the config needs %s", t->path, name, got, want);
    return MOM_OK;
}

/* IEEE half -> float, exactly (every half is a float). */
static float half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);
    else if (exp) bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (!man) bits = sign;
    else { /* subnormal: a normal float */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void widen(const found *t, float *dst, size_t n)
{
    const uint8_t *p = t->file->data + t->info->begin;
    for (size_t i = 0; i < n; i++) {
        if (t->info->dtype == ST_F32) {
            memcpy(dst + i, p + 4 * i, 4);
            continue;
        }
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        if (t->info->dtype == ST_F16) dst[i] = half_to_float(h);
        else {
            uint32_t bits = (uint32_t)h << 16;
            memcpy(dst + i, &bits, 4);
        }
    }
}

/* Every checkpoint tensor must be one the model takes, but lm_head.weight
 * of a tied model: mamba_ssm's state_dict() lists it, equal to the
 * embedding, checked once both are widened. */
static mom_status check_no_extra(mom_model *m, const source *src, pretrained_layout layout)
{
    for (int i = 0; i < src->n_files; i++)
        for (size_t j = 0; j < src->files[i].n_tensors; j++) {
            const char *nm = src->files[i].tensors[j].name;
            if (m->cfg.tie_embeddings && !strcmp(nm, "lm_head.weight")) continue;
            int used = 0;
            char want[300];
            for (size_t k = 0; k < m->n_tensors && !used; k++) {
                pretrained_tensor_name(layout, m->tensors[k].name, want, sizeof(want));
                used = !strcmp(want, nm) || (layout == PRETRAINED_HF && !strcmp(nm, HF_OLD_EMBEDDING) &&
                                              !strcmp(want, pretrained_embedding_name(PRETRAINED_HF)));
            }
            for (int i2 = 0; i2 < i && used; i2++)
                if (st_find(&src->files[i2], nm))
                    return mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: %s is also in %s", src->paths[i], nm, src->paths[i2]);
            if (!used)
                return mom_fail(m->ctx, MOM_ERR_FORMAT,
                                "%s: tensor %s is not part of a dense Mamba-1 model of this config (a bias, a "
                                "Mamba-2 or another layout's tensor?)",
                                src->paths[i], nm);
        }
    return MOM_OK;
}

static mom_status fill(mom_model *m, const source *src, pretrained_layout layout, float *host)
{
    char nm[300];
    for (size_t i = 0; i < m->n_tensors; i++) {
        const tensor_entry *e = &m->tensors[i];
        pretrained_tensor_name(layout, e->name, nm, sizeof(nm));
        found t = find(src, nm);
        widen(&t, host + e->off, e->n);
        for (size_t j = 0; j < e->n; j++)
            if (!isfinite(host[e->off + j]))
                return mom_fail(m->ctx, MOM_ERR_FORMAT, "%s: %s[%zu] = %g is not finite", t.path, nm, j,
                                (double)host[e->off + j]);
    }
    found head = find(src, "lm_head.weight");
    if (m->cfg.tie_embeddings && head.info) {
        mom_status s = check_one(m->ctx, &head, "lm_head.weight", &m->tensors[0], src->dir);
        if (s) return s;
        float *tmp = malloc(sizeof(float) * m->tensors[0].n);
        if (!tmp) return mom_fail(m->ctx, MOM_ERR_NOMEM, "lm_head.weight: out of memory");
        widen(&head, tmp, m->tensors[0].n);
        int same = !memcmp(tmp, host + m->embedding, sizeof(float) * m->tensors[0].n);
        free(tmp);
        if (!same)
            return mom_fail(m->ctx, MOM_ERR_FORMAT,
                            "%s: lm_head.weight differs from the embedding, but the config ties them (set "
                            "tie_embeddings / tie_word_embeddings false)",
                            head.path);
    }
    return MOM_OK;
}

static mom_status load(mom_ctx *ctx, const source *src, const mom_config *cfg, pretrained_layout layout,
                       mom_model **out)
{
    mom_model *m = NULL;
    mom_status s = model_alloc(ctx, cfg, 0, &m);
    char nm[300];
    for (size_t i = 0; !s && i < m->n_tensors; i++) {
        pretrained_tensor_name(layout, m->tensors[i].name, nm, sizeof(nm));
        found t = find(src, nm);
        s = check_one(ctx, &t, nm, &m->tensors[i], src->dir);
    }
    if (!s) s = check_no_extra(m, src, layout);
    if (!s) s = model_alloc_buffers(m);
    float *host = s ? NULL : malloc(sizeof(float) * m->n_params);
    if (!s && !host) s = mom_fail(ctx, MOM_ERR_NOMEM, "out of memory for %zu parameters", m->n_params);
    if (!s) s = fill(m, src, layout, host);
    if (!s) {
        bv all = {m->params, 0};
        m->be->upload(m->be, all, host, m->n_params);
    }
    free(host);
    if (s) mom_model_destroy(&m);
    *out = m;
    return s;
}

mom_status mom_model_load_pretrained(mom_ctx *ctx, const char *path, mom_model **out)
{
    if (out) *out = NULL;
    if (!ctx) return MOM_ERR_INVALID_ARG;
    if (!path || !out)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_model_load_pretrained: %s is NULL", path ? "out" : "path");
    source *src = calloc(1, sizeof(*src));
    if (!src) return mom_fail(ctx, MOM_ERR_NOMEM, "%s: out of memory", path);
    mom_config cfg;
    pretrained_layout layout = PRETRAINED_MAMBA_SSM;
    mom_status s = source_open(ctx, path, src);
    if (!s) s = pretrained_config_load(ctx, src->config, &cfg, &layout);
    if (!s) s = load(ctx, src, &cfg, layout, out);
    source_close(src);
    free(src);
    return s;
}
