/* mom export: a libmom model as the folder that mamba_ssm or transformers
 * loads (mom_model_export does the work and all the checks). */
#include "args.h"
#include "common.h"

int cmd_export(int argc, char **argv)
{
    const char *model = NULL, *format = NULL, *out = NULL;
    int modality = -1;
    arg_opt o[] = {
        {"--model", ARG_STR, &model, "MODEL.safetensors", "the libmom model", 0},
        {"--format", ARG_STR, &format, "hf|mamba_ssm", "transformers' MambaForCausalLM or mamba_ssm's MambaLMHeadModel", 0},
        {"--out", ARG_STR, &out, "DIR", "the folder to write config.json and model.safetensors into (created if missing)", 0},
        {"--modality", ARG_INT, &modality, "K",
         "export the dense model modality K's weights make (needed for a Mixture-of-Mamba)", 0},
    };
    int r = args_parse("export",
                       "Writes a model as a dense Mamba-1 checkpoint that mamba_ssm or transformers loads strictly\n"
                       "(F32; mom convert reads it back bit for bit).",
                       o, 4, argc, argv, 2);
    if (r) return r > 0 ? 0 : 2;
    if (!model || !format || !out) {
        fprintf(stderr, "mom export: --model, --format and --out are required\n");
        return 2;
    }
    if (args_seen(o, 4, "--modality") && modality < 0) {
        fprintf(stderr, "mom export: --modality %d: a modality is >= 0\n", modality);
        return 2;
    }
    mom_ctx *ctx = tool_ctx("export", 0, NULL);
    if (!ctx) return 1;
    mom_model *m = NULL;
    mom_status s = mom_model_load(ctx, model, &m);
    if (!s) s = mom_model_export(m, format, modality, out);
    int rc = s ? tool_error("export", ctx, s) : 0;
    if (!s) printf("{\"out\": \"%s\", \"format\": \"%s\", \"modality\": %d}\n", out, format, modality);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
    return rc;
}
