/* The Vulkan backend's elementwise and per-row ops: embedding, RMSNorm,
 * bias, row gather, softplus, cross-entropy, MSE, the gradient norm's clip
 * scale and AdamW. Each records one or two dispatches (shaders/NAME.comp); the
 * semantics are the CPU backend's (the simd/ reference kernels). Every view's element
 * offset travels in the push constants (vk_internal.h). */
#include <math.h>
#include <stdint.h>

#include "vk_internal.h"
#include "vk_ops.h"

/* Lanes of a per-row reduction (RMSNorm, cross-entropy, MSE): a power of
 * two about an eighth of the row, from 16 to 256 (a 32K-wide vocabulary row
 * is few passes; 70000 rows of 3 are not 70000 mostly idle 256-lane
 * groups). A function of the shape alone, so a shape always sums in the
 * same order. cols 0: the widest (the gradient norm). */
static uint32_t reduce_wg(const vk_backend *vk, size_t cols)
{
    uint32_t w = 16;
    while (w < 256 && (cols == 0 || w * 8 < cols)) w *= 2;
    while (w > vk->d.props.limits.maxComputeWorkGroupInvocations || w > vk->d.props.limits.maxComputeWorkGroupSize[0])
        w /= 2;
    return w;
}

/* Workgroups for one per row, at most the device's limit (shaders loop). */
static uint32_t row_groups(const vk_backend *vk, int rows)
{
    const uint32_t lim = vk->d.props.limits.maxComputeWorkGroupCount[0];
    return rows <= 0 ? 0 : (uint32_t)rows < lim ? (uint32_t)rows : lim;
}

static int run_reduce(vk_backend *vk, const char *name, size_t cols, const bv *views, int n, const void *push,
                      size_t bytes, uint32_t groups)
{
    vk_pipeline *p = vk_pipeline_get_wg(vk, name, n, reduce_wg(vk, cols));
    return p ? vk_dispatch(vk, p, views, n, push, bytes, groups, 1, 1) : -1;
}

static uint32_t U(size_t v) { return (uint32_t)v; }

/* Column sums over many rows (bias_grad, RMSNorm's dw) in two passes: the
 * rows cut into at most COLSUM_BLOCKS blocks of R >= COLSUM_MIN_ROWS, one
 * invocation per (block, column) summing its rows in order, then one per
 * column adding the blocks in order: a fixed partition for a given shape,
 * so the same bits every run. One block (few rows): a single pass in the
 * CPU's order. */
#define COLSUM_BLOCKS 64
#define COLSUM_MIN_ROWS 32
static uint32_t colsum_blocks(int rows, uint32_t *R)
{
    if (rows <= 0) {
        *R = 1;
        return 0; /* nothing to sum */
    }
    uint32_t blocks = (uint32_t)(rows + COLSUM_MIN_ROWS - 1) / COLSUM_MIN_ROWS;
    if (blocks > COLSUM_BLOCKS) blocks = COLSUM_BLOCKS;
    if (blocks < 1) blocks = 1;
    *R = ((uint32_t)rows + blocks - 1) / blocks;
    return ((uint32_t)rows + *R - 1) / *R; /* no empty block */
}

static void colsum_final(vk_backend *vk, be_buf *part, uint32_t cols, uint32_t blocks, bv dst)
{
    const uint32_t pc[] = {cols, blocks, U(dst.off)};
    const bv v[] = {{part, 0}, dst};
    vk_run(vk, "colsum_final", v, 2, pc, sizeof(pc), vk_groups(vk, cols), 1, 1);
}

void vk_embed_fwd(backend *be, int T, int D, bv tok, bv table, bv out)
{
    vk_backend *vk = vk_of(be);
    const uint32_t pc[] = {U(T), U(D), U(tok.off), U(table.off), U(out.off)};
    const bv v[] = {tok, table, out};
    vk_run(vk, "embed_fwd", v, 3, pc, sizeof(pc), vk_groups_max(vk, (size_t)T * D), 1, 1);
}

/* Token-id classes (id mod P): P * D invocations, each walking all T token
 * ids and adding the rows of its class; P grows with T (one class per 32
 * tokens, at most 64), so an invocation adds about 32 rows. */
