/* mom data import: a dataset file from JSON lines of pre-tokenized segments. */
#include <string.h>

#include "args.h"
#include "common.h"

int cmd_data(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[2], "import")) {
        if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            printf("usage: mom data import --jsonl IN.jsonl --out OUT.bin [--vocab V] [--modalities M]\n");
            return 0;
        }
        fprintf(stderr, "usage: mom data import --jsonl IN.jsonl --out OUT.bin [--vocab V] [--modalities M]\n");
        return 2;
    }
    const char *in = NULL, *out = NULL;
    int vocab = 0, n_mod = 0;
    arg_opt o[] = {
        {"--jsonl", ARG_STR, &in, "IN.jsonl",
         "one document a line: {\"segments\": [{\"modality\": 0, \"tokens\": [5, 17]}, ...]}", 0},
        {"--out", ARG_STR, &out, "OUT.bin", "the dataset file to write", 0},
        {"--vocab", ARG_INT, &vocab, "V", "vocabulary size tokens must fit (default: largest token + 1)", 0},
        {"--modalities", ARG_INT, &n_mod, "M", "number of modalities ids must fit (default: largest id + 1)", 0},
    };
    int r = args_parse("data import", "Concatenates the documents in file order into one dataset file.", o, 4, argc,
                       argv, 3);
    if (r) return r > 0 ? 0 : 2;
    if (!in || !out) {
        fprintf(stderr, "mom data import: --jsonl and --out are required\n");
        return 2;
    }
    mom_ctx *ctx = tool_ctx("data", 0, NULL);
    if (!ctx) return 1;
    mom_status s = mom_dataset_import_jsonl(ctx, in, out, vocab, n_mod);
    mom_dataset *d = NULL;
    if (!s) s = mom_dataset_open(ctx, out, &d);
    if (!s)
        printf("{\"out\": \"%s\", \"tokens\": %lld, \"documents\": %lld, \"vocab_size\": %lld, \"n_modalities\": %d}\n",
               out, (long long)mom_dataset_n_tokens(d), (long long)mom_dataset_n_docs(d),
               (long long)mom_dataset_vocab_size(d), mom_dataset_n_modalities(d));
    int rc = s ? tool_error("data import", ctx, s) : 0;
    mom_dataset_close(&d);
    mom_ctx_destroy(&ctx);
    return rc;
}
