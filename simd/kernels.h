/* CPU kernels of one training step: the scalar reference of every op that is
 * not a projection matmul (and a plain-C matmul used without oneDNN).
 * Activations are token-major (tokens, features), row-major; a row stride
 * `ld` lets a kernel read a column block of a wider matrix (x_dbl, xz).
 * The SIMD versions (AVX-512 by hand; AVX2 and NEON from one source,
 * kernels_vec.h) sit beside these and are tested against them. */
#ifndef MOM_KERNELS_H
#define MOM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---- matmul (plain C) ------------------------------------------------ */
/* C[M,N] (= or +=) A[M,K] W^T, W [N,K] (PyTorch Linear layout). */
void mom_mm_fwd_ref(int M, int N, int K, const float *A, int lda, const float *W,
                    float *C, int ldc, int accumulate);
/* dA[M,K] (= or +=) dC[M,N] W, W [N,K]. */
void mom_mm_bwd_data_ref(int M, int N, int K, const float *dC, int lddc, const float *W,
                         float *dA, int ldda, int accumulate);
/* dW[N,K] += dC[M,N]^T A[M,K]. */
void mom_mm_bwd_weight_ref(int M, int N, int K, const float *dC, int lddc, const float *A,
                           int lda, float *dW);

/* ---- quantized weights (inference) ------------------------------------ */
/* The formats of src/quant.h. q8: W[n][k] = q[n K + k] scale[n], q int8.
 * q4: rows of mom_q4_row_bytes(K) bytes; value k of row n is nibble k of
 * the row (low nibble first) minus 8, times scale[n G + k / 32], G =
 * ceil(K / 32) groups (the last may be short).
 * C[M,N] (= or +=) A[M,K] W^T: each output a sum of A times the integer
 * values (per group for q4), times the scale. The fused form for a few
 * rows (decoding); a prefill dequantizes W in tiles into a GEMM. */
void mom_qmm_q8_ref(int M, int N, int K, const float *A, int lda, const int8_t *q, const float *scale, float *C,
                    int ldc, int accumulate);
void mom_qmm_q4_ref(int M, int N, int K, const float *A, int lda, const uint8_t *q, const float *scale, float *C,
                    int ldc, int accumulate);
/* w[rows, K] = the values rows of q and scale stand for. */
void mom_dequant_q8_ref(int rows, int K, const int8_t *q, const float *scale, float *w);
void mom_dequant_q4_ref(int rows, int K, const uint8_t *q, const float *scale, float *w);
#define MOM_Q4_GROUP 32
/* Bytes of a q4 row of K values: two a byte (src/quant.h), so a group of
 * 32 is 16 bytes and group g starts at byte 16 g. */
static inline size_t mom_q4_row_bytes(int K) { return ((size_t)K + 1) / 2; }

/* ---- embedding ------------------------------------------------------- */
/* out[t,:] = table[tok[t],:]. */
void mom_embed_fwd_ref(int T, int D, const int32_t *tok, const float *table, float *out);
/* dtable[tok[t],:] += dout[t,:], in token order (deterministic). */
void mom_embed_bwd_ref(int T, int D, const int32_t *tok, const float *dout, float *dtable);

/* ---- RMSNorm ----------------------------------------------------------- */
/* out = x * rstd * w, rstd[t] = 1/sqrt(mean(x_t^2) + eps). */
void mom_rmsnorm_fwd_ref(int T, int D, const float *x, const float *w, float eps, float *out,
                         float *rstd);
/* dx += d/dx, dw += d/dw, given dout. */
void mom_rmsnorm_bwd_ref(int T, int D, const float *x, const float *w, const float *rstd,
                         const float *dout, float *dx, float *dw);

/* ---- routing --------------------------------------------------------- */
/* Row gather and scatter through a permutation. A training step does not
 * use them (its batches run in modality order, src/route.c); they stay,
 * tested and benchmarked, for routing a few mixed-modality rows where
 * sorting the batch is not worth it (token-by-token decoding).
 * dst[i, 0:cols] = src[perm[i], 0:cols]. */
void mom_gather_rows_ref(int rows, int cols, const int32_t *perm, const float *src, int ld_src,
                         float *dst);
