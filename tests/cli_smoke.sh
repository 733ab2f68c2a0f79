#!/usr/bin/env bash
# The mom command end to end on a tiny model: data import, init, grad, eval,
# train, resume (bit-identical to an uninterrupted run), info, and the errors
# a user sees for bad input. Usage: cli_smoke.sh PATH/TO/mom
set -u
mom=$(realpath "$1")
mom_bin=$mom # the program itself, even where $mom becomes a wrapper below
tests_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$tests_dir/processes.sh"
source "$tests_dir/exe_wrapper.sh"
dir=$(mktemp -d)
mom=$(mom_under_wrapper "$dir" "$mom")
cd "$dir" || exit 1
end_processes_on_exit "$dir" || exit 1
fails=0
check() { # check "what" command...: the command must succeed
    local what=$1; shift
    "$@" > out.txt 2> err.txt
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: $what: exit $rc"; cat err.txt; fails=$((fails + 1))
    fi
}
refuse() { # refuse "what" "expected message part" command...: must fail with that message
    local what=$1 msg=$2; shift 2
    if "$@" > out.txt 2> err.txt; then
        echo "FAIL: $what: succeeded"; fails=$((fails + 1))
    elif ! grep -qF -- "$msg" err.txt; then
        echo "FAIL: $what: message lacks '$msg':"; cat err.txt; fails=$((fails + 1))
    fi
}

# 30 documents of 3 modalities.
for i in $(seq 0 29); do
    a=$((i % 3)); b=$(((i + 1) % 3))
    toks=$(seq -s, $((i % 5)) $((i % 5 + 20)))
    echo "{\"segments\": [{\"modality\": $a, \"tokens\": [$toks]}, {\"modality\": $b, \"tokens\": [3, 1, 4, 1, 5, 9, 2, 6]}]}"
done > d.jsonl
check "data import" "$mom" data import --jsonl d.jsonl --out d.bin
grep -q '"n_modalities": 3' out.txt || { echo "FAIL: import sizes: $(cat out.txt)"; fails=$((fails + 1)); }
echo '{"n_modalities": 3, "vocab_size": 32, "d_model": 16, "n_layer": 2, "d_state": 4}' > cfg.json
check "init" "$mom" init --config cfg.json --seed 1 --out m.safetensors
check "grad" "$mom" grad --model m.safetensors --data d.bin --batch 2 --seq 20 --out g.safetensors
grep -q '"loss_by_modality"' out.txt || { echo "FAIL: grad output: $(cat out.txt)"; fails=$((fails + 1)); }
[ -s g.safetensors ] || { echo "FAIL: no gradients file"; fails=$((fails + 1)); }
check "eval" "$mom" eval --model m.safetensors --data d.bin --batch 2 --seq 16
check "info" "$mom" info --model m.safetensors

# 6 steps in one go == 3 steps, then --resume to 6: the same bytes.
common=(--data d.bin --val d.bin --config cfg.json --batch 2 --seq 16 --warmup 2 --threads 1)
check "train 6" "$mom" train "${common[@]}" --steps 6 --out a
check "train 3" "$mom" train "${common[@]}" --steps 3 --out b
check "resume" "$mom" train --resume b --steps 6
cmp -s a/model.safetensors b/model.safetensors || { echo "FAIL: resumed model differs"; fails=$((fails + 1)); }
cmp -s a/optim.safetensors b/optim.safetensors || { echo "FAIL: resumed optimizer differs"; fails=$((fails + 1)); }
[ "$(grep -c '^{"step"' a/metrics.jsonl)" = 6 ] || { echo "FAIL: metrics lines"; fails=$((fails + 1)); }
grep -q '"train_flops"' a/metrics.jsonl || { echo "FAIL: no train_flops in metrics"; fails=$((fails + 1)); }

