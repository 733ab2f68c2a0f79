/* Dense Mamba-1 checkpoints of the two libraries people hold them in:
 * mamba_ssm's MambaLMHeadModel and transformers' MambaForCausalLM. Their
 * config.json becomes a mom_config (pretrained_config.c); their tensors,
 * read from one safetensors file or a sharded index, become a libmom
 * model (pretrained_load.c). Internal. */
#ifndef MOM_PRETRAINED_H
#define MOM_PRETRAINED_H

#include <stddef.h>

#include "mom.h"

typedef enum { PRETRAINED_MAMBA_SSM, PRETRAINED_HF } pretrained_layout;

/* The embedding's name, which is all that tells the two layouts' tensors
 * apart: "backbone.embedding.weight" or "backbone.embeddings.weight". */
const char *pretrained_embedding_name(pretrained_layout layout);
/* The checkpoint's name of a dense libmom tensor (embedding.weight ->
 * backbone.embedding(s).weight, layers.N.* -> backbone.layers.N.*). */
void pretrained_tensor_name(pretrained_layout layout, const char *name, char *out, size_t cap);

struct json_value;
/* Reads and parses a whole JSON file into *out (json_free it); a parse
 * error is bad_json, naming the file and the offset. */
mom_status pretrained_read_json(mom_ctx *ctx, const char *path, mom_status bad_json, struct json_value **out);

/* Reads config.json (at path) of either library into cfg: one modality,
 * nothing decoupled, vocab_size the embedding's rows (mamba_ssm pads the
 * vocabulary to pad_vocab_size_multiple, transformers does not). A
 * feature libmom lacks (projection biases, LayerNorm, Mamba-2, an MLP or
 * attention layers) is MOM_ERR_UNSUPPORTED naming the field, its value
 * and what libmom would need. */
mom_status pretrained_config_load(mom_ctx *ctx, const char *path, mom_config *cfg, pretrained_layout *layout);

#endif
