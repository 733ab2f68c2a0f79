/* Opening a codebook file (a safetensors file) with the errors the data
 * API gives: a file that cannot be opened is MOM_ERR_IO, one that is not
 * valid safetensors MOM_ERR_FORMAT, each naming the path. Internal. */
#ifndef MOM_CODEBOOK_FILE_H
#define MOM_CODEBOOK_FILE_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctx.h"
#include "safetensors.h"

static inline mom_status codebook_open(mom_ctx *ctx, const char *path, st_file *f)
{
    FILE *probe = fopen(path, "rb"); /* st_open reports every failure alike */
    if (!probe) return mom_fail(ctx, MOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fclose(probe);
    char err[512];
    if (st_open(path, f, err, sizeof err)) return mom_fail(ctx, MOM_ERR_FORMAT, "%s", err);
    return MOM_OK;
}

#endif
