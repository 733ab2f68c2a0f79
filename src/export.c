/* mom_model_export: a libmom model as the folder (config.json +
 * model.safetensors) that mamba_ssm's MambaLMHeadModel or transformers'
 * MambaForCausalLM loads strictly by name. A Mixture-of-Mamba is exported
 * as the dense model one modality's weights make. Everything is checked
 * before anything is written; each file goes through a temporary file and
 * a rename. Tensors are F32, so converting an export back is bit-exact. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx.h"
#include "file_util.h"
#include "json.h"
#include "model.h"
#include "pretrained.h"
#include "safetensors.h"

/* Only MambaConfig's own fields: mamba_ssm's MambaConfig(**config) fails
 * on an unknown key. The fields of mamba_ssm 1.x, which 2.x keeps, so that
 * both load it (2.x's d_intermediate, attn_layer_idx and ssm_cfg.layer
 * default to a pure Mamba-1). mamba_ssm pads vocab_size up to
 * pad_vocab_size_multiple: a multiple that the rows already are keeps
 * them. */
static void config_mamba_ssm(const mom_config *c, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "{\n  \"d_model\": %d,\n  \"n_layer\": %d,\n  \"vocab_size\": %d,\n"
             "  \"ssm_cfg\": {\"d_state\": %d, \"d_conv\": %d, \"expand\": %d, \"dt_rank\": %d},\n"
             "  \"rms_norm\": true,\n  \"residual_in_fp32\": true,\n"
             "  \"fused_add_norm\": true,\n  \"pad_vocab_size_multiple\": %d,\n  \"tie_embeddings\": %s\n}\n",
             c->d_model, c->n_layer, c->vocab_size, c->d_state, c->d_conv, c->expand, c->dt_rank,
             c->vocab_size % 8 ? 1 : 8, c->tie_embeddings ? "true" : "false");
}

/* transformers' MambaConfig; its model does not pad: rows == vocab_size. */
static void config_hf(const mom_config *c, char *buf, size_t cap)
{
    char eps[32];
    json_write_float(eps, sizeof(eps), c->norm_eps);
    snprintf(buf, cap,
             "{\n  \"architectures\": [\"MambaForCausalLM\"],\n  \"model_type\": \"mamba\",\n  \"hidden_size\": %d,\n"
             "  \"num_hidden_layers\": %d,\n  \"state_size\": %d,\n  \"conv_kernel\": %d,\n  \"expand\": %d,\n"
             "  \"intermediate_size\": %d,\n  \"time_step_rank\": %d,\n  \"layer_norm_epsilon\": %s,\n"
             "  \"use_bias\": false,\n  \"use_conv_bias\": true,\n  \"hidden_act\": \"silu\",\n  \"vocab_size\": %d,\n"
             "  \"pad_vocab_size_multiple\": %d,\n  \"tie_word_embeddings\": %s,\n  \"residual_in_fp32\": true,\n"
             "  \"torch_dtype\": \"float32\"\n}\n",
             c->d_model, c->n_layer, c->d_state, c->d_conv, c->expand, c->expand * c->d_model, c->dt_rank, eps,
             c->vocab_size, c->vocab_size % 8 ? 1 : 8, c->tie_embeddings ? "true" : "false");
}

/* What a dense Mamba-1 of that library cannot hold is refused here,
 * before anything is written. */
static mom_status check_exportable(mom_model *m, pretrained_layout layout, int modality)
{
    const mom_config *c = &m->cfg;
    if (mom_patch_dim(&c->patches))
        return mom_fail(m->ctx, MOM_ERR_UNSUPPORTED,
                        "export: a model with continuous images has patch_in, time_in and patch_out layers, which "
                        "a dense Mamba-1 has no place for");
    if (modality < -1 || modality >= c->n_modalities)
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "export: modality %d: the model has %d (0..%d)", modality,
                        c->n_modalities, c->n_modalities - 1);
    if (modality < 0 && c->n_modalities > 1 && c->decouple)
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG,
                        "export: a Mixture-of-Mamba of %d modalities has a copy of its decoupled projections per "
                        "modality and a dense Mamba has one: pick the modality whose model to export (--modality "
                        "K; it computes what this model computes on a sequence of modality K)",
                        c->n_modalities);
    if (layout == PRETRAINED_MAMBA_SSM && c->norm_eps != 1e-5f)
        return mom_fail(m->ctx, MOM_ERR_UNSUPPORTED,
                        "export: norm_eps = %g, but mamba_ssm's MambaConfig has no field for it (its norms use "
                        "1e-05): export --format hf, whose layer_norm_epsilon carries it",
                        (double)c->norm_eps);
    return MOM_OK;
}

/* Writes text to the temporary file tmp, synced; published later by a
 * rename (after the weights), so a failure never leaves a new config.json
 * beside old weights or none. */
static mom_status write_temp(mom_ctx *ctx, const char *tmp, const char *text)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int bad = file_write_all(fd, text, strlen(text)) || fsync(fd);
    int err = bad ? errno : 0;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (!bad) return MOM_OK;
    unlink(tmp);
    return mom_fail(ctx, MOM_ERR_IO, "%s: cannot write: %s", tmp, strerror(err));
}

/* Removes the folders make_dirs created: dir and its parents, down to the
 * prefix of length first_made. */
static void remove_made(const char *dir, size_t first_made)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s", dir);
    for (size_t len = strlen(p); first_made && len >= first_made;) {
        p[len] = 0;
        rmdir(p);
        const char *slash = strrchr(p, '/');
        if (!slash) break;
        len = (size_t)(slash - p);
    }
}

