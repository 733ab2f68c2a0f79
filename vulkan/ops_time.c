/* The ops that run along time: causal conv1d + SiLU and the selective scan,
 * forward and backward, with the CPU backend's semantics (simd/conv_ref.c,
 * simd/scan_ref.c). Position (b, t) of every (B L)-row operand is row
 * rows[b L + t], or b L + t when rows has no buffer. Every reduction runs in
 * a fixed order (no atomics), so a step gives the same bits every run.
 *
 * The scan gives each (batch row, channel) one invocation, sequential over
 * time with its states private, 16 at a time in registers (d_state 16, the
 * default, is one pass; 64 is four): the CPU vectorises across channels, a
 * GPU runs channels side by side. The backward runs chunk by chunk, newest
 * first, two dispatches a chunk and one to finish (scan_bwd_chunk.comp).
 *
 * Offsets and indices are 32-bit in the shaders: a buffer holds at most
 * maxStorageBufferRange (a uint32) bytes. */
#include "vk_internal.h"
#include "vk_ops.h"

static uint32_t off(bv v) { return (uint32_t)v.off; }
static uint32_t has(bv v) { return v.buf ? 1u : 0u; }

/* Workgroups along y walking n items (the shaders loop when n is more than
 * the device allows). */
static uint32_t groups_y(const vk_backend *vk, size_t n)
{
    const uint32_t cap = vk->d.props.limits.maxComputeWorkGroupCount[1];
    return n < cap ? (uint32_t)n : cap;
}

/* ---- conv1d + SiLU ----------------------------------------------------- */

typedef struct conv_fwd_push {
    uint32_t B, L, D, K, ldx;
    uint32_t off_rows, off_x, off_w, off_b, off_hist, off_out;
    uint32_t has_rows, has_hist;
} conv_fwd_push;

typedef struct conv_hist_push {
    uint32_t B, L, D, K, ldx;
    uint32_t off_rows, off_x, off_hist;
    uint32_t has_rows;
} conv_hist_push;

/* out = SiLU(conv(x) + b); then, in a dispatch of its own (after every read
 * of the old history), hist = the last K-1 inputs. */
void vk_conv_silu_fwd(backend *be, int B, int L, int D, int K, bv rows, bv x, int ldx, bv w, bv b, bv hist, bv out)
{
    vk_backend *vk = vk_of(be);
    if (B <= 0 || L <= 0 || D <= 0 || K <= 0) return;
    if ((uint32_t)B > vk->d.props.limits.maxComputeWorkGroupCount[1]) {
        vk_fail(vk, "conv_silu_fwd: batch rows %d > the device's %u workgroups", B,
                vk->d.props.limits.maxComputeWorkGroupCount[1]);
        return;
    }
    const conv_fwd_push p = {(uint32_t)B, (uint32_t)L, (uint32_t)D, (uint32_t)K, (uint32_t)ldx, off(rows), off(x),
                             off(w), off(b), off(hist), off(out), has(rows), has(hist)};
    const bv v[6] = {rows, x, w, b, hist, out};
    if (vk_run(vk, "conv_silu_fwd", v, 6, &p, sizeof p, vk_groups(vk, (size_t)D), groups_y(vk, (size_t)B * L), 1))
        return;
    if (!hist.buf || K == 1) return;
    const conv_hist_push h = {(uint32_t)B, (uint32_t)L, (uint32_t)D, (uint32_t)K, (uint32_t)ldx, off(rows), off(x),
                              off(hist), has(rows)};
    const bv vh[3] = {rows, x, hist};
    vk_run(vk, "conv_hist_push", vh, 3, &h, sizeof h, vk_groups(vk, (size_t)D), (uint32_t)B, 1);
}

typedef struct conv_dx_push {
    uint32_t B, L, D, K, ldx, lddx;
    uint32_t off_rows, off_x, off_w, off_b, off_dout, off_dx;
    uint32_t has_rows;
} conv_dx_push;

typedef struct conv_dw_push {
    uint32_t B, L, D, K, ldx;
    uint32_t off_rows, off_x, off_w, off_b, off_dout, off_dw, off_db;
    uint32_t has_rows;
} conv_dw_push;

/* dx (written), then dw and db (added): the pre-activation is recomputed in
 * both dispatches rather than stored. */
