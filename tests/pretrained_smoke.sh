#!/usr/bin/env bash
# mom convert end to end on small random dense Mamba-1 checkpoints written
# by tests/pretrained_fixture.py (plain Python, no torch) in both layouts,
# F32 / F16 / BF16, one file and sharded: the converted model's loss and
# gradients are those of the same weights written natively, bit for bit;
# and every refusal names what is wrong and leaves nothing at --out.
# Usage: pretrained_smoke.sh PATH/TO/mom PYTHON3
set -u
mom=$(realpath "$1")
py=$2
tests_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fixture=$tests_dir/pretrained_fixture.py
source "$tests_dir/exe_wrapper.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mom=$(mom_under_wrapper "$dir" "$mom")
cd "$dir" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
edit_config() { # edit_config DIR PYTHON-STATEMENT-ON-c
    "$py" -c "import json,sys; p='$1/config.json'; c=json.load(open(p)); $2; json.dump(c, open(p, 'w'))"
}

for i in $(seq 0 40); do
    echo "{\"segments\": [{\"modality\": 0, \"tokens\": [$((i % 29)), $(((i * 7) % 30)), $(((i * 3) % 29)), 5, 9]}]}"
done > d.jsonl
"$mom" data import --jsonl d.jsonl --out d.bin --vocab 30 > /dev/null || fail "data import"

# convert == native: the same loss line and the same gradient bytes.
n=0
for layout in mamba_ssm hf; do
    for dtype in F32 F16 BF16; do
        for shards in 0 3; do
            n=$((n + 1))
            case=$layout-$dtype-$shards
            extra=()
            [ $((n % 4)) -eq 0 ] && extra=(--untied)
            "$py" "$fixture" "$case" --layout $layout --dtype $dtype --shards $shards --seed $n \
                --native "$case.native" "${extra[@]}" || { fail "$case: fixture"; continue; }
            from=$case
            [ $shards -gt 0 ] && [ $((n % 2)) -eq 0 ] && from=$case/model.safetensors.index.json
            "$mom" convert --from "$from" --out "$case.mom" > out.txt 2> err.txt || { fail "$case: convert: $(cat err.txt)"; continue; }
            "$mom" grad --model "$case.mom" --data d.bin --batch 2 --seq 16 --threads 1 --out "$case.g1" > l1.txt
            "$mom" grad --model "$case.native" --data d.bin --batch 2 --seq 16 --threads 1 --out "$case.g2" > l2.txt
            cmp -s l1.txt l2.txt || fail "$case: loss $(cat l1.txt) != native $(cat l2.txt)"
            cmp -s "$case.g1" "$case.g2" || fail "$case: gradients differ from the native model's"
        done
    done
done
# mamba_ssm pads the vocabulary to a multiple of 8; transformers keeps it.
grep -q '"vocab_size": 30' out.txt || fail "hf vocabulary: $(cat out.txt)"
"$mom" convert --from mamba_ssm-F32-0 --out padded.mom | grep -q '"vocab_size": 32' || fail "mamba_ssm vocabulary not padded to 32"
# transformers renames backbone.embedding.weight as it loads: either name.
"$py" "$fixture" hfold --layout hf --old-embedding-name --native hfold.native > /dev/null || fail "hfold fixture"
"$mom" convert --from hfold --out hfold.mom > /dev/null 2> err.txt || fail "hf with the old embedding name: $(cat err.txt)"
"$mom" grad --model hfold.mom --data d.bin --batch 2 --seq 16 --threads 1 --out hfold.g1 > /dev/null
"$mom" grad --model hfold.native --data d.bin --batch 2 --seq 16 --threads 1 --out hfold.g2 > /dev/null
cmp -s hfold.g1 hfold.g2 || fail "hf with the old embedding name: other gradients"
# One .safetensors file with config.json beside it.
"$mom" convert --from hf-BF16-0/model.safetensors --out one.mom > /dev/null || fail "convert one file"

# Upcycling: every copy is the dense weight, so the loss on batches whose
# tokens carry modalities 0, 1 and 2 is the dense model's on the same
# tokens (to float rounding: the split model runs other GEMM row blocks).
for i in $(seq 0 40); do
    echo "{\"segments\": [{\"modality\": $((i % 3)), \"tokens\": [$((i % 29)), $(((i * 7) % 30))]}, {\"modality\": $(((i + 1) % 3)), \"tokens\": [$(((i * 3) % 29)), 5, 9]}]}"
