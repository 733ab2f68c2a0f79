/* mom_dataset_import_manifest on arbitrary text. The manifest sits in a
 * private folder with a few files it may name: t.txt (text), a.png (an
 * 8 x 8 gray image, in a build with images), so that text_file and image
 * segments reach their readers. Paths leaving that folder ('/' or a JSON
 * escape in the input) are not tried: a manifest naming /dev/zero is the
 * user's own doing, not the reader's. Images go in as 2 x 2 patches. */
#include "fuzz_util.h"

#include "mom_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mom_ctx *ctx = fuzz_ctx();
    if (memchr(data, '/', size) || memchr(data, '\\', size)) return 0;
    static int have_fixtures;
    if (!have_fixtures) {
        static const char text[] = "a line of text\n\xc3\xa9t\xc3\xa9\n";
        fuzz_dir_file("t.txt", text, sizeof text - 1);
        float px[64];
        for (int i = 0; i < 64; i++) px[i] = (float)(i % 9) / 8.0f;
        char png[512];
        snprintf(png, sizeof png, "%s/a.png", fuzz_dir());
        (void)mom_image_write_png(ctx, png, 8, 1, px); /* UNSUPPORTED without images: then no a.png */
        have_fixtures = 1;
    }
    const char *manifest = fuzz_dir_file("m.jsonl", data, size);
    char mpath[512], out[512];
    snprintf(mpath, sizeof mpath, "%s", manifest);
    snprintf(out, sizeof out, "%s/out.bin", fuzz_dir());
    unlink(out);
    const mom_patch_geometry g = {2, 8, 1};
    mom_status s = fuzz_status("mom_dataset_import_manifest", mom_dataset_import_manifest(ctx, mpath, out, NULL, NULL, &g));
    if (s != MOM_OK) {
        FUZZ_CHECK(mom_ctx_last_error(ctx)[0] != '\0');
        FUZZ_CHECK(access(out, F_OK) != 0);
        return 0;
    }
    mom_dataset *d = NULL;
    FUZZ_CHECK(mom_dataset_open(ctx, out, &d) == MOM_OK);
    mom_dataset_destroy(&d);
    return 0;
}
