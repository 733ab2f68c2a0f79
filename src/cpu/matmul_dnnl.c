/* oneDNN (v2 C API) matmuls.
 *
 * fp32 products go through dnnl_sgemm, row-major with transposes, so that no
 * operand is copied. In a training step (d_model 256, 3 modalities, AMD EPYC
 * Zen 5, 2 threads, each product timed in alternation with the primitive on
 * the same calls) it took 5-30% less time than a matmul primitive for every
 * shape of the step: the primitive pays for three memory objects per call,
 * and its sum post-op (out_proj's accumulate into the residual) ran 30%
 * slower than sgemm's beta = 1.
 *
 * bf16 products, which sgemm cannot do, use matmul primitives: each is
 * src[M0,K0] x wei[K0,N0] = dst[M0,N0], with strides standing for the
 * transposes (the PyTorch [out, in] weight read as K x N with strides
 * {1, K} for the forward, and so on). The varying dimension (the token
 * count of one modality's slice) is DNNL_RUNTIME_DIM_VAL, so one primitive
 * per (kind, sizes, strides, accumulate) serves every batch and every
 * modality. */
#include "mom_build_config.h"
#include "matmul_dnnl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if MOM_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

enum mm_kind { MM_FWD, MM_BWD_DATA, MM_BWD_WEIGHT };

typedef struct mm_key {
    int kind, N, K, lda, ldb, ldc, acc; /* the fixed dimensions; M is run-time */
} mm_key;

typedef struct mm_entry {
    mm_key key;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src, wei, dst; /* with the run-time dimension */
} mm_entry;

struct dnnl_mm {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    mm_entry *entries;
    int n, cap;
    /* bf16 mode: sources and weights are rounded to bf16 copies (fp32
     * accumulate and output); cvt holds the two copies, grown on demand. */
    int bf16;
    void (*to_bf16)(size_t n, const float *src, uint16_t *dst);
    uint16_t *cvt[2];
    size_t cvt_cap[2];
};

static mm_entry *lookup(dnnl_mm *mm, const mm_key *key);

/* oneDNN runs bf16 matmuls only where the CPU allows (2.6: AVX-512 and
 * up); elsewhere creating the primitive fails. Asked once here, so a
 * context that cannot run bf16 is refused when it is made, not at its
 * first product. The three entries stay cached; they are small. */
static int bf16_runs_here(dnnl_mm *mm)
{
    for (int kind = MM_FWD; kind <= MM_BWD_WEIGHT; kind++) {
        const mm_key probe = {kind, 16, 16, 16, 16, 16, kind == MM_BWD_WEIGHT};
        if (!lookup(mm, &probe)) return 0;
    }
    return 1;
}

