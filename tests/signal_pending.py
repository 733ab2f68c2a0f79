"""Runs a command with a signal already pending: blocked, sent, then exec'd.

Usage: signal_pending.py INT|TERM COMMAND ARGS...

The signal stays blocked and pending across exec until the command takes
it: for mom, when it starts the thread that sigwait()s for stop signals. A
test thus sends Ctrl-C at a known point, the same on every machine. MOM_EXE_WRAPPER (an
emulator, in a cross build) is put in front of the command, as cli_smoke.sh
does, so that no shell stands between: a shell might take it first.
"""
import os
import shlex
import signal
import sys

sig = getattr(signal, "SIG" + sys.argv[1])
argv = shlex.split(os.environ.get("MOM_EXE_WRAPPER", "")) + sys.argv[2:]
signal.pthread_sigmask(signal.SIG_BLOCK, [sig])
os.kill(os.getpid(), sig)
os.execvp(argv[0], argv)
