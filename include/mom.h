/* libmom — Mixture-of-Mamba training and inference.
 *
 * The one public header. Every call returns a mom_status; on failure the
 * context keeps a one-line message (mom_ctx_last_error) that names the value
 * that was wrong. Handles are opaque; every destroy function accepts NULL and
 * NULLs the caller's pointer. Status values are pinned and never renumbered.
 *
 * Structs that will grow (the config, the settings, the batch, the model
 * info) end in reserved space, so a program compiled against this header
 * keeps working with a later libmom.so of the same soversion: a later
 * release takes its new fields out of `reserved`, leaving the struct's size
 * and every older field where they are, and zero in a new field means the
 * old behaviour. Start such a struct from its _default call, or write it
 * with designated initializers (mom_batch b = {.B = 8, ...}: the rest is
 * zero, and no -Wmissing-field-initializers when a field is added);
 * a call given one whose reserved space is not all zero (a program built
 * for a newer libmom asking for something this one does not know) fails
 * with MOM_ERR_INVALID_ARG and says so. */
#ifndef MOM_H
#define MOM_H

#include <stddef.h>
#include <stdint.h>

#include "mom_version.h"

/* What libmom exports: the library is built with hidden visibility, so
 * only the calls declared MOM_API in its public headers are in its
 * dynamic symbol table. */
#if defined(__GNUC__) || defined(__clang__)
#define MOM_API __attribute__((visibility("default")))
#else
#define MOM_API
#endif

/* A call kept for one release under its old name: using it warns, naming
 * the new one. */
#if defined(__GNUC__) || defined(__clang__)
#define MOM_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define MOM_DEPRECATED(msg)
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mom_status {
    MOM_OK = 0,
    MOM_ERR_INVALID_ARG = -1, /* NULL pointer, value out of range */
    MOM_ERR_CONFIG = -2,      /* a config field does not fit */
    MOM_ERR_IO = -3,          /* open/read/write/rename failed */
    MOM_ERR_FORMAT = -4,      /* a file is truncated, lies, or does not match */
    MOM_ERR_NOMEM = -5,
    MOM_ERR_DATA = -6,        /* token or modality id out of range */
    MOM_ERR_BACKEND = -7,     /* the compute backend failed */
    MOM_ERR_NOT_FOUND = -8,   /* no tensor of that name */
    MOM_ERR_UNSUPPORTED = -9, /* asked for a feature this build lacks */
    MOM_ERR_NONFINITE = -10,  /* a gradient is NaN or Inf: the step was skipped, the model unchanged */
    MOM_ERR_STOPPED = -11,    /* mom_ctx_set_stop asked the call to stop: nothing was written */
} mom_status;

MOM_API const char *mom_status_str(mom_status s);
/* MOM_VERSION_STRING of the library running, which may be newer than the
 * header a program was compiled with (mom_version.h). */
MOM_API const char *mom_version(void);

#define MOM_MAX_MODALITIES 8

/* Which projections get one weight set per modality (a bit set). */
enum {
    MOM_DECOUPLE_IN = 1u << 0,
    MOM_DECOUPLE_X = 1u << 1,
    MOM_DECOUPLE_DT = 1u << 2,
    MOM_DECOUPLE_OUT = 1u << 3,
    MOM_DECOUPLE_ALL = 0xfu,
};

/* The unified vocabulary of multimodal data: special tokens (BOS, EOS,
 * begin / end image, begin / end speech, pad), text tokens, image codes,
 * speech units. Modality ids: MOM_MOD_TEXT (special tokens count as text),
 * MOM_MOD_IMAGE, MOM_MOD_SPEECH. All zero: no layout (the ids are whatever
 * the data says). Two orders:
 *   - libmom's own (text_first 0): ids [0, n_special) are the specials in
 *     MOM_TOK_* order, then n_text text tokens, n_image image codes,
 *     n_speech speech units; special_id unused (zero).
 *   - a pretrained vocabulary's (text_first 1): ids [0, n_text) are the
 *     pretrained tokenizer's, unchanged; then the n_special specials that
 *     vocabulary lacked, then image codes, then speech units. special_id[k]
 *     is special k's id: a pretrained token (say its end-of-text, which
 *     may serve as both BOS and EOS) or one of the appended ones, each of
 *     which is exactly one special's.
 * Image codes start at n_special + n_text in both orders, speech units
 * n_image later. Use mom_vocab_special and mom_vocab_first rather than the
 * MOM_TOK_* values, which are the ids only in libmom's own order. */
enum { MOM_TOK_BOS, MOM_TOK_EOS, MOM_TOK_BOI, MOM_TOK_EOI, MOM_TOK_BOSP, MOM_TOK_EOSP, MOM_TOK_PAD, MOM_N_SPECIAL };
enum { MOM_MOD_TEXT, MOM_MOD_IMAGE, MOM_MOD_SPEECH };
typedef struct mom_vocab_layout {
    int n_special, n_text, n_image, n_speech;
    int text_first;                     /* 0 or 1, see above */
    int special_id[MOM_N_SPECIAL];      /* with text_first: each special's id */
} mom_vocab_layout;
/* Whether a layout is set, its vocabulary size (-1 when a part is negative
 * or the sum overflows), and the modality a token id belongs to (-1:
 * outside the layout). */
