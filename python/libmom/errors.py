"""libmom.Error: every failure of the binding, the C library's and its own.

The status values are mom.h's mom_status, pinned there and never
renumbered; they are repeated here as module constants (OK, ERR_DATA ...).
"""
from ._lib import lib

OK = 0
ERR_INVALID_ARG = -1  # a NULL or closed handle, a value out of range, a wrong dtype or shape
ERR_CONFIG = -2       # a config field does not fit
ERR_IO = -3           # open/read/write/rename failed
ERR_FORMAT = -4       # a file is truncated, lies, or does not match
ERR_NOMEM = -5
ERR_DATA = -6         # a token or modality id out of range
ERR_BACKEND = -7      # the compute backend failed
ERR_NOT_FOUND = -8    # no tensor of that name
ERR_UNSUPPORTED = -9  # a feature this build lacks
ERR_NONFINITE = -10   # a gradient is NaN or Inf: the step was skipped, the model unchanged
ERR_STOPPED = -11     # a stop was asked for: nothing was written

_NAMES = {v: k for k, v in globals().items() if k == "OK" or k.startswith("ERR_")}


class Error(Exception):
    """A libmom failure.

    Attributes:
      status:  the mom_status (an int: libmom.ERR_DATA is -6 ...).
      message: one line naming what was wrong and the value: the C library's
               mom_ctx_last_error (mom_ctx_create_error for a Context), or
               the binding's own for what it refuses before calling C (a
               dtype, a shape, a closed handle).
    str(error) is the message; status_name gives "ERR_DATA" and the like.
    """

    __module__ = "libmom"  # tracebacks say libmom.Error, the name to catch

    def __init__(self, status, message):
        self.status = int(status)
        self.message = message or status_text(status)
        super().__init__(self.message)

    @property
    def status_name(self):
        return _NAMES.get(self.status, f"status {self.status}")

    def __repr__(self):
        return f"libmom.Error({self.status_name}, {self.message!r})"


def status_text(status):
    """mom_status_str: the status's own short text."""
    return lib.mom_status_str(int(status)).decode()


def check(status, ctx_ptr, context_note=None):
    """Raises Error for a failed status, with the context's last message
    (context_note, when given, rewrites the message: it gets the message)."""
    if status == OK:
        return
    msg = lib.mom_ctx_last_error(ctx_ptr).decode(errors="replace") if ctx_ptr else ""
    msg = msg or status_text(status)
    if context_note:
        msg = context_note(msg)
    raise Error(status, msg)
