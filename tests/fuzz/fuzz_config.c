/* mom_config_parse_json + mom_config_validate on arbitrary text; a config
 * that parses must survive its own JSON form (mom_config_to_json) unchanged. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mom_ctx *ctx = fuzz_ctx();
    mom_config cfg, before;
    mom_config_default(&cfg);
    memcpy(&before, &cfg, sizeof before); /* bytewise, padding too: memcmp below compares bytes */
    mom_status s = fuzz_status("mom_config_parse_json", mom_config_parse_json(ctx, (const char *)data, size, &cfg));
    if (s != MOM_OK) {
        FUZZ_CHECK(!memcmp(&cfg, &before, sizeof cfg)); /* left as it was */
        FUZZ_CHECK(mom_ctx_last_error(ctx)[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(mom_config_validate(ctx, &cfg) == MOM_OK);
    char a[2048], b[2048];
    FUZZ_CHECK(mom_config_to_json(&cfg, a, sizeof a) == MOM_OK);
    mom_config again;
    mom_config_default(&again);
    FUZZ_CHECK(mom_config_parse_json(ctx, a, strlen(a), &again) == MOM_OK);
    FUZZ_CHECK(mom_config_to_json(&again, b, sizeof b) == MOM_OK);
    FUZZ_CHECK(!strcmp(a, b));
    return 0;
}
