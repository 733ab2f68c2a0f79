/* Model config: defaults, validation, and its JSON form (config files and
 * the checkpoint's __metadata__). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "json.h"
#include "reserved.h"
#include "vocab.h"

void mom_config_default(mom_config *c)
{
    if (!c) return;
    memset(c, 0, sizeof(*c));
    c->n_modalities = 3;
    c->vocab_size = 1024;
    c->d_model = 256;
    c->n_layer = 4;
    c->d_state = 16;
    c->d_conv = 4;
    c->expand = 2;
    c->dt_rank = 0;
    c->decouple = MOM_DECOUPLE_ALL;
    c->tie_embeddings = 1;
    c->norm_eps = 1e-5f;
    memset(&c->vocab_layout, 0, sizeof(c->vocab_layout));
    memset(&c->patches, 0, sizeof(c->patches));
    c->time_dim = 64;
    c->diffusion_weight = 5.0f;
}

static mom_status range(mom_ctx *ctx, const char *field, long long v, long long lo, long long hi)
{
    if (v < lo || v > hi)
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: %s = %lld is out of range [%lld, %lld]", field,
                        v, lo, hi);
    return MOM_OK;
}

/* Continuous images: a geometry that tiles, an image modality to carry it,
 * and no discrete image codes beside it. */
static mom_status validate_patches(mom_ctx *ctx, const mom_config *c)
{
    const mom_patch_geometry *g = &c->patches;
    if (!g->patch_size && !g->image_size && !g->channels) return MOM_OK;
    mom_status s;
    if ((s = range(ctx, "patches.patch_size", g->patch_size, 1, 64)) ||
        (s = range(ctx, "patches.image_size", g->image_size, g->patch_size, 4096)) ||
        (s = range(ctx, "patches.channels", g->channels, 1, 4)) ||
        (s = range(ctx, "time_dim", c->time_dim, 2, 4096)))
        return s;
    if (g->image_size % g->patch_size)
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: patches.image_size = %d is not a multiple of patch_size %d",
                        g->image_size, g->patch_size);
    if (mom_patches_per_image(g) > MOM_MAX_IMAGE_PATCHES)
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: an image of %d patches is more than %d (take larger patches)",
                        mom_patches_per_image(g), MOM_MAX_IMAGE_PATCHES);
    if (c->time_dim % 2)
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: time_dim = %d is odd (sine and cosine pairs)", c->time_dim);
    if (c->n_modalities <= MOM_MOD_IMAGE)
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: continuous images need the image modality: n_modalities = %d < 2",
                        c->n_modalities);
    if (c->vocab_layout.n_image)
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: continuous images with %d discrete image codes in vocab_layout",
                        c->vocab_layout.n_image);
    if (!(c->diffusion_weight >= 0.0f) || !isfinite(c->diffusion_weight))
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: diffusion_weight = %g is not a finite number >= 0",
                        (double)c->diffusion_weight);
    return MOM_OK;
}

