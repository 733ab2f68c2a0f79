# Sourced by the test scripts that start processes (cli_smoke.sh,
# mpi_smoke.sh): ending them, and knowing when to signal them.
#
# `end_processes_on_exit DIR`, called after `cd DIR`: on every way out of
# the script (its end, a failed check, Ctrl-C, meson's SIGTERM at a
# timeout) every process still working in DIR is killed and DIR removed.
# A test's commands all run in its folder, the ranks mpirun starts
# included, so nothing it started outlives it, whichever path it took.
# Only bash and /proc: a minimal Debian has no procps (pgrep, pkill).

# PIDs of the processes whose working directory is DIR, the script's own
# shell and the subshell doing the scan excepted (call it from the script's
# shell: a subshell calling it would be listed, and end_processes_in would
# end it).
processes_in() {
    local p
    for p in /proc/[0-9]*; do
        case "${p#/proc/}" in "$$" | "$BASHPID") continue ;; esac
        [ "$p/cwd" -ef "$1" ] 2> /dev/null && echo "${p#/proc/}" # no fork: a scan stays quick
    done
}

end_processes_in() {
    local p
    for p in $(processes_in "$1"); do kill -9 "$p" 2> /dev/null; done
}

end_processes_on_exit() {
    _end_dir=$(cd "$1" && pwd -P) || return 1
    trap 'end_processes_in "$_end_dir"; rm -rf "$_end_dir"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Waits (up to a minute) until the run folder RUN has N step lines in its
# metrics: a signal sent then lands mid-run, whatever the machine's speed.
wait_for_steps() {
    local i
    for i in $(seq 1 1200); do
        [ "$(grep -c '^{"step"' "$1/metrics.jsonl" 2> /dev/null)" -ge "$2" ] 2> /dev/null && return 0
        sleep 0.05
    done
    return 1
}
