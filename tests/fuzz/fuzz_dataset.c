/* mom_dataset_open on arbitrary bytes, then every accessor and the batch
 * fillers on a few windows, so that a header that lies is caught before it
 * is read through.
 *
 * The file's checksum (MOM64: src/checksum.h) is recomputed over the
 * input before the open: else almost every mutation would stop at the
 * checksum and the checks behind it would never run. A file too short for
 * the header goes through unchanged. */
#include "fuzz_util.h"

#include "checksum.h"

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* MOM64 of b[0..n), whole (the library's own); the checksum field must
 * already be zero. */
static uint64_t checksum(const uint8_t *b, size_t n)
{
    mom64 cs;
    mom64_init(&cs);
    mom64_update(&cs, b, n);
    return mom64_final(&cs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mom_ctx *ctx = fuzz_ctx();
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    if (size >= 128) {
        memset(buf + 64, 0, 8);
        put_u64(buf + 64, checksum(buf, size));
    }
    const char *path = fuzz_file(buf, size);
    free(buf);

    mom_dataset *d = NULL;
    mom_status s = fuzz_status("mom_dataset_open", mom_dataset_open(ctx, path, &d));
    if (s != MOM_OK) {
        FUZZ_CHECK(d == NULL);
        FUZZ_CHECK(mom_ctx_last_error(ctx)[0] != '\0');
        return 0;
    }
    const int64_t n = mom_dataset_n_tokens(d), vocab = mom_dataset_vocab_size(d);
    const int n_mod = mom_dataset_n_modalities(d);
    FUZZ_CHECK(n >= 1 && mom_dataset_n_docs(d) >= 1 && mom_dataset_n_docs(d) <= n);
    FUZZ_CHECK(vocab >= 1 && n_mod >= 1 && n_mod <= MOM_MAX_MODALITIES);
    mom_vocab_layout lay;
    mom_patch_geometry g;
    FUZZ_CHECK(mom_dataset_vocab_layout(d, &lay) == MOM_OK);
    FUZZ_CHECK(mom_dataset_patch_geometry(d, &g) == MOM_OK);
    const int64_t n_patches = mom_dataset_n_patches(d);
    FUZZ_CHECK(n_patches >= 0 && n_patches <= n);
    const int32_t *tok = mom_dataset_tokens(d);
    const uint8_t *mod = mom_dataset_modalities(d);
    /* What open promised: every token and modality in range (reading them
     * all also lets ASan see a section that is not where it claims). */
    for (int64_t i = 0; i < n; i++) {
        FUZZ_CHECK(tok[i] >= 0 && tok[i] < vocab);
        FUZZ_CHECK(mod[i] < n_mod);
        if (mom_vocab_layout_is_set(&lay) && !(tok[i] == MOM_TOK_PAD && mod[i] == MOM_MOD_IMAGE && n_patches))
            FUZZ_CHECK(mom_vocab_layout_modality(&lay, tok[i]) == mod[i]);
    }

    /* Windows at the start, the end and in between, T from 1 to n - 1. */
    const int dim = mom_patch_dim(&g);
    for (int64_t T = 1; T < n && T <= 64; T = T * 3 + 1) {
        enum { B = 3 };
        const int64_t last = n - T - 1;
        const int64_t starts[B] = {0, last, last / 2};
        int32_t *tk = malloc(sizeof(int32_t) * B * (size_t)T), *tg = malloc(sizeof(int32_t) * B * (size_t)T);
        uint8_t *md = malloc(B * (size_t)T), *tm = malloc(B * (size_t)T);
        float *pt = dim ? malloc(sizeof(float) * B * (size_t)T * (size_t)dim) : NULL;
        if (tk && tg && md && tm) {
            FUZZ_CHECK(mom_dataset_fill_batch(d, B, (int)T, starts, tk, md, tg, tm) == MOM_OK);
            if (pt) FUZZ_CHECK(mom_dataset_fill_patches(d, B, (int)T, starts, pt) == MOM_OK);
            const int64_t bad[B] = {0, last + 1, 0};
            FUZZ_CHECK(mom_dataset_fill_batch(d, B, (int)T, bad, tk, md, tg, tm) != MOM_OK);
            FUZZ_CHECK(strstr(mom_ctx_last_error(ctx), "starts[1]") != NULL); /* the refusal names the value */
        }
        free(tk);
        free(tg);
        free(md);
        free(tm);
        free(pt);
    }
    mom_dataset_destroy(&d);
    FUZZ_CHECK(d == NULL);
    return 0;
}
