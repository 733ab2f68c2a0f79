/* mom_dataset_import_jsonl on arbitrary text, without and with a patch
 * geometry (2 x 2 patches of a 4 x 4 gray image: 4 patches of 4 values).
 * What it writes must open again, with the sizes it was asked for. */
#include "fuzz_util.h"

static void import_and_check(mom_ctx *ctx, const char *in, const char *out, int vocab, int n_mod,
                             const mom_patch_geometry *g)
{
    unlink(out);
    mom_status s = fuzz_status("mom_dataset_import_jsonl", mom_dataset_import_jsonl(ctx, in, out, vocab, n_mod, g));
    if (s != MOM_OK) {
        FUZZ_CHECK(mom_ctx_last_error(ctx)[0] != '\0');
        FUZZ_CHECK(access(out, F_OK) != 0); /* nothing written */
        return;
    }
    mom_dataset *d = NULL;
    FUZZ_CHECK(mom_dataset_open(ctx, out, &d) == MOM_OK);
    if (vocab) FUZZ_CHECK(mom_dataset_vocab_size(d) == vocab);
    if (n_mod) FUZZ_CHECK(mom_dataset_n_modalities(d) == n_mod);
    mom_dataset_destroy(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mom_ctx *ctx = fuzz_ctx();
    const char *in = fuzz_file(data, size);
    char out[512];
    snprintf(out, sizeof out, "%s/out.bin", fuzz_dir());
    const mom_patch_geometry g = {2, 4, 1};
    import_and_check(ctx, in, out, 0, 0, NULL);
    import_and_check(ctx, in, out, 0, 0, &g);
    import_and_check(ctx, in, out, 300, 3, NULL);
    return 0;
}
