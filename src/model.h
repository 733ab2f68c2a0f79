/* The model's private state: config, the flat parameter buffer and its
 * named-tensor table, optimizer moments, and the planned activations. */
#ifndef MOM_MODEL_H
#define MOM_MODEL_H

#include "backend.h"
#include "ctx.h"
#include "host_memory.h"
#include "mom.h"

/* One named tensor of the flat parameter buffer (same layout for grads, m, v). */
typedef struct tensor_entry {
    char name[96];
    int ndim;
    int64_t shape[4];
    size_t off, n; /* elements */
    int decay;     /* AdamW weight decay applies (embedding and projection matrices) */
} tensor_entry;

/* Offsets of one layer's tensors. A shared projection has every modality's
 * slot pointing at the same tensor. */
typedef struct layer_params {
    size_t norm;
    size_t in[MOM_MAX_MODALITIES];
    size_t conv_w, conv_b;
    size_t x[MOM_MAX_MODALITIES];
    size_t dt_w[MOM_MAX_MODALITIES], dt_b[MOM_MAX_MODALITIES];
    size_t A_log, D;
    size_t out[MOM_MAX_MODALITIES];
} layer_params;

/* What a layer keeps from its forward for the backward: the residual
 * entering it, its norm's rstd, [u z] (the in_proj output, too costly to
 * recompute), the conv output uc, [r B C], and the scan state at each chunk
 * start. The rest (h, delta, y) is recomputed in the backward, which keeps
 * memory per token per layer near 7.5 KiB at d_model 256. uc is kept
 * because recomputing it cost about 5% of a training step (the conv walks
 * rows 4 KiB apart) for 2 KiB per token per layer. */
typedef struct layer_acts {
    bv x_in;   /* (BT, d_model) */
    bv rstd;   /* (BT) */
    bv xz;     /* (BT, 2 d_inner): u | z */
    bv uc;     /* (BT, d_inner): SiLU(conv(u)) */
    bv xdbl;   /* (BT, dt_rank + 2 d_state): r | B | C */
    bv states; /* the scan's chunk states, as many as scan_states_elems says */
} layer_acts;

/* One layer's recurrent state for the B sequences of a forward (src/state.c):
 * the conv's last d_conv - 1 inputs (B, d_conv - 1, d_inner) and the SSM
 * state (B, d_inner x d_state, ordered as the scan keeps it). A forward with a carry starts from it and
 * leaves the state after its last position there. */
typedef struct layer_carry { bv conv, ssm; } layer_carry;

/* Most rows per projection GEMM (see block.c): forward, and backward
 * (the weight and input gradients). */
#define PROJ_TILE 1024
#define PROJ_TILE_BWD 4096
/* Rows of the LM head + cross-entropy per block: logits never exist for
 * the whole batch. */
#define HEAD_BLOCK 512
/* Positions per piece of a prompt (src/infer.c): a long prompt runs in
 * pieces of n_seq x (PREFILL_ROWS / n_seq) positions, carrying the state
 * from one to the next, so its activations stay a few MiB. */
#define PREFILL_ROWS 2048

typedef struct act_plan {
    int B, T;
    be_buf *buf;
    layer_acts *layers;
    bv x_final, rstd_f, h_f, dh_f, logits, row_loss; /* logits: (head_block, vocab) */
    bv step_clip;             /* 3 floats after row_loss: see mom_model_train_step */
    bv tokens, targets, rows; /* int32; tokens and targets in row order */
    bv sel;                   /* int32: rows whose logits inference returns */
    /* one layer's recomputed activations, shared by all layers */
    bv h, dtp, delta, y;
    /* backward scratch; plan.c says which of these share memory */
    bv dx, dy, dh, dxz, duc, dxdbl, ddelta, scan_work;
    int scan_threads; /* scan_work holds partials for this many threads */
    float *host_loss; /* (BT), row order */
    int32_t *host_perm, *host_rows, *host_tokens, *host_targets; /* (BT) each, see route_build */
    int32_t *host_sel;                                           /* (BT) */
    /* Continuous images (patch_dim > 0; else empty): the image slice's
     * x_t, noise and timestep features, its predicted noise and loss. */
    bv pin_x, pin_eps, pin_t, pred, patch_loss;
    float *host_xt, *host_eps, *host_tf, *host_mse; /* (BT, patch_dim), (BT, patch_dim), (BT, time_dim), (BT) */
    /* A smaller shape is laid out again in the memory there is, not
     * reallocated (inference alternates prompt pieces and single steps). */
    size_t cap_elems, cap_bt;
} act_plan;

