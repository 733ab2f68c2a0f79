/* The built-in default dataset: a multimodal token task with learnable
 * structure in every modality, written as ordinary dataset files. */
#ifndef MOM_TOOLS_DEFAULT_DATA_H
#define MOM_TOOLS_DEFAULT_DATA_H

#include <stdint.h>

#include "mom.h"

#define DEFAULT_DATA_VOCAB 1024
#define DEFAULT_DATA_MODALITIES 3

extern const char *const default_modality_names[DEFAULT_DATA_MODALITIES];

/* Writes n_tokens of documents to path (deterministic in seed). */
mom_status default_data_write(mom_ctx *ctx, const char *path, int64_t n_tokens, uint64_t seed);

#endif
