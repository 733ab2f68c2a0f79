/* mom info: config, parameter counts, training FLOPs per token, backend,
 * CPU features and every backend's devices, as one JSON object. */
#include "mom_build_config.h"

#include "args.h"
#include "common.h"

int cmd_info(int argc, char **argv)
{
    const char *model = NULL, *config = NULL;
    arg_opt o[] = {
        {"--model", ARG_STR, &model, "MODEL.safetensors", "describe this model (default: the default config)", 0},
        {"--config", ARG_STR, &config, "FILE.json", "describe this config instead", 0},
    };
    int r = args_parse("info", "Config, parameter count (total and active per token), training FLOPs per token,\n"
                       "backend and CPU features.", o, 2, argc, argv, 2);
    if (r) return r > 0 ? 0 : 2;
    mom_ctx *ctx = tool_ctx("info", 0, NULL);
    if (!ctx) return 1;
    mom_model *m = NULL;
    mom_config cfg;
    mom_config_default(&cfg);
    mom_status s = MOM_OK;
    if (model) s = mom_model_load(ctx, model, &m);
    else {
        if (config) s = mom_config_load(ctx, config, &cfg);
        if (!s) s = mom_model_create(ctx, &cfg, 0, &m);
    }
    if (s) {
        int rc = tool_error("info", ctx, s);
        mom_ctx_destroy(&ctx);
        return rc;
    }
    char cj[1024], cpu[256], devices[1024];
    mom_config_to_json(mom_model_config(m), cj, sizeof(cj));
    mom_cpu_features_string(cpu, sizeof(cpu));
    mom_model_info info;
    mom_model_get_info(m, &info);
    printf("{\"config\": %s,\n \"n_params\": %lld, \"n_params_active_per_token\": %lld, \"d_inner\": %d, "
           "\"dt_rank\": %d,\n \"train_flops_per_token\": %.6g,\n \"backend\": \"%s\",\n \"cpu_features\": \"%s\",\n"
           " \"devices\": {",
           cj, (long long)info.n_params, (long long)info.n_params_active, info.d_inner, info.dt_rank,
           info.train_flops_per_token, mom_ctx_backend_name(ctx), cpu);
    /* Every backend of this build, with the devices it sees. */
    for (int i = 0; mom_backend_name(i); i++) {
        mom_devices_string(mom_backend_name(i), devices, sizeof(devices));
        printf("%s\"%s\": \"%s\"", i ? ", " : "", mom_backend_name(i), devices);
    }
    printf("},\n \"mpi\": %s,\n \"version\": \"%s\"}\n", MOM_HAVE_MPI ? "true" : "false", mom_version());
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
    return 0;
}
