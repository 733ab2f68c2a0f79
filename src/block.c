/* One Mixture-of-Mamba layer, forward and backward side by side.
 *
 *   h      = RMSNorm(x)                                 (BT, d_model)
 *   [u z]  = W_in[m] h                                  (BT, 2 d_inner)
 *   uc     = SiLU(conv(u) + b)                          (BT, d_inner)
 *   [r B C]= W_x[m] uc                                  (BT, dt_rank + 2 d_state)
 *   delta  = softplus(W_dt[m] r + b_dt[m])              (BT, d_inner)
 *   y      = scan(uc, delta, A, B, C, D) * SiLU(z)      (BT, d_inner)
 *   x     += W_out[m] y                                 (BT, d_model)
 *
 * m is the modality of each position's input token. The model keeps a
 * batch's rows in modality order (src/route.c), so modality k's rows are
 * the slice [offset[k], offset[k+1]) of every activation: a decoupled
 * projection runs GEMMs on its modality's slice, with no copies, and a
 * shared one over the whole batch. Only the conv and the scan run
 * along time; they find position (b, t) through the batch's row map.
 *
 * The layer keeps x, rstd, [u z], uc, [r B C] and the chunk states
 * (layer_acts); the backward recomputes h, delta and y from them. */
#include "model.h"

typedef struct proj {
    const size_t *w;    /* weight offset per modality */
    const size_t *bias; /* bias offset per modality, or NULL */
    int split;          /* one weight per modality */
    int K, N;           /* in, out features */
} proj;

enum { GRAD_WEIGHT = 1, GRAD_DATA = 2 };

static proj make_proj(const mom_model *m, unsigned bit, const size_t *w, const size_t *bias, int K, int N)
{
    proj p = {w, bias, (m->cfg.decouple & bit) && m->cfg.n_modalities > 1, K, N};
    return p;
}

#define BE_TRY(call)                                                                                          \
    do {                                                                                                      \
        if ((call) != 0) return mom_fail(m->ctx, MOM_ERR_BACKEND, "%s:%d: matmul failed", __FILE__, __LINE__); \
    } while (0)

/* The rows a projection runs on: one slice per modality when it is split,
 * else the whole batch, each cut into the fewest pieces of at most `tile`
 * rows, of equal size (1365 rows in tiles of 1024: 683 + 682). A bound
 * keeps memory flat in T: the bf16 products convert their operands into
 * copies of the piece's size.
 *
 * The backward takes larger pieces than the forward. In a training step
 * (d_model 256, 3 modalities, slices of 1280-1408 rows; AMD EPYC Zen 5)
 * whole slices took 1-7% less time in the weight gradients and 2-6% less
 * in the input gradients than pieces of at most 1024 rows: half the
 * calls, each of which packs the weight (input gradient) or reads and
 * writes the whole weight gradient (weight gradient).
 *
 * The forward stays at 1024. In pieces of 1280-1408 rows (not 640-704)
 * oneDNN's sgemm packs in_proj's weight into a fresh 1 MiB buffer per
 * call, which ran in_proj about 15% faster, but glibc kept those buffers'
 * memory: `mom bench memory` grew from 11.8 to 12.8 KiB per token per
 * layer (12.0 with MALLOC_MMAP_THRESHOLD_=65536, which a library has no
 * business setting). */
typedef struct row_pieces {
    int o, n;      /* rows [o, o + n) of the part */
    int pieces;    /* how many pieces cut them */
} row_pieces;

static row_pieces part_rows(const mom_model *m, const proj *p, int k, int tile)
{
    row_pieces r = {0, m->plan.B * m->plan.T, 1};
    if (p->split) {
        r.o = m->rt.offset[k];
        r.n = m->rt.offset[k + 1] - m->rt.offset[k];
    }
    r.pieces = (r.n + tile - 1) / tile;
    return r;
}

/* Piece i of r: rows [*o, *o + *n). */
static void piece(const row_pieces *r, int i, int *o, int *n)
{
    const int lo = (int)((long long)r->n * i / r->pieces), hi = (int)((long long)r->n * (i + 1) / r->pieces);
    *o = r->o + lo;
    *n = hi - lo;
}

