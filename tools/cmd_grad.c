/* mom grad: loss and gradients on exactly one batch. Row b is dataset
 * tokens [b(T+1), (b+1)(T+1)): its first T are inputs, its last T targets. */
#include <stdlib.h>

#include "args.h"
#include "common.h"

int cmd_grad(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *out = NULL;
    int B = 1, T = 64, threads = 0;
    arg_opt o[] = {
        {"--model", ARG_STR, &model, "MODEL.safetensors", "the model", 0},
        {"--data", ARG_STR, &data, "DATA.bin", "the dataset", 0},
        {"--batch", ARG_INT, &B, "B", "rows (default 1)", 0},
        {"--seq", ARG_INT, &T, "T", "positions per row (default 64)", 0},
        {"--out", ARG_STR, &out, "GRADS.safetensors", "where to write the gradients (optional)", 0},
        {"--threads", ARG_INT, &threads, "N", "threads (default: all cores)", 0},
    };
    int r = args_parse("grad", "Loss and gradients on one batch: row b is tokens [b(T+1), (b+1)(T+1)).\n"
                       "Prints {\"loss\": ..., \"loss_by_modality\": [...]}; gradients keep the model's tensor names.",
                       o, 6, argc, argv, 2);
    if (r) return r > 0 ? 0 : 2;
    if (!model || !data) {
        fprintf(stderr, "mom grad: --model and --data are required\n");
        return 2;
    }
    if (B < 1 || T < 1 || (int64_t)B * T > (1 << 24)) {
        fprintf(stderr, "mom grad: --batch %d --seq %d: both must be >= 1 and B*T <= 16M\n", B, T);
        return 2;
    }
    mom_ctx *ctx = tool_ctx("grad", threads, NULL);
    if (!ctx) return 1;
    mom_model *m = NULL;
    mom_dataset *d = NULL;
    const size_t n = (size_t)B * T;
    int32_t *tok = malloc(n * 4), *tgt = malloc(n * 4);
    uint8_t *mod = malloc(n), *tmod = malloc(n);
    int64_t *starts = malloc(sizeof(int64_t) * (size_t)B);
    mom_status s = !tok || !tgt || !mod || !tmod || !starts ? MOM_ERR_NOMEM : MOM_OK;
    if (!s) s = mom_model_load(ctx, model, &m);
    if (!s) s = mom_dataset_open(ctx, data, &d);
    if (!s) s = mom_dataset_check(m, d);
    if (!s && mom_dataset_n_tokens(d) < (int64_t)B * (T + 1)) {
        fprintf(stderr, "mom grad: %s has %lld tokens; --batch %d --seq %d needs %lld\n", data,
                (long long)mom_dataset_n_tokens(d), B, T, (long long)B * (T + 1));
        s = MOM_ERR_DATA;
        goto done;
    }
    for (int b = 0; !s && b < B; b++) starts[b] = (int64_t)b * (T + 1);
    if (!s) s = mom_dataset_fill_batch(d, B, T, starts, tok, mod, tgt, tmod);
    /* Continuous images: the batch's patches, and a fixed noise (seed 1). */
    const int pd = s ? 0 : mom_patch_dim(&mom_model_config(m)->patches);
    float *patches = pd ? malloc(sizeof(float) * n * pd) : NULL;
    if (pd && !patches) s = MOM_ERR_NOMEM;
    if (!s && pd) s = mom_dataset_fill_patches(d, B, T, starts, patches);
    mom_losses l;
    if (!s) {
        mom_batch batch = {.B = B, .T = T, .tokens = tok, .modality = mod, .targets = tgt, .target_modality = tmod, .patches = patches, .noise_seed = 1, .low_t_fraction = 0.0f};
        s = mom_model_zero_grad(m);
        if (!s) s = mom_model_backward(m, &batch, 1.0f, &l);
    }
    if (!s && out) s = mom_model_save_grads(m, out);
    if (!s) {
        printf("{");
        print_losses(stdout, &l, mom_model_config(m)->n_modalities);
        printf("}\n");
    } else {
        tool_error("grad", ctx, s);
    }
    free(patches);
done:
    free(tok); free(tgt); free(mod); free(tmod); free(starts);
    mom_dataset_destroy(&d);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
    return s ? 1 : 0;
}
