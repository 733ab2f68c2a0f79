/* Ctrl-C and SIGTERM as a request to stop cleanly (tools/stop_signal.c):
 * the first SIGINT or SIGTERM is only noted, so a long job can finish what
 * it is doing, save, and exit 128 + the signal's number; a second one ends
 * the process at once, as the signal does by default. A command installs
 * this only where every long loop it runs checks for the request. */
#ifndef MOM_TOOLS_STOP_SIGNAL_H
#define MOM_TOOLS_STOP_SIGNAL_H

#include <signal.h>

#include "mom.h"

/* From here SIGINT and SIGTERM go to a thread of their own. Call it before
 * the command starts any thread (before its context is created): threads
 * keep the signals blocked that they were started with. */
void stop_signal_install(void);
/* Blocks SIGINT and SIGTERM in the calling thread, so that the threads it
 * starts next (MPI's) never take them; *before gets the mask to restore. */
void stop_signal_block_for_new_threads(sigset_t *before);
/* A first signal also calls mom_ctx_set_stop(ctx, 1), so that a library call
 * in flight (an evaluation, an import) stops at its next check; NULL
 * forwards nowhere. Call it with NULL before the context is destroyed. */
void stop_signal_forward(mom_ctx *ctx);
/* Prints "mom CMD: SIGINT: stopped; WHAT" and returns the exit status for
 * the signal received, 128 + its number. */
int stop_signal_exit(const char *cmd, const char *what);
/* The signal received (SIGINT or SIGTERM), or 0. */
int stop_signal_received(void);
/* "SIGINT" or "SIGTERM": the only two taken. */
const char *stop_signal_name(int sig);

#endif