# A run killed mid-way resumes from its last checkpoint to the same bytes
# as a run never interrupted. The victim saves every step, so the kill
# lands in a save as often as in a step; it is killed on progress (its
# fifth metrics line), not after a fixed time, which a fast disk or a slow
# emulator would make meaningless. The resumed part saves rarely: how often
# a run saves does not change its bytes.
kill_args=(--data d.bin --val d.bin --config cfg.json --batch 2 --seq 16 --warmup 2 --threads 1 --steps 300)
check "straight run" "$mom" train "${kill_args[@]}" --out straight
"$mom" train "${kill_args[@]}" --save-every 1 --out killed > /dev/null 2>&1 &
victim=$!
for _ in $(seq 1 6000); do
    [ "$(grep -c '^{"step"' killed/metrics.jsonl 2> /dev/null)" -ge 5 ] 2> /dev/null && break
    sleep 0.01
done
kill -9 "$victim" 2> /dev/null
wait "$victim" 2> /dev/null
done_steps=$(grep -c '^{"step"' killed/metrics.jsonl 2> /dev/null)
[ "${done_steps:-0}" -ge 5 ] && [ "${done_steps:-0}" -lt 300 ] ||
    { echo "FAIL: the kill did not land mid-way (${done_steps:-no} steps done)"; fails=$((fails + 1)); }
check "resume after a kill" "$mom" train --resume killed --save-every 1000
cmp -s straight/model.safetensors killed/model.safetensors || { echo "FAIL: resumed after a kill, the model differs"; fails=$((fails + 1)); }
cmp -s straight/optim.safetensors killed/optim.safetensors || { echo "FAIL: resumed after a kill, the optimizer differs"; fails=$((fails + 1)); }

