/* The three projection forms, W [N, K] in PyTorch Linear layout:
 *   fwd          C[M,N]  (= or +=) A[M,K] W^T
 *   bwd_data     dA[M,K] (= or +=) dC[M,N] W
 *   bwd_weight   dW[N,K] +=        dC[M,N]^T A[M,K]
 * Each is one product O = X Y of shaders/mm_tiled.comp with its own
 * strides: no transposed copy of any operand. */
#include "vk_internal.h"
#include "vk_ops.h"

/* The tile of mm_tiled.comp: 64 x 64 outputs per workgroup. */
#define MM_TILE 64u

typedef struct mm_push {
    uint32_t I, J, R;
    uint32_t off_x, off_y, off_o;
    uint32_t xs_i, xs_r, ys_r, ys_j, ldo;
    uint32_t acc, x_rfast, y_jfast;
} mm_push;

/* O[I, J] (= or +=) sum_r X(i, r) Y(r, j). */
static int mm_run(backend *be, int I, int J, int R, bv X, int xs_i, int xs_r, bv Y, int ys_r, int ys_j, bv O, int ldo,
                  int acc)
{
    vk_backend *vk = vk_of(be);
    if (I < 0 || J < 0 || R < 0) return vk_fail(vk, "matmul: negative shape %d x %d x %d", I, J, R);
    if (I == 0 || J == 0) return 0;
    mm_push p = {(uint32_t)I, (uint32_t)J, (uint32_t)R, (uint32_t)X.off, (uint32_t)Y.off, (uint32_t)O.off,
                 (uint32_t)xs_i, (uint32_t)xs_r, (uint32_t)ys_r, (uint32_t)ys_j, (uint32_t)ldo,
                 acc ? 1u : 0u, xs_r == 1 ? 1u : 0u, ys_j == 1 ? 1u : 0u};
    const bv views[3] = {X, Y, O};
    return vk_run(vk, "mm_tiled", views, 3, &p, sizeof p, ((uint32_t)J + MM_TILE - 1) / MM_TILE,
                  ((uint32_t)I + MM_TILE - 1) / MM_TILE, 1);
}

/* X = A (i = m, r = k), Y(k, n) = W[n K + k]. */
int vk_mm_fwd(backend *be, int M, int N, int K, bv A, int lda, bv W, bv C, int ldc, int acc)
{
    return mm_run(be, M, N, K, A, lda, 1, W, 1, K, C, ldc, acc);
}

/* X = dC (i = m, r = n), Y(n, k) = W[n K + k]. */
int vk_mm_bwd_data(backend *be, int M, int N, int K, bv dC, int lddc, bv W, bv dA, int ldda, int acc)
{
    return mm_run(be, M, K, N, dC, lddc, 1, W, K, 1, dA, ldda, acc);
}

/* X(n, m) = dC[m lddc + n], Y(m, k) = A[m lda + k]; dW rows of K. */
int vk_mm_bwd_weight(backend *be, int M, int N, int K, bv dC, int lddc, bv A, int lda, bv dW)
{
    return mm_run(be, N, K, M, dC, 1, lddc, A, lda, 1, dW, K, 1);
}
