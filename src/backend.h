/* The op table every backend implements. The model (the files of src/) is written once
 * against it; a backend never calls back into the model.
 *
 * Memory belongs to the backend: a be_buf is an opaque handle (host memory on
 * the CPU, a device buffer on a GPU) and a bv is a view into one, offset in
 * 4-byte elements (float or int32). The host moves data only through
 * upload/download. Shapes are token-major (rows, cols), row-major; `ld` is a
 * row stride in elements, so an op can read a column block of a wider matrix.
 * The model orders a batch's rows by modality, not by time (src/route.c). */
#ifndef MOM_BACKEND_H
#define MOM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "mom.h" /* mom_status, mom_ctx_settings: what a backend is created from */

typedef struct be_buf be_buf;
typedef struct bv {
    be_buf *buf;
    size_t off; /* elements of 4 bytes */
} bv;

static inline bv bv_at(bv v, size_t elems) { v.off += elems; return v; }

/* The chunk the model plans the scan's stored states for: 128 positions
 * between them, so 1/128 of a state per token per layer is kept and a
 * chunk of recomputed states (128 x 16 x 16 floats per channel group)
 * still fits in L2. Backends' kernel benchmarks time the same chunk. */
#define MOM_SCAN_CHUNK 128

/* One selective-scan call: inputs and state checkpoints (see simd/kernels.h). */
typedef struct be_scan {
    int B, L, D, N, chunk;
    bv u, delta, A_log, Bm, Cm, Dskip, z, states;
    int ld_bc, ld_z;
    bv rows; /* int32 row of each position (b, t); buf NULL: b L + t */
    bv carry; /* (B, D x N) state in and out (inference), in the backend's
                 own order within a row; buf NULL: zeros.
                 states buf NULL: chunk states not kept (no backward) */
} be_scan;

typedef struct be_scan_grads {
    bv dy, du, ddelta, dB, dC, dz, dA_log, dD, work;
    int ld_dbc, ld_dz;
    bv y; /* recomputed forward output; buf NULL: not wanted */
    int work_threads; /* the thread count work was sized for */
} be_scan_grads;

typedef struct backend backend;
struct backend {
    const char *name;

    /* buffers */
    be_buf *(*alloc)(backend *be, size_t n_elems); /* zeroed; NULL on failure */
    /* A buffer over the caller's memory (64-byte aligned, n_elems floats),
     * not freed by release; NULL where the backend's memory is not the
     * host's. */
    be_buf *(*wrap)(backend *be, void *host, size_t n_elems);
    void (*release)(backend *be, be_buf *buf);
    void (*upload)(backend *be, bv dst, const void *src, size_t n_elems);
    void (*download)(backend *be, void *dst, bv src, size_t n_elems);
    void (*zero)(backend *be, bv dst, size_t n_elems);
    void (*copy)(backend *be, bv dst, bv src, size_t n_elems); /* no overlap */

    /* projections: W is [N, K] (PyTorch Linear layout) */
    int (*mm_fwd)(backend *be, int M, int N, int K, bv A, int lda, bv W, bv C, int ldc, int acc);
    int (*mm_bwd_data)(backend *be, int M, int N, int K, bv dC, int lddc, bv W, bv dA, int ldda,
                       int acc);
    int (*mm_bwd_weight)(backend *be, int M, int N, int K, bv dC, int lddc, bv A, int lda, bv dW);
    /* C[M,N] (= or +=) A W^T with W quantized: format MOM_WEIGHTS_Q8 or
     * _Q4 (src/quant.h), q and scale in host memory (the model's stored
     * form). A backend without it runs no quantized model. */
    int (*mm_fwd_q)(backend *be, int format, int M, int N, int K, bv A, int lda, const void *q, const float *scale,
                    bv C, int ldc, int acc);
    /* out[t,:] = row tok[t] of a quantized [V, D] table (a tied embedding). */
    void (*embed_fwd_q)(backend *be, int format, int T, int D, bv tok, const void *q, const float *scale, bv out);

    /* dst[i, 0:cols] = src[idx[i], 0:cols] (idx int32): a few rows picked
     * out of a batch (the positions whose logits inference returns) */
    void (*gather_rows)(backend *be, int rows, int cols, bv idx, bv src, int ld_src, bv dst);

    /* C[r, :] += bias; dbias += sum over rows of dC */
    void (*add_bias)(backend *be, int rows, int cols, bv bias, bv C, int ldc);
    void (*bias_grad)(backend *be, int rows, int cols, bv dC, int lddc, bv dbias);

