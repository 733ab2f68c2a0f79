#!/usr/bin/env python3
"""Writes a small random dense Mamba-1 checkpoint in mamba_ssm's layout
(MambaLMHeadModel) or transformers' (MambaForCausalLM), as those libraries
save it, and beside it the same weights as a native libmom model, so a test
can check that `mom convert` gives what libmom computes natively.

Plain Python (struct, json, random): the test suite needs neither numpy nor
torch. F16 and BF16 values are rounded to nearest even, as torch rounds;
the native file holds them widened to fp32, which is exact.

usage: pretrained_fixture.py OUT_DIR --layout mamba_ssm|hf [--dtype F32|F16|BF16]
       [--shards K] [--vocab V] [--untied] [--drop NAME] [--add NAME]
       [--reshape NAME] [--native FILE] [--old-embedding-name] [--seed S]
"""
import argparse
import json
import math
import os
import random
import struct

D_MODEL, N_LAYER, D_STATE, D_CONV, EXPAND = 16, 2, 4, 4, 2
D_INNER, DT_RANK = EXPAND * D_MODEL, math.ceil(D_MODEL / 16)


def round_bf16(x):
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return bits


def encode(values, dtype):
    """The bytes of values in dtype, and the values as fp32 reads them back."""
    if dtype == "F32":
        raw = struct.pack("<%df" % len(values), *values)
        return raw, list(struct.unpack("<%df" % len(values), raw))
    if dtype == "F16":
        raw = struct.pack("<%de" % len(values), *values)
        return raw, list(struct.unpack("<%de" % len(values), raw))
    halves = [round_bf16(v) for v in values]
    raw = struct.pack("<%dH" % len(halves), *halves)
    wide = [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]
    return raw, wide


def dense_tensors(rng, rows, tied):
    """(libmom name, shape, values) of a dense model, in table order."""
    def uni(n, bound):
        return [rng.uniform(-bound, bound) for _ in range(n)]

    t = [("embedding.weight", [rows, D_MODEL], [rng.gauss(0, 0.5) for _ in range(rows * D_MODEL)])]
    for i in range(N_LAYER):
        p = "layers.%d." % i
        t += [
            (p + "norm.weight", [D_MODEL], [1 + rng.gauss(0, 0.1) for _ in range(D_MODEL)]),
            (p + "mixer.in_proj.weight", [2 * D_INNER, D_MODEL], uni(2 * D_INNER * D_MODEL, D_MODEL ** -0.5)),
            (p + "mixer.conv1d.weight", [D_INNER, 1, D_CONV], uni(D_INNER * D_CONV, 0.5)),
            (p + "mixer.conv1d.bias", [D_INNER], uni(D_INNER, 0.5)),
            (p + "mixer.x_proj.weight", [DT_RANK + 2 * D_STATE, D_INNER],
             uni((DT_RANK + 2 * D_STATE) * D_INNER, D_INNER ** -0.5)),
            (p + "mixer.dt_proj.weight", [D_INNER, DT_RANK], uni(D_INNER * DT_RANK, DT_RANK ** -0.5)),
            (p + "mixer.dt_proj.bias", [D_INNER], [rng.uniform(-6, -2) for _ in range(D_INNER)]),
            (p + "mixer.A_log", [D_INNER, D_STATE],
             [math.log(n + 1) + rng.gauss(0, 0.1) for _ in range(D_INNER) for n in range(D_STATE)]),
            (p + "mixer.D", [D_INNER], [1 + rng.gauss(0, 0.1) for _ in range(D_INNER)]),
            (p + "mixer.out_proj.weight", [D_MODEL, D_INNER], uni(D_MODEL * D_INNER, D_INNER ** -0.5)),
        ]
    t.append(("norm_f.weight", [D_MODEL], [1 + rng.gauss(0, 0.1) for _ in range(D_MODEL)]))
    if not tied:
        t.append(("lm_head.weight", [rows, D_MODEL], [rng.gauss(0, 0.5) for _ in range(rows * D_MODEL)]))
    return t


def write_safetensors(path, tensors, metadata=None):
    """tensors: (name, dtype, shape, raw bytes), in order."""
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for *_, raw in tensors:
            f.write(raw)


def checkpoint_name(layout, name):
    if name == "embedding.weight":
        return "backbone.embeddings.weight" if layout == "hf" else "backbone.embedding.weight"
    return name if name == "lm_head.weight" else "backbone." + name


