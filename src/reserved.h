/* The reserved space at the end of a public struct that will grow (see
 * the top of mom.h): zero, or the caller was built for a newer libmom and
 * sets a field this one does not know, which must fail rather than be
 * silently ignored. */
#ifndef MOM_RESERVED_H
#define MOM_RESERVED_H

#include <stddef.h>
#include <stdint.h>

#include "ctx.h"

/* MOM_OK when reserved[0..n) is all zero; else MOM_ERR_INVALID_ARG naming
 * the struct and the first word set. */
#define MOM_CHECK_RESERVED(ctx, what, r) mom_check_reserved(ctx, what, r, sizeof(r) / sizeof((r)[0]))
static inline mom_status mom_check_reserved(mom_ctx *ctx, const char *what, const uint64_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r[i])
            return mom_fail(ctx, MOM_ERR_INVALID_ARG,
                            "%s: reserved[%zu] is set: a field of a newer libmom than %s; start the struct from its "
                            "_default call",
                            what, i, mom_version());
    return MOM_OK;
}

#endif
