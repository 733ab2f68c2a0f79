/* mom_model_load on arbitrary bytes: the safetensors reader (header JSON,
 * dtypes, shapes, offsets), the config in __metadata__ and the check of
 * every tensor against the config. A model that loads is also stepped
 * through its accessors. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mom_ctx *ctx = fuzz_ctx();
    const char *path = fuzz_file(data, size);
    mom_model *m = NULL;
    mom_status s = fuzz_status("mom_model_load", mom_model_load(ctx, path, &m));
    if (s != MOM_OK) {
        FUZZ_CHECK(m == NULL);
        FUZZ_CHECK(mom_ctx_last_error(ctx)[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(mom_model_config(m) != NULL);
    mom_model_info info;
    mom_model_get_info(m, &info);
    FUZZ_CHECK(info.n_params > 0);
    for (size_t i = 0; i < mom_model_n_tensors(m); i++) FUZZ_CHECK(mom_model_tensor_name(m, i) != NULL);
    mom_model_destroy(&m);
    FUZZ_CHECK(m == NULL);
    return 0;
}
