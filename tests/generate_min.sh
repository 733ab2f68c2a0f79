#!/usr/bin/env bash
# examples/generate_min.c on an fp32 model and its q8 and q4 copies: the
# state in the program's own memory, N greedy ids each in the vocabulary,
# the same ids on a second run, stops at EOS, and clear refusals. And the
# quantized models through mom: info, eval (near the fp32 loss), generate;
# train refuses them.
# Usage: generate_min.sh PATH/TO/mom PATH/TO/generate_min
set -u
tests_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$tests_dir/exe_wrapper.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/a" "$dir/b"
mom=$(mom_under_wrapper "$dir/a" "$(realpath "$1")")
gen=$(mom_under_wrapper "$dir/b" "$(realpath "$2")")
cd "$dir" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

echo '{"n_modalities": 2, "vocab_size": 40, "d_model": 32, "n_layer": 2, "d_state": 4,
       "vocab_layout": {"special": 7, "text": 25, "image": 8}}' > c.json
"$mom" init --config c.json --seed 3 --out f32.safetensors > /dev/null || fail "init"
for f in q8 q4; do
    "$mom" quantize --model f32.safetensors --out $f.safetensors --format $f > /dev/null || fail "quantize $f"
done
for f in f32 q8 q4; do
    "$gen" $f.safetensors 12 0 9 10 11 > out1.txt 2> err.txt || { fail "$f: $(cat err.txt)"; continue; }
    grep -q "state [0-9]* bytes, in this program's memory" err.txt || fail "$f: no state line: $(cat err.txt)"
    read -r -a ids < out1.txt
    [ "${#ids[@]}" -ge 1 ] && [ "${#ids[@]}" -le 12 ] || fail "$f: ${#ids[@]} ids: $(cat out1.txt)"
    for t in "${ids[@]}"; do [ "$t" -ge 0 ] && [ "$t" -lt 40 ] || fail "$f: id $t is not in [0, 40)"; done
    # Fewer than 12 only when the last is EOS (1 in this layout).
    [ "${#ids[@]}" -eq 12 ] || [ "${ids[-1]}" -eq 1 ] || fail "$f: stopped early without EOS: $(cat out1.txt)"
    "$gen" $f.safetensors 12 0 9 10 11 > out2.txt 2> /dev/null
    cmp -s out1.txt out2.txt || fail "$f: two runs differ: $(cat out1.txt) / $(cat out2.txt)"
done
for i in $(seq 0 20); do
    echo "{\"segments\": [{\"modality\": 0, \"tokens\": [0, $((7 + i % 25)), $((7 + (i * 3) % 25)), 2, $((32 + i % 8)), 3, 1]}]}"
done > d.jsonl
"$mom" data import --jsonl d.jsonl --out d.bin --vocab 40 --modalities 2 > /dev/null || fail "data import"
"$mom" eval --model f32.safetensors --data d.bin --batch 2 --seq 16 > f32.eval 2> err.txt || fail "eval f32: $(cat err.txt)"
for f in q8 q4; do
    "$mom" info --model $f.safetensors 2>&1 | grep -qF "\"weight_format\": \"$f\"" || fail "info $f: no weight_format"
    "$mom" eval --model $f.safetensors --data d.bin --batch 2 --seq 16 > $f.eval 2> err.txt || fail "eval $f: $(cat err.txt)"
    python3 -c "import json, sys; a, b = (json.load(open(p))['loss'] for p in sys.argv[1:]); sys.exit(abs(a - b) > 0.05 * b)" \
        $f.eval f32.eval || fail "eval $f: $(cat $f.eval) is not within 5% of fp32's $(cat f32.eval)"
    "$mom" generate --model $f.safetensors --prompt-ids "9 10" --max-tokens 8 --out gen > /dev/null 2> err.txt ||
        fail "generate $f: $(cat err.txt)"
    "$mom" train --model $f.safetensors --data d.bin --batch 2 --seq 8 --steps 1 --out run > /dev/null 2> err.txt &&
        fail "train $f accepted"
    grep -qF "needs fp32 weights, and the model's are $f" err.txt || fail "train $f: $(cat err.txt)"
done
"$gen" f32.safetensors 4 > /dev/null 2> err.txt || fail "default prompt (BOS): $(cat err.txt)"
"$gen" f32.safetensors 4 40 > /dev/null 2> err.txt && fail "prompt id 40 accepted"
grep -qF "prompt id 40 is not in [0, 40)" err.txt || fail "prompt id refusal: $(cat err.txt)"
"$gen" f32.safetensors 0 > /dev/null 2> err.txt && fail "N_TOKENS 0 accepted"
"$gen" missing.safetensors 4 > /dev/null 2> err.txt && fail "a missing model accepted"
grep -qF "missing.safetensors" err.txt || fail "missing model message: $(cat err.txt)"

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "generate_min: fp32, q8, q4 ok"
