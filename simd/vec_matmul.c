/* The projections without a matmul library: one blocked GEMM over the
 * lanes of vec.h, C[M,N] (+)= A[M,K] B[K,N] with B row-major, each thread
 * computing tiles of 4 rows x 2 vectors of C in registers (8 accumulators)
 * over the whole K. The three matmuls of a step are that GEMM after a
 * transpose of the small operand (the weight, or the output gradient).
 * Each element of C sums over k in order, whatever the thread count: the
 * same bits for any split. */
#include <stdlib.h>

#include "vec.h"

#define TR 4           /* rows of a tile */
#define TC (2 * VW)    /* columns of a tile */

/* Rows [i, i + nr) (nr <= TR) x columns [j, j + nc) (nc <= TC). */
static inline void tile(int nr, int nc, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                        int acc)
{
    vf c[TR][2];
    const int n0 = nc < VW ? nc : VW, n1 = nc - n0;
    for (int r = 0; r < TR; r++) {
        c[r][0] = acc && r < nr ? vload_n(C + (size_t)r * ldc, n0) : vset1(0.0f);
        c[r][1] = acc && r < nr ? vload_n(C + (size_t)r * ldc + VW, n1) : vset1(0.0f);
    }
    if (nr == TR && nc == TC) {
        for (int k = 0; k < K; k++) {
            const vf b0 = vload(B + (size_t)k * ldb), b1 = vload(B + (size_t)k * ldb + VW);
            for (int r = 0; r < TR; r++) {
                const vf a = vset1(A[(size_t)r * lda + k]);
                c[r][0] = vfma(a, b0, c[r][0]);
                c[r][1] = vfma(a, b1, c[r][1]);
            }
        }
    } else {
        for (int k = 0; k < K; k++) {
            const vf b0 = vload_n(B + (size_t)k * ldb, n0), b1 = vload_n(B + (size_t)k * ldb + VW, n1);
            for (int r = 0; r < nr; r++) {
                const vf a = vset1(A[(size_t)r * lda + k]);
                c[r][0] = vfma(a, b0, c[r][0]);
                c[r][1] = vfma(a, b1, c[r][1]);
            }
        }
    }
    for (int r = 0; r < nr; r++) {
        vstore_n(C + (size_t)r * ldc, c[r][0], n0);
        vstore_n(C + (size_t)r * ldc + VW, c[r][1], n1);
    }
}

static void gemm(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc, int acc)
{
    const int row_tiles = (M + TR - 1) / TR;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < row_tiles; t++) {
        const int i = t * TR, nr = M - i < TR ? M - i : TR;
        for (int j = 0; j < N; j += TC)
            tile(nr, N - j < TC ? N - j : TC, K, A + (size_t)i * lda, lda, B + j, ldb, C + (size_t)i * ldc + j, ldc,
                 acc);
    }
}

/* src [rows, cols] with row stride ld -> dst [cols, rows]. */
static float *transposed(int rows, int cols, const float *src, int ld)
{
    float *dst = malloc(sizeof(float) * ((size_t)rows * cols + 1));
    if (dst)
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) dst[(size_t)c * rows + r] = src[(size_t)r * ld + c];
    return dst;
}

void VNAME(mm_fwd)(int M, int N, int K, const float *A, int lda, const float *W, float *C, int ldc, int accumulate)
{
    float *WT = M > 0 ? transposed(N, K, W, K) : NULL; /* [K, N] */
    if (!WT) { /* (nothing to do, or out of memory: the reference needs none) */
        mom_mm_fwd_ref(M, N, K, A, lda, W, C, ldc, accumulate);
        return;
    }
    gemm(M, N, K, A, lda, WT, N, C, ldc, accumulate);
    free(WT);
}

void VNAME(mm_bwd_data)(int M, int N, int K, const float *dC, int lddc, const float *W, float *dA, int ldda,
                        int accumulate)
{
    gemm(M, K, N, dC, lddc, W, K, dA, ldda, accumulate);
}

void VNAME(mm_bwd_weight)(int M, int N, int K, const float *dC, int lddc, const float *A, int lda, float *dW)
{
    float *dCT = M > 0 ? transposed(M, N, dC, lddc) : NULL; /* [N, M] */
    if (!dCT) {
        mom_mm_bwd_weight_ref(M, N, K, dC, lddc, A, lda, dW);
        return;
    }
    gemm(N, K, M, dCT, M, A, lda, dW, K, 1);
    free(dCT);
}
