/* Ctrl-C and SIGTERM as a request to stop cleanly (tools/stop_signal.c):
 * the first SIGINT or SIGTERM is only noted, so a long job can finish what
 * it is doing, save, and exit 128 + the signal's number; a second one ends
 * the process at once, as the signal does by default. */
#ifndef MOM_TOOLS_STOP_SIGNAL_H
#define MOM_TOOLS_STOP_SIGNAL_H

/* Installs the handlers for SIGINT and SIGTERM. */
void stop_signal_install(void);
/* The signal received (SIGINT or SIGTERM), or 0. */
int stop_signal_received(void);
/* "SIGINT" or "SIGTERM": the only two installed. */
const char *stop_signal_name(int sig);

#endif