MOM_API int mom_vocab_layout_is_set(const mom_vocab_layout *v);
MOM_API int mom_vocab_layout_size(const mom_vocab_layout *v);
MOM_API int mom_vocab_layout_modality(const mom_vocab_layout *v, int32_t token);
/* The modalities a layout needs: 1 text only, 2 with images, 3 with speech. */
MOM_API int mom_vocab_layout_n_modalities(const mom_vocab_layout *v);
/* The id of special token `which` (MOM_TOK_*): special_id[which] in a
 * pretrained order, else `which` (also without a layout); -1 for a
 * `which` outside [0, MOM_N_SPECIAL). */
MOM_API int32_t mom_vocab_special(const mom_vocab_layout *v, int which);
/* Which special token id `token` is (MOM_TOK_*), or -1: not a special
 * token of v. Where one id serves two (a pretrained end-of-text as BOS and
 * EOS) it says the lower, MOM_TOK_BOS: to ask whether a token ends a
 * sequence, compare it with mom_vocab_special(v, MOM_TOK_EOS). */
MOM_API int mom_vocab_which_special(const mom_vocab_layout *v, int32_t token);
/* The first id of a modality's own tokens: text tokens, image codes or
 * speech units (MOM_MOD_*); -1 for another modality. */
MOM_API int32_t mom_vocab_first(const mom_vocab_layout *v, int modality);
/* "text", "image", "speech" for the layout's modality ids; else "m<k>". */
MOM_API const char *mom_modality_name(const mom_vocab_layout *v, int modality);

/* Continuous images (the Transfusion setting): an image is BOI, then one
 * position per patch_size x patch_size patch of an image_size x image_size
 * image of `channels` channels (raster order, pixels scaled to [-1, 1]),
 * then EOI. Such a position has modality MOM_MOD_IMAGE, token id
 * MOM_TOK_PAD (never embedded) and a patch vector of patch_size^2 x
 * channels floats. All zero: no continuous images. */
typedef struct mom_patch_geometry {
    int patch_size, image_size, channels;
} mom_patch_geometry;
/* Most patches an image of a model may have: one prompt piece (src/infer.c). */
#define MOM_MAX_IMAGE_PATCHES 2048
/* patch_size^2 x channels, and (image_size / patch_size)^2; 0 for none. */
MOM_API int mom_patch_dim(const mom_patch_geometry *g);
MOM_API int mom_patches_per_image(const mom_patch_geometry *g);

typedef struct mom_config {
    int n_modalities;   /* 1..8 */
    int vocab_size;     /* >= 2 */
    int d_model;
    int n_layer;
    int d_state;        /* default 16 */
    int d_conv;         /* default 4 */
    int expand;         /* default 2: d_inner = expand * d_model */
    int dt_rank;        /* 0 = auto: ceil(d_model / 16) */
    unsigned decouple;  /* MOM_DECOUPLE_* bits, default all four */
    int tie_embeddings; /* default 1 */
    float norm_eps;     /* default 1e-5 */
    mom_vocab_layout vocab_layout; /* default all zero: none; else it must
                                      sum to vocab_size */
    /* Continuous images (Transfusion): the image modality's positions carry
     * patch vectors in, through a patch embedding plus a diffusion-timestep
     * embedding, and predict the noise out, through a patch head (all
     * three the image modality's own). Default all zero: none. */
    mom_patch_geometry patches;
    int time_dim;           /* sinusoidal timestep features, even, default 64 */
    float diffusion_weight; /* lambda of loss = text CE + lambda image MSE, default 5 */
    /* How the projection weights are stored: MOM_WEIGHTS_F32 (0, the
     * default), or quantized for inference (mom_model_quantize), which a
     * model only gets from that call or from a file it wrote. */
    int weight_format;
    int reserved_int;       /* zero */
    uint64_t reserved[7];   /* zero (see the top of this header) */
} mom_config;
/* Weight formats. Q8: int8, one fp32 scale per output row. Q4: 4 bits,
 * one fp32 scale per group of 32 along the input. */
enum { MOM_WEIGHTS_F32, MOM_WEIGHTS_Q8, MOM_WEIGHTS_Q4 };

/* Fills the defaults: 3 modalities, vocab 1024, d_model 256, 4 layers,
 * d_state 16, d_conv 4, expand 2, dt_rank auto, all decoupled, tied. */
MOM_API void mom_config_default(mom_config *cfg);

typedef struct mom_ctx mom_ctx;
typedef struct mom_model mom_model;
typedef struct mom_dataset mom_dataset;

/* A context owns a backend and its caches: use one context (and its models)
 * from one thread at a time. Several contexts may live in one process; each
 * applies its own n_threads on every call. */
