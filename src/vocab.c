/* The unified vocabulary layout of multimodal data (mom_vocab_layout in
 * mom.h): special tokens, text, image codes, speech units, in libmom's
 * order or a pretrained vocabulary's. */
#include "vocab.h"

int mom_vocab_layout_is_set(const mom_vocab_layout *v)
{
    if (!v) return 0;
    int set = v->n_special || v->n_text || v->n_image || v->n_speech || v->text_first;
    for (int k = 0; k < MOM_N_SPECIAL; k++) set |= v->special_id[k] != 0;
    return set; /* a stray field makes it set, so that the checks see it */
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

int32_t mom_vocab_special(const mom_vocab_layout *v, int which)
{
    if (which < 0 || which >= MOM_N_SPECIAL) return -1;
    return v && v->text_first ? v->special_id[which] : which;
}

int mom_vocab_which_special(const mom_vocab_layout *v, int32_t token)
{
    if (!mom_vocab_layout_is_set(v)) return -1;
    for (int k = 0; k < MOM_N_SPECIAL; k++)
        if (mom_vocab_special(v, k) == token && (v->text_first || k < v->n_special)) return k;
    return -1;
}

int32_t mom_vocab_first(const mom_vocab_layout *v, int modality)
{
    if (!v) return -1;
    switch (modality) {
    case MOM_MOD_TEXT: return v->text_first ? 0 : v->n_special;
    case MOM_MOD_IMAGE: return v->n_special + v->n_text;
    case MOM_MOD_SPEECH: return v->n_special + v->n_text + v->n_image;
    default: return -1;
    }
}

static const char *const special_names[MOM_N_SPECIAL] = {"bos", "eos", "boi", "eoi", "bosp", "eosp", "pad"};

const char *vocab_special_name(int which)
{
    return which >= 0 && which < MOM_N_SPECIAL ? special_names[which] : "?";
}

mom_status vocab_layout_check(mom_ctx *ctx, const char *what, const mom_vocab_layout *v, mom_status bad)
{
    if (!mom_vocab_layout_is_set(v)) return MOM_OK;
    if (v->text_first != 0 && v->text_first != 1)
        return mom_fail(ctx, bad, "%s: vocab_layout.text_first = %d is not 0 or 1", what, v->text_first);
    if (!v->text_first) {
        for (int k = 0; k < MOM_N_SPECIAL; k++)
            if (v->special_id[k])
                return mom_fail(ctx, bad,
                                "%s: vocab_layout.%s = %d, but only a pretrained (text_first) layout places its "
                                "special tokens; libmom's own has them at 0..%d",
                                what, special_names[k], v->special_id[k], MOM_N_SPECIAL - 1);
        return MOM_OK;
    }
    if (v->n_special < 0 || v->n_special > MOM_N_SPECIAL || v->n_text < 1)
        return mom_fail(ctx, bad,
                        "%s: a pretrained (text_first) vocab_layout needs text >= 1 and special in [0, %d]: text "
                        "%d, special %d",
                        what, MOM_N_SPECIAL, v->n_text, v->n_special);
    const int32_t end = v->n_text + v->n_special;
    int uses[MOM_N_SPECIAL] = {0};
    for (int k = 0; k < MOM_N_SPECIAL; k++) {
        const int32_t id = v->special_id[k];
        if (id < 0 || id >= end)
            return mom_fail(ctx, bad,
                            "%s: vocab_layout.%s = %d is not a text token or an appended special, in [0, %d)", what,
                            special_names[k], id, end);
        if (id >= v->n_text) uses[id - v->n_text]++;
        /* BOS and EOS may be one token (a pretrained end-of-text); the
         * others must be told apart from every special. */
        for (int j = 0; j < k; j++)
            if (v->special_id[j] == id && !(j == MOM_TOK_BOS && k == MOM_TOK_EOS))
                return mom_fail(ctx, bad, "%s: vocab_layout.%s and %s are both %d; only bos and eos may share an id",
                                what, special_names[j], special_names[k], id);
    }
    for (int i = 0; i < v->n_special; i++)
        if (uses[i] != 1)
            return mom_fail(ctx, bad,
                            "%s: appended special id %d is no special token's; the %d appended ids [%d, %d) must "
                            "each be one",
                            what, v->n_text + i, v->n_special, v->n_text, end);
    return MOM_OK;
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
