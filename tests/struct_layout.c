/* Prints the size and every field's offset of each public struct of mom.h
 * as one JSON object: {"mom_config": {"size": 160, "fields": {"n_modalities":
 * 0, ...}}, ...}. The python suite holds the ctypes Structures of
 * python/libmom/_lib.py to it, and this table's fields to the header's. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <mom.h>

typedef struct row {
    const char *type, *field;
    size_t size, offset;
} row;

#define F(s, f) {#s, #f, sizeof(s), offsetof(s, f)}

/* Each struct's fields in declaration order, the structs one after another. */
static const row rows[] = {
    F(mom_vocab_layout, n_special), F(mom_vocab_layout, n_text), F(mom_vocab_layout, n_image),
    F(mom_vocab_layout, n_speech), F(mom_vocab_layout, text_first), F(mom_vocab_layout, special_id),
    F(mom_patch_geometry, patch_size), F(mom_patch_geometry, image_size), F(mom_patch_geometry, channels),
    F(mom_config, n_modalities), F(mom_config, vocab_size), F(mom_config, d_model), F(mom_config, n_layer),
    F(mom_config, d_state), F(mom_config, d_conv), F(mom_config, expand), F(mom_config, dt_rank),
    F(mom_config, decouple), F(mom_config, tie_embeddings), F(mom_config, norm_eps), F(mom_config, vocab_layout),
    F(mom_config, patches), F(mom_config, time_dim), F(mom_config, diffusion_weight), F(mom_config, weight_format),
    F(mom_config, reserved_int), F(mom_config, reserved),
    F(mom_ctx_settings, n_threads), F(mom_ctx_settings, cpu), F(mom_ctx_settings, matmul_bf16),
    F(mom_ctx_settings, backend), F(mom_ctx_settings, device), F(mom_ctx_settings, allow_software),
    F(mom_ctx_settings, reserved),
    F(mom_model_info, n_params), F(mom_model_info, n_params_active), F(mom_model_info, train_flops_per_token),
    F(mom_model_info, train_matmul_flops_per_token), F(mom_model_info, d_inner), F(mom_model_info, dt_rank),
    F(mom_model_info, reserved),
    F(mom_batch, B), F(mom_batch, T), F(mom_batch, tokens), F(mom_batch, modality), F(mom_batch, targets),
    F(mom_batch, target_modality), F(mom_batch, patches), F(mom_batch, noise_seed), F(mom_batch, low_t_fraction),
    F(mom_batch, reserved),
    F(mom_losses, loss), F(mom_losses, by_modality), F(mom_losses, count), F(mom_losses, n_targets),
    F(mom_losses, reserved),
    F(mom_optim_settings, lr), F(mom_optim_settings, beta1), F(mom_optim_settings, beta2), F(mom_optim_settings, eps),
    F(mom_optim_settings, weight_decay), F(mom_optim_settings, clip_norm), F(mom_optim_settings, warmup_steps),
    F(mom_optim_settings, total_steps), F(mom_optim_settings, min_lr_ratio), F(mom_optim_settings, reserved),
    F(mom_state_settings, n_seq), F(mom_state_settings, max_tokens), F(mom_state_settings, memory),
    F(mom_state_settings, memory_bytes), F(mom_state_settings, reserved),
    F(mom_sampling, temperature), F(mom_sampling, top_k), F(mom_sampling, top_p), F(mom_sampling, seed),
    F(mom_sampling, image_tokens), F(mom_sampling, speech_tokens), F(mom_sampling, reserved),
};

int main(void)
{
    const size_t n = sizeof(rows) / sizeof(rows[0]);
    printf("{");
    for (size_t i = 0; i < n; i++) {
        const int first = i == 0 || strcmp(rows[i].type, rows[i - 1].type) != 0;
        if (first) printf("%s\"%s\": {\"size\": %zu, \"fields\": {", i ? "}}, " : "", rows[i].type, rows[i].size);
        printf("%s\"%s\": %zu", first ? "" : ", ", rows[i].field, rows[i].offset);
    }
    printf("}}}\n");
    return 0;
}
