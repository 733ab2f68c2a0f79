#!/usr/bin/env python3
"""Side-by-side speed of the reference PyTorch module on the CPU.

Trains the module of torch_reference.py (plain PyTorch, fp32, the sequential
scan of mamba_ssm's selective_scan_ref, AdamW) on the config and shape of
`mom bench train` (d_model 256, 4 layers, 3 modalities, vocab 1024,
modalities in spans of 64) and prints one JSON line with tokens/s.

    python3 tools/scripts/torch_bench.py [B T]      (default 8 512)

Needs Debian's python3-torch; the test suite does not use it."""
import os, sys, time
import numpy as np
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as R
torch.set_num_threads(os.cpu_count() or 1)
B, T = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (8, 512)
c = R.normalize_config({"n_modalities": 3, "vocab_size": 1024, "d_model": 256, "n_layer": 4, "d_state": 16})
params = {k: v.to(torch.float32).requires_grad_(True) for k, v in R.init_params(c, 1).items()}
opt = torch.optim.AdamW(params.values(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
g = np.random.default_rng(0)
n = B * (T + 1)
toks = g.integers(0, 1024, n).astype(np.int64)
mods = ((np.arange(n) // 64) * 2654435761 >> 7) % 3
batch = R.make_batch(toks, mods.astype(np.int64), B, T)
times = []
for step in range(3):
    t0 = time.time()
    opt.zero_grad()
    loss, _, _ = R.losses(c, params, batch)
    loss.backward()
    opt.step()
    times.append(time.time() - t0)
    print(f"step {step}: {times[-1]:.2f} s, loss {float(loss):.4f}", flush=True)
best = min(times[1:])
print(f'{{"name": "torch_reference_train_step", "batch": {B}, "seq": {T}, "seconds_per_step": {best:.3f}, "tokens_per_s": {B*T/best:.1f}, "torch": "{torch.__version__}", "threads": {torch.get_num_threads()}}}')