/* The per-batch modality routing (src/route.c). */
typedef struct route {
    int n_mod;
    int offset[MOM_MAX_MODALITIES + 1]; /* slice of modality m: [offset[m], offset[m+1]) */
} route;

struct mom_model {
    mom_ctx *ctx;
    backend *be;
    mom_config cfg;
    int d_inner, dt_rank, n_xdbl; /* n_xdbl = dt_rank + 2 d_state */
    int chunk;                    /* scan positions between stored states */
    int proj_tile, proj_tile_bwd; /* PROJ_TILE, PROJ_TILE_BWD (tests make them small) */
    int head_block;               /* HEAD_BLOCK (likewise) */
    int prefill_rows;             /* PREFILL_ROWS (likewise) */

    tensor_entry *tensors;
    size_t n_tensors, n_params;
    layer_params *layers;
    size_t embedding, norm_f, lm_head; /* lm_head == embedding when tied */
    /* Continuous images (patch_dim > 0): patch_in [d_model, patch_dim] and
     * time_in [d_model, time_dim] embed an image position, patch_out
     * [patch_dim, d_model] predicts its noise; each with a bias. */
    int patch_dim;
    size_t patch_in_w, patch_in_b, time_in_w, time_in_b, patch_out_w, patch_out_b;

    be_buf *params, *grads, *adam_m, *adam_v;
    /* With a weight_format other than fp32: per tensor, the stored form of
     * a quantized one (NULL members for the others); params hold nothing
     * for it (src/quant_model.c). */
    struct quant_tensor *quant;
    host_memory quant_mem; /* every stored form, one block (src/host_memory.h: huge pages for a large one) */
    be_buf *step_scale; /* 3 floats: clip_scale's [norm, scale, finite] (mom_model_step) */
    int64_t step; /* optimizer steps done */

    act_plan plan;
    route rt;
};

static inline bv P(const mom_model *m, size_t off) { bv v = {m->params, off}; return v; }
static inline bv G(const mom_model *m, size_t off) { bv v = {m->grads, off}; return v; }

/* model.c: a model with its buffers allocated, parameters zero; without
 * buffers (with_buffers 0) only its tensor table, for checking a file
 * against it before a config read from the file makes us allocate
 * gigabytes; model_alloc_buffers then adds them (destroy frees either). */
mom_status model_alloc(mom_ctx *ctx, const mom_config *cfg, int with_buffers, mom_model **out);
mom_status model_alloc_buffers(mom_model *m);
/* What continuous-image positions take in (patch_dim > 0). x [B*T,
 * patch_dim] in position order: with noise, the clean x_0, noised with one
 * drawn timestep per image (training); without, x_t itself at timestep t
 * (sampling). */
typedef struct patch_feed {
    const float *x;
    int noise;
    uint64_t seed;
    float low_t_fraction;
    int t;
} patch_feed;

/* trunk.c: plans (B, T), routes the batch by modality, embeds it and runs every
 * layer: x_final holds the last residual stream, position p at row
 * plan.host_rows[p]. Ids must be checked already. carry: n_layer states
 * (inference) or NULL. pf: the patches, when the batch has image positions
 * of a model with continuous images (else unread). */
mom_status model_trunk(mom_model *m, int B, int T, const int32_t *tokens, const uint8_t *modality,
                       const layer_carry *carry, const patch_feed *pf);
/* The image slice of the batch the trunk ran: its first row and count
 * (0 without continuous images). */
void model_image_rows(const mom_model *m, int *row0, int *n);
/* plan.pred = the patch head on h_f's image rows [i0, i0 + ni) (the final
 * norm must have run). */
mom_status model_patch_pred(mom_model *m, int i0, int ni);

/* params.c */
mom_status params_build_table(mom_model *m);
void params_init(mom_model *m, uint64_t seed, float *host);
const tensor_entry *params_find(const mom_model *m, const char *name);
/* The dense name of a modality copy (layers.0.mixer.local_experts_in_proj.2.weight
 * -> layers.0.mixer.in_proj.weight) into out, and its modality; a name that
 * is no copy is copied as it is, and -1 returned. */
int params_dense_name(const char *name, char *out, size_t cap);
/* The tensor that holds, for modality k, what the dense tensor dense_name
 * holds: modality k's copy where the projection is decoupled, else the
 * tensor itself (NULL: none). */