done > dm.jsonl
"$mom" data import --jsonl dm.jsonl --out dm.bin --vocab 30 > /dev/null || fail "mixed data import"
same_loss() { # same_loss WHAT FILE1 FILE2: the "loss" of two mom grad lines within 1e-6
    "$py" -c "import json,sys; a, b = (json.load(open(f))['loss'] for f in sys.argv[1:]); sys.exit(abs(a - b) > 1e-6 * abs(b))" "$2" "$3" ||
        fail "$1: loss $(cat "$2") != dense $(cat "$3")"
}
"$mom" grad --model hf-F32-0.mom --data d.bin --batch 4 --seq 8 --threads 1 > dense.txt || fail "dense grad"
for dec in in,x,dt,out in,dt none; do
    "$mom" convert --from hf-F32-0 --upcycle 3 --decouple $dec --out up.mom > out.txt 2> err.txt ||
        { fail "upcycle $dec: $(cat err.txt)"; continue; }
    grep -q '"n_modalities": 3' out.txt || fail "upcycle $dec: $(cat out.txt)"
    "$mom" grad --model up.mom --data dm.bin --batch 4 --seq 8 --threads 1 > up.txt || fail "upcycled grad $dec"
    same_loss "upcycle --decouple $dec" up.txt dense.txt
done
"$mom" convert --from mamba_ssm-BF16-3 --upcycle 2 --decouple x,out --out up2.mom > /dev/null || fail "upcycle 2"
"$mom" info --model up2.mom > info.txt 2>&1 || fail "info of an upcycled model"
grep -q "local_experts_x_proj" up2.mom || fail "upcycle 2: no local_experts_x_proj tensors"
"$mom" train --model up.mom --data dm.bin --batch 2 --seq 8 --steps 2 --threads 1 --out trained > /dev/null 2>&1 ||
    fail "train an upcycled model"
"$mom" convert --from hf-F32-0 --decouple in --out x.mom > /dev/null 2> err.txt && fail "--decouple without --upcycle accepted"
"$mom" convert --from hf-F32-0 --upcycle 9 --out x.mom > /dev/null 2> err.txt && fail "--upcycle 9 accepted"
[ -e x.mom ] && fail "a refused upcycle wrote x.mom"

# A multimodal vocabulary past the pretrained one: the pretrained ids stay,
# id 0 serves as BOS and EOS, the other specials, 16 image codes and 8
# speech units are appended (mamba_ssm's padded 32 rows stay text).
"$mom" convert --from mamba_ssm-F32-0 --upcycle 3 --add-image-codes 16 --add-speech-units 8 --bos 0 --eos 0 \
    --out mm.mom > out.txt 2> err.txt || fail "extend the vocabulary: $(cat err.txt)"
grep -qF '"vocab_size": 61' out.txt && grep -qF '"pretrained_ids": 32, "image_codes": {"first": 37, "n": 16}' out.txt &&
    grep -qF '"special": {"bos": 0, "eos": 0, "boi": 32, "eoi": 33, "bosp": 34, "eosp": 35, "pad": 36}' out.txt ||
    fail "extended vocabulary: $(cat out.txt)"
"$mom" info --model mm.mom 2>&1 | grep -qF '"text_first": 1, "bos": 0, "eos": 0, "boi": 32' || fail "info: no text_first layout"
# Its data: the pretrained tokenizer's ids and the appended ones, imported
# without a layout; train, then sample: text ids printed, an image's codes
# listed, only codes inside it.
for i in $(seq 0 40); do
    echo "{\"segments\": [{\"modality\": 0, \"tokens\": [0, $((i % 29)), 32]}, {\"modality\": 1, \"tokens\": [$((37 + i % 16)), $((37 + (i * 3) % 16))]}, {\"modality\": 0, \"tokens\": [33, 5, 0]}]}"
done > mm.jsonl
"$mom" data import --jsonl mm.jsonl --out mm.bin --vocab 61 --modalities 3 > /dev/null || fail "import mm data"
rm -rf mmrun
"$mom" train --model mm.mom --data mm.bin --batch 2 --seq 8 --steps 2 --threads 1 --out mmrun > /dev/null 2> err.txt ||
    fail "train the extended model: $(cat err.txt)"