typedef struct mom_ctx_settings {
    int n_threads;   /* 0 = OpenMP's default */
    const char *cpu; /* NULL = from MOM_CPU or auto; "scalar" forces plain C */
    int matmul_bf16; /* 1: projections in bf16 (fp32 accumulate, fp32 master
                        weights, fp32 scan) through oneDNN; needs oneDNN */
    /* Where the model runs: a backend of this build (mom_backend_name lists
     * them: "cpu", then the device backends such as "vulkan"), or "auto":
     * the first device backend that starts, else the CPU
     * (mom_ctx_last_error then says why). NULL = from MOM_BACKEND, else "cpu". */
    const char *backend;
    int device;          /* which of the backend's devices, by its index in
                            mom_devices_string; -1 (the default) = the
                            backend's own choice (Vulkan: MOM_VK_DEVICE, else
                            the best GPU). Only -1 with "auto". */
    int allow_software;  /* 1: devices that are CPU emulations of a GPU
                            (Mesa's lavapipe) count too, on any device
                            backend; 0 (the default): only where the
                            backend's environment says so (Vulkan:
                            MOM_VK_ALLOW_SOFTWARE set and not "0") */
    uint64_t reserved[8]; /* zero (see the top of this header) */
} mom_ctx_settings;

MOM_API void mom_ctx_default_settings(mom_ctx_settings *s);
MOM_API mom_status mom_ctx_create(mom_ctx **out, const mom_ctx_settings *s);
/* Why the last mom_ctx_create of this thread failed ("" when it did not). */
MOM_API const char *mom_ctx_create_error(void);
MOM_API void mom_ctx_destroy(mom_ctx **ctx);
/* The message of the last failure on this context ("" when none). */
MOM_API const char *mom_ctx_last_error(const mom_ctx *ctx);
/* stop 1 asks the long calls on ctx (mom_model_evaluate, the dataset
 * importers, mom_dataset_write) to stop at their next check, between
 * batches or documents: they return MOM_ERR_STOPPED, having written
 * nothing. The request stays until stop 0 clears it. Safe to call from a
 * signal handler or from another thread. (Better a thread that sigwait()s,
 * as mom does, with the signals blocked everywhere else: a handler that
 * runs on a thread inside oneDNN's JIT gemm writes its frame onto the heap,
 * oneDNN issue 4845.) */
MOM_API void mom_ctx_set_stop(mom_ctx *ctx, int stop);
/* One line naming the backend and matmul path in use. */
MOM_API const char *mom_ctx_backend_name(const mom_ctx *ctx);
/* The CPU features found (cpuid and OS support), one line into buf
 * (MOM_ERR_INVALID_ARG when buf is NULL or cap 0). */
MOM_API mom_status mom_cpu_features_string(char *buf, size_t cap);
/* The name of backend i of this build: 0 is "cpu", then the device
 * backends ("vulkan" ...) in the order "auto" tries them; NULL past the last. */
MOM_API const char *mom_backend_name(int i);
/* The devices backend sees, usable or not, "0: NAME (TYPE ...); 1: ..."
 * ("" when none), indexed as mom_ctx_settings.device counts them.
 * MOM_ERR_NOT_FOUND: no backend of that name in this build (buf is then
 * "", as after any failure where it has room). */
MOM_API mom_status mom_devices_string(const char *backend, char *buf, size_t cap);
/* mom_devices_string("vulkan", buf, cap), "" where there is none. */
MOM_API MOM_DEPRECATED("use mom_devices_string(\"vulkan\", buf, cap)") void mom_vulkan_devices_string(char *buf, size_t cap);

/* ---- config files ---------------------------------------------------- */
/* Parses a JSON object with the field names of mom_config; "decouple" is a
 * list such as ["in","x","dt","out"]. Missing fields keep their defaults. */
MOM_API mom_status mom_config_parse_json(mom_ctx *ctx, const char *json, size_t len, mom_config *cfg);
MOM_API mom_status mom_config_load(mom_ctx *ctx, const char *path, mom_config *cfg);
/* Writes the config as one JSON object into buf (NUL-terminated). */
MOM_API mom_status mom_config_to_json(const mom_config *cfg, char *buf, size_t cap);
/* Validates and fills derived fields (dt_rank when 0). */
MOM_API mom_status mom_config_validate(mom_ctx *ctx, mom_config *cfg);

/* ---- models ---------------------------------------------------------- */
MOM_API mom_status mom_model_create(mom_ctx *ctx, const mom_config *cfg, uint64_t seed, mom_model **out);
MOM_API mom_status mom_model_load(mom_ctx *ctx, const char *path, mom_model **out);
MOM_API mom_status mom_model_save(mom_model *m, const char *path);
MOM_API void mom_model_destroy(mom_model **m);
MOM_API const mom_config *mom_model_config(const mom_model *m);
/* A dense Mamba-1 checkpoint of mamba_ssm (MambaLMHeadModel) or
 * transformers (MambaForCausalLM) as a one-modality model with nothing
 * decoupled. path: a folder holding config.json and model.safetensors (or
 * model.safetensors.index.json and its shards), or one .safetensors file
 * or index with config.json beside it. vocab_size is the embedding's rows
 * (mamba_ssm's padded vocabulary); F16 and BF16 widen to fp32 exactly.
 * MOM_ERR_UNSUPPORTED for what libmom does not compute (projection
 * biases, LayerNorm, Mamba-2, a pickle file, which is never opened);
 * MOM_ERR_FORMAT for a tensor missing, extra or of the wrong shape. */
