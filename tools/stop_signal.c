#include "stop_signal.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received;

static void on_stop_signal(int sig)
{
    if (received) {
        /* The second one: the default action, now (a save in flight leaves
         * the previous checkpoint whole: checkpoints are written aside and
         * renamed into place). */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    received = sig;
}

void stop_signal_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* reads and writes in flight go on */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int stop_signal_received(void) { return received; }

const char *stop_signal_name(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }
