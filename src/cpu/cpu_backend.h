/* The CPU backend's own calls, for the files of src/cpu/ (the model reaches
 * the backend through the registry, src/backend.h). */
#ifndef MOM_CPU_BACKEND_H
#define MOM_CPU_BACKEND_H

#include <stddef.h>

#include "backend.h"

struct mom_kernels;

/* matmul: "auto" (oneDNN, else CBLAS, else plain C: the best built),
 * "onednn", "blas" or "plain"; kernels: the simd/ table to call
 * (simd/dispatch.c); bf16: bf16 matmuls (needs oneDNN and a CPU it runs
 * bf16 on). NULL with the reason in name when the matmul asked for is not
 * built, or bf16 cannot run; NULL with an empty name when out of memory. */
backend *cpu_backend_create(const char *matmul, int bf16, const struct mom_kernels *kernels, char *name,
                            size_t name_cap);

/* The kernel table a CPU backend runs; NULL when be is not a CPU backend. */
const struct mom_kernels *cpu_backend_kernels(const backend *be);

#endif
