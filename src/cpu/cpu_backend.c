/* The CPU backend: host memory, oneDNN matmuls (or plain C), and the
 * kernels of simd/. A be_buf here is an aligned host block; a view resolves
 * to a pointer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_backend.h"
#include "host_memory.h"
#include "kernels.h"
#include "matmul_blas.h"
#include "matmul_dnnl.h"
#include "mom_build_config.h"

#ifdef _OPENMP
#include <omp.h>
#endif

struct be_buf {
    size_t n;
    float *data;      /* 64-byte aligned */
    host_memory mem;  /* what alloc made; empty for a wrap (the caller's memory, not freed here) */
};

typedef struct cpu_backend {
    backend ops;
    dnnl_mm *mm;              /* oneDNN's, or NULL */
    int blas;                 /* else CBLAS (OpenBLAS), else plain C */
    const mom_kernels *k;     /* the kernel path (simd/dispatch.c) */
    int default_threads;      /* OpenMP's count when the backend started */
    float *qtile;             /* a prefill's dequantized weight tile (cpu_mm_fwd_q) */
    size_t qtile_cap;         /* its floats */
} cpu_backend;

static int max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static float *F(bv v) { return v.buf ? v.buf->data + v.off : NULL; }
static int32_t *I(bv v) { return v.buf ? (int32_t *)(void *)(v.buf->data + v.off) : NULL; }
static dnnl_mm *MM(backend *be) { return ((cpu_backend *)be)->mm; }
static int BLAS(backend *be) { return ((cpu_backend *)be)->blas; }
static const mom_kernels *KN(backend *be) { return ((cpu_backend *)be)->k; }

/* Rows start on cache lines (views are 16-float aligned within a buffer),
 * so a zmm load touches one line, not two. Buffers of several MiB (the
 * activations, the parameters) are anonymous mappings on huge pages where
 * the kernel gives them (src/host_memory.h): the scan walks rows 2 KiB or
 * more apart, and with 4 KiB pages almost every row would be a TLB miss. */
static be_buf *cpu_alloc(backend *be, size_t n)
{
    (void)be;
    if (n > (SIZE_MAX - 64) / sizeof(float)) return NULL;
    be_buf *b = calloc(1, sizeof(be_buf));
    if (!b) return NULL;
    if (host_memory_alloc(&b->mem, n * sizeof(float))) {
        free(b);
        return NULL;
    }
    b->n = n;
    b->data = b->mem.p;
    return b;
}
static be_buf *cpu_wrap(backend *be, void *host, size_t n)
{
    (void)be;
    be_buf *b = calloc(1, sizeof(be_buf));
    if (!b) return NULL;
    b->n = n;
    b->data = host;
    return b;
}
static void cpu_release(backend *be, be_buf *b)
{
    (void)be;
    if (!b) return;
    host_memory_free(&b->mem);
    free(b);
}
static void cpu_upload(backend *be, bv dst, const void *src, size_t n)
{
    (void)be;
    memcpy(F(dst), src, n * sizeof(float));
}
static void cpu_download(backend *be, void *dst, bv src, size_t n)
{
    (void)be;
    memcpy(dst, F(src), n * sizeof(float));
}
/* Zeroing the gradients and copying the residual stream move tens of MB a
 * step: in 64K-float pieces over the threads (dst and src never overlap). */
#define PIECE ((size_t)1 << 16)
static void cpu_zero(backend *be, bv dst, size_t n)
{
    (void)be;
    float *d = F(dst);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += PIECE) memset(d + i, 0, (n - i < PIECE ? n - i : PIECE) * sizeof(float));
}
static void cpu_copy(backend *be, bv dst, bv src, size_t n)
{
    (void)be;
    float *d = F(dst);
    const float *s = F(src);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += PIECE) memcpy(d + i, s + i, (n - i < PIECE ? n - i : PIECE) * sizeof(float));
}

static int mm_fwd_ptr(backend *be, int M, int N, int K, const float *A, int lda, const float *W, float *C, int ldc,
                      int acc)
{
    if (MM(be)) return dnnl_mm_fwd(MM(be), M, N, K, A, lda, W, C, ldc, acc);
    if (BLAS(be)) blas_mm_fwd(M, N, K, A, lda, W, C, ldc, acc);
    else KN(be)->mm_fwd(M, N, K, A, lda, W, C, ldc, acc);
    return 0;
}
static int cpu_mm_fwd(backend *be, int M, int N, int K, bv A, int lda, bv W, bv C, int ldc, int acc)
{
    return mm_fwd_ptr(be, M, N, K, F(A), lda, F(W), F(C), ldc, acc);
}

