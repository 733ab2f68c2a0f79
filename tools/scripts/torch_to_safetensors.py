#!/usr/bin/env python3
"""Writes a PyTorch state dict (pytorch_model.bin, model.pt ...) as
safetensors, for `mom convert`, which never unpickles a file itself:
loading a pickle runs whatever code it holds. Run it only on files you
trust, where PyTorch is installed; torch.load is called with
weights_only=True, which refuses anything but tensors.

usage: torch_to_safetensors.py IN.bin OUT.safetensors
Then put OUT.safetensors (as model.safetensors) beside the checkpoint's
config.json and run: mom convert --from FOLDER --out model.mom.safetensors
"""
import sys

import torch
from safetensors.torch import save_file


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    # safetensors refuses tensors that share memory (a tied lm_head): copy.
    tensors = {k: v.detach().contiguous().clone() for k, v in state.items() if isinstance(v, torch.Tensor)}
    save_file(tensors, sys.argv[2], metadata={"format": "pt"})
    print("%s: %d tensors" % (sys.argv[2], len(tensors)))


if __name__ == "__main__":
    main()