void vk_conv_silu_bwd(backend *be, int B, int L, int D, int K, bv rows, bv x, int ldx, bv w, bv b, bv dout, bv dx,
                      int lddx, bv dw, bv db)
{
    vk_backend *vk = vk_of(be);
    if (B <= 0 || L <= 0 || D <= 0 || K <= 0) return;
    if (K > 16) {
        vk_fail(vk, "conv_silu_bwd: d_conv %d > 16", K);
        return;
    }
    if ((uint32_t)D > vk->d.props.limits.maxComputeWorkGroupCount[0]) {
        vk_fail(vk, "conv_silu_bwd: %d channels > the device's %u workgroups", D,
                vk->d.props.limits.maxComputeWorkGroupCount[0]);
        return;
    }
    const conv_dx_push p = {(uint32_t)B, (uint32_t)L, (uint32_t)D, (uint32_t)K, (uint32_t)ldx, (uint32_t)lddx,
                            off(rows), off(x), off(w), off(b), off(dout), off(dx), has(rows)};
    const bv v[6] = {rows, x, w, b, dout, dx};
    if (vk_run(vk, "conv_silu_bwd_dx", v, 6, &p, sizeof p, vk_groups(vk, (size_t)D), groups_y(vk, (size_t)B * L),
               1))
        return;
    const conv_dw_push q = {(uint32_t)B, (uint32_t)L, (uint32_t)D, (uint32_t)K, (uint32_t)ldx, off(rows), off(x),
                            off(w), off(b), off(dout), off(dw), off(db), has(rows)};
    const bv vw[7] = {rows, x, w, b, dout, dw, db};
    vk_run(vk, "conv_silu_bwd_dw", vw, 7, &q, sizeof q, (uint32_t)D, 1, 1);
}

/* ---- selective scan ------------------------------------------------------ */

/* One (batch row, channel) per invocation: channels along x, rows along y. */
static int scan_shape_ok(vk_backend *vk, const be_scan *a, const char *op)
{
    if (a->N < 1 || a->N > 64) return vk_fail(vk, "%s: d_state %d not in [1, 64]", op, a->N);
    if (a->chunk < 1) return vk_fail(vk, "%s: chunk %d < 1", op, a->chunk);
    if ((uint32_t)a->B > vk->d.props.limits.maxComputeWorkGroupCount[1])
        return vk_fail(vk, "%s: batch rows %d > the device's %u workgroups", op, a->B,
                       vk->d.props.limits.maxComputeWorkGroupCount[1]);
    return 0;
}

/* Chunks of a->chunk positions over a->L (the last may be short). */
static uint32_t scan_n_chunks(const be_scan *a) { return (uint32_t)((a->L + a->chunk - 1) / a->chunk); }

/* (B, n_chunks, D, N): the state after each chunk, as scan_fwd.comp writes it. */
size_t vk_scan_states_elems(backend *be, const be_scan *a)
{
    (void)be;
    if (a->B <= 0 || a->L <= 0 || a->D <= 0 || a->chunk < 1) return 0;
    return (size_t)a->B * scan_n_chunks(a) * (size_t)a->D * (size_t)a->N;
}

typedef struct scan_fwd_push {
    uint32_t B, L, D, N, chunk, nc, ld_bc, ld_z;
    uint32_t off_rows, off_u, off_delta, off_A, off_B, off_C, off_Dskip, off_z, off_states, off_carry, off_y;
    uint32_t has_rows, has_states, has_carry;
} scan_fwd_push;

void vk_scan_fwd(backend *be, const be_scan *a, bv y)
{
    vk_backend *vk = vk_of(be);
    if (a->B <= 0 || a->L <= 0 || a->D <= 0) return;
    if (scan_shape_ok(vk, a, "scan_fwd")) return;
    const scan_fwd_push p = {(uint32_t)a->B, (uint32_t)a->L, (uint32_t)a->D, (uint32_t)a->N, (uint32_t)a->chunk,
                             scan_n_chunks(a), (uint32_t)a->ld_bc, (uint32_t)a->ld_z,
                             off(a->rows), off(a->u), off(a->delta), off(a->A_log), off(a->Bm), off(a->Cm),
                             off(a->Dskip), off(a->z), off(a->states), off(a->carry), off(y),
                             has(a->rows), has(a->states), has(a->carry)};
    const bv v[11] = {a->rows, a->u, a->delta, a->A_log, a->Bm, a->Cm, a->Dskip, a->z, a->states, a->carry, y};
    vk_run(vk, "scan_fwd", v, 11, &p, sizeof p, vk_groups(vk, (size_t)a->D), (uint32_t)a->B, 1);
}

/* The positions of one chunk's recomputed states the work holds. */
static size_t scan_chunk_len(const be_scan *a) { return (size_t)(a->L < a->chunk ? a->L : a->chunk); }

/* Per (b, d): two chunks' worth of N floats (states, then dC's terms over
 * them, and dB's terms), lam carried between chunks, dA and dD partials
 * (layout in scan_bwd_chunk.comp). The same for any thread count. */
