/* mom bench generate: inference speed (tools/bench_generate.c). */
#ifndef MOM_TOOLS_BENCH_GENERATE_H
#define MOM_TOOLS_BENCH_GENERATE_H

#include "mom.h"

/* Prefill, decode and recompute cases at batch 1 and 8 on model m, a
 * prompt of P tokens and S decode steps; one JSON line each on stdout.
 * Returns 0, or 1 after printing the error. */
int bench_generate(mom_ctx *ctx, mom_model *m, int P, int S);

#endif