mom_status mom_config_validate(mom_ctx *ctx, mom_config *c)
{
    if (!c) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_config_validate: cfg is NULL");
    mom_status s = MOM_CHECK_RESERVED(ctx, "config", c->reserved);
    if (!s && c->reserved_int)
        s = mom_fail(ctx, MOM_ERR_INVALID_ARG,
                     "config: reserved_int is set: a field of a newer libmom than %s; start the struct from its "
                     "_default call",
                     mom_version());
    if (!s && (c->weight_format < MOM_WEIGHTS_F32 || c->weight_format > MOM_WEIGHTS_Q4))
        s = mom_fail(ctx, MOM_ERR_CONFIG, "config: weight_format = %d is not MOM_WEIGHTS_F32, _Q8 or _Q4",
                     c->weight_format);
    if (s) return s;
    if ((s = range(ctx, "n_modalities", c->n_modalities, 1, MOM_MAX_MODALITIES)) ||
        (s = range(ctx, "vocab_size", c->vocab_size, 2, 1 << 24)) ||
        (s = range(ctx, "d_model", c->d_model, 1, 16384)) ||
        (s = range(ctx, "n_layer", c->n_layer, 1, 512)) ||
        (s = range(ctx, "d_state", c->d_state, 1, 64)) ||
        (s = range(ctx, "d_conv", c->d_conv, 1, 16)) ||
        (s = range(ctx, "expand", c->expand, 1, 16)))
        return s;
    const long long d_inner = (long long)c->expand * c->d_model;
    if ((s = range(ctx, "dt_rank", c->dt_rank, 0, d_inner))) return s;
    if (c->decouple & ~MOM_DECOUPLE_ALL)
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: decouple = 0x%x has unknown bits", c->decouple);
    if (c->tie_embeddings != 0 && c->tie_embeddings != 1)
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: tie_embeddings = %d is not 0 or 1",
                        c->tie_embeddings);
    if (!(c->norm_eps > 0.0f) || !isfinite(c->norm_eps) || c->norm_eps > 1.0f)
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: norm_eps = %g is not in (0, 1]",
                        (double)c->norm_eps);
    const mom_vocab_layout *v = &c->vocab_layout;
    if (mom_vocab_layout_is_set(v)) {
        if (mom_vocab_layout_size(v) != c->vocab_size) /* -1 on a negative part or overflow */
            return mom_fail(ctx, MOM_ERR_CONFIG, "config: vocab_layout %d + %d + %d + %d does not sum to vocab_size %d",
                            v->n_special, v->n_text, v->n_image, v->n_speech, c->vocab_size);
        if ((s = vocab_layout_check(ctx, "config", v, MOM_ERR_CONFIG))) return s;
        if (mom_vocab_layout_n_modalities(v) > c->n_modalities)
            return mom_fail(ctx, MOM_ERR_CONFIG, "config: vocab_layout needs %d modalities, n_modalities = %d",
                            mom_vocab_layout_n_modalities(v), c->n_modalities);
    }
    if ((s = validate_patches(ctx, c))) return s;
    if (c->dt_rank == 0) c->dt_rank = (c->d_model + 15) / 16;
    /* The largest tensor must stay addressable with int dimensions. */
    const long long in_rows = 2 * d_inner * (long long)c->d_model;
    const long long emb = (long long)c->vocab_size * c->d_model;
    if (in_rows > (1LL << 31) - 1 || emb > (1LL << 31) - 1)
        return mom_fail(ctx, MOM_ERR_CONFIG,
                        "config: d_model = %d makes a tensor too large (vocab_size %d x d_model and 2 d_inner x "
                        "d_model must stay under 2^31 values)",
                        c->d_model, c->vocab_size);
    return MOM_OK;
}

static const char *const decouple_names[4] = {"in", "x", "dt", "out"};
static const char *const weight_format_names[3] = {"f32", "q8", "q4"}; /* MOM_WEIGHTS_* */

static mom_status int_field(mom_ctx *ctx, const json_value *v, const char *key, int *out)
{
    if (v->type == JSON_BOOL && !strcmp(key, "tie_embeddings")) {
        *out = v->boolean;
        return MOM_OK;
    }
    if (v->type != JSON_NUMBER || !v->is_int || v->integer < -(1LL << 31) || v->integer > (1LL << 31) - 1)
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: %s must be an integer", key);
    *out = (int)v->integer;
    return MOM_OK;
}

/* An object of named integer parts, absent parts 0: the vocabulary
 * layout and the patch geometry. `example` shows the form in the error. */
static mom_status int_parts(mom_ctx *ctx, const json_value *v, const char *what, const char *example,
                            const char *const *names, int n, int *const *dst)
{
    if (v->type != JSON_OBJECT)
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: %s must be an object such as %s", what, example);
    for (int j = 0; j < n; j++) *dst[j] = 0;
    for (size_t i = 0; i < v->n_keys; i++) {
        int j = 0;
        while (j < n && strcmp(v->keys[i], names[j])) j++;
        if (j == n) return mom_fail(ctx, MOM_ERR_CONFIG, "config: %s has an unknown part \"%s\"", what, v->keys[i]);
        char key[64];
        snprintf(key, sizeof(key), "%s.%s", what, names[j]);
        mom_status s = int_field(ctx, &v->vals[i], key, dst[j]);
        if (s) return s;
    }
    return MOM_OK;
}

/* The four sizes, then (a pretrained order only) text_first and each
 * special token's id under vocab_special_name's keys. */
#define LAYOUT_PARTS (5 + MOM_N_SPECIAL)

static mom_status layout_field(mom_ctx *ctx, const json_value *v, mom_vocab_layout *out)
{
    const char *names[LAYOUT_PARTS] = {"special", "text", "image", "speech", "text_first"};
    int *dst[LAYOUT_PARTS] = {&out->n_special, &out->n_text, &out->n_image, &out->n_speech, &out->text_first};
    for (int k = 0; k < MOM_N_SPECIAL; k++) {
        names[5 + k] = vocab_special_name(k);
        dst[5 + k] = &out->special_id[k];
    }
    mom_status s = int_parts(ctx, v, "vocab_layout", "{\"special\": 7, \"text\": 256, \"image\": 256, \"speech\": 128}",
                             (const char *const *)names, LAYOUT_PARTS, dst);
    /* A pretrained order names every special token: an absent one would
     * read as id 0 and be taken for a clash with BOS. */
    for (int k = 0; !s && out->text_first && k < MOM_N_SPECIAL; k++) {
        size_t i = 0;
        while (i < v->n_keys && strcmp(v->keys[i], names[5 + k])) i++;
        if (i == v->n_keys)
            s = mom_fail(ctx, MOM_ERR_CONFIG,
                         "config: vocab_layout.%s is missing: a pretrained (text_first) layout names the id of every "
                         "special token (bos, eos, boi, eoi, bosp, eosp, pad)",
                         names[5 + k]);
    }
    return s;
}