/* dst[perm[i], 0:cols] (= or +=) src[i, 0:cols]. */
void mom_scatter_rows_ref(int rows, int cols, const int32_t *perm, const float *src, float *dst,
                          int ld_dst, int accumulate);
/* C[r, :] += bias for r in [0, rows). */
void mom_add_bias_ref(int rows, int cols, const float *bias, float *C, int ldc);
/* dbias += sum over rows of dC. */
void mom_bias_grad_ref(int rows, int cols, const float *dC, int lddc, float *dbias);

/* ---- time order ------------------------------------------------------ */
/* The model keeps a batch's activations in modality order (so each
 * modality's rows are one contiguous slice for its projections); the conv
 * and the scan, which run along time, find position (b, t) at row
 * rows[b L + t]. rows NULL: the plain order, row b L + t. */
static inline size_t mom_row(const int32_t *rows, int b, int L, int t)
{
    const size_t i = (size_t)b * L + t;
    return rows ? (size_t)rows[i] : i;
}

/* ---- causal depthwise conv1d + SiLU ---------------------------------- */
/* x: (B*L) rows with stride ldx, position (b, t) at mom_row(rows, b, L, t);
 * w (D, K); b (D). out: (B*L, D) contiguous, the same rows:
 * out[t,d] = SiLU(b[d] + sum_k w[d,k] x[t-K+1+k, d]).
 * hist (B, K-1, D), oldest first: the inputs before t = 0, and on return
 * the last K-1 inputs (of hist then x), so the next call continues the
 * sequence (inference). NULL: zeros before t = 0 (training). */
void mom_conv_silu_fwd_ref(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                           const float *w, const float *b, float *hist, float *out);
/* The history update of the forward alone: hist becomes the last K-1
 * inputs of hist then x (shared by every CPU path: it only moves floats). */
void mom_conv_hist_push(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx, float *hist);
/* dx (= into stride ldx), dw +=, db +=, given dout (grad of the SiLU output);
 * for a forward run without history. */
void mom_conv_silu_bwd_ref(int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx,
                           const float *w, const float *b, const float *dout, float *dx, int lddx,
                           float *dw, float *db);

/* ---- elementwise ----------------------------------------------------- */
/* y = softplus(x) with PyTorch's threshold 20 (y = x above it). */
void mom_softplus_fwd_ref(size_t n, const float *x, float *y);
/* dx = dy * sigmoid(x) (1 above the threshold). */
void mom_softplus_bwd_ref(size_t n, const float *x, const float *dy, float *dx);
/* sum of squares in double, fixed order. */
double mom_sumsq_ref(size_t n, const float *x);

/* ---- selective scan ---------------------------------------------------- */
typedef struct mom_scan_args {
    int B, L, D, N;          /* batch rows, positions, d_inner, d_state */
    int chunk;               /* positions between stored states */
    /* Every (B, L, ...) operand below and in mom_scan_grads has B*L rows,
     * position (b, t) at row mom_row(rows, b, L, t). */
    const float *u;          /* (B, L, D) */
    const float *delta;      /* (B, L, D), already softplus'd */
    const float *A_log;      /* (D, N); A = -exp(A_log) */
    const float *Bm, *Cm;    /* (B, L, N) with row stride ld_bc */
    int ld_bc;
    const float *Dskip;      /* (D) */
    const float *z;          /* (B, L, D) with row stride ld_z */
    int ld_z;
    float *states;           /* (B, n_chunks, D, N): state entering each chunk, for
                                the backward; NULL: not kept (inference) */
    const int32_t *rows;     /* row of position (b, t) in every (B*L)-row matrix
                                above and in the grads; NULL: b L + t */
    float *carry;            /* (B, D*N), laid out as mom_carry_index says: the
                                state before t = 0, and on return the state
                                after t = L-1 (inference); NULL: zeros,
                                nothing returned (training) */
} mom_scan_args;

static inline int mom_scan_n_chunks(int L, int chunk) { return (L + chunk - 1) / chunk; }

/* Where state (d, n) of one batch row sits in a carry: channels in groups
 * of 16 (the last one w = D - 16 g wide), each group n-major, so the SIMD
 * scan loads a state row of 16 channels with one load, not a gather (a
 * decode step runs one position, so moving the state is much of its
 * cost). */
