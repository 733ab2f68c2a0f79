#include "file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int file_write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int file_fsync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd), e = errno;
    /* Some file systems cannot sync a directory; the rename still stands. */
    if (rc != 0 && (e == EINVAL || e == ENOTSUP)) rc = 0;
    close(fd);
    errno = e;
    return rc;
}

unsigned char *file_read_all(FILE *f, size_t *n_out)
{
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0, got;
    *n_out = 0;
    do {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            unsigned char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                errno = ENOMEM;
                return NULL;
            }
            buf = b;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    unsigned char *exact = realloc(buf, n ? n : 1); /* shrinking: fails only in theory */
    *n_out = n;
    return exact ? exact : buf;
}
