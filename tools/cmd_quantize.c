/* mom quantize: a model's projections (each modality's copy), LM head and
 * tied embedding as int8 or 4-bit weights with fp32 scales, for
 * inference (mom_model_quantize). The write goes through a temporary file
 * and a rename, so a refused one leaves nothing at --out. */
#include <string.h>

#include "args.h"
#include "common.h"

int cmd_quantize(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *format = NULL;
    arg_opt o[] = {
        {"--model", ARG_STR, &model, "MODEL.safetensors", "the fp32 model", 0},
        {"--out", ARG_STR, &out, "Q.safetensors", "where to write the quantized model", 0},
        {"--format", ARG_STR, &format, "q8|q4",
         "q8: int8, one scale per output row; q4: 4 bits, one scale per 32 inputs", 0},
    };
    enum { N_OPTS = sizeof(o) / sizeof(o[0]) };
    int r = args_parse("quantize",
                       "Quantizes a model for inference: each modality's copy of every projection, the LM head\n"
                       "and the embedding when tied to it; A_log, D, the conv, the norms and the dt bias stay fp32.\n"
                       "mom generate, eval, info and bench generate take the result; training refuses it.",
                       o, N_OPTS, argc, argv, 2);
    if (r) return r > 0 ? 0 : 2;
    if (!model || !out || !format) {
        fprintf(stderr, "mom quantize: --model, --out and --format are required\n");
        return 2;
    }
    const int f = !strcmp(format, "q8") ? MOM_WEIGHTS_Q8 : !strcmp(format, "q4") ? MOM_WEIGHTS_Q4 : -1;
    if (f < 0) {
        fprintf(stderr, "mom quantize: --format %s: expected q8 or q4\n", format);
        return 2;
    }
    mom_ctx *ctx = tool_ctx("quantize", 0, NULL);
    if (!ctx) return 1;
    mom_model *m = NULL, *q = NULL;
    mom_status s = mom_model_load(ctx, model, &m);
    if (!s) s = mom_model_quantize(m, f, &q);
    if (!s) s = mom_model_save(q, out);
    const int rc = s ? tool_error("quantize", ctx, s) : 0;
    if (!s) printf("{\"out\": \"%s\", \"format\": \"%s\"}\n", out, format);
    mom_model_destroy(&q);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
    return rc;
}