void vk_embed_bwd(backend *be, int T, int D, bv tok, bv dout, bv dtable)
{
    vk_backend *vk = vk_of(be);
    const uint32_t classes = T / 32 < 1 ? 1 : T / 32 > 64 ? 64 : (uint32_t)(T / 32);
    const uint32_t pc[] = {U(T), U(D), U(tok.off), U(dout.off), U(dtable.off), classes};
    const bv v[] = {tok, dout, dtable};
    vk_run(vk, "embed_bwd", v, 3, pc, sizeof(pc), vk_groups(vk, (size_t)D * classes), 1, 1);
}

void vk_rmsnorm_fwd(backend *be, int T, int D, bv x, bv w, float eps, bv out, bv rstd)
{
    vk_backend *vk = vk_of(be);
    struct {
        uint32_t T, D, o_x, o_w, o_out, o_rstd;
        float eps;
    } pc = {U(T), U(D), U(x.off), U(w.off), U(out.off), U(rstd.off), eps};
    const bv v[] = {x, w, out, rstd};
    run_reduce(vk, "rmsnorm_fwd", (size_t)D, v, 4, &pc, sizeof(pc), row_groups(vk, T));
}

void vk_rmsnorm_bwd(backend *be, int T, int D, bv x, bv w, bv rstd, bv dout, bv dx, bv dw)
{
    vk_backend *vk = vk_of(be);
    const uint32_t pc[] = {U(T), U(D), U(x.off), U(w.off), U(rstd.off), U(dout.off), U(dx.off)};
    const bv v[] = {x, w, rstd, dout, dx};
    if (run_reduce(vk, "rmsnorm_bwd_dx", (size_t)D, v, 5, pc, sizeof(pc), row_groups(vk, T))) return;
    uint32_t R;
    const uint32_t blocks = colsum_blocks(T, &R);
    if (blocks <= 1) {
        const uint32_t pw[] = {U(T), U(D), U(x.off), U(rstd.off), U(dout.off), U(dw.off)};
        const bv vw[] = {x, rstd, dout, dw};
        vk_run(vk, "rmsnorm_bwd_dw", vw, 4, pw, sizeof(pw), vk_groups(vk, (size_t)D), 1, 1);
        return;
    }
    be_buf *part = vk_scratch(vk, (size_t)blocks * D);
    if (!part) return;
    const uint32_t pw[] = {U(T), U(D), U(x.off), U(rstd.off), U(dout.off), R, blocks};
    const bv vw[] = {x, rstd, dout, {part, 0}};
    if (vk_run(vk, "rmsnorm_dw_partial", vw, 4, pw, sizeof(pw), vk_groups(vk, (size_t)D * blocks), 1, 1)) return;
    colsum_final(vk, part, U(D), blocks, dw);
}

void vk_add_bias(backend *be, int rows, int cols, bv bias, bv C, int ldc)
{
    vk_backend *vk = vk_of(be);
    const uint32_t pc[] = {U(rows), U(cols), U(ldc), U(bias.off), U(C.off)};
    const bv v[] = {bias, C};
    vk_run(vk, "add_bias", v, 2, pc, sizeof(pc), vk_groups_max(vk, (size_t)rows * cols), 1, 1);
}

void vk_bias_grad(backend *be, int rows, int cols, bv dC, int lddc, bv dbias)
{
    vk_backend *vk = vk_of(be);
    uint32_t R;
    const uint32_t blocks = colsum_blocks(rows, &R);
    if (blocks <= 1) {
        const uint32_t pc[] = {U(rows), U(cols), U(lddc), U(dC.off), U(dbias.off)};
        const bv v[] = {dC, dbias};
        vk_run(vk, "bias_grad", v, 2, pc, sizeof(pc), vk_groups(vk, (size_t)cols), 1, 1);
        return;
    }
    be_buf *part = vk_scratch(vk, (size_t)blocks * cols);
    if (!part) return;
    const uint32_t pc[] = {U(rows), U(cols), U(lddc), U(dC.off), R, blocks};
    const bv v[] = {dC, {part, 0}};
    if (vk_run(vk, "bias_grad_partial", v, 2, pc, sizeof(pc), vk_groups(vk, (size_t)cols * blocks), 1, 1)) return;
    colsum_final(vk, part, U(cols), blocks, dbias);
}

void vk_gather_rows(backend *be, int rows, int cols, bv idx, bv src, int ld_src, bv dst)
{
    vk_backend *vk = vk_of(be);
    const uint32_t pc[] = {U(rows), U(cols), U(ld_src), U(idx.off), U(src.off), U(dst.off)};
    const bv v[] = {idx, src, dst};
    vk_run(vk, "gather_rows", v, 3, pc, sizeof(pc), vk_groups_max(vk, (size_t)rows * cols), 1, 1);
}