def config_json(layout, vocab, tied):
    if layout == "hf":
        return {"architectures": ["MambaForCausalLM"], "model_type": "mamba", "hidden_size": D_MODEL,
                "num_hidden_layers": N_LAYER, "state_size": D_STATE, "conv_kernel": D_CONV, "expand": EXPAND,
                "intermediate_size": D_INNER, "time_step_rank": DT_RANK, "layer_norm_epsilon": 1e-5,
                "use_bias": False, "use_conv_bias": True, "hidden_act": "silu", "vocab_size": vocab,
                "pad_vocab_size_multiple": 8, "tie_word_embeddings": tied, "residual_in_fp32": True,
                "torch_dtype": "float32",
                # what state-spaces/mamba-*-hf configs carry besides MambaConfig's own fields
                "n_layer": N_LAYER, "rms_norm": True, "fused_add_norm": True, "bos_token_id": 0, "eos_token_id": 0,
                "pad_token_id": 0, "initializer_range": 0.1, "rescale_prenorm_residual": False,
                "time_step_floor": 0.0001, "time_step_init_scheme": "random", "time_step_max": 0.1,
                "time_step_min": 0.001, "time_step_scale": 1.0, "use_cache": True}
    return {"d_model": D_MODEL, "d_intermediate": 0, "n_layer": N_LAYER, "vocab_size": vocab,
            "ssm_cfg": {"layer": "Mamba1", "d_state": D_STATE, "d_conv": D_CONV, "expand": EXPAND},
            "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": True, "residual_in_fp32": True,
            "fused_add_norm": True, "pad_vocab_size_multiple": 8, "tie_embeddings": tied}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--layout", choices=["mamba_ssm", "hf"], required=True)
    ap.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32")
    ap.add_argument("--shards", type=int, default=0, help="0: one model.safetensors; K: K shards and an index")
    ap.add_argument("--vocab", type=int, default=30, help="config vocab_size (mamba_ssm pads it to 8)")
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--drop", help="leave this checkpoint tensor out")
    ap.add_argument("--add", help="add this extra checkpoint tensor")
    ap.add_argument("--reshape", help="give this checkpoint tensor one element less")
    ap.add_argument("--native", help="also write the same weights as a libmom model here")
    ap.add_argument("--old-embedding-name", action="store_true",
                    help="hf: name the embedding backbone.embedding.weight, which transformers renames on load")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tied = not a.untied
    rows = a.vocab if a.layout == "hf" else -(-a.vocab // 8) * 8
    dense = dense_tensors(rng, rows, tied)
    os.makedirs(a.out_dir, exist_ok=True)
    ckpt, native = [], []
    for name, shape, values in dense:
        raw, wide = encode(values, a.dtype)
        ckpt.append([checkpoint_name(a.layout, name), a.dtype, shape, raw])
        native.append((name, "F32", shape, struct.pack("<%df" % len(wide), *wide)))
    if tied and a.layout == "mamba_ssm":  # MambaLMHeadModel.state_dict() lists the tied head
        ckpt.append(["lm_head.weight", a.dtype, ckpt[0][2], ckpt[0][3]])
    if a.old_embedding_name:
        ckpt[0][0] = "backbone.embedding.weight"
    if a.drop:
        ckpt = [t for t in ckpt if t[0] != a.drop]
    if a.add:
        ckpt.append([a.add, a.dtype, [D_MODEL], encode([0.0] * D_MODEL, a.dtype)[0]])
    for t in ckpt:
        if t[0] == a.reshape:
            n = math.prod(t[2]) - 1
            t[2], t[3] = [n], t[3][: n * len(t[3]) // (n + 1)]
    with open(os.path.join(a.out_dir, "config.json"), "w") as f:
        json.dump(config_json(a.layout, a.vocab, tied), f, indent=2)
    if a.shards:
        weight_map = {}
        for k in range(a.shards):
            shard = "model-%05d-of-%05d.safetensors" % (k + 1, a.shards)
            part = ckpt[k :: a.shards]
            write_safetensors(os.path.join(a.out_dir, shard), part, {"format": "pt"})
            weight_map.update({t[0]: shard for t in part})
        with open(os.path.join(a.out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": sum(len(t[3]) for t in ckpt)}, "weight_map": weight_map}, f)
    else:
        write_safetensors(os.path.join(a.out_dir, "model.safetensors"), ckpt, {"format": "pt"})
    if a.native:
        cfg = {"n_modalities": 1, "vocab_size": rows, "d_model": D_MODEL, "n_layer": N_LAYER, "d_state": D_STATE,
               "d_conv": D_CONV, "expand": EXPAND, "dt_rank": DT_RANK, "decouple": [], "tie_embeddings": tied,
               "norm_eps": 1e-5}
        write_safetensors(a.native, native, {"format": "pt", "config": json.dumps(cfg), "libmom": "model"})


if __name__ == "__main__":
    main()
