/* The inference state: per layer, for each of n_seq sequences, the conv's
 * last d_conv - 1 inputs and the SSM state, in one backend buffer:
 *
 *   layer l: conv (n_seq, d_conv - 1, d_inner) | ssm (n_seq, d_inner x d_state)
 *
 * (an SSM state in the backend's own order, be_scan.carry in backend.h;
 * nothing here looks inside one),
 * so the sequences seq0 .. seq0 + n - 1 of a layer are one contiguous view
 * of each part, which is what a forward over those sequences carries. */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "reserved.h"
#include "state.h"

void mom_state_default_settings(mom_state_settings *s)
{
    if (!s) return;
    memset(s, 0, sizeof(*s));
    s->n_seq = 1;
}

/* Floats per sequence per layer, each part. */
static size_t conv_elems(const mom_model *m) { return (size_t)(m->cfg.d_conv - 1) * m->d_inner; }
static size_t ssm_elems(const mom_model *m) { return (size_t)m->d_inner * m->cfg.d_state; }

/* Floats of the whole state; 0 when n_seq is out of range. */
static size_t state_elems(const mom_model *m, int n_seq)
{
    if (!m || n_seq < 1 || n_seq > MOM_STATE_MAX_SEQ) return 0;
    return (size_t)m->cfg.n_layer * n_seq * (conv_elems(m) + ssm_elems(m));
}

size_t mom_state_bytes(const mom_model *m, int n_seq) { return state_elems(m, n_seq) * sizeof(float); }

mom_status mom_state_create(mom_model *m, const mom_state_settings *s, mom_state **out)
{
    if (out) *out = NULL;
    if (!m) return MOM_ERR_INVALID_ARG;
    mom_ctx *ctx = m->ctx;
    if (!s || !out) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "mom_state_create: %s is NULL", s ? "out" : "settings");
    mom_status rs = MOM_CHECK_RESERVED(ctx, "state settings", s->reserved);
    if (rs) return rs;
    if (s->n_seq < 1 || s->n_seq > MOM_STATE_MAX_SEQ)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "state: n_seq = %d is not in [1, %d]", s->n_seq, MOM_STATE_MAX_SEQ);
    if (s->max_tokens < 0)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG, "state: max_tokens = %lld is negative", (long long)s->max_tokens);
    const size_t n = state_elems(m, s->n_seq);
    if (s->memory) {
        if (!m->be->wrap)
            return mom_fail(ctx, MOM_ERR_UNSUPPORTED, "state: the %s backend cannot use the caller's memory",
                            m->be->name);
        if ((uintptr_t)s->memory % 64)
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "state: memory %p is not 64-byte aligned", s->memory);
        if (s->memory_bytes < n * sizeof(float))
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "state: memory_bytes = %zu < the %zu bytes %d sequences need",
                            s->memory_bytes, n * sizeof(float), s->n_seq);
    }
    mom_state *st = calloc(1, sizeof(*st));
    int64_t *len = calloc((size_t)s->n_seq, sizeof(int64_t));
    be_buf *buf = !st || !len ? NULL : s->memory ? m->be->wrap(m->be, s->memory, n) : m->be->alloc(m->be, n);
    if (!buf) {
        free(st);
        free(len);
        return mom_fail(ctx, MOM_ERR_NOMEM, "state: cannot allocate %zu bytes for %d sequences", n * sizeof(float),
                        s->n_seq);
    }
    st->m = m;
    st->n_seq = s->n_seq;
    st->max_tokens = s->max_tokens;
    st->buf = buf;
    st->len = len;
    if (s->memory) m->be->zero(m->be, (bv){buf, 0}, n); /* alloc zeroes; the caller's memory is as it was */
    *out = st;
    return MOM_OK;
}

void mom_state_destroy(mom_state **sp)
{
    if (!sp || !*sp) return;
    mom_state *st = *sp;
    st->m->be->release(st->m->be, st->buf);
    free(st->len);
    free(st);
    *sp = NULL;
}

int mom_state_n_seq(const mom_state *st) { return st ? st->n_seq : 0; }

int64_t mom_state_length(const mom_state *st, int seq)
{
    return st && seq >= 0 && seq < st->n_seq ? st->len[seq] : -1;
}

layer_carry state_carry(const mom_state *st, int layer, int seq0)
{
    const mom_model *m = st->m;
    const size_t layer_off = (size_t)layer * st->n_seq * (conv_elems(m) + ssm_elems(m));
    const size_t ssm_off = layer_off + (size_t)st->n_seq * conv_elems(m);
    layer_carry c = {{st->buf, layer_off + (size_t)seq0 * conv_elems(m)},
                     {st->buf, ssm_off + (size_t)seq0 * ssm_elems(m)}};
    return c;
}

/* Sequences [d0, d0 + n) of dst = sequences [s0, s0 + n) of src, or zeros
 * when src is NULL. */
static void move_seqs(mom_state *dst, int d0, const mom_state *src, int s0, int n)
{
    backend *be = dst->m->be;
    const size_t ce = conv_elems(dst->m), se = ssm_elems(dst->m);
    for (int l = 0; l < dst->m->cfg.n_layer; l++) {
        const layer_carry d = state_carry(dst, l, d0);
        if (!src) {
            be->zero(be, d.conv, (size_t)n * ce);
            be->zero(be, d.ssm, (size_t)n * se);
            continue;
        }
        const layer_carry s = state_carry(src, l, s0);
        be->copy(be, d.conv, s.conv, (size_t)n * ce);
        be->copy(be, d.ssm, s.ssm, (size_t)n * se);
    }
    for (int i = 0; i < n; i++) dst->len[d0 + i] = src ? src->len[s0 + i] : 0;
}

mom_status mom_state_reset(mom_state *st, int seq)
{
    if (!st) return MOM_ERR_INVALID_ARG;
    if (seq >= st->n_seq)
        return mom_fail(st->m->ctx, MOM_ERR_INVALID_ARG, "state reset: seq %d is not in [0, %d)", seq, st->n_seq);
    if (seq < 0) move_seqs(st, 0, NULL, 0, st->n_seq);
    else move_seqs(st, seq, NULL, 0, 1);
    if (seq < 0 || st->n_seq == 1) st->broken = 0;
    return MOM_OK;
}

mom_status mom_state_copy(mom_state *dst, int dst_seq, const mom_state *src, int src_seq)
{
    if (!dst) return MOM_ERR_INVALID_ARG;
    mom_ctx *ctx = dst->m->ctx;
    if (!src) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "state copy: src is NULL");
    if (src->m != dst->m) return mom_fail(ctx, MOM_ERR_INVALID_ARG, "state copy: the states belong to different models");
    if (dst_seq < 0 && src_seq < 0) {
        if (src->n_seq != dst->n_seq)
            return mom_fail(ctx, MOM_ERR_INVALID_ARG, "state copy: %d sequences into %d", src->n_seq, dst->n_seq);
        if (src != dst) move_seqs(dst, 0, src, 0, src->n_seq);
        dst->broken = src->broken;
        return MOM_OK;
    }
    if (dst_seq < 0 || dst_seq >= dst->n_seq || src_seq < 0 || src_seq >= src->n_seq)
        return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                        "state copy: seq %d of %d into seq %d of %d (both in range, or both -1 for all)", src_seq,
                        src->n_seq, dst_seq, dst->n_seq);
    if (src != dst || src_seq != dst_seq) move_seqs(dst, dst_seq, src, src_seq, 1);
    return MOM_OK;
}
