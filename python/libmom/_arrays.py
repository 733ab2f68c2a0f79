"""numpy arrays at the C boundary: the dtype and shape checks and the only
copies the binding makes.

An array already C-contiguous in the dtype C reads is passed as it is (no
copy). Otherwise it is copied once, into that dtype, when the conversion
loses nothing: an integer array whose values all fit (int64 tokens within
int32, int or bool modalities within uint8), a float array whose values
are all exactly float32 (float16, or float64 holding float32 values); a
non-contiguous view (tok[:, :-1]) is copied as it is. Anything else is
refused with libmom.Error naming the expected dtype.
"""
import ctypes
import re

import numpy as np

from .errors import ERR_DATA, ERR_INVALID_ARG, Error

_PTR = {np.dtype(np.int32): ctypes.c_int32, np.dtype(np.uint8): ctypes.c_uint8,
        np.dtype(np.float32): ctypes.c_float, np.dtype(np.int64): ctypes.c_int64}


def ptr(a):
    """A typed C pointer to a C-contiguous array (or NULL for None)."""
    if a is None:
        return None
    return a.ctypes.data_as(ctypes.POINTER(_PTR[a.dtype]))


def _where(a, mask):
    """'[1, 5]': the index of the first True of mask, for messages."""
    idx = np.argwhere(mask)[0]
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def integers(x, dtype, what, allow_bool=False):
    """x as a C-contiguous array of dtype (np.int32 or np.uint8)."""
    dtype = np.dtype(dtype)
    a = np.asarray(x)
    if a.dtype == dtype:
        return np.ascontiguousarray(a)
    if a.dtype.kind == "b" and allow_bool:
        return np.ascontiguousarray(a, dtype=dtype)
    if a.dtype.kind not in "iu":
        raise Error(ERR_INVALID_ARG, f"{what}: dtype {a.dtype} is not {dtype} and cannot become it without loss "
                    f"(expected {dtype}{', or integers or bools that fit' if allow_bool else ', or integers that fit'})")
    if a.size:
        info = np.iinfo(dtype)
        bad = (a < info.min) | (a > info.max)
        if bad.any():
            v = a[tuple(np.argwhere(bad)[0])] if a.ndim else a
            raise Error(ERR_DATA, f"{what}: value {int(v)} at {_where(a, bad) if a.ndim else '()'} does not fit "
                        f"{dtype} (expected {dtype})")
    return np.ascontiguousarray(a, dtype=dtype)


def floats(x, what):
    """x as a C-contiguous float32 array."""
    f32 = np.dtype(np.float32)
    a = np.asarray(x)
    if a.dtype == f32:
        return np.ascontiguousarray(a)
    if a.dtype.kind != "f":
        raise Error(ERR_INVALID_ARG, f"{what}: dtype {a.dtype} is not float32 (expected float32)")
    b = np.ascontiguousarray(a, dtype=f32)
    if a.dtype.itemsize > 4:
        lost = ~((b == a) | (np.isnan(a) & np.isnan(b)))
        if lost.any():
            raise Error(ERR_INVALID_ARG, f"{what}: dtype {a.dtype} value {a[tuple(np.argwhere(lost)[0])]!r} at "
                        f"{_where(a, lost)} is not exactly a float32 (expected float32: convert with "
                        f".astype(np.float32) if the rounding is wanted)")
    return b


def expect_ndim(a, ndims, what, form):
    """Refuses an array whose number of dimensions is not one of ndims;
    form says what was expected, e.g. "(B, T+1)"."""
    if a.ndim not in ndims:
        raise Error(ERR_INVALID_ARG, f"{what}: shape {a.shape} has {a.ndim} dimensions, expected {form}")


def same_shape(a, b, what_a, what_b):
    if a.shape != b.shape:
        raise Error(ERR_INVALID_ARG, f"{what_b}: shape {b.shape} is not the shape of {what_a}, {a.shape}")


def modality_like(mod, tokens, what="modality"):
    """The modality array for tokens: an array of tokens' shape, or one
    int for every token (broadcast, a new array)."""
    if np.ndim(mod) == 0 and tokens.ndim > 0:
        m = integers(mod, np.uint8, what, allow_bool=True)
        return np.full(tokens.shape, m, dtype=np.uint8)
    m = integers(mod, np.uint8, what, allow_bool=True)
    same_shape(tokens, m, "tokens", what)
    return m


def as_int(x, what, lo=None, hi=None):
    """A Python int from an int-like argument, range-checked."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise Error(ERR_INVALID_ARG, f"{what}: {x!r} is not an integer")
    x = int(x)
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise Error(ERR_INVALID_ARG, f"{what}: {x} is not in {rng}")
    return x


def as_float(x, what):
    """A Python float from a number argument."""
    if isinstance(x, (bool, np.bool_)):
        raise Error(ERR_INVALID_ARG, f"{what}: {x!r} is not a number")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise Error(ERR_INVALID_ARG, f"{what}: {x!r} is not a number") from None


_POSITION = re.compile(r"\b(target modality|target|token|modality) (-?\d+) at position (\d+)")


def locate_position(msg, shape, names=("tokens", "modality", "tokens", "modality"), shift=0):
    """A C message naming a flat position of the inputs C read ('batch:
    token 300 at position 69 ...'), with the index into the caller's array
    added: '... (tokens[1, 5])'. shape: the inputs' shape; names: the arrays
    of a token, a modality, a target and a target modality; shift: a
    target's column offset in its array (1 for targets taken from (B, T+1))."""
    m = _POSITION.search(msg)
    if not m or not shape:
        return msg
    i = {"token": 0, "modality": 1, "target": 2, "target modality": 3}[m.group(1)]
    idx = list(np.unravel_index(min(int(m.group(3)), int(np.prod(shape)) - 1), shape))
    if i >= 2:
        idx[-1] += shift
    return f"{msg} ({names[i]}[{', '.join(str(int(j)) for j in idx)}])"
