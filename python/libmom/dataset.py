"""libmom.Dataset: a mom_dataset file (memory-mapped, validated when
opened): batches for train_step, and writing new dataset files."""
import ctypes

import numpy as np

from . import _arrays as arr
from ._handle import Handle, Owner
from ._lib import LAYOUT_KEYS, SPECIAL_NAMES, PatchGeometry, VocabLayout, encode_path, layout_dict, lib
from .errors import ERR_INVALID_ARG, Error, check
from .context import context_ptr
from .model import Model

_GEOMETRY_KEYS = ("patch_size", "image_size", "channels")


class Dataset(Owner):
    """A dataset file, opened with Dataset.open(ctx, path): token ids,
    their modalities, document boundaries (and, for continuous images,
    patch vectors). It keeps its Context alive; closing the context closes it.

    Properties: n_tokens, n_docs, n_modalities, vocab_size, vocab_layout (a
    dict, or None), patch_geometry (a dict, or None), n_patches, patch_dim.
    """

    def __init__(self, ctx, ptr):
        """Not for direct use: Dataset.open."""
        self._ctx = ctx
        self._handle = Handle(ptr, "Dataset", lib.mom_dataset_destroy, ctx._handle)

    @classmethod
    def open(cls, ctx, path):
        """Opens a dataset file (from `mom data import`, `mom train`'s built-in
        data in RUN/data/train.bin, or Dataset.write); a bad file raises
        libmom.Error naming what is wrong."""
        cp = context_ptr(ctx)
        out = ctypes.c_void_p()
        check(lib.mom_dataset_open(cp, encode_path(path), ctypes.byref(out)), cp)
        return cls(ctx, out.value)

    @staticmethod
    def write(ctx, path, tokens, modality=None, doc_starts=None, vocab_size=None, n_modalities=None, vocab_layout=None):
        """Writes a dataset file (mom_dataset_write: a temporary file, fsynced,
        renamed). tokens: 1-D token ids (int32; ints that fit are converted);
        modality: their modalities (uint8), one int for all, or None (all 0);
        doc_starts: n_docs + 1 ascending offsets from 0 to len(tokens), or
        None (one document); vocab_size, n_modalities: None for the smallest
        that hold the data (the largest id + 1); vocab_layout: a dict {"special", "text", "image",
        "speech"} that sums to vocab_size, or None. A broken rule raises
        libmom.Error naming the token offset; nothing is written."""
        cp = context_ptr(ctx)
        tok = arr.integers(tokens, np.int32, "tokens")
        arr.expect_ndim(tok, (1,), "tokens", "(n_tokens,)")
        mod = None if modality is None else arr.modality_like(modality, tok)
        starts, n_docs = None, 1
        if doc_starts is not None:
            starts = arr.integers(doc_starts, np.int64, "doc_starts")
            arr.expect_ndim(starts, (1,), "doc_starts", "(n_docs + 1,)")
            n_docs = starts.size - 1
        lay = None if vocab_layout is None else _layout_struct(vocab_layout)
        if vocab_size is None:
            vocab_size = max(int(tok.max()) + 1, 1) if tok.size else 1
        if n_modalities is None:
            n_modalities = max(int(mod.max()) + 1, 1) if mod is not None and mod.size else 1
        check(lib.mom_dataset_write(cp, encode_path(path), arr.ptr(tok), arr.ptr(mod), tok.size, arr.ptr(starts),
                                    n_docs, arr.as_int(vocab_size, "vocab_size", -2**31, 2**31 - 1),
                                    arr.as_int(n_modalities, "n_modalities", -2**31, 2**31 - 1),
                                    None if lay is None else ctypes.byref(lay), None, None), cp)

    @staticmethod
    def import_jsonl(ctx, jsonl_path, out_path, vocab_size=0, n_modalities=0):
        """Builds a dataset file from JSON lines, one document a line:
        {"segments": [{"modality": 0, "tokens": [5, 17]}, ...]} (mom_dataset_import_jsonl)."""
        cp = context_ptr(ctx)
        check(lib.mom_dataset_import_jsonl(cp, encode_path(jsonl_path), encode_path(out_path),
                                           arr.as_int(vocab_size, "vocab_size", 0, 2**31 - 1),
                                           arr.as_int(n_modalities, "n_modalities", 0, 2**31 - 1), None), cp)

    def _ptrs(self):
        return self._handle.get(), self._ctx._handle.get()

    def _count(c_call, doc):
        return property(lambda self: getattr(lib, c_call)(self._handle.get()), doc=doc)

    n_tokens = _count("mom_dataset_n_tokens", "Token positions in the file.")
    n_docs = _count("mom_dataset_n_docs", "Documents in the file.")
    n_modalities = _count("mom_dataset_n_modalities", "Modalities the file's tokens use.")
    vocab_size = _count("mom_dataset_vocab_size", "The vocabulary size the file records.")
    n_patches = _count("mom_dataset_n_patches", "Continuous images: the patch positions (0 without).")
    del _count

    @property
    def vocab_layout(self):
        """The vocabulary layout recorded in the file, as the dict a config
        takes ({"special", "text", "image", "speech"}), or None."""
        d, c = self._ptrs()
        lay = VocabLayout()
        check(lib.mom_dataset_vocab_layout(d, ctypes.byref(lay)), c)
        return layout_dict(lay)

    def _geometry(self):
        d, c = self._ptrs()
        g = PatchGeometry()
        check(lib.mom_dataset_patch_geometry(d, ctypes.byref(g)), c)
        return g, lib.mom_patch_dim(ctypes.byref(g))

    @property
    def patch_geometry(self):
        """The continuous images' patch geometry as the dict a config takes
        ({"patch_size", "image_size", "channels"}), or None."""
        g, dim = self._geometry()
        return {k: getattr(g, k) for k in _GEOMETRY_KEYS} if dim else None

    @property
    def patch_dim(self):
        """Floats per patch vector (0: no continuous images)."""
        return self._geometry()[1]

    def tokens(self):
        """Every token id, a new int32 array (a copy of the mapped file)."""
        d, _ = self._ptrs()
        n = self.n_tokens
        return np.ctypeslib.as_array(lib.mom_dataset_tokens(d), (n,)).copy() if n else np.empty(0, np.int32)

    def modalities(self):
        """Every token's modality, a new uint8 array (a copy)."""
        d, _ = self._ptrs()
        n = self.n_tokens
        return np.ctypeslib.as_array(lib.mom_dataset_modalities(d), (n,)).copy() if n else np.empty(0, np.uint8)

    def _windows(self, starts, T):
        s = arr.integers(np.atleast_1d(starts), np.int64, "starts")
        arr.expect_ndim(s, (1,), "starts", "(B,)")
        if s.size == 0:
            raise Error(ERR_INVALID_ARG, "starts: no window: give one start per row")
        return s, arr.as_int(T, "T", 1, 2**31 - 1)

    def check(self, model):
        """Raises libmom.Error when the dataset does not fit the model (its
        vocabulary, its modalities)."""
        d, _ = self._ptrs()
        if not isinstance(model, Model):
            raise Error(ERR_INVALID_ARG, f"check: model is a {type(model).__name__}, not a libmom.Model")
        m, c = model._ptrs()  # the call reports through the model's context
        check(lib.mom_dataset_check(m, d), c)

    def batch(self, starts, T):
        """The windows starting at each of starts (B ints): row b is tokens
        [starts[b], starts[b] + T + 1). Returns (tokens (B, T+1) int32,
        modality (B, T+1) uint8), new arrays, ready for Model.train_step.
        A window past the end raises libmom.Error naming it."""
        d, c = self._ptrs()
        s, T = self._windows(starts, T)
        B = s.size
        tok, tgt = np.empty((B, T), np.int32), np.empty((B, T), np.int32)
        mod, tmod = np.empty((B, T), np.uint8), np.empty((B, T), np.uint8)
        check(lib.mom_dataset_fill_batch(d, B, T, arr.ptr(s), arr.ptr(tok), arr.ptr(mod), arr.ptr(tgt),
                                         arr.ptr(tmod)), c)
        return np.concatenate([tok, tgt[:, -1:]], axis=1), np.concatenate([mod, tmod[:, -1:]], axis=1)

    def patches(self, starts, T):
        """Continuous images: the patch vectors of the same windows' inputs,
        a new float32 array (B, T, patch_dim), zeros where an input is not a
        patch: train_step's patches= for batch(starts, T)."""
        d, c = self._ptrs()
        s, T = self._windows(starts, T)
        out = np.empty((s.size, T, self.patch_dim), np.float32)
        check(lib.mom_dataset_fill_patches(d, s.size, T, arr.ptr(s), arr.ptr(out)), c)
        return out

    def __repr__(self):
        if self.closed:
            return "<libmom.Dataset closed>"
        return f"<libmom.Dataset {self.n_tokens} tokens, {self.n_docs} documents, vocab {self.vocab_size}>"


def _layout_struct(d):
    """A vocab_layout dict as mom_vocab_layout; unknown keys refused."""
    names = [k for k, _ in LAYOUT_KEYS] + ["text_first"] + list(SPECIAL_NAMES)
    if not isinstance(d, dict):
        raise Error(ERR_INVALID_ARG, f"vocab_layout: {d!r} is not a dict with keys {names}")
    unknown = [k for k in d if k not in names]
    if unknown:
        raise Error(ERR_INVALID_ARG, f"vocab_layout: unknown part {unknown[0]!r} (the parts: {', '.join(names)})")
    lay = VocabLayout(**{f: arr.as_int(d.get(k, 0), f"vocab_layout[{k!r}]") for k, f in LAYOUT_KEYS})
    lay.text_first = arr.as_int(d.get("text_first", 0), "vocab_layout['text_first']")
    for i, k in enumerate(SPECIAL_NAMES):
        lay.special_id[i] = arr.as_int(d.get(k, 0), f"vocab_layout[{k!r}]")
    return lay