/* C[:, 0:N] (= or +=) proj(A[:, 0:K]). */
static mom_status proj_fwd(mom_model *m, const proj *p, bv A, int lda, bv C, int ldc, int acc)
{
    backend *be = m->be;
    if (p->bias && acc) return mom_fail(m->ctx, MOM_ERR_BACKEND, "proj_fwd: bias with accumulate");
    for (int k = 0; k < (p->split ? m->rt.n_mod : 1); k++) {
        const row_pieces r = part_rows(m, p, k, m->proj_tile); /* an absent modality has no pieces */
        for (int i = 0; i < r.pieces; i++) {
            int o, n;
            piece(&r, i, &o, &n);
            const bv Ai = bv_at(A, (size_t)o * lda), Ci = bv_at(C, (size_t)o * ldc);
            BE_TRY(model_mm_fwd(m, n, p->N, p->K, Ai, lda, p->w[k], Ci, ldc, acc));
            if (p->bias) be->add_bias(be, n, p->N, P(m, p->bias[k]), Ci, ldc);
        }
    }
    return MOM_OK;
}

/* Given dC = dL/dC: with GRAD_WEIGHT, dW += dC^T A and dbias += sum dC;
 * with GRAD_DATA, dA (= or +=) dC W. */
static mom_status proj_bwd(mom_model *m, const proj *p, int what, bv A, int lda, bv dC, int lddc, bv dA,
                           int ldda, int acc)
{
    backend *be = m->be;
    for (int k = 0; k < (p->split ? m->rt.n_mod : 1); k++) {
        const row_pieces r = part_rows(m, p, k, m->proj_tile_bwd);
        for (int i = 0; i < r.pieces; i++) {
            int o, n;
            piece(&r, i, &o, &n);
            const bv dCi = bv_at(dC, (size_t)o * lddc);
            if (what & GRAD_WEIGHT) {
                BE_TRY(be->mm_bwd_weight(be, n, p->N, p->K, dCi, lddc, bv_at(A, (size_t)o * lda), lda,
                                         G(m, p->w[k])));
                if (p->bias) be->bias_grad(be, n, p->N, dCi, lddc, G(m, p->bias[k]));
            }
            if (what & GRAD_DATA)
                BE_TRY(be->mm_bwd_data(be, n, p->N, p->K, dCi, lddc, P(m, p->w[k]), bv_at(dA, (size_t)o * ldda),
                                       ldda, acc));
        }
    }
    return MOM_OK;
}

typedef struct block_projs { proj in, x, dt, out; } block_projs;

static block_projs projs_of(const mom_model *m, const layer_params *L)
{
    const int Dm = m->cfg.d_model, Di = m->d_inner;
    block_projs b = {
        make_proj(m, MOM_DECOUPLE_IN, L->in, NULL, Dm, 2 * Di),
        make_proj(m, MOM_DECOUPLE_X, L->x, NULL, Di, m->n_xdbl),
        make_proj(m, MOM_DECOUPLE_DT, L->dt_w, L->dt_b, m->dt_rank, Di),
        make_proj(m, MOM_DECOUPLE_OUT, L->out, NULL, Di, Dm),
    };
    return b;
}

static be_scan scan_of(const mom_model *m, const layer_params *L, const layer_acts *a, bv carry)
{
    const act_plan *pl = &m->plan;
    const int Di = m->d_inner, R = m->dt_rank, N = m->cfg.d_state;
    be_scan s = {pl->B, pl->T, Di, N, m->chunk, a->uc, pl->delta, P(m, L->A_log),
                 bv_at(a->xdbl, (size_t)R), bv_at(a->xdbl, (size_t)R + N), P(m, L->D),
                 bv_at(a->xz, (size_t)Di), a->states, m->n_xdbl, 2 * Di, pl->rows, carry};
    return s;
}

/* uc = SiLU(conv(u)), kept per layer for the backward. */
static void conv_silu(mom_model *m, const layer_params *L, const layer_acts *a, bv hist)
{
    const act_plan *pl = &m->plan;
    const int Di = m->d_inner;
    m->be->conv_silu_fwd(m->be, pl->B, pl->T, Di, m->cfg.d_conv, pl->rows, a->xz, 2 * Di, P(m, L->conv_w),
                         P(m, L->conv_b), hist, a->uc);
}

static mom_status dt_and_softplus(mom_model *m, const layer_acts *a, const proj *dt)
{
    const act_plan *pl = &m->plan;
    mom_status s = proj_fwd(m, dt, a->xdbl, m->n_xdbl, pl->dtp, m->d_inner, 0);
    if (!s) m->be->softplus_fwd(m->be, (size_t)pl->B * pl->T * m->d_inner, pl->dtp, pl->delta);
    return s;
}

