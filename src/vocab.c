/* The unified vocabulary layout of multimodal data (mom_vocab_layout in
 * mom.h): special tokens, then text, image codes, speech units. */
#include "mom.h"

int mom_vocab_layout_is_set(const mom_vocab_layout *v)
{
    return v && (v->n_special || v->n_text || v->n_image || v->n_speech);
}

/* -1 when a part is negative or the sum does not fit an int. */
int mom_vocab_layout_size(const mom_vocab_layout *v)
{
    if (!v) return 0;
    if (v->n_special < 0 || v->n_text < 0 || v->n_image < 0 || v->n_speech < 0) return -1;
    const long long n = (long long)v->n_special + v->n_text + v->n_image + v->n_speech;
    return n > 2147483647LL ? -1 : (int)n;
}

int mom_vocab_layout_modality(const mom_vocab_layout *v, int32_t token)
{
    if (!v || token < 0) return -1;
    if (token < v->n_special + v->n_text) return MOM_MOD_TEXT;
    token -= v->n_special + v->n_text;
    if (token < v->n_image) return MOM_MOD_IMAGE;
    token -= v->n_image;
    return token < v->n_speech ? MOM_MOD_SPEECH : -1;
}

int mom_vocab_layout_n_modalities(const mom_vocab_layout *v)
{
    if (!v) return 0;
    return v->n_speech ? 3 : v->n_image ? 2 : 1;
}

const char *mom_modality_name(const mom_vocab_layout *v, int modality)
{
    static const char *const names[3] = {"text", "image", "speech"};
    static const char *const generic[MOM_MAX_MODALITIES] = {"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"};
    if (modality < 0 || modality >= MOM_MAX_MODALITIES) return "?";
    if (mom_vocab_layout_is_set(v) && modality < 3) return names[modality];
    return generic[modality];
}

int mom_patch_dim(const mom_patch_geometry *g)
{
    return g && g->patch_size > 0 && g->channels > 0 ? g->patch_size * g->patch_size * g->channels : 0;
}

int mom_patches_per_image(const mom_patch_geometry *g)
{
    if (!g || g->patch_size <= 0 || g->image_size <= 0) return 0;
    const int side = g->image_size / g->patch_size;
    return side * side;
}
