/* Inference over the training forward: a prompt or a step is a forward of
 * (n_seq, T) positions that carries each layer's state in and out (the
 * conv history and the scan state of src/state.c), then the LM head on
 * just the positions whose logits are wanted. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "state.h"

static mom_status check_ids(mom_model *m, const char *what, size_t n, const int32_t *tokens, const uint8_t *modality)
{
    if (!tokens || !modality) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "%s: tokens or modality is NULL", what);
    const int V = m->cfg.vocab_size, M = m->cfg.n_modalities;
    for (size_t i = 0; i < n; i++) {
        if (m->patch_dim && modality[i] == MOM_MOD_IMAGE)
            return mom_fail(m->ctx, MOM_ERR_DATA,
                            "%s: position %zu is an image position; a continuous image is fed by "
                            "mom_state_prefill_patches",
                            what, i);
        if (tokens[i] < 0 || tokens[i] >= V)
            return mom_fail(m->ctx, MOM_ERR_DATA, "%s: token %d at position %zu is not in [0, %d)", what, tokens[i], i, V);
        if (modality[i] >= M)
            return mom_fail(m->ctx, MOM_ERR_DATA, "%s: modality %d at position %zu is not in [0, %d)", what,
                            modality[i], i, M);
    }
    return MOM_OK;
}

/* logits[i] for positions i stride + offset (i < n) of the batch the trunk
 * just ran: their rows of x_final gathered (into dx, idle in a forward),
 * normalised and put through the LM head, head_block rows at a time. */
static mom_status head_logits(mom_model *m, int n, int stride, int offset, float *logits)
{
    backend *be = m->be;
    act_plan *pl = &m->plan;
    const int Dm = m->cfg.d_model, V = m->cfg.vocab_size;
    for (int r0 = 0; r0 < n; r0 += m->head_block) {
        const int nb = n - r0 < m->head_block ? n - r0 : m->head_block;
        for (int i = 0; i < nb; i++) pl->host_sel[i] = pl->host_rows[(size_t)(r0 + i) * stride + offset];
        be->upload(be, pl->sel, pl->host_sel, (size_t)nb);
        be->gather_rows(be, nb, Dm, pl->sel, pl->x_final, Dm, pl->dx);
        be->rmsnorm_fwd(be, nb, Dm, pl->dx, P(m, m->norm_f), m->cfg.norm_eps, pl->h_f, pl->rstd_f);
        if (model_mm_fwd(m, nb, V, Dm, pl->h_f, Dm, m->lm_head, pl->logits, V, 0))
            return mom_fail(m->ctx, MOM_ERR_BACKEND, "LM head matmul failed");
        be->download(be, logits + (size_t)r0 * V, pl->logits, (size_t)nb * V);
    }
    return model_backend_ok(m);
}

mom_status mom_model_logits(mom_model *m, int B, int T, const int32_t *tokens, const uint8_t *modality,
                            float *logits)
{
    if (!m) return MOM_ERR_INVALID_ARG;
    if (B < 1 || T < 1 || (int64_t)B * T > (1 << 24))
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "logits: B = %d, T = %d out of range (1 <= B*T <= 16M)", B, T);
    if (!logits) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "logits: output is NULL");
    mom_status s = check_ids(m, "logits", (size_t)B * T, tokens, modality);
    if (!s) s = model_trunk(m, B, T, tokens, modality, NULL, NULL);
    return s ? s : head_logits(m, B * T, 1, 0, logits);
}