MOM_API mom_status mom_model_load_pretrained(mom_ctx *ctx, const char *path, mom_model **out);
/* A Mixture-of-Mamba of n_modalities grown from a one-modality model
 * (upcycling): its config but n_modalities and decouple (MOM_DECOUPLE_*
 * bits); every modality's copy of a decoupled projection, dt bias
 * included, is the dense weight, so at step 0 it computes exactly what
 * the dense model computes on any batch. The optimizer state starts at
 * zero. MOM_ERR_INVALID_ARG when dense has more than one modality. */
MOM_API mom_status mom_model_upcycle(mom_model *dense, int n_modalities, unsigned decouple, mom_model **out);
/* A model whose vocabulary is `layout`, grown from m's pretrained one (m
 * without a layout): layout must be a pretrained order (text_first 1)
 * whose text is m's whole vocabulary (n_text = m's vocab_size), so every
 * pretrained id keeps its row. The rows of the ids it adds (specials, image
 * codes, speech units) in the embedding, and in the head when untied,
 * start as mom_model_create(seed) starts them; all else is m's. The
 * optimizer state starts at zero; m is left as it was. MOM_ERR_CONFIG for
 * a layout the config check refuses (such as image codes with fewer than
 * 2 modalities: upcycle first). */
/* A copy of m for inference with quantized weights (MOM_WEIGHTS_Q8 or
 * _Q4, see mom_config.weight_format): each modality's copy of every
 * projection, the LM head, and the embedding when tied to it; everything
 * else (A_log, D, the conv, the norms, the dt bias) stays fp32. Saved, it
 * is a smaller file (int8, or packed 4-bit, values with fp32 scales). It
 * computes with the values the quantized weights stand for. Training,
 * upcycling, growing its vocabulary and the Vulkan backend refuse it
 * (MOM_ERR_UNSUPPORTED naming the format); so does quantizing it again. */
MOM_API mom_status mom_model_quantize(mom_model *m, int format, mom_model **out);
MOM_API mom_status mom_model_extend_vocab(mom_model *m, const mom_vocab_layout *layout, uint64_t seed,
                                          mom_model **out);
/* Writes the folder out_dir (created if missing) holding config.json and
 * model.safetensors (F32) that format's library loads strictly by name:
 * "mamba_ssm" (MambaLMHeadModel; a tied head is written too, as its
 * state_dict lists it) or "hf" (MambaForCausalLM). modality k >= 0: the
 * dense model modality k's copies make, which computes what m computes on
 * a sequence of modality k; -1: m must be dense (MOM_ERR_INVALID_ARG for a
 * Mixture-of-Mamba with decoupled projections). MOM_ERR_UNSUPPORTED for
 * what the format cannot hold (continuous-image layers; a norm_eps other
 * than 1e-5 in mamba_ssm's). A refusal writes nothing. */
MOM_API mom_status mom_model_export(mom_model *m, const char *format, int modality, const char *out_dir);

typedef struct mom_model_info {
    int64_t n_params;            /* every parameter */
    int64_t n_params_active;     /* touched by one token (one modality's copies) */
    double train_flops_per_token; /* 6 x active matmul params + scan/conv terms */
    double train_matmul_flops_per_token; /* the matmul part alone (what MFU counts) */
    int d_inner, dt_rank;
    uint64_t reserved[8]; /* written zero (see the top of this header) */
} mom_model_info;
/* MOM_ERR_INVALID_ARG when info is NULL. */
MOM_API mom_status mom_model_get_info(const mom_model *m, mom_model_info *info);

/* Parameter tensors by name (the safetensors names). */
MOM_API size_t mom_model_n_tensors(const mom_model *m);
MOM_API const char *mom_model_tensor_name(const mom_model *m, size_t i);
/* Shape of tensor `name`: up to 4 dims; returns MOM_ERR_NOT_FOUND if absent. */
MOM_API mom_status mom_model_tensor_shape(mom_model *m, const char *name, int *ndim, int64_t shape[4]);
/* Copies a parameter / its gradient out (n floats must equal its size). */
MOM_API mom_status mom_model_get_param(mom_model *m, const char *name, float *out, size_t n);
MOM_API mom_status mom_model_set_param(mom_model *m, const char *name, const float *in, size_t n);
MOM_API mom_status mom_model_get_grad(mom_model *m, const char *name, float *out, size_t n);
/* Every gradient as one array of n = n_params floats (the tensors in table
 * order, end to end): what data-parallel training sums across processes. */
