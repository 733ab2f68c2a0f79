/* Evaluation: the mean losses of a model over a dataset, and the running
 * mean of losses over batches that evaluation and training report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_format.h"
#include "model.h"

mom_status mom_losses_accumulate(const mom_model *m, mom_losses *acc, const mom_losses *add)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    if (!acc || !add)
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "mom_losses_accumulate: %s is NULL", acc ? "add" : "acc");
    const int n_mod = m->cfg.n_modalities, img = m->patch_dim ? MOM_MOD_IMAGE : -1;
    double ce = 0.0;
    for (int k = 0; k < MOM_MAX_MODALITIES; k++) {
        if (k < n_mod && add->count[k]) {
            const double s = (acc->count[k] ? acc->by_modality[k] * (double)acc->count[k] : 0.0) +
                             add->by_modality[k] * (double)add->count[k];
            acc->count[k] += add->count[k];
            acc->by_modality[k] = s / (double)acc->count[k];
        } else if (!acc->count[k]) {
            acc->by_modality[k] = NAN;
        }
        if (k != img && acc->count[k]) ce += acc->by_modality[k] * (double)acc->count[k];
    }
    acc->n_targets += add->n_targets;
    const int has_img = img >= 0 && acc->count[img];
    acc->loss = acc->n_targets ? ce / (double)acc->n_targets : has_img ? 0.0 : NAN;
    if (has_img) acc->loss += m->cfg.diffusion_weight * acc->by_modality[img];
    return MOM_OK;
}

/* Windows of T+1 tokens with stride T, so every token after the first is a
 * target exactly once. */
mom_status mom_model_evaluate(mom_model *m, const mom_dataset *d, int B, int T, int64_t max_batches,
                              mom_losses *out)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    mom_status s = mom_dataset_check(m, d);
    if (s) return s;
    if (B < 1 || T < 1 || (int64_t)B * T > (1 << 24))
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "evaluate: B = %d, T = %d out of range (1 <= B*T <= 16M)", B, T);
    if (!out) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "evaluate: out is NULL");
    const int64_t n_windows = (mom_dataset_n_tokens(d) - 1) / T;
    if (n_windows < 1)
        return mom_fail(m->ctx, MOM_ERR_DATA, "evaluate: dataset of %lld tokens is shorter than seq %d + 1",
                        (long long)mom_dataset_n_tokens(d), T);
    const size_t BT = (size_t)B * T;
    int32_t *tok = malloc(BT * 4), *tgt = malloc(BT * 4);
    uint8_t *mod = malloc(BT), *tmod = malloc(BT);
    int64_t *starts = malloc(sizeof(int64_t) * (size_t)B);
    float *patches = m->patch_dim ? malloc(sizeof(float) * BT * (size_t)m->patch_dim) : NULL;
    memset(out, 0, sizeof(*out));
    if (!tok || !tgt || !mod || !tmod || !starts || (m->patch_dim && !patches))
        s = mom_fail(m->ctx, MOM_ERR_NOMEM, "evaluate: out of memory");
    int64_t batches = 0;
    for (int64_t w = 0; !s && w < n_windows && (max_batches <= 0 || batches < max_batches); w += B, batches++) {
        if ((s = mom_check_stop(m->ctx, "evaluate"))) break;
        /* A last, short batch is padded with window 0 and no targets, so
         * the planned (B, T) shape serves every batch. */
        const int rows = (int)(n_windows - w < B ? n_windows - w : B);
        for (int r = 0; r < B; r++) starts[r] = r < rows ? (w + r) * T : 0;
        s = mom_dataset_fill_batch(d, B, T, starts, tok, mod, tgt, tmod);
        if (s) {
            /* The dataset said why on its own context: carry that here. */
            char why[512];
            snprintf(why, sizeof why, "%s", dataset_ctx(d) ? mom_ctx_last_error(dataset_ctx(d)) : "");
            s = mom_fail(m->ctx, s, "evaluate: window %lld: %s", (long long)w, why);
            break;
        }
        if (m->patch_dim && (s = mom_dataset_fill_patches(d, B, T, starts, patches))) break;
        for (size_t i = (size_t)rows * T; i < BT; i++) {
            tgt[i] = -1;
            if (mod[i] == MOM_MOD_IMAGE && m->patch_dim) mod[i] = MOM_MOD_TEXT; /* no noise loss from padding */
        }
        /* The noise of a window is fixed by its index: every evaluation of
         * a run sees the same timesteps and noise. */
        mom_batch b = {.B = B, .T = T, .tokens = tok, .modality = mod, .targets = tgt, .target_modality = tmod, .patches = patches, .noise_seed = (uint64_t)w * 0x9E3779B97F4A7C15ull + 1, .low_t_fraction = 0.0f};
        mom_losses l;
        if ((s = mom_model_forward(m, &b, &l))) break;
        mom_losses_accumulate(m, out, &l);
    }
    free(tok);
    free(tgt);
    free(mod);
    free(tmod);
    free(starts);
    free(patches);
    return s;
}
