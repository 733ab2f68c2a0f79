"""libmom from Python: Mixture-of-Mamba training and inference through the
C library libmom.so, with ctypes and numpy and nothing else.

    import numpy as np, libmom
    with libmom.Context(threads=2) as ctx:
        m = libmom.Model.create(ctx, {"n_modalities": 3, "vocab_size": 300, "d_model": 64, "n_layer": 2}, seed=1)
        out = m.train_step(tok, mod, lr=1e-3)       # tok, mod: (B, T+1) int32 / uint8
        logits = m.logits(tok[:, :-1], mod[:, :-1])  # (B, T, vocab) float32

Every failure raises libmom.Error (.status: the mom_status, .message: what
was wrong, naming the value). The library is found through $LIBMOM_LIBRARY,
else next to this package, else the dynamic loader (libmom.so.1); see _lib.py.
"""
from .context import Context, backends, cpu_features, devices, version
from .dataset import Dataset
from .errors import (ERR_BACKEND, ERR_CONFIG, ERR_DATA, ERR_FORMAT, ERR_INVALID_ARG, ERR_IO, ERR_NOMEM,
                     ERR_NONFINITE, ERR_NOT_FOUND, ERR_STOPPED, ERR_UNSUPPORTED, OK, Error)
from .losses import Losses
from .model import Model
from .sampler import Sampler
from .state import State

# This package's version: meson.build's project version (the python suite
# checks that they agree).
__version__ = "0.2.0"

__all__ = ["Context", "Dataset", "Error", "Losses", "Model", "Sampler", "State", "backends", "cpu_features",
           "devices", "version", "OK", "ERR_INVALID_ARG", "ERR_CONFIG", "ERR_IO", "ERR_FORMAT", "ERR_NOMEM",
           "ERR_DATA", "ERR_BACKEND", "ERR_NOT_FOUND", "ERR_UNSUPPORTED", "ERR_NONFINITE", "ERR_STOPPED"]