MOM_API mom_status mom_model_get_grads(mom_model *m, float *out, size_t n);
MOM_API mom_status mom_model_set_grads(mom_model *m, const float *in, size_t n);

/* ---- a batch: B rows of T positions ---------------------------------- */
typedef struct mom_batch {
    int B, T;
    const int32_t *tokens;     /* [B*T] input token ids */
    const uint8_t *modality;   /* [B*T] modality of each input token */
    const int32_t *targets;    /* [B*T] next token id, or -1 to ignore */
    const uint8_t *target_modality; /* [B*T] modality of each target token */
    /* Continuous images only (config.patches set), else NULL / 0: */
    const float *patches;      /* [B*T, patch_dim]: the clean patch x_0 of each
                                  image position (other rows unread) */
    uint64_t noise_seed;       /* draws each image's timestep and noise */
    float low_t_fraction;      /* this share of images gets t < 500 */
    uint64_t reserved[8];      /* zero (see the top of this header) */
} mom_batch;

/* With continuous images, the image positions are not next-token targets:
 * each predicts the noise added to its own patch, and loss = the mean
 * cross-entropy of the other targets + diffusion_weight x the mean squared
 * error of the noise (by_modality[MOM_MOD_IMAGE], count: image positions). */
typedef struct mom_losses {
    double loss;                            /* mean over all targets */
    double by_modality[MOM_MAX_MODALITIES]; /* mean over targets of that modality (NaN if none) */
    int64_t count[MOM_MAX_MODALITIES];      /* targets of each modality */
    int64_t n_targets;
    uint64_t reserved[8]; /* written zero (see the top of this header) */
} mom_losses;

/* Adds the losses of one more batch into acc (zeroed to start): each
 * modality's mean weighted by its count, and acc->loss recomputed as the
 * model defines it (with continuous images: the text mean + diffusion_weight
 * x the image MSE, not a mean of the batches' totals). MOM_ERR_INVALID_ARG
 * when acc or add is NULL. */
MOM_API mom_status mom_losses_accumulate(const mom_model *m, mom_losses *acc, const mom_losses *add);

/* Forward only. */
MOM_API mom_status mom_model_forward(mom_model *m, const mom_batch *b, mom_losses *out);
/* Forward and backward; gradients of the mean loss are ADDED to the
 * gradient buffer scaled by grad_scale (1/accum for accumulation). */
MOM_API mom_status mom_model_backward(mom_model *m, const mom_batch *b, float grad_scale, mom_losses *out);
MOM_API mom_status mom_model_zero_grad(mom_model *m);
/* Writes the gradients as safetensors under the parameter names. */
MOM_API mom_status mom_model_save_grads(mom_model *m, const char *path);

/* ---- the optimizer --------------------------------------------------- */
typedef struct mom_optim_settings {
    float lr;            /* peak, default 1e-3 */
    float beta1, beta2;  /* 0.9, 0.95 */
    float eps;           /* 1e-8 */
    float weight_decay;  /* 0.1: embedding and projection matrices only */
    float clip_norm;     /* 1.0; <= 0 disables */
    int warmup_steps;    /* linear warmup, default 100 */
    int total_steps;     /* cosine decay to min_lr_ratio * lr at this step */
    float min_lr_ratio;  /* 0.1 */
    uint64_t reserved[8]; /* zero (see the top of this header) */
} mom_optim_settings;

MOM_API void mom_optim_default_settings(mom_optim_settings *s);
/* lr at step (0-based) under the schedule. */
MOM_API float mom_optim_lr_at(const mom_optim_settings *s, int64_t step);
/* Clips and applies one AdamW step with the model's gradients, then counts
 * the step. grad_norm (may be NULL) gets the norm before clipping. A
 * non-finite norm: MOM_ERR_NONFINITE naming the first tensor whose
 * gradient is not finite, nothing changed, the step not counted. */
MOM_API mom_status mom_model_step(mom_model *m, const mom_optim_settings *s, float *grad_norm);
/* zero_grad, backward of b (grad_scale 1) and step in one: on a device
 * backend the norm, its clipping and AdamW run on the device and the whole
 * step is one submission, the host reading back only the losses and the
 * norm. On the CPU the same bits as the three calls; on a device the norm
 * is summed there, so it may differ from mom_model_step's in the last
 * place. A non-finite norm leaves the model unchanged (MOM_ERR_NONFINITE). */
MOM_API mom_status mom_model_train_step(mom_model *m, const mom_batch *b, const mom_optim_settings *s, mom_losses *out,
                                float *grad_norm);
MOM_API int64_t mom_model_steps_done(const mom_model *m);
/* Optimizer state (step, m, v, data RNG state) as a second safetensors file. */
MOM_API mom_status mom_model_save_optim(mom_model *m, const char *path, uint64_t rng_state);
MOM_API mom_status mom_model_load_optim(mom_model *m, const char *path, uint64_t *rng_state);

