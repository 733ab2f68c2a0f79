#!/bin/bash
# One libFuzzer run for the 'fuzz' test suite (tests/fuzz/meson.build):
#   run_fuzzer.sh FUZZER NAME BUILD_DIR SECONDS DICT|'' SEED_DIR...
# The corpus libFuzzer grows is BUILD_DIR/corpus/NAME (the seed folders are
# only read); a crashing, leaking or slow input is left as
# BUILD_DIR/artifacts/NAME-crash-<sha1> (or -leak-, -timeout-, -oom-) and
# fails the test. MOM_FUZZ_SECONDS overrides SECONDS.
set -u
fuzzer=$1 name=$2 build=$3 seconds=${MOM_FUZZ_SECONDS:-$4} dict=$5
shift 5
seeds=()
for d in "$@"; do [ -e "$d" ] && seeds+=("$d"); done
corpus=$build/corpus/$name
artifacts=$build/artifacts
mkdir -p "$corpus" "$artifacts"
# A sanitizer report must stop the run (meson test sets these too); UBSan
# alone would print and go on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_summary=1:print_stacktrace=1}
args=(-max_total_time="$seconds" -artifact_prefix="$artifacts/$name-" -rss_limit_mb=2048 -timeout=30
      -max_len=65536 -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1)
[ -n "$dict" ] && args+=(-dict="$dict")
"$fuzzer" "${args[@]}" "$corpus" "${seeds[@]}"
rc=$?
if [ $rc -ne 0 ]; then
    echo "fuzz_$name: libFuzzer exited $rc; inputs left in $artifacts:" >&2
    ls -l "$artifacts" | grep -- "$name-" >&2
    # 77 would read as 'skipped' to meson test.
    [ $rc -eq 77 ] && rc=1
fi
exit $rc
