/* mom convert: a dense Mamba-1 checkpoint of mamba_ssm or transformers as a
 * libmom model, optionally upcycled into a Mixture-of-Mamba and given a
 * multimodal vocabulary past the pretrained one. The library reads and
 * checks it (mom_model_load_pretrained); the write goes through a
 * temporary file and a rename, so a refused conversion leaves nothing at
 * --out. */
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

/* What the vocabulary flags ask for. */
typedef struct vocab_opts {
    int image_codes, speech_units, bos, eos;
    int bos_given, eos_given; /* else that special token is appended */
} vocab_opts;

/* At most this many new codes or units: the vocabulary stays a size whose
 * embedding a d_model of a few hundred can hold. */
#define MAX_ADDED (1 << 24)

/* The pretrained ids first and unchanged, then the special tokens not
 * taken from them (in MOM_TOK_* order), the image codes, the speech units. */
static mom_vocab_layout extended_layout(int vocab, const vocab_opts *v)
{
    mom_vocab_layout l = {.n_text = vocab, .n_image = v->image_codes, .n_speech = v->speech_units, .text_first = 1};
    int32_t next = vocab;
    for (int k = 0; k < MOM_N_SPECIAL; k++) {
        if (k == MOM_TOK_BOS && v->bos_given) l.special_id[k] = v->bos;
        else if (k == MOM_TOK_EOS && v->eos_given) l.special_id[k] = v->eos;
        else l.special_id[k] = next++;
    }
    l.n_special = next - vocab;
    return l;
}

/* The flags' own checks, before any file is read. */
static int check_vocab_opts(const vocab_opts *v, int upcycle)
{
    const int need = v->speech_units ? 3 : v->image_codes ? 2 : 1;
    for (int k = 0; k < 2; k++) {
        const int n = k ? v->speech_units : v->image_codes;
        if (n < 0 || n > MAX_ADDED) {
            fprintf(stderr, "mom convert: --add-%s %d is not in [0, %d]\n", k ? "speech-units" : "image-codes", n,
                    MAX_ADDED);
            return 2;
        }
    }
    if ((upcycle ? upcycle : 1) < need) {
        fprintf(stderr,
                "mom convert: --add-%s needs --upcycle %d or more: %s are modality %d of a Mixture-of-Mamba%s\n",
                v->speech_units ? "speech-units" : "image-codes", need, v->speech_units ? "speech units" : "image codes",
                need - 1, upcycle ? "" : " (the converted model is dense)");
        return 2;
    }
    return 0;
}

