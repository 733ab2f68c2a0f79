/* Generating on a small machine: a model (fp32, q8 or q4), the recurrent
 * state in memory this program provides (mom_state_bytes, asked for before
 * anything is made), and greedy decoding with no allocation per token:
 * every buffer is made before the first token.
 *
 *   generate_min MODEL.safetensors N_TOKENS [PROMPT_ID ...]
 *
 * The prompt is the ids given (default: the model's BOS). Prints the N
 * generated ids on one line; stops early at the model's EOS when it has a
 * vocabulary layout. Exits 0 on success.
 *
 *   cc generate_min.c $(pkg-config --cflags --libs libmom) -o generate_min */
#include <stdio.h>
#include <stdlib.h>

#include <mom.h>

static int check(mom_ctx *ctx, mom_status s, const char *what)
{
    if (s == MOM_OK) return 0;
    fprintf(stderr, "generate_min: %s: %s: %s\n", what, mom_status_str(s),
            ctx ? mom_ctx_last_error(ctx) : mom_ctx_create_error());
    return 1;
}

/* The most likely token: the lowest id among equals. */
static int32_t argmax(const float *logits, int V)
{
    int32_t best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: generate_min MODEL.safetensors N_TOKENS [PROMPT_ID ...]\n");
        return 2;
    }
    const long n_tokens = strtol(argv[2], NULL, 10);
    if (n_tokens < 1 || n_tokens > 1 << 20) {
        fprintf(stderr, "generate_min: N_TOKENS %s is not in [1, 1048576]\n", argv[2]);
        return 2;
    }
    mom_ctx_settings cs;
    mom_ctx_default_settings(&cs);
    cs.n_threads = 1;
    mom_ctx *ctx = NULL;
    mom_model *m = NULL;
    mom_state *st = NULL;
    void *memory = NULL;
    float *logits = NULL;
    int32_t *prompt = NULL;
    uint8_t *prompt_mod = NULL;
    int rc = check(NULL, mom_ctx_create(&ctx, &cs), "context");
    if (!rc) rc = check(ctx, mom_model_load(ctx, argv[1], &m), argv[1]);
    const mom_config *c = rc ? NULL : mom_model_config(m);
    const int V = c ? c->vocab_size : 0, laid_out = c && mom_vocab_layout_is_set(&c->vocab_layout);
    /* Everything decoding needs, made now. */
    const int n_prompt = argc > 3 ? argc - 3 : 1;
    mom_state_settings ss;
    mom_state_default_settings(&ss);
    ss.memory_bytes = rc ? 0 : mom_state_bytes(m, 1);
    if (!rc) {
        memory = aligned_alloc(64, (ss.memory_bytes + 63) / 64 * 64);
        logits = malloc(sizeof(float) * (size_t)V);
        prompt = malloc(sizeof(int32_t) * (size_t)n_prompt);
        prompt_mod = malloc((size_t)n_prompt);
        if (!memory || !logits || !prompt || !prompt_mod) {
            fprintf(stderr, "generate_min: out of memory\n");
            rc = 1;
        }
    }
    for (int i = 0; !rc && i < n_prompt; i++) {
        const long id = argc > 3 ? strtol(argv[3 + i], NULL, 10) : mom_vocab_special(&c->vocab_layout, MOM_TOK_BOS);
        if (id < 0 || id >= V) {
            fprintf(stderr, "generate_min: prompt id %s is not in [0, %d)\n", argv[3 + i], V);
            rc = 2;
        }
        prompt[i] = (int32_t)id;
        const int mod = laid_out ? mom_vocab_layout_modality(&c->vocab_layout, prompt[i]) : 0;
        prompt_mod[i] = (uint8_t)(mod < 0 ? 0 : mod);
    }
    if (!rc) {
        ss.memory = memory;
        fprintf(stderr, "generate_min: state %zu bytes, in this program's memory\n", ss.memory_bytes);
        rc = check(ctx, mom_state_create(m, &ss, &st), "state");
    }
    if (!rc) rc = check(ctx, mom_state_prefill(st, 0, 1, n_prompt, prompt, prompt_mod, logits), "prefill");
    const int32_t eos = laid_out ? mom_vocab_special(&c->vocab_layout, MOM_TOK_EOS) : -1;
    for (long i = 0; !rc && i < n_tokens; i++) {
        const int32_t t = argmax(logits, V);
        const int mod = laid_out ? mom_vocab_layout_modality(&c->vocab_layout, t) : prompt_mod[n_prompt - 1];
        const uint8_t tm = (uint8_t)(mod < 0 ? 0 : mod);
        printf("%s%d", i ? " " : "", t);
        if (t == eos || i + 1 == n_tokens) break;
        rc = check(ctx, mom_state_step(st, &t, &tm, logits), "step");
    }
    printf("\n");
    mom_state_destroy(&st);
    free(memory);
    free(logits);
    free(prompt);
    free(prompt_mod);
    mom_model_destroy(&m);
    mom_ctx_destroy(&ctx);
    return rc;
}
