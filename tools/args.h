/* A small table-driven flag parser for the mom commands: every flag has a
 * type, a destination and a line of help; a bad value is named in the error. */
#ifndef MOM_TOOLS_ARGS_H
#define MOM_TOOLS_ARGS_H

#include <stdint.h>

typedef enum { ARG_STR, ARG_INT, ARG_I64, ARG_FLOAT, ARG_FLAG } arg_type;

typedef struct arg_opt {
    const char *name; /* "--batch" */
    arg_type type;
    void *dst;        /* const char **, int *, int64_t *, float *, int * */
    const char *meta; /* "B" */
    const char *help;
    int seen;
} arg_opt;

/* Parses argv[first..argc). Returns 0, 1 when --help was asked (usage was
 * printed to stdout), or -1 after printing an error to stderr. */
int args_parse(const char *cmd, const char *summary, arg_opt *opts, int n_opts, int argc, char **argv,
               int first);
void args_usage(const char *cmd, const char *summary, const arg_opt *opts, int n_opts);
/* The option's `seen` flag by name. */
int args_seen(const arg_opt *opts, int n_opts, const char *name);

#endif
