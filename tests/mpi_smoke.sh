#!/usr/bin/env bash
# Data-parallel training under mpirun on one machine (loopback): 2 ranks
# give the losses of 1 rank accumulating 2 micro-batches; a 2-rank run
# resumed from its checkpoint matches an uninterrupted one; a rank killed
# mid-run ends the job with a message and leaves a valid checkpoint.
# Exit 77 (skip) where mpirun or an MPI build is missing.
# Usage: mpi_smoke.sh PATH/TO/mom
set -u
mom=$(realpath "$1")
command -v mpirun > /dev/null || { echo "no mpirun: skipped"; exit 77; }
"$mom" info | grep -q '"mpi": true' || { echo "mom built without MPI: skipped"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
run2() { mpirun -np 2 --oversubscribe "$mom" "$@"; }
source "$(dirname "${BASH_SOURCE[0]}")/processes.sh"
dir=$(mktemp -d)
cd "$dir" || exit 1
end_processes_on_exit "$dir" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# Sends SIG to the rank 1 of the job running in this folder (found by its
# environment); without one, fails and ends the job.
signal_rank1() {
    local p rank1=""
    for p in $(processes_in "$(pwd -P)"); do
        if tr '\0' '\n' < /proc/"$p"/environ 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then rank1=$p; fi
    done
    if [ -z "$rank1" ]; then
        fail "could not find rank 1 to send SIG$1"
        end_processes_in "$(pwd -P)"
    else
        kill -"$1" "$rank1"
    fi
}
common=(train --setting chameleon --batch 2 --seq 64 --eval-batches 2 --warmup 2 --threads 1)

"$mom" "${common[@]}" --steps 6 --accum 2 --out one > one.log 2>&1 || fail "1 rank: $(tail -3 one.log)"
run2 "${common[@]}" --steps 6 --out two > two.log 2>&1 || fail "2 ranks: $(tail -5 two.log)"
grep -q "data parallel: 2 ranks" two.log || fail "2 ranks: no data-parallel summary: $(tail -3 two.log)"
python3 - one/metrics.jsonl two/metrics.jsonl <<'PY' || fail "1 rank x accum 2 and 2 ranks differ"
import json, sys
def steps(p): return [json.loads(l) for l in open(p) if l.startswith('{"step"')]
a, b = steps(sys.argv[1]), steps(sys.argv[2])
assert len(a) == len(b) == 6, (len(a), len(b))
worst = max(abs(x["loss"] - y["loss"]) / abs(x["loss"]) for x, y in zip(a, b))
print("2 ranks vs 1 rank accumulating 2: worst relative loss difference %.2e" % worst)
assert worst <= 1e-5
PY

# The scaling benchmark under mpirun: one line with the efficiency and the
# all-reduce's share.
echo '{"n_modalities": 2, "vocab_size": 40, "d_model": 16, "n_layer": 1}' > tiny.json
run2 bench train --config tiny.json --batch 2 --seq 32 --steps 2 --threads 1 > bench.log 2>&1 ||
    fail "bench train under mpirun: $(tail -3 bench.log)"
grep -q '"name": "train_step_data_parallel", "ranks": 2' bench.log && grep -q '"scaling_efficiency"' bench.log ||
    fail "bench train under mpirun: $(cat bench.log)"

# Resume under MPI: 3 steps, then --resume to 6, equals 6 in one go.
run2 "${common[@]}" --steps 3 --out half > half.log 2>&1 || fail "2 ranks, 3 steps: $(tail -3 half.log)"
run2 train --resume half --steps 6 > resume.log 2>&1 || fail "2 ranks, resume: $(tail -3 resume.log)"
cmp -s two/model.safetensors half/model.safetensors || fail "resumed 2-rank model differs from the uninterrupted one"

# Ctrl-C reaching one rank alone (here rank 1): the ranks agree in the
# step's all-reduce, both stop after the same step, rank 0 saves, no rank
# hangs, and a resume under MPI gives the bytes of a run never stopped.
run2 "${common[@]}" --steps 300 --out whole > whole.log 2>&1 || fail "2 ranks, 300 steps: $(tail -3 whole.log)"
run2 "${common[@]}" --steps 300 --out stopped > stopped.log 2>&1 &
job=$!
wait_for_steps stopped 1 || fail "2 ranks: no first step before the signal"
signal_rank1 INT
wait "$job"
rc=$?
[ "$rc" -ne 0 ] || fail "a stopped 2-rank run exited 0"
at=$(grep -c '^{"step"' stopped/metrics.jsonl)
[ "$at" -ge 1 ] && [ "$at" -lt 300 ] || fail "2 ranks: the stop did not land mid-run ($at steps)"
[ "$(readlink stopped/checkpoint)" = "ckpt-$at" ] || fail "2 ranks: checkpoint $(readlink stopped/checkpoint), not at step $at"
grep -q "stopped after step $at of 300" stopped.log || fail "2 ranks: no stop line: $(tail -3 stopped.log)"
run2 train --resume stopped > resumed.log 2>&1 || fail "2 ranks, resume after a stop: $(tail -3 resumed.log)"
cmp -s whole/model.safetensors stopped/model.safetensors || fail "2 ranks: resumed after a stop, the model differs"

# A rank killed mid-run: the job ends with a message; the checkpoint
# written before stays valid.
run2 "${common[@]}" --steps 100000 --save-every 5 --out killed > killed.log 2>&1 &
job=$!
for _ in $(seq 1 100); do [ -s killed/model.safetensors ] && break; sleep 0.2; done
signal_rank1 KILL
wait "$job"
rc=$?
[ "$rc" -ne 0 ] || fail "the job went on after a rank died"
grep -qiE "rank|signal|died|abort" killed.log || fail "no message after a rank died: $(tail -5 killed.log)"
"$mom" eval --model killed/model.safetensors --data killed/data/val.bin --batch 2 --seq 64 --max-batches 1 > /dev/null 2>&1 ||
    fail "the checkpoint left behind does not load"

if [ "$fails" -eq 0 ]; then echo "mpi smoke: all passed"; exit 0; fi
echo "mpi smoke: $fails failed"
exit 1