void vk_softplus_fwd(backend *be, size_t n, bv x, bv y)
{
    vk_backend *vk = vk_of(be);
    const uint32_t pc[] = {U(n), U(x.off), U(y.off)};
    const bv v[] = {x, y};
    vk_run(vk, "softplus_fwd", v, 2, pc, sizeof(pc), vk_groups_max(vk, n), 1, 1);
}

void vk_softplus_bwd(backend *be, size_t n, bv x, bv dy, bv dx)
{
    vk_backend *vk = vk_of(be);
    const uint32_t pc[] = {U(n), U(x.off), U(dy.off), U(dx.off)};
    const bv v[] = {x, dy, dx};
    vk_run(vk, "softplus_bwd", v, 3, pc, sizeof(pc), vk_groups_max(vk, n), 1, 1);
}

void vk_xent(backend *be, int T, int V, bv logits, bv targets, float scale, bv loss)
{
    vk_backend *vk = vk_of(be);
    struct {
        uint32_t T, V, o_l, o_tg, o_loss;
        float scale;
    } pc = {U(T), U(V), U(logits.off), U(targets.off), U(loss.off), scale};
    const bv v[] = {logits, targets, loss};
    run_reduce(vk, "xent", (size_t)V, v, 3, &pc, sizeof(pc), row_groups(vk, T));
}

void vk_mse(backend *be, int rows, int cols, bv pred, bv target, float scale, bv loss)
{
    vk_backend *vk = vk_of(be);
    struct {
        uint32_t rows, cols, o_pred, o_tgt, o_loss;
        float scale;
    } pc = {U(rows), U(cols), U(pred.off), U(target.off), U(loss.off), scale};
    const bv v[] = {pred, target, loss};
    run_reduce(vk, "mse", (size_t)cols, v, 3, &pc, sizeof(pc), row_groups(vk, rows));
}

/* The gradient norm in two dispatches, nothing read back: partial sums of
 * squares per workgroup (a fixed grid of at most VK_REDUCE_ELEMS groups,
 * so the same bits every run), then one invocation adds them in order and
 * writes [norm, clip scale, finite] (shaders/clip_scale.comp). */
void vk_clip_scale(backend *be, size_t n, bv g, float clip, bv out)
{
    vk_backend *vk = vk_of(be);
    const uint32_t wg = reduce_wg(vk, 0);
    size_t groups = (n + wg - 1) / wg;
    if (groups > VK_REDUCE_ELEMS) groups = VK_REDUCE_ELEMS;
    if (!groups) groups = 1; /* n 0: one part of 0 */
    const uint32_t pc[] = {U(n), U(g.off)};
    const bv v[] = {g, {vk->reduce, 0}};
    if (run_reduce(vk, "sumsq_partial", 0, v, 2, pc, sizeof(pc), U(groups))) return;
    struct { uint32_t groups, o_out; float clip; } fc = {U(groups), U(out.off), clip};
    const bv w[] = {{vk->reduce, 0}, out};
    vk_run(vk, "clip_scale", w, 2, &fc, sizeof(fc), 1, 1, 1);
}

/* AdamW with the gradient scale clip_scale left on the device: a
 * non-finite norm there leaves p, m and v as they are. */
void vk_adamw_scaled(backend *be, size_t n, bv p, bv g, bv m, bv v, bv scale, float lr, float b1, float b2,
                     float eps, float wd, int64_t step)
{
    vk_backend *vk = vk_of(be);
    /* The scalars exactly as simd/adamw_ref.c computes them. */
    const double bc1 = 1.0 - pow((double)b1, (double)step);
    const double bc2 = 1.0 - pow((double)b2, (double)step);
    struct {
        uint32_t n, o_p, o_g, o_m, o_v;
        float b1, b2, eps, wd, step_size, bc2_sqrt, decay;
        uint32_t o_s;
    } pc = {U(n), U(p.off), U(g.off), U(m.off), U(v.off), b1, b2, eps, wd,
            (float)((double)lr / bc1), (float)sqrt(bc2), 1.0f - lr * wd, U(scale.off)};
    const bv views[] = {p, g, m, v, scale};
    vk_run(vk, "adamw", views, 5, &pc, sizeof(pc), vk_groups_max(vk, n), 1, 1);
}
