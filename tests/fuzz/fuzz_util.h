/* Shared pieces of the fuzz targets (tests/fuzz/fuzz_*.c): one context for
 * the whole process, the input bytes as a file for the readers that take a
 * path, and a private folder for what the importers write.
 *
 * The bytes go to one memfd per process (no disk traffic, nothing to clean
 * up) and are handed over as /proc/self/fd/N; each call rewrites it. */
#ifndef MOM_FUZZ_UTIL_H
#define MOM_FUZZ_UTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Kept for the whole process (reachable, so LeakSanitizer is content). */
static inline mom_ctx *fuzz_ctx(void)
{
    static mom_ctx *ctx;
    if (!ctx) {
        mom_ctx_settings s;
        mom_ctx_default_settings(&s);
        s.n_threads = 1;
        s.backend = "cpu";
        if (mom_ctx_create(&ctx, &s) != MOM_OK) {
            fprintf(stderr, "fuzz: mom_ctx_create failed: %s\n", mom_ctx_create_error());
            abort();
        }
    }
    return ctx;
}

/* Writes data to the process's memfd and returns a path that opens it. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("mom_fuzz_input", MFD_CLOEXEC);
        if (fd < 0) {
            perror("fuzz: memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) abort();
    for (size_t off = 0; off < size;) {
        ssize_t n = pwrite(fd, data + off, size - off, (off_t)off);
        if (n <= 0) abort();
        off += (size_t)n;
    }
    return path;
}

static char fuzz_dir_path[256];

static inline int fuzz_dir_remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    if ((type == FTW_DP || type == FTW_DNR ? rmdir(path) : unlink(path)) != 0) perror(path);
    return 0; /* go on: remove what can be removed */
}

/* Depth first, links themselves (never what they point to). */
static inline void fuzz_dir_remove(void)
{
    if (!fuzz_dir_path[0]) return;
    if (nftw(fuzz_dir_path, fuzz_dir_remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir_path);
}

/* A private folder, removed at exit: on /dev/shm when there is one, since
 * the importers fsync what they write. */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        struct stat sb;
        const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0
                               ? "/dev/shm"
                               : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/mom_fuzz.XXXXXX", base);
        if (!mkdtemp(fuzz_dir_path)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_path;
}

/* Writes a whole file in the private folder; returns its path (static). */
static inline const char *fuzz_dir_file(const char *name, const void *data, size_t size)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* The reader's verdict; with MOM_FUZZ_VERBOSE=1 also printed (what the
 * replay of a seed did: tests/fuzz/standalone_main.c). */
static inline mom_status fuzz_status(const char *what, mom_status s)
{
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("MOM_FUZZ_VERBOSE") && getenv("MOM_FUZZ_VERBOSE")[0] == '1';
    if (verbose)
        fprintf(stderr, "  %s: %s%s%s\n", what, mom_status_str(s), s ? ": " : "", s ? mom_ctx_last_error(fuzz_ctx()) : "");
    return s;
}

/* A property the reader promised does not hold: a finding, like a crash. */
#define FUZZ_CHECK(cond)                                                                            \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "%s:%d: fuzz check failed: %s (%s)\n", __FILE__, __LINE__, #cond,     \
                    mom_ctx_last_error(fuzz_ctx()));                                                \
            abort();                                                                                \
        }                                                                                           \
    } while (0)

#endif
