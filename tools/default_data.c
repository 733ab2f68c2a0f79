/* The built-in task. Documents are runs of 64-token segments of random
 * modality, each with structure a small model can learn and a known floor:
 *   text   (ids 0..511):    a sparse Markov chain, 4 successors per token
 *                           with probabilities .6 .2 .1 .1;
 *   image  (ids 512..767):  an 8 x 8 patch grid in raster order, each pixel
 *                           its left neighbour (a row's first pixel: the one
 *                           above) plus -1, 0 or +1;
 *   speech (ids 768..1023): a slowly drifting pitch, steps of -2..+2.     */
#include "default_data.h"

#include <stdlib.h>
#include <string.h>

const char *const default_modality_names[DEFAULT_DATA_MODALITIES] = {"text", "image", "speech"};

#define SEG 64

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static int below(uint64_t *s, int n) { return (int)(mix(s) % (uint64_t)n); }

static void text_segment(uint64_t *s, const int16_t (*succ)[4], int32_t *out, int32_t *state)
{
    static const int cum[4] = {60, 80, 90, 100};
    for (int i = 0; i < SEG; i++) {
        int r = below(s, 100), k = 0;
        while (r >= cum[k]) k++;
        *state = succ[*state][k];
        out[i] = *state;
    }
}

static void image_segment(uint64_t *s, int32_t *out)
{
    out[0] = below(s, 256);
    for (int i = 1; i < SEG; i++) out[i] = (out[i % 8 ? i - 1 : i - 8] + below(s, 3) + 255) % 256;
    for (int i = 0; i < SEG; i++) out[i] += 512;
}

static void speech_segment(uint64_t *s, int32_t *out)
{
    int p = below(s, 256);
    for (int i = 0; i < SEG; i++) {
        p = (p + below(s, 5) - 2 + 256) % 256;
        out[i] = 768 + p;
    }
}

mom_status default_data_write(mom_ctx *ctx, const char *path, int64_t n_tokens, uint64_t seed)
{
    n_tokens = (n_tokens + SEG - 1) / SEG * SEG;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n_tokens);
    uint8_t *mod = malloc((size_t)n_tokens);
    int64_t *docs = malloc(sizeof(int64_t) * (size_t)(n_tokens / SEG + 2));
    int16_t (*succ)[4] = malloc(sizeof(*succ) * 512);
    if (!tok || !mod || !docs || !succ) {
        free(tok); free(mod); free(docs); free(succ);
        return MOM_ERR_NOMEM;
    }
    /* The Markov table is the same for every split: it is the "language". */
    uint64_t table_seed = 12345;
    for (int t = 0; t < 512; t++)
        for (int k = 0; k < 4; k++) succ[t][k] = (int16_t)below(&table_seed, 512);
    uint64_t s = seed;
    int64_t n_docs = 0, pos = 0;
    while (pos < n_tokens) {
        docs[n_docs++] = pos;
        int32_t text_state = below(&s, 512);
        const int n_seg = 4 + below(&s, 5);
        for (int g = 0; g < n_seg && pos < n_tokens; g++, pos += SEG) {
            const int m = below(&s, DEFAULT_DATA_MODALITIES);
            if (m == 0) text_segment(&s, (const int16_t(*)[4])succ, tok + pos, &text_state);
            else if (m == 1) image_segment(&s, tok + pos);
            else speech_segment(&s, tok + pos);
            memset(mod + pos, m, SEG);
        }
    }
    docs[n_docs] = n_tokens;
    mom_status st = mom_dataset_write(ctx, path, tok, mod, n_tokens, docs, n_docs, DEFAULT_DATA_VOCAB,
                                      DEFAULT_DATA_MODALITIES, NULL);
    free(tok); free(mod); free(docs); free(succ);
    return st;
}
