/* mom: train, evaluate and inspect Mixture-of-Mamba models. A thin client
 * of include/mom.h: every command parses flags and calls the library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "data_parallel.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} commands[] = {
    {"train", cmd_train, "train a model (no arguments: a small model on built-in data)"},
    {"generate", cmd_generate, "sample text, images and speech from a model (prefill, then step)"},
    {"eval", cmd_eval, "held-out loss of a model on a dataset, total and per modality"},
    {"init", cmd_init, "write a freshly initialised model from a config"},
    {"quantize", cmd_quantize, "a model with int8 or 4-bit weights, for inference"},
    {"convert", cmd_convert, "a dense Mamba-1 checkpoint (mamba_ssm or transformers) as a libmom model"},
    {"export", cmd_export, "a model as a mamba_ssm or transformers checkpoint folder"},
    {"grad", cmd_grad, "loss and gradients of a model on exactly one batch"},
    {"data", cmd_data, "build dataset files (mom data import --jsonl IN --out OUT.bin)"},
    {"info", cmd_info, "config, sizes, FLOPs, backend and CPU features"},
    {"bench", cmd_bench, "speed: kernels, training steps (with MFU), memory growth"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: mom COMMAND [options]   (mom COMMAND --help for each)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\nenvironment: MOM_CPU=avx512|avx2|neon|scalar picks the CPU kernels (scalar: the matmuls too),\n"
               "             MOM_MATMUL=onednn|blas|plain the matmul library (default: the best built)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("mom %s\n", mom_version());
        return 0;
    }
    /* Under mpirun (Open MPI or an MPICH-style launcher) train runs data
     * parallel and bench train measures its scaling; started alone, MPI is
     * not started at all. */
    const int under_mpirun = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name)) {
            const int mpi = under_mpirun && (!strcmp(argv[1], "train") || !strcmp(argv[1], "bench"));
            if (mpi) tool_mpi_init(&argc, &argv);
            const int rc = commands[i].run(argc, argv);
            if (mpi) tool_mpi_finalize();
            return rc;
        }
    fprintf(stderr, "mom: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
