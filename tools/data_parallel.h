/* Data-parallel training across processes (tools/data_parallel.c): a thin layer over
 * MPI, or one process when the build has no MPI. Only the mom command
 * uses MPI; the library knows nothing of it. */
#ifndef MOM_TOOLS_DATA_PARALLEL_H
#define MOM_TOOLS_DATA_PARALLEL_H

#include <stddef.h>

/* Starts MPI when the process runs under mpirun (and the build has it). */
void tool_mpi_init(int *argc, char ***argv);
void tool_mpi_finalize(void);
int tool_mpi_rank(void);
int tool_mpi_size(void);
/* Sums x[0..n) over every rank, in place; 0, or -1 after printing why (a
 * rank died, the network failed). seconds (may be NULL) += the time it took. */
int tool_mpi_sum_floats(float *x, size_t n, double *seconds);
int tool_mpi_sum_doubles(double *x, size_t n);
/* Rank 0's string to every rank (cap bytes). */
int tool_mpi_bcast_string(char *s, size_t cap);
int tool_mpi_barrier(void);

#endif
