/* Data preparation: the discrete tokenizers behind `mom data`. Images and
 * audio become token ids through codebooks trained by k-means; the ids are
 * codebook indices 0..codes-1, which the importer (mom_dataset_import)
 * places in the unified vocabulary (see mom_vocab_layout in mom.h).
 *
 * Images use stb_image (PNG, PGM/PPM, JPEG, BMP) and audio libsndfile +
 * libsamplerate + FFTW; a build without them returns MOM_ERR_UNSUPPORTED
 * with a message naming the missing library (for images only reading and
 * writing image files: codebooks, encoding and decoding work without stb). Every call reports a bad file
 * with its path in mom_ctx_last_error(). */
#ifndef MOM_DATA_H
#define MOM_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "mom.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- images: Chameleon-style vector quantisation of p x p patches ------
 * An image is resized to size x size (bilinear; gray or RGB as the codebook
 * says), cut into (size/p)^2 patches in raster order, and each patch
 * replaced by its nearest code. Pixels are floats in [0, 1], row-major,
 * channels interleaved. */
typedef struct mom_vq mom_vq;

/* Loads one image file resized to size x size with `channels` (1 or 3).
 * A file of more than 2^24 pixels (4096 x 4096) is refused. */
MOM_API mom_status mom_image_load(mom_ctx *ctx, const char *path, int size, int channels, float *pixels);
/* Trains a codebook on every patch of the images. size must be a multiple
 * of patch; codes 2..65536. */
MOM_API mom_status mom_vq_train(mom_ctx *ctx, const char *const *paths, size_t n_paths, int size, int patch,
                        int channels, int codes, int iters, uint64_t seed, mom_vq **out);
/* A codebook is a safetensors file: "codes" [codes, patch*patch*channels]
 * F32, and its size, patch and channels in the metadata. Written crash-safe. */
MOM_API mom_status mom_vq_save(mom_ctx *ctx, const mom_vq *vq, const char *path);
MOM_API mom_status mom_vq_load(mom_ctx *ctx, const char *path, mom_vq **out);
MOM_API void mom_vq_destroy(mom_vq **vq);
/* The old name of mom_vq_destroy, until the next release. */
MOM_API MOM_DEPRECATED("use mom_vq_destroy") void mom_vq_free(mom_vq **vq);
MOM_API int mom_vq_codes(const mom_vq *vq);
MOM_API int mom_vq_tokens_per_image(const mom_vq *vq); /* (size / patch)^2 */
MOM_API int mom_vq_image_size(const mom_vq *vq);
MOM_API int mom_vq_channels(const mom_vq *vq);
/* pixels (size*size*channels) -> tokens_per_image codes. */
MOM_API mom_status mom_vq_encode(mom_ctx *ctx, const mom_vq *vq, const float *pixels, int32_t *codes);
/* An image as a prompt segment of the unified vocabulary: BOI, its codes
 * (offset past the special and text tokens), EOI: tokens_per_image + 2
 * ids into tokens, their modalities into modality. The pixels must be the
 * codebook's grid exactly (width = height = image_size, its channels),
 * and the layout's image part the codebook's size; else an error naming
 * both (mom_image_load resizes a file to the grid). */
MOM_API mom_status mom_vq_image_tokens(mom_ctx *ctx, const mom_vq *vq, const mom_vocab_layout *layout, const float *pixels,
                               int width, int height, int channels, int32_t *tokens, uint8_t *modality);
/* codes -> pixels; each code must be in [0, codes). */
MOM_API mom_status mom_vq_decode(mom_ctx *ctx, const mom_vq *vq, const int32_t *codes, float *pixels);
/* Writes size x size pixels as a PNG (crash-safe). */
MOM_API mom_status mom_image_write_png(mom_ctx *ctx, const char *path, int size, int channels, const float *pixels);

/* ---- images: continuous patches (the Transfusion setting) ---------------
 * The same p x p patches in the same order as the codebook's, but kept as
 * vectors: pixels (image_size, image_size, channels) in [0, 1] ->
 * patches [(image_size/p)^2, p*p*channels], each value 2x - 1, in
 * [-1, 1]. from_patches is the inverse, (x + 1) / 2 clamped to [0, 1]
 * (NaN: 0), for writing a sampled image. */
