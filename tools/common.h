/* What the mom commands share: the command table, error reporting and the
 * JSON form of losses. */
#ifndef MOM_TOOLS_COMMON_H
#define MOM_TOOLS_COMMON_H

#include <stdio.h>

#include "mom.h"

int cmd_init(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_grad(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_generate(int argc, char **argv);

/* Prints "mom CMD: <ctx last error>" (or the status text) and returns 1. */
int tool_error(const char *cmd, const mom_ctx *ctx, mom_status s);
/* Creates a context with n_threads (0 = default) and matmul "fp32" (or
 * NULL) or "bf16"; prints on failure. */
mom_ctx *tool_ctx(const char *cmd, int n_threads, const char *matmul);
/* The same on a backend (a name of tool_backend_choices, or NULL:
 * MOM_BACKEND) and its device (-1: the backend's choice). */
mom_ctx *tool_ctx_on(const char *cmd, int n_threads, const char *matmul, const char *backend, int device);
/* "cpu|vulkan|auto": the --backend values of this build (the registry's). */
const char *tool_backend_choices(void);
/* Makes a folder's entries durable (fsync of the folder; best effort). */
void sync_dir(const char *dir);
/* The median of v[0..n) (sorts v). */
double median(double *v, int n);
/* mkdir -p; prints "mom CMD: ..." and returns -1 on failure. */
int make_dir(const char *cmd, const char *p);
/* "\"loss\": 1.23, \"loss_by_modality\": [..]" with null for empty modalities. */
void print_losses(FILE *f, const mom_losses *l, int n_mod);

#endif
