"""libmom.State: a mom_state, the fixed-size recurrent state of n_seq
sequences of one model (per layer the conv's last inputs and the SSM state)."""
import ctypes

import numpy as np

from . import _arrays as arr
from ._handle import Handle, Owner
from ._lib import StateSettings, lib
from .errors import ERR_INVALID_ARG, Error, check


class State(Owner):
    """The recurrent inference state of n_seq independent sequences of a
    model: made by model.state(n_seq, max_tokens). Prefill feeds prompts of
    any length through the chunked scan; step feeds one token to every
    sequence at once, each with its own modality; both give the logits a
    full forward (Model.logits) gives. The state keeps its model alive;
    closing the model or its context closes the state. Bad input (an id out
    of range, max_tokens passed) raises libmom.Error and leaves the state as
    it was.
    """

    def __init__(self, model, n_seq=1, max_tokens=0):
        m, c = model._ptrs()
        s = StateSettings()
        lib.mom_state_default_settings(ctypes.byref(s))
        s.n_seq = arr.as_int(n_seq, "n_seq", 1, 2**31 - 1)
        s.max_tokens = arr.as_int(max_tokens, "max_tokens", 0, 2**63 - 1)
        out = ctypes.c_void_p()
        check(lib.mom_state_create(m, ctypes.byref(s), ctypes.byref(out)), c)
        self.model = model
        self.n_seq = s.n_seq
        self._handle = Handle(out.value, "State", lib.mom_state_destroy, model._handle)

    def _ptrs(self):
        return self._handle.get(), self.model._ctx._handle.get()

    def length(self, seq):
        """Tokens sequence seq has been fed since it was empty."""
        st, _ = self._ptrs()
        seq = arr.as_int(seq, "seq", 0, self.n_seq - 1)
        return lib.mom_state_length(st, seq)

    def reset(self, seq=-1):
        """Sequence seq (or every one, seq -1) back to empty."""
        st, c = self._ptrs()
        check(lib.mom_state_reset(st, arr.as_int(seq, "seq", -1, self.n_seq - 1)), c)

    def copy_from(self, src, src_seq=-1, seq=-1):
        """Sequence seq of this state becomes sequence src_seq of src, a
        State of the same model (a snapshot, a restore, or a branch; src may
        be this state). -1 on both: every sequence (equal n_seq)."""
        st, c = self._ptrs()
        if not isinstance(src, State):
            raise Error(ERR_INVALID_ARG, f"src: {src!r} is not a libmom.State")
        sp, _ = src._ptrs()
        check(lib.mom_state_copy(st, arr.as_int(seq, "seq"), sp, arr.as_int(src_seq, "src_seq")), c)

    def prefill(self, seq0, tokens, modality):
        """Feeds prompts, continuing each sequence from its state.

        tokens (T,) feeds sequence seq0 and returns its logits after the last
        token, (vocab_size,); tokens (n, T) feeds sequences seq0 .. seq0+n-1
        (row i is sequence seq0 + i) and returns (n, vocab_size). modality:
        the same shape, or one int for every token. Arrays are used in place
        when int32 / uint8 and C-contiguous, else copied. Returns a new
        float32 array.
        """
        st, c = self._ptrs()
        seq0 = arr.as_int(seq0, "seq0", 0, self.n_seq - 1)
        tok = arr.integers(tokens, np.int32, "tokens")
        arr.expect_ndim(tok, (1, 2), "tokens", "(T,) for one sequence or (n, T)")
        mod = arr.modality_like(modality, tok)
        n, T = (1, tok.shape[0]) if tok.ndim == 1 else tok.shape
        if n == 0 or T == 0:
            raise Error(ERR_INVALID_ARG, f"tokens: shape {tok.shape} holds no token")
        V = self.model.vocab_size
        out = np.empty((V,) if tok.ndim == 1 else (n, V), dtype=np.float32)
        check(lib.mom_state_prefill(st, seq0, n, T, arr.ptr(tok), arr.ptr(mod), arr.ptr(out)), c,
              lambda msg: arr.locate_position(msg, tok.shape))
        return out

    def step(self, tokens, modality):
        """Feeds one token to each of the n_seq sequences: tokens (n_seq,)
        int32 and modality (n_seq,) uint8 (or one int for all; a scalar
        token when n_seq is 1). Returns a new float32 array (n_seq, vocab_size)."""
        st, c = self._ptrs()
        tok = arr.integers(np.atleast_1d(tokens), np.int32, "tokens")
        if tok.shape != (self.n_seq,):
            raise Error(ERR_INVALID_ARG, f"tokens: shape {np.shape(tokens)} is not (n_seq,) = ({self.n_seq},): "
                        "step feeds one token to every sequence")
        mod = arr.modality_like(modality, tok)
        out = np.empty((self.n_seq, self.model.vocab_size), dtype=np.float32)
        check(lib.mom_state_step(st, arr.ptr(tok), arr.ptr(mod), arr.ptr(out)), c,
              lambda msg: arr.locate_position(msg, tok.shape))
        return out

    def __repr__(self):
        return f"<libmom.State {'closed' if self.closed else f'of {self.n_seq} sequences'}>"