size_t vk_scan_work_elems(backend *be, const be_scan *a, int n_threads)
{
    (void)be;
    (void)n_threads;
    if (a->B <= 0 || a->L <= 0 || a->D <= 0) return 0;
    const size_t N = (size_t)a->N;
    return (2 * scan_chunk_len(a) * N + 2 * N + 1) * (size_t)a->B * (size_t)a->D;
}

typedef struct scan_chunk_push {
    uint32_t B, L, D, N, chunk, nc, c, cs, ld_bc, ld_z, ld_dz;
    uint32_t off_rows, off_u, off_delta, off_A, off_B, off_C, off_Dskip, off_z, off_states;
    uint32_t off_dy, off_du, off_ddelta, off_dz, off_y, off_work;
    uint32_t has_rows, has_y;
} scan_chunk_push;

typedef struct scan_reduce_push {
    uint32_t B, L, D, N, chunk, c, cs, ld_dbc;
    uint32_t off_rows, off_dB, off_dC, off_work;
    uint32_t has_rows;
} scan_reduce_push;

typedef struct scan_final_push {
    uint32_t B, D, N, cs;
    uint32_t off_A, off_work, off_dA, off_dD;
} scan_final_push;

void vk_scan_bwd(backend *be, const be_scan *a, const be_scan_grads *g)
{
    vk_backend *vk = vk_of(be);
    if (a->B <= 0 || a->L <= 0 || a->D <= 0) return;
    if (scan_shape_ok(vk, a, "scan_bwd")) return;
    if (!a->states.buf) {
        vk_fail(vk, "scan_bwd: no stored states (the forward ran without them)");
        return;
    }
    const size_t need = vk_scan_work_elems(be, a, g->work_threads);
    if (!g->work.buf || g->work.buf->n < g->work.off + need) {
        vk_fail(vk, "scan_bwd: work holds %zu floats, the backward needs %zu",
                g->work.buf ? g->work.buf->n - g->work.off : 0, need);
        return;
    }
    const uint32_t nc = scan_n_chunks(a), cs = (uint32_t)scan_chunk_len(a);
    const bv vc[15] = {a->rows, a->u,  a->delta, a->A_log, a->Bm, a->Cm,  a->Dskip, a->z,
                       a->states, g->dy, g->du, g->ddelta, g->dz, g->y, g->work};
    const bv vr[4] = {a->rows, g->dB, g->dC, g->work};
    for (uint32_t c = nc; c-- > 0;) {
        const scan_chunk_push p = {(uint32_t)a->B, (uint32_t)a->L, (uint32_t)a->D, (uint32_t)a->N,
                                   (uint32_t)a->chunk, nc, c, cs, (uint32_t)a->ld_bc, (uint32_t)a->ld_z,
                                   (uint32_t)g->ld_dz, off(a->rows), off(a->u), off(a->delta), off(a->A_log),
                                   off(a->Bm), off(a->Cm), off(a->Dskip), off(a->z), off(a->states), off(g->dy),
                                   off(g->du), off(g->ddelta), off(g->dz), off(g->y), off(g->work), has(a->rows),
                                   has(g->y)};
        if (vk_run(vk, "scan_bwd_chunk", vc, 15, &p, sizeof p, vk_groups(vk, (size_t)a->D), (uint32_t)a->B, 1))
            return;
        const uint32_t t0 = c * (uint32_t)a->chunk, len = (uint32_t)a->L - t0 < cs ? (uint32_t)a->L - t0 : cs;
        const scan_reduce_push r = {(uint32_t)a->B, (uint32_t)a->L, (uint32_t)a->D, (uint32_t)a->N,
                                    (uint32_t)a->chunk, c, cs, (uint32_t)g->ld_dbc, off(a->rows), off(g->dB),
                                    off(g->dC), off(g->work), has(a->rows)};
        if (vk_run(vk, "scan_bwd_reduce", vr, 4, &r, sizeof r, vk_groups(vk, (size_t)len * (size_t)a->N),
                   (uint32_t)a->B, 1))
            return;
    }
    const scan_final_push f = {(uint32_t)a->B, (uint32_t)a->D, (uint32_t)a->N, cs,
                               off(a->A_log), off(g->work), off(g->dA_log), off(g->dD)};
    const bv vf[4] = {a->A_log, g->work, g->dA_log, g->dD};
    vk_run(vk, "scan_bwd_final", vf, 4, &f, sizeof f, vk_groups(vk, (size_t)a->D * (size_t)a->N), 1, 1);
}
