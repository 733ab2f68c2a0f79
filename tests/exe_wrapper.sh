# Sourced by the shell suites. In a cross build the command runs under an
# emulator: MOM_EXE_WRAPPER (the cross file's script_exe_wrapper, e.g.
# "qemu-aarch64 -L /"). mom_under_wrapper DIR PROGRAM prints the path to
# run: PROGRAM itself, or a script in DIR that runs it under the wrapper.
mom_under_wrapper() {
    if [ -n "${MOM_EXE_WRAPPER:-}" ]; then
        printf '#!/usr/bin/env bash\nexec %s %q "$@"\n' "$MOM_EXE_WRAPPER" "$2" > "$1/mom"
        chmod +x "$1/mom"
        echo "$1/mom"
    else
        echo "$2"
    fi
}
