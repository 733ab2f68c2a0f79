#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void args_usage(const char *cmd, const char *summary, const arg_opt *opts, int n_opts)
{
    printf("usage: mom %s [options]\n\n%s\n\noptions:\n", cmd, summary);
    for (int i = 0; i < n_opts; i++) {
        char left[64];
        snprintf(left, sizeof(left), "%s%s%s", opts[i].name, opts[i].meta ? " " : "",
                 opts[i].meta ? opts[i].meta : "");
        printf("  %-24s %s\n", left, opts[i].help);
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

static int parse_value(const char *cmd, arg_opt *o, const char *v)
{
    char *end = NULL;
    errno = 0;
    switch (o->type) {
    case ARG_STR:
        *(const char **)o->dst = v;
        return 0;
    case ARG_INT: {
        long x = strtol(v, &end, 10);
        if (errno || !*v || *end || x < -2147483647L || x > 2147483647L) break;
        *(int *)o->dst = (int)x;
        return 0;
    }
    case ARG_I64: {
        long long x = strtoll(v, &end, 10);
        if (errno || !*v || *end) break;
        *(int64_t *)o->dst = x;
        return 0;
    }
    case ARG_FLOAT: {
        float x = strtof(v, &end);
        if (errno || !*v || *end || !isfinite(x)) break;
        *(float *)o->dst = x;
        return 0;
    }
    case ARG_FLAG:
        return 0;
    }
    fprintf(stderr, "mom %s: %s: '%s' is not a valid %s\n", cmd, o->name, v,
            o->type == ARG_FLOAT ? "number" : "integer");
    return -1;
}

int args_parse(const char *cmd, const char *summary, arg_opt *opts, int n_opts, int argc, char **argv,
               int first)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            args_usage(cmd, summary, opts, n_opts);
            return 1;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        arg_opt *o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == len && !strncmp(opts[k].name, a, len)) o = &opts[k];
        if (!o) {
            fprintf(stderr, "mom %s: unknown option '%s' (see mom %s --help)\n", cmd, a, cmd);
            return -1;
        }
        o->seen = 1;
        if (o->type == ARG_FLAG) {
            if (eq) {
                fprintf(stderr, "mom %s: %s takes no value\n", cmd, o->name);
                return -1;
            }
            *(int *)o->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "mom %s: %s needs a value (%s)\n", cmd, o->name, o->meta ? o->meta : "value");
            return -1;
        }
        if (parse_value(cmd, o, v)) return -1;
    }
    return 0;
}

int args_seen(const arg_opt *opts, int n_opts, const char *name)
{
    for (int i = 0; i < n_opts; i++)
        if (!strcmp(opts[i].name, name)) return opts[i].seen;
    return 0;
}