"$mom" generate --model mmrun/model.safetensors --prompt-ids "0 5 9" --then image --max-tokens 40 --seed 3 --out gen \
    > gen.txt 2> err.txt || fail "generate from the extended model: $(cat err.txt)"
codes=$(cat gen/sample0_image0.codes.txt 2> /dev/null)
[ -n "$codes" ] || fail "generate --then image wrote no codes: $(cat err.txt)"
for c in $codes; do [ "$c" -ge 0 ] && [ "$c" -lt 16 ] || fail "image code $c is not in [0, 16)"; done
# Text alone: pretrained ids, printed as ids (not bytes), none an appended special.
texts=0
for seed in 1 2 3 4 5 6; do
    "$mom" generate --model mmrun/model.safetensors --prompt-ids "0 5 9" --max-tokens 12 --seed $seed > gen.txt 2> err.txt ||
        fail "generate text: $(cat err.txt)"
    read -r -a ids < gen.txt
    [ "${#ids[@]}" -gt 0 ] && texts=$((texts + 1))
    for t in "${ids[@]}"; do [[ "$t" =~ ^[0-9]+$ ]] && [ "$t" -lt 32 ] || fail "generated text token '$t' is not a pretrained id"; done
done
[ "$texts" -gt 0 ] || fail "six samples drew no text at all"
"$mom" generate --model mm.mom --prompt hi > /dev/null 2> err.txt && fail "--prompt bytes accepted for pretrained ids"
grep -qF "give them with --prompt-ids" err.txt || fail "--prompt refusal: $(cat err.txt)"
"$mom" generate --model mm.mom --prompt-ids "5 40" > /dev/null 2> err.txt && fail "--prompt-ids with an image code accepted"
grep -qF '"40" is not a text token id of the model (text ids: [0, 32))' err.txt || fail "--prompt-ids refusal: $(cat err.txt)"
"$mom" generate --model mm.mom --prompt-ids "5 33" > /dev/null 2> err.txt && fail "--prompt-ids with EOI accepted"
# Its data is held to its layout: an image code labelled text is refused.
echo '{"segments": [{"modality": 0, "tokens": [0, 5, 40, 9, 0]}]}' > bad.jsonl
"$mom" data import --jsonl bad.jsonl --out bad.bin --vocab 61 --modalities 3 > /dev/null || fail "import bad.jsonl"
"$mom" train --model mm.mom --data bad.bin --batch 1 --seq 4 --steps 1 --threads 1 --out badrun > /dev/null 2> err.txt &&
    fail "train on mislabelled image codes"
grep -qF "token 40 at position 2 has modality 0, its range's is 1" err.txt || fail "mislabelled data: $(cat err.txt)"
# Refusals, nothing written.
"$mom" convert --from hf-F32-0 --add-image-codes 4 --out x.mom > /dev/null 2> err.txt && fail "image codes on a dense model"
grep -qF -- "--add-image-codes needs --upcycle 2 or more" err.txt || fail "dense image codes: $(cat err.txt)"
"$mom" convert --from hf-F32-0 --upcycle 2 --eos 30 --out x.mom > /dev/null 2> err.txt && fail "--eos 30 accepted"
grep -qF -- "--eos 30 is not a token of the pretrained vocabulary [0, 30)" err.txt || fail "--eos refusal: $(cat err.txt)"
"$mom" convert --from hf-F32-0 --upcycle 3 --add-speech-units -2 --out x.mom > /dev/null 2> err.txt && fail "-2 units"
grep -qF -- "--add-speech-units -2 is not in [0, 16777216]" err.txt || fail "-2 units: $(cat err.txt)"
"$mom" convert --from hf-F32-0 --upcycle 2 --bos -1 --out x.mom > /dev/null 2> err.txt && fail "--bos -1 accepted"
grep -qF -- "--bos -1 is not a token of the pretrained vocabulary" err.txt || fail "--bos -1: $(cat err.txt)"
[ -e x.mom ] && fail "a refused vocabulary wrote x.mom"