static const char *const patch_names[3] = {"patch_size", "image_size", "channels"};

static mom_status patches_field(mom_ctx *ctx, const json_value *v, mom_patch_geometry *out)
{
    int *const dst[3] = {&out->patch_size, &out->image_size, &out->channels};
    return int_parts(ctx, v, "patches", "{\"patch_size\": 2, \"image_size\": 8, \"channels\": 1}", patch_names, 3,
                     dst);
}

/* Parses into a copy: on failure the caller's config is left as it was. */
mom_status mom_config_parse_json(mom_ctx *ctx, const char *text, size_t len, mom_config *out)
{
    if (!text || !out)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_config_parse_json: %s is NULL", text ? "cfg" : "json");
    mom_config parsed, *c = &parsed;
    mom_config_default(c);
    json_value *root = NULL;
    char err[160];
    if (json_parse(text, len, &root, err, sizeof(err)))
        return mom_fail(ctx, MOM_ERR_CONFIG, "config: not valid JSON: %s", err);
    mom_status s = MOM_OK;
    if (root->type != JSON_OBJECT) {
        s = mom_fail(ctx, MOM_ERR_CONFIG, "config: the top level must be a JSON object");
        goto done;
    }
    for (size_t i = 0; i < root->n_keys && !s; i++) {
        const char *k = root->keys[i];
        const json_value *v = &root->vals[i];
        struct { const char *name; int *dst; } ints[] = {
            {"n_modalities", &c->n_modalities}, {"vocab_size", &c->vocab_size},
            {"d_model", &c->d_model},           {"n_layer", &c->n_layer},
            {"d_state", &c->d_state},           {"d_conv", &c->d_conv},
            {"expand", &c->expand},             {"dt_rank", &c->dt_rank},
            {"tie_embeddings", &c->tie_embeddings}, {"time_dim", &c->time_dim},
        };
        int found = 0;
        for (size_t j = 0; j < sizeof(ints) / sizeof(ints[0]); j++)
            if (!strcmp(k, ints[j].name)) {
                s = int_field(ctx, v, k, ints[j].dst);
                found = 1;
            }
        if (found) continue;
        if (!strcmp(k, "norm_eps") || !strcmp(k, "diffusion_weight")) {
            if (v->type != JSON_NUMBER) s = mom_fail(ctx, MOM_ERR_CONFIG, "config: %s must be a number", k);
            else *(!strcmp(k, "norm_eps") ? &c->norm_eps : &c->diffusion_weight) = (float)v->number;
        } else if (!strcmp(k, "patches")) {
            s = patches_field(ctx, v, &c->patches);
        } else if (!strcmp(k, "decouple")) {
            if (v->type != JSON_ARRAY) {
                s = mom_fail(ctx, MOM_ERR_CONFIG, "config: decouple must be a list such as [\"in\",\"x\",\"dt\",\"out\"]");
                continue;
            }
            c->decouple = 0;
            for (size_t j = 0; j < v->n_items && !s; j++) {
                const json_value *e = &v->items[j];
                int bit = -1;
                for (int b = 0; b < 4 && e->type == JSON_STRING; b++)
                    if (!strcmp(e->str, decouple_names[b])) bit = b;
                if (bit < 0)
                    s = mom_fail(ctx, MOM_ERR_CONFIG, "config: decouple entry %s is not one of \"in\", \"x\", \"dt\", \"out\"",
                                 e->type == JSON_STRING ? e->str : "(not a string)");
                else
                    c->decouple |= 1u << bit;
            }
        } else if (!strcmp(k, "vocab_layout")) {
            s = layout_field(ctx, v, &c->vocab_layout);
        } else if (!strcmp(k, "weight_format")) {
            int f = 0;
            while (f < 3 && !(v->type == JSON_STRING && !strcmp(v->str, weight_format_names[f]))) f++;
            if (f == 3)
                s = mom_fail(ctx, MOM_ERR_CONFIG, "config: weight_format %s is not \"f32\", \"q8\" or \"q4\"",
                             v->type == JSON_STRING ? v->str : "(not a string)");
            else
                c->weight_format = f;
        } else {
            s = mom_fail(ctx, MOM_ERR_CONFIG, "config: unknown field \"%s\"", k);
        }
    }
    if (!s) s = mom_config_validate(ctx, c);
    if (!s) *out = parsed;
done:
    json_free(root);
    return s;
}

