/* config.json of a dense Mamba-1 checkpoint, in mamba_ssm's form
 * (MambaConfig: d_model, n_layer, ssm_cfg ...) or transformers' (MambaConfig:
 * hidden_size, num_hidden_layers, state_size ...), as a libmom config.
 * Keys neither form needs (architectures, torch_dtype, init ranges) are
 * ignored; a value that changes what the model computes and that libmom
 * cannot compute is refused, never dropped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "file_util.h"
#include "json.h"
#include "pretrained.h"

const char *pretrained_embedding_name(pretrained_layout layout)
{
    return layout == PRETRAINED_HF ? "backbone.embeddings.weight" : "backbone.embedding.weight";
}

void pretrained_tensor_name(pretrained_layout layout, const char *name, char *out, size_t cap)
{
    if (!strcmp(name, "embedding.weight")) snprintf(out, cap, "%s", pretrained_embedding_name(layout));
    else if (!strcmp(name, "lm_head.weight")) snprintf(out, cap, "%s", name);
    else snprintf(out, cap, "backbone.%s", name);
}

/* One config field of the file: where it is read from, for messages. */
typedef struct {
    mom_ctx *ctx;
    const char *path;
    const json_value *obj;
    const char *prefix; /* "" or "ssm_cfg." */
} cfg_reader;

/* An integer field in [lo, hi]; absent: dflt. */
static mom_status get_int(const cfg_reader *r, const char *key, int dflt, int lo, int hi, int *out)
{
    const json_value *v = json_get(r->obj, key);
    if (!v || v->type == JSON_NULL) {
        *out = dflt;
        return MOM_OK;
    }
    if (v->type != JSON_NUMBER || !v->is_int || v->integer < lo || v->integer > hi)
        return mom_fail(r->ctx, MOM_ERR_CONFIG, "%s: %s%s must be an integer in [%d, %d]", r->path, r->prefix, key,
                        lo, hi);
    *out = (int)v->integer;
    return MOM_OK;
}

static mom_status get_bool(const cfg_reader *r, const char *key, int dflt, int *out)
{
    const json_value *v = json_get(r->obj, key);
    if (!v || v->type == JSON_NULL) {
        *out = dflt;
        return MOM_OK;
    }
    if (v->type != JSON_BOOL)
        return mom_fail(r->ctx, MOM_ERR_CONFIG, "%s: %s%s must be true or false", r->path, r->prefix, key);
    *out = v->boolean;
    return MOM_OK;
}

/* A flag that must have one value, because libmom computes only that. */
static mom_status need_bool(const cfg_reader *r, const char *key, int dflt, int need, const char *why)
{
    int v = 0;
    mom_status s = get_bool(r, key, dflt, &v);
    if (!s && v != need)
        s = mom_fail(r->ctx, MOM_ERR_UNSUPPORTED, "%s: %s%s = %s is not supported: libmom needs %s (%s)", r->path,
                     r->prefix, key, v ? "true" : "false", need ? "true" : "false", why);
    return s;
}

/* dt_rank: "auto" (ceil(d_model / 16), libmom's 0) or an integer. */
static mom_status get_dt_rank(const cfg_reader *r, const char *key, int *out)
{
    const json_value *v = json_get(r->obj, key);
    if (v && v->type == JSON_STRING) {
        if (strcmp(v->str, "auto"))
            return mom_fail(r->ctx, MOM_ERR_CONFIG, "%s: %s%s = \"%.32s\": only \"auto\" or an integer", r->path,
                            r->prefix, key, v->str);
        *out = 0;
        return MOM_OK;
    }
    return get_int(r, key, 0, 1, 1 << 20, out);
}

/* A string field that must be one value (or absent). */
static mom_status need_str(const cfg_reader *r, const char *key, const char *need, const char *why)
{
    const json_value *v = json_get(r->obj, key);
    if (!v || v->type == JSON_NULL) return MOM_OK;
    if (v->type != JSON_STRING || strcmp(v->str, need))
        return mom_fail(r->ctx, MOM_ERR_UNSUPPORTED, "%s: %s%s = %.40s is not supported: libmom needs \"%s\" (%s)",
                        r->path, r->prefix, key, v->type == JSON_STRING ? v->str : "(not a string)", need, why);
    return MOM_OK;
}

