"""Ownership of the C objects: one Handle per mom_ctx, mom_model,
mom_dataset, mom_state or mom_sampler, in a tree that mirrors which C object
needs which (a model needs its context, a state its model).

Closing a Handle closes its children first, newest first, then destroys
its own C object; later use raises libmom.Error instead of touching freed
memory. The tree holds Handles, never the Python objects, so it makes no
reference cycle and does not keep a Model alive: a Model's __del__ closes
its Handle, and a Context's close (or its __del__, in whatever order the
garbage collector finalizes a cycle) reaches every child still open.
"""
import ctypes

from .errors import ERR_INVALID_ARG, Error


class Handle:
    __slots__ = ("ptr", "kind", "_destroy", "_children", "_parent", "_why")

    def __init__(self, ptr, kind, destroy, parent=None):
        """ptr: the C object (an int); kind: its name in messages ("Model");
        destroy: the mom_*_destroy function (takes T **)."""
        self.ptr = ptr
        self.kind = kind
        self._destroy = destroy
        self._children = {}
        self._parent = parent
        self._why = None
        if parent is not None:
            parent._children[id(self)] = self

    def get(self):
        """The C pointer; libmom.Error when the object is closed."""
        if self.ptr is None:
            raise Error(ERR_INVALID_ARG, f"{self.kind}: {self._why}")
        return self.ptr

    @property
    def closed(self):
        return self.ptr is None

    def close(self, why=None):
        if self.ptr is None:
            return
        # A child says what was closed first: "its Context was closed".
        for child in reversed(list(self._children.values())):
            child.close(why or f"its {self.kind} was closed")
        ptr, self.ptr = self.ptr, None
        self._why = why or f"this {self.kind} is closed (close() or the end of its with block)"
        self._destroy(ctypes.byref(ctypes.c_void_p(ptr)))
        if self._parent is not None:
            self._parent._children.pop(id(self), None)
            self._parent = None


class Owner:
    """Base of the Python classes that own a Handle: close(), with, and a
    close on garbage collection."""

    _handle = None

    def close(self):
        """Frees the C object now (and every object made from it); later
        calls raise libmom.Error. Closing twice is fine."""
        if self._handle is not None:
            self._handle.close()

    @property
    def closed(self):
        return self._handle is None or self._handle.closed

    def __enter__(self):
        self._handle.get()
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone; the OS frees the memory
            pass