/* ---- diffusion (continuous images) -------------------------------------
 * DDPM with the cosine schedule of Nichol & Dhariwal (2021) over
 * MOM_DIFFUSION_STEPS steps: beta_t = min(1 - f(t+1)/f(t), 0.999),
 * f(t) = cos(((t / 1000) + 0.008) / 1.008 * pi/2)^2, alpha_bar_t =
 * prod_{s <= t} (1 - beta_s). Training draws one t per image (uniform) and
 * x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps; the model
 * predicts eps. */
#define MOM_DIFFUSION_STEPS 1000
/* alpha_bar_t for t in [0, MOM_DIFFUSION_STEPS); 1 for t < 0 (clean). */
MOM_API double mom_diffusion_alpha_bar(int t);
/* The timestep's sinusoidal features: out[i] = sin(t w_i), out[dim/2 + i] =
 * cos(t w_i), w_i = 10000^(-i / (dim/2)), i < dim/2. MOM_ERR_INVALID_ARG
 * (out untouched) when out is NULL or dim is not even and >= 2. */
MOM_API mom_status mom_diffusion_time_features(int t, int dim, float *out);
/* One deterministic DDIM step (eta 0) of n values: x holds x_t and becomes
 * x_t_prev, given the predicted noise eps; t_prev -1 gives x_0. clip > 0:
 * the predicted x_0 is clamped to [-clip, clip] and the noise re-derived
 * from it (images live in [-1, 1]; at t near 999 dividing by
 * sqrt(alpha_bar) ~ 0.001 would blow any error up). Timesteps past either
 * end are clamped (mom_diffusion_alpha_bar). MOM_ERR_INVALID_ARG when x or
 * eps is NULL and n > 0. */
MOM_API mom_status mom_ddim_step(size_t n, float *x, const float *eps, int t, int t_prev, float clip);

/* ---- datasets --------------------------------------------------------
 * A dataset keeps the context it was opened with and records its failures
 * there (mom_ctx_last_error), naming the file and the bad value: destroy
 * it before that context. A call given no dataset (NULL) has no context
 * to hold a message and just returns MOM_ERR_INVALID_ARG. */
MOM_API mom_status mom_dataset_open(mom_ctx *ctx, const char *path, mom_dataset **out);
MOM_API void mom_dataset_destroy(mom_dataset **d);
/* The old name of mom_dataset_destroy, kept for one release. */
MOM_API MOM_DEPRECATED("use mom_dataset_destroy") void mom_dataset_close(mom_dataset **d);
MOM_API int64_t mom_dataset_n_tokens(const mom_dataset *d);
MOM_API int mom_dataset_n_modalities(const mom_dataset *d);
MOM_API int64_t mom_dataset_vocab_size(const mom_dataset *d);
MOM_API int64_t mom_dataset_n_docs(const mom_dataset *d);
/* The vocabulary layout recorded in the file (all zero when none; also
 * all zero, with MOM_ERR_INVALID_ARG, for a NULL dataset). */
MOM_API mom_status mom_dataset_vocab_layout(const mom_dataset *d, mom_vocab_layout *out);
/* The patch geometry recorded in the file (all zero: no continuous
 * images; also for a NULL dataset, with MOM_ERR_INVALID_ARG), and its
 * number of patch positions (each has one row of mom_patch_dim floats). */
MOM_API mom_status mom_dataset_patch_geometry(const mom_dataset *d, mom_patch_geometry *out);
MOM_API int64_t mom_dataset_n_patches(const mom_dataset *d);
MOM_API const int32_t *mom_dataset_tokens(const mom_dataset *d);
MOM_API const uint8_t *mom_dataset_modalities(const mom_dataset *d);
/* Checks that the dataset fits the model (vocab, modalities). */
MOM_API mom_status mom_dataset_check(mom_model *m, const mom_dataset *d);

/* Fills a batch from the window starting at token `start` of each row:
 * row b covers tokens [starts[b], starts[b] + T + 1); inputs are the first T,
 * targets the last T. Buffers are the caller's, each of B*T. */
MOM_API mom_status mom_dataset_fill_batch(const mom_dataset *d, int B, int T, const int64_t *starts,
                                  int32_t *tokens, uint8_t *modality, int32_t *targets,
                                  uint8_t *target_modality);
/* The patch vectors of the same windows' inputs: patches [B*T, patch_dim],
 * row b*T + t the patch of input position starts[b] + t, zeros where that
 * position is not a patch (a window that cuts an image holds the patches
 * of the part inside it). MOM_ERR_INVALID_ARG for a file without patches
 * or a window fill_batch refuses. O(B*T) a call: open builds an index of
 * n_tokens / 8 bytes. */
MOM_API mom_status mom_dataset_fill_patches(const mom_dataset *d, int B, int T, const int64_t *starts, float *patches);

/* Held-out loss over the whole dataset in consecutive (B, T) windows. */
MOM_API mom_status mom_model_evaluate(mom_model *m, const mom_dataset *d, int B, int T, int64_t max_batches,
                              mom_losses *out);