mom_status mom_state_prefill(mom_state *st, int seq0, int n_seq, int T, const int32_t *tokens,
                             const uint8_t *modality, float *logits)
{
    if (!st) return MOM_ERR_INVALID_ARG;
    mom_model *m = st->m;
    if (n_seq < 1 || seq0 < 0 || seq0 > st->n_seq - n_seq)
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "prefill: sequences [%d, %lld) are not within the state's %d",
                        seq0, (long long)seq0 + n_seq, st->n_seq);
    if (T < 1 || T > (1 << 24))
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "prefill: T = %d is not in [1, 16M]", T);
    if (st->broken)
        return mom_fail(m->ctx, MOM_ERR_BACKEND, "prefill: the state was left half fed by a backend failure; reset it");
    mom_status s = check_ids(m, "prefill", (size_t)n_seq * T, tokens, modality);
    if (s) return s;
    for (int i = 0; i < n_seq; i++)
        if (st->max_tokens && st->len[seq0 + i] + T > st->max_tokens)
            return mom_fail(m->ctx, MOM_ERR_INVALID_ARG,
                            "prefill: sequence %d holds %lld tokens; %d more pass its limit of %lld", seq0 + i,
                            (long long)st->len[seq0 + i], T, (long long)st->max_tokens);

    layer_carry carry[512]; /* config validation keeps n_layer <= 512 */
    for (int l = 0; l < m->cfg.n_layer; l++) carry[l] = state_carry(st, l, seq0);
    const int piece = m->prefill_rows / n_seq > 1 ? m->prefill_rows / n_seq : 1;
    /* One piece (a step, a short prompt): the caller's arrays as they are. */
    int32_t *tok = NULL;
    uint8_t *mod = NULL;
    if (T > piece) {
        tok = malloc(sizeof(int32_t) * (size_t)n_seq * piece);
        mod = malloc((size_t)n_seq * piece);
        if (!tok || !mod) s = mom_fail(m->ctx, MOM_ERR_NOMEM, "prefill: out of memory");
    }
    int t_done = 0; /* positions whose pieces ran */
    for (int t0 = 0; !s && t0 < T; t0 += piece) {
        const int L = T - t0 < piece ? T - t0 : piece;
        const int32_t *pt = tokens;
        const uint8_t *pm = modality;
        if (tok) {
            for (int i = 0; i < n_seq; i++) {
                memcpy(tok + (size_t)i * L, tokens + (size_t)i * T + t0, sizeof(int32_t) * (size_t)L);
                memcpy(mod + (size_t)i * L, modality + (size_t)i * T + t0, (size_t)L);
            }
            pt = tok;
            pm = mod;
        }
        s = model_trunk(m, n_seq, L, pt, pm, carry, NULL);
        if (!s) t_done += L;
        if (!s && logits && t0 + L == T) s = head_logits(m, n_seq, L, L - 1, logits);
    }
    free(tok);
    free(mod);
    if (!s)
        for (int i = 0; i < n_seq; i++) st->len[seq0 + i] += T;
    /* Out of memory before the first piece ran (planning its activations)
     * changes nothing; any later failure may have moved some layers. */
    else if (s != MOM_ERR_NOMEM || t_done > 0)
        st->broken = 1;
    return s;
}

mom_status mom_state_prefill_patches(mom_state *st, int seq, int n, const float *x_t, int t, float *eps)
{
    if (!st) return MOM_ERR_INVALID_ARG;
    mom_model *m = st->m;
    const int pd = m->patch_dim;
    if (!pd) return mom_fail(m->ctx, MOM_ERR_UNSUPPORTED, "prefill_patches: the model has no continuous images");
    if (seq < 0 || seq >= st->n_seq || n < 1 || n > m->prefill_rows || t < 0 || t >= MOM_DIFFUSION_STEPS)
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG,
                        "prefill_patches: seq %d of %d, n %d of at most %d, t %d of [0, %d): out of range", seq,
                        st->n_seq, n, m->prefill_rows, t, MOM_DIFFUSION_STEPS);
    if (!x_t || !eps) return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "prefill_patches: x_t or eps is NULL");
    if (st->broken)
        return mom_fail(m->ctx, MOM_ERR_BACKEND, "prefill_patches: the state was left half fed by a backend failure");
    for (size_t i = 0; i < (size_t)n * pd; i++)
        if (!isfinite(x_t[i]))
            return mom_fail(m->ctx, MOM_ERR_DATA, "prefill_patches: x_t[%zu] is %g", i, (double)x_t[i]);
    if (st->max_tokens && st->len[seq] + n > st->max_tokens)
        return mom_fail(m->ctx, MOM_ERR_INVALID_ARG, "prefill_patches: sequence %d holds %lld tokens; %d more pass its "
                        "limit of %lld", seq, (long long)st->len[seq], n, (long long)st->max_tokens);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
    uint8_t *mod = malloc((size_t)n);
    if (!tok || !mod) {
        free(tok);
        free(mod);
        return mom_fail(m->ctx, MOM_ERR_NOMEM, "prefill_patches: out of memory");
    }
    for (int i = 0; i < n; i++) {
        tok[i] = mom_vocab_special(&m->cfg.vocab_layout, MOM_TOK_PAD);
        mod[i] = MOM_MOD_IMAGE;
    }
    layer_carry carry[512];
    for (int l = 0; l < m->cfg.n_layer; l++) carry[l] = state_carry(st, l, seq);
    const patch_feed pf = {x_t, 0, 0, 0.0f, t};
    mom_status s = model_trunk(m, 1, n, tok, mod, carry, &pf);
    free(tok);
    free(mod);
    if (!s) {
        /* Every position is an image position: the slice is the batch, in
         * position order. */
        act_plan *pl = &m->plan;
        m->be->rmsnorm_fwd(m->be, n, m->cfg.d_model, pl->x_final, P(m, m->norm_f), m->cfg.norm_eps, pl->h_f,
                           pl->rstd_f);
        s = model_patch_pred(m, 0, n);
        if (!s) m->be->download(m->be, eps, pl->pred, (size_t)n * pd);
        if (!s) s = model_backend_ok(m);
    }
    if (s) st->broken = 1;
    else st->len[seq] += n;
    return s;
}

mom_status mom_state_step(mom_state *st, const int32_t *tokens, const uint8_t *modality, float *logits)
{
    return st ? mom_state_prefill(st, 0, st->n_seq, 1, tokens, modality, logits) : MOM_ERR_INVALID_ARG;
}
