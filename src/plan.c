/* Activation memory, planned once per (B, T): one backend buffer cut into
 * views, reused by every step of that shape, so a training step allocates
 * nothing after the first. What lives per layer and what is shared is
 * described at layer_acts in model.h. */
#include <stdlib.h>
#include <string.h>

#include "model.h"

typedef struct cursor { size_t off; } cursor;

/* Views are 16-element aligned so SIMD kernels can use aligned rows. */
static bv take(cursor *c, size_t n)
{
    bv v = {NULL, c->off};
    c->off += (n + 15) & ~(size_t)15;
    return v;
}

static void layout(mom_model *m, act_plan *p, cursor *c)
{
    const size_t BT = (size_t)p->B * p->T, Dm = (size_t)m->cfg.d_model, Di = (size_t)m->d_inner;
    const size_t N = (size_t)m->cfg.d_state, X = (size_t)m->n_xdbl, V = (size_t)m->cfg.vocab_size;
    const be_scan shape = {p->B, p->T, (int)Di, (int)N, m->chunk, {0}, {0}, {0}, {0}, {0}, {0}, {0}, {0}, 0, 0, {0}, {0}};
    const size_t states = m->be->scan_states_elems(m->be, &shape);
    for (int l = 0; l < m->cfg.n_layer; l++) {
        layer_acts *a = &p->layers[l];
        a->x_in = take(c, BT * Dm);
        a->rstd = take(c, BT);
        a->xz = take(c, BT * 2 * Di);
        a->uc = take(c, BT * Di);
        a->xdbl = take(c, BT * X);
        a->states = take(c, states);
    }
    p->x_final = take(c, BT * Dm);
    p->rstd_f = take(c, BT);
    /* dh_f over h_f: each head block reads its rows of h_f (logits, dW_head)
     * before its dh_f rows are written. */
    p->h_f = take(c, BT * Dm);
    p->dh_f = p->h_f;
    p->logits = take(c, (BT < (size_t)m->head_block ? BT : (size_t)m->head_block) * V);
    /* The fused training step reads back once: the row losses, then, 16
     * floats on, its norm, clip scale and finite flag. */
    const size_t loss_span = (BT + 15) & ~(size_t)15;
    p->row_loss = take(c, loss_span + 16);
    p->step_clip.off = p->row_loss.off + loss_span;
    p->tokens = take(c, BT);
    p->targets = take(c, BT);
    p->rows = take(c, BT);
    p->sel = take(c, BT);
    const size_t PD = (size_t)m->patch_dim, TD = PD ? (size_t)m->cfg.time_dim : 0;
    p->pin_x = take(c, BT * PD);
    p->pin_eps = take(c, BT * PD);
    p->pin_t = take(c, BT * TD);
    p->pred = take(c, BT * PD);
    p->patch_loss = take(c, PD ? BT : 0);
    /* Buffers whose lives do not overlap share memory (see block.c):
     * h and dtp (in_proj reads h before dt_proj writes dtp; in the backward
     * softplus' backward reads dtp for the last time before h is
     * recomputed); y, dy and dh (the scan's backward reads dy[t] before it
     * writes y[t]; dh comes after the last read of y). */
    const size_t wide_row = Di > Dm ? Di : Dm;
    p->dtp = take(c, BT * wide_row);
    p->h = p->dtp;
    p->delta = take(c, BT * Di);
    p->y = take(c, BT * wide_row);
    p->dy = p->y;
    p->dh = p->y;
    p->dx = take(c, BT * Dm);
    p->dxz = take(c, BT * 2 * Di);
    p->duc = take(c, BT * Di);
    p->dxdbl = take(c, BT * X);
    p->ddelta = take(c, BT * Di);
    p->scan_threads = m->be->threads(m->be, m->ctx->n_threads);
    p->scan_work = take(c, m->be->scan_work_elems(m->be, &shape, p->scan_threads));
}

static void bind(act_plan *p, int n_layer)
{
    bv *all[] = {&p->x_final, &p->rstd_f, &p->h_f, &p->dh_f, &p->logits, &p->row_loss, &p->step_clip, &p->tokens, &p->targets,
                 &p->rows, &p->sel, &p->pin_x, &p->pin_eps, &p->pin_t, &p->pred, &p->patch_loss, &p->h, &p->dtp, &p->delta, &p->y, &p->dx, &p->dy, &p->dh, &p->dxz,
                 &p->duc, &p->dxdbl, &p->ddelta, &p->scan_work};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) all[i]->buf = p->buf;
    for (int l = 0; l < n_layer; l++) {
        layer_acts *a = &p->layers[l];
        bv *la[] = {&a->x_in, &a->rstd, &a->xz, &a->uc, &a->xdbl, &a->states};
        for (size_t i = 0; i < sizeof(la) / sizeof(la[0]); i++) la[i]->buf = p->buf;
    }
}

void plan_free(mom_model *m)
{
    act_plan *p = &m->plan;
    if (p->buf) m->be->release(m->be, p->buf);
    free(p->layers);
    free(p->host_loss);
    free(p->host_perm);
    free(p->host_rows);
    free(p->host_tokens);
    free(p->host_targets);
    free(p->host_sel);
    free(p->host_xt);
    free(p->host_eps);
    free(p->host_tf);
    free(p->host_mse);
    memset(p, 0, sizeof(*p));
}

static mom_status host_arrays(const mom_model *m, act_plan *p, size_t BT)
{
    int32_t **ints[] = {&p->host_perm, &p->host_rows, &p->host_tokens, &p->host_targets, &p->host_sel};
    const size_t PD = (size_t)m->patch_dim, TD = PD ? (size_t)m->cfg.time_dim : 0;
    struct { float **p; size_t n; } floats[] = {{&p->host_loss, BT + 32}, /* and the step's clip values */ {&p->host_xt, BT * PD}, {&p->host_eps, BT * PD},
                                                {&p->host_tf, BT * TD}, {&p->host_mse, PD ? BT : 0}};
    int ok = 1;
    for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
        free(*floats[i].p);
        *floats[i].p = malloc(sizeof(float) * (floats[i].n ? floats[i].n : 1));
        ok = ok && *floats[i].p;
    }
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        free(*ints[i]);
        *ints[i] = malloc(sizeof(int32_t) * BT);
        ok = ok && *ints[i];
    }
    if (ok) p->cap_bt = BT;
    return ok ? MOM_OK : MOM_ERR_NOMEM;
}

mom_status plan_ensure(mom_model *m, int B, int T)
{
    act_plan *p = &m->plan;
    if (p->buf && p->B == B && p->T == T) return MOM_OK;
    const size_t BT = (size_t)B * T;
    if (!p->layers) p->layers = calloc((size_t)m->cfg.n_layer, sizeof(layer_acts));
    p->B = B;
    p->T = T;
    cursor c = {0};
    if (p->layers) layout(m, p, &c);
    const int fits = p->buf && c.off <= p->cap_elems && BT <= p->cap_bt;
    if (!fits) {
        if (p->buf) m->be->release(m->be, p->buf);
        p->buf = NULL;
        p->cap_elems = 0;
        if (p->layers && host_arrays(m, p, BT) == MOM_OK) p->buf = m->be->alloc(m->be, c.off);
        if (!p->buf) {
            plan_free(m);
            return mom_fail(m->ctx, MOM_ERR_NOMEM, "cannot allocate activations for batch %d x seq %d (%zu MiB)",
                            B, T, c.off * 4 >> 20);
        }
        p->cap_elems = c.off;
    }
    bind(p, m->cfg.n_layer);
    return MOM_OK;
}