/* Quantized weights. Up to QMM_FUSED_ROWS rows of A (a decode step's
 * batch) take the fused kernel, which reads each weight byte once; more
 * rows (a prefill, an evaluation) dequantize W in tiles of about
 * QMM_TILE_FLOATS into the fp32 GEMM, whose speed the dequantization then
 * barely touches. A tile of 4 MiB (most projections in one) measured
 * faster than 1 MiB (more, smaller GEMMs) and 16 MiB (out of cache):
 * `mom bench generate`, q8 d_model 1024, on the development machine. */
#define QMM_FUSED_ROWS 8
#define QMM_TILE_FLOATS ((size_t)1 << 20)
static int cpu_mm_fwd_q(backend *be, int format, int M, int N, int K, bv A, int lda, const void *q,
                        const float *scale, bv C, int ldc, int acc)
{
    const mom_kernels *k = KN(be);
    const int q8 = format == MOM_WEIGHTS_Q8, G = (K + MOM_Q4_GROUP - 1) / MOM_Q4_GROUP;
    if (format != MOM_WEIGHTS_Q8 && format != MOM_WEIGHTS_Q4) return -1;
    if (M <= QMM_FUSED_ROWS) {
        if (q8) k->qmm_q8(M, N, K, F(A), lda, q, scale, F(C), ldc, acc);
        else k->qmm_q4(M, N, K, F(A), lda, q, scale, F(C), ldc, acc);
        return 0;
    }
    cpu_backend *cb = (cpu_backend *)be;
    const int rows = (int)(QMM_TILE_FLOATS / (size_t)K > (size_t)N ? (size_t)N
                           : QMM_TILE_FLOATS / (size_t)K < 1 ? 1 : QMM_TILE_FLOATS / (size_t)K);
    if (cb->qtile_cap < (size_t)rows * K) { /* once per shape that is larger than any before */
        free(cb->qtile);
        cb->qtile = NULL;
        cb->qtile_cap = 0;
        if (posix_memalign((void **)&cb->qtile, 64, sizeof(float) * (size_t)rows * K)) return -1;
        cb->qtile_cap = (size_t)rows * K;
    }
    const size_t row_bytes = q8 ? (size_t)K : mom_q4_row_bytes(K), row_scales = q8 ? 1 : (size_t)G;
    for (int n0 = 0; n0 < N; n0 += rows) {
        const int nr = N - n0 < rows ? N - n0 : rows;
        const uint8_t *qn = (const uint8_t *)q + (size_t)n0 * row_bytes;
        if (q8) k->dequant_q8(nr, K, (const int8_t *)qn, scale + (size_t)n0 * row_scales, cb->qtile);
        else k->dequant_q4(nr, K, qn, scale + (size_t)n0 * row_scales, cb->qtile);
        if (mm_fwd_ptr(be, M, nr, K, F(A), lda, cb->qtile, F(C) + n0, ldc, acc)) return -1;
    }
    return 0;
}
static int cpu_mm_bwd_data(backend *be, int M, int N, int K, bv dC, int lddc, bv W, bv dA, int ldda,
                           int acc)
{
    if (MM(be)) return dnnl_mm_bwd_data(MM(be), M, N, K, F(dC), lddc, F(W), F(dA), ldda, acc);
    if (BLAS(be)) blas_mm_bwd_data(M, N, K, F(dC), lddc, F(W), F(dA), ldda, acc);
    else KN(be)->mm_bwd_data(M, N, K, F(dC), lddc, F(W), F(dA), ldda, acc);
    return 0;
}
static int cpu_mm_bwd_weight(backend *be, int M, int N, int K, bv dC, int lddc, bv A, int lda, bv dW)
{
    if (MM(be)) return dnnl_mm_bwd_weight(MM(be), M, N, K, F(dC), lddc, F(A), lda, F(dW));
    if (BLAS(be)) blas_mm_bwd_weight(M, N, K, F(dC), lddc, F(A), lda, F(dW));
    else KN(be)->mm_bwd_weight(M, N, K, F(dC), lddc, F(A), lda, F(dW));
    return 0;
}

/* Each token's row of a quantized table, dequantized: a row is d_model
 * values, so the scalar reference, without a parallel region per row. */
static void cpu_embed_fwd_q(backend *be, int format, int T, int D, bv tok, const void *q, const float *scale, bv out)
{
    (void)be;
    const int G = (D + MOM_Q4_GROUP - 1) / MOM_Q4_GROUP;
    const int32_t *t = I(tok);
    float *o = F(out);
    for (int i = 0; i < T; i++) {
        const size_t r = (size_t)t[i];
        if (format == MOM_WEIGHTS_Q8) mom_dequant_q8_ref(1, D, (const int8_t *)q + r * D, scale + r, o + (size_t)i * D);
        else
            mom_dequant_q4_ref(1, D, (const uint8_t *)q + r * mom_q4_row_bytes(D), scale + r * G, o + (size_t)i * D);
    }
}

