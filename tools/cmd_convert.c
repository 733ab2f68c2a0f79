/* mom convert: a dense Mamba-1 checkpoint of mamba_ssm or transformers as a
 * libmom model, optionally upcycled into a Mixture-of-Mamba. The library reads and checks it (mom_model_load_pretrained);
 * the write goes through a temporary file and a rename, so a refused
 * conversion leaves nothing at --out. */
#include <string.h>

#include "args.h"
#include "common.h"

/* "in,x,dt,out" (any of them, or "none") as MOM_DECOUPLE_* bits; -1 if bad. */
static int parse_decouple(const char *list)
{
    static const char *const names[4] = {"in", "x", "dt", "out"};
    if (!strcmp(list, "none")) return 0;
    int bits = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        int k = 0;
        while (k < 4 && (strlen(names[k]) != n || strncmp(p, names[k], n))) k++;
        if (k == 4) return -1;
        bits |= 1 << k;
        p += n + (p[n] == ',');
    }
    return bits ? bits : -1;
}

int cmd_convert(int argc, char **argv)
{
    const char *from = NULL, *out = NULL, *decouple = "in,x,dt,out";
    int upcycle = 0;
    arg_opt o[] = {
        {"--from", ARG_STR, &from, "PATH",
         "folder with config.json and model.safetensors (or a sharded model.safetensors.index.json), or one "
         ".safetensors file or index with config.json beside it",
         0},
        {"--out", ARG_STR, &out, "MODEL.safetensors", "where to write the libmom model", 0},
        {"--upcycle", ARG_INT, &upcycle, "N",
         "a Mixture-of-Mamba of N modalities whose every copy of a decoupled projection is the dense weight", 0},
        {"--decouple", ARG_STR, &decouple, "LIST", "with --upcycle: the projections each modality gets its own "
         "copy of, from in,x,dt,out, or none (default all four)", 0},
    };
    int r = args_parse("convert",
                       "Converts a dense Mamba-1 checkpoint (mamba_ssm's MambaLMHeadModel or transformers'\n"
                       "MambaForCausalLM; F32, F16 or BF16) into a one-modality libmom model in fp32.",
                       o, 4, argc, argv, 2);
    if (r) return r > 0 ? 0 : 2;
    if (!from || !out) {
        fprintf(stderr, "mom convert: --from and --out are required\n");
        return 2;
    }
    const int bits = parse_decouple(decouple);
    if (bits < 0 || (args_seen(o, 4, "--decouple") && !upcycle)) {
        fprintf(stderr, "mom convert: --decouple %s: %s\n", decouple,
                bits < 0 ? "a comma-separated list of in, x, dt, out, or none" : "goes with --upcycle N");
        return 2;
    }
    if (args_seen(o, 4, "--upcycle") && (upcycle < 1 || upcycle > MOM_MAX_MODALITIES)) {
        fprintf(stderr, "mom convert: --upcycle %d: the modalities must be 1..%d\n", upcycle, MOM_MAX_MODALITIES);
        return 2;
    }
    mom_ctx *ctx = tool_ctx("convert", 0, NULL);
    if (!ctx) return 1;
    mom_model *m = NULL;
    mom_status s = mom_model_load_pretrained(ctx, from, &m);
    if (!s && upcycle) {
        mom_model *dense = m;
        s = mom_model_upcycle(dense, upcycle, (unsigned)bits, &m);
        mom_model_destroy(&dense);
    }
    if (!s) s = mom_model_save(m, out);
    mom_model_info info;
    if (!s) s = mom_model_get_info(m, &info);
    int rc = s ? tool_error("convert", ctx, s) : 0;
    if (!s) {
        const mom_config *c = mom_model_config(m);
        printf("{\"out\": \"%s\", \"n_params\": %lld, \"n_modalities\": %d, \"vocab_size\": %d, \"d_model\": %d, "
               "\"n_layer\": %d}\n",
               out, (long long)info.n_params, c->n_modalities, c->vocab_size, c->d_model, c->n_layer);
    }
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
    return rc;
}