mom_status block_forward(mom_model *m, int layer, bv x, const layer_carry *carry)
{
    backend *be = m->be;
    const layer_params *L = &m->layers[layer];
    const layer_acts *a = &m->plan.layers[layer];
    const act_plan *pl = &m->plan;
    const int BT = pl->B * pl->T, Dm = m->cfg.d_model, Di = m->d_inner, X = m->n_xdbl;
    const block_projs p = projs_of(m, L);
    mom_status s;

    be->copy(be, a->x_in, x, (size_t)BT * Dm);
    be->rmsnorm_fwd(be, BT, Dm, x, P(m, L->norm), m->cfg.norm_eps, pl->h, a->rstd);
    const layer_carry none = {{0}, {0}}, *c = carry ? carry : &none;
    if ((s = proj_fwd(m, &p.in, pl->h, Dm, a->xz, 2 * Di, 0))) return s;
    conv_silu(m, L, a, c->conv);
    if ((s = proj_fwd(m, &p.x, a->uc, Di, a->xdbl, X, 0))) return s;
    if ((s = dt_and_softplus(m, a, &p.dt))) return s;
    be_scan sc = scan_of(m, L, a, c->ssm);
    if (carry) sc.states.buf = NULL; /* inference has no backward to keep states for */
    be->scan_fwd(be, &sc, pl->y);
    return proj_fwd(m, &p.out, pl->y, Di, x, Dm, 1);
}

mom_status block_backward(mom_model *m, int layer, bv dx)
{
    backend *be = m->be;
    const layer_params *L = &m->layers[layer];
    const layer_acts *a = &m->plan.layers[layer];
    const act_plan *pl = &m->plan;
    const int B = pl->B, T = pl->T, BT = B * T;
    const int Dm = m->cfg.d_model, Di = m->d_inner, X = m->n_xdbl, R = m->dt_rank, N = m->cfg.d_state;
    const block_projs p = projs_of(m, L);
    mom_status s;

    /* Recompute what the forward did not keep: delta (y comes out of the
     * scan's backward, h at the end). */
    const bv none = {0};
    if ((s = dt_and_softplus(m, a, &p.dt))) return s;
    /* dy = dx W_out; W_out's own gradient needs y, recomputed by the scan. */
    if ((s = proj_bwd(m, &p.out, GRAD_DATA, pl->y, Di, dx, Dm, pl->dy, Di, 0))) return s;
    const be_scan sc = scan_of(m, L, a, none);
    const be_scan_grads sg = {pl->dy, pl->duc, pl->ddelta, bv_at(pl->dxdbl, (size_t)R),
                              bv_at(pl->dxdbl, (size_t)R + N), bv_at(pl->dxz, (size_t)Di),
                              G(m, L->A_log), G(m, L->D), pl->scan_work, X, 2 * Di, pl->y, pl->scan_threads};
    be->scan_bwd(be, &sc, &sg);
    if ((s = proj_bwd(m, &p.out, GRAD_WEIGHT, pl->y, Di, dx, Dm, pl->dy, Di, 0))) return s;
    /* softplus' backward in place: ddelta becomes d(W_dt r + b). */
    be->softplus_bwd(be, (size_t)BT * Di, pl->dtp, pl->ddelta, pl->ddelta);
    /* dt_proj reads columns [0, dt_rank) of x_dbl: its input grad lands there. */
    if ((s = proj_bwd(m, &p.dt, GRAD_WEIGHT | GRAD_DATA, a->xdbl, X, pl->ddelta, Di, pl->dxdbl, X, 0))) return s;
    if ((s = proj_bwd(m, &p.x, GRAD_WEIGHT | GRAD_DATA, a->uc, Di, pl->dxdbl, X, pl->duc, Di, 1))) return s;
    be->conv_silu_bwd(be, B, T, Di, m->cfg.d_conv, pl->rows, a->xz, 2 * Di, P(m, L->conv_w), P(m, L->conv_b),
                      pl->duc, pl->dxz, 2 * Di, G(m, L->conv_w), G(m, L->conv_b));
    be->rmsnorm_fwd(be, BT, Dm, a->x_in, P(m, L->norm), m->cfg.norm_eps, pl->h, a->rstd);
    /* h (over dtp's memory, now spent) and dh (over y's, now spent). */
    if ((s = proj_bwd(m, &p.in, GRAD_WEIGHT | GRAD_DATA, pl->h, Dm, pl->dxz, 2 * Di, pl->dh, Dm, 0))) return s;
    be->rmsnorm_bwd(be, BT, Dm, a->x_in, P(m, L->norm), a->rstd, pl->dh, dx, G(m, L->norm));
    return MOM_OK;
}
