/* Prints the size and every field's offset of each public struct of mom.h
 * as one JSON object: {"mom_config": {"size": 160, "fields": {"n_modalities":
 * 0, ...}}, ...}. The python suite holds the ctypes Structures of
 * python/libmom/_lib.py to it, and this file's field lists to the header's. */
#include <stddef.h>
#include <stdio.h>

#include <mom.h>

static int first_struct = 1, first_field;

static void open_struct(const char *name, size_t size)
{
    printf("%s\"%s\": {\"size\": %zu, \"fields\": {", first_struct ? "" : ", ", name, size);
    first_struct = 0;
    first_field = 1;
}

static void field(const char *name, size_t offset)
{
    printf("%s\"%s\": %zu", first_field ? "" : ", ", name, offset);
    first_field = 0;
}

static void close_struct(void) { printf("}}"); }

#define STRUCT(s) open_struct(#s, sizeof(s))
#define FIELD(s, f) field(#f, offsetof(s, f))

int main(void)
{
    printf("{");
    STRUCT(mom_vocab_layout);
    FIELD(mom_vocab_layout, n_special); FIELD(mom_vocab_layout, n_text);
    FIELD(mom_vocab_layout, n_image); FIELD(mom_vocab_layout, n_speech);
    close_struct();

    STRUCT(mom_patch_geometry);
    FIELD(mom_patch_geometry, patch_size); FIELD(mom_patch_geometry, image_size);
    FIELD(mom_patch_geometry, channels);
    close_struct();

    STRUCT(mom_config);
    FIELD(mom_config, n_modalities); FIELD(mom_config, vocab_size); FIELD(mom_config, d_model);
    FIELD(mom_config, n_layer); FIELD(mom_config, d_state); FIELD(mom_config, d_conv);
    FIELD(mom_config, expand); FIELD(mom_config, dt_rank); FIELD(mom_config, decouple);
    FIELD(mom_config, tie_embeddings); FIELD(mom_config, norm_eps); FIELD(mom_config, vocab_layout);
    FIELD(mom_config, patches); FIELD(mom_config, time_dim); FIELD(mom_config, diffusion_weight);
    FIELD(mom_config, reserved);
    close_struct();

    STRUCT(mom_ctx_settings);
    FIELD(mom_ctx_settings, n_threads); FIELD(mom_ctx_settings, cpu); FIELD(mom_ctx_settings, matmul_bf16);
    FIELD(mom_ctx_settings, backend); FIELD(mom_ctx_settings, device); FIELD(mom_ctx_settings, allow_software);
    FIELD(mom_ctx_settings, reserved);
    close_struct();

    STRUCT(mom_model_info);
    FIELD(mom_model_info, n_params); FIELD(mom_model_info, n_params_active);
    FIELD(mom_model_info, train_flops_per_token); FIELD(mom_model_info, train_matmul_flops_per_token);
    FIELD(mom_model_info, d_inner); FIELD(mom_model_info, dt_rank); FIELD(mom_model_info, reserved);
    close_struct();

    STRUCT(mom_batch);
    FIELD(mom_batch, B); FIELD(mom_batch, T); FIELD(mom_batch, tokens); FIELD(mom_batch, modality);
    FIELD(mom_batch, targets); FIELD(mom_batch, target_modality); FIELD(mom_batch, patches);
    FIELD(mom_batch, noise_seed); FIELD(mom_batch, low_t_fraction); FIELD(mom_batch, reserved);
    close_struct();

    STRUCT(mom_losses);
    FIELD(mom_losses, loss); FIELD(mom_losses, by_modality); FIELD(mom_losses, count);
    FIELD(mom_losses, n_targets); FIELD(mom_losses, reserved);
    close_struct();

    STRUCT(mom_optim_settings);
    FIELD(mom_optim_settings, lr); FIELD(mom_optim_settings, beta1); FIELD(mom_optim_settings, beta2);
    FIELD(mom_optim_settings, eps); FIELD(mom_optim_settings, weight_decay); FIELD(mom_optim_settings, clip_norm);
    FIELD(mom_optim_settings, warmup_steps); FIELD(mom_optim_settings, total_steps);
    FIELD(mom_optim_settings, min_lr_ratio); FIELD(mom_optim_settings, reserved);
    close_struct();

    STRUCT(mom_state_settings);
    FIELD(mom_state_settings, n_seq); FIELD(mom_state_settings, max_tokens); FIELD(mom_state_settings, memory);
    FIELD(mom_state_settings, memory_bytes); FIELD(mom_state_settings, reserved);
    close_struct();

    STRUCT(mom_sampling);
    FIELD(mom_sampling, temperature); FIELD(mom_sampling, top_k); FIELD(mom_sampling, top_p);
    FIELD(mom_sampling, seed); FIELD(mom_sampling, image_tokens); FIELD(mom_sampling, speech_tokens);
    FIELD(mom_sampling, reserved);
    close_struct();
    printf("}\n");
    return 0;
}