static inline size_t mom_carry_index(int D, int N, int d, int n)
{
    const int g = d / 16, w = D - 16 * g < 16 ? D - 16 * g : 16;
    return (size_t)g * 16 * N + (size_t)n * w + (size_t)(d - 16 * g);
}

/* y (B, L, D) = (C.s + D u) * SiLU(z); fills a->states. */
void mom_scan_fwd_ref(const mom_scan_args *a, float *y);

typedef struct mom_scan_grads {
    const float *dy;  /* (B, L, D) */
    float *du;        /* (B, L, D), written */
    float *ddelta;    /* (B, L, D), written */
    float *dB, *dC;   /* (B, L, N) row stride ld_dbc, written */
    int ld_dbc;
    float *dz;        /* (B, L, D) row stride ld_dz, written */
    int ld_dz;
    float *dA_log;    /* (D, N), += */
    float *dD;        /* (D), += */
    float *work;      /* scratch: mom_scan_bwd_work_floats() floats */
    int work_threads; /* the thread count work was sized for */
    float *y;         /* (B, L, D) or NULL: the forward's output, recomputed on
                         the way (the model keeps no copy of it) */
} mom_scan_grads;

/* Scratch of the backward for n_threads threads. */
size_t mom_scan_bwd_work_floats(const mom_scan_args *a, int n_threads);
/* Recomputes states chunk by chunk from a->states, newest chunk first. */
void mom_scan_bwd_ref(const mom_scan_args *a, const mom_scan_grads *g);

/* ---- cross-entropy ----------------------------------------------------- */
/* For each row t with target >= 0: loss[t] = logsumexp(logits_t) - logits_t[target];
 * logits are overwritten with the gradient (softmax - onehot) * scale (0 for
 * ignored rows, whose loss is 0). With scale == 0 the logits are left alone. */
void mom_xent_ref(int T, int V, float *logits, const int32_t *targets, float scale, float *loss);

/* ---- mean squared error (the diffusion loss) --------------------------- */
/* loss[r] = mean over c of (pred[r,c] - target[r,c])^2; with scale != 0,
 * pred becomes the gradient of scale * sum_r loss[r]: scale 2 (pred -
 * target) / cols. (No SIMD version: a patch is a few floats.) */
void mom_mse_ref(int rows, int cols, float *pred, const float *target, float scale, float *loss);

/* ---- bf16 -------------------------------------------------------------- */
/* dst = src rounded to bf16 (nearest even; NaN stays NaN), as raw uint16. */
void mom_f32_to_bf16_ref(size_t n, const float *src, uint16_t *dst);

/* ---- AdamW (torch.optim.AdamW semantics) ------------------------------ */
/* p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m / bc1) / (sqrt(v / bc2) + eps), bc_i = 1 - b_i^step. g is scaled by gscale. */
void mom_adamw_ref(size_t n, float *p, const float *g, float *m, float *v, float gscale,
                   float lr, float b1, float b2, float eps, float wd, int64_t step);

/* y = exp(x), elementwise (the vector paths' exp, held to expf). */
void mom_exp_ref(size_t n, const float *x, float *y);

/* ---- the kernel table: one per CPU path --------------------------------- */
/* Every op of a training step, with the signatures of the _ref functions
 * above: X(return type, member, (parameters)). The matmuls here are the
 * ones used without a matmul library (oneDNN, BLAS). The table's
 * members come from this one list, and so does the filling of a path's
 * missing members from the scalar table (dispatch.c); the CPU backend calls
 * through the table chosen at start. scan_bwd and scan_bwd_work_floats go
 * together: a path that has one has the other. */