/* Builds a dataset file from JSON lines, one document a line:
 * {"segments": [{"modality": 0, "tokens": [5, 17]}, ...]}, concatenated in
 * file order. vocab_size / n_modalities 0: the smallest that hold the data.
 * With a patch geometry (NULL or all zero: none), a segment may be
 * {"modality": 1, "patches": [[...], ...]}: each patch (patch_dim finite
 * numbers) one patch position; BOI and EOI around an image are the user's
 * own token segments, and the image rule of mom_dataset_write holds.
 * Written to a temporary file, fsynced, renamed. */
MOM_API mom_status mom_dataset_import_jsonl(mom_ctx *ctx, const char *jsonl_path, const char *out_path,
                                    int vocab_size, int n_modalities, const mom_patch_geometry *geom);
/* Writes a dataset file from arrays. doc_starts: n_docs + 1 ascending
 * offsets, the first 0 and the last n_tokens (NULL with n_docs <= 1: one
 * document); mods NULL: every token modality 0. layout NULL: none; else
 * it must sum to vocab_size and every token's modality must be its
 * range's (but a patch position's). geom NULL (or all zero): no patches,
 * and patches must be NULL; else every position with token MOM_TOK_PAD
 * and modality MOM_MOD_IMAGE is a patch position, patches holds one row of
 * mom_patch_dim(geom) floats for each, in token order, every value finite,
 * and each maximal run of them is one image: BOI before it, EOI after it
 * in the same document, mom_patches_per_image(geom) long. A broken rule is
 * an error naming the token offset; nothing is written. */
MOM_API mom_status mom_dataset_write(mom_ctx *ctx, const char *path, const int32_t *tokens, const uint8_t *mods,
                             int64_t n_tokens, const int64_t *doc_starts, int64_t n_docs,
                             int vocab_size, int n_modalities, const mom_vocab_layout *layout,
                             const float *patches, const mom_patch_geometry *geom);

/* ---- inference --------------------------------------------------------
 * A Mamba layer's state has one size however long the sequence: per layer
 * the conv's last d_conv - 1 inputs (d_inner x (d_conv - 1)) and the SSM
 * state (d_inner x d_state). A mom_state holds it for n_seq independent
 * sequences of one model. Prefill feeds a prompt of any length through
 * the chunked scan; step feeds one token to every sequence at once, each
 * with its own modality. Both give what one forward over the whole
 * sequence gives (mom_model_logits). A state belongs to its model: destroy
 * it first. Bad input (an id out of range, max_tokens passed) is refused
 * before anything runs, and the state is as it was. A failure inside the
 * backend part-way leaves the sequences half fed: the state then refuses
 * to run (MOM_ERR_BACKEND) until mom_state_reset or a copy into it. */
typedef struct mom_state mom_state;

typedef struct mom_state_settings {
    int n_seq;          /* sequences, default 1 */
    int64_t max_tokens; /* tokens a sequence may hold, 0 (default) = no limit */
    void *memory;       /* NULL (default): allocated; else the caller's, 64-byte
                           aligned, mom_state_bytes() long (CPU backend only;
                           the handle itself, under 100 bytes plus 8 a
                           sequence, is still malloc'd) */
    size_t memory_bytes;
    uint64_t reserved[8]; /* zero (see the top of this header) */
} mom_state_settings;

MOM_API void mom_state_default_settings(mom_state_settings *s);
/* The bytes a state of n_seq sequences holds (0 for bad arguments). */
MOM_API size_t mom_state_bytes(const mom_model *m, int n_seq);
MOM_API mom_status mom_state_create(mom_model *m, const mom_state_settings *s, mom_state **out);
MOM_API void mom_state_destroy(mom_state **st);
MOM_API int mom_state_n_seq(const mom_state *st);
/* Tokens sequence seq has been fed since it was empty (-1: no such seq). */
MOM_API int64_t mom_state_length(const mom_state *st, int seq);
/* Sequence seq (or every one, seq < 0) back to empty. */
MOM_API mom_status mom_state_reset(mom_state *st, int seq);
/* Sequence dst_seq of dst becomes sequence src_seq of src (a snapshot, a
 * restore, or a branch); seq -1 on both: every sequence (equal n_seq).
 * Both of one model. */
MOM_API mom_status mom_state_copy(mom_state *dst, int dst_seq, const mom_state *src, int src_seq);
/* Feeds sequences seq0 .. seq0 + n_seq - 1 T tokens each (row i of tokens
 * and modality, [n_seq * T], is sequence seq0 + i), continuing from their
 * state. logits (may be NULL): [n_seq, vocab_size], after each one's last
 * token. Long prompts run in pieces, so memory stays bounded. */
MOM_API mom_status mom_state_prefill(mom_state *st, int seq0, int n_seq, int T, const int32_t *tokens,
                             const uint8_t *modality, float *logits);
/* One token for each of the state's sequences ([n_seq] each); logits
 * [n_seq, vocab_size]. */
