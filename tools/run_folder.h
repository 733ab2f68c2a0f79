/* A run folder of mom train (tools/run_folder.c). */
#ifndef MOM_TOOLS_RUN_FOLDER_H
#define MOM_TOOLS_RUN_FOLDER_H

#include <stddef.h>
#include <stdint.h>

#include <mom.h>

#include "args.h"

/* Re-reads DIR/args.txt ("--flag value" per line) into o as if typed
 * before the command line's own flags; -1 (said on stderr) when it is
 * missing or a line is bad. */
int run_load_args(const char *dir, arg_opt *o, int n, const char *summary);
/* Writes o's values to DIR/args.txt, all but --resume and --out. */
int run_save_args(const char *dir, const arg_opt *o, int n);
/* runs/DATE-TIME, with -2, -3 ... when that exists. */
void run_default_dir(char *buf, size_t cap);
/* Saves model and optimizer as DIR/ckpt-STEP and moves DIR/checkpoint to
 * it in one rename; 0, or 1 having said why on stderr. */
int run_save_checkpoint(const char *dir, mom_ctx *ctx, mom_model *m, uint64_t data_rng);

#endif