int cmd_convert(int argc, char **argv)
{
    const char *from = NULL, *out = NULL, *decouple = "in,x,dt,out";
    int upcycle = 0;
    int64_t seed = 0;
    vocab_opts vo = {0};
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
        {"--add-image-codes", ARG_INT, &vo.image_codes, "K",
         "append K image-code tokens after the pretrained vocabulary (needs --upcycle 2 or more)", 0},
        {"--add-speech-units", ARG_INT, &vo.speech_units, "K",
         "append K speech-unit tokens after the image codes (needs --upcycle 3 or more)", 0},
        {"--bos", ARG_INT, &vo.bos, "ID", "the pretrained token that begins a sequence (default: one is appended)", 0},
        {"--eos", ARG_INT, &vo.eos, "ID", "the pretrained token that ends one, may equal --bos (default: appended)", 0},
        {"--seed", ARG_I64, &seed, "S", "initialisation seed of the appended rows, as mom init's (default 0)", 0},
    };
    enum { N_OPTS = sizeof(o) / sizeof(o[0]) };
    int r = args_parse("convert",
                       "Converts a dense Mamba-1 checkpoint (mamba_ssm's MambaLMHeadModel or transformers'\n"
                       "MambaForCausalLM; F32, F16 or BF16) into a libmom model in fp32. Any of --add-image-codes,\n"
                       "--add-speech-units, --bos, --eos gives it a multimodal vocabulary whose first ids stay the\n"
                       "pretrained tokenizer's; the special tokens it lacks (begin / end image and speech, pad,\n"
                       "and BOS / EOS unless given) are appended after them.",
                       o, N_OPTS, argc, argv, 2);
    if (r) return r > 0 ? 0 : 2;
    if (!from || !out) {
        fprintf(stderr, "mom convert: --from and --out are required\n");
        return 2;
    }
    const int bits = parse_decouple(decouple);
    if (bits < 0 || (args_seen(o, N_OPTS, "--decouple") && !upcycle)) {
        fprintf(stderr, "mom convert: --decouple %s: %s\n", decouple,
                bits < 0 ? "a comma-separated list of in, x, dt, out, or none" : "goes with --upcycle N");
        return 2;
    }
    if (args_seen(o, N_OPTS, "--upcycle") && (upcycle < 1 || upcycle > MOM_MAX_MODALITIES)) {
        fprintf(stderr, "mom convert: --upcycle %d: the modalities must be 1..%d\n", upcycle, MOM_MAX_MODALITIES);
        return 2;
    }
    const int extend = args_seen(o, N_OPTS, "--add-image-codes") || args_seen(o, N_OPTS, "--add-speech-units") ||
                       args_seen(o, N_OPTS, "--bos") || args_seen(o, N_OPTS, "--eos");
    vo.bos_given = args_seen(o, N_OPTS, "--bos");
    vo.eos_given = args_seen(o, N_OPTS, "--eos");
    if (extend && (r = check_vocab_opts(&vo, upcycle))) return r;
    mom_ctx *ctx = tool_ctx("convert", 0, NULL);
    if (!ctx) return 1;
    mom_model *m = NULL;
    mom_status s = mom_model_load_pretrained(ctx, from, &m);
    const int vocab = s ? 0 : mom_model_config(m)->vocab_size;
    for (int k = 0; !s && extend && k < 2; k++) {
        const int id = k ? vo.eos : vo.bos;
        if ((k ? vo.eos_given : vo.bos_given) && (id < 0 || id >= vocab)) {
            fprintf(stderr, "mom convert: --%s %d is not a token of the pretrained vocabulary [0, %d)\n",
                    k ? "eos" : "bos", id, vocab);
            mom_model_destroy(&m);
            mom_ctx_destroy(&ctx);
            return 2;
        }
    }
    if (!s && upcycle) {
        mom_model *dense = m;
        s = mom_model_upcycle(dense, upcycle, (unsigned)bits, &m);
        mom_model_destroy(&dense);
    }
    if (!s && extend) {
        const mom_vocab_layout lay = extended_layout(vocab, &vo);
        mom_model *pre = m;
        s = mom_model_extend_vocab(pre, &lay, (uint64_t)seed, &m);
        mom_model_destroy(&pre);
    }
    if (!s) s = mom_model_save(m, out);
    mom_model_info info;
    if (!s) s = mom_model_get_info(m, &info);
    int rc = s ? tool_error("convert", ctx, s) : 0;
    if (!s) {
        const mom_config *c = mom_model_config(m);
        const mom_vocab_layout *l = &c->vocab_layout;
        printf("{\"out\": \"%s\", \"n_params\": %lld, \"n_modalities\": %d, \"vocab_size\": %d, \"d_model\": %d, "
               "\"n_layer\": %d",
               out, (long long)info.n_params, c->n_modalities, c->vocab_size, c->d_model, c->n_layer);
        if (extend) {
            printf(", \"pretrained_ids\": %d, \"image_codes\": {\"first\": %d, \"n\": %d}, \"speech_units\": "
                   "{\"first\": %d, \"n\": %d}, \"special\": {",
                   l->n_text, mom_vocab_first(l, MOM_MOD_IMAGE), l->n_image, mom_vocab_first(l, MOM_MOD_SPEECH),
                   l->n_speech);
            static const char *const names[MOM_N_SPECIAL] = {"bos", "eos", "boi", "eoi", "bosp", "eosp", "pad"};
            for (int k = 0; k < MOM_N_SPECIAL; k++) printf("%s\"%s\": %d", k ? ", " : "", names[k], l->special_id[k]);
            printf("}");
        }
        printf("}\n");
    }
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
    return rc;
}
