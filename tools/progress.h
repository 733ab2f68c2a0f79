/* Progress of a long job: a redrawn bar on a terminal, plain log lines
 * otherwise (a file, a CI log). */
#ifndef MOM_TOOLS_PROGRESS_H
#define MOM_TOOLS_PROGRESS_H

#include <stdint.h>

#include "mom.h"

typedef struct progress {
    int tty;
    int64_t total;
    double t0;
    double last_print;
    const char *const *names; /* modality names */
    int n_mod;
    int64_t saved_step; /* the last checkpoint's step, -1 before one */
    double saved_t;
} progress;

double now_seconds(void);
void progress_start(progress *p, int64_t total, const char *const *names, int n_mod);
/* step is 1-based: steps done. */
void progress_update(progress *p, int64_t step, int64_t step0, double tokens_per_s, const mom_losses *l);
/* A checkpoint was written after step (shown with its age from then on). */
void progress_saved(progress *p, int64_t step);
void progress_end(progress *p);

#endif