/* mkdir -p. *first_made: the length of the shortest prefix of dir that
 * this call created (every deeper one is new too), 0 if none; on failure
 * what it created is removed again. */
static mom_status make_dirs(mom_ctx *ctx, const char *dir, size_t *first_made)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s", dir);
    *first_made = 0;
    for (char *s = p + 1;; s++) {
        if (*s && *s != '/') continue;
        const char c = *s;
        *s = 0;
        if (mkdir(p, 0755) == 0) {
            if (!*first_made) *first_made = strlen(p);
        } else if (errno != EEXIST) {
            const int err = errno;
            remove_made(dir, *first_made);
            return mom_fail(ctx, MOM_ERR_IO, "%s: cannot create the folder: %s", p, strerror(err));
        }
        *s = c;
        if (!c) break;
    }
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        remove_made(dir, *first_made);
        return mom_fail(ctx, MOM_ERR_IO, "%s: not a folder", dir);
    }
    return MOM_OK;
}

/* The dense tensors, named as the library names them: modality k's
 * weights downloaded into host, laid out as the dense model's table. */
static mom_status build_tensors(mom_model *m, mom_model *dense, pretrained_layout layout, int k, float *host,
                                st_write_tensor *t, char (*names)[300], size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < dense->n_tensors; i++) {
        const tensor_entry *e = &dense->tensors[i];
        const tensor_entry *src = params_find_copy(m, e->name, k);
        if (!src || src->n != e->n) return mom_fail(m->ctx, MOM_ERR_FORMAT, "export: no tensor for %s", e->name);
        model_read_param(m, src, host + e->off);
        pretrained_tensor_name(layout, e->name, names[*n], sizeof(names[0]));
        t[*n] = (st_write_tensor){names[*n], ST_F32, e->ndim, {0}, host + e->off};
        memcpy(t[*n].shape, e->shape, sizeof(e->shape));
        (*n)++;
    }
    /* MambaLMHeadModel.state_dict() lists the tied head: a strict load
     * wants it. transformers' tied model does not need it. */
    if (layout == PRETRAINED_MAMBA_SSM && m->cfg.tie_embeddings) {
        t[*n] = t[0];
        snprintf(names[*n], sizeof(names[0]), "lm_head.weight");
        t[*n].name = names[*n];
        (*n)++;
    }
    return MOM_OK;
}

mom_status mom_model_export(mom_model *m, const char *format, int modality, const char *out_dir)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    if (!format || !out_dir)
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "mom_model_export: %s is NULL", format ? "out_dir" : "format");
    pretrained_layout layout;
    if (!strcmp(format, "hf")) layout = PRETRAINED_HF;
    else if (!strcmp(format, "mamba_ssm")) layout = PRETRAINED_MAMBA_SSM;
    else return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "export: format \"%.32s\" is not hf or mamba_ssm", format);
    mom_status s = check_exportable(m, layout, modality);
    if (s) return s;
    mom_config dc = m->cfg;
    dc.n_modalities = 1;
    dc.decouple = 0;
    memset(&dc.vocab_layout, 0, sizeof(dc.vocab_layout));
    mom_model *dense = NULL;
    if ((s = model_alloc(m->ctx, &dc, 0, &dense))) return s;
    float *host = malloc(sizeof(float) * dense->n_params);
    st_write_tensor *t = calloc(dense->n_tensors + 1, sizeof(*t));
    char(*names)[300] = calloc(dense->n_tensors + 1, sizeof(*names));
    char cfg[2048], path[4200], cfg_path[4200], tmp[4300], err[512];
    size_t n = 0, first_made = 0;
    int wrote_weights = 0;
    if (!host || !t || !names) s = mom_fail(m->ctx, MOM_ERR_NOMEM, "export: out of memory");
    if (!s) s = build_tensors(m, dense, layout, modality < 0 ? 0 : modality, host, t, names, &n);
    if (!s) {
        (layout == PRETRAINED_HF ? config_hf : config_mamba_ssm)(&dense->cfg, cfg, sizeof(cfg));
        s = make_dirs(m->ctx, out_dir, &first_made);
    }
    /* config.json's temporary file, the weights (st_write: a temporary file
     * and a rename), then config.json's rename. A failure removes what this
     * call made; in a folder that already existed, only the last rename (in
     * the same folder) can still fail after the weights replaced the old. */
    snprintf(path, sizeof(path), "%s/model.safetensors", out_dir);
    snprintf(cfg_path, sizeof(cfg_path), "%s/config.json", out_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", cfg_path, (long)getpid());
    if (!s && !(s = write_temp(m->ctx, tmp, cfg))) {
        st_meta meta[1] = {{"format", "pt"}};
        if (st_write(path, t, n, meta, 1, err, sizeof(err))) s = mom_fail(m->ctx, MOM_ERR_IO, "%s", err);
        else wrote_weights = 1;
        if (!s && rename(tmp, cfg_path))
            s = mom_fail(m->ctx, MOM_ERR_IO, "%s: cannot write: %s", cfg_path, strerror(errno));
        if (s) unlink(tmp);
        else file_fsync_parent_dir(cfg_path);
    }
    if (s && first_made) {
        if (wrote_weights) unlink(path); /* in a folder this call made: nobody's file */
        remove_made(out_dir, first_made);
    }
    free(host);
    free(t);
    free(names);
    mom_model_destroy(&dense);
    return s;
}
