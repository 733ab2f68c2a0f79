/* mom init: a freshly initialised model from a config file. */
#include <stdint.h>

#include "args.h"
#include "common.h"

int cmd_init(int argc, char **argv)
{
    const char *config = NULL, *out = NULL;
    int64_t seed = 0;
    arg_opt o[] = {
        {"--config", ARG_STR, &config, "FILE.json", "model config (fields of mom_config; missing ones default)", 0},
        {"--seed", ARG_I64, &seed, "S", "initialisation seed (default 0)", 0},
        {"--out", ARG_STR, &out, "MODEL.safetensors", "where to write the model", 0},
    };
    int r = args_parse("init", "Writes a freshly initialised model (upstream Mamba init).", o, 3, argc, argv, 2);
    if (r) return r > 0 ? 0 : 2;
    if (!config || !out) {
        fprintf(stderr, "mom init: --config and --out are required\n");
        return 2;
    }
    mom_ctx *ctx = tool_ctx("init", 0, NULL);
    if (!ctx) return 1;
    mom_config cfg;
    mom_model *m = NULL;
    mom_status s = mom_config_load(ctx, config, &cfg);
    if (!s) s = mom_model_create(ctx, &cfg, (uint64_t)seed, &m);
    if (!s) s = mom_model_save(m, out);
    int rc = s ? tool_error("init", ctx, s) : 0;
    if (!s) {
        mom_model_info info;
        mom_model_get_info(m, &info);
        printf("{\"out\": \"%s\", \"n_params\": %lld}\n", out, (long long)info.n_params);
    }
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
    return rc;
}
