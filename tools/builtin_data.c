/* Unpacks the built-in dataset (gzip'd dataset files and the codebooks,
 * embedded by tools/embed_files.py) into a run folder. */
#include "builtin_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#ifdef MOM_BUILTIN_DATA
extern const unsigned char three_train_gz[], three_val_gz[], chameleon_train_gz[], chameleon_val_gz[];
extern const unsigned char transfusion_train_gz[], transfusion_val_gz[], vq_st[], units_st[];
extern const size_t three_train_gz_len, three_val_gz_len, chameleon_train_gz_len, chameleon_val_gz_len;
extern const size_t transfusion_train_gz_len, transfusion_val_gz_len, vq_st_len, units_st_len;

#endif

int builtin_setting_known(const char *s)
{
    return s && (!strcmp(s, "three") || !strcmp(s, "chameleon") || !strcmp(s, "transfusion"));
}

#ifdef MOM_BUILTIN_DATA
/* Writes bytes (gunzipped when gz) to path through a temporary file. */
static int write_blob(const char *path, const unsigned char *data, size_t len, int gz)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    int ok = 1;
    if (!gz) {
        ok = fwrite(data, 1, len, f) == len;
    } else {
        z_stream z;
        memset(&z, 0, sizeof(z));
        ok = inflateInit2(&z, 16 + MAX_WBITS) == Z_OK; /* 16: the gzip wrapper */
        z.next_in = (unsigned char *)data;
        z.avail_in = (uInt)len;
        unsigned char buf[1 << 16];
        int r = Z_OK;
        while (ok && r != Z_STREAM_END) {
            z.next_out = buf;
            z.avail_out = sizeof(buf);
            r = inflate(&z, Z_NO_FLUSH);
            ok = (r == Z_OK || r == Z_STREAM_END) && fwrite(buf, 1, sizeof(buf) - z.avail_out, f) == sizeof(buf) - z.avail_out;
        }
        inflateEnd(&z);
    }
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) == 0) return 0;
    const int e = errno;
    remove(tmp);
    errno = e;
    return -1;
}
#endif

mom_status builtin_data_install(mom_ctx *ctx, const char *setting, const char *dir)
{
    (void)ctx;
#ifndef MOM_BUILTIN_DATA
    (void)setting; (void)dir;
    fprintf(stderr, "mom train: this mom was built without data/default/; run "
                    "tools/scripts/build_default_data.py, then rebuild (or give --data)\n");
    return MOM_ERR_UNSUPPORTED;
#else
    const int three = !strcmp(setting, "three"), transfusion = !strcmp(setting, "transfusion");
    const unsigned char *train = three ? three_train_gz : transfusion ? transfusion_train_gz : chameleon_train_gz;
    const unsigned char *val = three ? three_val_gz : transfusion ? transfusion_val_gz : chameleon_val_gz;
    const size_t train_len = three ? three_train_gz_len : transfusion ? transfusion_train_gz_len : chameleon_train_gz_len;
    const size_t val_len = three ? three_val_gz_len : transfusion ? transfusion_val_gz_len : chameleon_val_gz_len;
    /* train.bin last: mom train takes its presence for a complete unpack. */
    struct { const char *name; const unsigned char *data; size_t len; int gz; } f[4] = {
        {"val.bin", val, val_len, 1},
        {"vq.safetensors", vq_st, vq_st_len, 0},
        {"units.safetensors", units_st, units_st_len, 0},
        {"train.bin", train, train_len, 1},
    };
    for (int i = 0; i < 4; i++) {
        if (transfusion && i == 1) continue; /* continuous images: no codebook */
        if (!three && i == 2) continue;       /* speech only in three */
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, f[i].name);
        errno = 0;
        if (write_blob(path, f[i].data, f[i].len, f[i].gz)) {
            fprintf(stderr, "mom train: cannot write %s: %s\n", path, errno ? strerror(errno) : "bad built-in data");
            return MOM_ERR_IO;
        }
    }
    return MOM_OK;
#endif
}
