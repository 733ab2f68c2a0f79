/* mom convert: a dense Mamba-1 checkpoint of mamba_ssm or transformers as a
 * libmom model. The library reads and checks it (mom_model_load_pretrained);
 * the write goes through a temporary file and a rename, so a refused
 * conversion leaves nothing at --out. */
#include "args.h"
#include "common.h"

int cmd_convert(int argc, char **argv)
{
    const char *from = NULL, *out = NULL;
    arg_opt o[] = {
        {"--from", ARG_STR, &from, "PATH",
         "folder with config.json and model.safetensors (or a sharded model.safetensors.index.json), or one "
         ".safetensors file or index with config.json beside it",
         0},
        {"--out", ARG_STR, &out, "MODEL.safetensors", "where to write the libmom model", 0},
    };
    int r = args_parse("convert",
                       "Converts a dense Mamba-1 checkpoint (mamba_ssm's MambaLMHeadModel or transformers'\n"
                       "MambaForCausalLM; F32, F16 or BF16) into a one-modality libmom model in fp32.",
                       o, 2, argc, argv, 2);
    if (r) return r > 0 ? 0 : 2;
    if (!from || !out) {
        fprintf(stderr, "mom convert: --from and --out are required\n");
        return 2;
    }
    mom_ctx *ctx = tool_ctx("convert", 0, NULL);
    if (!ctx) return 1;
    mom_model *m = NULL;
    mom_status s = mom_model_load_pretrained(ctx, from, &m);
    if (!s) s = mom_model_save(m, out);
    int rc = s ? tool_error("convert", ctx, s) : 0;
    if (!s) {
        const mom_config *c = mom_model_config(m);
        mom_model_info info;
        mom_model_get_info(m, &info);
        printf("{\"out\": \"%s\", \"n_params\": %lld, \"vocab_size\": %d, \"d_model\": %d, \"n_layer\": %d}\n", out,
               (long long)info.n_params, c->vocab_size, c->d_model, c->n_layer);
    }
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
    return rc;
}