# Export, then convert: the same bytes, in either format; the folder is
# created, and holds config.json and model.safetensors only.
for case in mamba_ssm-F32-0 mamba_ssm-BF16-3 hf-F16-0 hf-BF16-3 mamba_ssm-F32-3; do
    for format in mamba_ssm hf; do
        rm -rf "exp/$case-$format"
        "$mom" export --model "$case.mom" --format $format --out "exp/$case-$format" > /dev/null 2> err.txt ||
            { fail "export $case $format: $(cat err.txt)"; continue; }
        [ "$(ls "exp/$case-$format" | tr '\n' ' ')" = "config.json model.safetensors " ] ||
            fail "export $case $format holds $(ls "exp/$case-$format")"
        "$mom" convert --from "exp/$case-$format" --out back.mom > /dev/null 2> err.txt ||
            { fail "convert the $format export of $case: $(cat err.txt)"; continue; }
        cmp -s back.mom "$case.mom" || fail "export $case $format, then convert: other bytes"
    done
done
# A tied model's mamba_ssm export lists lm_head.weight (its state_dict does);
# the transformers export leaves it out.
grep -q '"lm_head.weight"' exp/mamba_ssm-F32-0-mamba_ssm/model.safetensors || fail "mamba_ssm export without lm_head"
grep -q '"lm_head.weight"' exp/mamba_ssm-F32-0-hf/model.safetensors && fail "tied hf export with lm_head"
grep -q '"backbone.embeddings.weight"' exp/mamba_ssm-F32-0-hf/model.safetensors || fail "hf export embedding name"
# MambaConfig(**config) fails on a key it lacks: only mamba_ssm 1.x's fields,
# which 2.x keeps.
"$py" -c "
import json, sys
keys = set(json.load(open('exp/mamba_ssm-F32-0-mamba_ssm/config.json')))
sys.exit(bool(keys - {'d_model', 'n_layer', 'vocab_size', 'ssm_cfg', 'rms_norm', 'residual_in_fp32',
                      'fused_add_norm', 'pad_vocab_size_multiple', 'tie_embeddings'}))" || fail "mamba_ssm export config keys"
# --modality K: the dense model modality K's weights make computes what the
# Mixture-of-Mamba computes on a sequence of modality K. Trained first, so
# the copies differ.
"$py" -c "
import json
for line in open('d.jsonl'):
    d = json.loads(line)
    for seg in d['segments']: seg['modality'] = 1
    print(json.dumps(d))" > d1.jsonl
"$mom" data import --jsonl d1.jsonl --out d1.bin --vocab 30 --modalities 3 > /dev/null || fail "modality-1 data import"
"$mom" convert --from hf-F32-0 --upcycle 3 --out up.mom > /dev/null || fail "upcycle for export"
rm -rf trained
"$mom" train --model up.mom --data dm.bin --batch 2 --seq 8 --steps 3 --warmup 1 --lr 0.01 --threads 1 --out trained \
    > /dev/null 2>&1 || fail "train the upcycled model"
"$mom" grad --model trained/model.safetensors --data d1.bin --batch 4 --seq 8 --threads 1 > mom1.txt || fail "grad mom m1"
"$mom" export --model trained/model.safetensors --format hf --modality 1 --out exp/m1 > /dev/null 2> err.txt ||
    fail "export --modality 1: $(cat err.txt)"
"$mom" convert --from exp/m1 --out m1.mom > /dev/null || fail "convert the modality-1 export"
"$mom" grad --model m1.mom --data d.bin --batch 4 --seq 8 --threads 1 > dense1.txt || fail "grad of the modality-1 export"
same_loss "export --modality 1" dense1.txt mom1.txt
"$mom" export --model trained/model.safetensors --format hf --modality 0 --out exp/m0 > /dev/null || fail "export m0"
cmp -s exp/m0/model.safetensors exp/m1/model.safetensors && fail "trained modalities 0 and 1 export the same weights"
# Export refusals leave nothing at --out.
refuse_export() { # refuse_export "what" "message part" ARGS...
    local what=$1 msg=$2; shift 2
    rm -rf exp/refused
    if "$mom" export "$@" --out exp/refused/deep > out.txt 2> err.txt; then
        fail "$what: exported"
    elif ! grep -qF -- "$msg" err.txt; then
        fail "$what: message lacks '$msg': $(cat err.txt)"
    fi
    [ -e exp/refused ] && fail "$what: left exp/refused"
}
refuse_export "MoM without --modality" "pick the modality" --model up.mom --format hf
refuse_export "modality out of range" "modality 3: the model has 3" --model up.mom --format hf --modality 3
refuse_export "unknown format" "is not hf or mamba_ssm" --model up.mom --format torch --modality 0
"$py" "$fixture" eps --layout hf && edit_config eps "c['layer_norm_epsilon'] = 1e-6"
"$mom" convert --from eps --out eps.mom > /dev/null || fail "convert eps 1e-6"
refuse_export "eps in mamba_ssm" "norm_eps = 1e-06, but mamba_ssm" --model eps.mom --format mamba_ssm
"$mom" export --model eps.mom --format hf --out exp/eps > /dev/null || fail "export eps hf"
grep -q '"layer_norm_epsilon": 1e-06' exp/eps/config.json || fail "layer_norm_epsilon: $(cat exp/eps/config.json)"

