/* Sampling next tokens: temperature, top-k, top-p, and (with a vocabulary
 * layout) the rules that keep an image or a recording well formed. Each
 * sequence tracks which segment it is in and has an RNG of its own, so its
 * draws do not depend on the other sequences of a batch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "reserved.h"
#include "rng.h"

enum { IN_TEXT, IN_IMAGE, IN_SPEECH };

typedef struct seq_grammar {
    int segment; /* IN_* */
    int count;   /* codes or units of the current image or recording so far */
} seq_grammar;

struct mom_sampler {
    mom_ctx *ctx;
    mom_sampling s;
    mom_vocab_layout lay;
    int laid_out, V, n_seq;
    int continuous; /* images are patches (diffusion), not codes */
    seq_grammar *g;
    rng *r;
    int32_t *cand; /* [V]: the tokens allowed now */
    float *p;      /* [V]: their probabilities, by token id */
};

void mom_sampling_default(mom_sampling *s)
{
    if (!s) return;
    memset(s, 0, sizeof(*s));
    s->temperature = 1.0f;
    s->top_p = 1.0f;
    s->speech_tokens = 500;
}

mom_status mom_sampler_create(const mom_model *m, const mom_sampling *s, int n_seq, mom_sampler **out)
{
    if (out) *out = NULL;
    if (!m) return MOM_ERR_INVALID_ARG;
    mom_ctx *ctx = m->ctx;
    if (!s || !out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_sampler_create: %s is NULL", s ? "out" : "sampling");
    mom_status rs = MOM_CHECK_RESERVED(ctx, "sampling", s->reserved);
    if (rs) return rs;
    if (!(s->temperature >= 0.0f) || !isfinite(s->temperature))
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "sampling: temperature %g is not a finite number >= 0",
                        (double)s->temperature);
    if (s->top_k < 0) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "sampling: top_k %d is negative", s->top_k);
    if (!(s->top_p > 0.0f && s->top_p <= 1.0f))
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "sampling: top_p %g is not in (0, 1]", (double)s->top_p);
    if (s->image_tokens < 0 || s->speech_tokens < 1)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "sampling: image_tokens %d must be >= 0 and speech_tokens %d >= 1",
                        s->image_tokens, s->speech_tokens);
    if (n_seq < 1) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "sampling: n_seq %d < 1", n_seq);
    mom_sampler *sp = calloc(1, sizeof(*sp));
    const int V = m->cfg.vocab_size;
    if (sp) {
        sp->g = calloc((size_t)n_seq, sizeof(seq_grammar));
        sp->r = calloc((size_t)n_seq, sizeof(rng));
        sp->cand = malloc(sizeof(int32_t) * (size_t)V);
        sp->p = malloc(sizeof(float) * (size_t)V);
    }
    if (!sp || !sp->g || !sp->r || !sp->cand || !sp->p) {
        mom_sampler_destroy(&sp);
        return mom_fail(ctx, MOM_ERR_NOMEM, "sampling: out of memory");
    }
    sp->ctx = ctx;
    sp->s = *s;
    sp->lay = m->cfg.vocab_layout;
    sp->laid_out = mom_vocab_layout_is_set(&sp->lay);
    sp->continuous = mom_patch_dim(&m->cfg.patches) > 0;
    sp->V = V;
    sp->n_seq = n_seq;
    for (int i = 0; i < n_seq; i++) rng_seed(&sp->r[i], s->seed + 0x9E3779B97F4A7C15ull * (uint64_t)i);
    *out = sp;
    return MOM_OK;
}

void mom_sampler_destroy(mom_sampler **spp)
{
    if (!spp || !*spp) return;
    mom_sampler *sp = *spp;
    free(sp->g);
    free(sp->r);
    free(sp->cand);
    free(sp->p);
    free(sp);
    *spp = NULL;
}

static mom_status check_seq(const mom_sampler *sp, int seq)
{
    return seq >= 0 && seq < sp->n_seq
               ? MOM_OK
               : mom_fail(sp->ctx, MOM_ERR_INVALID_ARG, "sampler: seq %d is not in [0, %d)", seq, sp->n_seq);
}