mom_status mom_config_load(mom_ctx *ctx, const char *path, mom_config *c)
{
    if (!path || !c) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_config_load: %s is NULL", path ? "cfg" : "path");
    FILE *f = fopen(path, "rb");
    if (!f) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open the config file", path);
    char buf[65536 + 1];
    size_t n = fread(buf, 1, sizeof(buf), f);
    int too_big = n > 65536, failed = ferror(f);
    fclose(f);
    if (failed) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot read the config file", path); /* a folder, say */
    if (too_big) return mom_fail(ctx, MOM_ERR_CONFIG, "%s: a config file over 64 KiB is not a config", path);
    mom_status s = mom_config_parse_json(ctx, buf, n, c);
    if (s && ctx) {
        char msg[sizeof(ctx->err)];
        snprintf(msg, sizeof(msg), "%s", ctx->err);
        mom_fail(ctx, s, "%s: %s", path, msg);
    }
    return s;
}

mom_status mom_config_to_json(const mom_config *c, char *buf, size_t cap)
{
    if (!c || !buf) return MOM_ERR_INVALID_ARG;
    char eps[32];
    json_write_float(eps, sizeof(eps), c->norm_eps);
    char dec[64] = "";
    for (int b = 0; b < 4; b++)
        if (c->decouple & (1u << b)) {
            if (dec[0]) strcat(dec, ", ");
            strcat(dec, "\"");
            strcat(dec, decouple_names[b]);
            strcat(dec, "\"");
        }
    int n = snprintf(buf, cap,
                     "{\"n_modalities\": %d, \"vocab_size\": %d, \"d_model\": %d, \"n_layer\": %d, "
                     "\"d_state\": %d, \"d_conv\": %d, \"expand\": %d, \"dt_rank\": %d, "
                     "\"decouple\": [%s], \"tie_embeddings\": %s, \"norm_eps\": %s}",
                     c->n_modalities, c->vocab_size, c->d_model, c->n_layer, c->d_state, c->d_conv,
                     c->expand, c->dt_rank, dec, c->tie_embeddings ? "true" : "false", eps);
    if (n < 0 || (size_t)n >= cap) return MOM_ERR_INVALID_ARG;
    const mom_vocab_layout *v = &c->vocab_layout;
    if (mom_vocab_layout_is_set(v)) {
        /* Replaces the closing brace. */
        int m = snprintf(buf + n - 1, cap - (size_t)n + 1,
                         ", \"vocab_layout\": {\"special\": %d, \"text\": %d, \"image\": %d, \"speech\": %d}}",
                         v->n_special, v->n_text, v->n_image, v->n_speech);
        if (m < 0 || (size_t)m >= cap - (size_t)n + 1) return MOM_ERR_INVALID_ARG;
        n += m - 1;
        /* A pretrained order: text_first and the special ids, inside the
         * layout's object (replacing its closing brace and the config's). */
        for (int k = -1; v->text_first && k < MOM_N_SPECIAL; k++) {
            m = k < 0 ? snprintf(buf + n - 2, cap - (size_t)n + 2, ", \"text_first\": 1}}")
                      : snprintf(buf + n - 2, cap - (size_t)n + 2, ", \"%s\": %d}}", vocab_special_name(k),
                                 v->special_id[k]);
            if (m < 0 || (size_t)m >= cap - (size_t)n + 2) return MOM_ERR_INVALID_ARG;
            n += m - 2;
        }
    }
    if (mom_patch_dim(&c->patches)) {
        char w[32];
        json_write_float(w, sizeof(w), c->diffusion_weight);
        int m = snprintf(buf + n - 1, cap - (size_t)n + 1,
                         ", \"patches\": {\"patch_size\": %d, \"image_size\": %d, \"channels\": %d}, \"time_dim\": %d, "
                         "\"diffusion_weight\": %s}",
                         c->patches.patch_size, c->patches.image_size, c->patches.channels, c->time_dim, w);
        if (m < 0 || (size_t)m >= cap - (size_t)n + 1) return MOM_ERR_INVALID_ARG;
        n += m - 1;
    }
    if (c->weight_format > MOM_WEIGHTS_F32 && c->weight_format <= MOM_WEIGHTS_Q4) {
        int m = snprintf(buf + n - 1, cap - (size_t)n + 1, ", \"weight_format\": \"%s\"}",
                         weight_format_names[c->weight_format]);
        if (m < 0 || (size_t)m >= cap - (size_t)n + 1) return MOM_ERR_INVALID_ARG;
    }
    return MOM_OK;
}