#define MOM_KERNEL_LIST(X)                                                                                       \
    X(void, mm_fwd,                                                                                            \
      (int M, int N, int K, const float *A, int lda, const float *W, float *C, int ldc, int accumulate))        \
    X(void, mm_bwd_data,                                                                                       \
      (int M, int N, int K, const float *dC, int lddc, const float *W, float *dA, int ldda, int accumulate))    \
    X(void, mm_bwd_weight,                                                                                     \
      (int M, int N, int K, const float *dC, int lddc, const float *A, int lda, float *dW))                    \
    X(void, embed_fwd, (int T, int D, const int32_t *tok, const float *table, float *out))                     \
    X(void, embed_bwd, (int T, int D, const int32_t *tok, const float *dout, float *dtable))                   \
    X(void, rmsnorm_fwd, (int T, int D, const float *x, const float *w, float eps, float *out, float *rstd))   \
    X(void, rmsnorm_bwd,                                                                                       \
      (int T, int D, const float *x, const float *w, const float *rstd, const float *dout, float *dx, float *dw)) \
    X(void, gather_rows, (int rows, int cols, const int32_t *perm, const float *src, int ld_src, float *dst))  \
    X(void, scatter_rows,                                                                                      \
      (int rows, int cols, const int32_t *perm, const float *src, float *dst, int ld_dst, int accumulate))     \
    X(void, add_bias, (int rows, int cols, const float *bias, float *C, int ldc))                              \
    X(void, bias_grad, (int rows, int cols, const float *dC, int lddc, float *dbias))                          \
    X(void, conv_silu_fwd,                                                                                     \
      (int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx, const float *w, const float *b, \
       float *hist, float *out))                                                                               \
    X(void, conv_silu_bwd,                                                                                     \
      (int B, int L, int D, int K, const int32_t *rows, const float *x, int ldx, const float *w, const float *b, \
       const float *dout, float *dx, int lddx, float *dw, float *db))                                          \
    X(void, softplus_fwd, (size_t n, const float *x, float *y))                                                \
    X(void, softplus_bwd, (size_t n, const float *x, const float *dy, float *dx))                              \
    X(double, sumsq, (size_t n, const float *x))                                                               \
    X(void, scan_fwd, (const mom_scan_args *a, float *y))                                                      \
    X(void, scan_bwd, (const mom_scan_args *a, const mom_scan_grads *g))                                       \
    X(size_t, scan_bwd_work_floats, (const mom_scan_args *a, int n_threads))                                   \
    X(void, xent, (int T, int V, float *logits, const int32_t *targets, float scale, float *loss))             \
    X(void, mse, (int rows, int cols, float *pred, const float *target, float scale, float *loss))             \
    X(void, adamw,                                                                                             \
      (size_t n, float *p, const float *g, float *m, float *v, float gscale, float lr, float b1, float b2,     \
       float eps, float wd, int64_t step))                                                                     \
    X(void, f32_to_bf16, (size_t n, const float *src, uint16_t *dst))                                          \
    X(void, qmm_q8,                                                                                            \
      (int M, int N, int K, const float *A, int lda, const int8_t *q, const float *scale, float *C, int ldc,   \
       int accumulate))                                                                                        \
    X(void, qmm_q4,                                                                                            \
      (int M, int N, int K, const float *A, int lda, const uint8_t *q, const float *scale, float *C, int ldc,  \
       int accumulate))                                                                                        \
    X(void, dequant_q8, (int rows, int K, const int8_t *q, const float *scale, float *w))                      \
    X(void, dequant_q4, (int rows, int K, const uint8_t *q, const float *scale, float *w))                     \
    X(void, exp, (size_t n, const float *x, float *y))

#define MOM_KERNEL_MEMBER(ret, member, params) ret(*member) params;
typedef struct mom_kernels {
    const char *name; /* "avx512", "avx2", "neon", "scalar" */
    MOM_KERNEL_LIST(MOM_KERNEL_MEMBER)
} mom_kernels;
#undef MOM_KERNEL_MEMBER

extern const mom_kernels mom_kernels_scalar;

/* ---- CPU features ---------------------------------------------------- */
typedef struct mom_cpu_features {
    int avx2, fma, avx512f, avx512bw, avx512vl, avx512dq, avx512_bf16, amx_bf16, os_avx512, neon;
} mom_cpu_features;
void mom_cpu_detect(mom_cpu_features *f);
/* One line: "avx512f avx512bw ... (os: zmm enabled)". */
void mom_cpu_features_str(const mom_cpu_features *f, char *buf, size_t cap);

/* The kernels for a path name: NULL or "auto" = the best this CPU and OS
 * support, else "avx512", "avx2", "neon" or "scalar". NULL when the name is
 * unknown, or its path was not built or cannot run here. Every member is
 * set (a path's missing ones are the scalar table's). */
const mom_kernels *mom_kernels_select(const char *path);
/* The paths that run here, best first, scalar last: up to cap of them into
 * out; returns how many. For tests and benchmarks that go over them all. */
int mom_kernels_usable(const mom_kernels **out, int cap);

#endif