# Ctrl-C (SIGINT) and SIGTERM: the step in flight finishes, a checkpoint is
# written at the step reached, a metrics line and one line naming the
# resume command are written, the exit status is 130 / 143, and --resume
# continues to the bytes of the run never stopped. The signal goes after
# the first step's metrics line, so it lands mid-run on any machine (200
# steps of 4 x 64 tokens take about half a second on the development
# machine; the signal comes within a few of them).
sig_args=(--data d.bin --val d.bin --config cfg.json --batch 4 --seq 64 --warmup 2 --threads 1 --steps 200)
check "run never stopped" "$mom" train "${sig_args[@]}" --out whole
grep -q "curves: python3 tools/scripts/plot_run.py whole " out.txt || { echo "FAIL: no plot command: $(tail -2 out.txt)"; fails=$((fails + 1)); }
for sig in INT TERM; do
    want=$([ "$sig" = INT ] && echo 130 || echo 143)
    "$mom" train "${sig_args[@]}" --out "stop$sig" > /dev/null 2> "stop$sig.err" &
    pid=$!
    wait_for_steps "stop$sig" 1 || { echo "FAIL: SIG$sig: no first step"; fails=$((fails + 1)); }
    # The signal is taken by a thread waiting in sigwait(); the main thread
    # (and every thread it starts: the OpenMP workers that run oneDNN's
    # JIT code) blocks it, since a handler's frame written on a thread
    # inside oneDNN's gemm corrupted the heap. (OpenBLAS's pool, started
    # when the library loads, passes it on.) Under an emulator the threads
    # seen are the emulator's.
    if [ -z "${MOM_EXE_WRAPPER:-}" ]; then
        blocked=$(awk '/^SigBlk:/ { print $2 }' /proc/"$pid"/task/"$pid"/status 2> /dev/null)
        [ $((0x${blocked:-0} & 0x4002)) = $((0x4002)) ] ||
            { echo "FAIL: SIG$sig: the main thread of mom train does not block SIGINT and SIGTERM (SigBlk $blocked)"; fails=$((fails + 1)); }
        grep -qs sigtimedwait /proc/"$pid"/task/*/wchan ||
            { echo "FAIL: SIG$sig: no thread of mom train waits in sigwait()"; fails=$((fails + 1)); }
    fi
    kill -"$sig" "$pid"
    wait "$pid"
    rc=$?
    [ "$rc" = "$want" ] || { echo "FAIL: SIG$sig: exit $rc, not $want: $(tail -2 "stop$sig.err")"; fails=$((fails + 1)); }
    at=$(grep -c '^{"step"' "stop$sig/metrics.jsonl")
    [ "$at" -ge 1 ] && [ "$at" -lt 200 ] || { echo "FAIL: SIG$sig: the stop did not land mid-run ($at steps)"; fails=$((fails + 1)); }
    [ "$(readlink "stop$sig/checkpoint")" = "ckpt-$at" ] ||
        { echo "FAIL: SIG$sig: checkpoint $(readlink "stop$sig/checkpoint"), not at step $at"; fails=$((fails + 1)); }
    grep -qx "{\"stopped\": \"SIG$sig\", \"step\": $at}" "stop$sig/metrics.jsonl" ||
        { echo "FAIL: SIG$sig: no stop line in the metrics: $(tail -1 "stop$sig/metrics.jsonl")"; fails=$((fails + 1)); }
    grep -q "SIG$sig: stopped after step $at of 200, checkpoint saved in stop$sig; resume with: mom train --resume stop$sig\$" \
        "stop$sig.err" || { echo "FAIL: SIG$sig: no resume line: $(tail -2 "stop$sig.err")"; fails=$((fails + 1)); }
    check "resume after SIG$sig" "$mom" train --resume "stop$sig"
    cmp -s whole/model.safetensors "stop$sig/model.safetensors" && cmp -s whole/optim.safetensors "stop$sig/optim.safetensors" ||
        { echo "FAIL: resumed after SIG$sig, the model or optimizer differs"; fails=$((fails + 1)); }
done
# A second Ctrl-C ends the run at once, while the stop's checkpoint is
# written or before: either way the checkpoint at the path is a whole one
# (the last --save-every 1 save, or the stop's) and resumes to the same
# bytes. Two signals sent back to back may also arrive as one: then it is
# the graceful stop above. The exit status is 130 both ways.
"$mom" train "${sig_args[@]}" --save-every 1 --out twice > /dev/null 2>&1 &
pid=$!
wait_for_steps twice 3 || { echo "FAIL: second SIGINT: no third step"; fails=$((fails + 1)); }
kill -INT "$pid"
kill -INT "$pid" 2> /dev/null
wait "$pid"
rc=$?
[ "$rc" = 130 ] || { echo "FAIL: two SIGINTs: exit $rc, not 130"; fails=$((fails + 1)); }
check "resume after two SIGINTs" "$mom" train --resume twice --save-every 1000
cmp -s whole/model.safetensors twice/model.safetensors && cmp -s whole/optim.safetensors twice/optim.safetensors ||
    { echo "FAIL: resumed after two SIGINTs, the model or optimizer differs"; fails=$((fails + 1)); }
# The picture of a run (gnuplot is in the README's packages): one run
# folder and two on the same axes, as PNG files.
plot=$tests_dir/../tools/scripts/plot_run.py
if command -v gnuplot > /dev/null; then
    check "plot one run" python3 "$plot" whole
    check "plot two runs" python3 "$plot" whole stopINT --out both.png
    for png in whole/loss.png both.png; do
        [ "$(head -c 4 "$png" | od -An -c | tr -d ' ')" = "211PNG" ] || { echo "FAIL: $png is not a PNG"; fails=$((fails + 1)); }
    done
else
    echo "FAIL: gnuplot is missing (the README installs gnuplot-nox)"; fails=$((fails + 1))
fi
refuse "plot a folder without metrics" "metrics.jsonl" python3 "$plot" cfg.json

# Time-based checkpoints: every 0.001 minutes (60 ms) here, so the run of
# about half a second saves mid-way and its last progress line says when.
check "save every minutes" "$mom" train "${sig_args[@]}" --save-every-minutes 0.001 --out timed
grep -q "saved step [0-9]*, 0m0[0-9]s ago" err.txt || { echo "FAIL: --save-every-minutes: $(tail -2 err.txt)"; fails=$((fails + 1)); }
refuse "bad --save-every-minutes" "--save-every-minutes -1" "$mom" train --save-every-minutes -1

# The built-in data in both settings: per-modality losses by name, held-out evaluations.
check "train chameleon" "$mom" train --setting chameleon --steps 4 --batch 2 --seq 64 --eval-every 2 --eval-batches 2 --out cham
grep -q "text" out.txt && grep -q "image" out.txt || { echo "FAIL: chameleon output lacks modality names: $(cat out.txt)"; fails=$((fails + 1)); }
[ "$(grep -c '"eval"' cham/metrics.jsonl)" = 2 ] || { echo "FAIL: chameleon eval lines"; fails=$((fails + 1)); }
[ -s cham/data/vq.safetensors ] || { echo "FAIL: chameleon: no image codebook in the run folder"; fails=$((fails + 1)); }
mkdir -p pngs
# (A build without the image libraries says so, and that is all it can do.)
if "$mom" data decode-images --data cham/data/val.bin --vq cham/data/vq.safetensors --out pngs --max 2 > out.txt 2> err.txt; then
    [ -s pngs/image-1.png ] || { echo "FAIL: decode-images wrote no PNG"; fails=$((fails + 1)); }
elif ! grep -q "no image support" err.txt; then
    echo "FAIL: decode-images: $(cat err.txt)"; fails=$((fails + 1))
fi
check "train three" "$mom" train --steps 2 --batch 2 --seq 64 --eval-batches 1 --out three
grep -q "speech" out.txt || { echo "FAIL: three output lacks speech: $(cat out.txt)"; fails=$((fails + 1)); }
check "info three" "$mom" info --model three/model.safetensors
grep -q '"vocab_layout": {"special": 7, "text": 256, "image": 256, "speech": 128}' out.txt ||
    { echo "FAIL: info lacks the vocabulary layout: $(cat out.txt)"; fails=$((fails + 1)); }
# Generation from the built-in model: reproducible text for a seed; an
# image after --then image (a PNG, or its code list without image support);
# speech units; --n samples; image and audio prompts; and bad input.
gen=(--model three/model.safetensors --max-tokens 40)
check "generate" "$mom" generate "${gen[@]}" --prompt "the letter" --seed 4
cp out.txt gen1.txt
grep -q '"decode_tokens_per_s"' err.txt || { echo "FAIL: generate prints no summary: $(cat err.txt)"; fails=$((fails + 1)); }
check "generate again" "$mom" generate "${gen[@]}" --prompt "the letter" --seed 4
cmp -s out.txt gen1.txt || { echo "FAIL: generate: same seed, other text"; fails=$((fails + 1)); }
check "generate image" "$mom" generate "${gen[@]}" --prompt "the digit 2 in" --then image --n 3 --out g
[ "$(ls g | grep -c '^sample[0-2]_image0\.\(png\|codes\.txt\)$')" = 3 ] ||
    { echo "FAIL: generate --then image --n 3 wrote: $(ls g)"; fails=$((fails + 1)); }
check "generate image again" "$mom" generate "${gen[@]}" --prompt "the digit 2 in" --then image --n 3 --out g2
for f in g/*; do cmp -s "$f" "g2/${f#g/}" || { echo "FAIL: generate: $f differs between runs"; fails=$((fails + 1)); }; done
# (a 2-step model rarely ends a recording: the cap of 500 units does)
check "generate speech" "$mom" generate "${gen[@]}" --then speech --out s --max-tokens 600
[ -s s/sample0_speech0.units.txt ] || { echo "FAIL: generate --then speech: $(ls s) $(cat err.txt)"; fails=$((fails + 1)); }
if grep -q "speech -> s/sample0_speech0.wav" err.txt; then
    [ "$(head -c 4 s/sample0_speech0.wav)" = RIFF ] || { echo "FAIL: generate: no WAV"; fails=$((fails + 1)); }
fi
if [ -e pngs/image-1.png ]; then
    check "generate from an image" "$mom" generate "${gen[@]}" --image pngs/image-1.png --temperature 0
    ls pngs/*.png > pngs.txt
    check "vq of 16 codes" "$mom" data vq-train --list pngs.txt --out vq16.safetensors --codes 16
    refuse "generate: codebook not the model's" "has 16 codes, but the model's vocabulary has 256" \
        "$mom" generate "${gen[@]}" --vq vq16.safetensors --image pngs/image-1.png
fi
refuse "generate: long prompt" "more than --max-context 5" "$mom" generate "${gen[@]}" --prompt "the letter" --max-context 5
refuse "generate: temperature" "temperature -1" "$mom" generate "${gen[@]}" --temperature -1
refuse "generate: top-p" "top_p 0" "$mom" generate "${gen[@]}" --top-p 0
refuse "generate: --then" "--then video" "$mom" generate "${gen[@]}" --then video
refuse "generate: no layout" "no vocabulary layout" "$mom" generate --model m.safetensors
refuse "generate: no model" "cannot open" "$mom" generate --model none.safetensors
# Ctrl-C and SIGTERM in eval and generate: they stop, print no result, make
# no file, and exit 130 / 143. signal_pending.py starts them with the signal
# already sent and blocked: it is taken as they start listening for it, on
# every machine alike.
pending=(python3 "$tests_dir/signal_pending.py")
"${pending[@]}" INT "$mom_bin" eval --model m.safetensors --data d.bin --batch 2 --seq 16 > out.txt 2> err.txt
rc=$?
[ "$rc" = 130 ] && [ ! -s out.txt ] && grep -qx "mom eval: SIGINT: stopped; no loss printed" err.txt ||
    { echo "FAIL: eval on SIGINT: exit $rc: $(cat out.txt err.txt)"; fails=$((fails + 1)); }
"${pending[@]}" TERM "$mom_bin" generate "${gen[@]}" --prompt "the letter" --then image --out gstop > out.txt 2> err.txt
rc=$?
[ "$rc" = 143 ] && [ "$(cat out.txt)" = "" ] && [ ! -e gstop ] &&
    grep -qx "mom generate: SIGTERM: stopped; the samples end after 0 of --max-tokens 40" err.txt ||
    { echo "FAIL: generate on SIGTERM: exit $rc: $(cat out.txt err.txt)"; fails=$((fails + 1)); }
# An import stopped half-way through its input leaves no file: the
# documents come through a pipe, SIGINT follows the first five, and more
# documents follow it (up to a million), so the import cannot reach the
# end of its input before it sees the stop, however late its signal
# thread runs.
mkfifo docs.fifo
"$mom" data import --jsonl docs.fifo --out stopped.bin > out.txt 2> err.txt &
pid=$!
doc=$(head -1 d.jsonl)
{ head -5 d.jsonl; kill -INT "$pid"; yes "$doc" | head -n 1000000; } > docs.fifo 2> /dev/null &
writer=$!
wait "$pid"
rc=$?
kill "$writer" 2> /dev/null # (still waiting to open the pipe if the import failed first)
[ "$rc" = 130 ] && [ -z "$(ls stopped.bin* 2> /dev/null)" ] &&
    grep -qx "mom data import: SIGINT: stopped; nothing written to stopped.bin" err.txt ||
    { echo "FAIL: data import on SIGINT: exit $rc, files: $(ls stopped.bin* 2> /dev/null): $(cat err.txt)"; fails=$((fails + 1)); }

check "bench generate" "$mom" bench generate --config cfg.json --seq 24 --decode 4
[ "$(grep -c '"speedup_vs_recompute"' out.txt)" = 2 ] && grep -q '"name": "prefill", "batch": 8' out.txt ||
    { echo "FAIL: bench generate: $(cat out.txt)"; fails=$((fails + 1)); }

# Transfusion: images as patches with a diffusion loss; both losses
# reported, and an image drawn by DDIM from a caption.
check "train transfusion" "$mom" train --setting transfusion --steps 3 --batch 2 --seq 64 --eval-batches 1 --out tf
grep -q "text" out.txt && grep -q "image" out.txt || { echo "FAIL: transfusion losses: $(cat out.txt)"; fails=$((fails + 1)); }
grep -q '"patches": {"patch_size": 4, "image_size": 16, "channels": 1}' tf/config.json ||
    { echo "FAIL: transfusion config: $(cat tf/config.json)"; fails=$((fails + 1)); }
check "generate transfusion" "$mom" generate --model tf/model.safetensors --setting transfusion \
    --prompt "the digit 7 in" --steps 5 --max-tokens 4 --out seven.png
[ -s seven.png ] || [ -s seven.pgm ] || { echo "FAIL: no image from transfusion: $(cat err.txt)"; fails=$((fails + 1)); }
refuse "generate: --steps" "--steps 0" "$mom" generate --model tf/model.safetensors --steps 0
refuse "generate: not transfusion" "has no continuous images" "$mom" generate --model three/model.safetensors --setting transfusion

refuse "bad setting" "--setting four" "$mom" train --setting four --out four
refuse "empty run folder" "empty or too long" "$mom" train --steps 1 --out ""

# Benchmarks on a tiny shape: they run and print JSON lines with their fields.
check "bench kernels" "$mom" bench kernels --config cfg.json --batch 1 --seq 40
[ "$(grep -c '"max_err"' out.txt)" -ge 18 ] || { echo "FAIL: bench kernels lines: $(head -c 300 out.txt)"; fails=$((fails + 1)); }
grep -q '"name": "qmm_q4"' out.txt || { echo "FAIL: bench kernels has no qmm_q4 case"; fails=$((fails + 1)); }
check "bench train" "$mom" bench train --config cfg.json --batch 2 --seq 32 --steps 1 --dense
grep -q '"mfu"' out.txt && grep -q '"mom_over_dense"' out.txt || { echo "FAIL: bench train: $(cat out.txt)"; fails=$((fails + 1)); }
check "bench memory" "$mom" bench memory --config cfg.json --from 32 --to 64
grep -q '"growth_kib_per_token_per_layer"' out.txt || { echo "FAIL: bench memory: $(cat out.txt)"; fails=$((fails + 1)); }
refuse "bad --matmul" "bf15" "$mom" bench train --matmul bf15
# bf16 where oneDNN has none for the CPU (imitated: oneDNN held to AVX2) is
# refused at the start, naming why, and leaves no run folder.
if "$mom" info | grep -q 'oneDNN fp32'; then
    refuse "bf16 on an AVX2 CPU" "bf16 matmuls: oneDNN has none for this CPU" \
        env ONEDNN_MAX_CPU_ISA=AVX2 "$mom" train --matmul bf16 --steps 1 --out bf16run
    [ ! -e bf16run ] || { echo "FAIL: a refused bf16 run left its folder"; fails=$((fails + 1)); }
fi

# Backends: auto without a usable device says so in one line and runs on
# the CPU; a name not in the build is refused, naming the ones it has;
# vulkan without a device is refused; with lavapipe allowed (where the
# backend is built) a training benchmark times each op on the device.
# (MOM_VK_DEVICE=999: no such device, so a machine with a GPU reads the same)
check "backend auto" env -u MOM_VK_ALLOW_SOFTWARE MOM_VK_DEVICE=999 "$mom" train --backend auto --steps 1 --batch 2 --seq 32 --out auto
grep -q "running on the CPU" err.txt || { echo "FAIL: --backend auto: $(cat err.txt)"; fails=$((fails + 1)); }
refuse "bad backend" "backend \"gpu\" is not one of this build's: cpu" "$mom" train --backend gpu --steps 1
refuse "bad device" "backend cpu: device 3: the CPU backend has one device" "$mom" train --device 3 --steps 1
if "$mom" info | grep -q '"vulkan": '; then
    refuse "backend vulkan, none usable" "backend vulkan:" env -u MOM_VK_ALLOW_SOFTWARE MOM_VK_DEVICE=999 "$mom" train --backend vulkan --steps 1
    refuse "vulkan device 999" "backend vulkan: device 999: not a device index" "$mom" train --backend vulkan --device 999 --steps 1
    if MOM_VK_ALLOW_SOFTWARE=1 "$mom" bench train --backend vulkan --config cfg.json --batch 2 --seq 32 --steps 1 > out.txt 2> err.txt; then
        grep -q '"name": "device_op", "shader": "mm_tiled"' out.txt ||
            { echo "FAIL: bench train on Vulkan: no device timings: $(head -c 400 out.txt)"; fails=$((fails + 1)); }
    elif ! grep -q "no Vulkan device" err.txt; then
        echo "FAIL: bench train --backend vulkan: $(cat err.txt)"; fails=$((fails + 1))
    fi
else
    refuse "backend vulkan, not built" "backend \"vulkan\" is not one of this build's: cpu or auto" "$mom" train --backend vulkan --steps 1
fi

# Numerical guard: norm weights near FLT_MAX overflow the activations, so
# every gradient is non-finite: each step is skipped (and counted), and the
# run stops after --max-bad-steps in a row, naming the first tensor.
python3 - m.safetensors huge.safetensors <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
data = bytearray(raw[8 + n:])
for name, t in head.items():
    if name != "__metadata__" and name.endswith("norm.weight"):
        a, b = t["data_offsets"]
        data[a:b] = struct.pack("<%df" % ((b - a) // 4), *([3e38] * ((b - a) // 4)))
open(sys.argv[2], "wb").write(raw[:8 + n] + bytes(data))
PY
refuse "non-finite steps" "2 steps in a row had a non-finite gradient" \
    "$mom" train --model huge.safetensors --data d.bin --batch 2 --seq 16 --steps 4 --max-bad-steps 2 --out huge
grep -q "first non-finite gradient: " err.txt || { echo "FAIL: no tensor named: $(cat err.txt)"; fails=$((fails + 1)); }
[ "$(grep -c '"skipped": "non-finite gradient"' huge/metrics.jsonl)" = 2 ] ||
    { echo "FAIL: skipped steps not in the metrics"; fails=$((fails + 1)); }
[ ! -e huge/model.safetensors ] || { echo "FAIL: a checkpoint after a stopped run"; fails=$((fails + 1)); }

# Bad input: clear messages naming the value, no output written.
echo '{"segments": [{"modality": 0, "tokens": [1, 2]}]}' > bad.jsonl
echo '{"segments": [{"modality": 0, "tokens": [1, 99]}]}' >> bad.jsonl
refuse "token out of vocab" "line 2" "$mom" data import --jsonl bad.jsonl --out bad.bin --vocab 32
[ ! -e bad.bin ] || { echo "FAIL: bad.bin written"; fails=$((fails + 1)); }
refuse "bad flag value" "'x'" "$mom" train --batch x
refuse "unknown flag" "--bogus" "$mom" eval --bogus
echo '{"d_model": -3}' > badcfg.json
refuse "bad config" "d_model = -3" "$mom" init --config badcfg.json --out x.safetensors
[ ! -e x.safetensors ] || { echo "FAIL: x.safetensors written"; fails=$((fails + 1)); }
head -c 100 m.safetensors > cut.safetensors
refuse "truncated checkpoint" "cut.safetensors" "$mom" eval --model cut.safetensors --data d.bin
refuse "missing checkpoint" "cannot open" "$mom" grad --model none.safetensors --data d.bin
printf 'caf\xe9\n' > latin1.txt
refuse "non-UTF-8 text" "latin1.txt: not UTF-8 at byte 3" "$mom" data import --text latin1.txt --out t.bin
[ ! -e t.bin ] || { echo "FAIL: t.bin written"; fails=$((fails + 1)); }
printf 'hello\n' > hello.txt
check "text import" "$mom" data import --text hello.txt --out t.bin
grep -q '"tokens": 8' out.txt || { echo "FAIL: text import: $(cat out.txt)"; fails=$((fails + 1)); }
# Continuous images (--patch): an image is BOI, its patch positions, EOI,
# with the pixels as patch vectors; JSON lines carry patches themselves.
printf 'P5 8 8 255\n' > digit.pgm
head -c 64 /dev/zero | tr '\0' '\200' >> digit.pgm
echo '{"segments": [{"text": "a seven"}, {"image": "digit.pgm"}]}' > pm.jsonl
if "$mom" data import --manifest pm.jsonl --patch 2 --size 8 --out pm.bin > out.txt 2> err.txt; then
    grep -qF '"patches": {"patch": 2, "size": 8, "channels": 1, "positions": 16, "images": 1}' out.txt ||
        { echo "FAIL: patch import: $(cat out.txt)"; fails=$((fails + 1)); }
    check "patch import, one image" "$mom" data import --image digit.pgm --patch 4 --size 8 --out pi.bin
    grep -qF '"positions": 4' out.txt || { echo "FAIL: patch import --image: $(cat out.txt)"; fails=$((fails + 1)); }
    mkdir -p ppng
    check "decode patches" "$mom" data decode-images --data pm.bin --out ppng
    [ -s ppng/image-0.png ] || { echo "FAIL: decode-images wrote no PNG from patches"; fails=$((fails + 1)); }
elif ! grep -q "no image support" err.txt; then
    echo "FAIL: patch import: $(cat err.txt)"; fails=$((fails + 1))
fi
refuse "--vq with --patch" "exclude each other" "$mom" data import --manifest pm.jsonl --patch 2 --size 8 --vq vq.st --out pv.bin
refuse "--patch without --size" "needs --size" "$mom" data import --manifest pm.jsonl --patch 2 --out pv.bin
[ ! -e pv.bin ] || { echo "FAIL: pv.bin written"; fails=$((fails + 1)); }
z='[0, 0.5, -1, 1]'
echo "{\"segments\": [{\"modality\": 0, \"tokens\": [2]}, {\"modality\": 1, \"patches\": [$z, $z, $z, $z]}, {\"modality\": 0, \"tokens\": [3]}]}" > pj.jsonl
check "jsonl patch import" "$mom" data import --jsonl pj.jsonl --patch 2 --size 4 --out pj.bin
grep -qF '"positions": 4' out.txt || { echo "FAIL: jsonl patch import: $(cat out.txt)"; fails=$((fails + 1)); }
echo "{\"segments\": [{\"modality\": 0, \"tokens\": [2]}, {\"modality\": 1, \"patches\": [$z, $z, $z, [0, 0, 0]]}, {\"modality\": 0, \"tokens\": [3]}]}" > pj2.jsonl
refuse "patch of the wrong length" "pj2.jsonl: line 1: segment 1: patch 3 has 3 values, patch_dim is 4" \
    "$mom" data import --jsonl pj2.jsonl --patch 2 --size 4 --out pj2.bin
echo "{\"segments\": [{\"modality\": 0, \"tokens\": [2]}, {\"modality\": 1, \"patches\": [$z, $z, $z, $z]}]}" > pj3.jsonl
refuse "image without its end" "image span at token 1 has no end token" \
    "$mom" data import --jsonl pj3.jsonl --patch 2 --size 4 --out pj2.bin
[ ! -e pj2.bin ] || { echo "FAIL: pj2.bin written"; fails=$((fails + 1)); }

if [ "$fails" -eq 0 ]; then echo "cli smoke: all passed"; exit 0; fi
echo "cli smoke: $fails failed"
exit 1