mom_status mom_sampler_accept(mom_sampler *sp, int seq, int32_t token)
{
    if (!sp) return MOM_ERR_INVALID_ARG;
    mom_status s = check_seq(sp, seq);
    if (s) return s;
    if (token < 0 || token >= sp->V)
        return mom_fail(sp->ctx, MOM_ERR_DATA, "sampler: token %d is not in [0, %d)", token, sp->V);
    if (!sp->laid_out) return MOM_OK;
    const mom_vocab_layout *v = &sp->lay;
    const int which = mom_vocab_which_special(v, token);
    if ((which == MOM_TOK_BOI && !v->n_image && !sp->continuous) || (which == MOM_TOK_BOSP && !v->n_speech))
        return mom_fail(sp->ctx, MOM_ERR_DATA, "sampler: token %d opens %s, but the vocabulary has none", token,
                        which == MOM_TOK_BOI ? "an image" : "a recording");
    seq_grammar *g = &sp->g[seq];
    if (which == MOM_TOK_BOI || which == MOM_TOK_BOSP) {
        g->segment = which == MOM_TOK_BOI ? IN_IMAGE : IN_SPEECH;
        g->count = 0;
    } else if (which >= 0) {
        g->segment = IN_TEXT; /* EOI, EOSP, BOS, EOS, PAD end any segment */
    } else if (mom_vocab_layout_modality(v, token) != MOM_MOD_TEXT) {
        g->count++;
    }
    return MOM_OK;
}

/* The special ids inside a pretrained text part, ascending, each once,
 * into skip; their count (0 in libmom's own order). */
static int specials_in_text(const mom_vocab_layout *v, int32_t *skip)
{
    int n = 0;
    for (int k = 0; v->text_first && k < MOM_N_SPECIAL; k++) {
        const int32_t id = v->special_id[k];
        if (id >= v->n_text) continue;
        int i = n;
        while (i > 0 && skip[i - 1] > id) i--;
        if (i > 0 && skip[i - 1] == id) continue; /* BOS and EOS as one */
        memmove(skip + i + 1, skip + i, sizeof(int32_t) * (size_t)(n - i));
        skip[i] = id;
        n++;
    }
    return n;
}

/* The tokens seq may draw next, into sp->cand; their count. */
static int allowed(const mom_sampler *sp, const seq_grammar *g)
{
    int n = 0;
    if (!sp->laid_out) {
        for (int t = 0; t < sp->V; t++) sp->cand[n++] = t;
        return n;
    }
    const mom_vocab_layout *v = &sp->lay;
    const int32_t text0 = mom_vocab_first(v, MOM_MOD_TEXT), image0 = mom_vocab_first(v, MOM_MOD_IMAGE),
                  speech0 = mom_vocab_first(v, MOM_MOD_SPEECH);
    const int32_t eos = mom_vocab_special(v, MOM_TOK_EOS), eoi = mom_vocab_special(v, MOM_TOK_EOI),
                  eosp = mom_vocab_special(v, MOM_TOK_EOSP);
    if (g->segment == IN_IMAGE && sp->continuous) {
        sp->cand[n++] = eoi; /* the patches come from diffusion, not from here */
    } else if (g->segment == IN_IMAGE) {
        const int must_end = sp->s.image_tokens > 0 && g->count >= sp->s.image_tokens;
        const int may_end = sp->s.image_tokens == 0 || must_end;
        if (may_end) sp->cand[n++] = eoi;
        if (!must_end)
            for (int t = image0; t < speech0; t++) sp->cand[n++] = t;
    } else if (g->segment == IN_SPEECH) {
        const int must_end = g->count >= sp->s.speech_tokens;
        if (g->count > 0) sp->cand[n++] = eosp;
        if (!must_end)
            for (int t = speech0; t < speech0 + v->n_speech; t++) sp->cand[n++] = t;
    } else {
        sp->cand[n++] = eos;
        if (v->n_image || sp->continuous) sp->cand[n++] = mom_vocab_special(v, MOM_TOK_BOI);
        if (v->n_speech) sp->cand[n++] = mom_vocab_special(v, MOM_TOK_BOSP);
        /* A pretrained vocabulary may hold specials among its text (its
         * end-of-text as EOS): those are drawn as what they are, above, or
         * not at all. The text runs between them, in id order. */
        int32_t skip[MOM_N_SPECIAL];
        const int ns = specials_in_text(v, skip);
        int32_t t = text0;
        for (int i = 0; i <= ns; i++) {
            const int32_t end = i < ns ? skip[i] : text0 + v->n_text;
            for (; t < end; t++) sp->cand[n++] = t;
            t = end + 1;
        }
    }
    return n;
}

