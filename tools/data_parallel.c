/* MPI for the mom command: ranks, sums of gradients and losses, a barrier.
 * Errors return instead of aborting (MPI_ERRORS_RETURN), so a rank that
 * dies or a network fault ends every surviving rank with a message. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "mom_build_config.h"
#include "data_parallel.h"
#include "stop_signal.h"

#if MOM_HAVE_MPI
#include <mpi.h>

static int active, rank_, size_ = 1;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tool_mpi_init(int *argc, char ***argv)
{
    /* MPI's own threads never take SIGINT or SIGTERM (stop_signal.c). */
    sigset_t before;
    stop_signal_block_for_new_threads(&before);
    MPI_Init(argc, argv);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    active = 1;
}

void tool_mpi_finalize(void)
{
    if (active) MPI_Finalize();
    active = 0;
}

int tool_mpi_rank(void) { return rank_; }
int tool_mpi_size(void) { return size_; }

static int check(int rc, const char *what)
{
    if (rc == MPI_SUCCESS) return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    fprintf(stderr, "mom: rank %d of %d: %s failed: %s (a rank died or the network failed); stopping\n", rank_, size_,
            what, msg);
    return -1;
}

int tool_mpi_sum_floats(float *x, size_t n, double *seconds)
{
    if (size_ == 1) return 0;
    const double t0 = now();
    for (size_t i = 0; i < n;) { /* MPI counts are int */
        const int k = n - i > (1u << 30) ? 1 << 30 : (int)(n - i);
        if (check(MPI_Allreduce(MPI_IN_PLACE, x + i, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce")) return -1;
        i += (size_t)k;
    }
    if (seconds) *seconds += now() - t0;
    return 0;
}

int tool_mpi_sum_doubles(double *x, size_t n)
{
    if (size_ == 1) return 0;
    return check(MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

int tool_mpi_bcast_string(char *s, size_t cap)
{
    if (size_ == 1) return 0;
    return check(MPI_Bcast(s, (int)cap, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
}

int tool_mpi_barrier(void) { return size_ == 1 ? 0 : check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

#else /* a build without MPI: one process */

void tool_mpi_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
}
void tool_mpi_finalize(void) {}
int tool_mpi_rank(void) { return 0; }
int tool_mpi_size(void) { return 1; }
int tool_mpi_sum_floats(float *x, size_t n, double *seconds)
{
    (void)x;
    (void)n;
    (void)seconds;
    return 0;
}
int tool_mpi_sum_doubles(double *x, size_t n)
{
    (void)x;
    (void)n;
    return 0;
}
int tool_mpi_bcast_string(char *s, size_t cap)
{
    (void)s;
    (void)cap;
    return 0;
}
int tool_mpi_barrier(void) { return 0; }
#endif