const tensor_entry *params_find_copy(const mom_model *m, const char *dense_name, int k);

/* quant_model.c: a quantized tensor's stored form, rows x quant_row_bytes
 * values and rows x quant_row_scales scales (src/quant.h). */
typedef struct quant_tensor {
    uint8_t *q;   /* in quant_mem */
    float *scale; /* in quant_mem */
} quant_tensor;
/* Whether the model stores e quantized: with a weight_format, each
 * modality's copy of every projection, the LM head, and the embedding when
 * tied to it. */
int quant_is_quantized(const mom_model *m, const tensor_entry *e);
/* MOM_ERR_UNSUPPORTED naming the format when the model is quantized: what
 * (training, a device backend, ...) needs fp32 weights. */
mom_status quant_refuse(const mom_model *m, const char *what);
/* e's values into host (e->n floats): dequantized from the stored form of
 * a quantized tensor (the parameters hold nothing for it), else from the
 * parameters. */
void model_read_param(mom_model *m, const tensor_entry *e, float *host);
/* out[t,:] = the embedding's row tok[t]. */
void model_embed_fwd(mom_model *m, int T, bv tok, bv out);
/* A quantized tensor's names and shapes in a file: NAME.q8 (I8 [rows, K])
 * or NAME.q4 (U8 [rows, ceil(K / 2)]), and NAME.scale (F32 [rows] or
 * [rows, ceil(K / 32)]). */
typedef struct quant_file_names {
    char q[112], scale[112];
    int64_t q_shape[2], scale_shape[2];
    int scale_ndim;
} quant_file_names;
quant_file_names quant_names(const mom_model *m, const tensor_entry *e);
struct st_file;
/* Whether f holds e's stored form, in the right dtypes and shapes
 * (MOM_ERR_FORMAT naming the tensor). */
mom_status quant_check_stored_form(mom_model *m, const struct st_file *f, const char *path, const tensor_entry *e);
/* Loading: copies the stored form of every quantized tensor from f into
 * the model's quant_mem (dropping each from f's mapping once copied) and
 * checks it (shapes, dtypes, values, scales; MOM_ERR_FORMAT naming the
 * tensor). f stays the caller's. */
mom_status quant_load(mom_model *m, struct st_file *f, const char *path);
void quant_free(mom_model *m);
/* C[M,N] (= or +=) A W^T for the weight at offset w of the parameters:
 * through its stored form when the model keeps it quantized, else the
 * fp32 matmul. Non-zero when the backend fails. */
int model_mm_fwd(mom_model *m, int M, int N, int K, bv A, int lda, size_t w, bv C, int ldc, int acc);

/* plan.c: allocates activations for (B, T) once; reused while the shape holds. */
mom_status plan_ensure(mom_model *m, int B, int T);
void plan_free(mom_model *m);

/* route.c: stable counting sort of positions by modality: row i holds
 * position perm[i]; position p is at row rows[p]. */
void route_build(route *r, int n_mod, const uint8_t *modality, int n, int32_t *perm, int32_t *rows);

/* block.c: one Mixture-of-Mamba layer. x: (BT, d_model) in/out. carry:
 * this layer's state (inference), or NULL: from zeros (training; the
 * backward assumes it). */
mom_status block_forward(mom_model *m, int layer, bv x, const layer_carry *carry);
/* dx: dL/dx out of the layer, on return dL/dx into it. */
mom_status block_backward(mom_model *m, int layer, bv dx);

/* model.c: MOM_ERR_BACKEND with the device's message when the backend
 * recorded a failure since the last check (device backends). */
mom_status model_backend_ok(mom_model *m);

/* optim.c: the optimizer settings' checks, and the one optimizer step
 * both mom_model_step and mom_model_train_step take: optim_record puts it
 * on the backend, writing [norm, clip scale, finite] into clip;
 * optim_finish takes those 3 floats once read back: the norm for the
 * caller, then the step counted, or MOM_ERR_NONFINITE "gradient norm is X:
 * step skipped, model unchanged; first non-finite gradient: NAME". */
mom_status optim_check(mom_ctx *ctx, const mom_optim_settings *s);
void optim_record(mom_model *m, const mom_optim_settings *s, bv clip);
mom_status optim_finish(mom_model *m, const float clip[3], float *grad_norm);

/* checkpoint.c */
mom_status ckpt_read_config(mom_ctx *ctx, const char *path, mom_config *cfg);

#endif
