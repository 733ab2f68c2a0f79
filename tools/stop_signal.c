/* SIGINT and SIGTERM are taken by one thread of their own (sigwait), not
 * by a handler on a computing thread: every thread we start has them
 * blocked. A handler runs on whichever
 * thread the signal lands on, and writes its frame below that thread's
 * stack pointer; oneDNN's JIT gemm points the stack pointer into the heap
 * while it runs (oneDNN issue 4845, in every version Debian ships), so a
 * Ctrl-C there corrupted the heap and a later free() aborted (seen here in
 * about one stop of six, and in five runs of five under a stream of
 * signals). sigwait() in a thread that computes nothing has no such frame.
 * A handler stays installed only to pass a signal on from threads that
 * are not ours (pass_on). */
#include "stop_signal.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int received;
static pthread_t taker;
static atomic_int taker_runs;
static pthread_mutex_t forward_lock = PTHREAD_MUTEX_INITIALIZER;
static mom_ctx *forward_to; /* under forward_lock: the context whose long calls a first signal stops */

static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

/* The first signal: noted, and passed to the library call in flight. */
static void take_first(int sig)
{
    pthread_mutex_lock(&forward_lock);
    atomic_store(&received, sig);
    if (forward_to) mom_ctx_set_stop(forward_to, 1);
    pthread_mutex_unlock(&forward_lock);
}

static void *take_signals(void *arg)
{
    (void)arg;
    sigset_t set;
    stop_signals(&set);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0) continue;
        if (atomic_load(&received)) {
            /* The second: what the signal does by default, now (a save in
             * flight leaves the previous checkpoint whole: checkpoints are
             * written aside and renamed into place). */
            signal(sig, SIG_DFL);
            pthread_sigmask(SIG_UNBLOCK, &set, NULL);
            raise(sig);
            continue;
        }
        take_first(sig);
    }
    return NULL;
}

void stop_signal_block_for_new_threads(sigset_t *before)
{
    sigset_t set;
    stop_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, before);
}

/* A signal that lands on a thread not started by us, so not blocking it
 * (OpenBLAS starts its pool when it loads, before main), goes on to the
 * taking thread. Those threads run no oneDNN code. */
static void pass_on(int sig)
{
    if (atomic_load(&taker_runs)) pthread_kill(taker, sig);
}

void stop_signal_install(void)
{
    sigset_t before, set, pending;
    stop_signal_block_for_new_threads(&before);
    /* One sent before now (a parent started us with it blocked) is taken
     * here, before any work, not whenever the taking thread gets to it. */
    stop_signals(&set);
    const struct timespec now = {0, 0};
    int sig;
    if (sigpending(&pending) == 0 && (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM)) &&
        (sig = sigtimedwait(&set, NULL, &now)) > 0)
        take_first(sig);
    pthread_attr_t attr;
    int ok = pthread_attr_init(&attr) == 0;
    if (ok) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        ok = pthread_create(&taker, &attr, take_signals, NULL) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!ok) { /* no thread to take them: Ctrl-C ends the process, as by default */
        fprintf(stderr, "mom: cannot start the thread that takes Ctrl-C; it will end the process at once\n");
        pthread_sigmask(SIG_SETMASK, &before, NULL);
        return;
    }
    atomic_store(&taker_runs, 1);
    /* A handler, not the default: a signal ignored when we started (a
     * shell's background job) would be dropped before sigwait saw it. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = pass_on;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void stop_signal_forward(mom_ctx *ctx)
{
    pthread_mutex_lock(&forward_lock);
    forward_to = ctx;
    if (ctx && atomic_load(&received)) mom_ctx_set_stop(ctx, 1); /* a signal before this call */
    pthread_mutex_unlock(&forward_lock);
}

int stop_signal_exit(const char *cmd, const char *what)
{
    const int got = atomic_load(&received), sig = got ? got : SIGINT;
    fprintf(stderr, "mom %s: %s: stopped; %s\n", cmd, stop_signal_name(sig), what);
    return 128 + sig;
}

int stop_signal_received(void) { return atomic_load(&received); }

const char *stop_signal_name(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }
