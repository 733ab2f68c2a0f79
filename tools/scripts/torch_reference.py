#!/usr/bin/python3
"""Independent PyTorch reference of the libmom Mixture-of-Mamba language model.

Used to check the C library's `mom grad`: given a checkpoint and a batch, this
script computes the loss and the gradient of every parameter with autograd
(plain PyTorch, a sequential selective scan, float64 by default) and compares
them with what `mom grad` wrote.  Nothing here shares code with the C side: the
safetensors reader/writer, the config handling and the model are written from
DESIGN.md alone, so agreement means something.

Modes (see --help):
  compare   --ckpt M.safetensors --jsonl D.jsonl --batch B --seq T
            [--grads G.safetensors] [--mom-json L.json] [--grads-out R.safetensors]
            (--pretrained DIR instead of --ckpt: a mamba_ssm or transformers
            checkpoint, to check what `mom convert` made of it)
  init      --init-out M.safetensors --config CFG.json --seed S
  data      --make-jsonl D.jsonl --docs N --vocab V --modalities M --seed S
  self-test --self-test   (autograd vs finite differences, float64, tiny configs)

Shape conventions: Bt = batch rows, T = positions, D = d_model, E = d_inner,
N = d_state, R = dt_rank, K = d_conv, V = vocab, M = n_modalities.
Activations are (Bt, T, features); Linear weights are PyTorch's [out, in].
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

PROJS = ("in", "x", "dt", "out")  # the four projections that can be decoupled

# ---------------------------------------------------------------------------
# safetensors, parsed by hand (the `safetensors` package is not assumed).
# Layout: u64 LE header length n, n bytes of JSON header, then raw LE data.
# Header: {"name": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]},
#          "__metadata__": {str: str}}; offsets are relative to the data start.
# ---------------------------------------------------------------------------

_ST_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
    "BF16": np.dtype("<u2"),  # decoded to float32 below
}


def read_safetensors(path):
    """Returns (tensors: {name: np.ndarray (float64 for float dtypes)}, metadata dict).

    Validates everything a hostile or truncated file could get wrong: header
    bounds, dtype, shape vs byte count, offsets inside the data, no overlap.
    """
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: truncated: {len(blob)} bytes, no header length")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8:
        raise ValueError(f"{path}: header length {hlen} exceeds file size {len(blob)}")
    try:
        header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: header is not JSON: {e}")
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    data = memoryview(blob)[8 + hlen:]
    meta = header.pop("__metadata__", None) or {}
    tensors, spans = {}, []
    for name, info in header.items():
        dt = info.get("dtype")
        if dt not in _ST_DTYPES:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {dt!r}")
        shape = [int(s) for s in info["shape"]]
        b, e = (int(o) for o in info["data_offsets"])
        npdt = _ST_DTYPES[dt]
        n = int(np.prod(shape)) if shape else 1
        if not (0 <= b <= e <= len(data)) or e - b != n * npdt.itemsize:
            raise ValueError(f"{path}: tensor {name}: offsets [{b},{e}] do not fit shape "
                             f"{shape} {dt} in {len(data)} data bytes")
        spans.append((b, e, name))
        arr = np.frombuffer(data[b:e], dtype=npdt).reshape(shape)
        if dt == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float64)
        else:
            arr = arr.copy()
        tensors[name] = arr
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise ValueError(f"{path}: tensors {n0} and {n1} overlap")
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: array} as F32 safetensors (names in the dict's order).

    The header is padded with spaces to a multiple of 8 so the data is aligned;
    written to a temporary file, fsynced and renamed, like the C side does.
    """
    header, off, chunks = {}, 0, []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(np.asarray(arr, dtype="<f4"))
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        chunks.append(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# Config.  Same field names and defaults as mom_config in include/mom.h.
# ---------------------------------------------------------------------------

DEFAULT_CONFIG = {
    "n_modalities": 3, "vocab_size": 1024, "d_model": 256, "n_layer": 4,
    "d_state": 16, "d_conv": 4, "expand": 2, "dt_rank": 0,
    "decouple": ["in", "x", "dt", "out"], "tie_embeddings": True, "norm_eps": 1e-5,
}


def parse_decouple(v):
    """A list like ["in","dt"] (or a MOM_DECOUPLE_* bit mask) -> frozenset of names."""
    if isinstance(v, bool):
        raise ValueError(f"config: decouple: expected a list, got {v!r}")
    if isinstance(v, int):
        if v & ~0xF:
            raise ValueError(f"config: decouple: bit mask {v} has unknown bits")
        return frozenset(p for i, p in enumerate(PROJS) if v & (1 << i))
    if not isinstance(v, list) or any(p not in PROJS for p in v):
        raise ValueError(f"config: decouple: expected a list of {PROJS}, got {v!r}")
    return frozenset(v)


def normalize_config(raw):
    """Merges defaults, resolves dt_rank 0 and validates. Returns a plain dict
    whose "decouple" is a frozenset and "tie_embeddings" a bool."""
    unknown = set(raw) - set(DEFAULT_CONFIG)
    if unknown:
        print(f"warning: config: ignoring unknown keys {sorted(unknown)}", file=sys.stderr)
    c = dict(DEFAULT_CONFIG)
    c.update({k: v for k, v in raw.items() if k in DEFAULT_CONFIG})
    for k in ("n_modalities", "vocab_size", "d_model", "n_layer", "d_state", "d_conv", "expand", "dt_rank"):
        if isinstance(c[k], bool) or not isinstance(c[k], int):
            raise ValueError(f"config: {k}: expected an integer, got {c[k]!r}")
    c["decouple"] = parse_decouple(c["decouple"])
    c["tie_embeddings"] = bool(c["tie_embeddings"])
    c["norm_eps"] = float(c["norm_eps"])
    if c["dt_rank"] == 0:
        c["dt_rank"] = -(-c["d_model"] // 16)  # ceil(d_model / 16)
    checks = [("n_modalities", 1, 8), ("vocab_size", 2, None), ("d_model", 1, None), ("n_layer", 1, None),
              ("d_state", 1, None), ("d_conv", 1, None), ("expand", 1, None), ("dt_rank", 1, None)]
    for k, lo, hi in checks:
        if c[k] < lo or (hi is not None and c[k] > hi):
            raise ValueError(f"config: {k}: {c[k]} out of range")
    if not c["norm_eps"] > 0:
        raise ValueError(f"config: norm_eps: {c['norm_eps']} must be > 0")
    c["d_inner"] = c["expand"] * c["d_model"]
    return c


def config_to_json(c):
    """The config as the JSON string stored in __metadata__["config"]."""
    out = {k: c[k] for k in DEFAULT_CONFIG}
    out["decouple"] = [p for p in PROJS if p in c["decouple"]]
    return json.dumps(out)


def proj_shapes(c):
    """Weight shapes [out, in] of the four projections (plus dt bias)."""
    D, E, N, R = c["d_model"], c["d_inner"], c["d_state"], c["dt_rank"]
    return {"in": (2 * E, D), "x": (R + 2 * N, E), "dt": (E, R), "out": (D, E)}


def proj_names(c, i, p):
    """Tensor names of projection p of layer i: list (one per modality, or one
    shared) of (weight name, bias name or None)."""
    pre = f"layers.{i}.mixer."
    bias = p == "dt"
    if p in c["decouple"]:
        return [(f"{pre}local_experts_{p}_proj.{m}.weight",
                 f"{pre}local_experts_{p}_proj.{m}.bias" if bias else None) for m in range(c["n_modalities"])]
    return [(f"{pre}{p}_proj.weight", f"{pre}{p}_proj.bias" if bias else None)]


def expected_shapes(c):
    """{name: shape} of every parameter, in a canonical order."""
    D, E, N, K, V = c["d_model"], c["d_inner"], c["d_state"], c["d_conv"], c["vocab_size"]
    shapes = {"embedding.weight": (V, D)}
    ps = proj_shapes(c)
    for i in range(c["n_layer"]):
        shapes[f"layers.{i}.norm.weight"] = (D,)
        for p in PROJS:
            for w, b in proj_names(c, i, p):
                shapes[w] = ps[p]
                if b:
                    shapes[b] = (E,)
        pre = f"layers.{i}.mixer."
        shapes[pre + "conv1d.weight"] = (E, 1, K)
        shapes[pre + "conv1d.bias"] = (E,)
        shapes[pre + "A_log"] = (E, N)
        shapes[pre + "D"] = (E,)
    shapes["norm_f.weight"] = (D,)
    if not c["tie_embeddings"]:
        shapes["lm_head.weight"] = (V, D)
    return shapes


def infer_decouple(names, n_layer):
    """Which projections are decoupled, read off the tensor names alone.
    Fails if a layer has both or neither spelling, or layers disagree."""
    found = set()
    for p in PROJS:
        per_layer = []
        for i in range(n_layer):
            pre = f"layers.{i}.mixer."
            dec = any(n.startswith(f"{pre}local_experts_{p}_proj.") for n in names)
            sh = f"{pre}{p}_proj.weight" in names
            if dec == sh:
                raise ValueError(f"checkpoint: layer {i}: projection {p}: "
                                 f"{'both' if dec else 'neither'} shared and per-modality tensors")
            per_layer.append(dec)
        if len(set(per_layer)) > 1:
            raise ValueError(f"checkpoint: projection {p} decoupled in some layers only")
        if per_layer[0]:
            found.add(p)
    return frozenset(found)


def load_checkpoint(path):
    """Returns (config, {name: np.float64 array}); checks names, shapes and
    that the decoupling in the config matches the tensor names."""
    tensors, meta = read_safetensors(path)
    if "config" not in meta:
        raise ValueError(f"{path}: no \"config\" in __metadata__")
    c = normalize_config(json.loads(meta["config"]))
    inferred = infer_decouple(set(tensors), c["n_layer"])
    if inferred != c["decouple"]:
        raise ValueError(f"{path}: config says decouple {sorted(c['decouple'])} but tensor names say "
                         f"{sorted(inferred)}")
    check_names_shapes(expected_shapes(c), {k: v.shape for k, v in tensors.items()}, "config", path)
    return c, tensors


def load_pretrained(path):
    """A dense Mamba-1 checkpoint of mamba_ssm (MambaLMHeadModel) or
    transformers (MambaForCausalLM), read by their own conventions and
    independently of src/pretrained_*.c: path is a folder holding
    config.json and model.safetensors (or model.safetensors.index.json and
    its shards), or one .safetensors / index file with config.json beside.
    Returns (config, params) under this script's dense names, to check
    `mom convert` + `mom grad` against."""
    d = path if os.path.isdir(path) else (os.path.dirname(path) or ".")
    with open(os.path.join(d, "config.json")) as f:
        raw = json.load(f)
    if os.path.isdir(path):
        single = os.path.join(d, "model.safetensors")
        path = single if os.path.exists(single) else os.path.join(d, "model.safetensors.index.json")
    files = [path]
    if path.endswith(".index.json"):
        with open(path) as f:
            files = sorted({os.path.join(d, v) for v in json.load(f)["weight_map"].values()})
    tensors = {}
    for fp in files:
        tensors.update(read_safetensors(fp)[0])
    if "d_model" in raw:  # mamba_ssm: the vocabulary padded to a multiple
        ssm = raw.get("ssm_cfg") or {}
        vocab, mult = raw.get("vocab_size", 50277), raw.get("pad_vocab_size_multiple", 8)
        vocab += -vocab % mult
        dt_rank = ssm.get("dt_rank", "auto")
        c = {"d_model": raw["d_model"], "n_layer": raw["n_layer"], "d_state": ssm.get("d_state", 16),
             "d_conv": ssm.get("d_conv", 4), "expand": ssm.get("expand", 2), "tie_embeddings": raw.get("tie_embeddings", True),
             "norm_eps": 1e-5}
        emb = "backbone.embedding.weight"
    else:  # transformers: rows == vocab_size
        vocab, dt_rank = raw.get("vocab_size", 50280), raw.get("time_step_rank", "auto")
        c = {"d_model": raw["hidden_size"], "n_layer": raw["num_hidden_layers"], "d_state": raw.get("state_size", 16),
             "d_conv": raw.get("conv_kernel", 4), "expand": raw.get("expand", 2),
             "tie_embeddings": raw.get("tie_word_embeddings", True), "norm_eps": raw.get("layer_norm_epsilon", 1e-5)}
        emb = "backbone.embeddings.weight"
    c.update({"n_modalities": 1, "vocab_size": vocab, "decouple": [], "dt_rank": 0 if dt_rank == "auto" else dt_rank})
    c = normalize_config(c)
    params = {}
    for k, v in tensors.items():
        if k == emb:
            params["embedding.weight"] = v
        elif k == "lm_head.weight":
            if not c["tie_embeddings"]:
                params[k] = v
        elif k.startswith("backbone."):
            params[k[len("backbone."):]] = v
        else:
            raise ValueError(f"{path}: unexpected tensor {k}")
    check_names_shapes(expected_shapes(c), {k: v.shape for k, v in params.items()}, "config", path)
    return c, params


def check_names_shapes(want, got, want_what, got_what):
    """Raises unless both {name: shape} maps hold the same names and shapes."""
    missing = [n for n in want if n not in got]
    extra = [n for n in got if n not in want]
    bad = [f"{n}: {tuple(got[n])} vs {tuple(want[n])}" for n in want if n in got and tuple(got[n]) != tuple(want[n])]
    if missing or extra or bad:
        msg = [f"{got_what} does not match {want_what}:"]
        if missing:
            msg.append(f"  missing: {missing}")
        if extra:
            msg.append(f"  unexpected: {extra}")
        if bad:
            msg.append("  wrong shape: " + "; ".join(bad))
        raise ValueError("\n".join(msg))


# ---------------------------------------------------------------------------
# Init, as upstream Mamba (DESIGN.md "Init").
# ---------------------------------------------------------------------------

def init_params(c, seed):
    """Random parameters {name: float32 tensor} following DESIGN.md.

    PyTorch default Linear / Conv1d init is kaiming_uniform(a=sqrt(5)), i.e.
    U(+-1/sqrt(fan_in)); Conv1d's bias is U(+-1/sqrt(fan_in)) with fan_in = K
    (one input channel per group)."""
    g = torch.Generator().manual_seed(seed)
    E, N, R, K, L = c["d_inner"], c["d_state"], c["dt_rank"], c["d_conv"], c["n_layer"]

    def uniform(shape, bound):
        return (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * bound

    p = {}
    shapes = expected_shapes(c)
    for name, shape in shapes.items():
        if name == "embedding.weight":
            p[name] = torch.randn(shape, generator=g, dtype=torch.float64) * 0.02
        elif name.endswith("norm.weight") or name == "norm_f.weight":
            p[name] = torch.ones(shape, dtype=torch.float64)
        elif name.endswith("conv1d.weight") or name.endswith("conv1d.bias"):
            p[name] = uniform(shape, 1.0 / math.sqrt(K))
        elif name.endswith("A_log"):
            p[name] = torch.log(torch.arange(1, N + 1, dtype=torch.float64)).repeat(E, 1)
        elif name.endswith(".D"):
            p[name] = torch.ones(shape, dtype=torch.float64)
        elif "dt_proj" in name and name.endswith(".weight"):
            p[name] = uniform(shape, R ** -0.5)
        elif "dt_proj" in name and name.endswith(".bias"):
            # dt ~ log-uniform in [1e-3, 1e-1], floor 1e-4; bias = softplus^-1(dt)
            dt = torch.exp(torch.rand(shape, generator=g, dtype=torch.float64)
                           * (math.log(1e-1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
            p[name] = dt + torch.log(-torch.expm1(-dt))
        elif name.endswith(".weight"):  # in/x/out projections, lm_head
            w = uniform(shape, 1.0 / math.sqrt(shape[1]))
            if "out_proj" in name:
                w = w / math.sqrt(L)  # rescale_prenorm_residual, every modality copy
            p[name] = w
        else:
            raise AssertionError(name)
    return {k: v.float() for k, v in p.items()}


# ---------------------------------------------------------------------------
# The model, functional: params is {name: tensor}, all of one dtype.
# ---------------------------------------------------------------------------

def rmsnorm(x, w, eps):
    # x: (Bt, T, D), w: (D,)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def routed_linear(h, mod, weights, biases):
    """Per-token Linear with the weight of the token's modality.

    h: (Bt, T, in); mod: (Bt, T) long; weights: list of [out, in] (length 1 =
    shared). Each modality's tokens go through their own weight; out-of-place
    index_copy keeps it differentiable."""
    if len(weights) == 1:
        y = h @ weights[0].t()
        return y + biases[0] if biases[0] is not None else y
    Bt, T, _ = h.shape
    flat, mflat = h.reshape(Bt * T, -1), mod.reshape(-1)
    out = flat.new_zeros(Bt * T, weights[0].shape[0])
    for m, (w, b) in enumerate(zip(weights, biases)):
        idx = (mflat == m).nonzero(as_tuple=True)[0]
        if idx.numel() == 0:
            continue
        ym = flat.index_select(0, idx) @ w.t()
        if b is not None:
            ym = ym + b
        out = out.index_copy(0, idx, ym)
    return out.reshape(Bt, T, -1)


def selective_scan(u, delta, A, Bm, Cm, Dv):
    """Sequential Mamba-1 scan, state reset at each row start.

    u, delta: (Bt, T, E); A: (E, N); Bm, Cm: (Bt, T, N); Dv: (E,).
    s_t = exp(delta_t A) s_{t-1} + delta_t B_t u_t;  y_t = C_t . s_t + D u_t.
    Returns y: (Bt, T, E)."""
    Bt, T, E = u.shape
    s = u.new_zeros(Bt, E, A.shape[1])  # (Bt, E, N)
    ys = []
    for t in range(T):
        dA = torch.exp(delta[:, t, :, None] * A)                       # (Bt, E, N)
        dBu = delta[:, t, :, None] * Bm[:, t, None, :] * u[:, t, :, None]
        s = dA * s + dBu
        ys.append((s * Cm[:, t, None, :]).sum(-1))                      # (Bt, E)
    return torch.stack(ys, 1) + u * Dv


def mixer(c, params, i, h, mod, scan=selective_scan):
    """One Mixture-of-Mamba mixer. h: (Bt, T, D), mod: (Bt, T) -> (Bt, T, D)."""
    E, N, R, K = c["d_inner"], c["d_state"], c["dt_rank"], c["d_conv"]
    pre = f"layers.{i}.mixer."

    def proj(p, x):
        names = proj_names(c, i, p)
        return routed_linear(x, mod, [params[w] for w, _ in names],
                             [params[b] if b else None for _, b in names])

    uz = proj("in", h)                                        # (Bt, T, 2E)
    u, z = uz[..., :E], uz[..., E:]
    T = u.shape[1]
    # causal depthwise conv: pad K-1 on the left (both sides, keep the first T)
    uc = F.conv1d(u.transpose(1, 2), params[pre + "conv1d.weight"], params[pre + "conv1d.bias"],
                  padding=K - 1, groups=E)[..., :T].transpose(1, 2)
    u = F.silu(uc)                                            # (Bt, T, E)
    xdbl = proj("x", u)                                       # (Bt, T, R + 2N)
    r, Bm, Cm = xdbl[..., :R], xdbl[..., R:R + N], xdbl[..., R + N:]
    delta = F.softplus(proj("dt", r))                         # (Bt, T, E); threshold 20
    A = -torch.exp(params[pre + "A_log"])                     # (E, N)
    y = scan(u, delta, A, Bm, Cm, params[pre + "D"]) * F.silu(z)
    return proj("out", y)


def forward_logits(c, params, tokens, mod, scan=selective_scan):
    """tokens, mod: (Bt, T) long -> logits (Bt, T, V)."""
    x = params["embedding.weight"][tokens]                    # (Bt, T, D)
    for i in range(c["n_layer"]):
        h = rmsnorm(x, params[f"layers.{i}.norm.weight"], c["norm_eps"])
        x = x + mixer(c, params, i, h, mod, scan)
    x = rmsnorm(x, params["norm_f.weight"], c["norm_eps"])
    head = params["embedding.weight"] if c["tie_embeddings"] else params["lm_head.weight"]
    return x @ head.t()


def losses(c, params, batch, scan=selective_scan):
    """Returns (mean loss tensor, by_modality list (NaN when no target), counts).

    The mean is over every target != -1; a modality's mean is over the
    targets whose own (target) modality is that one."""
    tokens, mod, targets, tmod = batch
    logits = forward_logits(c, params, tokens, mod, scan)
    V = logits.shape[-1]
    nll = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).clamp(min=0), reduction="none")
    valid = targets.reshape(-1) >= 0
    n = int(valid.sum())
    if n == 0:
        raise ValueError("batch: no target positions (all -1)")
    loss = (nll * valid).sum() / n
    by, counts = [], []
    with torch.no_grad():
        for m in range(c["n_modalities"]):
            sel = valid & (tmod.reshape(-1) == m)
            k = int(sel.sum())
            counts.append(k)
            by.append(float(nll[sel].sum() / k) if k else float("nan"))
    return loss, by, counts


def compute_grads(c, np_params, batch, dtype):
    """Loss, per-modality losses, counts and {name: grad ndarray} via autograd."""
    params = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in np_params.items()}
    loss, by, counts = losses(c, params, batch)
    loss.backward()
    grads = {k: p.grad.detach().to(torch.float64).numpy() if p.grad is not None else np.zeros(p.shape)
             for k, p in params.items()}
    return float(loss), by, counts, grads


# ---------------------------------------------------------------------------
# Data: JSON lines of segments; batch rows are consecutive (T+1)-windows.
# ---------------------------------------------------------------------------

def read_jsonl(path, c):
    """Concatenated (tokens, modalities) int64 arrays of every document, checked
    against the vocabulary and modality count."""
    toks, mods = [], []
    with open(path) as f:
        for ln, line in enumerate(f, 1):
            if not line.strip():
                continue
            doc = json.loads(line)
            for seg in doc["segments"]:
                m = int(seg["modality"])
                if not 0 <= m < c["n_modalities"]:
                    raise ValueError(f"{path}:{ln}: modality {m} out of range [0,{c['n_modalities']})")
                for t in seg["tokens"]:
                    if not 0 <= int(t) < c["vocab_size"]:
                        raise ValueError(f"{path}:{ln}: token {t} out of range [0,{c['vocab_size']})")
                toks.extend(int(t) for t in seg["tokens"])
                mods.extend([m] * len(seg["tokens"]))
    return np.array(toks, dtype=np.int64), np.array(mods, dtype=np.int64)


def make_batch(toks, mods, B, T, start=0):
    """Row b = stream [start + b(T+1), start + (b+1)(T+1)); inputs the first T,
    targets the last T. Returns (tokens, mod, targets, target_mod), each (B, T)."""
    need = start + B * (T + 1)
    if need > len(toks):
        raise ValueError(f"data: batch {B}x{T} from {start} needs {need} tokens, stream has {len(toks)}")
    w = torch.from_numpy(toks[start:need].reshape(B, T + 1))
    wm = torch.from_numpy(mods[start:need].reshape(B, T + 1))
    return w[:, :T], wm[:, :T], w[:, 1:], wm[:, 1:]


def make_jsonl(path, docs, vocab, modalities, seed):
    """Random documents, each a few segments of changing modality."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for _ in range(docs):
            segs, m = [], int(rng.integers(modalities))
            for _ in range(int(rng.integers(2, 6))):
                n = int(rng.integers(1, 24))
                segs.append({"modality": m, "tokens": rng.integers(0, vocab, n).tolist()})
                if modalities > 1:  # next segment: a different modality
                    m = (m + int(rng.integers(1, modalities))) % modalities
            f.write(json.dumps({"segments": segs}) + "\n")


# ---------------------------------------------------------------------------
# Comparison with `mom grad`.
# ---------------------------------------------------------------------------

TINY = 1e-30


def rel_err(ref, got):
    return float(np.linalg.norm((ref - got).ravel()) / max(np.linalg.norm(ref.ravel()), TINY))


def read_mom_json(path):
    """The last line of the file that is a JSON object with a "loss" key."""
    found = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(obj, dict) and "loss" in obj:
                    found = obj
    if found is None:
        raise ValueError(f"{path}: no JSON line with \"loss\"")
    return found


def compare_losses(loss, by, counts, mom, tol):
    """Prints and checks the total and per-modality losses; returns ok."""
    ok = True
    e = abs(loss - float(mom["loss"])) / max(abs(loss), TINY)
    good = e <= tol
    ok &= good
    print(f"{'loss':<48} ref {loss:.9g} mom {float(mom['loss']):.9g} rel {e:.3e} {'PASS' if good else 'FAIL'}")
    mb = mom.get("loss_by_modality")
    if mb is None:
        print("loss_by_modality: absent from mom output  FAIL")
        return False
    if len(mb) != len(by):
        print(f"loss_by_modality: mom has {len(mb)} entries, model has {len(by)} modalities  FAIL")
        return False
    for m, (r, g, k) in enumerate(zip(by, mb, counts)):
        g = float("nan") if g is None else float(g)
        if k == 0:  # no target of this modality: mom should say NaN/null
            good = math.isnan(g)
            print(f"{'loss[modality %d]' % m:<48} no targets, mom {g}  {'PASS' if good else 'FAIL'}")
        else:
            e = abs(r - g) / max(abs(r), TINY) if not math.isnan(g) else float("inf")
            good = e <= tol
            print(f"{'loss[modality %d] (%d targets)' % (m, k):<48} ref {r:.9g} mom {g:.9g} rel {e:.3e} "
                  f"{'PASS' if good else 'FAIL'}")
        ok &= good
    return ok


def compare_grads(ref, mom, tol):
    """Per tensor: max abs error, relative error, PASS/FAIL. Returns ok."""
    check_names_shapes({k: v.shape for k, v in ref.items()}, {k: v.shape for k, v in mom.items()},
                       "the model's tensors", "gradient file")
    ok, worst = True, 0.0
    print(f"{'tensor':<48} {'shape':<16} {'max_abs_err':>11} {'rel_err':>10} {'|g_ref|':>10}")
    for name, r in ref.items():
        g = mom[name]
        if not np.all(np.isfinite(g)):
            e, mx = float("inf"), float("inf")
        else:
            e, mx = rel_err(r, g), float(np.max(np.abs(r - g))) if r.size else 0.0
        good = e <= tol
        ok &= good
        worst = max(worst, e)
        print(f"{name:<48} {str(list(r.shape)):<16} {mx:11.3e} {e:10.3e} {np.linalg.norm(r):10.3e} "
              f"{'PASS' if good else 'FAIL'}")
    print(f"worst gradient rel err {worst:.3e} (threshold {tol:g})")
    return ok


# ---------------------------------------------------------------------------
# Self-test: the reference against itself, float64.
# ---------------------------------------------------------------------------

def naive_scan(u, delta, A, Bm, Cm, Dv):
    """Closed form of the scan, no recurrence: s_t = sum_{k<=t} exp(A sum_{j=k+1..t}
    delta_j) delta_k B_k u_k. O(T^2); an independent check of selective_scan."""
    Bt, T, E = u.shape
    cum = torch.cumsum(delta, 1)                                 # (Bt, T, E)
    ys = []
    for t in range(T):
        # decay from k to t: exp(A (cum_t - cum_k)), k = 0..t -> (Bt, t+1, E, N)
        dec = torch.exp((cum[:, t:t + 1] - cum[:, :t + 1])[..., None] * A)
        src = (delta[:, :t + 1] * u[:, :t + 1])[..., None] * Bm[:, :t + 1, None, :]
        s = (dec * src).sum(1)                                   # (Bt, E, N)
        ys.append((s * Cm[:, t, None, :]).sum(-1))
    return torch.stack(ys, 1) + u * Dv


def self_test():
    torch.manual_seed(0)
    dt = torch.float64
    failures = []

    def check(what, good, detail=""):
        print(f"{'PASS' if good else 'FAIL'}  {what} {detail}")
        if not good:
            failures.append(what)

    base = {"n_modalities": 3, "vocab_size": 11, "d_model": 8, "n_layer": 2, "d_state": 4, "d_conv": 4,
            "expand": 2, "dt_rank": 0, "norm_eps": 1e-5}
    variants = [
        ("all decoupled, tied", {"decouple": ["in", "x", "dt", "out"], "tie_embeddings": True}),
        ("none decoupled, untied", {"decouple": [], "tie_embeddings": False}),
        ("in+dt decoupled, tied, dt_rank 3", {"decouple": ["in", "dt"], "tie_embeddings": True, "dt_rank": 3}),
    ]
    B, T = 2, 7
    import tempfile
    tmp = tempfile.TemporaryDirectory(prefix="mom_ref_selftest_")
    tmpdir = tmp.name
    for vi, (label, over) in enumerate(variants):
        c = normalize_config({**base, **over})
        # init, then perturb so every parameter matters (norm weights != 1, D != 1,
        # larger dt so the state carries): a gradient that is wrongly zero shows.
        p32 = init_params(c, seed=vi)
        g = torch.Generator().manual_seed(100 + vi)
        params = {k: (v.to(dt) + 0.3 * torch.randn(v.shape, generator=g, dtype=dt)).numpy()
                  for k, v in p32.items()}
        for k in params:
            if "dt_proj" in k and k.endswith(".bias"):
                params[k] = params[k] + 2.0  # delta ~ 0.1-0.3 instead of ~0.01
        if "dt" in c["decouple"]:
            # one modality's dt pre-activation above 20: softplus's linear branch
            params["layers.1.mixer.local_experts_dt_proj.2.bias"] = params["layers.1.mixer.local_experts_dt_proj.2.bias"] + 25.0
        # data: random stream with modality changes inside rows, one target ignored
        toks = torch.randint(0, c["vocab_size"], (B * (T + 1),), generator=g).numpy()
        # the last variant leaves modality 2 out: its copies must get zero
        # gradient and its loss must be NaN (no targets)
        n_used = c["n_modalities"] - (1 if vi == len(variants) - 1 else 0)
        mods = torch.randint(0, n_used, (B * (T + 1),), generator=g).numpy()
        batch = make_batch(toks, mods, B, T)
        batch = (batch[0], batch[1], batch[2].clone(), batch[3])
        batch[2][1, 3] = -1

        loss, by, counts, grads = compute_grads(c, params, batch, dt)

        # 1) the sequential scan vs its closed form
        tp = {k: torch.tensor(v, dtype=dt) for k, v in params.items()}
        with torch.no_grad():
            l1 = float(losses(c, tp, batch)[0])
            l2 = float(losses(c, tp, batch, scan=naive_scan)[0])
        check(f"[{label}] sequential scan == closed form", abs(l1 - l2) <= 1e-12 * abs(l1), f"({l1} vs {l2})")

        # 2) loss = target-count-weighted mean of the per-modality losses
        mix = sum(b * k for b, k in zip(by, counts) if k) / sum(counts)
        check(f"[{label}] loss == weighted per-modality mean", abs(mix - loss) <= 1e-12 * abs(loss)
              and all(math.isnan(b) == (k == 0) for b, k in zip(by, counts)), f"(counts {counts})")

        # 3) autograd vs central finite differences: a random direction per
        #    tensor, and a few single entries (the largest-gradient entry too).
        def f(name, delta):
            q = dict(tp)
            q[name] = tp[name] + delta
            with torch.no_grad():
                return float(losses(c, q, batch)[0])

        # error measure: |fd - autograd| / (|autograd| + 1e-5). Central FD with
        # eps 1e-5 has truncation error ~eps^2 and roundoff ~1e-16 * loss / eps
        # ~ 3e-11, so a correct gradient scores < 1e-5; the 1e-5 floor keeps
        # entries whose true gradient is ~0 from dividing that noise by ~0.
        # A real bug is an O(1) relative error.
        eps, worst, n_checked = 1e-5, 0.0, 0
        for name, gr in grads.items():
            v = torch.randn(gr.shape, generator=g, dtype=dt)
            fd = (f(name, eps * v) - f(name, -eps * v)) / (2 * eps)
            an = float((torch.from_numpy(gr) * v).sum())
            tests = [("direction", fd, an)]
            flat = gr.reshape(-1)
            picks = {int(np.argmax(np.abs(flat)))} | set(torch.randint(0, flat.size, (3,), generator=g).tolist())
            for j in sorted(picks):
                d = torch.zeros(flat.size, dtype=dt)
                d[j] = eps
                d = d.reshape(gr.shape)
                tests.append((f"entry {j}", (f(name, d) - f(name, -d)) / (2 * eps), float(flat[j])))
            for what, fd, an in tests:
                e = abs(fd - an) / (abs(an) + 1e-5)
                worst, n_checked = max(worst, e), n_checked + 1
                if e > 1e-5:
                    check(f"[{label}] FD {name} {what}", False, f"fd {fd:.10g} autograd {an:.10g}")
        check(f"[{label}] autograd == finite differences ({n_checked} checks, {len(grads)} tensors)",
              worst <= 1e-5, f"(worst rel {worst:.2e})")

        # 4) unused modality copies get exactly zero gradient; used ones do not
        if "in" in c["decouple"]:
            used = set(batch[1].reshape(-1).tolist())
            for m in range(c["n_modalities"]):
                gn = np.linalg.norm(grads[f"layers.0.mixer.local_experts_in_proj.{m}.weight"])
                check(f"[{label}] in_proj.{m} grad {'nonzero' if m in used else 'zero'} "
                      f"(modality {'used' if m in used else 'unused'})", (gn > 0) == (m in used))

        # 5) round trip: checkpoint -> file -> reload gives the same grads; the
        #    compare path accepts the reference's own grads and rejects bad ones.
        ck = os.path.join(tmpdir, f"ck{vi}.safetensors")
        write_safetensors(ck, params, {"config": config_to_json(c), "format": "pt"})
        c2, p2 = load_checkpoint(ck)
        check(f"[{label}] checkpoint round trip (config, names)", c2 == c and list(p2) == list(params))
        l_f32, _, _, g_f32 = compute_grads(c2, p2, batch, dt)  # weights rounded to f32
        ok_same = compare_quiet(g_f32, g_f32, 1e-3)
        bad = {k: v.copy() for k, v in g_f32.items()}
        k0 = next(iter(bad))
        bad[k0] = bad[k0] * 1.01
        check(f"[{label}] compare accepts identical / rejects 1% error",
              ok_same and not compare_quiet(g_f32, bad, 1e-3))

    # 6) routing: with every modality's copy equal, a decoupled model is the dense one
    c_dec = normalize_config({**base, "decouple": ["in", "x", "dt", "out"]})
    c_sh = normalize_config({**base, "decouple": []})
    p_sh = {k: v.to(dt) for k, v in init_params(c_sh, 7).items()}
    p_dec = {}
    for name in expected_shapes(c_dec):
        src = name
        for p in PROJS:
            pre = f"local_experts_{p}_proj."
            if pre in name:
                head, tail = name.split(pre)
                src = f"{head}{p}_proj.{tail.split('.', 1)[1]}"
        p_dec[name] = p_sh[src]
    toks = torch.randint(0, 11, (2 * 8,)).numpy()
    mods = torch.randint(0, 3, (2 * 8,)).numpy()
    bt = make_batch(toks, mods, 2, 7)
    with torch.no_grad():
        a, b_ = float(losses(c_sh, p_sh, bt)[0]), float(losses(c_dec, p_dec, bt)[0])
    check("equal modality copies == shared model", abs(a - b_) <= 1e-12 * abs(a), f"({a} vs {b_})")

    # 7) a config that disagrees with the tensor names is refused
    ck = os.path.join(tmpdir, "lie.safetensors")
    write_safetensors(ck, {k: v.numpy() for k, v in p_sh.items()}, {"config": config_to_json(c_dec)})
    try:
        load_checkpoint(ck)
        check("decouple mismatch refused", False)
    except ValueError as e:
        check("decouple mismatch refused", True, f"({str(e).splitlines()[0]})")

    tmp.cleanup()
    print(f"self-test: {'FAIL (' + ', '.join(failures) + ')' if failures else 'all PASS'}")
    return 1 if failures else 0


def compare_quiet(ref, mom, tol):
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        return compare_grads(ref, mom, tol)


# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-test", action="store_true", help="autograd vs finite differences, then exit")
    ap.add_argument("--ckpt", help="model checkpoint (safetensors with config in __metadata__)")
    ap.add_argument("--pretrained", help="instead of --ckpt: a dense Mamba-1 checkpoint of mamba_ssm or "
                    "transformers (folder, model.safetensors or index), to check `mom convert` against")
    ap.add_argument("--jsonl", help="documents as JSON lines; the batch is cut from their concatenation")
    ap.add_argument("--batch", type=int, help="rows B")
    ap.add_argument("--seq", type=int, help="positions T per row (each row reads T+1 tokens)")
    ap.add_argument("--start", type=int, default=0, help="first stream token of row 0 (default 0)")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--grads", help="gradients written by `mom grad` (safetensors)")
    ap.add_argument("--mom-json", help="file holding mom grad's {\"loss\": ..., \"loss_by_modality\": [...]} line")
    ap.add_argument("--grads-out", help="also write the reference gradients here (safetensors F32)")
    ap.add_argument("--loss-tol", type=float, default=1e-4, help="max relative loss error (default 1e-4)")
    ap.add_argument("--grad-tol", type=float, default=1e-3, help="max relative gradient error per tensor (1e-3)")
    ap.add_argument("--init-out", help="write a random checkpoint (needs --config, --seed)")
    ap.add_argument("--config", help="config JSON for --init-out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--make-jsonl", help="write random documents (needs --docs, --vocab, --modalities)")
    ap.add_argument("--docs", type=int, default=16)
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--modalities", type=int)
    a = ap.parse_args(argv)

    try:
        if a.self_test:
            return self_test()
        if a.make_jsonl:
            if not a.vocab or not a.modalities:
                ap.error("--make-jsonl needs --vocab and --modalities")
            make_jsonl(a.make_jsonl, a.docs, a.vocab, a.modalities, a.seed)
            print(f"wrote {a.docs} documents to {a.make_jsonl}")
            return 0
        if a.init_out:
            if not a.config:
                ap.error("--init-out needs --config")
            with open(a.config) as f:
                c = normalize_config(json.load(f))
            params = init_params(c, a.seed)
            write_safetensors(a.init_out, {k: v.numpy() for k, v in params.items()},
                              {"config": config_to_json(c), "format": "pt"})
            print(f"wrote {len(params)} tensors ({sum(v.numel() for v in params.values())} params) to {a.init_out}")
            return 0
        if not ((a.ckpt or a.pretrained) and a.jsonl and a.batch and a.seq):
            ap.error("compare mode needs --ckpt (or --pretrained), --jsonl, --batch and --seq")

        dtype = torch.float64 if a.dtype == "float64" else torch.float32
        c, params = load_pretrained(a.pretrained) if a.pretrained else load_checkpoint(a.ckpt)
        toks, mods = read_jsonl(a.jsonl, c)
        batch = make_batch(toks, mods, a.batch, a.seq, a.start)
        loss, by, counts, grads = compute_grads(c, params, batch, dtype)
        print(json.dumps({"ref_loss": loss, "ref_loss_by_modality": [None if math.isnan(b) else b for b in by],
                          "count": counts, "dtype": a.dtype}))
        if a.grads_out:
            write_safetensors(a.grads_out, grads)
        ok = True
        if a.mom_json:
            ok &= compare_losses(loss, by, counts, read_mom_json(a.mom_json), a.loss_tol)
        if a.grads:
            mom_grads, _ = read_safetensors(a.grads)
            ok &= compare_grads(grads, mom_grads, a.grad_tol)
        if a.mom_json or a.grads:
            print("RESULT:", "PASS" if ok else "FAIL")
        return 0 if ok else 1
    except (ValueError, OSError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