static void cpu_add_bias(backend *be, int rows, int cols, bv bias, bv C, int ldc)
{
    (void)be;
    KN(be)->add_bias(rows, cols, F(bias), F(C), ldc);
}
static void cpu_bias_grad(backend *be, int rows, int cols, bv dC, int lddc, bv dbias)
{
    (void)be;
    KN(be)->bias_grad(rows, cols, F(dC), lddc, F(dbias));
}
static void cpu_embed_fwd(backend *be, int T, int D, bv tok, bv table, bv out)
{
    (void)be;
    KN(be)->embed_fwd(T, D, I(tok), F(table), F(out));
}
static void cpu_embed_bwd(backend *be, int T, int D, bv tok, bv dout, bv dtable)
{
    (void)be;
    KN(be)->embed_bwd(T, D, I(tok), F(dout), F(dtable));
}
static void cpu_rmsnorm_fwd(backend *be, int T, int D, bv x, bv w, float eps, bv out, bv rstd)
{
    (void)be;
    KN(be)->rmsnorm_fwd(T, D, F(x), F(w), eps, F(out), F(rstd));
}
static void cpu_rmsnorm_bwd(backend *be, int T, int D, bv x, bv w, bv rstd, bv dout, bv dx, bv dw)
{
    (void)be;
    KN(be)->rmsnorm_bwd(T, D, F(x), F(w), F(rstd), F(dout), F(dx), F(dw));
}
static void cpu_conv_fwd(backend *be, int B, int L, int D, int K, bv rows, bv x, int ldx, bv w, bv b, bv hist,
                         bv out)
{
    (void)be;
    KN(be)->conv_silu_fwd(B, L, D, K, I(rows), F(x), ldx, F(w), F(b), F(hist), F(out));
}
static void cpu_gather_rows(backend *be, int rows, int cols, bv idx, bv src, int ld_src, bv dst)
{
    KN(be)->gather_rows(rows, cols, I(idx), F(src), ld_src, F(dst));
}
static void cpu_conv_bwd(backend *be, int B, int L, int D, int K, bv rows, bv x, int ldx, bv w, bv b,
                         bv dout, bv dx, int lddx, bv dw, bv db)
{
    (void)be;
    KN(be)->conv_silu_bwd(B, L, D, K, I(rows), F(x), ldx, F(w), F(b), F(dout), F(dx), lddx, F(dw), F(db));
}
static void cpu_softplus_fwd(backend *be, size_t n, bv x, bv y)
{
    (void)be;
    KN(be)->softplus_fwd(n, F(x), F(y));
}
static void cpu_softplus_bwd(backend *be, size_t n, bv x, bv dy, bv dx)
{
    (void)be;
    KN(be)->softplus_bwd(n, F(x), F(dy), F(dx));
}

static mom_scan_args scan_args(const be_scan *a)
{
    mom_scan_args s = {a->B, a->L, a->D, a->N, a->chunk, F(a->u), F(a->delta), F(a->A_log),
                       F(a->Bm), F(a->Cm), a->ld_bc, F(a->Dskip), F(a->z), a->ld_z, F(a->states), I(a->rows), F(a->carry)};
    return s;
}
static void cpu_scan_fwd(backend *be, const be_scan *a, bv y)
{
    (void)be;
    mom_scan_args s = scan_args(a);
    KN(be)->scan_fwd(&s, F(y));
}
static void cpu_scan_bwd(backend *be, const be_scan *a, const be_scan_grads *g)
{
    (void)be;
    mom_scan_args s = scan_args(a);
    /* Never more threads than the scratch holds partials for. */
    const int t = max_threads(), sized = g->work_threads;
    mom_scan_grads sg = {F(g->dy), F(g->du), F(g->ddelta), F(g->dB), F(g->dC), g->ld_dbc,
                         F(g->dz), g->ld_dz, F(g->dA_log), F(g->dD), F(g->work), t < sized ? t : sized,
                         g->y.buf ? F(g->y) : NULL};
    KN(be)->scan_bwd(&s, &sg);
}
static size_t cpu_scan_work(backend *be, const be_scan *a, int n_threads)
{
    mom_scan_args s = scan_args(a);
    return KN(be)->scan_bwd_work_floats(&s, n_threads);
}
/* (B, n_chunks, D, N): the state after each chunk (simd/kernels.h). */
static size_t cpu_scan_states(backend *be, const be_scan *a)
{
    (void)be;
    return (size_t)a->B * (size_t)mom_scan_n_chunks(a->L, a->chunk) * (size_t)a->D * (size_t)a->N;
}

static int cpu_threads(backend *be, int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n > 0 ? n : ((cpu_backend *)be)->default_threads);
#else
    (void)be;
    (void)n;