dnnl_mm *dnnl_mm_create(void (*to_bf16)(size_t n, const float *src, uint16_t *dst))
{
    dnnl_mm *mm = calloc(1, sizeof(*mm));
    if (!mm) return NULL;
    mm->bf16 = to_bf16 != NULL;
    mm->to_bf16 = to_bf16;
    if (dnnl_engine_create(&mm->engine, dnnl_cpu, 0) != dnnl_success) {
        free(mm);
        return NULL;
    }
    if (dnnl_stream_create(&mm->stream, mm->engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(mm->engine);
        free(mm);
        return NULL;
    }
    if (mm->bf16 && !bf16_runs_here(mm)) {
        dnnl_mm_destroy(mm);
        return NULL;
    }
    return mm;
}

void dnnl_mm_destroy(dnnl_mm *mm)
{
    if (!mm) return;
    for (int i = 0; i < mm->n; i++) dnnl_primitive_destroy(mm->entries[i].prim);
    free(mm->entries);
    free(mm->cvt[0]);
    free(mm->cvt[1]);
    dnnl_stream_destroy(mm->stream);
    dnnl_engine_destroy(mm->engine);
    free(mm);
}

/* Elements an operand of dims d and strides st spans in memory. */
static size_t span(const dnnl_dims_t d, const dnnl_dims_t st)
{
    return (size_t)((d[0] - 1) * st[0] + (d[1] - 1) * st[1] + 1);
}

/* Describes the three operands of one kind with R for the run-time size;
 * spans (may be NULL) gets the elements src and wei cover. */
static void describe(const mm_key *k, int64_t R, int bf16, dnnl_memory_desc_t *src, dnnl_memory_desc_t *wei,
                     dnnl_memory_desc_t *dst, size_t spans[2])
{
    dnnl_dims_t sd, ss, wd, ws, dd, ds;
    switch (k->kind) {
    case MM_FWD: /* C[M,N] = A[M,K] . W^T  (W [N,K] read as K x N, strides {1, K}) */
        sd[0] = R; sd[1] = k->K; ss[0] = k->lda; ss[1] = 1;
        wd[0] = k->K; wd[1] = k->N; ws[0] = 1; ws[1] = k->K;
        dd[0] = R; dd[1] = k->N; ds[0] = k->ldc; ds[1] = 1;
        break;
    case MM_BWD_DATA: /* dA[M,K] = dC[M,N] . W  (W [N,K] row-major) */
        sd[0] = R; sd[1] = k->N; ss[0] = k->lda; ss[1] = 1;
        wd[0] = k->N; wd[1] = k->K; ws[0] = k->K; ws[1] = 1;
        dd[0] = R; dd[1] = k->K; ds[0] = k->ldc; ds[1] = 1;
        break;
    default: /* dW[N,K] += dC^T[N,M] . A[M,K]: the run-time size is the reduction */
        sd[0] = k->N; sd[1] = R; ss[0] = 1; ss[1] = k->lda;
        wd[0] = R; wd[1] = k->K; ws[0] = k->ldb; ws[1] = 1;
        dd[0] = k->N; dd[1] = k->K; ds[0] = k->K; ds[1] = 1;
        break;
    }
    const dnnl_data_type_t in = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_init_by_strides(src, 2, sd, in, ss);
    dnnl_memory_desc_init_by_strides(wei, 2, wd, in, ws);
    dnnl_memory_desc_init_by_strides(dst, 2, dd, dnnl_f32, ds);
    if (spans && R != DNNL_RUNTIME_DIM_VAL) {
        spans[0] = span(sd, ss);
        spans[1] = span(wd, ws);
    }
}

static mm_entry *lookup(dnnl_mm *mm, const mm_key *key)
{
    for (int i = 0; i < mm->n; i++)
        if (!memcmp(&mm->entries[i].key, key, sizeof(*key))) return &mm->entries[i];
    if (mm->n == mm->cap) {
        int cap = mm->cap ? 2 * mm->cap : 16;
        mm_entry *e = realloc(mm->entries, sizeof(*e) * (size_t)cap);
        if (!e) return NULL;
        mm->entries = e;
        mm->cap = cap;
    }
    mm_entry *e = &mm->entries[mm->n];
    memset(e, 0, sizeof(*e));
    e->key = *key;
    describe(key, DNNL_RUNTIME_DIM_VAL, mm->bf16, &e->src, &e->wei, &e->dst, NULL);
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int ok = dnnl_matmul_desc_init(&md, &e->src, &e->wei, NULL, &e->dst) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && key->acc) {
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_sum(po, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    }
    ok = ok && dnnl_primitive_desc_create(&pd, &md, attr, mm->engine, NULL) == dnnl_success &&
         dnnl_primitive_create(&e->prim, pd) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) return NULL;
    mm->n++;
    return e;
}

