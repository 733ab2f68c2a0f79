"""libmom.Sampler: a mom_sampler, drawing next tokens from logits."""
import ctypes

import numpy as np

from . import _arrays as arr
from ._handle import Handle, Owner
from ._lib import Sampling, lib
from .errors import ERR_INVALID_ARG, Error, check


class Sampler(Owner):
    """Draws next tokens from logits for n_seq sequences: made by
    model.sampler(n_seq, temperature=, top_k=, top_p=, seed=, image_tokens=,
    speech_tokens=) (mom_sampling's fields; temperature 0 is greedy). Each
    sequence has its own random stream, so a seed gives the same tokens
    whatever else is in the batch. With a vocabulary layout it keeps images
    and recordings well formed, which is why it must be told every token a
    sequence goes on with (accept), the prompt's included.
    """

    def __init__(self, model, n_seq=1, *, temperature=1.0, top_k=0, top_p=1.0, seed=0, image_tokens=0,
                 speech_tokens=500):
        m, c = model._ptrs()
        s = Sampling()
        lib.mom_sampling_default(ctypes.byref(s))
        s.temperature = arr.as_float(temperature, "temperature")
        s.top_k = arr.as_int(top_k, "top_k", -2**31, 2**31 - 1)
        s.top_p = arr.as_float(top_p, "top_p")
        s.seed = arr.as_int(seed, "seed", 0, 2**64 - 1)
        s.image_tokens = arr.as_int(image_tokens, "image_tokens", -2**31, 2**31 - 1)
        s.speech_tokens = arr.as_int(speech_tokens, "speech_tokens", -2**31, 2**31 - 1)
        n_seq = arr.as_int(n_seq, "n_seq", -2**31, 2**31 - 1)
        out = ctypes.c_void_p()
        check(lib.mom_sampler_create(m, ctypes.byref(s), n_seq, ctypes.byref(out)), c)
        self.model = model
        self.n_seq = n_seq
        self._handle = Handle(out.value, "Sampler", lib.mom_sampler_destroy, model._handle)

    def _ptrs(self):
        return self._handle.get(), self.model._ctx._handle.get()

    def accept(self, seq, tokens):
        """Tells the sampler that sequence seq goes on with tokens (one id, or
        a 1-D array of ids in order: a prompt, or a sampled token)."""
        sp, c = self._ptrs()
        seq = arr.as_int(seq, "seq", -2**31, 2**31 - 1)
        for t in arr.integers(np.atleast_1d(tokens), np.int32, "tokens").reshape(-1):
            check(lib.mom_sampler_accept(sp, seq, int(t)), c)

    def sample(self, seq, logits):
        """Draws sequence seq's next token from its logits (vocab_size,), as an
        int; not yet accepted (call accept with it to go on)."""
        sp, c = self._ptrs()
        lg = arr.floats(logits, "logits")
        if lg.shape != (self.model.vocab_size,):
            raise Error(ERR_INVALID_ARG, f"logits: shape {lg.shape} is not (vocab_size,) = ({self.model.vocab_size},)")
        tok = ctypes.c_int32()
        check(lib.mom_sampler_sample(sp, arr.as_int(seq, "seq", -2**31, 2**31 - 1), arr.ptr(lg), ctypes.byref(tok)), c)
        return tok.value

    def __repr__(self):
        return f"<libmom.Sampler {'closed' if self.closed else f'of {self.n_seq} sequences'}>"
