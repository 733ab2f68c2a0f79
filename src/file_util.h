/* What every crash-safe writer needs: a full write() and an fsync of the
 * folder after the rename that publishes a file; and reading a whole
 * stream. */
#ifndef MOM_FILE_UTIL_H
#define MOM_FILE_UTIL_H

#include <stddef.h>
#include <stdio.h>

/* Writes all n bytes (retrying short writes and EINTR); 0 or -1 with errno. */
int file_write_all(int fd, const void *buf, size_t n);
/* fsyncs the folder holding path, so a rename into it survives a crash. */
int file_fsync_parent_dir(const char *path);

/* Reads f to its end into a new buffer of exactly *n bytes (1 allocated
 * when empty, so a read past the end is one an address checker sees);
 * NULL with errno EIO on a read error, ENOMEM out of memory. Does not
 * close f. */
unsigned char *file_read_all(FILE *f, size_t *n);

#endif