static int run(dnnl_mm *mm, const mm_key *key, int64_t R, const float *src, const float *wei,
               float *dst)
{
    if (R == 0) return 0;
    mm_entry *e = lookup(mm, key);
    if (!e) return -1;
    dnnl_memory_desc_t sd, wd, dd;
    size_t spans[2];
    describe(key, R, mm->bf16, &sd, &wd, &dd, spans);
    const void *in[2] = {src, wei};
    if (mm->bf16) {
        /* The bf16 copies keep the fp32 operands' layout and strides. */
        for (int i = 0; i < 2; i++) {
            if (spans[i] > mm->cvt_cap[i]) {
                uint16_t *p = realloc(mm->cvt[i], spans[i] * sizeof(uint16_t));
                if (!p) return -1;
                mm->cvt[i] = p;
                mm->cvt_cap[i] = spans[i];
            }
            mm->to_bf16(spans[i], i ? wei : src, mm->cvt[i]);
            in[i] = mm->cvt[i];
        }
    }
    dnnl_memory_t ms = NULL, mw = NULL, md = NULL;
    int ok = dnnl_memory_create(&ms, &sd, mm->engine, (void *)in[0]) == dnnl_success &&
             dnnl_memory_create(&mw, &wd, mm->engine, (void *)in[1]) == dnnl_success &&
             dnnl_memory_create(&md, &dd, mm->engine, dst) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md}};
        ok = dnnl_primitive_execute(e->prim, mm->stream, 3, args) == dnnl_success &&
             dnnl_stream_wait(mm->stream) == dnnl_success;
    }
    if (ms) dnnl_memory_destroy(ms);
    if (mw) dnnl_memory_destroy(mw);
    if (md) dnnl_memory_destroy(md);
    return ok ? 0 : -1;
}

/* The three products in sgemm's terms (row-major, C = A op B + beta C). */
static int sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                 int64_t ldb, int acc, float *C, int64_t ldc)
{
    if (M == 0) return 0;
    return dnnl_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, ldc) == dnnl_success ? 0 : -1;
}

int dnnl_mm_fwd(dnnl_mm *mm, int M, int N, int K, const float *A, int lda, const float *W,
                float *C, int ldc, int acc)
{
    if (!mm->bf16) return sgemm('N', 'T', M, N, K, A, lda, W, K, acc, C, ldc); /* A W^T */
    mm_key k = {MM_FWD, N, K, lda, 0, ldc, acc};
    return run(mm, &k, M, A, W, C);
}

int dnnl_mm_bwd_data(dnnl_mm *mm, int M, int N, int K, const float *dC, int lddc, const float *W,
                     float *dA, int ldda, int acc)
{
    if (!mm->bf16) return sgemm('N', 'N', M, K, N, dC, lddc, W, K, acc, dA, ldda); /* dC W */
    mm_key k = {MM_BWD_DATA, N, K, lddc, 0, ldda, acc};
    return run(mm, &k, M, dC, W, dA);
}

int dnnl_mm_bwd_weight(dnnl_mm *mm, int M, int N, int K, const float *dC, int lddc,
                       const float *A, int lda, float *dW)
{
    if (!mm->bf16) return sgemm('T', 'N', N, K, M, dC, lddc, A, lda, 1, dW, K); /* dW += dC^T A */
    mm_key k = {MM_BWD_WEIGHT, N, K, lddc, lda, K, 1};
    return run(mm, &k, M, dC, A, dW);
}

#else /* no oneDNN in this build */

dnnl_mm *dnnl_mm_create(void (*to_bf16)(size_t n, const float *src, uint16_t *dst))
{
    (void)to_bf16;
    return NULL;
}
void dnnl_mm_destroy(dnnl_mm *mm) { (void)mm; }
int dnnl_mm_fwd(dnnl_mm *mm, int M, int N, int K, const float *A, int lda, const float *W,
                float *C, int ldc, int acc)
{
    (void)mm; (void)M; (void)N; (void)K; (void)A; (void)lda; (void)W; (void)C; (void)ldc; (void)acc;
    return -1;
}
int dnnl_mm_bwd_data(dnnl_mm *mm, int M, int N, int K, const float *dC, int lddc, const float *W,
                     float *dA, int ldda, int acc)
{
    (void)mm; (void)M; (void)N; (void)K; (void)dC; (void)lddc; (void)W; (void)dA; (void)ldda; (void)acc;
    return -1;
}
int dnnl_mm_bwd_weight(dnnl_mm *mm, int M, int N, int K, const float *dC, int lddc,
                       const float *A, int lda, float *dW)
{
    (void)mm; (void)M; (void)N; (void)K; (void)dC; (void)lddc; (void)A; (void)lda; (void)dW;
    return -1;
}
#endif