#endif
    return max_threads();
}
static void cpu_xent(backend *be, int T, int V, bv logits, bv targets, float scale, bv loss)
{
    (void)be;
    KN(be)->xent(T, V, F(logits), I(targets), scale, F(loss));
}
static void cpu_mse(backend *be, int rows, int cols, bv pred, bv target, float scale, bv loss)
{
    KN(be)->mse(rows, cols, F(pred), F(target), scale, F(loss));
}

static void cpu_clip_scale(backend *be, size_t n, bv g, float clip, bv out)
{
    float *o = F(out);
    const float norm = (float)sqrt(KN(be)->sumsq(n, F(g)));
    o[0] = norm;
    o[1] = clip > 0.0f && isfinite(norm) && clip / (norm + 1e-6f) < 1.0f ? clip / (norm + 1e-6f) : 1.0f;
    o[2] = isfinite(norm) ? 1.0f : 0.0f;
}
static void cpu_adamw_scaled(backend *be, size_t n, bv p, bv g, bv m, bv v, bv scale, float lr, float b1, float b2,
                             float eps, float wd, int64_t step)
{
    const float *s = F(scale);
    if (s[2] != 0.0f) KN(be)->adamw(n, F(p), F(g), F(m), F(v), s[1], lr, b1, b2, eps, wd, step);
}

static void cpu_destroy(backend *be)
{
    if (!be) return;
    dnnl_mm_destroy(MM(be));
    free(((cpu_backend *)be)->qtile);
    free(be);
}

const mom_kernels *cpu_backend_kernels(const backend *be)
{
    return be && be->destroy == cpu_destroy ? ((const cpu_backend *)be)->k : NULL;
}

backend *cpu_backend_create(const char *matmul, int bf16, const mom_kernels *k, char *name, size_t name_cap)
{
    cpu_backend *cb = calloc(1, sizeof(*cb));
    if (!cb) return NULL;
    backend *b = &cb->ops;
    b->name = "cpu";
    b->alloc = cpu_alloc;
    b->wrap = cpu_wrap;
    b->release = cpu_release;
    b->upload = cpu_upload;
    b->download = cpu_download;
    b->zero = cpu_zero;
    b->copy = cpu_copy;
    b->mm_fwd = cpu_mm_fwd;
    b->mm_bwd_data = cpu_mm_bwd_data;
    b->mm_bwd_weight = cpu_mm_bwd_weight;
    b->mm_fwd_q = cpu_mm_fwd_q;
    b->embed_fwd_q = cpu_embed_fwd_q;
    b->gather_rows = cpu_gather_rows;
    b->add_bias = cpu_add_bias;
    b->bias_grad = cpu_bias_grad;
    b->embed_fwd = cpu_embed_fwd;
    b->embed_bwd = cpu_embed_bwd;
    b->rmsnorm_fwd = cpu_rmsnorm_fwd;
    b->rmsnorm_bwd = cpu_rmsnorm_bwd;
    b->conv_silu_fwd = cpu_conv_fwd;
    b->conv_silu_bwd = cpu_conv_bwd;
    b->softplus_fwd = cpu_softplus_fwd;
    b->softplus_bwd = cpu_softplus_bwd;
    b->scan_fwd = cpu_scan_fwd;
    b->scan_bwd = cpu_scan_bwd;
    b->scan_work_elems = cpu_scan_work;
    b->scan_states_elems = cpu_scan_states;
    b->threads = cpu_threads;
    b->xent = cpu_xent;
    b->mse = cpu_mse;
    b->clip_scale = cpu_clip_scale;
    b->adamw_scaled = cpu_adamw_scaled;
    b->destroy = cpu_destroy;
    cb->k = k;
    cb->default_threads = max_threads();
    /* The best matmul built and asked for: oneDNN, then CBLAS, then plain C. */
    const int any = !strcmp(matmul, "auto");
    if (any || !strcmp(matmul, "onednn")) cb->mm = dnnl_mm_create(bf16 ? k->f32_to_bf16 : NULL);
    if (bf16 && !cb->mm) { /* bf16 exists only through oneDNN */
        snprintf(name, name_cap, "bf16 matmuls: oneDNN has none for this CPU (it needs AVX-512; fp32 runs)");
        free(cb);
        return NULL;
    }
    cb->blas = !cb->mm && (any || !strcmp(matmul, "blas")) && blas_mm_built();
    if (cb->blas) blas_mm_start();
    if (!cb->mm && !cb->blas && strcmp(matmul, "plain") && !any) {
        snprintf(name, name_cap, "matmul %s: not in this build", matmul);
        free(cb);
        return NULL;
    }
    snprintf(name, name_cap, "cpu (matmul: %s, kernels: %s)",
             cb->mm     ? (bf16 ? "oneDNN bf16" : "oneDNN fp32")
             : cb->blas ? "OpenBLAS fp32"
             : any      ? "plain C (built without oneDNN or BLAS)"
                        : "plain C",
             k->name);
    return b;
}