/* mamba_ssm pads the vocabulary up to a multiple (its embedding has the
 * padded rows, and they take part in the softmax). */
static mom_status padded_vocab(const cfg_reader *r, int vocab, int *out)
{
    int mult = 8;
    mom_status s = get_int(r, "pad_vocab_size_multiple", 8, 1, 1 << 20, &mult);
    if (s) return s;
    long long padded = ((long long)vocab + mult - 1) / mult * mult;
    if (padded > (1 << 24))
        return mom_fail(r->ctx, MOM_ERR_CONFIG, "%s: vocab_size %d padded to %lld is over %d", r->path, vocab,
                        padded, 1 << 24);
    *out = (int)padded;
    return MOM_OK;
}

/* mamba_ssm.models.config_mamba.MambaConfig. */
static mom_status parse_mamba_ssm(const cfg_reader *r, mom_config *c)
{
    mom_status s;
    int vocab = 0, inter = 0;
    if ((s = get_int(r, "d_model", 0, 1, 16384, &c->d_model)) || (s = get_int(r, "n_layer", 0, 1, 512, &c->n_layer)) ||
        (s = get_int(r, "vocab_size", 50277, 2, 1 << 24, &vocab)) || (s = padded_vocab(r, vocab, &c->vocab_size)) ||
        (s = get_bool(r, "tie_embeddings", 1, &c->tie_embeddings)) ||
        (s = need_bool(r, "rms_norm", 1, 1, "its norms are RMSNorm, not LayerNorm")) ||
        (s = get_int(r, "d_intermediate", 0, 0, 1 << 20, &inter)))
        return s;
    if (inter)
        return mom_fail(r->ctx, MOM_ERR_UNSUPPORTED,
                        "%s: d_intermediate = %d is not supported: libmom has no MLP after the mixer (needs 0)",
                        r->path, inter);
    const json_value *attn = json_get(r->obj, "attn_layer_idx");
    if (attn && attn->type == JSON_ARRAY && attn->n_items)
        return mom_fail(r->ctx, MOM_ERR_UNSUPPORTED,
                        "%s: attn_layer_idx has %zu layers: libmom has no attention layers (needs [])", r->path,
                        attn->n_items);
    c->norm_eps = 1e-5f; /* MixerModel's norm_epsilon, which MambaConfig does not carry */
    const json_value *ssm = json_get(r->obj, "ssm_cfg");
    if (ssm && ssm->type != JSON_OBJECT && ssm->type != JSON_NULL)
        return mom_fail(r->ctx, MOM_ERR_CONFIG, "%s: ssm_cfg must be an object", r->path);
    cfg_reader sr = {r->ctx, r->path, ssm && ssm->type == JSON_OBJECT ? ssm : NULL, "ssm_cfg."};
    if ((s = need_str(&sr, "layer", "Mamba1", "Mamba-2 layers are another model")) ||
        (s = get_int(&sr, "d_state", 16, 1, 64, &c->d_state)) || (s = get_int(&sr, "d_conv", 4, 1, 16, &c->d_conv)) ||
        (s = get_int(&sr, "expand", 2, 1, 16, &c->expand)) || (s = get_dt_rank(&sr, "dt_rank", &c->dt_rank)) ||
        (s = need_bool(&sr, "bias", 0, 0, "its in_proj and out_proj have no bias")) ||
        (s = need_bool(&sr, "conv_bias", 1, 1, "its conv1d has a bias")))
        return s;
    return MOM_OK;
}