MOM_API mom_status mom_state_step(mom_state *st, const int32_t *tokens, const uint8_t *modality, float *logits);
/* Continuous images: feeds sequence seq n image positions whose patches
 * are x_t [n, patch_dim] at diffusion timestep t (0..999), and returns the
 * noise the model predicts for each, eps [n, patch_dim]. The state moves
 * on as prefill's does: to denoise, snapshot the state after BOI and
 * restore it before each step (mom_generate does). */
MOM_API mom_status mom_state_prefill_patches(mom_state *st, int seq, int n, const float *x_t, int t, float *eps);
/* Continuous images: draws an image for sequence seq, which has just been
 * fed BOI: Gaussian noise (from seed) through `steps` DDIM steps (eta 0)
 * from t = 999 down to 0, each fed from a snapshot of the state at BOI, so
 * the prompt is not run again. Then the state holds the prompt, BOI and
 * the image (fed clean, t = 0), ready for EOI. pixels: image_size^2 x
 * channels in [0, 1]. */
MOM_API mom_status mom_state_generate_image(mom_state *st, int seq, int steps, uint64_t seed, float *pixels);
/* The logits after every position of B rows of T tokens, each row from an
 * empty state: [B, T, vocab_size]. One forward, as in training. */
MOM_API mom_status mom_model_logits(mom_model *m, int B, int T, const int32_t *tokens, const uint8_t *modality,
                            float *logits);

/* ---- sampling -----------------------------------------------------------
 * Draws next tokens from logits. With a vocabulary layout it keeps the
 * modalities well formed: after BOI only image codes, image_tokens of them,
 * then EOI; after BOSP only speech units (and, after the first, EOSP), at
 * most speech_tokens, then EOSP; outside those, text, BOI, BOSP and EOS
 * (no stray codes). With continuous images the caller makes an image's
 * patches (by diffusion) and the sampler offers only EOI inside one. Each sequence has its own random stream: the same seed
 * gives the same tokens, whatever else is in the batch. */
typedef struct mom_sampling {
    float temperature; /* default 1; 0: greedy (the most likely token) */
    int top_k;         /* keep the k most likely; 0 (default): all */
    float top_p;       /* then keep the fewest most likely whose share of what
                          top-k kept reaches p; 1 (default): all */
    uint64_t seed;     /* default 0 */
    int image_tokens;  /* codes per image (the codebook's); 0: EOI may come any time */
    int speech_tokens; /* most units per recording, default 500 */
    uint64_t reserved[8]; /* zero (see the top of this header) */
} mom_sampling;

typedef struct mom_sampler mom_sampler;
MOM_API void mom_sampling_default(mom_sampling *s);
MOM_API mom_status mom_sampler_create(const mom_model *m, const mom_sampling *s, int n_seq, mom_sampler **out);
MOM_API void mom_sampler_destroy(mom_sampler **sp);
/* Tells the sampler that seq's sequence goes on with token (a prompt's
 * tokens, or a sampled one), so it knows which modality comes next. */
MOM_API mom_status mom_sampler_accept(mom_sampler *sp, int seq, int32_t token);
/* Draws seq's next token from logits [vocab_size] (not accepted yet; its
 * modality, to feed it back, is mom_vocab_layout_modality's). */
MOM_API mom_status mom_sampler_sample(mom_sampler *sp, int seq, const float *logits, int32_t *token);

/* ---- benchmarks ------------------------------------------------------- */
/* Receives one JSON object (one line, no newline) per measurement. */
typedef void (*mom_bench_emit)(const char *json, void *user);

/* Times every CPU kernel of a training step, the scalar reference and the
 * path this context runs (e.g. AVX-512), on the shapes of cfg at batch B x
 * seq T. Each line: name, shape, path, seconds (best of the repeats),
 * throughput and its unit, and max_err: the largest difference from the
 * scalar output relative to the largest scalar magnitude. */
MOM_API mom_status mom_bench_kernels(mom_ctx *ctx, const mom_config *cfg, int B, int T, mom_bench_emit emit, void *user);

/* Device backends: time every op on the device (GPU timestamps) from now
 * on, totals cleared (enable 1), or stop (0). MOM_ERR_UNSUPPORTED on the
 * CPU backend (whose kernels mom_bench_kernels times). */
MOM_API mom_status mom_ctx_profile(mom_ctx *ctx, int enable);
/* One JSON line per shader timed since profiling began: name "device_op",
 * shader, calls, seconds (total) and seconds_per_call. */
MOM_API mom_status mom_ctx_profile_emit(mom_ctx *ctx, mom_bench_emit emit, void *user);

/* The best fp32 GFLOP/s the context's matmul reaches on the forward
 * projection shapes of cfg with M = tokens rows (the peak an MFU is
 * measured against). shape gets e.g. "M 4096 N 1024 K 256". */
MOM_API mom_status mom_bench_matmul_peak(mom_ctx *ctx, const mom_config *cfg, int tokens, double *gflops, char *shape,
                                 size_t shape_cap);

#ifdef __cplusplus
}
#endif
#endif