    /* layers */
    void (*embed_fwd)(backend *be, int T, int D, bv tok, bv table, bv out);
    void (*embed_bwd)(backend *be, int T, int D, bv tok, bv dout, bv dtable);
    void (*rmsnorm_fwd)(backend *be, int T, int D, bv x, bv w, float eps, bv out, bv rstd);
    void (*rmsnorm_bwd)(backend *be, int T, int D, bv x, bv w, bv rstd, bv dout, bv dx, bv dw);
    /* conv and scan run along time: position (b, t) is row rows[b L + t]
     * (int32) of their (B*L)-row operands (see mom_row in simd/kernels.h).
     * hist (B, K-1, D): the conv's inputs before t = 0, replaced by its last
     * K-1 inputs (inference); buf NULL: zeros (training). */
    void (*conv_silu_fwd)(backend *be, int B, int L, int D, int K, bv rows, bv x, int ldx, bv w,
                          bv b, bv hist, bv out);
    void (*conv_silu_bwd)(backend *be, int B, int L, int D, int K, bv rows, bv x, int ldx, bv w,
                          bv b, bv dout, bv dx, int lddx, bv dw, bv db);
    void (*softplus_fwd)(backend *be, size_t n, bv x, bv y);
    void (*softplus_bwd)(backend *be, size_t n, bv x, bv dy, bv dx);
    void (*scan_fwd)(backend *be, const be_scan *a, bv y);
    void (*scan_bwd)(backend *be, const be_scan *a, const be_scan_grads *g);
    /* scan_bwd scratch for n_threads threads */
    size_t (*scan_work_elems)(backend *be, const be_scan *a, int n_threads);
    /* The elements of a->states a forward that keeps them writes: the
     * states at the chunk boundaries, laid out as the backend likes. */
    size_t (*scan_states_elems)(backend *be, const be_scan *a);
    /* loss[t] per row; logits become (softmax - onehot) * scale unless scale 0 */
    void (*xent)(backend *be, int T, int V, bv logits, bv targets, float scale, bv loss);
    /* loss[r] = mean (pred - target)^2 per row; pred becomes the gradient of
     * scale * sum loss unless scale 0 (the diffusion loss) */
    void (*mse)(backend *be, int rows, int cols, bv pred, bv target, float scale, bv loss);

    /* optimizer */
    /* A step with no read-back: out[0..3) = the norm of g[0..n), its
     * clipping scale (clip / (norm + 1e-6) when below 1, clip > 0) and 1
     * if the norm is finite; adamw_scaled takes the scale from there and
     * changes nothing when the norm is not finite. */
    void (*clip_scale)(backend *be, size_t n, bv g, float clip, bv out);
    void (*adamw_scaled)(backend *be, size_t n, bv p, bv g, bv m, bv v, bv scale, float lr, float b1,
                         float b2, float eps, float wd, int64_t step);

    /* threads: how many the next ops may use (0 = the default); the count
     * they will use. Contexts set theirs at every entry, so two contexts
     * in one process do not change each other's results. */
    int (*threads)(backend *be, int n);

    /* Device timing (NULL where the backend has none): profile(1) starts
     * timing every op on the device and clears the totals, profile(0)
     * stops; profile_read gives entry i of the totals by shader (0 past
     * the last). */
    int (*profile)(backend *be, int enable);
    /* A device backend's first failure since the last call (ops return
     * nothing; they record it), or NULL; the call clears it. NULL member:
     * the backend's ops do not fail. */
    const char *(*error)(backend *be);
    int (*profile_read)(backend *be, int i, const char **name, double *seconds, long *calls);
    /* Command buffers submitted to the device so far (a fused training
     * step is one). NULL: the backend runs ops as they are called. */
    uint64_t (*submissions)(backend *be);

    void (*destroy)(backend *be);
};

/* Which members every backend fills (REQ) and which it may leave NULL
 * (OPT), in the order of the struct: be_create refuses a backend that lacks
 * a required one, naming it, and src/backend.c fails to compile when a
 * member is added to the struct without being listed here. */
#define BE_OPS(REQ, OPT)                                                                                            \
    REQ(alloc) OPT(wrap) REQ(release) REQ(upload) REQ(download) REQ(zero) REQ(copy)                                 \
    REQ(mm_fwd) REQ(mm_bwd_data) REQ(mm_bwd_weight) OPT(mm_fwd_q) OPT(embed_fwd_q) REQ(gather_rows) REQ(add_bias) REQ(bias_grad)                   \
    REQ(embed_fwd) REQ(embed_bwd) REQ(rmsnorm_fwd) REQ(rmsnorm_bwd) REQ(conv_silu_fwd) REQ(conv_silu_bwd)           \
    REQ(softplus_fwd) REQ(softplus_bwd) REQ(scan_fwd) REQ(scan_bwd) REQ(scan_work_elems)                   \
    REQ(scan_states_elems) REQ(xent) REQ(mse)                                                                       \
    REQ(clip_scale) REQ(adamw_scaled)                                                         \
    REQ(threads) OPT(profile) OPT(error) OPT(profile_read) OPT(submissions) REQ(destroy)

/* ---- the backend registry -------------------------------------------------
 * One entry per backend of the build, cpu first: the top meson.build lists
 * the device backends' folders, each folder's meson.build adds its name
 * when it is built, and src/meson.build writes the array (from
 * src/backend_registry.c.in). A backend folder defines its entry as
 * `const be_entry mom_backend_NAME`. */
typedef struct be_entry {
    const char *name; /* what mom_ctx_settings.backend and --backend say */
    /* A backend for s: s->device (-1: the backend's default), s->allow_software
     * and whichever of the other settings and environment variables are the
     * backend's own. MOM_OK with *out set and a one-line description (the
     * device, the libraries) in desc; else the status, *out NULL and the
     * reason in desc. */
    mom_status (*create)(const mom_ctx_settings *s, backend **out, char *desc, size_t desc_cap);
    /* "0: NAME (...); 1: ..." for every device the backend sees, usable or
     * not, in the order s->device counts them ("" when none). */
    void (*list_devices)(char *buf, size_t cap);
} be_entry;

/* The entries, cpu first, then NULL. */
extern const be_entry *const be_registry[];

/* The entry called name, or NULL. */
const be_entry *be_find(const char *name);
/* "cpu, vulkan or auto": the names s->backend may take, for messages. */
void be_names(char *buf, size_t cap);
/* e->create, then the op table checked against BE_OPS: a backend lacking a
 * required member is destroyed and refused (MOM_ERR_UNSUPPORTED, desc
 * naming the member). */
mom_status be_create(const be_entry *e, const mom_ctx_settings *s, backend **out, char *desc, size_t desc_cap);

#endif
