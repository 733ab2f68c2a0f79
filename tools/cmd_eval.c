/* mom eval: held-out loss, total and per modality, as one JSON line. */
#include "args.h"
#include "common.h"
#include "stop_signal.h"

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *data = NULL;
    int B = 8, T = 256, threads = 0;
    int64_t max_batches = 0;
    arg_opt o[] = {
        {"--model", ARG_STR, &model, "MODEL.safetensors", "the model", 0},
        {"--data", ARG_STR, &data, "DATA.bin", "the held-out dataset", 0},
        {"--batch", ARG_INT, &B, "B", "rows per batch (default 8)", 0},
        {"--seq", ARG_INT, &T, "T", "positions per row (default 256)", 0},
        {"--max-batches", ARG_I64, &max_batches, "N", "stop after N batches (default 0: the whole file)", 0},
        {"--threads", ARG_INT, &threads, "N", "threads (default: all cores)", 0},
    };
    int r = args_parse("eval", "Mean cross-entropy over every target of the dataset (windows of T+1 tokens, stride T).",
                       o, 6, argc, argv, 2);
    if (r) return r > 0 ? 0 : 2;
    if (!model || !data) {
        fprintf(stderr, "mom eval: --model and --data are required\n");
        return 2;
    }
    /* Ctrl-C and SIGTERM stop the evaluation between batches: no partial
     * mean is printed, since it would read like the whole file's. */
    stop_signal_install();
    mom_ctx *ctx = tool_ctx("eval", threads, NULL);
    if (!ctx) return 1;
    stop_signal_forward(ctx);
    mom_model *m = NULL;
    mom_dataset *d = NULL;
    mom_losses l;
    mom_status s = mom_model_load(ctx, model, &m);
    if (!s) s = mom_dataset_open(ctx, data, &d);
    if (!s) s = mom_model_evaluate(m, d, B, T, max_batches, &l);
    if (!s) {
        printf("{");
        print_losses(stdout, &l, mom_model_config(m)->n_modalities);
        printf(", \"targets\": %lld}\n", (long long)l.n_targets);
    }
    int rc = s == MOM_ERR_STOPPED ? stop_signal_exit("eval", "no loss printed") : s ? tool_error("eval", ctx, s) : 0;
    stop_signal_forward(NULL);
    mom_dataset_destroy(&d);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
    return rc;
}