# Refusals: the message names the field and value; nothing at --out, no
# temporary file beside it.
refuse() { # refuse "what" "message part" FROM
    local what=$1 msg=$2 from=$3
    mkdir -p outdir
    if "$mom" convert --from "$from" --out outdir/m.safetensors > out.txt 2> err.txt; then
        fail "$what: converted"
    elif ! grep -qF -- "$msg" err.txt; then
        fail "$what: message lacks '$msg': $(cat err.txt)"
    fi
    [ -z "$(ls -A outdir)" ] || fail "$what: left $(ls -A outdir)"
}
refuse_config() { # refuse_config NAME LAYOUT CONFIG-EDIT "message part"
    "$py" "$fixture" "$1" --layout "$2" && edit_config "$1" "$3"
    refuse "$1" "$4" "$1"
}
refuse_config bias hf "c['use_bias'] = True" "use_bias = true is not supported: libmom needs false"
refuse_config ssmbias mamba_ssm "c['ssm_cfg']['bias'] = True" "ssm_cfg.bias = true is not supported"
refuse_config ln mamba_ssm "c['rms_norm'] = False" "rms_norm = false is not supported: libmom needs true"
refuse_config m2 mamba_ssm "c['ssm_cfg']['layer'] = 'Mamba2'" "ssm_cfg.layer = Mamba2 is not supported"
refuse_config m2hf hf "c['model_type'] = 'mamba2'" "model_type = mamba2 is not supported"
refuse_config mlp mamba_ssm "c['d_intermediate'] = 64" "d_intermediate = 64 is not supported"
refuse_config attn mamba_ssm "c['attn_layer_idx'] = [1]" "attn_layer_idx has 1 layers"
refuse_config noconv hf "c['use_conv_bias'] = False" "use_conv_bias = false is not supported: libmom needs true"
refuse_config vocab hf "c['vocab_size'] = 32" "backbone.embeddings.weight has shape [30, 16], the config needs [32, 16]"
refuse_config wrongname hf "c.pop('model_type'); c.pop('hidden_size'); c['d_model'] = 16; c['n_layer'] = 2; c['ssm_cfg'] = {'d_state': 4}" \
    "tensor backbone.embedding.weight is missing"
"$py" "$fixture" missing --layout hf --shards 2 --drop backbone.layers.1.mixer.D
refuse "missing" "tensor backbone.layers.1.mixer.D is missing" missing
"$py" "$fixture" extra --layout mamba_ssm --add backbone.layers.0.mixer.dt_bias
refuse "extra" "tensor backbone.layers.0.mixer.dt_bias is not part of" extra
"$py" "$fixture" shape --layout hf --dtype F16 --reshape backbone.layers.0.mixer.A_log
refuse "shape" "backbone.layers.0.mixer.A_log has shape [127], the config needs [32, 4]" shape
"$py" "$fixture" head --layout mamba_ssm --untied && edit_config head "c['tie_embeddings'] = True"
refuse "tied head differs" "lm_head.weight differs from the embedding, but the config ties them" head
mkdir -p pickle && cp hf-F32-0/config.json pickle/ && printf '\x80\x02}q\x00.' > pickle/pytorch_model.bin
refuse "pickle folder" "tools/scripts/torch_to_safetensors.py" pickle
refuse "pickle file" "is never unpickled" pickle/pytorch_model.bin
refuse "no checkpoint" "no model.safetensors" outdir

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "pretrained: all passed"
