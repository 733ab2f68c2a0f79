/* Whether a dataset fits a model: vocabulary, modalities, vocabulary
 * layout and patch geometry. */
#include <string.h>

#include "dataset_format.h"
#include "model.h"

mom_status mom_dataset_check(mom_model *m, const mom_dataset *d)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    if (!d) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "dataset is NULL");
    if (mom_dataset_vocab_size(d) > m->cfg.vocab_size)
        return mom_fail(m->ctx, MOM_ERR_DATA, "dataset vocab %lld > model vocab_size %d",
                        (long long)mom_dataset_vocab_size(d), m->cfg.vocab_size);
    if (mom_dataset_n_modalities(d) > m->cfg.n_modalities)
        return mom_fail(m->ctx, MOM_ERR_DATA, "dataset has %d modalities > model n_modalities %d",
                        mom_dataset_n_modalities(d), m->cfg.n_modalities);
    /* Both laid out: the same token id must mean the same thing in both. */
    mom_vocab_layout dl;
    const mom_vocab_layout *ml = &m->cfg.vocab_layout;
    mom_dataset_vocab_layout(d, &dl);
    if (mom_vocab_layout_is_set(&dl) && ml->text_first)
        return mom_fail(m->ctx, MOM_ERR_DATA,
                        "dataset has libmom's own vocabulary layout (special tokens first, text as bytes), but the "
                        "model's text ids are a pretrained tokenizer's: import its data with mom data import --jsonl, "
                        "in that tokenizer's ids");
    /* Such a model's data has no layout of its own: hold each token's
     * modality to the model's, as a laid-out file is held to its own. */
    mom_status s;
    if (ml->text_first &&
        (s = dataset_check_layout_mods(m->ctx, "dataset, under the model's vocabulary layout", ml,
                                       mom_dataset_tokens(d), mom_dataset_modalities(d), mom_dataset_n_tokens(d),
                                       m->patch_dim > 0, MOM_ERR_DATA)))
        return s;
    if (mom_vocab_layout_is_set(&dl) && mom_vocab_layout_is_set(ml) && memcmp(&dl, ml, sizeof(dl)))
        return mom_fail(m->ctx, MOM_ERR_DATA,
                        "dataset vocabulary layout (special %d, text %d, image %d, speech %d) differs from the "
                        "model's (special %d, text %d, image %d, speech %d)",
                        dl.n_special, dl.n_text, dl.n_image, dl.n_speech, ml->n_special, ml->n_text, ml->n_image,
                        ml->n_speech);
    /* Continuous images: the same patch geometry, or none on both sides. */
    mom_patch_geometry dg;
    const mom_patch_geometry *mg = &m->cfg.patches;
    mom_dataset_patch_geometry(d, &dg);
    if (mom_patch_dim(&dg) != m->patch_dim || (m->patch_dim && memcmp(&dg, mg, sizeof(dg))))
        return mom_fail(m->ctx, MOM_ERR_DATA,
                        "dataset patches (patch %d, image %d, channels %d) differ from the model's (patch %d, image "
                        "%d, channels %d; all 0: discrete images)",
                        dg.patch_size, dg.image_size, dg.channels, mg->patch_size, mg->image_size, mg->channels);
    return MOM_OK;
}
