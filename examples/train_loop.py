"""libmom from Python: a small model trained on the built-in data, then a
caption sampled from it. The README's Python section quotes this file.

    build/tools/mom train --out runs/demo        # unpacks the built-in data into runs/demo/data/
    python3 examples/train_loop.py runs/demo/data/train.bin
"""
import sys

import numpy as np

import libmom

with libmom.Context(threads=2) as ctx:
    data = libmom.Dataset.open(ctx, sys.argv[1])
    layout = data.vocab_layout  # {"special": 7, "text": 256, "image": ..., "speech": ...}
    model = libmom.Model.create(ctx, {"vocab_size": data.vocab_size, "n_modalities": data.n_modalities,
                                      "vocab_layout": layout, "d_model": 64, "n_layer": 2}, seed=1)
    rng = np.random.default_rng(1)
    B, T, losses = 8, 128, []
    for step in range(200):
        tok, mod = data.batch(rng.integers(0, data.n_tokens - T - 1, size=B), T)  # (B, T+1) each
        out = model.train_step(tok, mod, lr=3e-3, warmup_steps=20)
        losses.append(out["loss"])
        if step % 50 == 0:
            print(f"step {step}: loss {out['loss']:.3f}, by modality {[x if x is None else round(x, 3) for x in out['by_modality']]}")
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f} after {len(losses)} steps")

    # BOS (token 0), then the caption's bytes as text tokens (special + byte), all modality 0 (text).
    prompt = [0] + [layout["special"] + b for b in b"the letter"]
    sampled = model.generate(prompt, 0, max_tokens=40, seed=1, temperature=0.5)
    text = bytes(t - layout["special"] for t in sampled if layout["special"] <= t < layout["special"] + layout["text"])
    print("sampled: the letter" + text.decode(errors="replace"))