MOM_API mom_status mom_image_to_patches(mom_ctx *ctx, const mom_patch_geometry *g, const float *pixels, float *patches);
MOM_API mom_status mom_image_from_patches(mom_ctx *ctx, const mom_patch_geometry *g, const float *patches, float *pixels);

/* ---- audio: log-mel frames quantised to discrete speech units ----------
 * Any file libsndfile reads (WAV among them), mixed to mono, resampled to
 * 16 kHz; frames of 25 ms every 20 ms, 40 log-mel bands; each frame
 * normalised per band (mean and deviation of the training frames) and
 * replaced by its nearest unit; runs of one unit collapse to one token. */
typedef struct mom_units mom_units;

#define MOM_MEL_BANDS 40
/* frames: (n_frames, MOM_MEL_BANDS), malloc'd, the caller frees. A file
 * with no samples, or too short for one frame, is an error. */
MOM_API mom_status mom_audio_logmel(mom_ctx *ctx, const char *path, float **frames, size_t *n_frames);
MOM_API mom_status mom_units_train(mom_ctx *ctx, const char *const *paths, size_t n_paths, int codes, int iters,
                           uint64_t seed, mom_units **out);
/* safetensors: "codes" [codes, 40], "mean" [40], "std" [40] F32. */
MOM_API mom_status mom_units_save(mom_ctx *ctx, const mom_units *u, const char *path);
MOM_API mom_status mom_units_load(mom_ctx *ctx, const char *path, mom_units **out);
MOM_API void mom_units_destroy(mom_units **u);
/* The old name of mom_units_destroy, until the next release. */
MOM_API MOM_DEPRECATED("use mom_units_destroy") void mom_units_free(mom_units **u);
MOM_API int mom_units_codes(const mom_units *u);
/* The file's units, consecutive repeats collapsed; *units malloc'd. */
MOM_API mom_status mom_units_encode_file(mom_ctx *ctx, const mom_units *u, const char *path, int32_t **units,
                                 size_t *n_units);
/* Speech from units: each unit's log-mel spectrum (the codebook,
 * de-normalised) is held for frames_per_unit frames (0 = 2), mapped back to
 * a linear spectrum and given a phase by Griffin-Lim, and written as 16 kHz
 * mono 16-bit PCM WAV (crash-safe: a temporary file, fsynced, renamed).
 * Every unit must be in [0, codes). */
MOM_API mom_status mom_units_write_wav(mom_ctx *ctx, const mom_units *u, const int32_t *units, size_t n_units,
                               int frames_per_unit, const char *path);

/* ---- building a dataset --------------------------------------------------
 * A manifest is JSON lines, one document a line:
 *   {"segments": [{"text": "a handwritten seven"}, {"image": "img/7.png"},
 *                 {"audio": "wav/7.wav"}, {"text_file": "notes.txt"}]}
 * Paths are relative to the manifest's folder. The file written uses the
 * unified vocabulary: MOM_N_SPECIAL special tokens, 256 byte-level text
 * tokens (UTF-8 checked), vq's codes (if given), units' codes (if given).
 * A document is BOS, its segments, EOS; an image is BOI codes EOI and a
 * recording BOSP units EOSP. An image or audio segment needs its codebook.
 * With a patch geometry instead of vq (patches not NULL or all zero; both
 * is an error), an image is continuous: resized to image_size x
 * image_size with its channels (1 or 3), it becomes BOI, one patch
 * position (MOM_TOK_PAD, image modality) per patch, EOI, and the file
 * holds the patch vectors (mom_image_to_patches); the layout then has no
 * image codes but the file 2 modalities (3 with speech).
 * Nothing is written unless every document imports. */
#define MOM_TEXT_BYTES 256
MOM_API mom_status mom_dataset_import_manifest(mom_ctx *ctx, const char *manifest_path, const char *out_path,
                                       const mom_vq *vq, const mom_units *units, const mom_patch_geometry *patches);
/* The layout such a file gets (MOM_ERR_INVALID_ARG when out is NULL). */
MOM_API mom_status mom_import_layout(const mom_vq *vq, const mom_units *units, mom_vocab_layout *out);

#ifdef __cplusplus
}
#endif
#endif
