/* What every crash-safe writer needs: a full write() and an fsync of the
 * folder after the rename that publishes a file. */
#ifndef MOM_FILE_UTIL_H
#define MOM_FILE_UTIL_H

#include <stddef.h>

/* Writes all n bytes (retrying short writes and EINTR); 0 or -1 with errno. */
int file_write_all(int fd, const void *buf, size_t n);
/* fsyncs the folder holding path, so a rename into it survives a crash. */
int file_fsync_parent_dir(const char *path);

#endif
