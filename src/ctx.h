/* The context: error message, threads, and the backend in use. Internal. */
#ifndef MOM_CTX_H
#define MOM_CTX_H

#include <stdatomic.h>

#include "mom.h"

struct backend;

struct mom_ctx {
    char err[512];
    int n_threads;
    struct backend *be;
    char backend_name[512]; /* the backend's one-line description */
    atomic_int stop; /* mom_ctx_set_stop: lock-free, so a signal handler may set it */
};

/* Records a printf-style message as the context's last error and returns s.
 * ctx may be NULL (the message is then dropped). */
mom_status mom_fail(mom_ctx *ctx, mom_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clears the last error. */
void mom_clear_error(mom_ctx *ctx);

/* MOM_ERR_STOPPED, with "WHAT: stopped (mom_ctx_set_stop)" as the message,
 * when a stop was asked for on ctx; else MOM_OK. Long calls ask this
 * between units of work, and before they make a file appear. */
mom_status mom_check_stop(mom_ctx *ctx, const char *what);

#endif