/* Most likely first, ties by lower id: a total order, so the result is one
 * result. A shell sort of the candidates (qsort has no portable way to
 * pass p without a global, and samplers may run in several threads). */
static int before(const float *p, int32_t x, int32_t y) { return p[x] > p[y] || (p[x] == p[y] && x < y); }
static void sort_by_p(int32_t *c, int n, const float *p)
{
    for (int gap = n / 2; gap > 0; gap /= 2)
        for (int i = gap; i < n; i++) {
            const int32_t v = c[i];
            int j = i;
            for (; j >= gap && before(p, v, c[j - gap]); j -= gap) c[j] = c[j - gap];
            c[j] = v;
        }
}

mom_status mom_sampler_sample(mom_sampler *sp, int seq, const float *logits, int32_t *token)
{
    if (!sp) return MOM_ERR_INVALID_ARG;
    mom_status s = check_seq(sp, seq);
    if (s) return s;
    if (!logits || !token) return mom_fail(sp->ctx, MOM_ERR_INVALID_ARG, "sampler: logits or token is NULL");
    const int n = allowed(sp, &sp->g[seq]);
    if (n == 0) return mom_fail(sp->ctx, MOM_ERR_DATA, "sampler: sequence %d allows no token here", seq);
    int32_t *c = sp->cand;
    int best = c[0];
    for (int i = 0; i < n; i++) {
        if (!isfinite(logits[c[i]]))
            return mom_fail(sp->ctx, MOM_ERR_INVALID_ARG, "sampler: logit of token %d is %g", c[i], (double)logits[c[i]]);
        if (logits[c[i]] > logits[best]) best = c[i];
    }
    if (sp->s.temperature == 0.0f || n == 1) {
        *token = best;
        return MOM_OK;
    }
    /* Softmax at the temperature over the allowed tokens, in double. */
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        const double e = exp(((double)logits[c[i]] - logits[best]) / sp->s.temperature);
        sp->p[c[i]] = (float)e;
        sum += e;
    }
    for (int i = 0; i < n; i++) sp->p[c[i]] = (float)(sp->p[c[i]] / sum);
    /* top-k first, then top-p over the top-k tokens renormalised. */
    int keep = n;
    if (sp->s.top_k > 0 || sp->s.top_p < 1.0f) {
        sort_by_p(c, n, sp->p);
        if (sp->s.top_k > 0 && sp->s.top_k < keep) keep = sp->s.top_k;
    }
    double kept = 0.0;
    for (int i = 0; i < keep; i++) kept += sp->p[c[i]];
    if (sp->s.top_p < 1.0f) {
        double mass = 0.0;
        for (int i = 0; i < keep; i++) {
            mass += sp->p[c[i]];
            if (mass >= sp->s.top_p * kept) {
                keep = i + 1;
                kept = mass;
                break;
            }
        }
    }
    const double u = (double)rng_uniform(&sp->r[seq]) * kept;
    double acc = 0.0;
    *token = c[keep - 1];
    for (int i = 0; i < keep; i++) {
        acc += sp->p[c[i]];
        if (u < acc) {
            *token = c[i];
            break;
        }
    }
    return MOM_OK;
}