/* transformers.MambaConfig. */
static mom_status parse_hf(const cfg_reader *r, mom_config *c)
{
    mom_status s;
    int inter = 0;
    double eps = 1e-5;
    const json_value *e = json_get(r->obj, "layer_norm_epsilon");
    if (e && e->type != JSON_NUMBER)
        return mom_fail(r->ctx, MOM_ERR_CONFIG, "%s: layer_norm_epsilon must be a number", r->path);
    if (e) eps = e->number;
    if (!(eps > 0.0 && eps <= 1.0))
        return mom_fail(r->ctx, MOM_ERR_CONFIG, "%s: layer_norm_epsilon = %g is not in (0, 1]", r->path, eps);
    c->norm_eps = (float)eps;
    if ((s = need_str(r, "model_type", "mamba", "Mamba-2 and Falcon-Mamba are other models")) ||
        (s = get_int(r, "hidden_size", 768, 1, 16384, &c->d_model)) ||
        (s = get_int(r, "num_hidden_layers", 32, 1, 512, &c->n_layer)) ||
        (s = get_int(r, "vocab_size", 50280, 2, 1 << 24, &c->vocab_size)) ||
        (s = get_int(r, "state_size", 16, 1, 64, &c->d_state)) ||
        (s = get_int(r, "conv_kernel", 4, 1, 16, &c->d_conv)) || (s = get_int(r, "expand", 2, 1, 16, &c->expand)) ||
        (s = get_dt_rank(r, "time_step_rank", &c->dt_rank)) ||
        (s = get_bool(r, "tie_word_embeddings", 1, &c->tie_embeddings)) ||
        (s = need_bool(r, "use_bias", 0, 0, "its in_proj and out_proj have no bias")) ||
        (s = need_bool(r, "use_conv_bias", 1, 1, "its conv1d has a bias")) ||
        (s = need_str(r, "hidden_act", "silu", "its gate and conv activation are SiLU")) ||
        (s = get_int(r, "intermediate_size", c->expand * c->d_model, 1, 1 << 20, &inter)))
        return s;
    if (inter != c->expand * c->d_model)
        return mom_fail(r->ctx, MOM_ERR_UNSUPPORTED,
                        "%s: intermediate_size = %d is not supported: libmom needs expand x hidden_size = %d",
                        r->path, inter, c->expand * c->d_model);
    return MOM_OK;
}

mom_status pretrained_read_json(mom_ctx *ctx, const char *path, mom_status bad_json, json_value **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = 0;
    unsigned char *text = file_read_all(f, &n);
    fclose(f);
    if (!text) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot read", path);
    char err[160];
    int bad = json_parse((const char *)text, n, out, err, sizeof(err));
    free(text);
    return bad ? mom_fail(ctx, bad_json, "%s: not valid JSON: %s", path, err) : MOM_OK;
}

mom_status pretrained_config_load(mom_ctx *ctx, const char *path, mom_config *cfg, pretrained_layout *layout)
{
    json_value *root = NULL;
    mom_status s = pretrained_read_json(ctx, path, MOM_ERR_CONFIG, &root);
    if (s) return s;
    mom_config c;
    mom_config_default(&c);
    c.n_modalities = 1;
    c.decouple = 0;
    cfg_reader r = {ctx, path, root, ""};
    if (root->type != JSON_OBJECT)
        s = mom_fail(ctx, MOM_ERR_CONFIG, "%s: the top level must be a JSON object", path);
    /* transformers' first: its config.json may carry mamba_ssm's keys too
     * (the -hf conversions keep n_layer, rms_norm ...); mamba_ssm's has
     * neither model_type nor hidden_size. */
    else if (json_get(root, "model_type") || json_get(root, "hidden_size")) {
        *layout = PRETRAINED_HF;
        s = parse_hf(&r, &c);
    } else if (json_get(root, "d_model")) {
        *layout = PRETRAINED_MAMBA_SSM;
        s = parse_mamba_ssm(&r, &c);
    } else
        s = mom_fail(ctx, MOM_ERR_CONFIG,
                     "%s: neither mamba_ssm's config (d_model) nor transformers' (hidden_size, model_type)", path);
    json_free(root);
    if (!s) s = mom_config_validate(ctx, &c);
    if (!s) *cfg = c;
    return s;
}
