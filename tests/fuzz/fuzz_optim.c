/* mom_model_load_optim on arbitrary bytes, into one small model kept for
 * the process. Its config must stay the one make_corpus.py trains the
 * seed optimizer files with (tests/fuzz/corpus/config: tiny.json). */
#include "fuzz_util.h"

static const char tiny_config[] =
    "{\"n_modalities\": 2, \"vocab_size\": 16, \"d_model\": 8, \"n_layer\": 1, \"d_state\": 2, "
    "\"d_conv\": 2, \"expand\": 1}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mom_ctx *ctx = fuzz_ctx();
    static mom_model *m;
    if (!m) {
        mom_config cfg;
        mom_config_default(&cfg);
        FUZZ_CHECK(mom_config_parse_json(ctx, tiny_config, strlen(tiny_config), &cfg) == MOM_OK);
        FUZZ_CHECK(mom_model_create(ctx, &cfg, 0, &m) == MOM_OK);
    }
    const char *path = fuzz_file(data, size);
    uint64_t rng = 12345;
    mom_status s = fuzz_status("mom_model_load_optim", mom_model_load_optim(m, path, &rng));
    if (s != MOM_OK) {
        FUZZ_CHECK(rng == 12345);
        FUZZ_CHECK(mom_ctx_last_error(ctx)[0] != '\0');
    } else {
        FUZZ_CHECK(mom_model_steps_done(m) >= 0);
    }
    return 0;
}
